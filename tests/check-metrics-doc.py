#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keep the documented metrics in step with the ones tcpack serves.

Starts the built tcpack on loopback with a metrics listener (port 0, read
back from its "listening on 127.0.0.1:PORT (metrics)" line), GETs /metrics
once and compares every family of the exposition (its "# TYPE" line and its
samples) with

- the table of README.md's "Monitoring" section, one row per family:
  | `NAME` | TYPE | LABELS | meaning |
  where LABELS is "—" or labels separated by ";", each `label`,
  `label` = `a`, `b` (a series for each value: the values must be exactly
  those served) or `label` = `a` or `b` (one of them: what is served must
  be among them);
- the list in tcpack(8)'s METRICS section, "NAME   TYPE" per line.

Fails on a family missing from either side, another type, a label that is
not documented or not served, or label values other than the documented
ones. Python's standard library only; loopback only; every wait bounded;
tcpack is stopped at the end, killed if it does not stop.

Usage: check-metrics-doc.py TCPACK README.md TCPACK.8
Exit status: 0 when they match, 1 with one line per difference.
"""
import http.client
import os
import re
import subprocess
import sys
import tempfile
import time

START_S = 10		# for tcpack to say where it serves metrics
HTTP_S = 10		# for the scrape
STOP_S = 10		# for tcpack to stop on SIGTERM

LISTENING = re.compile(r"listening on 127\.0\.0\.1:(\d+) \(metrics\)")
TYPE_LINE = re.compile(r"^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$")
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(?:,|$)')
README_ROW = re.compile(r"^\|\s*`(tcpack_[a-z0-9_]+)`\s*\|\s*([a-z]+)\s*\|([^|]*)\|")
README_LABEL = re.compile(r"^`([a-zA-Z_][a-zA-Z0-9_]*)`(?:\s*=\s*(.+))?$")
MAN_ROW = re.compile(r"^(tcpack_[a-z0-9_]+)\s+(counter|gauge|histogram|summary|untyped)\s*$")
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "summary": ("_sum", "_count")}


def scrape(binary):
	"""Start @binary with a metrics listener, GET /metrics, stop it.
	Return: the exposition's text."""
	with tempfile.TemporaryDirectory() as tmp:
		errpath = os.path.join(tmp, "stderr")
		with open(errpath, "wb") as err:
			proc = subprocess.Popen([binary, "--config", "/dev/null", "--listen", "127.0.0.1:0",
						 "--metrics-listen", "127.0.0.1:0"],
						stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err)

		def stderr_text():
			with open(errpath, encoding="utf-8", errors="replace") as f:
				return f.read()

		try:
			port = None
			deadline = time.monotonic() + START_S
			while port is None:
				m = LISTENING.search(stderr_text())
				if m:
					port = int(m.group(1))
				elif proc.poll() is not None:
					raise SystemExit(f"FAIL: tcpack exited ({proc.returncode}) before serving "
							 f"metrics:\n{stderr_text()}")
				elif time.monotonic() > deadline:
					raise SystemExit(f"FAIL: tcpack said no 'listening on 127.0.0.1:PORT (metrics)' "
							 f"within {START_S} s:\n{stderr_text()}")
				else:
					time.sleep(0.05)
			# The metrics are served once every worker serves: the
			# connection waits in the backlog until then.
			conn = http.client.HTTPConnection("127.0.0.1", port, timeout=HTTP_S)
			try:
				conn.request("GET", "/metrics")
				resp = conn.getresponse()
				body = resp.read().decode("utf-8")
			except OSError as e:
				raise SystemExit(f"FAIL: GET http://127.0.0.1:{port}/metrics: {e}\n{stderr_text()}")
			finally:
				conn.close()
			if resp.status != 200:
				raise SystemExit(f"FAIL: GET /metrics answered {resp.status} {resp.reason}:\n{body}")
			ctype = resp.getheader("Content-Type", "")
			if not ctype.startswith("text/plain; version=0.0.4"):
				raise SystemExit(f"FAIL: GET /metrics: Content-Type {ctype!r}, expected the text "
						 f"format, version 0.0.4")
			return body
		finally:
			if proc.poll() is None:
				proc.terminate()
				try:
					proc.wait(timeout=STOP_S)
				except subprocess.TimeoutExpired:
					proc.kill()
					proc.wait()


def served_families(text, errors):
	"""{family: (type, {label: set of values})} from the exposition."""
	families = {}
	for line in text.splitlines():
		m = TYPE_LINE.match(line)
		if m:
			if m.group(1) in families:
				errors.append(f"exposition: two TYPE lines for {m.group(1)}")
			families[m.group(1)] = (m.group(2), {})
			continue
		if not line or line.startswith("#"):
			continue
		m = SAMPLE.match(line)
		if not m:
			errors.append(f"exposition: a line that is no sample: {line!r}")
			continue
		name, labels = m.group(1), m.group(2) or ""
		family = name if name in families else None
		for fam, (typ, _) in families.items():
			if family is None and any(name == fam + s for s in SUFFIXES.get(typ, ())):
				family = fam
		if family is None:
			errors.append(f"exposition: sample {name} has no TYPE line")
			continue
		seen = families[family][1]
		pairs = LABEL.findall(labels)
		if "".join(f'{k}="{v}",' for k, v in pairs).rstrip(",") != labels:
			errors.append(f"exposition: labels of {name} do not parse: {{{labels}}}")
		for k, v in pairs:
			seen.setdefault(k, set()).add(v)
	return families


def section(text, start, stop):
	"""The lines of @text from the line matching @start to the next matching @stop."""
	lines = text.splitlines()
	for i, line in enumerate(lines):
		if re.match(start, line):
			out = []
			for rest in lines[i + 1:]:
				if re.match(stop, rest):
					break
				out.append(rest)
			return out
	return None


def readme_families(path, errors):
	"""{family: (type, {label: (kind, set of values)})} from README.md's
	Monitoring table; kind is None (any values), "each" or "one"."""
	with open(path, encoding="utf-8") as f:
		lines = section(f.read(), r"^## Monitoring\s*$", r"^## ")
	if lines is None:
		errors.append("README.md: no '## Monitoring' section")
		return {}
	families = {}
	for line in lines:
		m = README_ROW.match(line)
		if not m:
			continue
		name, typ, cell = m.group(1), m.group(2), m.group(3).strip()
		if name in families:
			errors.append(f"README.md: {name} is in the table twice")
		labels = {}
		if cell not in ("—", "-", ""):
			for part in cell.split(";"):
				lm = README_LABEL.match(part.strip())
				if not lm:
					errors.append(f"README.md: {name}: cannot read the label {part.strip()!r}")
					continue
				values = lm.group(2)
				if values is None:
					labels[lm.group(1)] = (None, set())
				elif re.search(r"\bor\b", values):
					labels[lm.group(1)] = ("one", {v.strip().strip("`")
								       for v in re.split(r"\s+or\s+", values)})
				else:
					labels[lm.group(1)] = ("each", {v.strip().strip("`") for v in values.split(",")})
		families[name] = (typ, labels)
	if not families:
		errors.append("README.md: no metric rows (| `tcpack_...` | TYPE | LABELS | ... |) under Monitoring")
	return families


def man_families(path, errors):
	"""{family: type} from the list in tcpack(8)'s METRICS section."""
	with open(path, encoding="utf-8") as f:
		lines = section(f.read(), r"^\.SH METRICS\s*$", r"^\.SH ")
	if lines is None:
		errors.append("tcpack.8: no METRICS section")
		return {}
	families = {}
	for line in lines:
		m = MAN_ROW.match(line.replace("\\-", "-"))
		if m:
			if m.group(1) in families:
				errors.append(f"tcpack.8: {m.group(1)} is listed twice")
			families[m.group(1)] = m.group(2)
	if not families:
		errors.append("tcpack.8: no 'tcpack_NAME TYPE' lines under METRICS")
	return families


def compare(served, readme, man, errors):
	for name in sorted(served.keys() - readme.keys()):
		errors.append(f"README.md: {name} is served but not in the Monitoring table")
	for name in sorted(readme.keys() - served.keys()):
		errors.append(f"README.md: {name} is in the Monitoring table but not served")
	for name in sorted(served.keys() - man.keys()):
		errors.append(f"tcpack.8: {name} is served but not listed under METRICS")
	for name in sorted(man.keys() - served.keys()):
		errors.append(f"tcpack.8: {name} is listed under METRICS but not served")
	for name in sorted(served.keys() & man.keys()):
		if served[name][0] != man[name]:
			errors.append(f"tcpack.8: {name} is listed as a {man[name]}, served as a {served[name][0]}")
	for name in sorted(served.keys() & readme.keys()):
		typ, seen = served[name]
		rtyp, documented = readme[name]
		if typ != rtyp:
			errors.append(f"README.md: {name} is documented as a {rtyp}, served as a {typ}")
		for label in sorted(seen.keys() - documented.keys()):
			errors.append(f"README.md: {name} is served with the label {label}, not documented")
		for label in sorted(documented.keys() - seen.keys()):
			errors.append(f"README.md: {name} is documented with the label {label}, not served")
		for label in sorted(seen.keys() & documented.keys()):
			kind, values = documented[label]
			if kind == "each" and seen[label] != values:
				errors.append(f"README.md: {name}{{{label}}}: documented "
					      f"{', '.join(sorted(values))}; served {', '.join(sorted(seen[label]))}")
			elif kind == "one" and not seen[label] <= values:
				errors.append(f"README.md: {name}{{{label}}}: served "
					      f"{', '.join(sorted(seen[label] - values))}, not among the documented "
					      f"{' or '.join(sorted(values))}")


def main():
	if len(sys.argv) != 4:
		print(__doc__, file=sys.stderr)
		return 2
	binary, readme_path, man_path = sys.argv[1:4]
	errors = []
	readme = readme_families(readme_path, errors)
	man = man_families(man_path, errors)
	served = served_families(scrape(binary), errors)
	compare(served, readme, man, errors)
	for e in errors:
		print("FAIL:", e)
	if not errors:
		print(f"metrics documented: {len(served)} families served, each in README.md's Monitoring "
		      f"table (type and labels) and tcpack(8)'s METRICS list")
	return 1 if errors else 0


if __name__ == "__main__":
	sys.exit(main())
