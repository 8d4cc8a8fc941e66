#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""bench-smoke: tcpack-bench against the real tcpack, correctness only.

Starts tcpack on 127.0.0.1 port 0 in each mode (and with each --engine the
binary offers) and runs tcpack-bench with each --client (uring, epoll) for
about a second with 20 connections. Asserts exit status 0, zero errors, a
non-zero request count and the client named in the --json output; then, for
each client, that a wrong --expect is reported as errors with exit status 1
and a server that never answers as timeouts; that the epoll client's
oneshot with --linger0, --source-addrs and --threads and its open loop run
clean; and that a target outside loopback is refused with exit status 2
before any connection is made. Throughput is never asserted: that is the
benchmark report's business.

Usage: smoke.py TCPACK TCPACK-BENCH (tests/lib on PYTHONPATH, as meson runs it)
Exit status: 0 passed, 1 failed, 77 skipped (io_uring refused here).
"""
import json
import os
import re
import subprocess
import sys

import harness
from harness import Server

SANITIZER = re.compile(r"runtime error:|ERROR: \w*Sanitizer")
BENCH_TIMEOUT = 30	# seconds; a run asks for about one

_bench = None


def setup_module():
	global _bench
	if len(sys.argv) != 3:
		print(__doc__, file=sys.stderr)
		sys.exit(2)
	_bench = os.path.abspath(sys.argv[2])


def server(args, engine):
	"""One tcpack on 127.0.0.1:0; client events logged at most once a second."""
	return Server(args + ["--log-rate-limit", "1"], engine=engine or "", name="bench-smoke")


# tcpack-bench's --client values: its io_uring engine, and the readiness one.
CLIENTS = ("uring", "epoll")


def bench(port, args, client):
	"""Runs tcpack-bench --json; returns (exit status, parsed JSON or None, stderr)."""
	cmd = [_bench, "127.0.0.1:%d" % port, "--json", "--quiet", "--client", client] + args
	p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
			   timeout=BENCH_TIMEOUT)
	if harness.URING_REFUSED.search(p.stderr):
		raise harness.UringRefused("tcpack-bench: " + p.stderr.strip().splitlines()[-1])
	# Under ASan/UBSan a report may not change the exit status: read it.
	if SANITIZER.search(p.stderr):
		raise AssertionError("sanitizer report from tcpack-bench %s:\n%s" % (args, p.stderr))
	try:
		result = json.loads(p.stdout) if p.stdout.strip() else None
	except json.JSONDecodeError as e:
		raise AssertionError("not JSON (%s): %r" % (e, p.stdout))
	return p.returncode, result, p.stderr


def engines():
	"""The --engine values this tcpack offers, or [None] when it has no such option."""
	text = subprocess.run([harness.binary(), "--help"], capture_output=True, text=True).stdout
	if not re.search(r"--engine\b", text):
		return [None]
	found = [e for e in ("uring", "epoll") if re.search(r"\b%s\b" % e, text)]
	return found or [None]


def label(engine, client):
	"""Which server engine and which client ran."""
	return " (%sclient %s)" % ("server %s, " % engine if engine else "", client)


# (name, server arguments, tcpack-bench arguments)
CASES = [
	("oneshot", ["--mode", "oneshot"], ["--mode", "oneshot", "-c", "20", "-d", "1"]),
	("line pipeline 1", ["--mode", "line", "--reply", r"ACK\n"],
	 ["--mode", "line", "--expect", r"ACK\n", "-c", "20", "-P", "1", "-d", "1"]),
	("line pipeline 4", ["--mode", "line", "--reply", r"ACK\n"],
	 ["--mode", "line", "--expect", r"ACK\n", "-c", "20", "-P", "4", "-d", "1"]),
	("line pipeline 8", ["--mode", "line", "--reply", r"ACK\n"],
	 ["--mode", "line", "--expect", r"ACK\n", "-c", "20", "-P", "8", "-s", "128", "-d", "1"]),
	("echo", ["--mode", "echo"], ["--mode", "echo", "-c", "20", "-P", "4", "-s", "300", "-d", "1"]),
	("discard", ["--mode", "discard"], ["--mode", "discard", "-c", "20", "-P", "4", "-d", "1"]),
]


def check_clean(name, status, result, stderr, client):
	assert result is not None, "%s: no JSON output; stderr:\n%s" % (name, stderr)
	assert result["client"] == client, "%s: JSON names client %r" % (name, result["client"])
	assert result["errors"] == 0, "%s: %d errors %s; stderr:\n%s" % (
		name, result["errors"], result["errors_by_kind"], stderr)
	assert result["requests"] > 0, "%s: no request completed" % name
	assert status == 0, "%s: exit status %d; stderr:\n%s" % (name, status, stderr)


@harness.budget(150)
def test_every_mode_runs_clean():
	for engine in engines():
		for name, server_args, bench_args in CASES:
			with server(server_args, engine) as srv:
				for client in CLIENTS:
					status, result, stderr = bench(srv.port, bench_args, client)
					check_clean(name + label(engine, client), status, result, stderr,
						    client)
					print("  %s%s: %d %ss, %.0f/s" % (name, label(engine, client),
									  result["requests"], result["unit"],
									  result["throughput"]))


def test_wrong_expect_is_counted_and_fails():
	for engine in engines():
		with server(["--mode", "line", "--reply", r"ACK\n"], engine) as srv:
			for client in CLIENTS:
				what = "wrong --expect" + label(engine, client)
				status, result, stderr = bench(srv.port, ["--mode", "line", "--expect",
									  r"NAK\n", "-c", "4", "-d", "0.5"],
							       client)
				assert result is not None, "%s: no JSON output; stderr:\n%s" % (what, stderr)
				assert result["errors"] > 0 and result["errors_by_kind"]["mismatch"] > 0, \
					"%s: no mismatch counted: %s" % (what, result)
				assert status == 1, "%s: exit status %d, not 1" % (what, status)
				assert "differs" in stderr, "%s: no error line on stderr:\n%s" % (what, stderr)
				print("  %s: %d errors, exit status 1" % (what, result["errors"]))


def test_silent_server_times_out():
	# A discard server never answers a line: every connection times out.
	with server(["--mode", "discard"], None) as srv:
		for client in CLIENTS:
			what = "silent server" + label(None, client)
			status, result, stderr = bench(srv.port, ["--mode", "line", "--expect", r"ACK\n",
								  "-c", "4", "-d", "0.5", "--timeout", "100ms"],
						       client)
			assert result is not None, "%s: no JSON output; stderr:\n%s" % (what, stderr)
			assert result["errors_by_kind"]["timeout"] > 0 and result["requests"] == 0, \
				"%s: no timeout counted: %s" % (what, result)
			assert status == 1, "%s: exit status %d, not 1" % (what, status)
			print("  %s: %d timeouts, exit status 1" % (what, result["errors_by_kind"]["timeout"]))


def test_epoll_client_options():
	# What the io_uring client's tests cover elsewhere, through the epoll client.
	runs = [
		("oneshot --linger0 --source-addrs 4 -t 2", ["--mode", "oneshot"],
		 ["--mode", "oneshot", "-c", "20", "-t", "2", "--linger0", "--source-addrs", "4",
		  "-d", "1"]),
		("line open loop -P 4", ["--mode", "line", "--reply", r"ACK\n"],
		 ["--mode", "line", "--expect", r"ACK\n", "-c", "10", "-P", "4", "-r", "5k", "-d", "1"]),
		("echo 100K messages", ["--mode", "echo"],
		 ["--mode", "echo", "-c", "4", "-P", "2", "-s", "100K", "-n", "400"]),
	]
	for name, server_args, bench_args in runs:
		with server(server_args, None) as srv:
			status, result, stderr = bench(srv.port, bench_args, "epoll")
		check_clean(name + label(None, "epoll"), status, result, stderr, "epoll")
		print("  %s%s: %d %ss, %.0f/s" % (name, label(None, "epoll"), result["requests"],
						  result["unit"], result["throughput"]))


def test_non_loopback_target_refused():
	# Only loopback may be loaded: refused before any connection, exit status 2.
	p = subprocess.run([_bench, "192.0.2.1:9", "-d", "0.1"], capture_output=True,
			   text=True, timeout=BENCH_TIMEOUT)
	assert p.returncode == 2 and "loopback" in p.stderr, \
		"non-loopback target: exit status %d, stderr %r" % (p.returncode, p.stderr)


harness.main(globals())
