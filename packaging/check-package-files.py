#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keep the packages and the build in step.

Compares the files `meson install --destdir DESTDIR` produced with the file
lists of the built packages, per format:

- every installed file is in exactly one package of each format (its name
  is given, with the package the other format puts it in, when one forgets
  it);
- every file a package carries was installed by meson, or is one the
  packaging itself adds (documentation, changelog, copyright, lintian
  overrides, build-id links);
- both formats put each installed file in the package of the same name.

Paths are compared after two normalisations, the only ways the formats
legitimately differ: man pages without their compression suffix, and
/lib/... as /usr/lib/... (Debian 12's pkg-config systemd still says
/lib/systemd/system, rpm's %_unitdir is /usr/lib/systemd/system).

Usage: check-package-files.py DESTDIR FORMAT:PACKAGE=FILE...
       FORMAT is deb or rpm, e.g. deb:tcpack=dist/tcpack_0.1.0-1_amd64.deb
Exit status: 0 when in step, 1 with one line per difference, 2 on bad usage.
"""
import os
import re
import subprocess
import sys

MAN_COMPRESSED = re.compile(r"^(/usr/share/man/.*)\.(gz|xz|bz2|zst)$")

# Files each format's tools add to a package on their own, by package name.
PACKAGING_ADDS = {
    "deb": [
        r"/usr/share/doc/{pkg}/changelog\.Debian\.gz",
        r"/usr/share/doc/{pkg}/copyright",
        r"/usr/share/lintian/overrides/{pkg}",
    ],
    "rpm": [
        r"/usr/share/doc/{pkg}(-[^/]+)?/README\.md",
        r"/usr/lib/\.build-id/.*",
    ],
}


def canonical(path):
    path = "/" + path.lstrip("./").lstrip("/")
    if path.startswith("/lib/"):
        path = "/usr" + path
    m = MAN_COMPRESSED.match(path)
    return m.group(1) if m else path


def installed_files(destdir):
    files = set()
    for root, dirs, names in os.walk(destdir):
        # A symlink to a directory is a file of the package, not a directory.
        names = names + [d for d in dirs if os.path.islink(os.path.join(root, d))]
        for n in names:
            files.add(canonical(os.path.relpath(os.path.join(root, n), destdir)))
    return files


def deb_files(path):
    out = subprocess.run(["dpkg-deb", "-c", path], check=True,
                         capture_output=True, text=True).stdout
    files = set()
    for line in out.splitlines():
        # -rw-r--r-- root/root  1234 2026-12-06 00:00 ./usr/bin/tcpack
        # lrwxrwxrwx root/root     0 2026-12-06 00:00 ./a -> b
        fields = line.split(None, 5)
        if len(fields) < 6 or fields[0].startswith("d"):
            continue
        files.add(canonical(fields[5].split(" -> ")[0]))
    return files


def rpm_files(path):
    out = subprocess.run(["rpm", "-qp", "--qf", "[%{FILEMODES:perms} %{FILENAMES}\\n]", path],
                         check=True, capture_output=True, text=True).stdout
    files = set()
    for line in out.splitlines():
        perms, _, name = line.partition(" ")
        if name and not perms.startswith("d"):
            files.add(canonical(name))
    return files


LISTERS = {"deb": deb_files, "rpm": rpm_files}


def check(installed, packages):
    """packages: {format: {package: set of canonical paths}}. Returns the
    differences, one line each, sorted for a stable report."""
    errors = []
    owner = {}  # (format, path) -> package
    for fmt, pkgs in packages.items():
        for pkg, files in pkgs.items():
            adds = [re.compile(p.format(pkg=re.escape(pkg)) + "$") for p in PACKAGING_ADDS[fmt]]
            for f in files:
                if f in installed:
                    if (fmt, f) in owner:
                        errors.append(f"{fmt}: {f} is in two packages, "
                                      f"{owner[fmt, f]} and {pkg}")
                    owner[fmt, f] = pkg
                elif not any(a.match(f) for a in adds):
                    errors.append(f"{fmt} package {pkg}: {f} is not a file meson installs "
                                  f"nor one the packaging adds")
    for f in sorted(installed):
        homes = {fmt: owner.get((fmt, f)) for fmt in packages}
        for fmt, pkg in homes.items():
            if pkg is None:
                elsewhere = ", ".join(f"the {o} puts it in {p}" for o, p in homes.items()
                                      if p is not None)
                errors.append(f"{fmt}: {f} is installed by meson but in no package "
                              f"({', '.join(sorted(packages[fmt]))})"
                              + (f"; {elsewhere}" if elsewhere else ""))
        placed = {p for p in homes.values() if p is not None}
        if len(placed) > 1:
            errors.append(f"{f}: the formats disagree on its package: "
                          + ", ".join(f"{fmt} {p}" for fmt, p in sorted(homes.items())))
    return sorted(errors)


def main(argv):
    if len(argv) < 3:
        print(__doc__.strip().split("\n\n")[-1], file=sys.stderr)
        return 2
    destdir = argv[1]
    installed = installed_files(destdir)
    if not installed:
        print(f"check-package-files: nothing installed under {destdir}", file=sys.stderr)
        return 2
    packages = {}
    for spec in argv[2:]:
        m = re.match(r"^(deb|rpm):([^=]+)=(.+)$", spec)
        if not m:
            print(f"check-package-files: '{spec}' is not FORMAT:PACKAGE=FILE", file=sys.stderr)
            return 2
        fmt, pkg, path = m.groups()
        packages.setdefault(fmt, {})[pkg] = LISTERS[fmt](path)
    errors = check(installed, packages)
    for e in errors:
        print(f"check-package-files: {e}", file=sys.stderr)
    if errors:
        return 1
    for fmt, pkgs in sorted(packages.items()):
        print(f"{fmt}: " + ", ".join(f"{p} {len(files)} files" for p, files in sorted(pkgs.items()))
              + f"; all {len(installed)} installed files packaged once")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
