# SPDX-License-Identifier: MIT
"""The rows of the report: every one measured for each engine in turn."""
from . import ENGINES

LINE_REPLY = "ACK\\n"          # tcpack --reply and tcpack-bench --expect decode the escape
IDLE_CONNS = 10000
IDLE_SOURCES = 4               # 127.0.0.1 .. 127.0.0.4
# The floor servers (bench/floor/, BUILD/bench/floor/NAME): the oneshot
# exchange as cheaply as each engine's interface allows, measured beside
# tcpack's engine of the same kind.
FLOORS = {"uring": "floor-uring", "epoll": "floor-epoll"}
# tcpack-bench --client: the io_uring client (its default) and the
# readiness-based epoll one; a row with the epoll client ends in this.
EPOLL_CLIENT = "/epoll-client"


def with_epoll_client(row):
	"""The same row with tcpack-bench --client epoll."""
	r = dict(row, id=row["id"] + EPOLL_CLIENT, client=row["client"] + ["--client", "epoll"],
		 client_engine="epoll")
	r["note"] = "; ".join(x for x in (row.get("note", ""), "tcpack-bench --client epoll") if x)
	return r


def row_servers(row):
	"""What one round of a row runs, in order: each engine, followed by its
	floor when the row has one (uring, floor-uring, epoll, floor-epoll)."""
	out = []
	for e in ENGINES:
		out.append(e)
		if row.get("floor"):
			out.append(FLOORS[e])
	return tuple(out)


def build_matrix():
	"""Every row: id, kind, what the server and the client are told, the unit
	of an operation, whether a target names it (those get more rounds),
	which client tcpack-bench runs (client_engine) and whether the floor
	servers run beside tcpack (floor)."""
	rows = []
	sizes = ((16, "16B"), (128, "128B"), (4096, "4KiB"))
	for size, sname in sizes:
		for conns in (1, 50, 500, 5000):
			for pipe in (1, 16):
				# rows a target names (one connection: p50)
				target = conns == 1 or (size == 128 and ((conns == 50) or (conns in (500, 5000) and pipe == 1)))
				rows.append(dict(
					id="line/%s/c%d/p%d" % (sname, conns, pipe), kind="load", mode="line",
					server=["--reply", LINE_REPLY, "--max-message", "4K"],
					client=["-m", "line", "-e", LINE_REPLY, "-s", str(size),
						"-c", str(conns), "-P", str(pipe)],
					unit="msg", target=target))
	rows.append(dict(
		id="line/128B/c50/p1/client-2t", kind="load", mode="line",
		server=["--reply", LINE_REPLY, "--max-message", "4K"],
		client=["-m", "line", "-e", LINE_REPLY, "-s", "128", "-c", "50", "-P", "1",
			"--threads", "2"],
		unit="msg", target=True,
		note="client competing: tcpack-bench --threads 2"))
	oneshot = dict(
		id="oneshot/c50", kind="load", mode="oneshot",
		server=[],
		client=["-m", "oneshot", "-s", "64", "-c", "50", "--source-addrs", "8", "--linger0"],
		unit="conn", target=True, floor=True,
		note="64 B message, default reply, 50 exchanges at once, --source-addrs 8 --linger0")
	rows.append(oneshot)
	# The key rows again with the epoll client: the same load, another client.
	by_id = {r["id"]: r for r in rows}
	for rid in ("line/128B/c50/p1", "line/128B/c500/p1", "line/128B/c5000/p1"):
		rows.append(with_epoll_client(by_id[rid]))
	rows.append(with_epoll_client(oneshot))
	# Connection rate with a worker per core: the client competes for them.
	rows.append(dict(oneshot, id="oneshot/c50/2-workers", server=["--threads", "2"], floor=False,
			 note=oneshot["note"] + "; tcpack --threads 2"))
	rows.append(dict(
		id="echo/128B/c50", kind="load", mode="echo", server=[],
		client=["-m", "echo", "-s", "128", "-c", "50", "-P", "1"],
		unit="msg", target=False))
	rows.append(dict(
		id="echo/64KiB/c50", kind="load", mode="echo", server=[],
		client=["-m", "echo", "-s", "64K", "-c", "50", "-P", "1"],
		unit="MiB", target=False))
	# Without the kernel's receive limit (TCPACK_TEST_RING=nolimit, as on
	# kernels before 6.15): single-shot receives of one buffer on io_uring.
	by_id = {r["id"]: r for r in rows}
	for rid in ("line/128B/c50/p1", "echo/64KiB/c50"):
		rows.append(dict(by_id[rid], id=rid + "/nolimit", env={"TCPACK_TEST_RING": "nolimit"},
				 target=False, note="TCPACK_TEST_RING=nolimit (io_uring as on kernels before 6.15)"))
	rows.append(dict(
		id="discard/128KiB/c1/p4", kind="load", mode="discard", server=[],
		client=["-m", "discard", "-s", "128K", "-c", "1", "-P", "4"],
		unit="MiB", target=True,
		note="one stream, 4 x 128 KiB in flight (iperf3 writes 128 KiB)"))
	rows.append(dict(id="iperf3/loopback", kind="iperf3", unit="MiB", target=True,
			 note="iperf3 -c 127.0.0.1, one stream, 128 KiB writes"))
	rows.append(dict(id="rss/10k-idle", kind="rss", mode="line", unit="conn", target=True,
			 note="%d idle connections from %d source addresses" % (IDLE_CONNS, IDLE_SOURCES)))
	for r in rows:
		if r["kind"] == "load":
			r.setdefault("client_engine", "uring")
	return rows


QUICK_IDS = ("line/128B/c50/p1", "line/128B/c50/p1" + EPOLL_CLIENT, "line/128B/c50/p16", "oneshot/c50",
	     "discard/128KiB/c1/p4", "iperf3/loopback", "rss/10k-idle")
