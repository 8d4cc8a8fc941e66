# SPDX-License-Identifier: MIT
"""
The worst-case memory formula as README.md and docs/RELIABILITY.md state
it must be the one the tests assert (tests/lib/membound.py): both documents
carry the same formula block; its text, read as arithmetic, must give
exactly membound.memory_bound() for a spread of configurations, in every
case it names; and README.md's figures at the defaults must be what it
gives there.

usage: check-memory-formula.py README.md docs/RELIABILITY.md
"""
import itertools
import re
import sys

import membound

GIB = 1 << 30

# The formula's symbols and the keyword arguments of membound.memory_bound().
SYMBOLS = {
	"W": "workers", "C": "max_connections", "P": "max_pending", "D": "log_data_max",
	"Bc": "buffer_count", "Bs": "buffer_size", "RSS0": "base",
}
# The cases of H, by the words that name them.
CASES = {"io_uring": "uring", "epoll": "epoll"}


def fail(msg):
	print("FAIL: " + msg)
	sys.exit(1)


def formula_block(path):
	text = open(path, encoding="utf-8").read()
	blocks, block = [], None
	for line in text.splitlines(keepends=True):
		if line.startswith("```"):
			if block is None:
				block = ""
			else:
				blocks.append(block)
				block = None
		elif block is not None:
			block += line
	blocks = [b for b in blocks if "RSS ≤" in b]
	if len(blocks) != 1:
		fail("%s: expected one formula block (a ``` block with 'RSS ≤'), found %d"
		     % (path, len(blocks)))
	return text, blocks[0]


def to_python(expr):
	"""The formula's notation as a Python expression."""
	e = expr.replace("RSS₀", "RSS0").replace("·", "*")
	e = re.sub(r"(\d+) B\b", r"\1", e)		# "420 B": a byte count
	if re.search(r"[^\w\s()+*,-]", e):
		fail("cannot read %r as arithmetic" % expr)
	return e


def parse(block, path):
	"""{engine: expr} and {engine: H expr}."""
	rss, held = {}, {}
	for line in block.splitlines():
		if not line.strip():
			continue
		m = re.match(r"^(io_uring|epoll):\s+RSS ≤ (.+)$", line)
		if m:
			rss["uring" if m.group(1) == "io_uring" else "epoll"] = to_python(m.group(2))
			continue
		m = re.match(r"^H = (.+?)\s{2,}(\S.*)$", line)
		if m and m.group(2).strip() in CASES:
			held[CASES[m.group(2).strip()]] = to_python(m.group(1))
			continue
		fail("%s: formula line not understood: %r" % (path, line))
	if set(rss) != {"uring", "epoll"} or set(held) != set(CASES.values()):
		fail("%s: the formula block must give RSS for io_uring and epoll and H for %s"
		     % (path, ", ".join(CASES)))
	return rss, held


def evaluate(rss, held, engine, cfg):
	env = {sym: cfg[arg] for sym, arg in SYMBOLS.items()}
	env["L"] = max(cfg["reply_len"], cfg["error_reply_len"])
	env["H"] = eval(held[engine], {"min": min, "max": max}, dict(env))
	return eval(rss[engine], {"min": min, "max": max}, env)


def configurations():
	d = membound.DEFAULTS
	yield dict(d)
	for w, c, p, reply, bc, bs, dmax in itertools.product(
			(1, 3), (1, 6000), (4096, 64 * 1024, 1 << 30), (1, 30, 4096),
			(16, 1024, 32768), (512, 4096, 1 << 20), (0, 256)):
		yield dict(d, workers=w, max_connections=c, max_pending=p, reply_len=reply,
			   buffer_count=bc, buffer_size=bs, log_data_max=dmax, base=12345678)


def main():
	if len(sys.argv) != 3:
		print(__doc__, file=sys.stderr)
		sys.exit(2)
	readme, reliability = sys.argv[1], sys.argv[2]
	readme_text, block = formula_block(readme)
	_, other = formula_block(reliability)
	if block != other:
		fail("the formula blocks of %s and %s differ" % (readme, reliability))
	rss, held = parse(block, readme)

	n = 0
	for cfg in configurations():
		for engine in CASES.values():
			want = membound.memory_bound(engine, **cfg)
			got = evaluate(rss, held, engine, cfg)
			if got != want:
				fail("%s, %r: the documents' formula gives %d, tests/lib/membound.py %d"
				     % (engine, cfg, got, want))
			n += 1

	# README's figures at the defaults, to the tenth of a GiB it shows.
	m = re.search(r"^\| worst case at the defaults[^|]*\|(.+)\|\s*$", readme_text, re.M)
	if not m:
		fail("%s: no '| worst case at the defaults |' row" % readme)
	shown = [c.strip() for c in m.group(1).split("|")]
	for engine, cell in zip(CASES.values(), shown):
		want = membound.memory_bound(engine, **membound.DEFAULTS)
		if cell != "%.1f GiB" % (want / GIB):
			fail("%s: at the defaults %s shows %r, the formula gives %.1f GiB"
			     % (readme, engine, cell, want / GIB))
	if len(shown) != len(CASES):
		fail("%s: the defaults row has %d figures, not %d" % (readme, len(shown), len(CASES)))
	print("ok: the formula of %s and %s matches tests/lib/membound.py in %d cases; defaults %s"
	      % (readme, reliability, n, ", ".join(shown)))


if __name__ == "__main__":
	main()
