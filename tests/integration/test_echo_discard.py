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
