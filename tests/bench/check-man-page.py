#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keep tcpack-bench(1) in step with `tcpack-bench --help`.

Fails when an option of --help has no entry under OPTIONS of the man page
(or another short form), or the page names an option --help does not have.
Reads the page with the section parser of man/check-man-pages.py, which
does the same for tcpack(8), and runs groff's warnings when it is installed.

Usage: check-man-page.py CHECK-MAN-PAGES.PY TCPACK-BENCH TCPACK-BENCH.1
"""
import importlib.util
import os
import re
import shutil
import subprocess
import sys

# An option line of --help; unlike tcpack's, tcpack-bench's names may hold digits (--linger0).
OPTION = re.compile(r"^\s+(?:-(\w), )?--([a-z][a-z0-9-]*)\s")


def load_checker(path):
    spec = importlib.util.spec_from_file_location("check_man_pages", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main():
    checker_path, binary, page = sys.argv[1:4]
    checker = load_checker(checker_path)
    errors = []
    name = os.path.basename(page)

    text = subprocess.run([binary, "--help"], check=True, capture_output=True,
                          text=True).stdout
    options = {}
    for line in text.splitlines():
        m = OPTION.match(line)
        if m:
            options[m.group(2)] = m.group(1)
    if not options:
        raise SystemExit("FAIL: found no options in tcpack-bench --help")

    errors += checker.compare_options(page, options, "tcpack-bench", name_chars="a-z0-9-")

    groff = shutil.which("groff")
    if groff:
        r = subprocess.run([groff, "-man", "-k", "-t", "-ww", "-z", "-Tutf8", page],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stderr.strip():
            errors.append(f"groff warnings for {name}:\n{r.stderr}")
    else:
        print("note: groff not installed, roff warnings not checked")

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"{name} matches --help: {len(options)} options")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
