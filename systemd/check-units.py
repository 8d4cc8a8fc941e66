#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Check the generated units: `systemd-analyze verify` accepts them, the
service keeps the hardening required below, its `systemd-analyze security`
exposure stays at most 2.5 ("OK"), and the sockets listen on loopback only
(installing the package must not open a port to the network), each on
addresses of its own.

Every socket gives tcpack.service its fds and says what they are for by its
FileDescriptorName= (src/listen.c): tcpack.socket none (a plain client
listener), tcpack-agent.socket "agent", tcpack-metrics.socket "metrics",
tcpack-proxy.socket one of "proxy-v1", "proxy-v2", "proxy-any". A name
tcpack does not know would be served as a plain client listener, or
refused at start-up, and so would more than TCPACK_ROLE_FDS_MAX (4) fds
named "agent", or "metrics" (every ListenStream= of a unit gets its name).
The sockets other than tcpack.socket are shipped disabled: they name the
service with Service=, and the service must not pull them in (Wants=,
Requires=, Sockets=), or starting it would open their ports.

Usage: check-units.py TCPACK_BINARY TCPACK_SERVICE TCPACK_SOCKET...
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

# FileDescriptorName= -> role, as src/listen.c reads it (TCPACK_FDNAME_*).
ROLES = {
    "agent": "agent",
    "metrics": "metrics",
    "proxy-off": "client",
    "proxy-v1": "proxy",
    "proxy-v2": "proxy",
    "proxy-any": "proxy",
}
# Socket unit -> the role its fds must have.
SOCKET_ROLES = {
    "tcpack.socket": "client",
    "tcpack-agent.socket": "agent",
    "tcpack-proxy.socket": "proxy",
    "tcpack-metrics.socket": "metrics",
}
# Roles whose fds tcpack takes at most TCPACK_ROLE_FDS_MAX of (src/listen.c).
ROLE_FDS_MAX = {"agent": 4, "metrics": 4}


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


def check_socket(path, service_deps, errors):
    """The checks of one socket unit; returns its ListenStream= values."""
    name = os.path.basename(path)
    have = directives(path)

    def values(key):
        return [v for k, v in have if k == key]

    listen = values("ListenStream")
    if not listen:
        errors.append(f"{name}: no ListenStream=")
    for addr in listen:
        if not LOOPBACK.match(addr):
            errors.append(f"{name}: ListenStream={addr} is not a loopback address")

    fdnames = values("FileDescriptorName")
    fdname = fdnames[-1] if fdnames else name  # systemd's default: the unit's name
    role = ROLES.get(fdname, "client")
    want = SOCKET_ROLES.get(name)
    if fdname.startswith("proxy-") and fdname not in ROLES:
        errors.append(f"{name}: FileDescriptorName={fdname}: tcpack refuses it "
                      f"(expected one of {', '.join(sorted(ROLES))})")
    elif want is None:
        errors.append(f"{name}: not a socket this check knows (add it to SOCKET_ROLES)")
    elif role != want:
        errors.append(f"{name}: FileDescriptorName={fdname} makes it a {role} socket, "
                      f"expected {want}")

    if "WantedBy=sockets.target" not in [f"{k}={v}" for k, v in have]:
        errors.append(f"{name}: no WantedBy=sockets.target ([Install])")
    if name != "tcpack.socket":
        # Not the service's own name: Service= is what makes it trigger the
        # service and pass its fds.
        if values("Service") != ["tcpack.service"]:
            errors.append(f"{name}: Service= is {values('Service')}, expected ['tcpack.service']")
        if name in service_deps:
            errors.append(f"tcpack.service pulls in {name}, which is shipped disabled")
    return listen


def main():
    binary, service = sys.argv[1:3]
    sockets = sys.argv[3:]
    errors = []

    have = directives(service)
    for key, want in REQUIRED.items():
        values = [v for k, v in have if k == key]
        if not values:
            errors.append(f"tcpack.service: {key}= missing")
        elif want is not None and want not in values:
            errors.append(f"tcpack.service: {key}= is {values}, expected {want!r}")
    service_deps = {u for k, v in have if k in ("Wants", "Requires", "BindsTo", "Sockets")
                    for u in v.split()}

    listen = []
    names = [os.path.basename(p) for p in sockets]
    if "tcpack.socket" not in names:
        errors.append("tcpack.socket not given")
    role_fds = {role: 0 for role in ROLE_FDS_MAX}
    for path in sockets:
        addrs = check_socket(path, service_deps, errors)
        listen += addrs
        role = SOCKET_ROLES.get(os.path.basename(path))
        if role in role_fds:
            role_fds[role] += len(addrs)
    # FileDescriptorName= names every fd of a unit alike, and tcpack refuses
    # to start with more than TCPACK_ROLE_FDS_MAX fds named "agent" or
    # "metrics".
    for role, n in role_fds.items():
        if n > ROLE_FDS_MAX[role]:
            errors.append(f"{n} ListenStream= for the {role} role: tcpack takes at most "
                          f"{ROLE_FDS_MAX[role]} {role} sockets")
    for addr in sorted({a for a in listen if listen.count(a) > 1}):
        errors.append(f"ListenStream={addr} is in two sockets")

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
        with open(unit_service, "w", encoding="utf-8") as f:
            f.write(text)
        unit_sockets = []
        for path in sockets:
            unit_sockets.append(os.path.join(tmp, os.path.basename(path)))
            shutil.copy(path, unit_sockets[-1])

        r = subprocess.run([analyze, "verify", "--man=no", *unit_sockets, unit_service],
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
        print(f"units OK: {len(REQUIRED)} required directives; {', '.join(names)} "
              f"on {', '.join(listen)}, each with its role")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
