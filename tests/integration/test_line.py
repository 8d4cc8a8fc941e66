# SPDX-License-Identifier: MIT
"""line mode: keep-alive, one reply per '\\n'-terminated message, in order."""
import socket
import time

import harness
from harness import (DEFAULT_ERROR_REPLY, DEFAULT_REPLY, Server, connect, exchange, local_port,
		     recv_exact, recv_until_eof)

ACK = b"ACK\n"


def line_server(*args, reply="ACK\\n"):
	return Server(["--mode", "line", "--reply", reply] + list(args))


def pipelined_clients(reply, want_reply, n=200, lines=50):
	def client(i, barrier):
		with connect(port, timeout=20) as s:
			barrier.wait(20)
			data = b"".join(b"client %d line %d\n" % (i, j) for j in range(lines))
			got = exchange(s, data, timeout=20)
			assert len(got) == lines * len(want_reply), \
				"client %d: %d bytes, want %d replies of %d" % (i, len(got), lines, len(want_reply))
			assert got == want_reply * lines, (i, got[:100])

	with line_server(reply=reply) as srv:
		port = srv.port
		harness.run_concurrently(client, n, timeout=40)


@harness.budget(45)
def test_200_clients_pipelining_50_lines_get_50_replies_in_order():
	pipelined_clients("ACK\\n", ACK)


@harness.budget(45)
def test_200_clients_pipelining_with_default_reply_get_exact_bytes():
	with Server(["--mode", "line"]) as srv:
		port = srv.port

		def client(i, barrier):
			with connect(port, timeout=20) as s:
				barrier.wait(20)
				got = exchange(s, b"".join(b"%d/%d\n" % (i, j) for j in range(50)), timeout=20)
				assert len(got) == 50 * 24, (i, len(got))
				assert got == DEFAULT_REPLY * 50, i

		harness.run_concurrently(client, 200, timeout=40)


@harness.budget(45)
@harness.uring_only
def test_200_pipelining_clients_with_a_tiny_ring():
	# TCPACK_TEST_RING=smallcq: an 8-entry SQ and 16-entry CQ, so the SQ
	# fills and the CQ overflows all the time; nothing may be lost.
	with Server(["--mode", "line", "--reply", "ACK\\n", "--log-level", "debug"],
		    env={"TCPACK_TEST_RING": "smallcq"}) as srv:
		port = srv.port
		srv.wait_log("io_uring: sq 8, cq 16,")

		def client(i, barrier):
			with connect(port, timeout=20) as s:
				barrier.wait(20)
				got = exchange(s, b"".join(b"%d %d\n" % (i, j) for j in range(50)), timeout=30)
				assert got == ACK * 50, (i, len(got))

		harness.run_concurrently(client, 200, timeout=40)


def test_keep_alive_round_trips_on_one_connection():
	with line_server() as srv, connect(srv.port) as s:
		for i in range(200):
			s.sendall(b"round trip %d\n" % i)
			assert recv_exact(s, 4) == ACK, i
		s.shutdown(socket.SHUT_WR)
		assert recv_until_eof(s) == b""


def test_line_sent_one_byte_at_a_time_is_reassembled():
	with line_server("--log-level", "debug") as srv:
		with connect(srv.port, nodelay=True) as s:
			for b in b"hello\r\nworld\n":
				s.send(bytes([b]))
				time.sleep(0.003)
			assert recv_exact(s, 8) == ACK * 2
			s.shutdown(socket.SHUT_WR)
			assert recv_until_eof(s) == b""
			port = local_port(s)
		srv.wait_log("127.0.0.1:%d: closed after 13 bytes in, 8 out, 2 messages" % port)
		msgs = [l for l in srv.log_lines() if l.startswith("127.0.0.1:%d: message" % port)]
		assert msgs == ["127.0.0.1:%d: message of 5 bytes: hello" % port,
				"127.0.0.1:%d: message of 5 bytes: world" % port], msgs


def test_crlf_endings_belong_to_the_ending():
	with line_server("--log-level", "debug") as srv:
		with connect(srv.port) as s:
			assert exchange(s, b"a\r\nbb\r\n\r\nc\rd\n") == ACK * 4
			port = local_port(s)
		srv.wait_log("closed after")
		msgs = [l.split(": ", 1)[1] for l in srv.log_lines() if l.startswith("127.0.0.1:%d: message" % port)]
		assert msgs == ["message of 1 bytes: a", "message of 2 bytes: bb", "message of 0 bytes",
				"message of 3 bytes: c\\x0dd"], msgs


def test_empty_lines_are_messages():
	with line_server() as srv, connect(srv.port) as s:
		assert exchange(s, b"\n\n\r\n\n") == ACK * 4


def test_binary_bytes_in_lines():
	with line_server("--log-level", "debug") as srv:
		with connect(srv.port) as s:
			assert exchange(s, b"\x00\xff\r\x01z\n\x80\x81\x00\n" + bytes(range(10)) + b"\n"
					+ bytes(range(11, 256)) + b"\n") == ACK * 4
			port = local_port(s)
		srv.wait_log("127.0.0.1:%d: closed after" % port)
		msgs = [l.split(": ", 1)[1] for l in srv.log_lines() if l.startswith("127.0.0.1:%d: message" % port)]
		assert msgs[0] == "message of 5 bytes: \\x00\\xff\\x0d\\x01z", msgs
		assert msgs[1] == "message of 3 bytes: \\x80\\x81\\x00", msgs
		assert len(msgs) == 4, msgs


def test_too_long_line_gets_error_reply_after_earlier_replies_then_eof():
	with line_server("--max-message", "16") as srv:
		with connect(srv.port) as s:
			got = exchange(s, b"one\ntwo\nthree\n" + b"x" * 17 + b"\nfour\nfive\n")
			assert got == ACK * 3 + DEFAULT_ERROR_REPLY, got
			port = local_port(s)
		srv.wait_log("127.0.0.1:%d: line too long (over 16 bytes), closing" % port)


def test_too_long_line_without_newline_ends_the_connection():
	# No '\n' ever comes: the server must not wait for it.
	with line_server("--max-message", "64", "--error-reply", "TOO LONG\\n") as srv:
		with connect(srv.port) as s:
			s.sendall(b"ok\n" + b"y" * 1000)
			assert recv_until_eof(s) == ACK + b"TOO LONG\n"


def test_exactly_max_message_bytes_is_accepted():
	with line_server("--max-message", "16") as srv:
		with connect(srv.port, nodelay=True) as s:
			s.sendall(b"x" * 16 + b"\n")
			assert recv_exact(s, 4) == ACK
			s.sendall(b"x" * 16 + b"\r\n")
			assert recv_exact(s, 4) == ACK
			# The '\r' and its '\n' in separate segments: still the ending.
			s.sendall(b"x" * 16 + b"\r")
			time.sleep(0.05)
			s.sendall(b"\n")
			assert recv_exact(s, 4) == ACK
			# One byte more is too long, '\r\n' or not.
			s.sendall(b"x" * 17 + b"\r\n")
			assert recv_until_eof(s) == DEFAULT_ERROR_REPLY


def test_max_message_plus_cr_then_more_is_too_long():
	with line_server("--max-message", "16") as srv:
		with connect(srv.port, nodelay=True) as s:
			s.sendall(b"x" * 16 + b"\r")
			time.sleep(0.05)
			s.sendall(b"y\n")
			assert recv_until_eof(s) == DEFAULT_ERROR_REPLY


def test_half_close_still_gets_every_owed_reply():
	with line_server() as srv, connect(srv.port) as s:
		s.sendall(b"".join(b"%d\n" % i for i in range(5000)))
		s.shutdown(socket.SHUT_WR)
		got = recv_until_eof(s, timeout=10)
		assert got == ACK * 5000, len(got)


def test_half_close_under_backpressure_gets_every_owed_reply():
	# Replies (1000 x 2000 bytes) far beyond max-pending: input is held back
	# and resumed; the half-close must not lose any of it.
	reply = "R" * 1999 + "\\n"
	with Server(["--mode", "line", "--reply", reply, "--max-pending", "4096"]) as srv:
		with connect(srv.port) as s:
			s.sendall(b"".join(b"%d\n" % i for i in range(1000)))
			s.shutdown(socket.SHUT_WR)
			got = recv_until_eof(s, timeout=15)
			assert len(got) == 1000 * 2000, len(got)
			assert got == (b"R" * 1999 + b"\n") * 1000


def test_incomplete_message_at_close_is_logged_not_replied():
	with line_server() as srv:
		with connect(srv.port) as s:
			assert exchange(s, b"one\ntwo") == ACK
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: incomplete" % port)
		assert line == "127.0.0.1:%d: incomplete message at close (3 bytes): two" % port, line


def test_incomplete_message_split_over_segments_is_logged_whole():
	with line_server() as srv:
		with connect(srv.port, nodelay=True) as s:
			s.sendall(b"a\nbc")
			assert recv_exact(s, 4) == ACK
			time.sleep(0.05)
			s.sendall(b"\x01e")
			time.sleep(0.05)
			s.shutdown(socket.SHUT_WR)
			assert recv_until_eof(s) == b""
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: incomplete" % port)
		assert line == "127.0.0.1:%d: incomplete message at close (4 bytes): bc\\x01e" % port, line


if __name__ == "__main__":
	harness.main(globals())
