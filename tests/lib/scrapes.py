# SPDX-License-Identifier: MIT
"""
Scraping tcpack's metrics listener, for the integration suite
(test_metrics.py) and the monitoring suite (test_prometheus.py):

- a small HTTP/1.1 client that reads answers one at a time off one
  connection (keep-alive, pipelining, HEAD) and says when the server closed;
- a strict parser of the Prometheus text exposition (format 0.0.4): every
  family has its HELP and TYPE before its first sample and its samples in one
  block, counters end in _total, histogram buckets are cumulative and end in
  le="+Inf" equal to _count; anything else is an AssertionError naming the
  line;
- the known traffic both suites send, each kind a known number of times
  with known bytes, and the exact counters it must leave behind.

Loopback only; every wait has a deadline.
"""
import math
import re
import socket
import time

from harness import DEFAULT_ERROR_REPLY, DEFAULT_REPLY, connect, recv_exact, recv_until_eof, wait_until

_METRICS_LINE = re.compile(r"^listening on (?:\[[0-9a-fA-F:.]+\]|[0-9.]+):(\d+) \(metrics\)$", re.M)


def metrics_port(srv):
	"""The port of @srv's metrics listener, from its "listening on ... (metrics)" line."""
	m = _METRICS_LINE.search(srv.log())
	assert m, "no 'listening on ... (metrics)' line:\n" + srv.log_tail()
	return int(m.group(1))


# ---- HTTP ---------------------------------------------------------------------

def get_request(target="/metrics", method="GET", extra=""):
	return ("%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (method, target, extra)).encode()


class Response:
	def __init__(self, status, reason, headers, body, raw_head):
		self.status = status
		self.reason = reason
		self.headers = headers		# lower-cased names; a name twice is an error
		self.body = body
		self.raw_head = raw_head

	def header(self, name):
		return self.headers.get(name.lower())

	def __repr__(self):
		return "<%d %s, %d body bytes>" % (self.status, self.reason, len(self.body))


class HttpConn:
	"""One client connection to the metrics listener; answers are read one at a time."""

	def __init__(self, port, timeout=5.0):
		self.sock = connect(port, timeout=timeout)
		self.buf = bytearray()

	def close(self):
		self.sock.close()

	def __enter__(self):
		return self

	def __exit__(self, *exc):
		self.close()
		return False

	def send(self, data):
		self.sock.sendall(data)

	def _fill(self, deadline, what):
		left = deadline - time.monotonic()
		if left <= 0:
			raise AssertionError("no %s within the deadline (have %r)" % (what, bytes(self.buf[:200])))
		self.sock.settimeout(left)
		try:
			chunk = self.sock.recv(1 << 16)
		except socket.timeout:
			return True
		if not chunk:
			raise AssertionError("connection closed before a complete %s (have %r)"
					     % (what, bytes(self.buf[:200])))
		self.buf += chunk
		return True

	def response(self, head_only=False, timeout=5.0):
		"""The next answer; @head_only: it answers a HEAD (no body, whatever Content-Length says)."""
		deadline = time.monotonic() + timeout
		while b"\r\n\r\n" not in self.buf:
			self._fill(deadline, "response head")
		end = self.buf.index(b"\r\n\r\n") + 4
		head = bytes(self.buf[:end])
		del self.buf[:end]
		lines = head[:-4].decode("latin-1").split("\r\n")
		m = re.fullmatch(r"HTTP/1\.1 (\d{3}) ([^\r\n]*)", lines[0])
		assert m, "bad status line %r" % lines[0]
		headers = {}
		for line in lines[1:]:
			name, sep, value = line.partition(":")
			assert sep and re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name), "bad header line %r" % line
			assert name.lower() not in headers, "header %s twice" % name
			headers[name.lower()] = value.strip(" \t")
		length = headers.get("content-length")
		assert length is not None and length.isdigit(), "no valid Content-Length in %r" % head
		body = b""
		if not head_only:
			n = int(length)
			while len(self.buf) < n:
				self._fill(deadline, "body of %d bytes" % n)
			body = bytes(self.buf[:n])
			del self.buf[:n]
		return Response(int(m.group(1)), m.group(2), headers, body, head)

	def expect_close(self, timeout=3.0):
		"""Assert the server closes (EOF or reset) with nothing more to read, within @timeout s."""
		assert not self.buf, "bytes after the last answer: %r" % bytes(self.buf[:200])
		deadline = time.monotonic() + timeout
		while True:
			left = deadline - time.monotonic()
			if left <= 0:
				raise AssertionError("the server did not close within %.1fs" % timeout)
			self.sock.settimeout(left)
			try:
				chunk = self.sock.recv(4096)
			except socket.timeout:
				continue
			except ConnectionResetError:
				return "reset"
			if not chunk:
				return "eof"
			raise AssertionError("bytes after the last answer: %r" % chunk[:200])


def request(port, raw, head_only=False, timeout=5.0):
	"""Send @raw on a new connection; its one answer."""
	with HttpConn(port, timeout) as c:
		c.send(raw)
		return c.response(head_only=head_only, timeout=timeout)


def scrape_text(port, timeout=5.0):
	"""GET /metrics; the exposition text (asserting 200 and the content type)."""
	r = request(port, get_request(extra="Connection: close\r\n"), timeout=timeout)
	assert r.status == 200, "GET /metrics answered %d: %r" % (r.status, r.body[:200])
	assert r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8", r.headers
	return r.body.decode("utf-8")


def scrape(port, timeout=5.0):
	"""GET /metrics, parsed strictly."""
	return parse(scrape_text(port, timeout))


# ---- the text exposition --------------------------------------------------------

_NAME_RE = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_HELP = re.compile(r"# HELP (%s) ((?:[^\\\n]|\\[\\n])*)" % _NAME_RE)
_TYPE = re.compile(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)" % _NAME_RE)
_SAMPLE = re.compile(r"(%s)(?:\{(.*)\})? (\S+)" % _NAME_RE)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
_VALUE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?|[+-]Inf|NaN")
_SUFFIXES = {"counter": ("",), "gauge": ("",), "untyped": ("",),
	     "histogram": ("_bucket", "_sum", "_count"), "summary": ("", "_sum", "_count")}


class Family:
	def __init__(self, name, help_text, type_):
		self.name = name
		self.help = help_text
		self.type = type_
		self.samples = []	# (sample name, labels dict, value), in order


class Exposition:
	def __init__(self):
		self.families = {}
		self.samples = {}	# (name, frozenset of label pairs) -> value

	def get(self, name, **labels):
		"""The value of one sample, or None when there is none."""
		return self.samples.get((name, frozenset(labels.items())))

	def value(self, name, **labels):
		v = self.get(name, **labels)
		if v is None:
			raise AssertionError("no sample %s%r in the exposition" % (name, labels))
		return v


def _labels(text, where):
	labels = {}
	if text is None:
		return labels
	pos = 0
	while pos < len(text):
		m = _LABEL.match(text, pos)
		assert m, "%s: bad label at %r" % (where, text[pos:])
		assert m.group(1) not in labels, "%s: label %s twice" % (where, m.group(1))
		labels[m.group(1)] = re.sub(r"\\(.)", lambda e: {"n": "\n"}.get(e.group(1), e.group(1)), m.group(2))
		pos = m.end()
		if pos < len(text):
			assert text[pos] == "," and pos + 1 < len(text), "%s: bad label separator in %r" % (where, text)
			pos += 1
	return labels


def _value(text, where):
	assert _VALUE.fullmatch(text), "%s: bad value %r" % (where, text)
	return float(text)


def parse(text):
	"""
	Parse an exposition strictly (the rules above); return an Exposition.
	tcpack writes no blank lines, no other comments and no timestamps:
	each is refused too.
	"""
	assert text.endswith("\n"), "the exposition does not end with a newline"
	exp = Exposition()
	fam = None		# the family whose block this is
	pending = {}		# name -> [help, type] of a family announced, not yet complete
	for n, line in enumerate(text[:-1].split("\n"), 1):
		where = "line %d (%r)" % (n, line)
		assert line, "%s: empty line" % where
		if line.startswith("#"):
			m = _HELP.fullmatch(line)
			if m:
				name = m.group(1)
				assert name not in exp.families and name not in pending, "%s: second HELP for %s" % (where, name)
				pending[name] = [m.group(2), None]
				fam = None
				continue
			m = _TYPE.fullmatch(line)
			assert m, "%s: a comment that is neither HELP nor TYPE" % where
			name = m.group(1)
			assert name in pending and pending[name][1] is None, \
				"%s: TYPE for %s without its HELP just before" % (where, name)
			if m.group(2) == "counter":
				assert name.endswith("_total"), "%s: counter %s does not end in _total" % (where, name)
			fam = Family(name, pending.pop(name)[0], m.group(2))
			exp.families[name] = fam
			continue
		assert not pending, "%s: sample after HELP without TYPE for %s" % (where, ", ".join(pending))
		m = _SAMPLE.fullmatch(line)
		assert m, "%s: not a sample line (name{labels} value, no timestamp)" % where
		name, labels, value = m.group(1), _labels(m.group(2), where), _value(m.group(3), where)
		assert fam is not None, "%s: sample before any HELP and TYPE" % where
		assert name in [fam.name + s for s in _SUFFIXES[fam.type]], \
			"%s: sample %s is not of family %s (%s), the one whose block this is" % (where, name, fam.name, fam.type)
		key = (name, frozenset(labels.items()))
		assert key not in exp.samples, "%s: the same series twice" % where
		if fam.type == "counter":
			assert value >= 0 and math.isfinite(value), "%s: counter value %r" % (where, value)
		if fam.type == "histogram" and name.endswith("_bucket"):
			assert "le" in labels, "%s: bucket without le" % where
			_value(labels["le"], where)
		exp.samples[key] = value
		fam.samples.append((name, labels, value))
	assert not pending, "HELP without TYPE at the end for %s" % ", ".join(pending)
	for f in exp.families.values():
		assert f.samples, "family %s has no sample" % f.name
		if f.type == "histogram":
			_check_histogram(exp, f)
	return exp


def _check_histogram(exp, f):
	series = {}
	for name, labels, value in f.samples:
		if name.endswith("_bucket"):
			rest = frozenset((k, v) for k, v in labels.items() if k != "le")
			series.setdefault(rest, []).append((labels["le"], value))
	assert series, "histogram %s has no buckets" % f.name
	for rest, buckets in series.items():
		what = "histogram %s%s" % (f.name, dict(rest) or "")
		bounds = [float(le) for le, _ in buckets]
		assert bounds == sorted(set(bounds)), "%s: le not strictly increasing: %r" % (what, buckets)
		assert buckets[-1][0] == "+Inf", "%s: last bucket is le=%r, not \"+Inf\"" % (what, buckets[-1][0])
		counts = [v for _, v in buckets]
		assert all(v == int(v) for v in counts), "%s: a bucket count is not an integer" % what
		assert counts == sorted(counts), "%s: buckets not cumulative: %r" % (what, buckets)
		count = exp.get(f.name + "_count", **dict(rest))
		total = exp.get(f.name + "_sum", **dict(rest))
		assert count is not None and total is not None, "%s: no _count or _sum" % what
		assert count == counts[-1], "%s: _count %r but le=\"+Inf\" %r" % (what, count, counts[-1])


# ---- known traffic ------------------------------------------------------------

MODES = ("oneshot", "line", "echo", "discard")
CLOSE_REASONS = ("done", "peer", "idle_timeout", "message_timeout", "limit", "error", "drain", "reset")
ERROR_KINDS = ("accept", "receive", "send", "reset", "too_long", "timeout", "proxy_header", "overflow", "memory")
CHECK_KINDS = ("silent", "reset", "proxy_local", "agent")
SIZE_BOUNDS = (16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576)

# Oneshot messages (max-message 1024, the default): both sides of the size buckets' edges.
ONESHOT_SIZES = (1, 5, 16, 17, 64, 65, 1000, 1024)
# Line-mode messages with --max-message 16: LF and CRLF endings, empty to the longest.
LINES = (b"\n", b"a\n", b"hello\r\n", b"b" * 15 + b"\n", b"c" * 16 + b"\r\n", b"d" * 16 + b"\n")
TOO_LONG = b"x" * 20		# no line ending: over 16 bytes is too long at once
HEALTH_SILENT = 3
HEALTH_RESET = 2


def _line_size(line):
	return len(line) - (2 if line.endswith(b"\r\n") else 1)


def open_now(port):
	return scrape(port).value("tcpack_connections_open")


def wait_open(port, n, timeout=10.0):
	"""Wait until tcpack says @n connections are open (accepted, not yet closed)."""
	wait_until(lambda: open_now(port) == n, timeout, "tcpack_connections_open == %d" % n, interval=0.02)


def reset_close(sock):
	"""Close with a reset: SO_LINGER on with a zero timeout."""
	sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
	sock.close()


def health_checks(port, mport, silent=HEALTH_SILENT, reset=HEALTH_RESET):
	"""
	@silent connections closed and @reset reset without a byte, each once
	tcpack has accepted it (so the kernel cannot drop it before accept).
	"""
	socks = [connect(port) for _ in range(silent + reset)]
	wait_open(mport, len(socks))
	for s in socks[:silent]:
		s.close()
	for s in socks[silent:]:
		reset_close(s)
	wait_open(mport, 0)


def expected_zero():
	"""Every counter compared, all zero: what a fresh tcpack shows."""
	e = {("tcpack_connections_accepted_total", ()): 0, ("tcpack_connections_open", ()): 0}
	for m in MODES:
		for name in ("tcpack_messages_total", "tcpack_replies_total", "tcpack_received_bytes_total",
			     "tcpack_sent_bytes_total"):
			e[(name, (("mode", m),))] = 0
	for r in CLOSE_REASONS:
		e[("tcpack_connections_closed_total", (("reason", r),))] = 0
	for k in ERROR_KINDS:
		e[("tcpack_errors_total", (("kind", k),))] = 0
	for k in CHECK_KINDS:
		e[("tcpack_health_checks_total", (("kind", k),))] = 0
	for h in ("tcpack_exchange_duration_seconds", "tcpack_message_size_bytes"):
		e[(h + "_count", ())] = 0
	e[("tcpack_message_size_bytes_sum", ())] = 0
	for b in SIZE_BOUNDS:
		e[("tcpack_message_size_bytes_bucket", (("le", str(b)),))] = 0
	e[("tcpack_message_size_bytes_bucket", (("le", "+Inf"),))] = 0
	return e


def _add(e, name, n, **labels):
	e[(name, tuple(sorted(labels.items())))] += n


def _sizes(e, sizes):
	for size in sizes:
		for b in SIZE_BOUNDS:
			if size <= b:
				_add(e, "tcpack_message_size_bytes_bucket", 1, le=str(b))
		_add(e, "tcpack_message_size_bytes_bucket", 1, le="+Inf")
		_add(e, "tcpack_message_size_bytes_count", 1)
		_add(e, "tcpack_message_size_bytes_sum", size)


def oneshot_traffic(port, mport):
	"""
	Against a oneshot tcpack (default max-message, --idle-timeout 500ms):
	one exchange per ONESHOT_SIZES, the health checks, one idle connection
	closed by the idle timeout. Returns the counters it must leave.
	"""
	e = expected_zero()
	for size in ONESHOT_SIZES:
		with connect(port) as s:
			s.sendall(b"m" * size)
			s.shutdown(socket.SHUT_WR)
			got = recv_until_eof(s)
		assert got == DEFAULT_REPLY, "a %d-byte message got %r" % (size, got)
	n = len(ONESHOT_SIZES)
	_add(e, "tcpack_connections_accepted_total", n)
	_add(e, "tcpack_connections_closed_total", n, reason="done")
	for name, v in (("tcpack_messages_total", n), ("tcpack_replies_total", n),
			("tcpack_received_bytes_total", sum(ONESHOT_SIZES)),
			("tcpack_sent_bytes_total", n * len(DEFAULT_REPLY))):
		_add(e, name, v, mode="oneshot")
	_add(e, "tcpack_exchange_duration_seconds_count", n)
	_sizes(e, ONESHOT_SIZES)
	wait_open(mport, 0)

	health_checks(port, mport)
	_add(e, "tcpack_connections_accepted_total", HEALTH_SILENT + HEALTH_RESET)
	_add(e, "tcpack_connections_closed_total", HEALTH_SILENT, reason="peer")
	_add(e, "tcpack_connections_closed_total", HEALTH_RESET, reason="reset")
	_add(e, "tcpack_health_checks_total", HEALTH_SILENT, kind="silent")
	_add(e, "tcpack_health_checks_total", HEALTH_RESET, kind="reset")

	with connect(port) as s:
		t0 = time.monotonic()
		got = recv_until_eof(s, timeout=5.0)
		idle = time.monotonic() - t0
	assert got == b"", "an idle connection got %r" % got
	assert 0.4 <= idle <= 2.5, "the idle timeout (500 ms) closed after %.2fs" % idle
	_add(e, "tcpack_connections_accepted_total", 1)
	_add(e, "tcpack_connections_closed_total", 1, reason="idle_timeout")
	_add(e, "tcpack_errors_total", 1, kind="timeout")
	wait_open(mport, 0)
	return e


def line_traffic(port, mport):
	"""
	Against a line-mode tcpack with --max-message 16: LINES on one
	connection, each sent once the reply to the one before came (so each is
	an exchange of its own), then a line too long on a second connection.
	Returns the counters it must leave.
	"""
	e = expected_zero()
	with connect(port) as s:
		for line in LINES:
			s.sendall(line)
			got = recv_exact(s, len(DEFAULT_REPLY))
			assert got == DEFAULT_REPLY, "line %r got %r" % (line, got)
		s.shutdown(socket.SHUT_WR)
		rest = recv_until_eof(s)
		assert rest == b"", "after the last line: %r" % rest
	with connect(port) as s:
		s.sendall(TOO_LONG)
		got = recv_until_eof(s)
	assert got == DEFAULT_ERROR_REPLY, "a line too long got %r" % got
	n = len(LINES)
	_add(e, "tcpack_connections_accepted_total", 2)
	_add(e, "tcpack_connections_closed_total", 1, reason="peer")
	_add(e, "tcpack_connections_closed_total", 1, reason="limit")
	for name, v in (("tcpack_messages_total", n), ("tcpack_replies_total", n + 1),
			("tcpack_received_bytes_total", sum(map(len, LINES)) + len(TOO_LONG)),
			("tcpack_sent_bytes_total", n * len(DEFAULT_REPLY) + len(DEFAULT_ERROR_REPLY))):
		_add(e, name, v, mode="line")
	_add(e, "tcpack_errors_total", 1, kind="too_long")
	# The error reply is an exchange too: first byte in to last reply byte out.
	_add(e, "tcpack_exchange_duration_seconds_count", n + 1)
	_sizes(e, [_line_size(line) for line in LINES])
	wait_open(mport, 0)
	return e


def selector(key):
	"""('name', (('k', 'v'),)) as PromQL writes it: name{k="v"}."""
	name, labels = key
	return name + ("{%s}" % ",".join('%s="%s"' % kv for kv in labels) if labels else "")


def compare(expected, got, title):
	"""
	Print a table of @expected against @got (key -> value, None: missing),
	the nonzero rows and every mismatch; return the mismatches.
	"""
	bad = []
	rows = []
	for key, want in expected.items():
		have = got.get(key)
		if have != want:
			bad.append((selector(key), want, have))
		if want or have != want:
			rows.append((selector(key), want, have, "" if have == want else "  <-- MISMATCH"))
	width = max(len(r[0]) for r in rows) if rows else 10
	print("  %s: %d series compared, %d nonzero shown, %d mismatched" % (title, len(expected), len(rows), len(bad)))
	print("  %-*s %10s %10s" % (width, "series", "expected", "scraped"))
	for sel, want, have, mark in rows:
		print("  %-*s %10s %10s%s" % (width, sel, _num(want), _num(have), mark))
	return bad


def _num(v):
	if v is None:
		return "missing"
	return "%d" % v if v == int(v) else "%g" % v


def from_exposition(exp, expected):
	"""The values of the series in @expected, from a parsed exposition."""
	return {key: exp.get(key[0], **dict(key[1])) for key in expected}
