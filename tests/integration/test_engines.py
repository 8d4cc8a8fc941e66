# SPDX-License-Identifier: MIT
"""Worker threads and the engine choice: --threads, --engine, and the
fallback to epoll when io_uring is refused (a seccomp filter makes
io_uring_setup fail the way container runtimes and RHEL 9 do)."""
import os
import re
import socket
import struct

import clients
import harness
from harness import DEFAULT_REPLY, NotifySocket, Server, connect, recv_until_eof

DENY = os.environ.get("TCPACK_DENY_IO_URING", "")


def oneshot_clients(port, n):
	def client(i, barrier):
		barrier.wait()
		with connect(port) as s:
			s.sendall(b"client %d" % i)
			return recv_until_eof(s)
	return harness.run_concurrently(client, n, timeout=20)


def test_threads_three_workers_serve_and_status_sums_them():
	notify = NotifySocket()
	with Server(["--threads", "3"], env=notify.env()) as srv:
		srv.wait_log("serving with 3 io_uring workers")
		assert all(r == DEFAULT_REPLY for r in oneshot_clients(srv.port, 90))
		# Counters of all workers, summed: 90 connections, 90 messages.
		notify.wait_for(lambda m: m.startswith("STATUS=0 connections (90 total), 90 messages,"),
				timeout=6, what="STATUS summing 90 connections over 3 workers")
	notify.close()


def worker_cpu_ns(pid):
	"""CPU time of each worker thread: not the main one (the supervisor),
	not the kernel's io_uring helpers (iou-wrk-*, iou-sqp-*)."""
	out = {}
	for tid in os.listdir("/proc/%d/task" % pid):
		if int(tid) == pid:
			continue
		try:
			with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
				if f.read().startswith("iou-"):
					continue
			with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
				out[tid] = int(f.read().split()[0])
		except FileNotFoundError:
			pass
	return out


def serve_one_after_another(args, mode_line):
	"""300 clients, one after the other, against 2 workers: both must serve
	a fair share. mode_line: the debug line naming how worker 0 accepts."""
	with Server(["--threads", "2", "--log-level", "debug"] + args) as srv:
		srv.wait_log("serving with 2 io_uring workers")
		srv.wait_log(mode_line)
		before = worker_cpu_ns(srv.pid)
		for i in range(300):
			with connect(srv.port) as s:
				s.sendall(b"client %d" % i)
				assert recv_until_eof(s) == DEFAULT_REPLY
		after = worker_cpu_ns(srv.pid)
	used = [after[t] - before.get(t, 0) for t in after]
	assert len(used) == 2, used
	assert min(used) >= 0.2 * sum(used), "worker CPU (ns) %r: one worker served nearly everything" % used


@harness.uring_only
def test_multishot_accept_hands_connections_round_the_workers():
	# Far from max-connections, worker 0's multishot accept takes every
	# connection (it keeps the head of the listening socket's wait queue)
	# and hands each to the least loaded worker over MSG_RING.
	serve_one_after_another([], "worker 0 accepts with multishot accepts")


@harness.uring_only
def test_single_shot_accepts_near_the_limit_go_round_the_workers():
	# With less room than the backlogs hold, a multishot accept could take
	# more than max-connections allows in one wake-up: every worker arms
	# single-shot accepts, which re-arm at the tail of the wait queue.
	serve_one_after_another(["--max-connections", "1000"],
				"worker 0 accepts with single-shot accepts")


def test_threads_one_is_a_single_worker():
	with Server(["--threads", "1"]) as srv:
		srv.wait_log("serving with 1 io_uring worker")
		assert all(r == DEFAULT_REPLY for r in oneshot_clients(srv.port, 20))


def test_engine_epoll_on_request():
	with Server(["--engine", "epoll", "--threads", "2", "--mode", "line",
		     "--reply", "ok\\n"]) as srv:
		srv.wait_log("serving with 2 epoll workers")
		with connect(srv.port) as s:
			s.sendall(b"a\nb\nc\n")
			s.shutdown(1)
			assert recv_until_eof(s) == b"ok\nok\nok\n"


def test_epoll_learns_from_its_receive_that_nothing_is_left_unread():
	# TCP_INQ on the listening socket: every receive says what is left, so
	# a oneshot reply goes with the close right behind it (reply and FIN in
	# one segment, the fd closed without waiting for the client), and
	# without it (TCPACK_TEST_RING=nounread) the socket is asked instead.
	for env, line in ((None, "epoll: receives report (TCP_INQ) whether bytes are left unread"),
			  ({"TCPACK_TEST_RING": "nounread"}, "epoll: receives do not report")):
		with Server(["--engine", "epoll", "--threads", "1", "--log-level", "debug"], env=env) as srv:
			srv.wait_log(line)
			fds = clients.proc_fds(srv.pid)
			for i in range(20):
				with connect(srv.port) as s:
					s.sendall(b"hello %d" % i)
					assert recv_until_eof(s) == DEFAULT_REPLY
					info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
					assert struct.unpack_from("I", info, 140)[0] <= 3, "reply and FIN apart"
					harness.wait_until(lambda: clients.proc_fds(srv.pid) == fds, 2.0,
							   "the server's fd closed while the client is still open")


def test_auto_falls_back_to_epoll_when_io_uring_is_refused():
	assert DENY and os.access(DENY, os.X_OK), "deny-io-uring helper not built"
	for err, text in (("EPERM", "Operation not permitted"), ("ENOSYS", "Function not implemented")):
		with Server(["--engine", "auto"], prefix=[DENY, err]) as srv:
			line = srv.wait_log("io_uring is not available")
			assert text in line, line
			assert "serving with the epoll engine" in line, line
			# Exactly one line says why.
			assert srv.log().count("io_uring is not available") == 1
			srv.wait_log(re.compile(r"serving with \d+ epoll workers?"))
			with connect(srv.port) as s:
				s.sendall(b"through epoll")
				assert recv_until_eof(s) == DEFAULT_REPLY


def test_engine_uring_exits_1_when_io_uring_is_refused():
	assert DENY and os.access(DENY, os.X_OK), "deny-io-uring helper not built"
	srv = Server(["--engine", "uring"], prefix=[DENY, "EPERM"])
	srv.start(wait=False)
	assert srv.wait_exit(10) == 1
	lines = [l for l in srv.log_lines() if "io_uring is not available" in l]
	assert len(lines) == 1 and "Operation not permitted" in lines[0], srv.log()


def test_bad_engine_and_threads_values_are_config_errors():
	for args in (["--engine", "kqueue"], ["--threads", "257"], ["--threads", "two"]):
		srv = Server(args)
		srv.start(wait=False)
		assert srv.wait_exit(10) == 2, args
		assert srv.log_lines()[-1].startswith("tcpack: --%s: " % args[0][2:]), srv.log()


if __name__ == "__main__":
	harness.main(globals())
