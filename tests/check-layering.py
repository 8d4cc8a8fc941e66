#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fail when the server's modules stop layering the way the tree says.

A module is src/NAME.c with include/tcpack/NAME.h. Module A uses module B
when A's source or header includes "tcpack/B.h". Checked:

- no cycle: the modules form a layered graph (main -> server -> worker ->
  loop/epoll -> conn -> line ...), so any one can be read, tested and
  replaced from the bottom up;
- io_uring stays in its engine: only loop and bufring include <liburing.h>, and no
  other module includes tcpack/loop.h (its user_data encoding);
- the epoll engine knows nothing of the io_uring one, and neither engine
  of the other.

Usage: check-layering.py SOURCE_ROOT
Exit status: 0 when all hold, 1 with one line per finding.
"""
import os
import re
import sys

INCLUDE = re.compile(r'^\s*#\s*include\s+([<"])([^>"]+)[>"]', re.M)
# The io_uring engine: its loop, and the model of its buffer ring (header only).
URING_MODULES = {"loop", "bufring"}


def includes(path):
    with open(path, encoding="utf-8") as f:
        return INCLUDE.findall(f.read())


def main(argv):
    root = argv[1] if len(argv) > 1 else "."
    src = os.path.join(root, "src")
    inc = os.path.join(root, "include", "tcpack")
    modules = {}
    for d, ext in ((src, ".c"), (inc, ".h")):
        for name in sorted(os.listdir(d)):
            if name.endswith(ext):
                modules.setdefault(name[:-len(ext)], []).append(os.path.join(d, name))
    if not modules:
        print(f"check-layering: no modules under {root}", file=sys.stderr)
        return 1

    uses = {m: set() for m in modules}
    errors = []
    for m, paths in modules.items():
        for path in paths:
            rel = os.path.relpath(path, root)
            for kind, target in includes(path):
                if kind == "<" and target == "liburing.h" and m not in URING_MODULES:
                    errors.append(f"{rel} includes <liburing.h>: only the io_uring engine "
                                  f"({', '.join(sorted(URING_MODULES))}) may")
                if kind == '"' and target.startswith("tcpack/"):
                    dep = target[len("tcpack/"):-len(".h")]
                    if dep != m:
                        uses[m].add(dep)
    for m in sorted(uses):
        if "loop" in uses[m] and m != "loop":
            errors.append(f"{m} uses loop (tcpack/loop.h): the io_uring engine's internals are its own")
    if "loop" in uses.get("epoll", ()) or "epoll" in uses.get("loop", ()):
        errors.append("the engines use each other: loop and epoll must meet only in worker")

    # Cycles, by depth-first search; each reported once, from its smallest module.
    state, stack, seen_cycles = {}, [], set()

    def visit(m):
        state[m] = "active"
        stack.append(m)
        for d in sorted(uses.get(m, ())):
            if d not in modules:
                continue
            if state.get(d) == "active":
                cycle = stack[stack.index(d):]
                i = cycle.index(min(cycle))
                key = tuple(cycle[i:] + cycle[:i])
                if key not in seen_cycles:
                    seen_cycles.add(key)
                    errors.append("include cycle: " + " -> ".join(key + (key[0],)))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = "done"

    for m in sorted(modules):
        if m not in state:
            visit(m)

    for e in errors:
        print(f"check-layering: {e}", file=sys.stderr)
    if errors:
        return 1
    print(f"{len(modules)} modules, {sum(len(u) for u in uses.values())} uses, no cycle; "
          f"liburing only in {', '.join(sorted(URING_MODULES))}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
