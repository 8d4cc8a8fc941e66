# SPDX-License-Identifier: MIT
"""
What a run shows: the console table, the targets next to what was
measured, and docs/BENCHMARKS.md with its chart (gnuplot) and the section
bench/notes.md holds.
"""
import os
import shutil
import subprocess
import sys
import tempfile

from . import ENGINES, ROOT, log
from .matrix import EPOLL_CLIENT, FLOORS, IDLE_CONNS, IDLE_SOURCES
from .sampling import DISTURBED_CORES, MAX_REDOS, QUIET_CORES, QUIET_WAIT_S, REDO_CORES
from .stats import ratio, spread


def fnum(v, digits=3):
	if v is None or v != v:
		return "–"
	if v >= 100000:
		return "%.0fk" % (v / 1000)
	if v >= 1000:
		return "%.0f" % v
	return "%.*g" % (digits, v)


def fr(v):
	return "–" if v is None else "%.2f" % v


CLIENT_NAMES = {"uring": "io_uring", "epoll": "epoll"}


def client_name(s):
	return CLIENT_NAMES.get(s.get("client") or "uring", s.get("client"))


def floor_rows(summaries):
	"""tcpack against the floor, for every row the floors ran beside (the
	JSON's "floor" and the report's table): per engine tcpack's and its
	floor's CPU per operation and throughput (medians), their ratio, and the
	ratio round by round."""
	out = []
	for s in summaries:
		if s.get("kind") != "load" or not s.get("floor"):
			continue
		r = dict(id=s["id"], client=s.get("client") or "uring", unit=s["unit"])
		for e, f in s["floor"].items():
			r[e] = dict(floor=f["server"], tcpack_cpu_us_per_op=s[e]["cpu_us_per_op"],
				    floor_cpu_us_per_op=s[f["server"]]["cpu_us_per_op"], cpu_ratio=f["cpu"],
				    tcpack_ops_per_s=s[e]["ops_per_s"], floor_ops_per_s=s[f["server"]]["ops_per_s"],
				    ops_ratio=f["ops"], cpu_ratio_rounds=f["cpu_rounds"],
				    floor_cpu_values=s[f["server"]]["cpu_values"],
				    floor_errors=s[f["server"]]["errors"])
		out.append(r)
	return out


def floor_table_lines(summaries):
	"""The report's "tcpack against the floor" table (markdown)."""
	rows = floor_rows(summaries)
	if not rows:
		return []
	lines = ["| row | client | tcpack uring CPU µs/op | floor-uring | **tcpack-uring / floor-uring** "
		 "| tcpack epoll CPU µs/op | floor-epoll | **tcpack-epoll / floor-epoll** | op/s: floor-uring, floor-epoll |",
		 "|" + "---|" * 9]
	for r in rows:
		cells = []
		for e in ENGINES:
			m = r.get(e)
			if not m:
				cells += ["–", "–", "–"]
				continue
			cells += [fnum(m["tcpack_cpu_us_per_op"]), fnum(m["floor_cpu_us_per_op"]) + (
				" (errors: %d)" % m["floor_errors"] if m["floor_errors"] else ""), "**%s×**" % fr(m["cpu_ratio"])]
		ops = ", ".join(fnum(r[e]["floor_ops_per_s"]) if e in r else "–" for e in ENGINES)
		lines.append("| `%s` | %s | %s | %s |" % (r["id"], CLIENT_NAMES.get(r["client"], r["client"]),
							 " | ".join(cells), ops))
	return lines


def table_lines(summaries):
	head = ("| row | op | uring op/s | epoll op/s | ratio | uring p50 / p99 µs | epoll p50 / p99 µs "
		"| p99 ratio | uring CPU µs/op | epoll CPU µs/op | CPU ratio |")
	lines = [head, "|" + "---|" * 11]
	for s in summaries:
		if s["kind"] != "load":
			continue
		u, p, r = s["uring"], s["epoll"], s["ratio"]
		lat = lambda m: "–" if m["p50"] is None else "%s / %s" % (fnum(m["p50"]), fnum(m["p99"]))
		flag = ""
		if max(u["max_other_cores"], p["max_other_cores"]) > DISTURBED_CORES:
			flag = " †"
		if u["errors"] or p["errors"]:
			flag += " (errors: %d / %d)" % (u["errors"], p["errors"])
		lines.append("| `%s`%s | %s | %s | %s | %s | %s | %s | %s | %s | %s | **%s** |" % (
			s["id"], flag, s["unit"], fnum(u["ops_per_s"]), fnum(p["ops_per_s"]),
			fr(r["ops"]), lat(u), lat(p), fr(r["p99"]),
			fnum(u["cpu_us_per_op"]), fnum(p["cpu_us_per_op"]), fr(r["cpu"])))
	return lines


def print_console(summaries):
	print()
	print("%-30s %5s %10s %10s %6s %17s %17s %9s %9s %6s" % (
		"row", "unit", "uring/s", "epoll/s", "ratio", "uring p50/p99", "epoll p50/p99",
		"uringCPU", "epollCPU", "ratio"))
	for s in summaries:
		if s["kind"] == "load":
			u, p, r = s["uring"], s["epoll"], s["ratio"]
			lat = lambda m: "-" if m["p50"] is None else "%s/%s" % (fnum(m["p50"]), fnum(m["p99"]))
			print("%-30s %5s %10s %10s %6s %17s %17s %9s %9s %6s%s" % (
				s["id"], s["unit"], fnum(u["ops_per_s"]), fnum(p["ops_per_s"]), fr(r["ops"]),
				lat(u), lat(p), fnum(u["cpu_us_per_op"]), fnum(p["cpu_us_per_op"]), fr(r["cpu"]),
				"  errors %d/%d" % (u["errors"], p["errors"]) if u["errors"] or p["errors"] else ""))
		elif s["kind"] == "iperf3":
			print("%-30s %5s %10s" % (s["id"], "MiB", fnum(s["iperf3"]["ops_per_s"])))
		elif s["kind"] == "rss":
			for e in ENGINES:
				m = s[e]
				print("%-30s %5s %s: %s KiB fresh (%s KiB with --max-connections 100), %s KiB holding %s: "
				      "+%.2f KiB/conn, %.2f KiB/conn all-in" % (
					s["id"] if e == "uring" else "", "KiB", e, fnum(m["base_kib"]), fnum(m["floor_kib"]),
					fnum(m["rss_kib"]), fnum(m["held"]), m["kib_per_conn"], m["kib_per_conn_all"]))
	frows = floor_rows(summaries)
	if frows:
		print()
		print("tcpack against the floor: server CPU µs/op (medians), tcpack / floor")
		print("%-30s %8s %9s %11s %6s %9s %11s %6s" % (
			"row", "client", "uringCPU", "floor-uring", "ratio", "epollCPU", "floor-epoll", "ratio"))
		for r in frows:
			cells = []
			for e in ENGINES:
				m = r.get(e)
				cells += [fnum(m["tcpack_cpu_us_per_op"]), fnum(m["floor_cpu_us_per_op"]),
					  fr(m["cpu_ratio"])] if m else ["-", "-", "-"]
			print("%-30s %8s %9s %11s %6s %9s %11s %6s" % tuple(
				[r["id"], CLIENT_NAMES.get(r["client"], r["client"])] + cells))
	sys.stdout.flush()


def targets(by_id):
	"""The targets next to what this run measured."""
	out = []

	def add(name, measured, goal, met, margin):
		out.append((name, measured, goal, met, margin))

	def at_most(v, limit):
		if v <= limit:
			return "%.2f under the limit" % (limit - v)
		return "**%.2f over** (%.0f %% more than allowed)" % (v - limit, (v / limit - 1) * 100)

	def at_least(v, floor):
		if v >= floor:
			return "%.2f above" % (v - floor)
		return "**%.2f short** (%.0f %% less than required)" % (floor - v, (1 - v / floor) * 100)

	def cpu_target(rid, limit, label):
		s = by_id.get(rid)
		if not s or s["ratio"]["cpu"] is None:
			return
		v = s["ratio"]["cpu"]
		add("%s: CPU/op" % label, "%.2f× (%s / %s µs)" % (v, fnum(s["uring"]["cpu_us_per_op"]),
			fnum(s["epoll"]["cpu_us_per_op"])), "≤ %.2f×" % limit, v <= limit, at_most(v, limit))

	def floor_target(rid, engine, limit, label):
		s = by_id.get(rid)
		f = (s or {}).get("floor", {}).get(engine)
		if not f or f["cpu"] is None:
			return
		v = f["cpu"]
		add("%s: tcpack %s vs %s, CPU/exchange" % (label, engine, f["server"]),
		    "%.2f× (tcpack %s / floor %s µs)" % (v, fnum(s[engine]["cpu_us_per_op"]),
							fnum(s[f["server"]]["cpu_us_per_op"])),
		    "≤ %.2f× %s" % (limit, f["server"]), v <= limit, at_most(v, limit))

	for p in (1, 16):
		rid = "line/128B/c50/p%d" % p
		s = by_id.get(rid)
		if not s:
			continue
		if p == 1:
			# the io_uring client leaves the server more to gain than the epoll one
			cpu_target(rid, 0.75, "line 128 B, 50 conns, P1, io_uring client")
			cpu_target(rid + EPOLL_CLIENT, 0.85, "line 128 B, 50 conns, P1, epoll client")
		else:
			cpu_target(rid, 0.85, "line 128 B, 50 conns, P%d" % p)
		v = s["ratio"]["ops"]
		add("line 128 B, 50 conns, P%d: throughput" % p, "%.2f× (%s / %s msg/s)" % (
			v, fnum(s["uring"]["ops_per_s"]), fnum(s["epoll"]["ops_per_s"])),
		    "≥ 1.00×", v >= 1.0, at_least(v, 1.0))
		v = s["ratio"]["p99"]
		add("line 128 B, 50 conns, P%d: p99" % p, "%.2f× (%s / %s µs)" % (
			v, fnum(s["uring"]["p99"]), fnum(s["epoll"]["p99"])),
		    "≤ 1.15×", v <= 1.15, at_most(v, 1.15))
	cpu_target("line/128B/c500/p1", 0.80, "line 128 B, 500 conns, P1, io_uring client")
	cpu_target("line/128B/c500/p1" + EPOLL_CLIENT, 0.80, "line 128 B, 500 conns, P1, epoll client")
	cpu_target("line/128B/c5000/p1", 0.80, "line 128 B, 5000 conns, P1, io_uring client")
	cpu_target("line/128B/c5000/p1" + EPOLL_CLIENT, 0.80, "line 128 B, 5000 conns, P1, epoll client")
	cpu_target("line/128B/c50/p1/client-2t", 0.75, "client competing (2 client threads)")
	cpu_target("oneshot/c50", 0.85, "oneshot")
	for rid, client in (("oneshot/c50", "io_uring"), ("oneshot/c50" + EPOLL_CLIENT, "epoll")):
		floor_target(rid, "uring", 1.05, "oneshot, 50 conns, %s client" % client)
		floor_target(rid, "epoll", 1.10, "oneshot, 50 conns, %s client" % client)
	one, two = by_id.get("oneshot/c50"), by_id.get("oneshot/c50/2-workers")
	if one and two:
		for e in ENGINES:
			v = two[e]["ops_per_s"] / one[e]["ops_per_s"]
			add("oneshot connection rate, 2 workers vs 1 (%s)" % e, "%.2f× (%s / %s conn/s)" % (
				v, fnum(two[e]["ops_per_s"]), fnum(one[e]["ops_per_s"])),
			    "≥ 1.00×", v >= 1.0, at_least(v, 1.0))
	loads = [s for s in by_id.values() if s["kind"] == "load" and s["ratio"]["cpu"] is not None]
	if loads:
		worst = max(loads, key=lambda s: s["ratio"]["cpu"])
		bad = [s for s in loads if s["ratio"]["cpu"] > 1.05]
		add("no row worse than epoll by more than 5 % (CPU/op)",
		    "worst %.2f× (`%s`); %d of %d rows above 1.05×" % (worst["ratio"]["cpu"], worst["id"], len(bad), len(loads)),
		    "every row ≤ 1.05×", not bad,
		    "; ".join("`%s` %.2f× (rounds of one engine spread ±%.0f %%)" % (
			s["id"], s["ratio"]["cpu"], 100 * spread(s)) for s in bad) or "none above 1.05×")
	singles = [s for s in loads if "/c1/" in s["id"] + "/" and s["mode"] == "line" and s["ratio"]["p50"]]
	if singles:
		bad = [s for s in singles if s["ratio"]["p50"] > 1.05]
		worst = max(singles, key=lambda s: s["ratio"]["p50"])
		add("single connection p50 within 5 %",
		    "worst %.2f× (`%s`)" % (worst["ratio"]["p50"], worst["id"]),
		    "≤ 1.05× epoll's", not bad,
		    "; ".join("`%s` %.2f×" % (s["id"], s["ratio"]["p50"]) for s in bad) or "all within")
	d, i = by_id.get("discard/128KiB/c1/p4"), by_id.get("iperf3/loopback")
	if d and i and i["iperf3"]["ops_per_s"]:
		v = d["uring"]["ops_per_s"] / i["iperf3"]["ops_per_s"]
		add("discard throughput vs iperf3 loopback (uring)", "%.0f %% (%s vs %s MiB/s; epoll %.0f %%)" % (
			v * 100, fnum(d["uring"]["ops_per_s"]), fnum(i["iperf3"]["ops_per_s"]),
			100 * d["epoll"]["ops_per_s"] / i["iperf3"]["ops_per_s"]),
		    "≥ 90 %", v >= 0.9, "%+.0f points" % ((v - 0.9) * 100))
	r = by_id.get("rss/10k-idle")
	if r:
		for e in ENGINES:
			v = r[e]["kib_per_conn_all"]
			add("RSS of 10,000 idle connections (%s), all-in" % e,
			    "%.2f KiB/conn (%+.2f KiB over a fresh server)" % (v, r[e]["kib_per_conn"]),
			    "≤ 2 KiB", v <= 2.0, at_most(v, 2.0).replace("under the limit", "KiB under").replace("over**", "KiB over**"))
	return out


def machine_info(cfg):
	info = {}
	with open("/proc/cpuinfo") as f:
		for line in f:
			if line.startswith("model name"):
				info["cpu"] = line.split(":", 1)[1].strip()
				break
	info["cores"] = os.cpu_count()
	with open("/proc/meminfo") as f:
		info["mem_gib"] = int(f.readline().split()[1]) / 2**20
	info["kernel"] = os.uname().release
	info["os"] = ""
	try:
		with open("/etc/os-release") as f:
			for line in f:
				if line.startswith("PRETTY_NAME="):
					info["os"] = line.split("=", 1)[1].strip().strip('"')
	except OSError:
		pass
	v = subprocess.run([cfg.tcpack, "--version"], capture_output=True, text=True)
	info["version"] = v.stdout.strip()
	g = lambda *a: subprocess.run(["git", "-C", ROOT] + list(a), capture_output=True, text=True).stdout
	info["commit"] = g("rev-parse", "--short", "HEAD").strip()
	dirty = [l[3:] for l in g("status", "--porcelain", "--untracked-files=no").splitlines()
		 if not l[3:].startswith(("docs/", "bench/", "README.md"))]
	info["dirty"] = dirty
	cc = subprocess.run(["cc", "--version"], capture_output=True, text=True).stdout.splitlines()
	info["cc"] = cc[0] if cc else ""
	return info


def write_chart(summaries, path):
	"""Two panels: server CPU per operation of each engine per row (log scale:
	units differ), and the uring/epoll ratio with the parity line."""
	if not shutil.which("gnuplot"):
		log("gnuplot missing: no chart")
		return False
	rows = [s for s in summaries if s["kind"] == "load" and s["uring"]["cpu_us_per_op"]]
	if not rows:
		return False
	with tempfile.TemporaryDirectory() as d:
		data = os.path.join(d, "cpu.dat")
		with open(data, "w") as f:
			for s in rows:
				label = s["id"].replace("/client-2t", " 2t").replace(EPOLL_CLIENT, " epoll-cl").replace("/", " ") \
					+ " (/%s)" % s["unit"]
				f.write('"%s" %.6g %.6g %.6g\n' % (label, s["uring"]["cpu_us_per_op"],
								 s["epoll"]["cpu_us_per_op"], s["ratio"]["cpu"]))
		n = len(rows)
		script = """
set terminal pngcairo size %(w)d,960 font "DejaVu Sans,10" noenhanced
set output "%(out)s"
set multiplot layout 2,1 title "tcpack: server CPU per operation, io_uring engine vs epoll engine (medians, lower is better)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set grid ytics
set xtics rotate by -40 scale 0 font ",8"
set key top left
set logscale y
set ylabel "server CPU µs per op (log scale)"
set xrange [-0.6:%(n)d-0.4]
plot "%(data)s" using 2:xtic(1) title "uring" lc rgb "#1f77b4", "" using 3 title "epoll" lc rgb "#ff7f0e"
unset logscale y
set ylabel "uring / epoll, server CPU per op"
set yrange [0:1.3<*]
set key top right
plot "%(data)s" using 0:4:(0.6):($4 > 1.05 ? 0xd62728 : 0x2ca02c):xtic(1) with boxes lc rgb variable notitle, \\
     "" using 0:4:(sprintf("%%.2f", $4)) with labels offset 0,0.7 font ",8" notitle, \\
     1 title "parity" lw 2 lc rgb "black" dt 2, \\
     0.85 title "0.85 (target, 50 conns: P16; P1 with the epoll client)" lw 1 lc rgb "#d62728" dt 3, \\
     0.75 title "0.75 (target, 50 conns P1 with the io_uring client)" lw 1 lc rgb "#9467bd" dt 3
unset multiplot
""" % dict(w=max(1200, 44 * n), out=path, data=data, n=n)
		r = subprocess.run(["gnuplot"], input=script, capture_output=True, text=True)
		if r.returncode:
			log("gnuplot failed: %s" % r.stderr)
			return False
	return True


def write_report(cfg, summaries, info, meta, path, chart_ok):
	by_id = {s["id"]: s for s in summaries}
	L = []
	L.append("# tcpack benchmarks: io_uring engine vs epoll engine")
	L.append("")
	L.append("Written by `bench/run` on %s (wall time %s). Rerun it to measure your own machine; "
		 "`bench/run --quick` takes about two minutes." % (meta["date"], meta["wall"]))
	L.append("")
	if chart_ok:
		L.append("![server CPU per operation, uring vs epoll](benchmarks.png)")
		L.append("")
	L.append("## Machine")
	L.append("")
	L.append("| | |")
	L.append("|---|---|")
	L.append("| CPU | %s, %d cores (client and server share them) |" % (info["cpu"], info["cores"]))
	L.append("| memory | %.1f GiB |" % info["mem_gib"])
	L.append("| kernel | Linux %s (%s) |" % (info["kernel"], info["os"]))
	L.append("| tcpack | %s, commit %s%s, `-Dbuildtype=release`, %s |" % (
		info["version"], info["commit"],
		" plus uncommitted changes in %s" % ", ".join(info["dirty"]) if info["dirty"] else "",
		info["cc"]))
	L.append("| date | %s |" % meta["date"])
	L.append("| load average | %s at the start, %s at the end (1, 5, 15 min) |" % (meta["load_start"], meta["load_end"]))
	L.append("| others' CPU | shared machine: before each row the script waits (≤ %d s, ≤ %d s in all) while others use more than %.2f cores: %d waits, %.0f s in all, %d times it went on regardless; a measurement during which others used more than %.2f cores is taken again once when they leave (%d were, at most %d per run); rows marked † kept a measurement during which others used more than %.2f cores |" % (
		QUIET_WAIT_S, cfg.wait_budget, QUIET_CORES, meta["waits"], meta["waited_s"], meta["busy_starts"],
		REDO_CORES, meta["redos"], MAX_REDOS, DISTURBED_CORES))
	L.append("")
	L.append("## Method")
	L.append("")
	L.append("- **Alternation.** For every row the script starts a fresh `tcpack` for each engine in turn, "
		 "uring, epoll, uring, epoll, … (%d rounds for the rows a target names, %d for the others), "
		 "on the same machine with the same client, and reports the **median** of the rounds per engine. "
		 "A ratio is uring's median over epoll's; below 1 means uring spends less CPU (or has lower latency), "
		 "above 1 means more throughput. The oneshot rows run the floor servers in the same rounds, each "
		 "after tcpack's engine of its kind: uring, %s, epoll, %s, …" % (
			 cfg.rounds_target, cfg.rounds, FLOORS["uring"], FLOORS["epoll"]))
	L.append("- **Server.** `tcpack --config EMPTY --listen 127.0.0.1:0 --engine E --mode M --log-level warning "
		 "--max-connections 20000 --threads 1` (an empty config file, so no installed one applies; the port is the one its "
		 "listening socket got): one worker thread, as the targets are stated, except `oneshot/c50/2-workers` "
		 "(`--threads 2`, a worker per core). Line mode answers `--reply 'ACK\\n'` "
		 "with `--max-message 4K` (so 4 KiB lines fit); "
		 "oneshot answers the default reply.")
	L.append("- **Client.** `tcpack-bench` (one io_uring thread unless the row says otherwise; rows ending in "
		 "`%s` run it with `--client epoll`, a readiness-based client: level-triggered epoll, one write per "
		 "turn, one read per readiness), closed loop, "
		 "warmup %g s, measured %g s, every reply checked byte for byte; a row with errors says so. "
		 "Throughput and p50/p99 latency are the client's: messages per second (line, echo 128 B), "
		 "connections per second (oneshot), MiB/s sent (echo 64 KiB, discard)." % (
			 EPOLL_CLIENT, cfg.warmup, cfg.duration))
	L.append("- **Server CPU per operation** is the sum over *all* threads of the server of the first field of "
		 "`/proc/PID/task/*/schedstat` (ns of user+sys CPU; the main thread only supervises, the workers do the "
		 "work), read twice strictly inside the client's measured window (%.2f s after it starts, %.2f s before it "
		 "ends). Their difference over the wall time between the reads is the server's CPU rate in cores; divided "
		 "by the client's throughput it is µs of server CPU per message (per connection for oneshot, per MiB for "
		 "echo 64 KiB and discard). schedstat counts in ns where `/proc/PID/stat` counts 4 ms ticks. This kernel "
		 "has no `CONFIG_IRQ_TIME_ACCOUNTING`, so softirq work done in the server's context (on loopback a send "
		 "also delivers into the peer's socket) is the server's CPU, as it should be." % (
			 min(0.25, cfg.duration * 0.1), min(0.15, cfg.duration * 0.05)))
	L.append("- **Why CPU per operation.** On 2 cores the client saturates its own core before a good server "
		 "saturates the other, so both engines reach about the same throughput and throughput alone hides "
		 "the server's cost. The CPU one message costs the server is what differs, and it is what a busy "
		 "machine would notice.")
	L.append("- **Oneshot** connects from 127.0.0.1–127.0.0.8 (`--source-addrs 8`) and closes with a reset "
		 "(`--linger0`), so neither ephemeral ports nor TIME_WAIT cap the rate.")
	L.append("- **Floor.** `bench/floor/` has two single-thread servers of the oneshot exchange, as cheap as "
		 "each interface allows (bench/notes.md, \"Floor servers\"): `%s 127.0.0.1:0` (multishot accept, "
		 "provided-buffer recv, linked send and close) and `%s 127.0.0.1:0` (level-triggered epoll, "
		 "`accept4`, recv, send, close). Each is measured with the client and options of the oneshot row it "
		 "stands beside, its CPU per exchange by the same schedstat method; tcpack / floor is tcpack's median "
		 "over its floor's (both one thread)." % (
			 FLOORS["uring"], FLOORS["epoll"]))
	L.append("- **Discard** runs beside `iperf3 -s -B 127.0.0.1` / `iperf3 -c 127.0.0.1` (one stream, 128 KiB "
		 "writes, same duration, warmup omitted) measured in the same run.")
	L.append("- **RSS** is `VmRSS` of a fresh server, then with %d idle connections from a small client "
		 "(this script, RLIMIT_NOFILE raised, %d source addresses, `--idle-timeout 0`) once the accept "
		 "queue is empty and `ss` counts them all established; ten of them are then asked one line each to "
		 "prove they are served. Kernel socket memory is not in RSS." % (IDLE_CONNS, IDLE_SOURCES))
	L.append("- **Disturbance.** During each measurement the script also reads the whole machine's busy time "
		 "(`/proc/stat`): what is neither the server nor the client is others' work, shown in the raw data.")
	L.append("")
	L.append("## Results")
	L.append("")
	L.append("Medians; ratio = uring / epoll. CPU µs/op is per message, per connection (oneshot) or per MiB "
		 "(echo 64 KiB, discard). Latency is client-side, send to last reply byte (oneshot: connect to end of file).")
	L.append("")
	L.extend(table_lines(summaries))
	L.append("")
	fl = floor_table_lines(summaries)
	if fl:
		L.append("### tcpack against the floor")
		L.append("")
		L.append("Server CPU per exchange (µs, medians) of tcpack's engines and of the floor server of the same "
			 "kind, measured in the same rounds with the same client; below the ratio's 1.00 tcpack would "
			 "beat the floor.")
		L.append("")
		L.extend(fl)
		L.append("")
	d, i = by_id.get("discard/128KiB/c1/p4"), by_id.get("iperf3/loopback")
	if i:
		L.append("iperf3 loopback, same run: **%s MiB/s** (median of %d)%s." % (
			fnum(i["iperf3"]["ops_per_s"]), i["iperf3"]["rounds"],
			"; tcpack discard: uring %s MiB/s (%.0f %%), epoll %s MiB/s (%.0f %%)" % (
				fnum(d["uring"]["ops_per_s"]), 100 * d["uring"]["ops_per_s"] / i["iperf3"]["ops_per_s"],
				fnum(d["epoll"]["ops_per_s"]), 100 * d["epoll"]["ops_per_s"] / i["iperf3"]["ops_per_s"]) if d else ""))
		L.append("")
	r = by_id.get("rss/10k-idle")
	if r:
		L.append("| RSS, %d idle connections | `--max-connections 100`, fresh | 20000, fresh | 20000, holding them "
			 "| per connection over the fresh server | per connection, all-in |" % IDLE_CONNS)
		L.append("|---|---|---|---|---|---|")
		for e in ENGINES:
			m = r[e]
			L.append("| %s | %s KiB | %s KiB | %s KiB (%s held) | %.2f KiB | **%.2f KiB** |" % (
				e, fnum(m["floor_kib"]), fnum(m["base_kib"]), fnum(m["rss_kib"]), fnum(m["held"]),
				m["kib_per_conn"], m["kib_per_conn_all"]))
		L.append("")
		L.append("Every worker allocates and initialises its connection slots for `max-connections` when it "
			 "starts, so a fresh server configured for 20,000 already holds most of what 10,000 connections "
			 "cost; \"all-in\" counts from a server configured for 100 and is the figure the target is judged on "
			 "(it still includes slots for 20,000).")
		L.append("")
	notes = [s for s in summaries if s.get("note")]
	if notes:
		L.append("Row notes: " + "; ".join("`%s`: %s" % (s["id"], s["note"]) for s in notes) + ".")
		L.append("")
	L.append("## Targets")
	L.append("")
	L.append("| target | measured (uring / epoll) | goal | | margin |")
	L.append("|---|---|---|---|---|")
	for name, measured, goal, met, margin in targets(by_id):
		L.append("| %s | %s | %s | %s | %s |" % (name, measured, goal, "met" if met else "**missed**", margin))
	L.append("")
	notes_md = os.path.join(ROOT, "bench", "notes.md")
	if os.path.exists(notes_md):
		with open(notes_md) as f:
			L.append(f.read().rstrip())
		L.append("")
	L.append("## Raw data")
	L.append("")
	L.append("Server CPU µs/op of every round, in run order, and the most CPU others used during one of them:")
	L.append("")
	L.append("| row | uring | epoll | uring/epoll, round by round | others, max |")
	L.append("|---|---|---|---|---|")
	for s in summaries:
		if s["kind"] != "load":
			continue
		pairs = [fr(ratio(u, e)) for u, e in zip(s["uring"]["cpu_values"], s["epoll"]["cpu_values"])]
		L.append("| `%s` | %s | %s | %s | %.2f cores |" % (
			s["id"], " ".join(fnum(v) for v in s["uring"]["cpu_values"]),
			" ".join(fnum(v) for v in s["epoll"]["cpu_values"]), " ".join(pairs),
			max(s["uring"]["max_other_cores"], s["epoll"]["max_other_cores"])))
	L.append("")
	frows = floor_rows(summaries)
	if frows:
		L.append("The floor servers, CPU µs/op of every round and tcpack over the floor round by round "
			 "(each tcpack run against the floor run after it):")
		L.append("")
		L.append("| row | floor-uring | floor-epoll | tcpack-uring / floor-uring | tcpack-epoll / floor-epoll | others, max |")
		L.append("|---|---|---|---|---|---|")
		for r in frows:
			s = by_id[r["id"]]
			cells = []
			for e in ENGINES:
				cells.append(" ".join(fnum(v) for v in r[e]["floor_cpu_values"]) if e in r else "–")
			for e in ENGINES:
				cells.append(" ".join(fr(v) for v in r[e]["cpu_ratio_rounds"]) if e in r else "–")
			L.append("| `%s` | %s | %.2f cores |" % (r["id"], " | ".join(cells), max(
				s[x]["max_other_cores"] for x in ENGINES + tuple(FLOORS.values()) if x in s)))
		L.append("")
	with open(path, "w") as f:
		f.write("\n".join(L))


def write_docs(cfg, summaries, info, meta):
	docs = os.path.join(ROOT, "docs")
	os.makedirs(docs, exist_ok=True)
	chart_ok = write_chart(summaries, os.path.join(docs, "benchmarks.png"))
	write_report(cfg, summaries, info, meta, os.path.join(docs, "BENCHMARKS.md"), chart_ok)
	log("wrote docs/BENCHMARKS.md%s" % (" and docs/benchmarks.png" if chart_ok else ""))
