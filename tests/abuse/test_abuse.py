# SPDX-License-Identifier: MIT
"""
Abuse: tcpack keeps serving well-behaved clients while others hold 5,000
idle connections, trickle lines a byte at a time (slowloris), send without
ever reading, send oversized lines, random binary junk and other protocols,
reset mid-message, and flood it past max-connections. Afterwards the good
clients must have lost no reply and seen no wrong byte, the server's RSS
must have stayed under the worst-case bound of README.md, its
open fds must be back to where they started, and it must still answer.

The abusive clients run in their own processes (abusers.py) so that the
good clients' round trips are not timed behind Python's GIL. Figures go to
$TCPACK_ABUSE_RESULTS (JSON) and stdout. Loopback only; every phase is
bounded in count and time.
"""
import json
import os
import re
import subprocess
import sys
import threading
import time

import clients
import harness
import membound
from harness import DEFAULT_ERROR_REPLY, Server, connect, exchange

HERE = os.path.dirname(os.path.abspath(__file__))	# abusers.py; it inherits PYTHONPATH

REPLY = "ACK 服务器已收到数据\r\n".encode()
REPLY_ARG = "ACK 服务器已收到数据\\r\\n"

# The main phase: everything at once against one server.
N_GOOD = 20
N_IDLE = 5000
N_LORIS = 100
N_NEVER_READ = 100
N_OVERSIZE = 140
N_JUNK = 300
N_RESETS = 300
IDLE_TIMEOUT = 10		# s; closes the idle and the never-reading clients
MESSAGE_TIMEOUT = 3		# s; closes the slowloris clients
MAX_PENDING = 64 * 1024
MAX_MESSAGE = 1024
# Room for every client of the main phase at once, so none waits in the
# backlog there: 20 + 5000 + 100 + 100 + 16 bad-input lanes + slack.
MAX_CONNECTIONS = 6000
SOURCES = ["127.0.0.%d" % i for i in range(2, 10)]	# spread the 5,000 over 8 addresses

# The flood phase: a small max-connections, a burst ten times past it.
FLOOD_MAX_CONNECTIONS = 64
FLOOD_GOOD = 10
FLOOD_N = 2000

RESULTS_PATH = os.environ.get("TCPACK_ABUSE_RESULTS") or os.path.abspath(
	"abuse-results%s.json" % ("-" + harness.ENGINE if harness.ENGINE else ""))
RESULTS = {}

# Under ASan the RSS is the sanitizer's (shadow memory, quarantine) and
# everything is slower: the RSS bound is recorded, not asserted, and the
# latency sanity bound is wider.
SANITIZED = None


def setup_module():
	global SANITIZED
	want = N_IDLE + 2000
	got = clients.raise_nofile(want)
	if got < want:
		harness.skip_module("RLIMIT_NOFILE hard limit %d is below the %d fds the abuse test needs"
				    % (got, want))
	with open(harness.binary(), "rb") as f:
		data = f.read()
	SANITIZED = b"__asan_init" in data or b"libasan.so" in data


def teardown_module():
	RESULTS["engine"] = harness.ENGINE or "auto"
	RESULTS["sanitized"] = SANITIZED
	with open(RESULTS_PATH, "w") as f:
		json.dump(RESULTS, f, indent=2, sort_keys=True)
	print("results written to %s" % RESULTS_PATH)


class Abuser:
	"""One abusers.py process; collects its events and its result."""

	def __init__(self, role, **args):
		self.role = role
		self.events = {}
		self.result = None
		self._cond = threading.Condition()
		self.proc = subprocess.Popen([sys.executable, os.path.join(HERE, "abusers.py"), role,
					      json.dumps(args)],
					     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
					     stdin=subprocess.DEVNULL, env=harness.clean_env())
		self._reader = threading.Thread(target=self._read, daemon=True)
		self._reader.start()

	def _read(self):
		for raw in self.proc.stdout:
			kind, name, data = raw.decode().rstrip("\n").split(" ", 2)
			with self._cond:
				if kind == "event":
					self.events[name] = json.loads(data)
				else:
					self.result = json.loads(data)
				self._cond.notify_all()

	def wait_event(self, name, timeout):
		with self._cond:
			if not self._cond.wait_for(lambda: name in self.events or self.proc.poll() is not None,
						   timeout):
				raise AssertionError("%s: no %r event within %.0fs" % (self.role, name, timeout))
		if name not in self.events:
			raise AssertionError("%s exited (%s) before %r:\n%s"
					     % (self.role, self.proc.returncode, name, self.proc.stderr.read().decode()))
		return self.events[name]

	def wait(self, timeout):
		try:
			self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			raise AssertionError("%s abuser still running after %.0fs" % (self.role, timeout)) from None
		self._reader.join(5)
		if self.proc.returncode != 0 or self.result is None:
			raise AssertionError("%s abuser failed (exit %d):\n%s"
					     % (self.role, self.proc.returncode, self.proc.stderr.read().decode()))
		return self.result

	def kill(self):
		if self.proc.poll() is None:
			self.proc.kill()
			self.proc.wait(5)


# What the RSS may stay above its start (and the buffer rings) once every
# client left and a supervisor tick trimmed the heap; without the trim it
# stays well above this.
RSS_END_SLACK_KIB = 6 * 1024


def memory_bound(workers, engine, *, max_connections, max_pending, reply_len, error_reply_len,
		 buffer_count=1024, buffer_size=4096, log_data_max=256, base_kib):
	"""
	The worst-case RSS of README.md and docs/RELIABILITY.md for this run's
	limits, in bytes (tests/lib/membound.py): the same with the kernel's
	receive limit or without it (TCPACK_TEST_RING=nolimit).
	"""
	return membound.memory_bound(
		engine, workers=workers, max_connections=max_connections, max_pending=max_pending,
		reply_len=reply_len, error_reply_len=error_reply_len, log_data_max=log_data_max,
		buffer_count=buffer_count, buffer_size=buffer_size, base=base_kib * 1024)


def server_engine_and_workers(srv):
	line = srv.wait_log(re.compile(r"serving with \d+ (io_uring|epoll) workers?"))
	m = re.search(r"serving with (\d+) (io_uring|epoll)", line)
	return ("epoll" if m.group(2) == "epoll" else "uring"), int(m.group(1))


def check_sanitizer_log(srv):
	log = srv.log()
	for marker in ("AddressSanitizer", "LeakSanitizer", "runtime error:"):
		assert marker not in log, "sanitizer report in the server log:\n" + srv.log_tail(60)


def wait_fds(pid, baseline, timeout):
	"""Wait until the server has @baseline open fds again; returns the count seen last."""
	deadline = time.monotonic() + timeout
	n = clients.proc_fds(pid)
	while n != baseline and time.monotonic() < deadline:
		time.sleep(0.1)
		n = clients.proc_fds(pid)
	return n


def still_answers(port):
	with connect(port) as s:
		got = exchange(s, b"still there?\n", timeout=10)
	assert got == REPLY, "the server no longer answers: %r" % got


def line_server(*args):
	return Server(["--mode", "line", "--reply", REPLY_ARG] + list(args))


def good_clients_verdict(good, what):
	g = good.summary()
	print("  good clients (%s): %d lines, %d replies ok, %d wrong, %d missing; round trip "
	      "p50 %s ms, p99 %s ms, max %s ms over %d round trips"
	      % (what, g["lines_sent"], g["replies_ok"], g["replies_wrong"], g["replies_missing"],
		 g["p50_ms"], g["p99_ms"], g["max_ms"], g["round_trips"]))
	assert not g["errors"], "well-behaved clients failed (%s): %s" % (what, g["errors"])
	assert g["replies_wrong"] == 0 and g["replies_missing"] == 0, g
	assert g["round_trips"] >= 10 * good.n, "the good clients hardly ran: %r" % g
	# A sanity bound only: the figure is recorded, not judged here.
	bound_ms = 2000 * (4 if SANITIZED else 1)
	assert g["p99_ms"] < bound_ms, "p99 round trip %.0f ms (sanity bound %d ms)" % (g["p99_ms"], bound_ms)
	return g


@harness.budget(120)
def test_good_clients_unharmed_by_idle_slowloris_never_reading_oversized_junk_and_resets():
	srv = line_server("--max-connections", str(MAX_CONNECTIONS),
			  "--idle-timeout", "%ds" % IDLE_TIMEOUT,
			  "--message-timeout", "%ds" % MESSAGE_TIMEOUT,
			  "--max-pending", str(MAX_PENDING),
			  "--max-message", str(MAX_MESSAGE)).start()
	engine, workers = server_engine_and_workers(srv)
	still_answers(srv.port)		# code paths and buffers touched once
	time.sleep(0.3)
	fds0 = clients.proc_fds(srv.pid)
	rss0 = clients.proc_rss_kib(srv.pid)
	sampler = clients.Sampler(srv.pid).start()
	abusers = []
	t0 = time.monotonic()
	good = clients.GoodClients(srv.port, N_GOOD, REPLY).start()
	try:
		idle = Abuser("idle", port=srv.port, n=N_IDLE, sources=SOURCES,
			      deadline=IDLE_TIMEOUT + 12)
		abusers.append(idle)
		opened = idle.wait_event("opened", 40)
		assert opened["opened"] == N_IDLE, "only %r of %d idle connections opened" % (opened, N_IDLE)
		# Every idle connection accepted: their cost alone, before the rest.
		harness.wait_until(lambda: clients.proc_fds(srv.pid) >= fds0 + N_IDLE, 10,
				   "the server to hold %d idle connections" % N_IDLE)
		sampler.sample()
		fds_idle = clients.proc_fds(srv.pid)
		rss_idle = clients.proc_rss_kib(srv.pid)
		common = dict(port=srv.port)
		abusers.append(Abuser("slowloris", n=N_LORIS, interval=0.2, attack=8,
				      deadline=8 + MESSAGE_TIMEOUT + 12, **common))
		abusers.append(Abuser("never_read", n=N_NEVER_READ, stall=1.0,
				      deadline=IDLE_TIMEOUT + 30, **common))
		abusers.append(Abuser("badinput", seed=5, oversize=N_OVERSIZE, junk=N_JUNK,
				      resets=N_RESETS, lanes=12, deadline=25, max_message=MAX_MESSAGE,
				      reply=REPLY.decode("latin-1"),
				      error_reply=DEFAULT_ERROR_REPLY.decode("latin-1"), **common))
		results = {a.role: a.wait(70) for a in reversed(abusers)}
		attack_s = time.monotonic() - t0
	finally:
		good.stop()
		for a in abusers:
			a.kill()
	g = good_clients_verdict(good, "main phase")
	fds_end = wait_fds(srv.pid, fds0, 15)
	sampler.stop()
	still_answers(srv.port)
	time.sleep(1.5)		# a supervisor tick: what the load left is trimmed
	rss_end = clients.proc_rss_kib(srv.pid)

	idle, loris, never, bad = (results[k] for k in ("idle", "slowloris", "never_read", "badinput"))
	bound = memory_bound(workers, engine, max_connections=MAX_CONNECTIONS, max_pending=MAX_PENDING,
			     reply_len=len(REPLY), error_reply_len=len(DEFAULT_ERROR_REPLY), base_kib=rss0)
	idle_growth = (rss_idle - rss0) * 1024
	RESULTS["main"] = {
		"server": {"engine": engine, "workers": workers, "max_connections": MAX_CONNECTIONS,
			   "idle_timeout_s": IDLE_TIMEOUT, "message_timeout_s": MESSAGE_TIMEOUT,
			   "max_pending": MAX_PENDING, "max_message": MAX_MESSAGE},
		"seconds": round(attack_s, 1),
		"good": g, "idle": idle, "slowloris": loris, "never_read": never, "badinput": bad,
		"fds": {"baseline": fds0, "with_idle": fds_idle, "peak": sampler.fds_peak, "end": fds_end},
		"rss_kib": {"start": rss0, "with_idle": rss_idle, "peak": sampler.rss_peak_kib,
			    "end": rss_end, "bound": bound // 1024,
			    "idle_growth_per_conn_bytes": round(idle_growth / N_IDLE, 1)},
		"samples": sampler.samples,
	}
	print("  idle: %r" % idle)
	print("  slowloris: %r" % loris)
	print("  never_read: %r" % never)
	print("  badinput: %r" % {k: v for k, v in bad.items() if k != "counts"})
	print("  fds: baseline %d, with %d idle %d, peak %d, end %d"
	      % (fds0, N_IDLE, fds_idle, sampler.fds_peak, fds_end))
	print("  RSS: start %.1f MiB, with idle %.1f MiB (%.0f B per idle connection), peak %.1f MiB, "
	      "end %.1f MiB; worst-case bound %.1f MiB"
	      % (rss0 / 1024, rss_idle / 1024, idle_growth / N_IDLE, sampler.rss_peak_kib / 1024,
		 rss_end / 1024, bound / 1048576))

	# The idle connections: all held at once, closed by the idle timeout, owed nothing.
	assert idle["connections"] == N_IDLE and idle["connect_errors"] == 0, idle
	assert sampler.fds_peak >= fds0 + N_IDLE, "never held %d connections at once" % N_IDLE
	assert idle["still_open"] == 0, (
		"%d of %d idle connections never closed by the server (idle-timeout %d s, waited %d s): %r"
		% (idle["still_open"], N_IDLE, IDLE_TIMEOUT, IDLE_TIMEOUT + 12, idle))
	assert idle["closed_by_server"] + idle["reset_by_server"] == N_IDLE, idle
	assert idle["bytes_received"] == 0, idle
	lo, hi = idle["closed_after_open_s"]["min"], idle["closed_after_open_s"]["max"]
	assert IDLE_TIMEOUT - idle["open_seconds"] - 1 <= lo and hi <= IDLE_TIMEOUT + idle["open_seconds"] + 6, \
		"idle connections closed %.1f..%.1f s after opening (idle-timeout %d s)" % (lo, hi, IDLE_TIMEOUT)
	# An idle connection holds no receive buffer: its slot and little else.
	if not SANITIZED:
		assert idle_growth / N_IDLE < 4096, \
			"%.0f bytes of RSS per idle connection" % (idle_growth / N_IDLE)
	# Slowloris: every trickled line cut off by the message timeout, nothing sent back.
	assert loris["survived"] == 0 and loris["closed_by_server"] == loris["connections"], loris
	assert loris["connections"] >= N_LORIS and loris["bytes_received"] == 0, loris
	lo, hi = (loris["closed_after_first_byte_s"][k] for k in ("min", "max"))
	assert MESSAGE_TIMEOUT - 0.5 <= lo and hi <= MESSAGE_TIMEOUT + 4, \
		"slowloris closed %.1f..%.1f s after its first byte (message-timeout %d s)" % (lo, hi, MESSAGE_TIMEOUT)
	# Never-reading clients: pushed until backpressure stopped them, then closed when idle.
	assert never["connections"] == N_NEVER_READ and never["still_open"] == 0, never
	assert never["closed_after_stall_s"]["max"] <= IDLE_TIMEOUT + 8, never
	# Bad input: every reply exactly as line framing predicts.
	assert bad["done"] == bad["jobs"], "bad-input jobs not all run in time: %r" % bad
	assert bad["failures"] == 0, "bad input got wrong answers: %r" % bad["first_failures"]
	# Resources back; the bound held.
	assert fds_end == fds0, "server fds: %d at start, %d after every client left" % (fds0, fds_end)
	if not SANITIZED:
		assert sampler.rss_peak_kib * 1024 <= bound, \
			"RSS peak %.1f MiB over the worst-case bound %.1f MiB" % (
				sampler.rss_peak_kib / 1024, bound / 1048576)
		# Once everybody left, the memory goes back: what stays is the
		# receive buffers the load touched (io_uring: every worker's
		# buffer ring) and a little.
		kept_kib = workers * 1024 * 4096 // 1024 if engine == "uring" else 0
		assert rss_end <= rss0 + kept_kib + RSS_END_SLACK_KIB, \
			"RSS %.1f MiB after every client left (%.1f MiB at the start, %.1f MiB peak)" % (
				rss_end / 1024, rss0 / 1024, sampler.rss_peak_kib / 1024)
	assert "max-connections (%d) reached" % MAX_CONNECTIONS not in srv.log(), \
		"max-connections was hit: the main phase must not wait in the backlog"
	check_sanitizer_log(srv)
	assert srv.stop(timeout=15) == 0, "exit status on SIGTERM; log:\n" + srv.log_tail()
	check_sanitizer_log(srv)


@harness.budget(90)
def test_flood_past_max_connections_leaves_good_clients_unharmed():
	srv = line_server("--max-connections", str(FLOOD_MAX_CONNECTIONS)).start()
	engine, workers = server_engine_and_workers(srv)
	still_answers(srv.port)
	time.sleep(0.3)
	fds0 = clients.proc_fds(srv.pid)
	rss0 = clients.proc_rss_kib(srv.pid)
	sampler = clients.Sampler(srv.pid, interval=0.05).start()
	good = clients.GoodClients(srv.port, FLOOD_GOOD, REPLY, seed=21).start()
	flood = None
	try:
		time.sleep(0.5)
		t0 = time.monotonic()
		flood = Abuser("flood", port=srv.port, n=FLOOD_N, sources=SOURCES,
			       reply=REPLY.decode("latin-1"), deadline=40)
		res = flood.wait(60)
		flood_s = time.monotonic() - t0
		time.sleep(0.5)
	finally:
		good.stop()
		if flood:
			flood.kill()
	g = good_clients_verdict(good, "flood phase")
	fds_end = wait_fds(srv.pid, fds0, 15)
	sampler.stop()
	still_answers(srv.port)
	bound = memory_bound(workers, engine, max_connections=FLOOD_MAX_CONNECTIONS,
			     max_pending=256 * 1024, reply_len=len(REPLY),
			     error_reply_len=len(DEFAULT_ERROR_REPLY), base_kib=rss0)
	reached = srv.log().count("max-connections (%d) reached" % FLOOD_MAX_CONNECTIONS)
	RESULTS["flood"] = {
		"server": {"engine": engine, "workers": workers, "max_connections": FLOOD_MAX_CONNECTIONS},
		"seconds": round(flood_s, 1), "good": g, "flood": res,
		"fds": {"baseline": fds0, "peak": sampler.fds_peak, "end": fds_end},
		"rss_kib": {"start": rss0, "peak": sampler.rss_peak_kib, "bound": bound // 1024},
		"limit_reached_log_lines": reached,
	}
	print("  flood: %r" % res)
	print("  fds: baseline %d, peak %d, end %d; 'max-connections reached' logged %d times"
	      % (fds0, sampler.fds_peak, fds_end, reached))
	assert res["connections"] == FLOOD_N and res["connect_errors"] == 0, res
	# Nobody is answered wrongly; everybody who asked is answered or turned away.
	assert res["wrong"] == 0, res
	assert res["unanswered_at_deadline"] == 0, res
	assert res["served"] + res["rejected"] == res["asked"], res
	assert res["served"] > FLOOD_MAX_CONNECTIONS, res
	# Accepting stops at the limit and nobody is turned away: epoll parks at
	# most 256 per worker that one batch of accepts took past it; io_uring
	# holds at most 8 accepts per listening socket per worker, only while
	# slots are free, so at most 8 per worker land past the limit.
	parked_max = 256 * workers if engine == "epoll" else 8 * workers
	assert res["rejected"] == 0, res
	assert sampler.fds_peak <= fds0 + FLOOD_MAX_CONNECTIONS + parked_max + 8, \
		"server held %d fds (baseline %d, max-connections %d, %d may wait parked)" % (
			sampler.fds_peak, fds0, FLOOD_MAX_CONNECTIONS, parked_max)
	assert reached >= 1, srv.log_tail()
	assert fds_end == fds0, "server fds: %d at start, %d after every client left" % (fds0, fds_end)
	if not SANITIZED:
		assert sampler.rss_peak_kib * 1024 <= bound, (sampler.rss_peak_kib, bound // 1024)
	check_sanitizer_log(srv)
	assert srv.stop(timeout=15) == 0, "exit status on SIGTERM; log:\n" + srv.log_tail()
	check_sanitizer_log(srv)


if __name__ == "__main__":
	harness.main(globals())
