#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Server CPU per exchange: the two floors against tcpack's two engines.

    bench/floor/measure.py [--build DIR] [--rounds N] [--client uring|epoll]
                           [--before DIR] [--before-env K=V] [--only REGEX]
                           [--load oneshot|line-c50|line-c1|echo-64k]

Each round starts each server in turn (floor-uring, floor-epoll, tcpack uring,
tcpack epoll, and with --before the same two from another build, for an A/B
in one alternating run), reads the sum of the first field of
/proc/PID/task/*/schedstat (ns on CPU, every thread), runs

    tcpack-bench -m oneshot -c 50 -d 5 --source-addrs 8 --linger0 --port PORT
                 --client CLIENT

reads it again, and divides by the connections the bench completed (with
--load line-c50 or line-c1 instead: line mode, 128 B messages, 50 or 1
connection, pipeline 1, per message; --load echo-64k: echo mode, 64 KiB
messages, 50 connections, per message; the floors serve neither and are
left out; p50 latency is printed too). --before-env sets a variable for
the "before" servers only (TCPACK_TEST_RING=nounread, say: one build, two
settings; --before defaults to --build then). "other"
is the CPU that neither the server nor the client used during the run (from
/proc/stat): what else ran on the machine, the noise. Each run waits (up to
5 min) for the machine to be quiet first. Prints one line per run and the
medians.
"""
import argparse, glob, json, os, re, signal, statistics, subprocess, sys, time

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--build", default="build-floor", help="release build directory (default build-floor)")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--client", choices=("uring", "epoll"), default="uring")
ap.add_argument("--before", metavar="DIR", help="another build's tcpack, measured beside this one")
ap.add_argument("--before-env", metavar="K=V", action="append", default=[],
		help="environment of the before servers")
ap.add_argument("--only", metavar="REGEX", help="only the servers whose name matches")
ap.add_argument("--load", choices=("oneshot", "line-c50", "line-c1", "echo-64k"), default="oneshot")
ARGS = ap.parse_args()
BUILD = ARGS.build
if ARGS.before_env and not ARGS.before:
	ARGS.before = BUILD
BEFORE_ENV = dict(os.environ, **dict(kv.split("=", 1) for kv in ARGS.before_env))
LOADS = {
	"oneshot": ["-m", "oneshot", "-c", "50", "--source-addrs", "8", "--linger0"],
	"line-c50": ["-m", "line", "-e", "ACK\\n", "-s", "128", "-c", "50", "-P", "1"],
	"line-c1": ["-m", "line", "-e", "ACK\\n", "-s", "128", "-c", "1", "-P", "1"],
	"echo-64k": ["-m", "echo", "-s", "64K", "-c", "50", "-P", "1"],
}


def tcpack(build, engine):
	mode = {"oneshot": [], "echo-64k": ["--mode", "echo"]}.get(ARGS.load, ["--mode", "line", "--reply", "ACK\\n"])
	return [f"{build}/tcpack", "--listen", "127.0.0.1:0", "--threads", "1", "--log-level", "warning",
		"--engine", engine] + mode


SERVERS = {
	"floor-uring": [f"{BUILD}/bench/floor/floor-uring"],
	"floor-epoll": [f"{BUILD}/bench/floor/floor-epoll"],
	"tcpack-uring": tcpack(BUILD, "uring"),
	"tcpack-epoll": tcpack(BUILD, "epoll"),
}
if ARGS.before:
	SERVERS["before-uring"] = tcpack(ARGS.before, "uring")
	SERVERS["before-epoll"] = tcpack(ARGS.before, "epoll")
if ARGS.load != "oneshot":
	SERVERS = {k: v for k, v in SERVERS.items() if not k.startswith("floor")}
if ARGS.only:
	SERVERS = {k: v for k, v in SERVERS.items() if re.search(ARGS.only, k)}
HZ = os.sysconf("SC_CLK_TCK")


def cpu_ns(pid):
	return sum(int(open(f).read().split()[0]) for f in glob.glob(f"/proc/{pid}/task/*/schedstat"))


def busy_s():	# all CPUs, every state but idle and iowait
	f = [int(x) for x in open("/proc/stat").readline().split()[1:]]
	return (sum(f) - f[3] - f[4]) / HZ


def port_of(pid):
	for _ in range(100):
		out = subprocess.run(["ss", "-Hltnp"], capture_output=True, text=True).stdout
		m = re.search(rf":(\d+)\s.*pid={pid},", out)
		if m:
			return int(m.group(1))
		time.sleep(0.05)
	raise RuntimeError(f"pid {pid} does not listen")


def wait_quiet(limit_s=300):	# the machine under 5 % busy for 3 s, or give up
	end = time.time() + limit_s
	while time.time() < end:
		b0, t0 = busy_s(), time.time()
		time.sleep(3)
		if busy_s() - b0 < 0.05 * os.cpu_count() * (time.time() - t0):
			return True
	return False


def run(name):
	srv = subprocess.Popen(SERVERS[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
			       env=BEFORE_ENV if name.startswith("before") else None)
	try:
		port = port_of(srv.pid)
		time.sleep(0.2)
		c0, b0 = cpu_ns(srv.pid), busy_s()
		bench = subprocess.run([f"{BUILD}/src/bench/tcpack-bench"] + LOADS[ARGS.load] +
				       ["-d", "5", "-j", "-q", "--port", str(port), "--client", ARGS.client],
				       capture_output=True, text=True)
		c1, b1 = cpu_ns(srv.pid), busy_s()
	finally:
		srv.send_signal(signal.SIGTERM)
		srv.wait()
	r = json.loads(bench.stdout)
	if not r["requests"]:
		raise RuntimeError(f"{name}: tcpack-bench completed nothing: {bench.stderr.strip()}")
	server_s = (c1 - c0) / 1e9
	return {"us": server_s * 1e6 / r["requests"], "rate": r["throughput"], "errors": r["errors"],
		"p50": r["latency_us"]["p50"],
		"other": (b1 - b0) - server_s - r["client_cpu_s"], "exit": srv.returncode}


def main():
	res = {n: [] for n in SERVERS}
	for rnd in range(1, ARGS.rounds + 1):
		for name in SERVERS:
			if not wait_quiet():
				print("machine busy: measuring anyway", flush=True)
			x = run(name)
			res[name].append(x)
			print(f"round {rnd} {name:13s} {x['us']:6.2f} µs/exchange {x['rate']:8.0f}/s p50 {x['p50']:7.1f} µs "
			      f"errors {x['errors']} other-cpu {x['other']:5.2f} s exit {x['exit']}", flush=True)
	print("\nmedians")
	for name, xs in res.items():
		print(f"{name:13s} {statistics.median(x['us'] for x in xs):6.2f} µs/exchange "
		      f"{statistics.median(x['rate'] for x in xs):8.0f}/s "
		      f"p50 {statistics.median(x['p50'] for x in xs):7.1f} µs")


if __name__ == "__main__":
	main()
