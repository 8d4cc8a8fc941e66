# SPDX-License-Identifier: MIT
"""
The processes of a measurement: a fresh tcpack per engine and round (the
harness's Server, told to log little), the floor servers beside it where a
row has them, tcpack-bench as the client, iperf3 for the loopback figure,
and this script's own idle connections for the RSS row. Every server
listens on 127.0.0.1; every port is the one the server itself bound.
"""
import itertools
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import time

import clients
import harness

from . import ENGINES, log
from .matrix import FLOORS, IDLE_CONNS, IDLE_SOURCES, LINE_REPLY, row_servers
from .report import fnum, fr
from .sampling import MAX_REDOS, QUIET_CORES, REDO_CORES, system_busy_s, task_cpu_ns, wait_quiet
from .stats import summarize


class BenchServer(harness.Server):
	"""
	A fresh tcpack for one measurement, on 127.0.0.1 port 0. It runs at
	--log-level warning: at info it would log every message the client
	sends, and the report would measure the logging. Below info it names
	neither its port nor the moment it serves, so the port is the one its
	listening socket has (harness.listening_ports()); connections made
	before its workers accept wait in the backlog. One worker thread
	unless the row says --threads.
	"""

	def __init__(self, binary, engine, mode, extra, env=None):
		threads = [] if "--threads" in extra else ["--threads", "1"]
		super().__init__(["--mode", mode, "--log-level", "warning",
				  "--max-connections", "20000"] + threads + extra,
				 binary=binary, engine=engine, name="bench-" + engine, env=env)

	def wait_serving(self, timeout=5.0):
		def listening():
			if self.proc.poll() is not None:
				raise RuntimeError("tcpack did not start (exit %d): %s\n%s" % (
					self.proc.returncode, " ".join(self.argv()), self.log()))
			return harness.listening_ports(self.pid)
		self.ports = harness.wait_until(listening, timeout, "tcpack to listen")
		self.port = self.ports[0]
		time.sleep(0.1)
		return self

	def stop(self, sig=signal.SIGTERM, timeout=10.0):
		"""The exit status; SIGKILL after @timeout s is recorded, not raised."""
		try:
			return super().stop(sig, timeout)
		except AssertionError:
			return self.proc.returncode


_floor_ids = itertools.count(1)


class FloorServer:
	"""
	A floor server (bench/floor/) for one measurement: `NAME 127.0.0.1:0`,
	stderr to a file in the harness's scratch directory, the port its
	listening socket has; SIGTERM ends it (exit 0).
	"""

	def __init__(self, binary, name):
		self.binary, self.name = binary, name
		self.stderr_path = harness.tmp_path("bench-%s-%d.stderr" % (name, next(_floor_ids)))
		self.proc = None

	def argv(self):
		return [self.binary, "127.0.0.1:0"]

	def log(self):
		try:
			with open(self.stderr_path, "rb") as f:
				return f.read().decode("utf-8", "replace")
		except OSError:
			return ""

	@property
	def pid(self):
		return self.proc.pid

	def start(self, timeout=5.0):
		with open(self.stderr_path, "wb") as err:
			self.proc = subprocess.Popen(self.argv(), stdin=subprocess.DEVNULL,
						     stdout=subprocess.DEVNULL, stderr=err)

		def listening():
			if self.proc.poll() is not None:
				raise RuntimeError("%s did not start (exit %d): %s\n%s" % (
					self.name, self.proc.returncode, " ".join(self.argv()), self.log()))
			return harness.listening_ports(self.pid)
		try:
			self.port = harness.wait_until(listening, timeout, self.name + " to listen")[0]
		except BaseException:
			self.stop()
			raise
		time.sleep(0.1)
		return self

	def stop(self, sig=signal.SIGTERM, timeout=10.0):
		"""The exit status; SIGKILL after @timeout s (then negative)."""
		if self.proc.poll() is None:
			self.proc.send_signal(sig)
		try:
			return self.proc.wait(timeout)
		except subprocess.TimeoutExpired:
			self.proc.kill()
			return self.proc.wait()


def floor_binaries(build_dir):
	"""The floor servers the build directory has, by name; a missing one is
	said once and its runs left out."""
	out = {}
	for name in FLOORS.values():
		path = os.path.join(build_dir, "bench", "floor", name)
		if os.access(path, os.X_OK):
			out[name] = path
		else:
			log("warning: %s missing: the floor comparison leaves it out" % path)
	return out


def start_server(cfg, row, server):
	"""A fresh server for one run: tcpack with engine @server, or the floor
	server of that name."""
	if server in ENGINES:
		return BenchServer(cfg.tcpack, server, row["mode"], row["server"], row.get("env")).start()
	return FloorServer(cfg.floors[server], server).start()


def sleep_until(t):
	d = t - time.monotonic()
	if d > 0:
		time.sleep(d)


def run_load(cfg, row, engine):
	"""One measurement: a fresh server (tcpack with @engine, or the floor
	server @engine names), one tcpack-bench run, the server's CPU sampled
	inside the measured window."""
	srv = start_server(cfg, row, engine)
	try:
		cmd = [cfg.bench, "--port", str(srv.port), "-j", "-q",
		       "-w", "%g" % cfg.warmup, "-d", "%g" % cfg.duration] + row["client"]
		t0 = time.monotonic()
		bench = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
					 stderr=subprocess.PIPE)
		# The measured window is [t0 + warmup, t0 + warmup + duration] give or
		# take the client's thread start-up; sample strictly inside it, clear
		# of its edges.
		a = t0 + cfg.warmup + min(0.25, cfg.duration * 0.1)
		b = t0 + cfg.warmup + cfg.duration - min(0.15, cfg.duration * 0.05)
		sleep_until(a)
		s0, c0, y0, w0 = task_cpu_ns(srv.pid), task_cpu_ns(bench.pid), system_busy_s(), time.monotonic()
		sleep_until(b)
		s1, c1, y1, w1 = task_cpu_ns(srv.pid), task_cpu_ns(bench.pid), system_busy_s(), time.monotonic()
		try:
			out, err = bench.communicate(timeout=cfg.warmup + cfg.duration + 30)
		except subprocess.TimeoutExpired:
			bench.kill()
			out, err = bench.communicate()
	finally:
		rc = srv.stop()
	if bench.returncode not in (0, 1):
		raise RuntimeError("tcpack-bench failed (%d): %s\n%s" % (bench.returncode, " ".join(cmd),
			err.decode(errors="replace")))
	j = json.loads(out)
	wall = w1 - w0
	server_cores = (s1 - s0) / 1e9 / wall
	client_cores = (c1 - c0) / 1e9 / wall if c0 is not None and c1 is not None else float("nan")
	others = (y1 - y0) / wall - server_cores - client_cores
	if row["unit"] == "MiB":
		ops = j["mib_per_s"]
	else:
		ops = j["throughput"]
	lat = j.get("latency_us") or {}
	r = dict(engine=engine, throughput=j["throughput"], mib_per_s=j["mib_per_s"],
		 ops_per_s=ops, p50=lat.get("p50"), p99=lat.get("p99"),
		 server_cores=server_cores, client_cores=client_cores, other_cores=others,
		 cpu_us_per_op=server_cores * 1e6 / ops if ops > 0 else float("nan"),
		 errors=j["errors"], errors_by_kind=j["errors_by_kind"],
		 server_exit=rc, window_s=wall)
	if j["errors"]:
		r["bench_stderr"] = err.decode(errors="replace")[-2000:]
	if rc != 0:
		r["server_stderr"] = srv.log()[-2000:]
	return r


def start_iperf3_server(tries=5):
	"""
	iperf3 -s for one client on 127.0.0.1. It takes no port 0, so it is
	offered a port that was free a moment ago, and another one if someone
	took that meanwhile (iperf3 then exits before it listens).
	"""
	for _ in range(tries):
		port = harness.free_port()
		srv = subprocess.Popen(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port), "-1"],
				       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
				       stderr=subprocess.DEVNULL)
		# No probe connection: iperf3 -s -1 would take it as its one client.
		deadline = time.monotonic() + 5
		while srv.poll() is None and port not in harness.listening_ports(srv.pid):
			if time.monotonic() > deadline:
				srv.kill()
				srv.wait()
				raise RuntimeError("iperf3 -s did not listen")
			time.sleep(0.05)
		if srv.poll() is None:
			return srv, port
	raise RuntimeError("iperf3 -s exited %d times without listening" % tries)


def run_iperf3(cfg):
	"""iperf3's loopback figure: server on 127.0.0.1 only, one stream, with the
	same warmup (--omit) and duration as the load rows."""
	srv, port = start_iperf3_server()
	try:
		cli = subprocess.run(["iperf3", "-c", "127.0.0.1", "-p", str(port), "-J",
				      "-t", "%g" % cfg.duration, "-O", "%d" % max(1, round(cfg.warmup))],
				     capture_output=True, text=True, timeout=cfg.duration + cfg.warmup + 30)
		j = json.loads(cli.stdout)
		if "error" in j:
			raise RuntimeError("iperf3: %s" % j["error"])
		mib = j["end"]["sum_received"]["bits_per_second"] / 8 / 2**20
		return dict(engine="iperf3", mib_per_s=mib, ops_per_s=mib, throughput=mib, errors=0)
	finally:
		try:
			srv.wait(timeout=5)
		except subprocess.TimeoutExpired:
			srv.kill()
			srv.wait()


def open_idle(port, n):
	conns = []
	for i in range(n):
		s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
		s.setsockopt(socket.IPPROTO_IP, clients.IP_BIND_ADDRESS_NO_PORT, 1)  # the port at connect
		s.bind(("127.0.0.%d" % (1 + i % IDLE_SOURCES), 0))
		s.settimeout(5)
		s.connect(("127.0.0.1", port))
		conns.append(s)
	return conns


def accept_queue(port):
	ss = subprocess.run(["ss", "-Htln", "sport = :%d" % port], capture_output=True, text=True)
	f = ss.stdout.split()
	return int(f[1]) if len(f) > 1 else 0


def established(port):
	ss = subprocess.run(["ss", "-Htn", "state", "established", "sport = :%d" % port],
			    capture_output=True, text=True)
	return len(ss.stdout.splitlines())


def run_rss(cfg, row, engine):
	"""VmRSS of a fresh server, then with IDLE_CONNS idle connections. Each
	worker allocates its connection slots for max-connections up front, so the
	difference alone misses them: a server started with --max-connections 100
	gives the floor that the all-in figure is taken from."""
	soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
	if soft < IDLE_CONNS + 100 and hard > soft:
		resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, IDLE_CONNS + 1000), hard))
	extra = ["--reply", LINE_REPLY, "--idle-timeout", "0"]
	small = BenchServer(cfg.tcpack, engine, "line", extra + ["--max-connections", "100"]).start()
	try:
		time.sleep(0.3)
		floor = small.rss_kib()
	finally:
		small.stop()
	srv = BenchServer(cfg.tcpack, engine, "line", extra).start()
	conns = []
	try:
		time.sleep(0.3)
		base = srv.rss_kib()
		conns = open_idle(srv.port, IDLE_CONNS)
		deadline = time.monotonic() + 10
		while accept_queue(srv.port) and time.monotonic() < deadline:
			time.sleep(0.05)
		time.sleep(1.0)  # accepted; let every worker arm its receives
		rss = srv.rss_kib()
		held = established(srv.port)
		# every connection still answers: one line on a few of them
		ok = 0
		for s in conns[:: IDLE_CONNS // 10]:
			s.sendall(b"x\n")
			ok += s.recv(16) == b"ACK\n"
	finally:
		for s in conns:
			s.close()
		srv.stop()
	return dict(engine=engine, floor_kib=floor, base_kib=base, rss_kib=rss, held=held,
		    kib_per_conn=(rss - base) / IDLE_CONNS, kib_per_conn_all=(rss - floor) / IDLE_CONNS,
		    ops_per_s=float("nan"), throughput=float("nan"), errors=10 - ok + (IDLE_CONNS - held))


def measure(cfg, rows, meta, t_start):
	"""
	Every row, engine after engine within each round (uring, epoll, uring,
	...), each run on a fresh server; a run others disturbed is taken
	again once if they leave soon. Returns the summaries and the raw runs.
	"""
	summaries, raw = [], []
	for n, row in enumerate(rows, 1):
		if row["kind"] == "iperf3" and not shutil.which("iperf3"):
			continue
		rounds = cfg.rounds_target if row["target"] else cfg.rounds
		busy = wait_quiet(meta)
		log("[%d/%d] %s  (%d rounds, others %.2f cores, %.0f s so far)" % (
			n, len(rows), row["id"], rounds, busy, time.monotonic() - t_start))
		results = []
		servers = [x for x in row_servers(row) if x in ENGINES or x in cfg.floors]
		for i in range(rounds):
			if row["kind"] == "iperf3":
				results.append(run_iperf3(cfg))
				continue
			for e in servers:
				if row["kind"] == "rss":
					r = run_rss(cfg, row, e)
				else:
					r = run_load(cfg, row, e)
					if r["other_cores"] > REDO_CORES and meta["redos"] < MAX_REDOS:
						# measured once more, if others settle soon enough
						if wait_quiet(meta, 20) <= QUIET_CORES:
							log("    %s round %d: others used %.2f cores; measuring it again" % (
								e, i + 1, r["other_cores"]))
							meta["redos"] += 1
							r = run_load(cfg, row, e)
							r["redone"] = True
				r["round"] = i
				results.append(r)
		raw.append(dict(id=row["id"], results=results))
		s = summarize(row, results, servers)
		s["mode"] = row.get("mode")
		summaries.append(s)
		if s["kind"] == "load":
			log("    cpu µs/%s uring %s epoll %s ratio %s | thr ratio %s%s" % (
				row["unit"], fnum(s["uring"]["cpu_us_per_op"]), fnum(s["epoll"]["cpu_us_per_op"]),
				fr(s["ratio"]["cpu"]), fr(s["ratio"]["ops"]),
				"".join(" | %s %s, tcpack/floor %s" % (f["server"], fnum(s[f["server"]]["cpu_us_per_op"]),
								       fr(f["cpu"])) for f in s.get("floor", {}).values())))
	return summaries, raw
