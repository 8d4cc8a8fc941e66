# SPDX-License-Identifier: MIT
"""sd_notify: READY, STATUS counters, WATCHDOG pings, STOPPING."""
import signal

import harness
from harness import DEFAULT_REPLY, NotifySocket, Server, connect, recv_until_eof

IDLE_STATUS = "STATUS=0 connections (0 total), 0 messages, 0 bytes in, 0 bytes out, 0 errors"
# The exec trick gives the server its own pid before it starts.
OWN_PID = ["sh", "-c", 'WATCHDOG_PID=$$ exec "$0" "$@"']


def notified_server(args=(), env=None, prefix=()):
	notify = NotifySocket()
	srv = Server(list(args), env=dict(notify.env(), **(env or {})), prefix=prefix).start()
	return notify, srv


def test_ready_after_accepting_with_initial_status():
	notify, srv = notified_server()
	notify.wait_for("READY=1")
	# READY means accepting: a client is served straight away.
	with connect(srv.port) as s:
		s.sendall(b"are you ready")
		assert recv_until_eof(s) == DEFAULT_REPLY
	assert IDLE_STATUS in notify.messages, notify.messages
	assert notify.messages.index(IDLE_STATUS) < notify.messages.index("READY=1")
	assert notify.messages.count("READY=1") == 1
	assert srv.stop() == 0
	notify.close()


@harness.budget(20)
def test_status_counts_connections_messages_and_bytes():
	notify, srv = notified_server()
	notify.wait_for("READY=1")
	for i in range(3):
		with connect(srv.port) as s:
			s.sendall(b"abcde")
			assert recv_until_eof(s) == DEFAULT_REPLY
	want = "STATUS=0 connections (3 total), 3 messages, 15 bytes in, %d bytes out, 0 errors" \
		% (3 * len(DEFAULT_REPLY))
	notify.wait_for(want, timeout=8)
	assert srv.stop() == 0
	notify.close()


@harness.budget(20)
def test_status_shows_open_connections():
	notify, srv = notified_server(["--mode", "line", "--reply", "ok\\n"])
	notify.wait_for("READY=1")
	socks = [connect(srv.port) for _ in range(2)]
	for s in socks:
		s.sendall(b"hi\n")
		assert harness.recv_exact(s, 3) == b"ok\n"
	notify.wait_for("STATUS=2 connections (2 total), 2 messages, 6 bytes in, 6 bytes out, 0 errors",
			timeout=8)
	for s in socks:
		s.close()
	assert srv.stop() == 0
	notify.close()


def test_stopping_on_sigterm():
	notify, srv = notified_server()
	notify.wait_for("READY=1")
	srv.send_signal(signal.SIGTERM)
	assert srv.wait_exit(10) == 0
	notify.wait_for("STOPPING=1", timeout=2)
	notify.wait_for(lambda m: m.startswith("STATUS=stopping: 0 connections"), timeout=2,
			what="a 'stopping' STATUS")
	assert notify.messages.index("STOPPING=1") > notify.messages.index("READY=1")
	notify.close()


def test_reload_is_announced():
	notify, srv = notified_server()
	notify.wait_for("READY=1")
	before = len(notify.messages)
	srv.send_signal(signal.SIGHUP)
	notify.wait_for("RELOADING=1", timeout=5)
	i = notify.messages.index("RELOADING=1")
	assert i >= before
	harness.wait_until(lambda: notify.collect(0.05) and "READY=1" in notify.messages[i + 1:], 5,
			   "READY=1 after RELOADING=1 (got %r)" % notify.messages[before:])
	assert any(m.startswith("MONOTONIC_USEC=") and m[15:].isdigit() for m in notify.messages[i:]), \
		notify.messages[before:]
	assert srv.stop() == 0
	notify.close()


def count_watchdog(env, seconds=1.5, prefix=()):
	notify, srv = notified_server(env=env, prefix=prefix)
	notify.wait_for("READY=1")
	start = len(notify.messages)
	notify.collect(seconds)
	n = notify.messages[start:].count("WATCHDOG=1")
	assert srv.stop() == 0
	notify.close()
	print("  %d WATCHDOG=1 in %.1f s" % (n, seconds))
	return n


def test_watchdog_pings_every_tick():
	# WATCHDOG_USEC=400000: ticks every 200 ms, so about 7 in 1.5 s; at the
	# normal tick of 1 s at most 2 would fit.
	n = count_watchdog({"WATCHDOG_USEC": "400000"})
	assert n >= 4, "%d WATCHDOG=1 in 1.5 s with WATCHDOG_USEC=400000" % n


def test_watchdog_pings_when_watchdog_pid_is_the_server():
	n = count_watchdog({"WATCHDOG_USEC": "400000"}, prefix=OWN_PID)
	assert n >= 4, "%d WATCHDOG=1 in 1.5 s with WATCHDOG_PID set to the server" % n


def test_no_watchdog_pings_for_another_pid():
	n = count_watchdog({"WATCHDOG_USEC": "400000", "WATCHDOG_PID": "1"}, seconds=1.2)
	assert n == 0, "%d WATCHDOG=1 although WATCHDOG_PID names another process" % n


def test_no_watchdog_pings_without_watchdog_usec():
	n = count_watchdog({}, seconds=1.2)
	assert n == 0, "%d WATCHDOG=1 without WATCHDOG_USEC" % n


def test_serves_without_notify_socket():
	with Server() as srv, connect(srv.port) as s:
		s.sendall(b"no manager")
		assert recv_until_eof(s) == DEFAULT_REPLY


if __name__ == "__main__":
	harness.main(globals())
