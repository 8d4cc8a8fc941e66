# SPDX-License-Identifier: MIT
"""The rounds of a row, summarized: medians per engine (and floor server),
uring/epoll ratios, tcpack/floor ratios, spread."""
import statistics

from . import ENGINES
from .matrix import FLOORS


def med(results, key):
	vals = [r[key] for r in results if r.get(key) is not None and r[key] == r[key]]
	return statistics.median(vals) if vals else None


def ratio(a, b):
	if a is None or b is None or not b:
		return None
	return a / b


def summarize(row, results, servers=ENGINES):
	"""Medians of each server the row ran (@servers: the engines, and the
	floors when they ran too), the uring/epoll ratios and, with the floors,
	tcpack's CPU per operation over its floor's (s["floor"], by engine)."""
	s = dict(id=row["id"], unit=row["unit"], kind=row["kind"], note=row.get("note", ""),
		 client=row.get("client_engine"))
	for e in (servers if row["kind"] != "iperf3" else ("iperf3",)):
		rs = [r for r in results if r["engine"] == e]
		m = dict(rounds=len(rs))
		for k in ("ops_per_s", "throughput", "mib_per_s", "p50", "p99", "cpu_us_per_op",
			  "server_cores", "client_cores", "other_cores", "floor_kib", "base_kib", "rss_kib",
			  "kib_per_conn", "kib_per_conn_all", "held"):
			m[k] = med(rs, k)
		m["errors"] = sum(r.get("errors", 0) for r in rs)
		m["max_other_cores"] = max((r.get("other_cores") or 0.0 for r in rs), default=0.0)
		m["cpu_values"] = [r.get("cpu_us_per_op") for r in rs]
		m["ops_values"] = [r.get("ops_per_s") for r in rs]
		s[e] = m
	if row["kind"] != "iperf3":
		u, p = s["uring"], s["epoll"]
		s["ratio"] = dict(ops=ratio(u["ops_per_s"], p["ops_per_s"]),
				  p50=ratio(u["p50"], p["p50"]), p99=ratio(u["p99"], p["p99"]),
				  cpu=ratio(u["cpu_us_per_op"], p["cpu_us_per_op"]))
	floors = {e: f for e, f in FLOORS.items() if f in s}
	if floors:
		s["floor"] = {}
		for e, f in floors.items():
			# round by round: each tcpack run next to the floor run after it
			pairs = [ratio(a, b) for a, b in zip(s[e]["cpu_values"], s[f]["cpu_values"])]
			s["floor"][e] = dict(server=f, cpu=ratio(s[e]["cpu_us_per_op"], s[f]["cpu_us_per_op"]),
					     ops=ratio(s[e]["ops_per_s"], s[f]["ops_per_s"]), cpu_rounds=pairs)
	return s


def spread(s):
	"""The run-to-run noise of a row: half the range of one engine's CPU/op
	over its rounds, relative to its median; the larger of the two engines."""
	out = 0.0
	for e in ENGINES:
		vals = [v for v in s[e]["cpu_values"] if v is not None]
		m = s[e]["cpu_us_per_op"]
		if len(vals) > 1 and m:
			out = max(out, (max(vals) - min(vals)) / 2 / m)
	return out
