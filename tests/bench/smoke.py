#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-smoke: tcpack-bench against the real tcpack, correctness only.

Starts tcpack on 127.0.0.1 port 0 in each mode (and with each --engine the
binary offers) and runs tcpack-bench for about a second with 20 connections.
Asserts exit status 0, zero errors and a non-zero request count in the --json
output; then that a wrong --expect is reported as errors with exit status 1,
and that a target outside loopback is refused with exit status 2 before any
connection is made. Throughput is never asserted: that is the benchmark
report's business.

Usage: smoke.py TCPACK TCPACK-BENCH
Exit status: 0 passed, 1 failed, 77 skipped (io_uring refused here).
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

SKIP = 77
LISTENING = re.compile(r"^listening on 127\.0\.0\.1:(\d+)", re.M)
REFUSED = re.compile(r"io_uring is not available|cannot set up io_uring|"
                     r"cannot register provided buffers")
SANITIZER = re.compile(r"runtime error:|ERROR: \w*Sanitizer")
BENCH_TIMEOUT = 30	# seconds; a run asks for about one


class Skip(Exception):
	pass


class Server:
	"""One tcpack on 127.0.0.1:0; stderr goes to a file, never a pipe it could fill."""

	def __init__(self, binary, args):
		self.log = tempfile.NamedTemporaryFile(prefix="bench-smoke-", suffix=".log")
		# info level for the "listening on" line; client events limited to one a second.
		cmd = [binary, "--listen", "127.0.0.1:0", "--log-level", "info",
		       "--log-rate-limit", "1"] + args
		self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
					     stdout=subprocess.DEVNULL, stderr=self.log)
		self.port = None
		deadline = time.monotonic() + 10
		while time.monotonic() < deadline:
			text = self.text()
			m = LISTENING.search(text)
			if m:
				self.port = int(m.group(1))
				return
			if self.proc.poll() is not None:
				if REFUSED.search(text):
					raise Skip("tcpack: " + text.strip().splitlines()[-1])
				raise AssertionError("tcpack exited with %d:\n%s" % (self.proc.returncode, text))
			time.sleep(0.05)
		self.stop()
		raise AssertionError("tcpack printed no 'listening on' line:\n" + self.text())

	def text(self):
		with open(self.log.name, encoding="utf-8", errors="replace") as f:
			return f.read()

	def stop(self):
		if self.proc.poll() is None:
			self.proc.send_signal(signal.SIGTERM)
			try:
				self.proc.wait(timeout=10)
			except subprocess.TimeoutExpired:
				self.proc.kill()
				self.proc.wait()
		self.log.close()


def bench(binary, port, args):
	"""Runs tcpack-bench --json; returns (exit status, parsed JSON or None, stderr)."""
	cmd = [binary, "127.0.0.1:%d" % port, "--json", "--quiet"] + args
	p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
			   timeout=BENCH_TIMEOUT)
	if REFUSED.search(p.stderr):
		raise Skip("tcpack-bench: " + p.stderr.strip().splitlines()[-1])
	# Under ASan/UBSan a report may not change the exit status: read it.
	if SANITIZER.search(p.stderr):
		raise AssertionError("sanitizer report from tcpack-bench %s:\n%s" % (args, p.stderr))
	try:
		result = json.loads(p.stdout) if p.stdout.strip() else None
	except json.JSONDecodeError as e:
		raise AssertionError("not JSON (%s): %r" % (e, p.stdout))
	return p.returncode, result, p.stderr


def engines(tcpack):
	"""The --engine values this tcpack offers, or [None] when it has no such option."""
	text = subprocess.run([tcpack, "--help"], capture_output=True, text=True).stdout
	if not re.search(r"--engine\b", text):
		return [None]
	found = [e for e in ("uring", "epoll") if re.search(r"\b%s\b" % e, text)]
	return found or [None]


# (name, server arguments, tcpack-bench arguments)
CASES = [
	("oneshot", ["--mode", "oneshot"], ["--mode", "oneshot", "-c", "20", "-d", "1"]),
	("line pipeline 1", ["--mode", "line", "--reply", r"ACK\n"],
	 ["--mode", "line", "--expect", r"ACK\n", "-c", "20", "-P", "1", "-d", "1"]),
	("line pipeline 8", ["--mode", "line", "--reply", r"ACK\n"],
	 ["--mode", "line", "--expect", r"ACK\n", "-c", "20", "-P", "8", "-s", "128", "-d", "1"]),
	("echo", ["--mode", "echo"], ["--mode", "echo", "-c", "20", "-P", "4", "-s", "300", "-d", "1"]),
	("discard", ["--mode", "discard"], ["--mode", "discard", "-c", "20", "-P", "4", "-d", "1"]),
]


def check_clean(name, status, result, stderr):
	assert result is not None, "%s: no JSON output; stderr:\n%s" % (name, stderr)
	assert result["errors"] == 0, "%s: %d errors %s; stderr:\n%s" % (
		name, result["errors"], result["errors_by_kind"], stderr)
	assert result["requests"] > 0, "%s: no request completed" % name
	assert status == 0, "%s: exit status %d; stderr:\n%s" % (name, status, stderr)


def run(tcpack, tcpack_bench):
	for engine in engines(tcpack):
		extra = ["--engine", engine] if engine else []
		label = " (%s)" % engine if engine else ""
		for name, server_args, bench_args in CASES:
			server = Server(tcpack, server_args + extra)
			try:
				status, result, stderr = bench(tcpack_bench, server.port, bench_args)
				check_clean(name + label, status, result, stderr)
			finally:
				server.stop()
			print("ok %s%s: %d %ss, %.0f/s" % (name, label, result["requests"], result["unit"],
							  result["throughput"]))

		# A wrong --expect must be caught: errors counted, exit status 1.
		server = Server(tcpack, ["--mode", "line", "--reply", r"ACK\n"] + extra)
		try:
			status, result, stderr = bench(tcpack_bench, server.port,
						       ["--mode", "line", "--expect", r"NAK\n", "-c", "4",
							"-d", "0.5"])
		finally:
			server.stop()
		assert result is not None, "wrong --expect: no JSON output; stderr:\n" + stderr
		assert result["errors"] > 0 and result["errors_by_kind"]["mismatch"] > 0, \
			"wrong --expect: no mismatch counted: %s" % result
		assert status == 1, "wrong --expect: exit status %d, not 1" % status
		assert "differs" in stderr, "wrong --expect: no error line on stderr:\n" + stderr
		print("ok wrong --expect%s: %d errors, exit status 1" % (label, result["errors"]))

	# Only loopback may be loaded: refused before any connection, exit status 2.
	p = subprocess.run([tcpack_bench, "192.0.2.1:9", "-d", "0.1"], capture_output=True,
			   text=True, timeout=BENCH_TIMEOUT)
	assert p.returncode == 2 and "loopback" in p.stderr, \
		"non-loopback target: exit status %d, stderr %r" % (p.returncode, p.stderr)
	print("ok non-loopback target refused")


def main():
	if len(sys.argv) != 3:
		print(__doc__, file=sys.stderr)
		return 2
	tcpack, tcpack_bench = (os.path.abspath(a) for a in sys.argv[1:3])
	try:
		run(tcpack, tcpack_bench)
	except Skip as e:
		print("SKIP: io_uring is refused here: %s" % e)
		return SKIP
	except (AssertionError, subprocess.TimeoutExpired) as e:
		print("FAIL: %s" % e)
		return 1
	print("all passed")
	return 0


if __name__ == "__main__":
	sys.exit(main())
