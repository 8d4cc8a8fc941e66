# SPDX-License-Identifier: MIT
"""Socket activation: listening sockets passed the systemd way (LISTEN_FDS)."""
import shutil
import socket
import subprocess

import harness
from harness import DEFAULT_REPLY, Server, connect, recv_until_eof

ACTIVATE = shutil.which("systemd-socket-activate")
SET_LISTEN_PID = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3<&"$TCPACK_FD"']


def setup_module():
	if not ACTIVATE:
		harness.skip_module("systemd-socket-activate not found (package systemd)")


def activated(listens, args=()):
	"""
	tcpack under systemd-socket-activate on free ports of @listens (host
	strings); returns (server, ports). Retries when a port was taken in
	between.
	"""
	for attempt in range(5):
		ports = [harness.free_port(socket.AF_INET6 if ":" in h else socket.AF_INET) for h in listens]
		prefix = [ACTIVATE]
		for h, p in zip(listens, ports):
			prefix += ["-l", ("[%s]:%d" if ":" in h else "%s:%d") % (h, p)]
		srv = Server(list(args), listen=None, prefix=prefix, name="activate").start(wait=False)
		want = ["Listening on %s as %d." % (("[%s]:%d" if ":" in h else "%s:%d") % (h, p), 3 + i)
			for i, (h, p) in enumerate(zip(listens, ports))]

		def bound():
			if not srv.alive():
				return "exited"
			log = srv.log()
			return all(w in log for w in want)
		state = harness.wait_until(bound, 5, "systemd-socket-activate to listen")
		if state is True:
			return srv, ports
		if "Address already in use" not in srv.log():
			raise AssertionError("systemd-socket-activate failed:\n" + srv.log())
	raise AssertionError("no free port after 5 attempts")


def oneshot(host, port, msg):
	with connect(port, host=host) as s:
		s.sendall(msg)
		return recv_until_eof(s), harness.local_port(s)


def test_oneshot_reply_through_a_passed_socket():
	srv, (port,) = activated(["127.0.0.1"])
	# The first connection makes systemd-socket-activate exec tcpack.
	got, cport = oneshot("127.0.0.1", port, b"activated")
	assert got == DEFAULT_REPLY
	srv.wait_serving()
	assert srv.ports == [port], srv.ports
	srv.wait_log("listening on 127.0.0.1:%d (socket from systemd)" % port)
	srv.wait_log("127.0.0.1:%d: received 9 bytes: activated" % cport)
	got, _ = oneshot("127.0.0.1", port, b"again")
	assert got == DEFAULT_REPLY
	assert srv.stop() == 0


def test_listen_option_is_ignored_when_sockets_are_passed():
	ignored = harness.free_port()
	srv, (port,) = activated(["127.0.0.1"], ["--listen", "127.0.0.1:%d" % ignored])
	assert oneshot("127.0.0.1", port, b"x")[0] == DEFAULT_REPLY
	srv.wait_serving()
	srv.wait_log("--listen ignored: systemd passed the listening sockets")
	assert srv.ports == [port], srv.ports
	try:
		with connect(ignored, timeout=2):
			raise AssertionError("the --listen address was bound too")
	except ConnectionRefusedError:
		pass
	assert srv.stop() == 0


def test_ipv4_and_ipv6_sockets_passed_together():
	if not harness.ipv6_available():
		harness.skip("::1 is not available on this machine: the IPv6 half cannot run")
	srv, (p4, p6) = activated(["127.0.0.1", "::1"], ["--mode", "line", "--reply", "ok\\n",
							   "--log-level", "debug"])
	with connect(p4) as s4:
		assert harness.exchange(s4, b"v4\n") == b"ok\n"
	with connect(p6, host="::1") as s6:
		assert harness.exchange(s6, b"v6\nv6\n") == b"ok\nok\n"
		cport6 = harness.local_port(s6)
	srv.wait_serving()
	assert srv.ports == [p4, p6], srv.ports
	srv.wait_log("listening on 127.0.0.1:%d (socket from systemd)" % p4)
	srv.wait_log("listening on [::1]:%d (socket from systemd)" % p6)
	srv.wait_log("[::1]:%d: message of 2 bytes: v6" % cport6)
	assert srv.stop() == 0


def run_with_fd3(redirect_fd=None, extra=()):
	"""tcpack with LISTEN_FDS=1 and LISTEN_PID of itself; fd 3 is /dev/null or @redirect_fd."""
	env = harness.clean_env()
	pass_fds = ()
	if redirect_fd is None:
		script = ['sh', '-c', 'LISTEN_PID=$$ LISTEN_FDS=1 exec "$0" "$@" 3</dev/null']
	else:
		script = SET_LISTEN_PID
		env["TCPACK_FD"] = str(redirect_fd)
		pass_fds = (redirect_fd,)
	argv = script + [harness.binary(), "--config", harness.empty_config(), "--listen", "127.0.0.1:0"]
	try:
		return subprocess.run(argv + list(extra), env=env, pass_fds=pass_fds, timeout=10,
				      stdin=subprocess.DEVNULL, capture_output=True)
	except subprocess.TimeoutExpired:
		raise AssertionError("tcpack kept running with a bad LISTEN_FDS socket") from None


def assert_refuses_fd3(r):
	err = r.stderr.decode()
	assert r.returncode == 1, "exit %d, stderr %r" % (r.returncode, err)
	assert "systemd passed fd 3, which is not a listening stream socket" in err, err
	assert "listening on" not in err, err


def test_non_socket_fd_is_refused_with_a_clear_message():
	assert_refuses_fd3(run_with_fd3())


def test_non_listening_tcp_socket_is_refused():
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
		s.bind(("127.0.0.1", 0))	# bound, never listen()ed
		assert_refuses_fd3(run_with_fd3(s.fileno()))


def test_datagram_socket_is_refused():
	with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
		s.bind(("127.0.0.1", 0))
		assert_refuses_fd3(run_with_fd3(s.fileno()))


def test_listen_fds_for_another_pid_is_ignored():
	# LISTEN_PID names someone else: not ours, bind --listen as usual.
	with Server(env={"LISTEN_FDS": "1", "LISTEN_PID": "1"}) as srv:
		assert "(socket from systemd)" not in srv.log()
		assert oneshot("127.0.0.1", srv.port, b"plain")[0] == DEFAULT_REPLY


def test_listening_socket_passed_by_hand_is_served():
	# The protocol without systemd-socket-activate: a listening socket as fd 3.
	with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as ls:
		ls.bind(("127.0.0.1", 0))
		ls.listen(16)
		port = ls.getsockname()[1]
		srv = Server(listen=None, prefix=SET_LISTEN_PID, env={"TCPACK_FD": ls.fileno()},
			     pass_fds=(ls.fileno(),)).start()
	assert srv.ports == [port]
	assert "listening on 127.0.0.1:%d (socket from systemd)" % port in srv.log()
	assert oneshot("127.0.0.1", port, b"by hand")[0] == DEFAULT_REPLY
	assert srv.stop() == 0


if __name__ == "__main__":
	harness.main(globals())
