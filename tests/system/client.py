# SPDX-License-Identifier: MIT
"""
The system test's TCP clients and journal reader.

run-system-test starts these inside the container's network namespace
(``nsenter -t LEADER -n``), so 127.0.0.1 and ::1 are the container's own
loopback and nothing else is ever a target. Each subcommand proves one thing,
prints one summary line, and exits 0 when it held, 1 when it did not.

Where the shell must act in the middle of an exchange (reload, kill -9,
stop), the client creates the file given by --ready once it has reached that
point, and goes on only when the file given by --go exists. Every socket
operation and every wait has a deadline; every loop is bounded.
"""
import argparse
import codecs
import json
import os
import select
import socket
import sys
import time


def text_arg(s):
	"""A command-line text with C escapes (\\n, \\r, \\xNN) as bytes; UTF-8 kept."""
	return codecs.escape_decode(s.encode())[0]


def text(b):
	"""Bytes for a summary line: as text when they are UTF-8."""
	try:
		return repr(b.decode())
	except UnicodeDecodeError:
		return repr(b)


def connect(host, port, timeout=5.0):
	s = socket.create_connection((host, port), timeout=timeout)
	s.settimeout(timeout)
	return s


def recv_until_eof(s, deadline, limit=1 << 20):
	"""Everything the peer sends until it closes; raises on timeout or overrun."""
	data = bytearray()
	while True:
		left = deadline - time.monotonic()
		if left <= 0:
			raise TimeoutError("no EOF after %d bytes" % len(data))
		s.settimeout(left)
		chunk = s.recv(65536)
		if not chunk:
			return bytes(data)
		data += chunk
		if len(data) > limit:
			raise ValueError("more than %d bytes without EOF" % limit)


def recv_exact(s, n, deadline):
	data = bytearray()
	while len(data) < n:
		left = deadline - time.monotonic()
		if left <= 0:
			raise TimeoutError("got %d of %d bytes" % (len(data), n))
		s.settimeout(left)
		chunk = s.recv(n - len(data))
		if not chunk:
			raise EOFError("EOF after %d of %d bytes: %r" % (len(data), n, bytes(data)))
		data += chunk
	return bytes(data)


def handshake(ready, go, timeout):
	"""Tell the shell this point is reached, then wait for its go-ahead."""
	with open(ready, "w"):
		pass
	deadline = time.monotonic() + timeout
	while not os.path.exists(go):
		if time.monotonic() > deadline:
			raise TimeoutError("no go-ahead (%s) within %g s" % (go, timeout))
		time.sleep(0.01)


def done(ok, line):
	print(line)
	sys.stdout.flush()
	return 0 if ok else 1


# ---- oneshot: one exchange, byte-exact reply, then EOF ----------------------

def cmd_oneshot(a):
	with connect(a.host, a.port) as s:
		port = s.getsockname()[1]
		s.sendall(a.send)
		got = recv_until_eof(s, time.monotonic() + 10)
	if a.report:
		with open(a.report, "w") as f:
			json.dump({"local_port": port, "sent": len(a.send)}, f)
	return done(got == a.expect, "[%s]:%d from port %d: sent %d bytes, got %s (%d bytes) then EOF%s" % (
		a.host, a.port, port, len(a.send), text(got), len(got),
		"" if got == a.expect else "; expected %s" % text(a.expect)))


# ---- keepalive: a line-mode connection opened before a reload survives it ---

def cmd_keepalive(a):
	deadline = time.monotonic() + 30
	with connect(a.host, a.port) as old:
		old.sendall(b"first line before the reload\n")
		first = recv_exact(old, len(a.old), deadline)
		if first != a.old:
			return done(False, "old connection, before reload: got %r, expected %r" % (first, a.old))
		handshake(a.ready, a.go, 60)
		deadline = time.monotonic() + 30
		with connect(a.host, a.port) as new:
			new.sendall(b"a line on a connection opened after the reload\n")
			fresh = recv_exact(new, len(a.new), deadline)
			new.shutdown(socket.SHUT_WR)
			rest_new = recv_until_eof(new, deadline)
		old.sendall(b"second line on the old connection\n")
		second = recv_exact(old, len(a.old), deadline)
		old.shutdown(socket.SHUT_WR)
		rest_old = recv_until_eof(old, deadline)
	ok = fresh == a.new and second == a.old and not rest_new and not rest_old
	return done(ok, "new connection got %s; old connection got %s before and %s after the reload%s" % (
		text(fresh), text(first), text(second),
		"" if not (rest_new or rest_old) else "; extra bytes %r %r" % (rest_new, rest_old)))


# ---- storm: connections go on while the main process is killed --------------

def cmd_storm(a):
	interval = a.seconds / a.count
	results = {}
	latencies = []
	first_after = None
	start = time.monotonic()
	for i in range(a.count):
		if i == a.pause_after:
			handshake(a.ready, a.go, 30)
		t0 = time.monotonic()
		try:
			with connect(a.host, a.port) as s:
				s.sendall(b"connection %d\n" % i)
				got = recv_until_eof(s, time.monotonic() + 10)
			what = "ok" if got == a.expect else "wrong reply"
		except ConnectionRefusedError:
			what = "refused"
		except ConnectionResetError:
			what = "reset"
		except (TimeoutError, socket.timeout):
			what = "timeout"
		except OSError as e:
			what = "error %s" % e.__class__.__name__
		dt = time.monotonic() - t0
		latencies.append(dt)
		if i == a.pause_after:
			first_after = dt
		results[what] = results.get(what, 0) + 1
		time.sleep(max(0.0, start + (i + 1) * interval - time.monotonic()))
	ok = results.get("ok", 0) == a.count
	summary = ", ".join("%d %s" % (n, k) for k, n in sorted(results.items()))
	return done(ok, "%d connections in %.1f s: %s; first one after the kill took %.0f ms, slowest %.0f ms" % (
		a.count, time.monotonic() - start, summary, (first_after or 0) * 1000, max(latencies) * 1000))


# ---- drain: replies owed when the stop begins are all delivered -------------

def tcp_table():
	"""{(local_port, remote_port): (tx_queue, rx_queue)} of this netns' IPv4 sockets."""
	table = {}
	with open("/proc/net/tcp") as f:
		next(f)
		for line in f:
			fields = line.split()
			lport = int(fields[1].split(":")[1], 16)
			rport = int(fields[2].split(":")[1], 16)
			tx, rx = (int(x, 16) for x in fields[4].split(":"))
			table[(lport, rport)] = (tx, rx)
	return table


def cmd_drain(a):
	payload = b"".join(b"line %06d\n" % i for i in range(a.lines))
	owed = a.lines * len(a.reply)
	conns = [connect(a.host, a.port) for _ in range(a.conns)]
	ports = [s.getsockname()[1] for s in conns]
	for s in conns:
		s.sendall(payload)

	# Wait until the server has read every line (its receive queues are
	# empty), so every line is owed a reply; then see how much of that it
	# still holds: what neither its send queue nor our receive queue has.
	deadline = time.monotonic() + 15
	while True:
		t = tcp_table()
		unread = [t.get((a.port, p), (0, -1))[1] for p in ports]
		if all(u == 0 for u in unread):
			time.sleep(0.3)
			t = tcp_table()
			if all(t.get((a.port, p), (0, -1))[1] == 0 for p in ports):
				break
		if time.monotonic() > deadline:
			return done(False, "the server did not read every line within 15 s (unread bytes %r)" % unread)
		time.sleep(0.05)
	held = [owed - t[(a.port, p)][0] - t[(p, a.port)][1] for p in ports]

	handshake(a.ready, a.go, 60)
	deadline = time.monotonic() + 30
	got = {s: bytearray() for s in conns}
	open_ = set(conns)
	while open_:
		left = deadline - time.monotonic()
		if left <= 0:
			break
		r, _, _ = select.select(list(open_), [], [], left)
		for s in r:
			chunk = s.recv(1 << 20)
			if chunk:
				got[s] += chunk
			else:
				open_.discard(s)
	for s in conns:
		s.close()
	expect = a.reply * a.lines
	good = sum(1 for s in conns if bytes(got[s]) == expect)
	replies = [len(got[s]) // len(a.reply) for s in conns]
	ok = good == a.conns and not open_ and all(h > 0 for h in held)
	return done(ok, "%d clients sent %d lines each; when the stop began the server still held %s bytes "
		    "of their replies; they then got %s replies%s" % (
			    a.conns, a.lines, "/".join(map(str, held)), "/".join(map(str, replies)),
			    ", all byte-exact, then EOF" if good == a.conns and not open_ else
			    " (%d of %d complete, %d without EOF)" % (good, a.conns, len(open_))))


# ---- refused: nothing listens any more ---------------------------------------

def cmd_refused(a):
	try:
		with connect(a.host, a.port, timeout=3):
			return done(False, "[%s]:%d still accepts connections" % (a.host, a.port))
	except ConnectionRefusedError:
		return done(True, "[%s]:%d refuses connections" % (a.host, a.port))


# ---- journal: the exchange is in `journalctl -o json` ------------------------

def cmd_journal(a):
	with open(a.report) as f:
		rep = json.load(f)
	want = {"REMOTE_ADDR": "127.0.0.1", "REMOTE_PORT": str(rep["local_port"]),
		"BYTES": str(rep["sent"])}
	n = 0
	with open(a.json, encoding="utf-8", errors="replace") as f:
		for line in f:
			try:
				e = json.loads(line)
			except ValueError:
				continue
			n += 1
			if all(e.get(k) == v for k, v in want.items()):
				data = e.get("TCPACK_DATA")
				ok = data == a.data.decode() and e.get("TCPACK_MODE") == "oneshot"
				return done(ok, "entry %r: REMOTE_ADDR=%s REMOTE_PORT=%s BYTES=%s TCPACK_MODE=%s "
					    "TCPACK_DATA=%r PRIORITY=%s" % (
						    e.get("MESSAGE"), e["REMOTE_ADDR"], e["REMOTE_PORT"], e["BYTES"],
						    e.get("TCPACK_MODE"), data, e.get("PRIORITY")))
	return done(False, "none of %d entries has %s" % (n, " ".join("%s=%s" % kv for kv in want.items())))


def main():
	p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
	p.add_argument("--host", default="127.0.0.1")
	p.add_argument("--port", type=int, default=12345)
	sub = p.add_subparsers(dest="cmd", required=True)

	s = sub.add_parser("oneshot")
	s.add_argument("--send", type=text_arg, required=True)
	s.add_argument("--expect", type=text_arg, required=True)
	s.add_argument("--report", help="write the client's port and byte count here (JSON)")
	s.set_defaults(fn=cmd_oneshot)

	s = sub.add_parser("keepalive")
	s.add_argument("--old", type=text_arg, required=True)
	s.add_argument("--new", type=text_arg, required=True)
	s.set_defaults(fn=cmd_keepalive)

	s = sub.add_parser("storm")
	s.add_argument("--count", type=int, default=100)
	s.add_argument("--seconds", type=float, default=3.0)
	s.add_argument("--pause-after", type=int, default=20)
	s.add_argument("--expect", type=text_arg, required=True)
	s.set_defaults(fn=cmd_storm)

	s = sub.add_parser("drain")
	s.add_argument("--conns", type=int, default=4)
	s.add_argument("--lines", type=int, default=1000)
	s.add_argument("--reply", type=text_arg, required=True)
	s.set_defaults(fn=cmd_drain)

	s = sub.add_parser("refused")
	s.set_defaults(fn=cmd_refused)

	s = sub.add_parser("journal")
	s.add_argument("--json", required=True, help="output of journalctl -o json")
	s.add_argument("--report", required=True, help="the oneshot client's report")
	s.add_argument("--data", type=text_arg, required=True)
	s.set_defaults(fn=cmd_journal)

	for name in ("keepalive", "storm", "drain"):
		sub.choices[name].add_argument("--ready", required=True)
		sub.choices[name].add_argument("--go", required=True)

	a = p.parse_args()
	try:
		return a.fn(a)
	except Exception as e:	# one line, not a traceback, in the test's output
		return done(False, "%s: %s" % (e.__class__.__name__, e))


if __name__ == "__main__":
	sys.exit(main())
