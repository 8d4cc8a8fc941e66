#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Server CPU per exchange: the two floors against tcpack's two engines.

    bench/floor/measure.py [BUILD_DIR] [ROUNDS]     (default build-floor, 3)

Each round starts each server in turn (floor-uring, floor-epoll, tcpack uring,
tcpack epoll), reads the sum of the first field of /proc/PID/task/*/schedstat
(ns on CPU, every thread), runs

    tcpack-bench -m oneshot -c 50 -d 5 --source-addrs 8 --linger0 --port PORT

reads it again, and divides by the connections the bench completed. "other"
is the CPU that neither the server nor the client used during the run (from
/proc/stat): what else ran on the machine, the noise. Each run waits (up to
5 min) for the machine to be quiet first. Prints one line per run and the
medians.
"""
import glob, json, os, re, signal, statistics, subprocess, sys, time

BUILD = sys.argv[1] if len(sys.argv) > 1 else "build-floor"
ROUNDS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
TCPACK = [f"{BUILD}/tcpack", "--listen", "127.0.0.1:0", "--threads", "1", "--log-level", "warning"]
SERVERS = {
	"floor-uring": [f"{BUILD}/bench/floor/floor-uring"],
	"floor-epoll": [f"{BUILD}/bench/floor/floor-epoll"],
	"tcpack-uring": TCPACK + ["--engine", "uring"],
	"tcpack-epoll": TCPACK + ["--engine", "epoll"],
}
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
	srv = subprocess.Popen(SERVERS[name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	try:
		port = port_of(srv.pid)
		time.sleep(0.2)
		c0, b0 = cpu_ns(srv.pid), busy_s()
		bench = subprocess.run([f"{BUILD}/src/bench/tcpack-bench", "-m", "oneshot", "-c", "50",
				       "-d", "5", "--source-addrs", "8", "--linger0", "-j", "-q",
				       "--port", str(port)], capture_output=True, text=True)
		c1, b1 = cpu_ns(srv.pid), busy_s()
	finally:
		srv.send_signal(signal.SIGTERM)
		srv.wait()
	r = json.loads(bench.stdout)
	server_s = (c1 - c0) / 1e9
	return {"us": server_s * 1e6 / r["requests"], "rate": r["throughput"], "errors": r["errors"],
		"other": (b1 - b0) - server_s - r["client_cpu_s"], "exit": srv.returncode}


def main():
	res = {n: [] for n in SERVERS}
	for rnd in range(1, ROUNDS + 1):
		for name in SERVERS:
			if not wait_quiet():
				print("machine busy: measuring anyway", flush=True)
			x = run(name)
			res[name].append(x)
			print(f"round {rnd} {name:13s} {x['us']:6.2f} µs/exchange {x['rate']:8.0f}/s "
			      f"errors {x['errors']} other-cpu {x['other']:5.2f} s exit {x['exit']}", flush=True)
	print("\nmedians")
	for name, xs in res.items():
		print(f"{name:13s} {statistics.median(x['us'] for x in xs):6.2f} µs/exchange "
		      f"{statistics.median(x['rate'] for x in xs):8.0f}/s")


if __name__ == "__main__":
	main()
