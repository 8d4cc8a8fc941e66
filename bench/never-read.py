#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Server memory per client that sends without ever reading.

    bench/never-read.py [--build DIR] [--rounds N] [--clients N] [--modes echo,line]

For each round, mode and variant in turn (io_uring with the kernel's
receive limit, io_uring with TCPACK_TEST_RING=nolimit, as on kernels before
6.15, and epoll), a fresh `tcpack --threads 1 --mode MODE` (line mode:
`--reply` of 1000 bytes, so that a client's output reaches max-pending
after about 26 KiB of 100-byte lines) takes N clients (default 100) that
each push bytes without reading until the server has accepted nothing for
1 s (at most 64 MiB each). The RSS of the server (VmRSS) before the clients
connect and once every client has stalled, divided by N, is the memory one
such client makes tcpack hold: its output up to max-pending, the input
taken in past it (H of the memory bound), and what the kernel's buffers
do not hold. Prints one line per run and the medians.
"""
import argparse, os, re, socket, statistics, subprocess, sys, threading, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
import harness  # noqa: E402

ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
ap.add_argument("--build", default="build", help="build directory (default build)")
ap.add_argument("--rounds", type=int, default=3)
ap.add_argument("--clients", type=int, default=100)
ap.add_argument("--modes", default="echo,line")
ARGS = ap.parse_args()

VARIANTS = {
	"uring": ("uring", None),
	"uring-nolimit": ("uring", "nolimit"),
	"epoll": ("epoll", None),
}
REPLY = "R" * 998 + "\\r\\n"
CAP = 64 << 20


def rss_kib(pid):
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if line.startswith("VmRSS:"):
				return int(line.split()[1])
	raise RuntimeError("no VmRSS for pid %d" % pid)


def run(mode, variant):
	engine, hook = VARIANTS[variant]
	args = ["--threads", "1", "--mode", mode, "--idle-timeout", "60", "--max-connections", "1000"]
	if mode == "line":
		args += ["--reply", REPLY]
	env = {"TCPACK_TEST_RING": hook} if hook else None
	data = (b"y" * 99 + b"\n") * (1 << 12) if mode == "line" else None
	with harness.Server(args, binary=os.path.join(ARGS.build, "tcpack"), engine=engine,
			    env=env, name="never-read") as srv:
		time.sleep(0.3)
		before = rss_kib(srv.pid)
		socks, sent = [], []

		def client(i, barrier):
			s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
			s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
			s.connect(("127.0.0.1", srv.port))
			barrier.wait(10)
			n = harness.send_without_reading(s, CAP, chunk=1 << 16, timeout=60, stall=1.0,
							 data=data * 40 if data else None)
			return s, n

		results = harness.run_concurrently(client, ARGS.clients, timeout=120)
		after = rss_kib(srv.pid)
		for s, n in results:
			sent.append(n)
			s.close()
	return {"kib_per_client": (after - before) / ARGS.clients, "before": before, "after": after,
		"sent_mib": sum(sent) / ARGS.clients / (1 << 20)}


def main():
	modes = ARGS.modes.split(",")
	res = {(m, v): [] for m in modes for v in VARIANTS}
	for rnd in range(1, ARGS.rounds + 1):
		for m in modes:
			for v in VARIANTS:
				x = run(m, v)
				res[(m, v)].append(x)
				print("round %d %-5s %-14s %7.1f KiB/client (RSS %d -> %d KiB, each sent %.1f MiB)"
				      % (rnd, m, v, x["kib_per_client"], x["before"], x["after"], x["sent_mib"]),
				      flush=True)
	print("\nmedians")
	for (m, v), xs in res.items():
		print("%-5s %-14s %7.1f KiB/client" % (m, v, statistics.median(x["kib_per_client"] for x in xs)))


if __name__ == "__main__":
	main()
