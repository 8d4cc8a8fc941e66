# SPDX-License-Identifier: MIT
"""oneshot mode: one message, one reply, then the server ends the connection."""
import os
import re
import socket
import struct

import harness
from harness import DEFAULT_REPLY, Server, connect, local_port, recv_until_eof


def test_tutorial_client_gets_reply_then_eof():
	# The client of the README, verbatim: connect, sendall, recv(1024), recv -> b''.
	with Server() as srv:
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		s.settimeout(5)
		s.connect(("127.0.0.1", srv.port))
		s.sendall(b"hello")
		data = s.recv(1024)
		assert data == "服务器已收到数据".encode() and len(data) == 24, data
		assert s.recv(1024) == b"", "connection not closed after the reply"
		s.close()


def segments_received(sock):
	"""tcpi_segs_in of struct tcp_info (Linux 4.2): segments this socket received."""
	info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
	return struct.unpack_from("I", info, 140)[0]


def test_reply_and_fin_leave_in_one_segment():
	# The reply goes out with MSG_MORE and the shutdown right after it: the
	# client receives SYN-ACK, (an ACK of its data,) the reply with the FIN.
	# Reply and FIN apart would be 4.
	with Server() as srv:
		for i in range(20):
			with connect(srv.port) as s:
				s.sendall(b"hello %d" % i)
				assert recv_until_eof(s) == DEFAULT_REPLY
				n = segments_received(s)
				assert 2 <= n <= 3, "client received %d segments (reply and FIN apart?)" % n


def test_ipv6_client_gets_reply():
	if not harness.ipv6_available():
		harness.skip("::1 is not available on this machine")
	with Server(listen="[::1]:0") as srv:
		assert "listening on [::1]:%d" % srv.port in srv.log()
		with connect(srv.port, host="::1") as s:
			s.sendall(b"over v6")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = local_port(s)
		srv.wait_log("[::1]:%d: received 7 bytes: over v6" % port)


@harness.budget(45)
def test_200_concurrent_clients_each_get_exact_reply_and_are_logged():
	n = 200

	def client(i, barrier):
		with connect(port, timeout=20) as s:
			barrier.wait(20)	# all 200 connected before anyone sends
			msg = b"client %03d says hi" % i
			s.sendall(msg)
			got = recv_until_eof(s, timeout=20)
			assert got == DEFAULT_REPLY, (i, got)
			return local_port(s), msg

	with Server() as srv:
		port = srv.port
		results = harness.run_concurrently(client, n, timeout=40)
		harness.wait_until(lambda: srv.log().count(": received ") >= n, 10,
				   "%d 'received' log lines" % n)
		lines = set(srv.log_lines())
		for cport, msg in results:
			want = "127.0.0.1:%d: received %d bytes: %s" % (cport, len(msg), msg.decode())
			assert want in lines, "missing log line %r" % want


def test_exchange_logged_with_address_port_and_data():
	with Server() as srv:
		with connect(srv.port) as s:
			s.sendall(b"ping 42")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = local_port(s)
		line = srv.wait_log(":%d: received" % port)
		assert line == "127.0.0.1:%d: received 7 bytes: ping 42" % port, line


def test_connect_and_close_gets_nothing_and_is_logged_at_debug_only():
	# A balancer's check, most likely: counted (metrics), not a line per check at info.
	for level in ("info", "debug"):
		with Server(["--log-level", level]) as srv:
			# Half-close: the client can still see that no byte comes back.
			with connect(srv.port) as s:
				s.shutdown(socket.SHUT_WR)
				assert recv_until_eof(s) == b""
				port1 = local_port(s)
			# Plain close.
			s = connect(srv.port)
			port2 = local_port(s)
			s.close()
			# A real exchange after them: its line comes after theirs would have.
			with connect(srv.port) as s:
				s.sendall(b"after")
				assert recv_until_eof(s) == DEFAULT_REPLY
				port3 = local_port(s)
			srv.wait_log("127.0.0.1:%d: received 5 bytes" % port3)
			for port in (port1, port2):
				if level == "debug":
					line = srv.wait_log("127.0.0.1:%d: closed" % port)
					assert line == "127.0.0.1:%d: closed without sending data" % port, line
				else:
					assert "127.0.0.1:%d: " % port not in srv.log(), srv.log()
			assert srv.log().count(" received ") == 1


def test_custom_reply_with_escapes_is_byte_exact():
	cases = [
		("OK\\r\\n", b"OK\r\n"),
		("\\x41", b"A"),
		("a\\tb\\0c\\\\d\\\"e\\xfF", b"a\tb\x00c\\d\"e\xff"),
		("ack: 好", "ack: 好".encode()),
	]
	for arg, want in cases:
		with Server(["--reply", arg]) as srv:
			with connect(srv.port) as s:
				s.sendall(b"x")
				got = recv_until_eof(s)
			assert got == want, "--reply %r: got %r, want %r" % (arg, got, want)


def test_max_message_truncation_is_logged():
	with Server(["--max-message", "10"]) as srv:
		with connect(srv.port) as s:
			s.sendall(b"0123456789ABCDEF")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: " % port)
		assert line == "127.0.0.1:%d: received 10 bytes (more discarded): 0123456789" % port, line


def test_log_data_max_cuts_the_quote():
	with Server(["--log-data-max", "4"]) as srv:
		with connect(srv.port) as s:
			s.sendall(b"abcdefghij")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: " % port)
		assert line == "127.0.0.1:%d: received 10 bytes: abcd [truncated]" % port, line


def test_log_escapes_control_bytes_in_one_line():
	with Server() as srv:
		before = srv.log_bytes()
		with connect(srv.port) as s:
			s.sendall(b"\x01\x1b[31m\n\\")
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: " % port)
		assert line == "127.0.0.1:%d: received 8 bytes: \\x01\\x1b[31m\\x0a\\\\" % port, line
		after = srv.log_bytes()
		assert after.startswith(before)
		gained = after[len(before):]
		assert gained.count(b"\n") == 1, "one message must make one log line: %r" % gained
		assert b"\x1b" not in after and b"\x01" not in after


def test_log_keeps_valid_utf8_and_escapes_the_rest():
	# é is kept; a lone 0xff, a cut sequence, a C1 control (U+0085) and
	# U+2028 (a line separator to many viewers) are escaped.
	data = "é".encode() + b"\xff" + b"\xc2\x85" + "\u2028".encode() + b"\xe6\x9c"
	with Server() as srv:
		with connect(srv.port) as s:
			s.sendall(data)
			assert recv_until_eof(s) == DEFAULT_REPLY
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: " % port)
		want = "127.0.0.1:%d: received %d bytes: é\\xff\\xc2\\x85\\xe2\\x80\\xa8\\xe6\\x9c" % (port, len(data))
		assert line == want, line


def test_client_that_keeps_sending_still_gets_one_reply():
	# Bytes after the reply reach a closed connection: the reply was read
	# whole before, and the connection ends (EOF, or a reset for the late
	# bytes) without a second reply.
	with Server() as srv:
		with connect(srv.port) as s:
			s.sendall(b"first")
			assert harness.recv_exact(s, len(DEFAULT_REPLY)) == DEFAULT_REPLY
			try:
				s.sendall(b"more and more" * 100)
				assert recv_until_eof(s) == b""
			except (BrokenPipeError, ConnectionResetError):
				pass


def open_fds(pid):
	return len(os.listdir("/proc/%d/fd" % pid))


def assert_closes_before_the_client(srv):
	"""One tutorial exchange whose client keeps its end open: the server's
	fd for it is closed all the same."""
	before = open_fds(srv.pid)
	with connect(srv.port) as s:
		s.sendall(b"hello")
		assert recv_until_eof(s) == DEFAULT_REPLY
		harness.wait_until(lambda: open_fds(srv.pid) == before, 1.0,
				   "the server's fd for the connection closed while the client is still open")


def test_exchange_closes_without_waiting_for_the_client_to_close():
	# Nothing came after the message and nothing waits unread: the server
	# closes right after the reply (FIN behind it) instead of shutting down
	# and lingering until the client closes, which would keep the
	# connection's fd up to 2 s while this client keeps its end open.
	with Server() as srv:
		assert_closes_before_the_client(srv)


@harness.uring_only
def test_reply_goes_linked_to_its_close_when_the_receive_says_nothing_is_unread():
	# The kernel reports with a receive's completion whether bytes are left
	# unread: the engine says so, and a oneshot reply then goes in one
	# submission with its close. The tutorial exchange is served whole, the
	# FIN behind the reply, and the fd closes without the client's help.
	with Server(["--log-level", "debug", "--threads", "1"]) as srv:
		srv.wait_log("receives report whether bytes are left unread: a oneshot reply goes linked to its close")
		before = open_fds(srv.pid)
		for i in range(50):
			with connect(srv.port) as s:
				s.sendall(b"hello %d" % i)
				assert recv_until_eof(s) == DEFAULT_REPLY
				assert 2 <= segments_received(s) <= 3
		harness.wait_until(lambda: open_fds(srv.pid) == before, 2.0, "every connection's fd closed")


@harness.uring_only
def test_without_the_unread_report_the_socket_is_asked_before_closing():
	# TCPACK_TEST_RING=nounread: as on a kernel whose receives do not say
	# whether bytes are left, the reply is sent, then SIOCINQ asked, then
	# the connection closed at once, or lingered on when more is unread.
	with Server(["--log-level", "debug", "--threads", "1", "--buffer-size", "1K"],
		    env={"TCPACK_TEST_RING": "nounread"}) as srv:
		srv.wait_log("receives do not report whether bytes are left unread")
		assert_closes_before_the_client(srv)
		for i in range(5):
			with connect(srv.port) as s:
				s.sendall(b"x" * (256 << 10))
				assert recv_until_eof(s) == DEFAULT_REPLY


def test_message_longer_than_one_receive_gets_reply_and_a_clean_close():
	# The first receive is the message; the rest of the client's bytes wait
	# unread, so the server lingers (reads and drops them) instead of
	# closing at once, which would reset the connection and could destroy
	# the reply: the client sees the reply, then EOF, never a reset.
	with Server(["--buffer-size", "1K"]) as srv:
		for i in range(10):
			with connect(srv.port) as s:
				s.sendall(b"x" * (256 << 10))
				assert recv_until_eof(s) == DEFAULT_REPLY


def test_empty_reply_sends_nothing_but_still_closes():
	with Server(["--reply", ""]) as srv:
		with connect(srv.port) as s:
			s.sendall(b"anyone?")
			assert recv_until_eof(s) == b""
			port = local_port(s)
		srv.wait_log("127.0.0.1:%d: received 7 bytes: anyone?" % port)


@harness.budget(20)
def test_log_rate_limit_suppresses_and_counts_client_events():
	n = 30
	with Server(["--log-rate-limit", "5"]) as srv:
		for i in range(n):
			with connect(srv.port) as s:
				s.sendall(b"event %d" % i)
				assert recv_until_eof(s) == DEFAULT_REPLY
		counted = re.compile(r"^log rate limit \(5/s\) reached: suppressed (\d+) messages$")

		def tally():
			logged = suppressed = 0
			for line in srv.log_lines():
				m = counted.match(line)
				if m:
					suppressed += int(m.group(1))
				elif ": received " in line:
					logged += 1
			return logged, suppressed
		# Every event is either logged or counted in a "suppressed" line.
		harness.wait_until(lambda: sum(tally()) == n, 5,
				   "logged + suppressed == %d (now %r)" % (n, tally()))
		logged, suppressed = tally()
		assert suppressed > 0 and logged >= 5, (logged, suppressed)


if __name__ == "__main__":
	harness.main(globals())
