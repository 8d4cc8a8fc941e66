#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the generated units: `systemd-analyze verify` accepts them, the
service keeps the hardening required below, its `systemd-analyze security`
exposure stays at most 2.5 ("OK"), and the socket listens on loopback only
(installing the package must not open a port to the network).

Usage: check-units.py TCPACK_SERVICE TCPACK_SOCKET TCPACK_BINARY
Exit 77 (skip) when systemd-analyze is not installed.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

MAX_EXPOSURE = 2.5

# Directive -> required value (None: present with any value).
REQUIRED = {
    "Type": "notify",
    "Requires": "tcpack.socket",
    "WatchdogSec": None,
    "ExecReload": None,
    "Restart": "on-failure",
    "LimitNOFILE": None,
    "DynamicUser": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "NoNewPrivileges": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "RestrictNamespaces": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "LockPersonality": "yes",
    "MemoryDenyWriteExecute": "yes",
    "SystemCallArchitectures": "native",
    "SystemCallFilter": "@system-service",
    "CapabilityBoundingSet": "",
}

LOOPBACK = re.compile(r"^(127\.\d+\.\d+\.\d+:\d+|\[::1\]:\d+)$")


def directives(path):
    """All key=value lines of a unit file, as a list of (key, value)."""
    out = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            key, value = line.split("=", 1)
            out.append((key.strip(), value.strip()))
    return out


def main():
    service, socket, binary = sys.argv[1:4]
    errors = []

    have = directives(service)
    for key, want in REQUIRED.items():
        values = [v for k, v in have if k == key]
        if not values:
            errors.append(f"tcpack.service: {key}= missing")
        elif want is not None and want not in values:
            errors.append(f"tcpack.service: {key}= is {values}, expected {want!r}")

    listen = [v for k, v in directives(socket) if k == "ListenStream"]
    if not listen:
        errors.append("tcpack.socket: no ListenStream=")
    for addr in listen:
        if not LOOPBACK.match(addr):
            errors.append(f"tcpack.socket: ListenStream={addr} is not a loopback address")

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        for e in errors:
            print(e)
        print("SKIP: systemd-analyze not installed (package systemd)")
        return 1 if errors else 77

    with tempfile.TemporaryDirectory() as tmp:
        # verify insists that ExecStart= exists: point it at the build's binary.
        with open(service, encoding="utf-8") as f:
            text = re.sub(r"^ExecStart=\S+", "ExecStart=" + os.path.abspath(binary), f.read(),
                          flags=re.M)
        unit_service = os.path.join(tmp, "tcpack.service")
        unit_socket = os.path.join(tmp, "tcpack.socket")
        with open(unit_service, "w", encoding="utf-8") as f:
            f.write(text)
        shutil.copy(socket, unit_socket)

        r = subprocess.run([analyze, "verify", "--man=no", unit_socket, unit_service],
                           capture_output=True, text=True)
        if r.returncode != 0 or r.stdout.strip() or r.stderr.strip():
            errors.append("systemd-analyze verify:\n" + r.stdout + r.stderr)

        r = subprocess.run([analyze, "security", "--offline=true", "--no-pager", unit_service],
                           capture_output=True, text=True)
        m = re.search(r"Overall exposure level for tcpack\.service: (\d+\.\d+) (\S+)", r.stdout)
        if not m:
            errors.append("systemd-analyze security: no exposure level in:\n" + r.stdout + r.stderr)
        else:
            print(f"systemd-analyze security: exposure {m.group(1)} {m.group(2)}")
            if float(m.group(1)) > MAX_EXPOSURE:
                errors.append(f"exposure {m.group(1)} is above {MAX_EXPOSURE}")

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"units OK: {len(REQUIRED)} required directives, socket on {', '.join(listen)}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
