# SPDX-License-Identifier: MIT
"""
Behind a load balancer: PROXY protocol v1/v2 listeners, the agent-check
listener (state and weight), admin-state by reload, and SIGTERM's
drain-grace. Loopback only; the addresses inside PROXY headers are never
connected to, only logged.
"""
import os
import signal
import socket
import struct
import time

import harness
from harness import DEFAULT_REPLY, Server, connect, recv_until_eof

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"


def v2(src, sport, dst, dport, *, local=False, tlvs=b""):
	"""A PROXY v2 header for TCP over IPv4 or IPv6 (LOCAL: no addresses used)."""
	if ":" in src:
		fam, addrs = 0x21, socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
	else:
		fam, addrs = 0x11, socket.inet_aton(src) + socket.inet_aton(dst)
	block = addrs + struct.pack("!HH", sport, dport) + tlvs
	return V2_SIG + bytes([0x20 if local else 0x21, fam]) + struct.pack("!H", len(block)) + block


def v2_local():
	return V2_SIG + b"\x20\x00\x00\x00"


def ask(port, data, *, pieces=1, pause=0.0):
	"""Send @data (in @pieces), half-close, read to EOF."""
	with connect(port) as s:
		step = max(1, len(data) // pieces)
		for i in range(0, len(data), step):
			s.sendall(data[i:i + step])
			if pause:
				time.sleep(pause)
		s.shutdown(socket.SHUT_WR)
		return recv_until_eof(s), harness.local_port(s)


def agent(port):
	with connect(port) as s:
		return recv_until_eof(s, timeout=5).decode()


def proxied(args=(), mode="v2", **kw):
	"""A server whose first listener expects PROXY @mode, a plain second one."""
	return Server(list(args), listen=["127.0.0.1:0 proxy-protocol=" + mode, "127.0.0.1:0"], **kw)


def test_v2_header_names_the_client_and_the_balancer_beside_it():
	with proxied(["--log-level", "debug"]) as srv:
		got, lport = ask(srv.port, v2("198.51.100.7", 40001, "203.0.113.9", 12345) + b"hello")
		assert got == DEFAULT_REPLY
		line = srv.wait_log("198.51.100.7:40001 via 127.0.0.1:%d: received 5 bytes: hello" % lport)
		assert line
		# The plain listener beside it takes no header.
		assert ask(srv.ports[1], b"plain")[0] == DEFAULT_REPLY
		srv.wait_log("127.0.0.1:")


def test_v2_ipv6_and_tlvs_skipped():
	tlvs = bytes([0x04]) + struct.pack("!H", 3) + b"abc" + bytes([0xE0]) + struct.pack("!H", 0)
	with proxied() as srv:
		got, _ = ask(srv.port, v2("2001:db8::1", 5555, "2001:db8::2", 80, tlvs=tlvs) + b"six")
		assert got == DEFAULT_REPLY
		srv.wait_log("[2001:db8::1]:5555 via 127.0.0.1:")


def test_header_one_byte_at_a_time_then_the_message():
	with proxied() as srv:
		hdr = v2("192.0.2.1", 1234, "192.0.2.2", 80)
		with connect(srv.port, nodelay=True) as s:
			for b in hdr:
				s.send(bytes([b]))
				time.sleep(0.002)
			s.sendall(b"late")
			s.shutdown(socket.SHUT_WR)
			assert recv_until_eof(s) == DEFAULT_REPLY
		srv.wait_log("192.0.2.1:1234 via 127.0.0.1:")
		srv.wait_log("received 4 bytes: late")


def test_v1_tcp4_tcp6_and_unknown():
	with proxied(mode="v1") as srv:
		assert ask(srv.port, b"PROXY TCP4 192.0.2.10 192.0.2.20 5000 80\r\nv1 four")[0] == DEFAULT_REPLY
		srv.wait_log("192.0.2.10:5000 via 127.0.0.1:")
		assert ask(srv.port, b"PROXY TCP6 2001:db8::10 2001:db8::20 6000 80\r\nv1 six")[0] == DEFAULT_REPLY
		srv.wait_log("[2001:db8::10]:6000 via 127.0.0.1:")
		# UNKNOWN: the connection's own endpoints, served all the same.
		got, lport = ask(srv.port, b"PROXY UNKNOWN\r\nunknown")
		assert got == DEFAULT_REPLY
		srv.wait_log("127.0.0.1:%d: received 7 bytes: unknown" % lport)


def test_any_takes_either_version():
	with proxied(mode="any") as srv:
		assert ask(srv.port, b"PROXY TCP4 192.0.2.30 192.0.2.20 5001 80\r\nx")[0] == DEFAULT_REPLY
		assert ask(srv.port, v2("192.0.2.31", 5002, "192.0.2.20", 80) + b"y")[0] == DEFAULT_REPLY
		srv.wait_log("192.0.2.30:5001 via")
		srv.wait_log("192.0.2.31:5002 via")


def test_missing_or_wrong_header_is_closed_unanswered_and_logged():
	with proxied() as srv:
		# No header: data a client sent straight to the listener.
		got, lport = ask(srv.port, b"hello, no header here")
		assert got == b""
		srv.wait_log("127.0.0.1:%d: invalid PROXY protocol header" % lport)
		# A v1 header where v2 is expected.
		got, _ = ask(srv.port, b"PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\nx")
		assert got == b""
		# A v2 header whose address block is cut short.
		bad = V2_SIG + b"\x21\x11" + struct.pack("!H", 4) + b"\x01\x02\x03\x04" + b"data"
		assert ask(srv.port, bad)[0] == b""
		# Nothing was served by guessing.
		assert "received" not in srv.log()
		# Every other connection is still served.
		assert ask(srv.port, v2("192.0.2.5", 1, "192.0.2.6", 2) + b"ok")[0] == DEFAULT_REPLY


def test_header_must_come_within_the_message_timeout():
	with proxied(["--message-timeout", "300ms"]) as srv:
		with connect(srv.port) as s:
			t0 = time.monotonic()
			s.sendall(v2("192.0.2.1", 1, "192.0.2.2", 2)[:10])
			assert recv_until_eof(s, timeout=5) == b""
			took = time.monotonic() - t0
		assert took < 3.0, took
		srv.wait_log("no complete PROXY protocol header within 300 ms, closing")


def test_v2_local_is_a_health_check_served_quietly():
	with proxied() as srv:
		# A check that connects, says LOCAL and leaves: not logged at info.
		with connect(srv.port) as s:
			s.sendall(v2_local())
			s.shutdown(socket.SHUT_WR)
			assert recv_until_eof(s) == b""
		# LOCAL and a message: served, the socket's own peer named.
		got, lport = ask(srv.port, v2_local() + b"check")
		assert got == DEFAULT_REPLY
		srv.wait_log("127.0.0.1:%d: received 5 bytes: check" % lport)
		assert "without sending data" not in srv.log()


def test_passed_sockets_take_their_role_from_their_names():
	socks = [socket.socket(), socket.socket(), socket.socket()]
	try:
		for s in socks:
			s.bind(("127.0.0.1", 0))
			s.listen(16)
		ports = [s.getsockname()[1] for s in socks]
		wrap = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=3 LISTEN_FDNAMES=tcpack.socket:proxy-v2:agent '
			'exec "$0" "$@" 3<&"$FD0" 4<&"$FD1" 5<&"$FD2"']
		env = {"FD%d" % i: str(s.fileno()) for i, s in enumerate(socks)}
		srv = Server(["--drain-grace", "0"], listen=None, prefix=wrap, env=env,
			     pass_fds=tuple(s.fileno() for s in socks))
		srv.start()
	finally:
		for s in socks:
			s.close()
	log = srv.log()
	assert "listening on 127.0.0.1:%d (socket from systemd)" % ports[0] in log
	assert "listening on 127.0.0.1:%d (PROXY protocol v2) (socket from systemd)" % ports[1] in log
	assert "listening on 127.0.0.1:%d (agent check) (socket from systemd)" % ports[2] in log
	assert ask(ports[0], b"plain")[0] == DEFAULT_REPLY
	assert ask(ports[1], v2("192.0.2.77", 7, "192.0.2.1", 1) + b"named")[0] == DEFAULT_REPLY
	srv.wait_log("192.0.2.77:7 via 127.0.0.1:")
	# The two exchanges' connections may still be closing: 99% until they are gone.
	harness.wait_until(lambda: agent(ports[2]) == "up ready 100%\n", 5, "the agent to say up ready 100%")
	assert srv.stop() == 0


def test_a_bad_socket_name_is_refused():
	with socket.socket() as ls:
		ls.bind(("127.0.0.1", 0))
		ls.listen(4)
		wrap = ["sh", "-c", 'LISTEN_PID=$$ LISTEN_FDS=1 LISTEN_FDNAMES=proxy-v9 exec "$0" "$@" 3<&"$FD0"']
		srv = Server(listen=None, prefix=wrap, env={"FD0": str(ls.fileno())},
			     pass_fds=(ls.fileno(),)).start(wait=False)
		assert srv.wait_exit(10) == 1
	assert "named 'proxy-v9': expected proxy-v1, proxy-v2, proxy-any or proxy-off" in srv.log()


def agent_server(extra=(), config_text="", **kw):
	cfg = harness.write_file("agent-%d.conf" % time.monotonic_ns(), config_text)
	# No grace unless a test asks: the runner's SIGTERM at the end stops at once.
	return Server(["--agent-listen", "127.0.0.1:0", "--drain-grace", "0"] + list(extra),
		      config=cfg, **kw), cfg


def test_agent_answers_ready_with_a_weight_that_falls_with_connections():
	srv, _ = agent_server(["--max-connections", "20", "--mode", "line"])
	with srv:
		ap = srv.ports[-1]
		assert agent(ap) == "up ready 100%\n"
		held = [connect(srv.port) for _ in range(15)]
		try:
			for s in held:	# each one is served: the connection is surely counted
				s.sendall(b"x\n")
				assert harness.recv_exact(s, len(DEFAULT_REPLY)) == DEFAULT_REPLY
			assert agent(ap) == "up ready 25%\n"
		finally:
			for s in held:
				s.close()
		harness.wait_until(lambda: agent(ap) == "up ready 100%\n", 5, "the weight to come back")


def test_admin_state_by_reload_drains_and_keeps_serving():
	srv, cfg = agent_server()
	with srv:
		ap = srv.ports[-1]
		for state, said in (("drain", "up drain\n"), ("maint", "up maint\n"), ("ready", "up ready 100%\n")):
			with open(cfg, "w") as f:
				f.write("admin-state = %s\n" % state)
			srv.send_signal(signal.SIGHUP)
			harness.wait_until(lambda: agent(ap) == said, 5, "the agent to say %r" % said)
			assert ask(srv.port, b"still served")[0] == DEFAULT_REPLY
		srv.wait_log("admin state drain: the agent check answers drain")
		srv.wait_log("admin state ready")


def test_sigterm_with_an_agent_drains_first_and_stops_once_it_was_heard():
	srv, _ = agent_server(["--drain-grace", "20s"])
	with srv:
		ap = srv.ports[-1]
		t0 = time.monotonic()
		srv.send_signal(signal.SIGTERM)
		srv.wait_log("the agent check answers drain, serving on")
		# Still serving during the grace, and saying drain.
		assert ask(srv.port, b"during the grace")[0] == DEFAULT_REPLY
		assert agent(ap) == "up drain\n"
		rc = srv.wait_exit(10)
		took = time.monotonic() - t0
		assert rc == 0
		assert took < 5, "stopped %.1fs after SIGTERM though the agent heard drain" % took
		srv.wait_log("the agent check said drain")


def test_sigterm_with_an_agent_nobody_asks_stops_at_drain_grace():
	srv, _ = agent_server(["--drain-grace", "600ms"])
	with srv:
		t0 = time.monotonic()
		srv.send_signal(signal.SIGTERM)
		assert srv.wait_exit(10) == 0
		took = time.monotonic() - t0
		assert 0.5 <= took < 5, took
		srv.wait_log("drain-grace over and no agent check heard drain")


def test_a_drain_the_balancer_heard_before_it_heard_ready_does_not_count():
	srv, cfg = agent_server(["--drain-grace", "1500ms"])
	with srv:
		ap = srv.ports[-1]
		for state, said in (("drain", "up drain\n"), ("ready", "up ready 100%\n")):
			with open(cfg, "w") as f:
				f.write("admin-state = %s\n" % state)
			srv.send_signal(signal.SIGHUP)
			harness.wait_until(lambda: agent(ap) == said, 5, "the agent to say %r" % said)
		t0 = time.monotonic()
		srv.send_signal(signal.SIGTERM)
		assert srv.wait_exit(10) == 0
		took = time.monotonic() - t0
		# The balancer last heard "ready": the whole grace, waiting for it to hear drain.
		assert took >= 1.4, took
		srv.wait_log("drain-grace over and no agent check heard drain")


def test_second_sigterm_ends_the_grace_at_once():
	srv, _ = agent_server(["--drain-grace", "30s"])
	with srv:
		srv.send_signal(signal.SIGTERM)
		srv.wait_log("the agent check answers drain, serving on")
		t0 = time.monotonic()
		srv.send_signal(signal.SIGTERM)
		assert srv.wait_exit(10) == 0
		assert time.monotonic() - t0 < 5


def test_agent_send_data_does_not_reset_the_answer():
	# HAProxy's agent-send: the balancer writes first; the answer still arrives whole.
	srv, _ = agent_server()
	with srv:
		for _ in range(20):
			with connect(srv.ports[-1]) as s:
				s.sendall(b"hello agent\n" * 50)
				assert recv_until_eof(s) == b"up ready 100%\n"


if __name__ == "__main__":
	harness.main(globals())
