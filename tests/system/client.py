# SPDX-License-Identifier: MIT
"""
The system test's TCP clients and journal reader.

run-system-test starts these inside the container's network namespace
(``nsenter -t LEADER -n``), so 127.0.0.1 and ::1 are the container's own
loopback and nothing else is ever a target. Each subcommand proves one thing,
prints one summary line, and exits 0 when it held, 1 when it did not.

The load subcommand is the exception: it exits 0 once its report is
written, and the shell judges the report (see the load section below).

Where the shell must act in the middle of an exchange (reload, kill -9,
stop), the client creates the file given by --ready once it has reached that
point, and goes on only when the file given by --go exists. Every socket
operation and every wait has a deadline; every loop is bounded.
"""
import argparse
import bisect
import codecs
import errno
import json
import os
import select
import socket
import sys
import threading
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
	e, n = journal_entry(a.json, want)
	if e is None:
		return done(False, "none of %d entries has %s" % (n, " ".join("%s=%s" % kv for kv in want.items())))
	data = e.get("TCPACK_DATA")
	ok = data == a.data.decode() and e.get("TCPACK_MODE") == "oneshot"
	return done(ok, "entry %r: REMOTE_ADDR=%s REMOTE_PORT=%s BYTES=%s TCPACK_MODE=%s "
		    "TCPACK_DATA=%r PRIORITY=%s" % (
			    e.get("MESSAGE"), e["REMOTE_ADDR"], e["REMOTE_PORT"], e["BYTES"],
			    e.get("TCPACK_MODE"), data, e.get("PRIORITY")))


def journal_entry(path, want):
	"""The first entry of journalctl -o json output at @path with every field of @want, and how many were read."""
	n = 0
	with open(path, encoding="utf-8", errors="replace") as f:
		for line in f:
			try:
				e = json.loads(line)
			except ValueError:
				continue
			n += 1
			if all(e.get(k) == v for k, v in want.items()):
				return e, n
	return None, n


# ---- load: a steady rate of exchanges across every service transition -------
#
# Four kinds of exchange, each checked byte for byte, each valid only for
# the mode it meets:
#   tutorial  connect, send "hello N", read until EOF: exactly the reply.
#             Oneshot mode answers it; line mode would wait for a newline.
#   late      the same, but the message is sent LOAD_LATE s after the
#             connect: accepted and not yet heard from, the connection a
#             stop that begins meanwhile still owes its reply (a fifth of
#             the oneshot phase's exchanges, so about two are waiting at
#             any moment).
#   line      send "line N.0\n", shutdown(SHUT_WR), read until EOF: exactly
#             one reply. Valid in both modes: oneshot answers the first
#             receive and closes, line mode answers the line and closes once
#             the client has closed its side.
#   lines3    send "line N.0\n", "line N.1\n", "line N.2\n" (three sends),
#             shutdown(SHUT_WR), read until EOF: exactly the reply three
#             times. Line mode answers it; oneshot answers once and closes.
# The shell runs the service first in oneshot, then in line mode, and says
# which with the --phase file; the client interleaves the kinds that phase
# allows:
#   oneshot   tutorial, line and late
#   both      line only: the reload from oneshot to line mode happens here,
#             under load, and whichever configuration a connection meets
#             owes it the same bytes
#   line      lines3 and line
# When the phase changes, the client writes the new phase to the --ack file
# once no exchange of a kind the new phase forbids is still in flight. The
# line mode's kind is the one a drain must honour: a stop that begins
# between a connection's lines owes it every reply.
#
# The shell appends "EPOCH EVENT NAME" lines to the --marks file (EVENT:
# begin, end; around a signal also sent, once kill(2) returned, and gone,
# once the process was); the report puts each
# exchange in the window of the last transition that began at most
# LOAD_LEAD seconds after the exchange started.

LOAD_PHASES = {"oneshot": ("tutorial", "line", "tutorial", "line", "late"), "both": ("line",),
	       "line": ("lines3", "line")}
LOAD_KINDS = ("tutorial", "late", "line", "lines3")
LOAD_LATE = 0.01
FAIL_KINDS = ("refused", "reset", "timeout", "wrong", "other")
LOAD_LEAD = 1.0


def load_exchange(kind, host, port, n, reply, timeout):
	"""One exchange: (None or its failure kind, detail, local port)."""
	deadline = time.monotonic() + timeout
	lport = 0
	s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
	try:
		s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		s.settimeout(timeout)
		s.connect((host, port))
		lport = s.getsockname()[1]
		if kind in ("tutorial", "late"):
			if kind == "late":
				time.sleep(LOAD_LATE)
			s.sendall(b"hello %d" % n)
			expect = reply
		else:
			lines = 1 if kind == "line" else 3
			for j in range(lines):
				s.settimeout(max(0.001, deadline - time.monotonic()))
				s.sendall(b"line %d.%d\n" % (n, j))
			expect = reply * lines
			try:
				s.shutdown(socket.SHUT_WR)
			except OSError as e:	# the peer is gone: the receive says how
				if e.errno != errno.ENOTCONN:
					raise
		got = recv_until_eof(s, deadline, limit=len(expect))
		if got == expect:
			return None, "", lport
		return "wrong", "got %d of %d bytes then EOF: %r" % (len(got), len(expect), got[:48]), lport
	except ConnectionRefusedError as e:
		return "refused", str(e), lport
	except (ConnectionResetError, BrokenPipeError) as e:
		return "reset", "%s: %s" % (e.__class__.__name__, e), lport
	except (TimeoutError, socket.timeout) as e:
		return "timeout", "no EOF within %g s: %s" % (timeout, e), lport
	except ValueError as e:		# recv_until_eof: more bytes than owed
		return "wrong", str(e), lport
	except OSError as e:
		return "other", "%s: %s" % (e.__class__.__name__, e), lport
	finally:
		s.close()


class Load:
	def __init__(self, a):
		self.a = a
		self.lock = threading.Lock()
		self.stop = threading.Event()
		self.phase = self.read_phase() or "oneshot"
		self.inflight = dict.fromkeys(LOAD_KINDS, 0)
		self.t0 = time.monotonic()
		self.wall0 = time.time()
		self.end = self.t0 + a.seconds
		self.hosts = ("127.0.0.1", "::1") if a.both_families else (a.host,)
		# Per thread: (start_wall, seconds, kind) of each exchange; failures.
		self.done = [[] for _ in range(a.threads)]
		self.failures = [[] for _ in range(a.threads)]
		self.skipped = [0] * a.threads

	def read_phase(self):
		try:
			with open(self.a.phase) as f:
				p = f.read().strip()
		except OSError:
			return None
		return p if p in LOAD_PHASES else None

	def worker(self, k):
		a = self.a
		period = a.threads / a.rate	# each thread's share of the total rate
		host = self.hosts[k % len(self.hosts)]
		j = 0
		while not self.stop.is_set():
			now = time.monotonic()
			if now >= self.end:
				break
			slot = self.t0 + (k + j * a.threads) / a.rate
			if slot > now:
				self.stop.wait(slot - now)
				continue
			if now - slot > period:
				# Stalled (say, while the service restarted): go on from
				# now instead of catching up in a burst.
				nj = int(((now - self.t0) * a.rate - k) / a.threads) + 1
				self.skipped[k] += nj - j
				j = nj
				continue
			with self.lock:
				allowed = LOAD_PHASES[self.phase]
				kind = allowed[j % len(allowed)]
				self.inflight[kind] += 1
			n = k + j * a.threads
			start_wall = time.time()
			t = time.monotonic()
			what, detail, lport = load_exchange(kind, host, a.port, n, a.expect, a.timeout)
			t_end = time.monotonic()
			with self.lock:
				self.inflight[kind] -= 1
			self.done[k].append((start_wall, t_end - t, kind))
			if what:
				self.failures[k].append({
					"kind": what, "exchange": kind, "n": n, "host": host, "local_port": lport,
					"start_wall": start_wall, "end_wall": start_wall + (t_end - t),
					"end_monotonic": t_end, "seconds": t_end - t, "detail": detail})
			j += 1

	def set_phase(self, p):
		with self.lock:
			self.phase = p
		self.acked = False

	def maybe_ack(self):
		with self.lock:
			busy = sum(n for kind, n in self.inflight.items() if kind not in LOAD_PHASES[self.phase])
			p = self.phase
		if busy == 0:
			with open(self.a.ack + ".new", "w") as f:
				f.write(p + "\n")
			os.replace(self.a.ack + ".new", self.a.ack)
			self.acked = True

	def run(self):
		threads = [threading.Thread(target=self.worker, args=(k,), daemon=True)
			   for k in range(self.a.threads)]
		for t in threads:
			t.start()
		self.set_phase(self.phase)
		self.maybe_ack()
		with open(self.a.ready, "w"):
			pass
		while time.monotonic() < self.end and not os.path.exists(self.a.stop):
			p = self.read_phase()
			if p and p != self.phase:
				self.set_phase(p)
			if not self.acked:
				self.maybe_ack()
			time.sleep(0.01)
		self.stop.set()
		self.seconds = time.monotonic() - self.t0
		deadline = time.monotonic() + self.a.timeout + 5
		for t in threads:
			t.join(max(0.0, deadline - time.monotonic()))
		return sum(t.is_alive() for t in threads)


def read_marks(path):
	"""[{name, begin, end, sent, gone}] in the order the transitions began."""
	tr = {}
	try:
		with open(path) as f:
			for line in f:
				parts = line.split()
				if len(parts) != 3:
					continue
				try:
					t = float(parts[0])
				except ValueError:
					continue
				tr.setdefault(parts[2], {"name": parts[2]})[parts[1]] = t
	except OSError:
		pass
	return sorted((t for t in tr.values() if "begin" in t), key=lambda t: t["begin"])


def load_report(load, marks):
	a = load.a
	exchanges = sorted(e for d in load.done for e in d)
	failures = sorted((f for fl in load.failures for f in fl), key=lambda f: f["start_wall"])
	starts = [e[0] for e in exchanges]
	w0 = load.wall0
	rel = lambda t: round(t - w0, 3)	# noqa: E731
	counts = lambda fl: {k: sum(1 for f in fl if f["kind"] == k) for k in FAIL_KINDS}	# noqa: E731

	bounds = [t["begin"] - LOAD_LEAD for t in marks]
	windows = [{"name": "before", "from": None, "to": rel(bounds[0]) if bounds else None}]
	for i, t in enumerate(marks):
		w = {"name": t["name"], "from": rel(bounds[i]),
		     "to": rel(bounds[i + 1]) if i + 1 < len(marks) else None,
		     "begin": rel(t["begin"]), "begin_wall": t["begin"],
		     "took": round(t["end"] - t["begin"], 3) if "end" in t else None}
		b = t["begin"]
		w["in_flight_at_begin"] = sum(1 for s, d, _ in exchanges if s <= b < s + d)
		if "sent" in t:
			# Started before the process was gone (or, without that mark,
			# before the kill returned), not finished before the kill was
			# sent: every exchange the signal could meet.
			e = t.get("gone", t["sent"])
			w["signal_span"] = {"sent": t["sent"] - b, "gone": e - b}
			w["sent_wall"] = e
			w["in_flight_at_signal"] = sum(1 for s, d, _ in exchanges if s < e and s + d > b)
		windows.append(w)
	lo_edges = [None] + bounds

	def window_of(t):
		i = bisect.bisect_right(bounds, t)	# 0: before the first
		return i

	per = [[] for _ in windows]
	for f in failures:
		per[window_of(f["start_wall"])].append(f)
	n_per = [0] * len(windows)
	for s in starts:
		n_per[window_of(s)] += 1
	for i, w in enumerate(windows):
		w["exchanges"] = n_per[i]
		w["failures"] = counts(per[i])
		w["from_wall"] = lo_edges[i]
		w["to_wall"] = bounds[i] if i < len(bounds) else None
		if "sent_wall" in w:
			b, e = w["begin_wall"], w["sent_wall"]
			hit = sum(1 for f in per[i] if f["start_wall"] < e and f["end_wall"] > b)
			w["failed_in_flight"] = hit
			w["failed_not_in_flight"] = len(per[i]) - hit
		for f in per[i]:
			f["window"] = w["name"]

	by_kind = {k: sum(1 for e in exchanges if e[2] == k) for k in LOAD_KINDS}
	return {
		"rate": a.rate, "threads": a.threads, "hosts": list(load.hosts), "timeout": a.timeout,
		"seconds": round(load.seconds, 3), "wall_start": w0, "exchanges": len(exchanges),
		"by_kind": by_kind, "skipped_slots": sum(load.skipped),
		"slowest": round(max((e[1] for e in exchanges), default=0), 3),
		"failures": counts(failures), "windows": windows,
		"failure_list": [dict(f, start=rel(f["start_wall"])) for f in failures[:1000]],
	}


def cmd_load(a):
	load = Load(a)
	stuck = load.run()
	rep = load_report(load, read_marks(a.marks))
	rep["threads_stuck"] = stuck
	with open(a.report, "w") as f:
		json.dump(rep, f, indent=1)
	fl = rep["failures"]
	print("%d exchanges in %.1f s (%.0f/s, target %d/s; %d slots skipped while exchanges stalled), "
	      "%d threads to %s: %s; slowest %.0f ms; failures: %s" % (
		      rep["exchanges"], rep["seconds"], rep["exchanges"] / max(rep["seconds"], 0.001), a.rate,
		      rep["skipped_slots"], a.threads, " and ".join(load.hosts),
		      ", ".join("%s %d" % kv for kv in rep["by_kind"].items()), rep["slowest"] * 1000,
		      ", ".join("%d %s" % (fl[k], k) for k in FAIL_KINDS)))
	print("%-18s %8s %8s %9s %s" % ("window", "from s", "took s", "exchanges", "failures, in flight"))
	for w in rep["windows"]:
		f = w["failures"]
		print("%-18s %8s %8s %9d %s%s%s" % (
			w["name"], "" if w["from"] is None else "%.2f" % w["from"],
			"" if w.get("took") is None else "%.2f" % w["took"], w["exchanges"],
			" ".join("%d %s" % (f[k], k) for k in FAIL_KINDS),
			"" if "in_flight_at_begin" not in w else ", %d at its begin" % w["in_flight_at_begin"],
			"" if "in_flight_at_signal" not in w else
			", %d at the kill (%d of them failed)" % (w["in_flight_at_signal"], w["failed_in_flight"])))
		shown = [x for x in rep["failure_list"] if x["window"] == w["name"]]
		for x in shown[:6]:
			print("    %s: %s #%d [%s]:%d from port %d, started at %.3f s, %.0f ms: %s" % (
				x["kind"], x["exchange"], x["n"], x["host"], a.port, x["local_port"], x["start"],
				x["seconds"] * 1000, x["detail"]))
		if len(shown) > 6:
			print("    ... %d more (see the report)" % (len(shown) - 6))
	return done(stuck == 0, "report: %s%s" % (a.report, "" if not stuck else "; %d threads stuck" % stuck))


# ---- behind a balancer: the agent socket and a PROXY v2 socket --------------

def cmd_agent(a):
	with connect(a.host, a.port) as s:
		got = recv_until_eof(s, time.monotonic() + 5)
	return done(got == a.expect, "agent [%s]:%d answered %s%s" % (
		a.host, a.port, text(got), "" if got == a.expect else "; expected %s" % text(a.expect)))


def cmd_agentpoll(a):
	"""Ask the agent every --interval s for --seconds; print the answers in order, each once."""
	seen = []
	deadline = time.monotonic() + a.seconds
	while time.monotonic() < deadline:
		try:
			with connect(a.host, a.port, timeout=2) as s:
				got = text(recv_until_eof(s, time.monotonic() + 2))
		except OSError as e:
			got = e.__class__.__name__
		if not seen or seen[-1] != got:
			seen.append(got)
		time.sleep(a.interval)
	return done(True, " -> ".join(seen))


def cmd_proxied(a):
	"""One exchange through a listener expecting PROXY v2, the header naming --client."""
	host, port = a.client.rsplit(":", 1)
	block = (socket.inet_aton(host) + socket.inet_aton("192.0.2.1") +
		 int(port).to_bytes(2, "big") + (12345).to_bytes(2, "big"))
	hdr = b"\r\n\r\n\x00\r\nQUIT\n\x21\x11" + len(block).to_bytes(2, "big") + block
	with connect(a.host, a.port) as s:
		local = s.getsockname()[1]
		s.sendall(hdr + a.send)
		got = recv_until_eof(s, time.monotonic() + 10)
	if a.report:
		with open(a.report, "w") as f:
			json.dump({"local_port": local, "sent": len(a.send)}, f)
	return done(got == a.expect, "[%s]:%d from port %d as %s: got %s%s" % (
		a.host, a.port, local, a.client, text(got),
		"" if got == a.expect else "; expected %s" % text(a.expect)))


def cmd_metrics(a):
	"""GET /metrics: 200, and each --want family with a sample at least --min."""
	with connect(a.host, a.port) as s:
		s.sendall(b"GET /metrics HTTP/1.1\r\nHost: tcpack\r\nConnection: close\r\n\r\n")
		got = recv_until_eof(s, time.monotonic() + 10)
	head, _, body = got.partition(b"\r\n\r\n")
	status = head.split(b"\r\n", 1)[0].decode(errors="replace")
	values = {}
	for line in body.decode(errors="replace").splitlines():
		if line and not line.startswith("#"):
			name, _, value = line.rpartition(" ")
			values[name] = float(value)
	bad = [w for w in a.want if values.get(w, -1) < a.min]
	return done(status == "HTTP/1.1 200 OK" and not bad, "%s, %d bytes, %d samples; %s" % (
		status, len(body), len(values), ", ".join("%s %s" % (w, values.get(w)) for w in a.want)))


def cmd_journal_fields(a):
	"""An entry of journalctl -o json with every --want KEY=VALUE."""
	want = dict(w.split("=", 1) for w in a.want)
	e, n = journal_entry(a.json, want)
	if e is None:
		return done(False, "none of %d entries has %s" % (n, " ".join(a.want)))
	return done(True, "entry %r: %s" % (e.get("MESSAGE"), " ".join("%s=%s" % (k, e.get(k)) for k in want)))


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

	s = sub.add_parser("load", help="exchanges at a steady rate until --stop appears")
	s.add_argument("--rate", type=int, default=1000, help="exchanges per second, all threads together")
	s.add_argument("--threads", type=int, default=8)
	s.add_argument("--seconds", type=float, default=180, help="the longest run")
	s.add_argument("--timeout", type=float, default=5.0, help="deadline of one exchange")
	s.add_argument("--expect", type=text_arg, required=True, help="the reply to one message")
	s.add_argument("--both-families", action="store_true", help="half the threads to 127.0.0.1, half to ::1")
	s.add_argument("--phase", required=True, help="file: oneshot, both or line (see the load section)")
	s.add_argument("--ack", required=True, help="file the client writes the phase to once it holds")
	s.add_argument("--marks", required=True, help="file of 'EPOCH begin|end|sent|gone NAME' lines")
	s.add_argument("--stop", required=True, help="the run ends when this file appears")
	s.add_argument("--ready", required=True, help="created once the threads run")
	s.add_argument("--report", required=True, help="JSON report written here")
	s.set_defaults(fn=cmd_load)

	s = sub.add_parser("refused")
	s.set_defaults(fn=cmd_refused)

	s = sub.add_parser("journal")
	s.add_argument("--json", required=True, help="output of journalctl -o json")
	s.add_argument("--report", required=True, help="the oneshot client's report")
	s.add_argument("--data", type=text_arg, required=True)
	s.set_defaults(fn=cmd_journal)

	s = sub.add_parser("agent")
	s.add_argument("--expect", type=text_arg, required=True)
	s.set_defaults(fn=cmd_agent)

	s = sub.add_parser("agentpoll")
	s.add_argument("--seconds", type=float, default=10)
	s.add_argument("--interval", type=float, default=0.2)
	s.set_defaults(fn=cmd_agentpoll)

	s = sub.add_parser("proxied")
	s.add_argument("--client", required=True, help="A.B.C.D:PORT the header names")
	s.add_argument("--send", type=text_arg, required=True)
	s.add_argument("--expect", type=text_arg, required=True)
	s.add_argument("--report")
	s.set_defaults(fn=cmd_proxied)

	s = sub.add_parser("metrics")
	s.add_argument("--want", action="append", required=True, help="a sample name, repeatable")
	s.add_argument("--min", type=float, default=1)
	s.set_defaults(fn=cmd_metrics)

	s = sub.add_parser("journal-fields")
	s.add_argument("--json", required=True, help="output of journalctl -o json")
	s.add_argument("--want", action="append", required=True, help="KEY=VALUE, repeatable")
	s.set_defaults(fn=cmd_journal_fields)

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
