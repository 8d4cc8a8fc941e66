# SPDX-License-Identifier: MIT
"""
tcpack's benchmark report, the package behind bench/run: the io_uring
engine against the epoll engine on loopback.

    matrix     the rows: what the server and the client are told
    sampling   /proc: a process's CPU time, the machine's, waiting for quiet
    running    the processes: tcpack (the harness's Server), the floor servers, tcpack-bench, iperf3
    stats      medians and ratios of the rounds
    report     console table, targets, docs/BENCHMARKS.md and the chart
    build      the tools the run needs and the release build
    cli        bench/run's command line
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ENGINES = ("uring", "epoll")


def log(msg):
	print(msg, file=sys.stderr, flush=True)
