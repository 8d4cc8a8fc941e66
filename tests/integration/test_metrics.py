# SPDX-License-Identifier: MIT
"""
The metrics listener (--metrics-listen): the exposition parses strictly and
its counters equal the traffic sent, exactly; the HTTP side answers what it
must (404, 405, HEAD, keep-alive, pipelining), refuses junk with its status
and a close, cuts a slowloris at TCPACK_SCRAPE_REQUEST_MS, keeps at most 16
connections; health checks are counted, logged only at debug and summed up
in one line per check-log-interval. And a measurement, printed, not
asserted: scrape latency with 5,000 idle connections open.
"""
import re
import socket
import statistics
import time

import harness
from harness import Server, connect
import clients
import scrapes
from scrapes import HttpConn, get_request, metrics_port


def metrics_server(args=(), **kw):
	return Server(["--metrics-listen", "127.0.0.1:0"] + list(args), **kw)


def test_exposition_parses_strictly_with_every_family():
	with metrics_server(["--idle-timeout", "500ms"]) as srv:
		mport = metrics_port(srv)
		scrapes.oneshot_traffic(srv.port, mport)	# nonzero histograms too
		exp = scrapes.scrape(mport)
		for name in ("tcpack_build_info", "tcpack_connections_accepted_total", "tcpack_connections_open",
			     "tcpack_connections_closed_total", "tcpack_messages_total", "tcpack_replies_total",
			     "tcpack_received_bytes_total", "tcpack_sent_bytes_total", "tcpack_errors_total",
			     "tcpack_health_checks_total", "tcpack_exchange_duration_seconds",
			     "tcpack_message_size_bytes"):
			assert name in exp.families, "no family %s" % name
		types = {n: f.type for n, f in exp.families.items()}
		assert types["tcpack_exchange_duration_seconds"] == "histogram"
		assert types["tcpack_message_size_bytes"] == "histogram"
		assert types["tcpack_connections_open"] == "gauge"
		engine = [l["engine"] for _, l, _ in exp.families["tcpack_build_info"].samples]
		assert len(engine) == 1 and engine[0] in ("io_uring", "epoll"), engine
		if harness.ENGINE == "epoll":
			assert engine == ["epoll"], engine
		print("  %d families, %d series; engine %s" % (len(exp.families), len(exp.samples), engine[0]))


def test_the_parser_refuses_what_it_must():
	"""The strict parser itself: each rule it checks fails a broken exposition."""
	good = ("# HELP a_total A.\n# TYPE a_total counter\na_total 1\n"
		"# HELP h H.\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n")
	scrapes.parse(good)
	broken = {
		"no TYPE": good.replace("# TYPE a_total counter\n", ""),
		"no HELP": good.replace("# HELP a_total A.\n", ""),
		"counter without _total": good.replace("a_total", "a"),
		"not cumulative": good.replace("le=\"+Inf\"} 2", "le=\"+Inf\"} 0").replace("h_count 2", "h_count 0"),
		"+Inf not _count": good.replace("h_count 2", "h_count 3"),
		"no +Inf": good.replace("h_bucket{le=\"+Inf\"} 2\n", ""),
		"sample of another family": good.replace("a_total 1\n", "b_total 1\n"),
		"bad label": good.replace("le=\"1\"", "le=1"),
		"no final newline": good[:-1],
		"timestamp": good.replace("a_total 1\n", "a_total 1 1700000000000\n"),
	}
	for what, text in broken.items():
		try:
			scrapes.parse(text)
		except AssertionError:
			continue
		raise AssertionError("the parser took an exposition with %s" % what)


def check_counters(expected, mport, title):
	got = scrapes.from_exposition(scrapes.scrape(mport), expected)
	bad = scrapes.compare(expected, got, title)
	assert not bad, "%s: counters differ from the traffic sent: %s" % (title, bad)


def test_oneshot_counters_equal_the_traffic_sent():
	with metrics_server(["--idle-timeout", "500ms"]) as srv:
		mport = metrics_port(srv)
		check_counters(scrapes.expected_zero(), mport, "oneshot, fresh")
		check_counters(scrapes.oneshot_traffic(srv.port, mport), mport, "oneshot")


def test_line_counters_equal_the_traffic_sent():
	with metrics_server(["--mode", "line", "--max-message", "16", "--idle-timeout", "500ms"]) as srv:
		mport = metrics_port(srv)
		check_counters(scrapes.line_traffic(srv.port, mport), mport, "line")


def get_head_get(mport):
	"""Content-Length of GET, HEAD (with its empty body), GET, on one connection."""
	with HttpConn(mport) as c:
		c.send(get_request())
		a = c.response()
		c.send(get_request(method="HEAD"))
		h = c.response(head_only=True)
		c.send(get_request())
		b = c.response()
		assert (a.status, h.status, b.status) == (200, 200, 200), (a, h, b)
		assert h.header("content-type") == a.header("content-type")
		# Nothing may follow HEAD's head: the next bytes were the second GET's answer.
		assert b.raw_head.startswith(b"HTTP/1.1 200 OK\r\n")
		return int(a.header("content-length")), int(h.header("content-length")), len(a.body), \
			int(b.header("content-length"))


def test_404_405_and_head_without_a_body():
	with metrics_server() as srv:
		mport = metrics_port(srv)
		with HttpConn(mport) as c:
			c.send(get_request("/other"))
			r = c.response()
			assert r.status == 404 and len(r.body) == int(r.header("content-length")), r
			c.send(get_request("/metrics?x=1"))	# a query is not a path: still /metrics
			assert c.response().status == 200
			c.send(get_request("/metricsx"))
			assert c.response().status == 404
			# 404 keeps the connection: the same socket still answers.
			c.send(get_request())
			assert c.response().status == 200
		with HttpConn(mport) as c:
			c.send(get_request(method="POST", extra="Content-Length: 0\r\n"))
			r = c.response()
			assert r.status == 405, r
			assert r.header("allow") == "GET, HEAD", r.headers
			c.send(get_request(method="DELETE"))
			assert c.response().status == 405
		# The exposition may change between answers (loop counters): retry
		# until both GETs around the HEAD agree, then HEAD must say the same.
		for _ in range(5):
			a, h, body, b = get_head_get(mport)
			assert a == body
			if a == b:
				assert h == a, "HEAD says Content-Length %d, GET %d" % (h, a)
				print("  GET and HEAD: Content-Length %d" % a)
				return
		raise AssertionError("the exposition's length never held still over GET, HEAD, GET")


def test_keep_alive_and_pipelined_requests_answered_in_order():
	with metrics_server() as srv:
		mport = metrics_port(srv)
		with HttpConn(mport) as c:
			for _ in range(2):
				c.send(get_request())
				r = c.response()
				assert r.status == 200 and r.header("connection") is None, r.headers
				scrapes.parse(r.body.decode())
		with HttpConn(mport) as c:
			c.send(get_request() + get_request("/other"))
			first, second = c.response(), c.response()
			assert (first.status, second.status) == (200, 404), (first, second)
			scrapes.parse(first.body.decode())
			# Three at once, the last asking to close: answered, then closed.
			c.send(get_request("/nope") + get_request(method="HEAD") +
			       get_request(extra="Connection: close\r\n"))
			rs = [c.response(), c.response(head_only=True), c.response()]
			assert [r.status for r in rs] == [404, 200, 200], rs
			assert rs[2].header("connection") == "close"
			c.expect_close()
		# HTTP/1.0: closed after the answer unless it asks for keep-alive.
		with HttpConn(mport) as c:
			c.send(b"GET /metrics HTTP/1.0\r\n\r\n")
			assert c.response().status == 200
			c.expect_close()
		with HttpConn(mport) as c:
			c.send(b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			assert c.response().status == 200
			c.send(b"GET /metrics HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
			assert c.response().status == 200


# A TLS 1.2 ClientHello's first bytes: record type 22, version 3.1.
TLS_HELLO = bytes.fromhex("16 03 01 02 00 01 00 01 fc 03 03") + bytes(range(32)) + b"\x00\x02\x13\x01\x01\x00"
JUNK = [
	("a TLS ClientHello", TLS_HELLO, 400),
	("GARBAGE", b"GARBAGE\r\n\r\n", 400),
	("the HTTP/2 preface", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505),
	("a 10 KB header", get_request(extra="X-Big: " + "a" * 10240 + "\r\n"), 431),
	("a body", get_request(extra="Content-Length: 5\r\n") + b"hello", 413),
	("chunked", get_request(extra="Transfer-Encoding: chunked\r\n") + b"0\r\n\r\n", 501),
	("no Host in 1.1", b"GET /metrics HTTP/1.1\r\n\r\n", 400),
	("a bare LF", b"GET /metrics HTTP/1.1\nHost: x\n\n", 400),
	("a target too long", get_request("/" + "m" * 300), 414),
]


def test_junk_gets_its_status_and_a_close():
	with metrics_server() as srv:
		mport = metrics_port(srv)
		for what, data, status in JUNK:
			with HttpConn(mport) as c:
				c.send(data)
				r = c.response()
				assert r.status == status, "%s: answered %d %r, not %d" % (what, r.status, r.body, status)
				assert r.header("connection") == "close", "%s: %r" % (what, r.headers)
				how = c.expect_close()
				print("  %-20s -> %d %s (%s)" % (what, r.status, r.body.decode().strip(), how))
		# The listener still serves.
		assert scrapes.scrape(mport).value("tcpack_connections_open") == 0


@harness.budget(30)
def test_slowloris_is_cut_ten_seconds_after_its_first_byte():
	with metrics_server() as srv:
		mport = metrics_port(srv)
		head = get_request(extra="X-Slow: " + "s" * 60 + "\r\n")
		with connect(mport) as s:
			t0 = time.monotonic()
			cut = None
			for i, byte in enumerate(head):
				try:
					s.sendall(bytes([byte]))
				except (BrokenPipeError, ConnectionResetError):
					cut = time.monotonic() - t0
					break
				s.settimeout(0.5)
				try:
					got = s.recv(4096)
				except socket.timeout:
					continue
				except ConnectionResetError:
					got = b""
				assert got == b"", "a slow request head got %r" % got
				cut = time.monotonic() - t0
				break
			assert cut is not None, "still open after all %d bytes (%.1fs)" % (len(head), time.monotonic() - t0)
		print("  cut %.2fs after its first byte, %d bytes in" % (cut, i + 1))
		assert 9.5 <= cut <= 12.5, "cut %.2fs after its first byte, not 10 s" % cut
		# Meanwhile, and after, others are served.
		assert scrapes.scrape(mport).value("tcpack_connections_open") == 0


def test_a_seventeenth_connection_evicts_the_oldest():
	with metrics_server() as srv:
		mport = metrics_port(srv)
		conns = []
		try:
			for _ in range(16):
				c = HttpConn(mport)
				conns.append(c)
				c.send(get_request())	# answered: accepted, in this order
				assert c.response().status == 200
				time.sleep(0.005)	# accepted in distinct milliseconds
			newest = HttpConn(mport)
			conns.append(newest)
			newest.send(get_request())
			assert newest.response().status == 200
			how = conns[0].expect_close()
			for c in conns[1:]:
				c.send(get_request())
				assert c.response().status == 200
			print("  the oldest of 17 was closed (%s); the 16 others still answer" % how)
		finally:
			for c in conns:
				c.close()


CHECK_LINE = re.compile(r"health checks in the last (\d+) s: (\d+): (.*)$")
SOURCE = re.compile(r"^(\S+) (\d+) \(([a-z-]+ \d+(?:, [a-z-]+ \d+)*)\)$")


def check_lines(srv):
	"""Every summary line so far: [(seconds, total, {addr: {kind: n}})], checked for sums."""
	out = []
	for line in srv.log_lines():
		m = CHECK_LINE.search(line)
		if not m:
			continue
		sources = {}
		for part in m.group(3).split("; "):
			s = SOURCE.match(part)
			assert s, "bad source in %r" % line
			kinds = {k: int(n) for k, n in (kv.split(" ") for kv in s.group(3).split(", "))}
			assert sum(kinds.values()) == int(s.group(2)), "parts do not add up: %r" % line
			sources[s.group(1)] = kinds
		assert sum(sum(k.values()) for k in sources.values()) == int(m.group(2)), line
		out.append((int(m.group(1)), int(m.group(2)), sources))
	return out


def test_health_checks_summed_up_in_one_line_per_interval():
	with metrics_server(["--check-log-interval", "1s"]) as srv:
		mport = metrics_port(srv)
		scrapes.health_checks(srv.port, mport)
		want = {"silent": scrapes.HEALTH_SILENT, "reset": scrapes.HEALTH_RESET}
		total = sum(want.values())

		def summed():
			got = {}
			for _, _, sources in check_lines(srv):
				assert list(sources) == ["127.0.0.1"], sources
				for k, n in sources["127.0.0.1"].items():
					got[k] = got.get(k, 0) + n
			return got
		harness.wait_until(lambda: sum(summed().values()) >= total, 4.0, "the summary line")
		time.sleep(1.5)		# the next interval: nothing counted twice
		assert summed() == want, "summary lines say %r, %r sent" % (summed(), want)
		lines = check_lines(srv)
		assert all(1 <= secs <= 2 for secs, _, _ in lines), lines
		print("  " + "\n  ".join(l for l in srv.log_lines() if CHECK_LINE.search(l)))
		exp = scrapes.scrape(mport)
		assert exp.value("tcpack_health_checks_total", kind="silent") == want["silent"]
		assert exp.value("tcpack_health_checks_total", kind="reset") == want["reset"]


def test_a_silent_connection_is_not_logged_at_info():
	with metrics_server() as srv:
		mport = metrics_port(srv)
		before = srv.log_lines()
		scrapes.health_checks(srv.port, mport, silent=1, reset=0)
		assert scrapes.scrape(mport).value("tcpack_health_checks_total", kind="silent") == 1
		time.sleep(0.2)
		new = srv.log_lines()[len(before):]
		assert not new, "logged at info for a silent connection (or a scrape): %r" % new
	# It is there at debug level.
	with metrics_server(["--log-level", "debug"]) as srv:
		mport = metrics_port(srv)
		with connect(srv.port) as s:
			port = s.getsockname()[1]
			scrapes.wait_open(mport, 1)
		srv.wait_log("127.0.0.1:%d: closed without sending data" % port)


@harness.budget(90)
def test_scrape_latency_with_5000_idle_connections():
	n = 5000
	have = clients.raise_nofile(n + 200)
	if have < n + 100:
		harness.skip("RLIMIT_NOFILE hard limit %d: cannot hold %d connections" % (have, n))
	with metrics_server(["--idle-timeout", "0", "--max-connections", "10000"]) as srv:
		mport = metrics_port(srv)
		t0 = time.monotonic()
		socks, errors = clients.connect_many(srv.port, n, timeout=30.0)
		try:
			assert not errors and len(socks) == n, "%d connected, errors %r" % (len(socks), errors[:5])
			scrapes.wait_open(mport, n, timeout=30.0)
			opened = time.monotonic() - t0
			times = []
			size = 0
			for _ in range(5):
				t = time.perf_counter()
				with HttpConn(mport, timeout=10.0) as c:
					c.send(get_request(extra="Connection: close\r\n"))
					r = c.response(timeout=10.0)
				times.append(time.perf_counter() - t)
				assert r.status == 200, r
				size = len(r.body)
				assert scrapes.parse(r.body.decode()).value("tcpack_connections_open") == n
			print("  %d connections open in %.2fs; 5 scrapes (%d bytes each): median %.2f ms, max %.2f ms"
			      % (n, opened, size, statistics.median(times) * 1e3, max(times) * 1e3))
		finally:
			for s in socks:
				s.close()


if __name__ == "__main__":
	harness.main(globals())
