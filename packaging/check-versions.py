#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Fail when a packaging file's version differs from meson's project().

Checks the upstream part of debian/changelog's newest entry, and the spec's
Version: and its newest %changelog entry (VERSION-RELEASE, as rpmlint wants).

Usage: check-versions.py MESON_VERSION DEBIAN_CHANGELOG TCPACK_SPEC
"""
import re
import sys


def main():
    version, changelog, spec = sys.argv[1:4]
    errors = []

    with open(changelog, encoding="utf-8") as f:
        first = f.readline()
    m = re.match(r"^tcpack \(([^)]+)\) ", first)
    if not m:
        errors.append(f"{changelog}: cannot read the version of '{first.strip()}'")
    else:
        deb = m.group(1)
        upstream = re.sub(r"^\d+:", "", deb).rsplit("-", 1)[0]
        if upstream != version:
            errors.append(f"debian/changelog: {deb} (upstream {upstream}), meson says {version}")

    text = open(spec, encoding="utf-8").read()
    v = re.search(r"^Version:\s*(\S+)", text, re.M)
    r = re.search(r"^Release:\s*(\S+?)(%\{\?dist\})?$", text, re.M)
    if not v or not r:
        errors.append(f"{spec}: no Version: or Release:")
    else:
        if v.group(1) != version:
            errors.append(f"tcpack.spec: Version: {v.group(1)}, meson says {version}")
        entry = re.search(r"^%changelog\s*\n\*.*\s-\s(\S+)\s*$", text, re.M)
        want = f"{v.group(1)}-{r.group(1)}"
        if not entry or entry.group(1) != want:
            errors.append(f"tcpack.spec: newest %changelog entry is "
                          f"{entry.group(1) if entry else 'missing'}, expected {want}")

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"debian/changelog and tcpack.spec carry version {version}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
