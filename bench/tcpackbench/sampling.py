# SPDX-License-Identifier: MIT
"""
/proc, read while a row runs: the CPU time of every thread of a process
(schedstat, in ns), the machine's busy time, and how much of the CPUs
others are using, waited out before a row when it is too much, with the
limits that decide it. (A server's RSS is the harness's Server.rss_kib().)
"""
import os
import time

from . import log

# What others may use of the CPUs, in cores, and what is done when they use more.
QUIET_CORES = 0.30             # CPU used by others (in cores) above which a row waits
QUIET_WAIT_S = 60              # ... for at most this long
DISTURBED_CORES = 0.30         # a row that kept a run where others used more than this is flagged
				# (the load itself keeps ksoftirqd, kworkers and rcu somewhat busy)
REDO_CORES = 0.30              # a run where others used more than this is measured once more
MAX_REDOS = 15                 # redone measurements per run at most (bounds the run time)


def task_cpu_ns(pid):
	"""user+sys CPU of every thread of pid, in ns (schedstat's first field).
	Python integers: no 2^31 cap."""
	total = 0
	try:
		tasks = os.listdir("/proc/%d/task" % pid)
	except OSError:
		return None
	for tid in tasks:
		try:
			with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
				total += int(f.read().split()[0])
		except (OSError, ValueError, IndexError):
			pass  # a thread that just exited
	return total


def system_busy_s():
	"""Busy CPU time of the whole machine in seconds (every field of /proc/stat's
	cpu line but idle and iowait)."""
	with open("/proc/stat") as f:
		fields = [int(x) for x in f.readline().split()[1:]]
	hz = os.sysconf("SC_CLK_TCK")
	idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
	# guest and guest_nice are already in user and nice
	busy = sum(fields[:8]) - idle
	return busy / hz


def loadavg():
	with open("/proc/loadavg") as f:
		return " ".join(f.read().split()[:3])


def foreign_cores(sample_s=1.0):
	"""Cores busy over sample_s while this script runs nothing: other people's work."""
	b0, t0 = system_busy_s(), time.monotonic()
	time.sleep(sample_s)
	return (system_busy_s() - b0) / (time.monotonic() - t0)


def wait_quiet(stats, limit_s=QUIET_WAIT_S):
	"""Before a row: if others are using the CPUs, wait up to limit_s for them to
	settle, within what is left of the run's waiting budget (a fuzzer that runs
	for ten minutes must not add a minute to every row). The load average is no
	gauge here: our own previous row keeps it up for a minute."""
	busy = foreign_cores()
	if busy <= QUIET_CORES:
		return busy
	limit_s = min(limit_s, stats["wait_budget"])
	if limit_s < 1:
		return busy
	log("  others are using %.2f cores (load %s); waiting up to %d s" % (busy, loadavg(), limit_s))
	t0 = time.monotonic()
	while busy > QUIET_CORES and time.monotonic() - t0 < limit_s:
		busy = foreign_cores(2.0)
	stats["waits"] += 1
	stats["waited_s"] += time.monotonic() - t0
	stats["wait_budget"] -= time.monotonic() - t0
	if busy > QUIET_CORES:
		stats["busy_starts"] += 1
		log("  still %.2f cores busy; running anyway" % busy)
	return busy
