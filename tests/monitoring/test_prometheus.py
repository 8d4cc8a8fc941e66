# SPDX-License-Identifier: MIT
"""
A real Prometheus scrapes tcpack: Debian's prometheus package (2.42), run
as the test's own process on a free loopback port, with its storage in the
scratch directory, scraping two tcpack instances (oneshot and line mode)
every second. A known number of exchanges of each kind goes to them; once
Prometheus has scraped after the last one, its query API must give back
exactly what was sent: connections accepted, messages, replies and bytes
in and out per mode, closes by reason, errors, health checks by kind, the
histograms' counts. promtool must find the exposition clean.

Skips (77), saying why, only where prometheus or promtool is not installed
or cannot run at all; scripts/test installs them (scripts/lib.sh).
"""
import ctypes
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import harness
from harness import Server, free_port, wait_until
import scrapes
from scrapes import metrics_port

PROMETHEUS = "/usr/bin/prometheus"
PROMTOOL = "/usr/bin/promtool"
JOBS = ("tcpack-oneshot", "tcpack-line")


def setup_module():
	for path in (PROMETHEUS, PROMTOOL):
		if not os.access(path, os.X_OK):
			harness.skip_module("%s is not installed (Debian: apt-get install prometheus; "
					    "scripts/test installs it)" % path)
		try:
			r = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
		except OSError as e:
			harness.skip_module("%s cannot run here: %s" % (path, e))
		if r.returncode != 0:
			harness.skip_module("%s --version exited %d: %s" % (path, r.returncode, (r.stderr or r.stdout).strip()))
		print("  " + (r.stdout or r.stderr).splitlines()[0])


def _die_with_parent():
	"""In the child: SIGKILL when the test dies, however it dies (prctl PR_SET_PDEATHSIG)."""
	libc = ctypes.CDLL(None, use_errno=True)
	libc.prctl(1, signal.SIGKILL, 0, 0, 0)


class Prometheus:
	"""The test's own prometheus: config and storage in a directory removed at stop()."""

	def __init__(self, targets):
		self.dir = harness.tmp_path("prometheus")
		os.makedirs(self.dir)
		self.port = free_port()
		self.base = "http://127.0.0.1:%d" % self.port
		jobs = "".join("  - job_name: %s\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n"
			       % (job, port) for job, port in targets.items())
		self.config = os.path.join(self.dir, "prometheus.yml")
		with open(self.config, "w") as f:
			f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
				"  evaluation_interval: 1s\nscrape_configs:\n" + jobs)
		self.log_path = os.path.join(self.dir, "prometheus.log")
		self.proc = None

	def start(self):
		with open(self.log_path, "wb") as log:
			self.proc = subprocess.Popen(
				[PROMETHEUS, "--config.file=" + self.config,
				 "--storage.tsdb.path=" + os.path.join(self.dir, "data"),
				 "--web.listen-address=127.0.0.1:%d" % self.port,
				 "--log.level=warn"],
				stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=self.dir,
				env=harness.clean_env(), preexec_fn=_die_with_parent)

		def ready():
			if self.proc.poll() is not None:
				raise AssertionError("prometheus exited with %d:\n%s" % (self.proc.returncode, self.log()))
			try:
				with urllib.request.urlopen(self.base + "/-/ready", timeout=2) as r:
					return r.status == 200
			except (urllib.error.URLError, OSError):
				return False
		try:
			wait_until(ready, 30.0, "prometheus to be ready", interval=0.1)
		except AssertionError as e:
			raise AssertionError("%s\n%s" % (e, self.log())) from None
		return self

	def log(self):
		try:
			with open(self.log_path, encoding="utf-8", errors="replace") as f:
				return f.read()[-4000:]
		except OSError:
			return ""

	def query(self, promql):
		"""An instant query: [(labels, value)] of its vector result."""
		url = self.base + "/api/v1/query?" + urllib.parse.urlencode({"query": promql})
		with urllib.request.urlopen(url, timeout=5) as r:
			answer = json.load(r)
		assert answer["status"] == "success", answer
		assert answer["data"]["resultType"] == "vector", answer
		return [(s["metric"], float(s["value"][1])) for s in answer["data"]["result"]]

	def stop(self):
		if self.proc is not None and self.proc.poll() is None:
			self.proc.terminate()
			try:
				self.proc.wait(10)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait(5)
		shutil.rmtree(self.dir, ignore_errors=True)


def scraped(prom, job, expected):
	"""The value of every series of @expected that Prometheus holds for @job."""
	got = {}
	for metric, value in prom.query('{__name__=~"tcpack_.+",job="%s"}' % job):
		labels = tuple(sorted((k, v) for k, v in metric.items() if k not in ("__name__", "job", "instance")))
		got[(metric["__name__"], labels)] = value
	return {key: got.get(key) for key in expected}


def last_scrape(prom, job):
	"""Unix time of the latest sample Prometheus took from @job, or 0."""
	r = prom.query('timestamp(tcpack_connections_open{job="%s"})' % job)
	return r[0][1] if r else 0


@harness.budget(100)
def test_prometheus_scrapes_exactly_what_was_sent():
	common = ["--metrics-listen", "127.0.0.1:0", "--idle-timeout", "500ms"]
	with Server(common, name="oneshot") as oneshot, \
	     Server(common + ["--mode", "line", "--max-message", "16"], name="line") as line:
		scrape_both(oneshot, line)


def scrape_both(oneshot, line):
	ports = {"tcpack-oneshot": metrics_port(oneshot), "tcpack-line": metrics_port(line)}
	prom = Prometheus(ports)
	try:
		prom.start()
		# Both targets up before any traffic: the first scrape is of zeros.
		wait_until(lambda: all(v == 1 for _, v in prom.query("up")) and len(prom.query("up")) == 2,
			   20.0, "both targets up in Prometheus", interval=0.2)

		expected = {"tcpack-oneshot": scrapes.oneshot_traffic(oneshot.port, ports["tcpack-oneshot"]),
			    "tcpack-line": scrapes.line_traffic(line.port, ports["tcpack-line"])}
		# Every connection is closed (wait_open(0) in each): counters are final now.
		settled = time.time()
		t0 = time.monotonic()
		for job in JOBS:
			wait_until(lambda: last_scrape(prom, job) > settled, 15.0,
				   "a scrape of %s after the last exchange" % job, interval=0.2)
		print("  Prometheus scraped both %.2fs after the last exchange" % (time.monotonic() - t0))

		bad = []
		for job in JOBS:
			bad += [(job,) + b for b in scrapes.compare(expected[job], scraped(prom, job, expected[job]),
								  "%s, through Prometheus's query API" % job)]
		for metric, value in prom.query("up"):
			assert value == 1, "target %s is down" % metric
		assert not bad, "Prometheus scraped counters that differ from the traffic sent: %s" % bad

		# The histograms, as PromQL sees them: counts equal the messages, and
		# the largest message falls in the bucket it must (the first
		# scrape, before any traffic, was of zeros: rate() has a start).
		for job, largest in (("tcpack-oneshot", 1024), ("tcpack-line", 16)):
			msgs = prom.query('sum(tcpack_messages_total{job="%s"})' % job)[0][1]
			sizes = prom.query('tcpack_message_size_bytes_count{job="%s"}' % job)[0][1]
			assert msgs == sizes, "%s: %g messages, message size histogram counts %g" % (job, msgs, sizes)
			q = prom.query('histogram_quantile(1, rate(tcpack_message_size_bytes_bucket{job="%s"}[1m]))' % job)
			print("  %s: histogram_quantile(1, rate(message size buckets)) = %s" % (job, [v for _, v in q]))
			assert [v for _, v in q] == [largest], q

		for job, port in ports.items():
			text = scrapes.scrape_text(port)
			r = subprocess.run([PROMTOOL, "check", "metrics"], input=text, capture_output=True,
					   text=True, timeout=30)
			out = (r.stdout + r.stderr).strip()
			print("  promtool check metrics (%s, %d bytes): exit %d%s"
			      % (job, len(text), r.returncode, (": " + out) if out else ", no complaints"))
			assert r.returncode == 0, "promtool check metrics failed on %s: %s" % (job, out)
		# And it does lint: the same text with a counter not ending in _total is refused.
		broken = text.replace("tcpack_messages_total", "tcpack_messages")
		r = subprocess.run([PROMTOOL, "check", "metrics"], input=broken, capture_output=True, text=True, timeout=30)
		assert r.returncode != 0 and "_total" in r.stdout + r.stderr, (r.returncode, r.stdout, r.stderr)
	except BaseException:
		print("  --- prometheus log (tail) ---\n" + prom.log())
		raise
	finally:
		prom.stop()


if __name__ == "__main__":
	harness.main(globals())
