# SPDX-License-Identifier: MIT
"""
Client machinery for the abuse and fault suites, alongside the harness:
well-behaved line clients that check every reply and time every round
trip, a single-threaded driver for hundreds of pipelining clients, a model
of line framing to predict what any input must get back, and a
sampler of the server's RSS, fds and CPU time.

Loopback only; every loop is bounded in count and in time.
"""
import os
import random
import resource
import selectors
import socket
import threading
import time


# IP_BIND_ADDRESS_NO_PORT (linux/in.h): bind() picks the source address
# only; the port is chosen at connect() time, per destination.
IP_BIND_ADDRESS_NO_PORT = 24


def raise_nofile(want):
	"""Raise RLIMIT_NOFILE's soft limit to @want (at most the hard limit); returns it."""
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	target = want if hard == resource.RLIM_INFINITY else min(want, hard)
	if soft < target:
		resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
	return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values, p):
	"""The @p-th percentile (nearest rank) of @values; None when empty."""
	if not values:
		return None
	s = sorted(values)
	k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
	return s[k]


# ---- line framing, as the server must do it (README "Modes", line) ---------

def expected_line_output(data, max_message, reply, error_reply):
	"""
	What a line-mode server owes a client that sends @data and then
	half-closes: one @reply per complete line, in order; at the first line
	longer than @max_message (its ending, '\\n' or '\\r\\n', not counted)
	@error_reply and the end; an unfinished last line is answered only if
	already too long (then @error_reply).

	Returns (bytes owed, whether the server ends the connection early).
	"""
	out = bytearray()
	lines = data.split(b"\n")
	for line in lines[:-1]:
		n = len(line) - (1 if line.endswith(b"\r") else 0)
		if n > max_message:
			return bytes(out + error_reply), True
		out += reply
	tail = lines[-1]
	if len(tail) > max_message + (1 if tail.endswith(b"\r") else 0):
		return bytes(out + error_reply), True
	return bytes(out), False


# ---- server sampling ---------------------------------------------------------

def proc_fds(pid):
	return len(os.listdir("/proc/%d/fd" % pid))


def proc_rss_kib(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	return 0


def proc_cpu_seconds(pid):
	"""utime + stime of the whole process (all threads), in seconds."""
	with open("/proc/%d/stat" % pid) as f:
		fields = f.read().rsplit(")", 1)[1].split()
	# after the comm: state is fields[0]; utime, stime are stat fields 14, 15
	return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Sampler:
	"""Samples a process's VmRSS and open fds every @interval s in a thread."""

	def __init__(self, pid, interval=0.1):
		self.pid = pid
		self.interval = interval
		self.rss_peak_kib = 0
		self.fds_peak = 0
		self.samples = 0
		self._stop = threading.Event()
		self._thread = threading.Thread(target=self._run, daemon=True)

	def sample(self):
		try:
			rss = proc_rss_kib(self.pid)
			fds = proc_fds(self.pid)
		except OSError:
			return
		self.rss_peak_kib = max(self.rss_peak_kib, rss)
		self.fds_peak = max(self.fds_peak, fds)
		self.samples += 1

	def _run(self):
		while not self._stop.wait(self.interval):
			self.sample()

	def start(self):
		self.sample()
		self._thread.start()
		return self

	def stop(self):
		self._stop.set()
		self._thread.join(5)
		self.sample()


# ---- well-behaved clients ------------------------------------------------------

_ALPHABET = b"abcdefghijklmnopqrstuvwxyz0123456789 .,-"


class GoodClients:
	"""
	@n line-mode clients, one thread each, that keep sending until stop():
	mostly one line per round trip, sometimes a pipelined burst, sometimes a
	line split over two segments. Every reply is checked byte for byte and
	every round trip timed. A client stops at its first error (a wrong or
	missing reply, an unexpected close) and records it.
	"""

	def __init__(self, port, n, reply, *, seed=20, pause=0.01, max_rounds=100000,
		     reply_timeout=10.0, host="127.0.0.1", max_line=200):
		self.port, self.n, self.reply, self.host = port, n, reply, host
		self.seed, self.pause, self.max_rounds = seed, pause, max_rounds
		self.reply_timeout = reply_timeout
		self.max_line = max_line
		self._stop = threading.Event()
		self._lock = threading.Lock()
		self.connected = threading.Barrier(n + 1)
		self.lines_sent = 0
		self.replies_ok = 0
		self.wrong = 0		# replies that arrived with the wrong bytes
		self.latencies = []	# seconds, one per round trip
		self.slow = []		# (seconds since start, round trip) of the slowest ones
		self.t0 = time.monotonic()
		self.errors = []	# (client, text)
		self._threads = [threading.Thread(target=self._client, args=(i,), daemon=True)
				 for i in range(n)]

	def start(self, timeout=20.0):
		self.t0 = time.monotonic()
		for t in self._threads:
			t.start()
		self.connected.wait(timeout)	# every client connected
		return self

	def stop(self, timeout=30.0):
		self._stop.set()
		deadline = time.monotonic() + timeout
		for t in self._threads:
			t.join(max(0.0, deadline - time.monotonic()))
		stuck = sum(t.is_alive() for t in self._threads)
		if stuck:
			self.errors.append((-1, "%d clients still running %.0fs after stop" % (stuck, timeout)))
		return self

	def _recv_exact(self, s, n, deadline):
		buf = bytearray()
		while len(buf) < n:
			left = deadline - time.monotonic()
			if left <= 0:
				break
			s.settimeout(left)
			try:
				chunk = s.recv(n - len(buf))
			except socket.timeout:
				break
			if not chunk:
				raise ConnectionError("EOF after %d of %d bytes" % (len(buf), n))
			buf += chunk
		return bytes(buf)

	def _client(self, i):
		rng = random.Random(self.seed * 1000003 + i)
		s = None
		try:
			s = socket.create_connection((self.host, self.port), timeout=10)
			s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
		except OSError as e:
			with self._lock:
				self.errors.append((i, "connect: %s" % e))
		try:
			self.connected.wait(30)
		except threading.BrokenBarrierError:
			pass
		if s is None:
			return
		seq = 0
		try:
			for rnd in range(self.max_rounds):
				if self._stop.is_set():
					break
				k = rng.randint(2, 8) if rnd % 10 == 9 else 1
				lines = []
				for _ in range(k):
					body = bytes(rng.choices(_ALPHABET, k=rng.randint(0, self.max_line)))
					end = b"\r\n" if rng.random() < 0.3 else b"\n"
					lines.append(b"good %d %d %s%s" % (i, seq, body, end))
					seq += 1
				data = b"".join(lines)
				want = self.reply * k
				t0 = time.perf_counter()
				if rnd % 10 == 4 and len(data) > 2:
					cut = rng.randint(1, len(data) - 1)	# one line in two segments
					s.sendall(data[:cut])
					time.sleep(0.002)
					s.sendall(data[cut:])
				else:
					s.sendall(data)
				with self._lock:
					self.lines_sent += k
				got = self._recv_exact(s, len(want), time.monotonic() + self.reply_timeout)
				dt = time.perf_counter() - t0
				ok = 0
				while ok < k and got[ok * len(self.reply):(ok + 1) * len(self.reply)] == self.reply:
					ok += 1
				with self._lock:
					self.replies_ok += ok
					self.latencies.append(dt)
					if dt > 0.05 and len(self.slow) < 200:
						self.slow.append((round(time.monotonic() - self.t0 - dt, 2), round(dt * 1000, 1)))
					if got != want:
						# Bytes that came but are no correct reply.
						self.wrong += -(-(len(got) - ok * len(self.reply)) // len(self.reply))
						self.errors.append((i, "round %d: sent %d lines, got %r"
								    % (rnd, k, got[:120])))
				if got != want:
					return
				if self.pause:
					time.sleep(self.pause)
			# Leave the polite way: half-close, expect nothing more, then EOF.
			s.shutdown(socket.SHUT_WR)
			s.settimeout(self.reply_timeout)
			try:
				extra = s.recv(4096)
			except socket.timeout:
				extra = None
			if extra != b"":
				with self._lock:
					self.wrong += 1 if extra else 0
					self.errors.append((i, "after the half-close: %s" % (
						"no EOF within %.0fs" % self.reply_timeout if extra is None
						else "unowed bytes %r" % extra[:60])))
		except OSError as e:
			with self._lock:
				self.errors.append((i, "%s: %s" % (type(e).__name__, e)))
		finally:
			s.close()

	def summary(self):
		lat = self.latencies
		return {
			"clients": self.n,
			"lines_sent": self.lines_sent,
			"replies_ok": self.replies_ok,
			"replies_wrong": self.wrong,
			"replies_missing": self.lines_sent - self.replies_ok,
			"round_trips": len(lat),
			"p50_ms": round(percentile(lat, 50) * 1000, 3) if lat else None,
			"p99_ms": round(percentile(lat, 99) * 1000, 3) if lat else None,
			"max_ms": round(max(lat) * 1000, 3) if lat else None,
			"over_50ms": len(self.slow),
			"slowest": sorted(self.slow, key=lambda x: -x[1])[:5],
			"errors": [e for e in self.errors[:10]],
		}


# ---- many pipelining clients, one thread --------------------------------------

class _Conn:
	__slots__ = ("i", "sock", "out", "sent", "got", "eof", "err", "shut")

	def __init__(self, i, sock, out):
		self.i, self.sock, self.out = i, sock, memoryview(out)
		self.sent, self.got, self.eof, self.err, self.shut = 0, bytearray(), False, None, False


def connect_many(port, n, *, host="127.0.0.1", sources=None, in_flight=128, timeout=20.0):
	"""
	Open @n connections to @host:@port, at most @in_flight handshakes at a
	time, spreading source addresses over @sources (e.g. 127.0.0.2..9).
	Returns (list of connected non-blocking sockets, list of error strings).
	"""
	sel = selectors.DefaultSelector()
	done, errors = [], []
	started = 0
	pending = 0
	deadline = time.monotonic() + timeout
	try:
		while (started < n or pending) and time.monotonic() < deadline:
			while started < n and pending < in_flight:
				s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
				s.setblocking(False)
				if sources:
					s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
					s.bind((sources[started % len(sources)], 0))
				r = s.connect_ex((host, port))
				started += 1
				if r in (0,):
					done.append(s)
				elif r in (115, 11):	# EINPROGRESS, EAGAIN
					sel.register(s, selectors.EVENT_WRITE)
					pending += 1
				else:
					errors.append(os.strerror(r))
					s.close()
			for key, _ in sel.select(timeout=0.5):
				s = key.fileobj
				sel.unregister(s)
				pending -= 1
				err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
				if err:
					errors.append(os.strerror(err))
					s.close()
				else:
					done.append(s)
	finally:
		for key in list(sel.get_map().values()):
			errors.append("connect timed out")
			key.fileobj.close()
		sel.close()
	errors.extend(["not started"] * (n - started))
	return done, errors


def pipeline_many(port, payloads, *, timeout=60.0, host="127.0.0.1", connect_timeout=30.0,
		  sndbuf=None):
	"""
	One connection per payload, all connected before any sends (like the
	harness's barrier); then each sends its payload while reading,
	half-closes, and reads to EOF, all multiplexed in this thread.
	Returns a list of (bytes received, error or None), in payload order.
	"""
	socks, errors = connect_many(port, len(payloads), host=host, timeout=connect_timeout)
	if errors:
		for s in socks:
			s.close()
		raise AssertionError("%d of %d connections failed: %s" % (len(errors), len(payloads), errors[:3]))
	conns = [_Conn(i, s, payloads[i]) for i, s in enumerate(socks)]
	sel = selectors.DefaultSelector()
	for c in conns:
		if sndbuf:
			c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
		sel.register(c.sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
	open_ = len(conns)
	deadline = time.monotonic() + timeout
	try:
		while open_ and time.monotonic() < deadline:
			for key, ev in sel.select(timeout=0.5):
				c = key.data
				if ev & selectors.EVENT_WRITE and c.sent < len(c.out):
					try:
						c.sent += c.sock.send(c.out[c.sent:c.sent + (1 << 18)])
					except BlockingIOError:
						pass
					except OSError as e:
						c.err = "send: %s" % e
				if c.sent == len(c.out) and not c.shut and c.err is None:
					try:
						c.sock.shutdown(socket.SHUT_WR)
					except OSError as e:
						c.err = "shutdown: %s" % e
					c.shut = True
					sel.modify(c.sock, selectors.EVENT_READ, c)
				if ev & selectors.EVENT_READ and c.err is None:
					try:
						chunk = c.sock.recv(1 << 16)
					except BlockingIOError:
						chunk = None
					except OSError as e:
						c.err = "recv: %s" % e
						chunk = None
					if chunk == b"":
						c.eof = True
						if c.sent < len(c.out):
							c.err = "EOF after sending %d of %d bytes" % (c.sent, len(c.out))
					elif chunk:
						c.got += chunk
				if c.eof or c.err is not None:
					sel.unregister(c.sock)
					open_ -= 1
	finally:
		sel.close()
		for c in conns:
			if not c.eof and c.err is None:
				c.err = "no EOF within %.0fs: sent %d of %d, received %d" % (
					timeout, c.sent, len(c.out), len(c.got))
			c.sock.close()
	return [(bytes(c.got), c.err) for c in conns]


def read_many_to_eof(socks, timeout, limit=256 << 20, close_on_eof=True):
	"""
	Read every socket of @socks to EOF at once, in this thread, closing
	each at its EOF (so a server lingering for our close is not kept
	waiting). Returns a list of (bytes, error or None) in order; a socket
	without EOF within @timeout has an error.
	"""
	sel = selectors.DefaultSelector()
	got = [bytearray() for _ in socks]
	err = [None] * len(socks)
	for i, s in enumerate(socks):
		s.setblocking(False)
		sel.register(s, selectors.EVENT_READ, i)
	deadline = time.monotonic() + timeout
	left = len(socks)
	try:
		while left and time.monotonic() < deadline:
			for key, _ in sel.select(timeout=0.5):
				i = key.data
				try:
					chunk = socks[i].recv(1 << 18)
				except BlockingIOError:
					continue
				except OSError as e:
					err[i] = "recv: %s" % e
					chunk = b""
				if chunk:
					got[i] += chunk
					if len(got[i]) <= limit:
						continue
					err[i] = "more than %d bytes" % limit
				sel.unregister(socks[i])
				left -= 1
				if close_on_eof:
					socks[i].close()
		for key in list(sel.get_map().values()):
			err[key.data] = "no EOF within %.0fs (%d bytes so far)" % (timeout, len(got[key.data]))
	finally:
		sel.close()
	return [(bytes(g), e) for g, e in zip(got, err)]
