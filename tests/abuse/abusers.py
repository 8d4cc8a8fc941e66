# SPDX-License-Identifier: MIT
"""
The abusive clients of the abuse suite, each kind in its own process so the
well-behaved clients' round trips are not timed behind Python's GIL:

    python3 abusers.py ROLE JSON-ARGS

prints ``event NAME JSON`` lines as it goes and one ``result JSON`` line at
the end. Roles: idle, slowloris, never_read, badinput, flood. Every role is
bounded by a count and by a deadline (``deadline`` seconds from its start).
"""
import json
import random
import select
import socket
import struct
import sys
import threading
import time

import clients

LINGER0 = struct.pack("ii", 1, 0)
CLOSED_EVENTS = select.POLLRDHUP | select.POLLHUP | select.POLLERR


def emit(kind, name, data=None):
	sys.stdout.write("%s %s %s\n" % (kind, name, json.dumps(data)))
	sys.stdout.flush()


def stats(values):
	if not values:
		return None
	return {"min": round(min(values), 3), "max": round(max(values), 3),
		"p50": round(clients.percentile(values, 50), 3)}


def rst_close(s):
	"""Close with a reset (SO_LINGER 0)."""
	try:
		s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER0)
	except OSError:
		pass
	s.close()


# ---- idle: connect, say nothing, wait for the idle timeout ---------------------

def role_idle(a):
	t0 = time.monotonic()
	clients.raise_nofile(a["n"] + 1000)
	socks, errors = clients.connect_many(a["port"], a["n"], sources=a.get("sources"),
					     in_flight=a.get("in_flight", 200), timeout=a["deadline"] / 2)
	opened_at = time.monotonic()
	emit("event", "opened", {"opened": len(socks), "errors": len(errors),
				 "seconds": round(opened_at - t0, 3)})
	if a.get("hold"):
		time.sleep(a["hold"])
	p = select.poll()
	by_fd = {}
	for s in socks:
		p.register(s, select.POLLIN | select.POLLRDHUP)
		by_fd[s.fileno()] = s
	closed_eof = closed_rst = bytes_in = 0
	close_after = []
	deadline = t0 + a["deadline"]
	while by_fd and time.monotonic() < deadline:
		for fd, ev in p.poll(200):
			s = by_fd.get(fd)
			if s is None:
				continue
			try:
				chunk = s.recv(4096)
			except BlockingIOError:
				continue
			except OSError:
				chunk = None
			if chunk:
				bytes_in += len(chunk)	# an idle client is owed nothing
				continue
			if chunk == b"":
				closed_eof += 1
			else:
				closed_rst += 1
			close_after.append(time.monotonic() - opened_at)
			p.unregister(fd)
			del by_fd[fd]
			s.close()
	still_open = len(by_fd)
	for s in by_fd.values():
		s.close()
	emit("result", "idle", {
		"connections": len(socks), "connect_errors": len(errors), "first_errors": errors[:3],
		"open_seconds": round(opened_at - t0, 3), "closed_by_server": closed_eof,
		"reset_by_server": closed_rst, "still_open": still_open, "bytes_received": bytes_in,
		"closed_after_open_s": stats(close_after)})


# ---- slowloris: a byte every interval, never a whole line -------------------------

class _Loris:
	__slots__ = ("sock", "first", "sent", "got")


def role_slowloris(a):
	t0 = time.monotonic()
	interval, attack, deadline = a["interval"], a["attack"], t0 + a["deadline"]
	max_rounds = a.get("max_rounds", 5)
	lanes = [None] * a["n"]
	rounds = [0] * a["n"]
	conns = closed = bytes_out = bytes_in = connect_errors = 0
	close_after = []

	def open_lane(i):
		nonlocal conns, connect_errors
		try:
			s = socket.create_connection(("127.0.0.1", a["port"]), timeout=5)
		except OSError:
			connect_errors += 1
			return
		s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		s.setblocking(False)
		l = _Loris()
		l.sock, l.first, l.sent, l.got = s, None, 0, 0
		lanes[i] = l
		rounds[i] += 1
		conns += 1

	for i in range(len(lanes)):
		open_lane(i)
	emit("event", "opened", {"connections": conns})
	next_tick = time.monotonic()
	while time.monotonic() < deadline:
		now = time.monotonic()
		attacking = now - t0 < attack
		if not attacking and not any(lanes):
			break
		if now >= next_tick:
			next_tick += interval
			for l in lanes:
				if l is None:
					continue
				try:
					n = l.sock.send(b"s")
				except (BlockingIOError, OSError):
					n = 0
				if n and l.first is None:
					l.first = time.monotonic()
				l.sent += n
				bytes_out += n
		p = select.poll()
		for l in lanes:
			if l is not None:
				p.register(l.sock, select.POLLIN | CLOSED_EVENTS)
		ready = dict(p.poll(max(0, int((next_tick - time.monotonic()) * 1000))))
		for i, l in enumerate(lanes):
			if l is None or l.sock.fileno() not in ready:
				continue
			try:
				chunk = l.sock.recv(4096)
			except BlockingIOError:
				continue
			except OSError:
				chunk = None
			if chunk:
				bytes_in += len(chunk)	# a message timeout sends nothing
				continue
			closed += 1
			close_after.append(time.monotonic() - (l.first or time.monotonic()))
			l.sock.close()
			lanes[i] = None
			if time.monotonic() - t0 < attack and rounds[i] < max_rounds:
				open_lane(i)
	survived = sum(1 for l in lanes if l is not None)
	for l in lanes:
		if l is not None:
			l.sock.close()
	emit("result", "slowloris", {
		"connections": conns, "connect_errors": connect_errors, "closed_by_server": closed,
		"survived": survived, "bytes_sent": bytes_out, "bytes_received": bytes_in,
		"closed_after_first_byte_s": stats(close_after)})


# ---- never_read: pipeline lines, never read a reply ---------------------------------

def role_never_read(a):
	t0 = time.monotonic()
	deadline = t0 + a["deadline"]
	stall, cap = a.get("stall", 1.0), a.get("cap", 4 << 20)
	socks, errors = clients.connect_many(a["port"], a["n"], timeout=10)
	# 2-byte lines: every byte sent owes ~15 back, so the replies overflow
	# the kernel's buffers and max-pending long before the input does.
	block = b"n\n" * 32768
	n = len(socks)
	sent = [0] * n
	last = [time.monotonic()] * n
	done = [False] * n
	for s in socks:
		s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
	emit("event", "opened", {"connections": n})
	while not all(done) and time.monotonic() < deadline:
		p = select.poll()
		for i, s in enumerate(socks):
			if not done[i]:
				p.register(s, select.POLLOUT)
		ready = dict(p.poll(100))
		now = time.monotonic()
		for i, s in enumerate(socks):
			if done[i]:
				continue
			if s.fileno() in ready:
				off = sent[i] % len(block)
				try:
					k = s.send(block[off:])
				except BlockingIOError:
					k = 0
				except OSError:
					done[i] = True
					continue
				if k:
					sent[i] += k
					last[i] = now
			if now - last[i] >= stall or sent[i] >= cap:
				done[i] = True
	stalled_at = list(last)
	emit("event", "stalled", {"bytes_sent": sum(sent)})
	# Now wait, still not reading, for the server to give up on them.
	p = select.poll()
	by_fd = {}
	for i, s in enumerate(socks):
		p.register(s, CLOSED_EVENTS)	# no POLLIN: unread replies must not wake us
		by_fd[s.fileno()] = i
	close_after = []
	while by_fd and time.monotonic() < deadline:
		for fd, ev in p.poll(200):
			i = by_fd.pop(fd, None)
			if i is None:
				continue
			p.unregister(fd)
			close_after.append(time.monotonic() - stalled_at[i])
	still_open = len(by_fd)
	for s in socks:
		s.close()
	emit("result", "never_read", {
		"connections": n, "connect_errors": len(errors), "bytes_sent": sum(sent),
		"lines_sent": sum(sent) // 2, "max_bytes_one_client": max(sent) if sent else 0,
		"closed_by_server": n - still_open, "still_open": still_open,
		"closed_after_stall_s": stats(close_after)})


# ---- badinput: oversized lines, junk, resets mid-message --------------------------

def send_and_read(port, data, *, timeout, early_ok):
	"""
	Send @data while reading; half-close; read to EOF. When the server
	ends early (@early_ok) an EOF or reset while still sending stops the
	sending. Returns (bytes received, error or None).
	"""
	s = socket.create_connection(("127.0.0.1", port), timeout=5)
	s.setblocking(False)
	got = bytearray()
	view = memoryview(data)
	sent = 0
	shut = False
	deadline = time.monotonic() + timeout
	try:
		while time.monotonic() < deadline:
			if sent == len(view) and not shut:
				s.shutdown(socket.SHUT_WR)
				shut = True
			events = select.POLLIN | (select.POLLOUT if sent < len(view) else 0)
			p = select.poll()
			p.register(s, events)
			for _, ev in p.poll(100):
				if ev & (select.POLLIN | select.POLLHUP | select.POLLERR):
					try:
						chunk = s.recv(1 << 16)
					except BlockingIOError:
						chunk = None
					except ConnectionResetError:
						if early_ok and sent < len(view):
							return bytes(got), None
						return bytes(got), "reset after %d of %d bytes sent" % (sent, len(view))
					if chunk == b"":
						if sent < len(view) and not early_ok:
							return bytes(got), "EOF after %d of %d bytes sent" % (sent, len(view))
						return bytes(got), None
					if chunk:
						got += chunk
				if ev & select.POLLOUT and sent < len(view):
					try:
						sent += s.send(view[sent:sent + (1 << 16)])
					except BlockingIOError:
						pass
					except (BrokenPipeError, ConnectionResetError) as e:
						if not early_ok:
							return bytes(got), "send: %s" % e
						sent = len(view)	# the server is done with us: read what it said
		return bytes(got), "not done within %.0fs (sent %d of %d, got %d)" % (
			timeout, sent, len(view), len(got))
	finally:
		s.close()


def oversize_jobs(rng, n, m):
	kinds = [
		("long+LF", lambda: b"x" * (m + 1) + b"\n"),
		("long, no LF, 100 KiB", lambda: b"y" * 100000),
		("long, CR inside", lambda: b"z" * m + b"\rq\n"),
		("max+1 then CR LF", lambda: b"w" * (m + 1) + b"\r\n"),
		("2 MiB, no LF", lambda: b"h" * (2 << 20)),
		("exactly max + CR LF (valid)", lambda: b"e" * m + b"\r\n"),
		("exactly max + LF (valid)", lambda: b"f" * m + b"\n"),
	]
	jobs = []
	for j in range(n):
		name, make = kinds[j % len(kinds)]
		good = b"".join(b"ok %d %d\n" % (j, k) for k in range(rng.randint(0, 3)))
		jobs.append(("oversize", name, good + make() + (b"after\n" if j % 2 else b"")))
	return jobs


PROTOCOL_JUNK = [
	b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: " + b"A" * 3000 + b"\r\n\r\n",
	b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(256)) * 2,	# TLS ClientHello-ish
	b"SSH-2.0-OpenSSH_9.2\r\n" + b"\x00\x00\x05\xdc\x08\x14" + bytes(1500),
	b"\xff\xfb\x01\xff\xfb\x03\xff\xfd\x18\xff\xfd\x1f",				# telnet IAC
	b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x0c" + bytes(12),				# PROXY v2
	b"\n" * 5000,
	b"\r\n" * 3000,
	b"\r" * 5000 + b"\n",
	"日本語のテキスト\n".encode() * 200 + b"\xc3\x28\xa0\xa1\xe2\x28\xa1\n",
]


def junk_jobs(rng, n):
	jobs = []
	for j in range(n):
		kind = j % 5
		if kind == 0:
			data = rng.randbytes(rng.randint(1, 64 * 1024))
			name = "random bytes"
		elif kind == 1:
			data = rng.randbytes(rng.randint(1, 3000)).replace(b"\n", b"N")
			name = "random bytes, no LF"
		elif kind == 2:
			data = bytes(rng.choices(b"\n\r\x00\xff\xc3a", k=rng.randint(1, 10000)))
			name = "dense control bytes"
		elif kind == 3:
			data = PROTOCOL_JUNK[j // 5 % len(PROTOCOL_JUNK)]
			name = "other protocols"
		else:
			data = b"".join(rng.randbytes(rng.randint(0, 1500)).replace(b"\n", b"") + b"\n"
					for _ in range(rng.randint(1, 40)))
			name = "random lines around max-message"
		jobs.append(("junk", name, data))
	return jobs


def reset_jobs(rng, n, m):
	kinds = ["at once", "half a line", "lines unread", "256 KiB pipelined", "after too long",
		 "after a pause"]
	return [("reset", kinds[j % len(kinds)], rng.randint(0, 20)) for j in range(n)]


def do_reset(port, kind, ms, m):
	s = socket.create_connection(("127.0.0.1", port), timeout=5)
	try:
		if kind == "half a line":
			s.sendall(b"this line never ends")
		elif kind == "lines unread":
			s.sendall(b"one\ntwo\nthree\n" * 50)
		elif kind == "256 KiB pipelined":
			s.setblocking(False)
			data = memoryview(b"p\n" * (128 * 1024))
			off = 0
			end = time.monotonic() + 1
			while off < len(data) and time.monotonic() < end:
				try:
					off += s.send(data[off:])
				except BlockingIOError:
					time.sleep(0.001)
		elif kind == "after too long":
			s.sendall(b"t" * (m + 10) + b"\n")
		elif kind == "after a pause":
			s.sendall(b"partial")
			time.sleep(ms / 1000.0)
			s.sendall(b" more")
	finally:
		rst_close(s)


def role_badinput(a):
	t0 = time.monotonic()
	rng = random.Random(a["seed"])
	m = a["max_message"]
	reply = a["reply"].encode("latin-1")
	err_reply = a["error_reply"].encode("latin-1")
	jobs = (oversize_jobs(rng, a["oversize"], m) + junk_jobs(rng, a["junk"]) +
		reset_jobs(rng, a["resets"], m))
	rng.shuffle(jobs)
	lock = threading.Lock()
	counts = {}
	failures = []
	bytes_out = [0]
	nxt = [0]
	deadline = t0 + a["deadline"]

	def lane():
		while time.monotonic() < deadline:
			with lock:
				if nxt[0] >= len(jobs):
					return
				kind, name, arg = jobs[nxt[0]]
				nxt[0] += 1
			try:
				if kind == "reset":
					do_reset(a["port"], name, arg, m)
					err, got, want = None, None, None
				else:
					want, early = clients.expected_line_output(arg, m, reply, err_reply)
					got, err = send_and_read(a["port"], arg, timeout=20, early_ok=early)
					if err is None and got != want:
						err = "got %d bytes %r, want %d bytes %r" % (
							len(got), got[:80], len(want), want[:80])
			except OSError as e:
				err = "%s: %s" % (type(e).__name__, e)
			with lock:
				counts.setdefault(kind, {}).setdefault(name, 0)
				counts[kind][name] += 1
				bytes_out[0] += len(arg) if isinstance(arg, bytes) else 0
				if err:
					failures.append("%s (%s): %s" % (kind, name, err))
			time.sleep(a.get("pace", 0.005))

	threads = [threading.Thread(target=lane, daemon=True) for _ in range(a["lanes"])]
	for t in threads:
		t.start()
	for t in threads:
		t.join(max(0, deadline - time.monotonic()) + 25)
	emit("result", "badinput", {
		"jobs": len(jobs), "done": sum(sum(v.values()) for v in counts.values()),
		"counts": counts, "bytes_sent": bytes_out[0], "failures": len(failures),
		"first_failures": failures[:10], "seconds": round(time.monotonic() - t0, 3)})


# ---- flood: many connections at once, above max-connections -----------------------

def role_flood(a):
	t0 = time.monotonic()
	n = a["n"]
	reply = a["reply"].encode("latin-1")
	clients.raise_nofile(n + 500)
	socks, errors = clients.connect_many(a["port"], n, sources=a.get("sources"),
					     in_flight=n, timeout=20)
	emit("event", "opened", {"connections": len(socks), "errors": len(errors),
				 "seconds": round(time.monotonic() - t0, 3)})
	# A quarter hang up at once, an eighth reset at once; the rest ask.
	askers = []
	dropped = reset = 0
	for i, s in enumerate(socks):
		if i % 8 in (1, 5):
			s.close()
			dropped += 1
		elif i % 8 == 3:
			rst_close(s)
			reset += 1
		else:
			try:
				s.send(b"flood %d\n" % i)
				askers.append((s, bytearray()))
			except OSError:
				askers.append((s, None))
	served = rejected = wrong = 0
	waits = []
	p = select.poll()
	by_fd = {}
	for s, buf in askers:
		if buf is None:
			rejected += 1
			s.close()
			continue
		p.register(s, select.POLLIN | CLOSED_EVENTS)
		by_fd[s.fileno()] = (s, buf)
	deadline = t0 + a["deadline"]
	first_wrong = []
	while by_fd and time.monotonic() < deadline:
		for fd, ev in p.poll(200):
			ent = by_fd.get(fd)
			if ent is None:
				continue
			s, buf = ent
			try:
				chunk = s.recv(4096)
			except BlockingIOError:
				continue
			except OSError:
				chunk = b""
			if chunk:
				buf += chunk
				if len(buf) < len(reply) and reply.startswith(bytes(buf)):
					continue
			if bytes(buf) == reply:
				served += 1
				waits.append(time.monotonic() - t0)
			elif not buf:
				rejected += 1	# closed or reset unanswered: over the limit
			else:
				wrong += 1
				first_wrong.append(bytes(buf[:60]).decode("latin-1"))
			p.unregister(fd)
			del by_fd[fd]
			s.close()
	timed_out = len(by_fd)
	for s, _ in by_fd.values():
		s.close()
	emit("result", "flood", {
		"connections": len(socks), "connect_errors": len(errors), "first_errors": errors[:3],
		"hung_up": dropped, "reset": reset, "asked": len(askers), "served": served,
		"rejected": rejected, "wrong": wrong, "first_wrong": first_wrong[:3],
		"unanswered_at_deadline": timed_out, "served_after_s": stats(waits)})


ROLES = {"idle": role_idle, "slowloris": role_slowloris, "never_read": role_never_read,
	 "badinput": role_badinput, "flood": role_flood}

if __name__ == "__main__":
	ROLES[sys.argv[1]](json.loads(sys.argv[2]))
