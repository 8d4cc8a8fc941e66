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
results = {}
with open(os.path.join(build, "meson-logs", "testlog.json")) as f:
    for line in f:
        t = json.loads(line)
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
print(f"{label}: {passed} passed, {failed} failed" + (f", {len(skipped)} skipped" if skipped else ""))
sys.exit(1 if failed else 0)
