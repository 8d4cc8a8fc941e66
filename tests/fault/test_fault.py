# SPDX-License-Identifier: MIT
"""
Faults: the server at its file descriptor limit, SIGTERM under load,
backpressure released late, and the io_uring fallbacks a kernel may force
on it (no DEFER_TASKRUN; tiny submission and completion queues, so the SQ
fills and the CQ overflows all the time). Through all of them: every reply
owed is delivered, whole and in order; nothing spins; nothing is left open.

(io_uring refused altogether, auto -> epoll and --engine uring -> exit 1,
is tests/integration/test_engines.py.)
"""
import os
import random
import re
import select
import signal
import socket
import time

import clients
import harness
from harness import Server, connect, exchange, recv_exact

ACK = b"ACK\n"


def line_server(*args, reply="ACK\\n", env=None, prefix=()):
	return Server(["--mode", "line", "--reply", reply] + list(args), env=env, prefix=prefix)


def established(port):
	"""Server-side ESTABLISHED sockets of @port (the kernel's view, not the fd table's)."""
	return [t for t in harness.tcp_sockets(port)
		if t["local_port"] == port and t["state"] == harness.TCP_ESTABLISHED]


def check_all(results, want, what):
	"""Every (got, err) of @results is exactly @want[i] with no error."""
	bad = [(i, got, err) for i, (got, err) in enumerate(results) if err or got != want[i]]
	if bad:
		i, got, err = bad[0]
		w = want[i]
		n = min(len(got), len(w))
		first = next((k for k in range(n) if got[k] != w[k]), n)
		raise AssertionError(
			"%s: %d of %d clients wrong; client %d: %s, %d bytes, want %d, first difference at %d: "
			"got %r want %r" % (what, len(bad), len(results), i, err or "no error", len(got), len(w),
					    first, got[first:first + 40], w[first:first + 40]))


def pipelined_lines(n, lines, *, seed=1, max_len=60):
	rng = random.Random(seed)
	return [b"".join(b"%d:%d %s\n" % (i, j, b"x" * rng.randint(0, max_len)) for j in range(lines))
		for i in range(n)]


# ---- fd exhaustion -----------------------------------------------------------

NOFILE = 64


def fd_exhaustion(engine_note):
	if not os.access("/usr/bin/prlimit", os.X_OK):
		harness.skip("prlimit (util-linux) is not installed")
	srv = line_server("--log-rate-limit", "0",
			  prefix=["/usr/bin/prlimit", "--nofile=%d:%d" % (NOFILE, NOFILE), "--"]).start()
	limits = open("/proc/%d/limits" % srv.pid).read()
	assert re.search(r"Max open files\s+%d\s+%d" % (NOFILE, NOFILE), limits), limits
	time.sleep(0.3)
	fds0 = clients.proc_fds(srv.pid)
	room = NOFILE - fds0
	n = 2 * NOFILE		# twice what the server can hold
	socks, errors = clients.connect_many(srv.port, n, timeout=20)
	assert not errors, errors[:3]
	for i, s in enumerate(socks):
		s.sendall(b"client %d\n" % i)
	srv.wait_log("accept failed: Too many open files; retrying in 1s", timeout=10)

	# At the limit: back off, do not spin, do not exit.
	cpu0 = clients.proc_cpu_seconds(srv.pid)
	fails0 = srv.log().count("accept failed")
	t0 = time.monotonic()
	time.sleep(3.0)
	cpu = clients.proc_cpu_seconds(srv.pid) - cpu0
	elapsed = time.monotonic() - t0
	fails = srv.log().count("accept failed") - fails0
	print("  %s: %d fds at start, room for %d clients; at the limit for %.1fs: %.2fs CPU, "
	      "%d 'accept failed' lines" % (engine_note, fds0, room, elapsed, cpu, fails))
	assert srv.alive(), "tcpack exited at the fd limit:\n" + srv.log_tail()
	assert cpu < 0.5, "%.2fs of CPU in %.1fs at the fd limit: spinning" % (cpu, elapsed)
	# One try a second per worker (2 here at most), give or take a tick.
	assert fails <= 2 * (elapsed + 2), "%d accept failures logged in %.1fs" % (fails, elapsed)
	assert clients.proc_fds(srv.pid) <= NOFILE

	# Whoever got in is served; the rest wait and are served as others leave.
	served = {}
	deadline = time.monotonic() + 30
	rounds = 0
	while len(served) < n and time.monotonic() < deadline:
		rounds += 1
		p = select.poll()
		for i, s in enumerate(socks):
			if i not in served:
				p.register(s, select.POLLIN)
		ready = {fd for fd, _ in p.poll(1500)}
		for i, s in enumerate(socks):
			if i in served or s.fileno() not in ready:
				continue
			served[i] = recv_exact(s, len(ACK), timeout=5)
			s.close()	# leave: its fd is free for the next one
		if rounds == 1:
			assert 0 < len(served) <= room, "%d served at the limit (room %d)" % (len(served), room)
	assert len(served) == n, "%d of %d clients served within 30s at the fd limit" % (len(served), n)
	assert all(v == ACK for v in served.values()), served
	for s in socks:
		s.close()
	# Serving again once clients left: a newcomer is answered at once.
	t1 = time.monotonic()
	with connect(srv.port) as s:
		assert exchange(s, b"after\n", timeout=5) == ACK
	print("  every one of %d clients served in %d rounds; a newcomer answered in %.2fs"
	      % (n, rounds, time.monotonic() - t1))
	assert srv.stop() == 0


@harness.budget(60)
def test_fd_exhaustion_backs_off_without_spinning_and_serves_everyone_as_fds_free():
	fd_exhaustion(harness.ENGINE or "auto")


# ---- SIGTERM under load ---------------------------------------------------------

@harness.budget(60)
def test_sigterm_with_20_pipelining_clients_delivers_every_owed_reply_in_time():
	# 20 clients x 20,000 lines x 256-byte replies: 5 MB owed each, more
	# than the kernel holds for a client that does not read (the clients'
	# receive buffers are pinned small, and the server's send queue takes
	# far less), so much of it is still in the server when the signal comes.
	n, lines = 20, 20000
	reply = b"r" * 255 + b"\n"
	shutdown_timeout = 5.0
	srv = line_server("--shutdown-timeout", "5s", "--max-pending", "8M", reply="r" * 255 + "\\n").start()
	socks = []
	for _ in range(n):
		s = socket.socket()
		s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
		s.settimeout(5)
		s.connect(("127.0.0.1", srv.port))
		socks.append(s)
	payloads = pipelined_lines(n, lines, seed=3, max_len=8)
	for i, s in enumerate(socks):
		assert harness.send_without_reading(s, 0, data=payloads[i], timeout=10, stall=3) == len(payloads[i])
	harness.wait_until(lambda: len(established(srv.port)) == n and
			   all(t["rx_queue"] == 0 for t in established(srv.port)), 15,
			   "the server to read every pipelined line")
	owed = n * lines * len(reply)
	# In the kernel already: the server's send queues and the clients' receive queues.
	in_kernel = sum(t["tx_queue"] if t["local_port"] == srv.port else t["rx_queue"]
			for t in harness.tcp_sockets(srv.port) if t["state"] == harness.TCP_ESTABLISHED)
	print("  owed %d bytes at SIGTERM, %d of them already in kernel buffers" % (owed, in_kernel))
	assert in_kernel < owed * 0.9, "the kernel holds the replies already: the test would prove little"
	t0 = time.monotonic()
	srv.send_signal(signal.SIGTERM)
	results = clients.read_many_to_eof(socks, timeout=20)
	rc = srv.wait_exit(15)
	took = time.monotonic() - t0
	for s in socks:
		s.close()
	print("  %d clients read to EOF; exit %.1fs after SIGTERM" % (n, took))
	check_all(results, [reply * lines] * n, "replies after SIGTERM")
	assert rc == 0, srv.log_tail()
	assert took < shutdown_timeout, "exit %.1fs after SIGTERM (shutdown-timeout %.0fs)" % (took, shutdown_timeout)
	assert "shutdown timeout" not in srv.log(), srv.log_tail()
	assert srv.log_lines()[-1] == "stopped", srv.log_tail()


@harness.budget(60)
def test_sigterm_while_100_clients_still_send_gets_whole_replies_then_eof_in_time():
	# Clients still sending at the signal: which lines the server read by
	# then is invisible from here. What is visible: whole replies only, never
	# more than lines sent, an EOF for everyone, exit 0 within the timeout.
	n = 100
	reply = b"k" * 15 + b"\n"
	srv = line_server("--shutdown-timeout", "5s", reply="k" * 15 + "\\n").start()
	socks, errors = clients.connect_many(srv.port, n)
	assert not errors, errors[:3]
	sent = [0] * n
	chunk = b"".join(b"%07d\n" % j for j in range(128))	# 8-byte lines
	t_end = time.monotonic() + 1.0
	signalled = False
	t0 = None
	while time.monotonic() < t_end:
		for i, s in enumerate(socks):
			s.setblocking(False)
			try:
				sent[i] += s.send(chunk)
			except BlockingIOError:
				pass
		if not signalled and time.monotonic() > t_end - 0.5:
			t0 = time.monotonic()
			srv.send_signal(signal.SIGTERM)
			signalled = True
	srv.wait_log(re.compile(r"stopping: draining \d+ connections"))
	results = clients.read_many_to_eof(socks, timeout=20)
	rc = srv.wait_exit(15)
	took = time.monotonic() - t0
	for s in socks:
		s.close()
	total = 0
	for i, (got, err) in enumerate(results):
		assert err is None or "reset" in err, (i, err)
		k = len(got) // len(reply)
		assert got == reply * k, "client %d: a reply cut or wrong (%d bytes)" % (i, len(got))
		assert k <= sent[i] // 8 + 1, (i, k, sent[i])
		total += k
	print("  %d replies delivered to %d clients that sent %d lines; exit %.1fs after SIGTERM"
	      % (total, n, sum(sent) // 8, took))
	assert total > 0
	assert rc == 0 and took < 6.0, (rc, took)


# ---- backpressure released late ---------------------------------------------------

def pipeline_until_stalled_then_read(max_pending, reply=ACK, n=4):
	"""
	@n clients each pipeline up to ~10 MB of lines without reading until the
	server stops taking them (max-pending, then the kernel buffers), then
	read while sending the rest: every line gets its reply, in order.
	"""
	srv = line_server("--max-pending", max_pending, "--idle-timeout", "60s",
			  reply=reply.decode().replace("\n", "\\n")).start()
	block = b"".join(b"never read %06d\n" % j for j in range(4000))	# 18-byte lines
	data = block * 150
	socks = [connect(srv.port) for _ in range(n)]
	sent = [harness.send_without_reading(s, 0, data=data, timeout=4, stall=0.5) for s in socks]
	time.sleep(0.3)
	est = established(srv.port)
	print("  max-pending %s: pipelined %s bytes unread; server holds %d bytes unread in the kernel, "
	      "%d queued to send" % (max_pending, sent, sum(t["rx_queue"] for t in est),
				   sum(t["tx_queue"] for t in est)))
	want = reply * (len(data) // 18)
	failure = None
	for i, s in enumerate(socks):
		try:
			got = exchange(s, data[sent[i]:], timeout=15, limit=len(want) + 1)
		except AssertionError as e:
			failure = "client %d stuck: %s" % (i, e)
			break
		if got != want:
			failure = "client %d: %d bytes, want %d" % (i, len(got), len(want))
			break
	if failure:
		est = established(srv.port)
		failure += "; the server then held %s bytes unread in the kernel and %s queued to send" % (
			[t["rx_queue"] for t in est], [t["tx_queue"] for t in est])
	for s in socks:
		s.close()
	assert srv.stop() == 0
	return failure


@harness.budget(120)
def test_client_that_reads_only_after_stalling_gets_every_reply():
	failures = []
	for mp in ("4K", "8K", "64K", "256K"):
		f = pipeline_until_stalled_then_read(mp)
		if f:
			failures.append("max-pending %s: %s" % (mp, f))
	assert not failures, "a client that read again got no more replies:\n  " + "\n  ".join(failures)


# ---- io_uring fallbacks: no deferred task run, tiny rings -------------------------

NODEFER = {"TCPACK_TEST_RING": "nodefer"}
SMALLCQ = {"TCPACK_TEST_RING": "smallcq"}
BOTH = {"TCPACK_TEST_RING": "nodefer,smallcq"}
RING_LOG = {"nodefer": "cooperative task run", "smallcq": "io_uring: sq 8, cq 16,"}


def ring_server(env, *args, mode="line", reply="ACK\\n"):
	srv = Server(["--mode", mode, "--reply", reply, "--log-level", "debug",
		      "--log-rate-limit", "200"] + list(args), env=env).start()
	for key, text in RING_LOG.items():
		if key in env["TCPACK_TEST_RING"]:
			srv.wait_log(text)	# the hook really took effect
	return srv


def line_clients_in_order(env, n, lines, *args, reply=ACK, timeout=60):
	with ring_server(env, *args, reply=reply.decode().replace("\n", "\\n")) as srv:
		payloads = pipelined_lines(n, lines)
		results = clients.pipeline_many(srv.port, payloads, timeout=timeout)
		check_all(results, [reply * lines] * n, "%d line clients, %s" % (n, env))


@harness.budget(60)
@harness.uring_only
def test_nodefer_200_line_clients_pipelining_get_every_reply_in_order():
	line_clients_in_order(NODEFER, 200, 50)


@harness.budget(60)
@harness.uring_only
def test_smallcq_500_line_clients_pipelining_get_every_reply_in_order():
	line_clients_in_order(SMALLCQ, 500, 200)


@harness.budget(60)
@harness.uring_only
def test_nodefer_and_smallcq_together_300_line_clients():
	line_clients_in_order(BOTH, 300, 50)


@harness.budget(60)
@harness.uring_only
def test_smallcq_with_max_pending_4k_held_back_input_answered_in_order():
	# 2000 lines of 32-byte replies = 64 KB owed per client, sixteen times
	# max-pending: input is held back and answered later, under CQ overflow.
	line_clients_in_order(SMALLCQ, 100, 2000, "--max-pending", "4K", reply=b"q" * 31 + b"\n")


@harness.budget(60)
@harness.uring_only
def test_smallcq_with_16_small_buffers_exhausted_never_closes_a_client():
	# Buffer ring exhaustion (-ENOBUFS) slows readers down, never closes them.
	line_clients_in_order(SMALLCQ, 200, 100, "--buffer-count", "16", "--buffer-size", "512")


@harness.budget(60)
@harness.uring_only
def test_smallcq_echo_300_clients_64k_each_byte_exact():
	rng = random.Random(64)
	payloads = [rng.randbytes(64 * 1024) for _ in range(300)]
	with ring_server(SMALLCQ, mode="echo") as srv:
		results = clients.pipeline_many(srv.port, payloads, timeout=50)
		check_all(results, payloads, "echo 64 KiB x 300 under smallcq")


def idle_connections_all_closed(env, n=200):
	"""
	@n idle connections, --idle-timeout 1s: the server must close every one
	(the client sees EOF) and no socket may outlive its close. With a tiny
	SQ the closes of a whole batch of timeouts span many submissions.
	"""
	srv = ring_server(env, "--idle-timeout", "1s", "--log-rate-limit", "0")
	fds0 = clients.proc_fds(srv.pid)
	socks, errors = clients.connect_many(srv.port, n)
	assert not errors, errors[:3]
	p = select.poll()
	for s in socks:
		p.register(s, select.POLLIN | select.POLLRDHUP)
	closed = set()
	deadline = time.monotonic() + 6
	while len(closed) < n and time.monotonic() < deadline:
		for fd, _ in p.poll(200):
			if fd not in closed:
				closed.add(fd)
				p.unregister(fd)
	left = [s.getsockname()[1] for s in socks if s.fileno() not in closed]
	est = len(established(srv.port))
	fds = clients.proc_fds(srv.pid)
	for s in socks:
		s.close()
	assert not left, (
		"%d of %d idle connections never closed by the server (idle-timeout 1s, waited 6s); server: "
		"%d fds over its baseline, %d sockets still ESTABLISHED; the first one's log: %r"
		% (len(left), n, fds - fds0, est,
		   [l for l in srv.log_lines() if ":%d:" % left[0] in l]))
	assert est == 0 and fds == fds0, (est, fds, fds0)
	assert srv.stop() == 0


@harness.budget(30)
@harness.uring_only
def test_smallcq_idle_timeout_closes_every_connection_of_a_batch():
	idle_connections_all_closed(SMALLCQ)


if __name__ == "__main__":
	harness.main(globals())
