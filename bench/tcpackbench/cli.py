# SPDX-License-Identifier: MIT
"""bench/run's command line: which rows, how long, what to write."""
import argparse
import datetime
import json
import os
import re
import time

from . import ENGINES, ROOT, log
from .build import build, ensure_packages
from .matrix import FLOORS, QUICK_IDS, build_matrix
from .report import floor_rows, machine_info, print_console, targets, write_docs
from .running import floor_binaries, measure
from .sampling import loadavg


def main():
	ap = argparse.ArgumentParser(description="Benchmark tcpack's io_uring engine against its epoll engine "
				     "on loopback and write docs/BENCHMARKS.md.")
	ap.add_argument("--quick", action="store_true", help="a few rows, fewer rounds, shorter runs (about 2 min)")
	ap.add_argument("--rows", metavar="PATTERN", help="only the rows whose id matches this regular expression")
	ap.add_argument("--list", action="store_true", help="print the row ids and exit")
	ap.add_argument("--rounds", type=int, help="rounds per engine for every row (default 3, 5 for target rows)")
	ap.add_argument("--duration", type=float, help="measured seconds per run (default 3)")
	ap.add_argument("--warmup", type=float, help="warmup seconds per run (default 1)")
	ap.add_argument("--build-dir", default=os.path.join(ROOT, "build-bench-report"),
			help="release build directory (set up and built when needed)")
	ap.add_argument("--no-build", action="store_true", help="use the build directory as it is")
	wr = ap.add_mutually_exclusive_group()
	wr.add_argument("--write", dest="write", action="store_true", default=None,
			help="write docs/BENCHMARKS.md and docs/benchmarks.png (default for the full matrix only)")
	wr.add_argument("--no-write", dest="write", action="store_false")
	ap.add_argument("--json", metavar="FILE", help="also save every measurement as JSON")
	ap.add_argument("--wait-budget", type=float, metavar="SECONDS",
			help="longest total wait for others to leave the CPUs (default 240, 60 with --quick)")
	ap.add_argument("--report-from", metavar="FILE",
			help="measure nothing: write docs/BENCHMARKS.md and the chart from a --json file")
	cfg = ap.parse_args()

	rows = build_matrix()
	if cfg.list:
		for r in rows:
			print(r["id"] + ("   (+ %s)" % ", ".join(FLOORS.values()) if r.get("floor") else ""))
		return 0
	full = not cfg.quick and not cfg.rows
	if cfg.quick:
		rows = [r for r in rows if r["id"] in QUICK_IDS]
	if cfg.rows:
		rx = re.compile(cfg.rows)
		rows = [r for r in rows if rx.search(r["id"])]
		if not rows:
			log("no row matches %r (see --list)" % cfg.rows)
			return 2
	if cfg.write is None:
		cfg.write = full
	cfg.duration = cfg.duration or (2.0 if cfg.quick else 3.0)
	cfg.warmup = cfg.warmup if cfg.warmup is not None else (0.5 if cfg.quick else 1.0)
	cfg.rounds_target = cfg.rounds or (3 if cfg.quick else 5)
	cfg.rounds = cfg.rounds or 3
	if cfg.wait_budget is None:
		cfg.wait_budget = 60.0 if cfg.quick else 240.0

	if cfg.report_from:
		with open(cfg.report_from) as f:
			saved = json.load(f)
		for k, v in saved["meta"]["cfg"].items():
			setattr(cfg, k, v)
		write_docs(cfg, saved["summaries"], saved["info"], saved["meta"])
		return 0

	ensure_packages()
	if not cfg.no_build:
		build(cfg.build_dir)
	cfg.tcpack = os.path.join(cfg.build_dir, "tcpack")
	cfg.bench = os.path.join(cfg.build_dir, "src", "bench", "tcpack-bench")
	for b in (cfg.tcpack, cfg.bench):
		if not os.access(b, os.X_OK):
			log("missing %s" % b)
			return 1
	cfg.floors = floor_binaries(cfg.build_dir) if any(r.get("floor") for r in rows) else {}

	info = machine_info(cfg)
	t_start = time.monotonic()
	meta = dict(date=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
		    load_start=loadavg(), waits=0, busy_starts=0, redos=0, waited_s=0.0,
		    wait_budget=cfg.wait_budget, cfg=dict(duration=cfg.duration, warmup=cfg.warmup, rounds=cfg.rounds,
						     rounds_target=cfg.rounds_target, wait_budget=cfg.wait_budget))
	log("tcpack %s (%s), %d rows, load average %s" % (info["version"], info["commit"], len(rows), meta["load_start"]))
	summaries, raw = measure(cfg, rows, meta, t_start)
	meta["load_end"] = loadavg()
	secs = time.monotonic() - t_start
	meta["wall"] = "%d min %02d s" % (secs // 60, secs % 60)
	print_console(summaries)
	print()
	for name, measured, goal, met, margin in targets({s["id"]: s for s in summaries}):
		print("%-7s %s: %s (goal %s; %s)" % ("met" if met else "MISSED", name, measured, goal, margin))
	print("\nwall time %s; load average %s at the start, %s at the end; %d waits for others (%.0f s), "
	      "%d measurements redone" % (meta["wall"], meta["load_start"], meta["load_end"], meta["waits"],
					  meta["waited_s"], meta["redos"]))
	if cfg.json:
		with open(cfg.json, "w") as f:
			json.dump(dict(info=info, meta=meta, summaries=summaries, floor=floor_rows(summaries), raw=raw),
				  f, indent=1)
	errs = [s["id"] for s in summaries
		if any(s[e]["errors"] for e in ENGINES + tuple(FLOORS.values()) if e in s)]
	if errs:
		print("\nERRORS in %s (see --json for the client's messages)" % ", ".join(errs))
	if cfg.write:
		write_docs(cfg, summaries, info, meta)
	return 1 if errs else 0
