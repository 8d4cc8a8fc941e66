#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Summarise meson's testlog.json; fail on skips where io_uring works.

A skip is only acceptable where io_uring itself is refused: the probe
program (tests/uring-probe) says whether it works here.
"""
import json
import os
import subprocess
import sys

build, label = sys.argv[1], sys.argv[2]
# Suites whose tests all run on io_uring: a skip there hides a failure when
# io_uring works. The system suite may skip where nspawn cannot run at all
# (inside a container, say); it says why.
URING_SUITES = {"unit", "integration", "docs"}
# Suites whose tools scripts/test installs (prometheus): a skip there means
# the tool could not run after all, never that it is missing: a failure.
INSTALLED_SUITES = {"monitoring"}

results = {}
allowed_skips = []
with open(os.path.join(build, "meson-logs", "testlog.json")) as f:
    for line in f:
        t = json.loads(line)
        # meson 1.0 names a test "PROJECT:SUITE / NAME"; newer ones also list suites.
        suites = {s.split(":")[-1] for s in t.get("suite", [])}
        suites.add(t["name"].split(" / ")[0].split(":")[-1])
        if t["result"] == "SKIP" and suites & INSTALLED_SUITES:
            print(f"{label}: {t['name']} skipped although scripts/test installs what it needs: failing")
            results.setdefault("FAIL", []).append(t["name"])
            continue
        if t["result"] == "SKIP" and not suites & URING_SUITES:
            allowed_skips.append(t["name"])
            continue
        results.setdefault(t["result"], []).append(t["name"])

passed = len(results.get("OK", []))
skipped = results.get("SKIP", [])
failed = sum(len(v) for k, v in results.items() if k not in ("OK", "SKIP", "EXPECTEDFAIL"))

probe = subprocess.run([os.path.join(build, "tests", "uring-probe")],
                       capture_output=True, text=True)
uring_works = probe.returncode == 0
print(f"{label}: io_uring {'works' if uring_works else 'refused'} here: {probe.stdout.strip()}")
if skipped:
    print(f"{label}: skipped: {', '.join(skipped)}")
    if uring_works:
        print(f"{label}: tests were skipped on a machine where io_uring works: failing")
        failed += len(skipped)
        skipped = []
if allowed_skips:
    print(f"{label}: skipped where they cannot run (see their output): {', '.join(allowed_skips)}")
    skipped = skipped + allowed_skips
print(f"{label}: {passed} passed, {failed} failed" + (f", {len(skipped)} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
