# SPDX-License-Identifier: MIT
"""Backpressure, idle timeout and max-connections."""
import re
import select
import socket
import struct
import time

import harness
import membound
from harness import DEFAULT_REPLY, Server, connect, exchange, recv_exact, recv_until_eof

MIB = 1 << 20
HOG_ATTEMPT = 64 * MIB		# what the client that never reads tries to push
RSS_GROWTH_MAX = 32 * MIB	# what the server may grow meanwhile (max-pending is 256K)


def read_until_closed(sock, timeout):
	"""Read until EOF or a reset; AssertionError if the connection stays open."""
	deadline = time.monotonic() + timeout
	n = 0
	while time.monotonic() < deadline:
		sock.settimeout(max(0.01, deadline - time.monotonic()))
		try:
			chunk = sock.recv(1 << 20)
		except socket.timeout:
			continue
		except (ConnectionResetError, BrokenPipeError):
			return n
		if not chunk:
			return n
		n += len(chunk)
	raise AssertionError("connection still open after %.1fs (read %d bytes)" % (timeout, n))


@harness.budget(40)
def test_client_that_never_reads_cannot_grow_server_memory():
	with Server(["--mode", "echo"]) as srv:
		with connect(srv.port) as warm:		# buffers and code paths touched once
			assert exchange(warm, b"w" * 65536) == b"w" * 65536
		baseline = srv.rss_kib() * 1024
		peak = baseline
		hog = connect(srv.port)
		deadline = time.monotonic() + 15
		sent = 0
		while sent < HOG_ATTEMPT and time.monotonic() < deadline:
			n = harness.send_without_reading(hog, min(4 * MIB, HOG_ATTEMPT - sent), timeout=1.0, stall=0.5)
			sent += n
			peak = max(peak, srv.rss_kib() * 1024)
			if n == 0:
				break
		# Stalled (or done): give the server a moment to show any growth.
		for _ in range(5):
			time.sleep(0.1)
			peak = max(peak, srv.rss_kib() * 1024)
		print("  never-reading client pushed %.1f MiB; server RSS %.1f -> %.1f MiB"
		      % (sent / MIB, baseline / MIB, peak / MIB))
		assert peak - baseline < RSS_GROWTH_MAX, \
			"server RSS grew by %.1f MiB (bound %d MiB) while a client pushed %.1f MiB without reading" \
			% ((peak - baseline) / MIB, RSS_GROWTH_MAX // MIB, sent / MIB)

		# Meanwhile everybody else is served.
		for i in range(5):
			with connect(srv.port) as other:
				payload = b"still here %d\n" % i * 1000
				assert exchange(other, payload, timeout=5) == payload
		hog.close()
		with connect(srv.port) as after:
			assert exchange(after, b"after the hog") == b"after the hog"


@harness.budget(20)
def test_idle_timeout_closes_a_silent_client():
	with Server(["--idle-timeout", "1"]) as srv:
		with connect(srv.port) as s:
			assert recv_until_eof(s, timeout=6) == b"", "idle client got bytes"
			port = harness.local_port(s)
		srv.wait_log("127.0.0.1:%d: idle for 1000 ms, closing" % port)


@harness.budget(20)
def test_idle_timeout_closes_an_idle_keep_alive_client_but_not_a_busy_one():
	with Server(["--mode", "line", "--reply", "ACK\\n", "--idle-timeout", "2s"]) as srv:
		idle = connect(srv.port)
		busy = connect(srv.port)
		idle.sendall(b"once\n")
		assert recv_exact(idle, 4) == b"ACK\n"
		# busy talks every 100 ms for 3 s: never silent for 2 s.
		for i in range(30):
			busy.sendall(b"%d\n" % i)
			assert recv_exact(busy, 4) == b"ACK\n", i
			time.sleep(0.1)
		assert recv_until_eof(idle, timeout=6) == b""
		busy.sendall(b"still open\n")
		assert recv_exact(busy, 4) == b"ACK\n"
		idle.close()
		busy.close()
		srv.wait_log("idle for 2000 ms, closing")


@harness.budget(20)
def test_idle_timeout_resets_a_client_owed_replies_it_never_reads():
	# All 32 KiB of input read, 16 MB of replies owed and never read: a FIN
	# would queue behind what the kernel holds and never arrive. The client,
	# still not reading, must see the connection end after the timeout.
	with Server(["--mode", "line", "--reply", "x" * 1023 + "\\n", "--idle-timeout", "1",
		     "--max-pending", "4K", "--log-level", "debug"]) as srv:
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		s.settimeout(5)
		s.connect(("127.0.0.1", srv.port))
		port = harness.local_port(s)
		s.sendall(b"n\n" * 16384)
		srv.wait_log("127.0.0.1:%d: idle for 1000 ms, closing" % port, timeout=8)
		p = select.poll()
		p.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)	# no POLLIN
		assert p.poll(5000), "the server's close never reached a client that does not read"
		s.close()


@harness.budget(20)
def test_idle_timeout_resets_a_client_whose_replies_all_went_to_the_kernel():
	# 40 KB in, about 200 KB of replies: with --max-pending 64K the server
	# hands them all to the kernel, which holds what the client's shut
	# window does not take. Nothing is owed in tcpack, yet a FIN would
	# wait behind those bytes for good: every client must see its end.
	with Server(["--mode", "line", "--reply", "ACK 9\\n", "--idle-timeout", "1",
		     "--max-pending", "64K"]) as srv:
		socks = []
		for _ in range(5):
			s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
			s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
			s.connect(("127.0.0.1", srv.port))
			s.sendall(b"n\n" * 20000)
			socks.append(s)
		p = select.poll()
		for s in socks:
			p.register(s, select.POLLRDHUP | select.POLLHUP | select.POLLERR)	# no POLLIN
		ended, deadline = set(), time.monotonic() + 8
		while len(ended) < len(socks) and time.monotonic() < deadline:
			for fd, _ in p.poll(200):
				ended.add(fd)
				p.unregister(fd)
		for s in socks:
			s.close()
		assert len(ended) == len(socks), \
			"%d of %d clients never saw the server close after the idle timeout" % (
				len(socks) - len(ended), len(socks))


@harness.budget(30)
def test_idle_timeout_closes_a_client_that_never_reads():
	with Server(["--mode", "echo", "--idle-timeout", "1"]) as srv:
		hog = connect(srv.port)
		port = harness.local_port(hog)
		sent = harness.send_without_reading(hog, HOG_ATTEMPT, timeout=5, stall=0.5)
		assert sent > 0
		srv.wait_log("127.0.0.1:%d: idle for 1000 ms, closing" % port, timeout=8)
		got = read_until_closed(hog, timeout=5)
		assert got <= sent
		hog.close()
		with connect(srv.port) as s:
			assert exchange(s, b"next") == b"next"


@harness.budget(30)
def test_max_connections_holds_the_sixth_until_one_closes():
	with Server(["--mode", "line", "--reply", "ACK\\n", "--max-connections", "5"]) as srv:
		first = []
		for i in range(5):
			s = connect(srv.port)
			s.sendall(b"hello %d\n" % i)
			assert recv_exact(s, 4) == b"ACK\n", i
			first.append(s)
		srv.wait_log("max-connections (5) reached")
		sixth = connect(srv.port)	# completes in the kernel's backlog
		sixth.sendall(b"me too\n")
		harness.expect_silence(sixth, 1.0)
		for s in first[1:]:		# the five are still served
			s.sendall(b"again\n")
			assert recv_exact(s, 4) == b"ACK\n"
		first[0].close()
		assert recv_exact(sixth, 4, timeout=5) == b"ACK\n"
		sixth.sendall(b"and again\n")
		assert recv_exact(sixth, 4) == b"ACK\n"
		# No "below max-connections" line is promised here: the sixth may
		# have been accepted already and waited parked for the free slot.
		assert srv.log().count("max-connections (5) reached") >= 1
		for s in first[1:] + [sixth]:
			s.close()


@harness.budget(40)
def test_burst_above_max_connections_waits_in_the_backlog():
	# 50 clients at once against --max-connections 5: the kernel backlog
	# holds the other 45 until slots free up; every one is served.
	n = 50

	def client(i, barrier):
		with connect(port, timeout=20) as s:
			barrier.wait(20)
			s.sendall(b"burst %d" % i)
			try:
				return recv_until_eof(s, timeout=20)
			except ConnectionResetError:
				return "reset"

	with Server(["--max-connections", "5"]) as srv:
		port = srv.port
		results = harness.run_concurrently(client, n, timeout=30)
		bad = [(i, r) for i, r in enumerate(results) if r != DEFAULT_REPLY]
		assert not bad, "%d of %d clients were not served (first: client %d got %r)" \
			% (len(bad), n, bad[0][0], bad[0][1])


@harness.budget(30)
def test_resets_do_not_disturb_other_clients():
	# Clients that reset (SO_LINGER 0) at every stage, in every mode.
	linger0 = struct.pack("ii", 1, 0)
	for mode in ("oneshot", "line", "echo", "discard"):
		with Server(["--mode", mode]) as srv:
			for i in range(100):
				s = connect(srv.port)
				s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger0)
				if i % 3:
					s.sendall(b"half a line" if i % 3 == 1 else b"x\n" * 5000)
				s.close()
			with connect(srv.port) as s:
				got = exchange(s, b"still fine\n")
			want = {"oneshot": DEFAULT_REPLY, "line": DEFAULT_REPLY, "echo": b"still fine\n",
				"discard": b""}[mode]
			assert got == want, (mode, got)


def test_max_connections_one_serves_clients_one_after_another():
	with Server(["--max-connections", "1"]) as srv:
		for i in range(20):
			with connect(srv.port) as s:
				s.sendall(b"%d" % i)
				assert recv_until_eof(s) == DEFAULT_REPLY, i


@harness.budget(20)
def test_message_timeout_closes_a_slowloris_line():
	# One byte every 300 ms keeps the connection far from idle; only the
	# message timeout, counted from the line's first byte, ends it.
	with Server(["--mode", "line", "--reply", "ACK\\n", "--idle-timeout", "60s",
		     "--message-timeout", "2s"]) as srv:
		s = connect(srv.port, nodelay=True)
		s.sendall(b"whole line\n")
		assert recv_exact(s, 4) == b"ACK\n"
		t0 = time.monotonic()
		closed = False
		while time.monotonic() - t0 < 8 and not closed:
			try:
				s.sendall(b"z")
				s.settimeout(0.3)
				closed = s.recv(16) == b""
			except socket.timeout:
				pass
			except (ConnectionResetError, BrokenPipeError):
				closed = True
		elapsed = time.monotonic() - t0
		assert closed, "a trickled line was never cut off"
		# The wheel turns once a second: up to 2 s late.
		assert 1.9 <= elapsed < 6.0, elapsed
		srv.wait_log("message not complete 2000 ms after its first byte")
		s.close()
		# Other clients are unaffected.
		with connect(srv.port) as t:
			t.sendall(b"hi\n")
			assert recv_exact(t, 4) == b"ACK\n"


def check_held_back_input(env=None):
	# Line mode, max-pending 4K, a 1000-byte reply per 100-byte line:
	# clients that pipeline lines and never read take the server past
	# max-pending at once, and what it then takes in is held back until
	# the idle timeout closes them. Each connection's high-water mark is
	# in its debug summary; it must stay within H of tcpack's memory bound
	# (tests/lib/membound.py; io_uring: min(P, 16 Bs) + Bs - 1 = 8191 here,
	# with the kernel's receive limit or without it).
	n = 8
	max_pending, buffer_count, buffer_size = 4096, 1024, 4096
	reply = "R" * 998 + "\\r\\n"
	with Server(["--mode", "line", "--max-pending", str(max_pending), "--reply", reply,
		     "--buffer-count", str(buffer_count), "--buffer-size", str(buffer_size),
		     "--idle-timeout", "1", "--threads", "1", "--log-level", "debug",
		     "--log-rate-limit", "0"], env=env) as srv:
		log = srv.log()
		if re.search(r"serving with \d+ epoll worker", log):
			engine, recv_limit = "epoll", None
		else:
			engine = "uring"
			recv_limit = "a multishot receive ends after" in log
			assert recv_limit or "single-shot receives of one buffer" in log, log
		bound = membound.held_input(engine, max_pending=max_pending, buffer_count=buffer_count,
					    buffer_size=buffer_size) - 1
		line = b"y" * 99 + b"\n"

		def client(i, barrier):
			s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
			s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
			s.connect(("127.0.0.1", srv.port))
			port = harness.local_port(s)
			barrier.wait(10)
			sent = harness.send_without_reading(s, 0, data=line * 100000, chunk=1 << 16,
							    timeout=20, stall=0.5)
			return s, port, sent

		results = harness.run_concurrently(client, n, timeout=40)
		held = {}
		for s, port, sent in results:
			summary = srv.wait_log(re.compile(r"^127\.0\.0\.1:%d: closed after " % port), timeout=10)
			m = re.search(r"held back up to (\d+) bytes of input", summary)
			held[port] = int(m.group(1)) if m else 0
			s.close()
		print("  %s%s: held back per connection %s bytes (bound %d)"
		      % (engine, "" if recv_limit is None else ", receive limit" if recv_limit else ", no receive limit",
			 sorted(held.values()), bound))
		assert max(held.values()) > 0, "no input was held back: the test did not reach max-pending"
		over = {p: h for p, h in held.items() if h > bound}
		assert not over, "held back more than %d bytes: %s" % (bound, over)
		return recv_limit


@harness.budget(60)
def test_input_held_back_from_clients_that_never_read_stays_within_the_bound():
	check_held_back_input()


@harness.budget(60)
@harness.uring_only
def test_without_a_receive_limit_held_back_input_stays_within_the_same_bound():
	# What a kernel before 6.15 does: TCPACK_TEST_RING=nolimit skips the
	# receive limit; single-shot receives keep H where the limit puts it.
	assert check_held_back_input({"TCPACK_TEST_RING": "nolimit"}) is False


if __name__ == "__main__":
	harness.main(globals())
