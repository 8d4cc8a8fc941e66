# SPDX-License-Identifier: MIT
"""echo (RFC 862) and discard (RFC 863) modes."""
import os
import random
import re
import socket

import harness
from harness import Server, connect, exchange, local_port, recv_exact, recv_until_eof

SEED = 862863


def echo_200_clients(env=None, ring=None):
	rng = random.Random(SEED)
	sizes = [rng.randint(0, 64 * 1024) for _ in range(200)]
	sizes[0], sizes[1] = 0, 64 * 1024	# the edges, always
	payloads = [rng.randbytes(n) for n in sizes]

	def client(i, barrier):
		with connect(port, timeout=20) as s:
			barrier.wait(20)
			got = exchange(s, payloads[i], timeout=30)	# half-closes, reads to EOF
			assert len(got) == len(payloads[i]), (i, len(got), len(payloads[i]))
			assert got == payloads[i], "client %d: payload differs" % i

	with Server(["--mode", "echo", "--log-level", "debug"], env=env) as srv:
		port = srv.port
		if ring:	# the test hook really took effect
			srv.wait_log(ring)
		harness.run_concurrently(client, len(payloads), timeout=50)


@harness.budget(60)
def test_echo_200_concurrent_random_payloads_byte_exact():
	echo_200_clients()


@harness.budget(60)
@harness.uring_only
def test_echo_200_clients_without_deferred_task_run():
	# TCPACK_TEST_RING=nodefer: the ring set up the 5.19 way (COOP_TASKRUN).
	echo_200_clients({"TCPACK_TEST_RING": "nodefer"}, ring="cooperative task run")


@harness.budget(60)
@harness.uring_only
def test_echo_200_clients_with_a_tiny_ring():
	# TCPACK_TEST_RING=smallcq: SQ of 8, CQ of 16: submission and completion
	# queues overflow constantly.
	echo_200_clients({"TCPACK_TEST_RING": "smallcq"}, ring="io_uring: sq 8, cq 16,")


@harness.budget(60)
def test_echo_through_a_tiny_buffer_ring_byte_exact():
	# 16 receive buffers of 512 bytes shared by 20 streams of 1 MiB: the
	# ring runs dry all the time, receive bundles (where the kernel has
	# them) span and wrap it, and every batch interleaves many clients.
	rng = random.Random(SEED + 4)
	payloads = [rng.randbytes(1 << 20) for _ in range(20)]

	def client(i, barrier):
		with connect(port, timeout=20) as s:
			barrier.wait(20)
			got = exchange(s, payloads[i], timeout=40)
			assert len(got) == len(payloads[i]), (i, len(got), len(payloads[i]))
			assert got == payloads[i], "client %d: payload differs" % i

	with Server(["--mode", "echo", "--buffer-count", "16", "--buffer-size", "512"]) as srv:
		port = srv.port
		harness.run_concurrently(client, len(payloads), timeout=50)


def echo_to_clients_that_read_late(args, env=None):
	# The io_uring engine echoes straight out of the receive buffers, with
	# sends that give up when the socket is full (the rest is copied). Here
	# the sockets fill: 4 clients each push 16 MiB without reading until the
	# server stops taking it (max-pending), then read everything back while
	# sending the rest. Short and refused sends land in the middle of ranges
	# sent from the ring, and input keeps arriving behind them. Small client
	# socket buffers, so that the kernel's buffers fill before the payload
	# has all gone out.
	rng = random.Random(SEED + 6)
	payloads = [rng.randbytes(16 << 20) for _ in range(4)]

	def client(i, barrier):
		with socket.socket() as s:
			s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
			s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 << 10)
			s.settimeout(20)
			s.connect(("127.0.0.1", port))
			barrier.wait(20)
			sent = harness.send_without_reading(s, 0, data=payloads[i], timeout=10, stall=0.5)
			assert 0 < sent < len(payloads[i]), (i, sent)
			got = exchange(s, payloads[i][sent:], timeout=30)
			assert len(got) == len(payloads[i]), (i, len(got), len(payloads[i]))
			assert got == payloads[i], "client %d: payload differs" % i

	with Server(["--mode", "echo", "--max-pending", "256K"] + args, env=env) as srv:
		port = srv.port
		harness.run_concurrently(client, len(payloads), timeout=38)


@harness.budget(40)
def test_echo_byte_exact_to_clients_that_read_late():
	echo_to_clients_that_read_late([])


@harness.budget(40)
def test_echo_byte_exact_to_clients_that_read_late_tiny_rings():
	# 16 buffers of 512 bytes: the ring wraps inside receives, so input
	# lands behind bytes lent before it; with the tiny SQ (io_uring) sends
	# are submitted in the middle of a batch and more input for the same
	# connection is taken while they are in flight. (The epoll engine
	# ignores the ring hook.)
	echo_to_clients_that_read_late(["--buffer-count", "16", "--buffer-size", "512"],
				       {"TCPACK_TEST_RING": "smallcq"})


@harness.budget(30)
def test_discard_through_a_tiny_buffer_ring_counts_every_byte():
	data = random.Random(SEED + 5).randbytes(4 << 20)
	with Server(["--mode", "discard", "--log-level", "debug", "--buffer-count", "16",
		     "--buffer-size", "512"]) as srv:
		with connect(srv.port) as s:
			assert exchange(s, data, timeout=20) == b""
			port = local_port(s)
		srv.wait_log("127.0.0.1:%d: closed after %d bytes in, 0 out" % (port, len(data)))


@harness.uring_only
def test_receive_bundles_follow_the_ring_hook():
	# TCPACK_TEST_RING=nobundle: one buffer per receive completion, as on
	# kernels before 6.10. Without it, bundles are on wherever the kernel
	# has them.
	with Server(["--mode", "echo", "--log-level", "debug"],
		    env={"TCPACK_TEST_RING": "nobundle"}) as srv:
		srv.wait_log("receive bundles off")
	with Server(["--mode", "echo", "--log-level", "debug"]) as srv:
		line = srv.wait_log(re.compile(r"receive bundles (on|off)"))
		if "nobundle" in os.environ.get("TCPACK_TEST_RING", ""):
			assert "receive bundles off" in line, line


def test_echo_interactive_round_trips():
	rng = random.Random(SEED + 1)
	with Server(["--mode", "echo"]) as srv, connect(srv.port) as s:
		for i in range(100):
			chunk = rng.randbytes(rng.randint(1, 3000))
			s.sendall(chunk)
			assert recv_exact(s, len(chunk)) == chunk, i
		s.shutdown(socket.SHUT_WR)
		assert recv_until_eof(s) == b""


def test_echo_large_stream_with_half_close():
	data = random.Random(SEED + 2).randbytes(8 << 20)
	with Server(["--mode", "echo", "--log-level", "debug"]) as srv:
		with connect(srv.port) as s:
			got = exchange(s, data, timeout=30, limit=16 << 20)
			port = local_port(s)
		assert got == data
		srv.wait_log("127.0.0.1:%d: closed after %d bytes in, %d out, 0 messages"
			     % (port, len(data), len(data)))


def test_discard_sends_nothing_and_logs_the_byte_count():
	data = random.Random(SEED + 3).randbytes(100000)
	with Server(["--mode", "discard", "--log-level", "debug"]) as srv:
		with connect(srv.port) as s:
			got = exchange(s, data, timeout=10)
			assert got == b"", "discard sent %d bytes" % len(got)
			port = local_port(s)
		line = srv.wait_log("127.0.0.1:%d: closed after" % port)
		assert line == "127.0.0.1:%d: closed after 100000 bytes in, 0 out, 0 messages" % port, line


def test_discard_keeps_the_connection_open():
	with Server(["--mode", "discard"]) as srv, connect(srv.port) as s:
		for _ in range(20):
			s.sendall(b"into the void\n" * 100)
		harness.expect_silence(s, 0.3)
		s.shutdown(socket.SHUT_WR)
		assert recv_until_eof(s) == b""


if __name__ == "__main__":
	harness.main(globals())
