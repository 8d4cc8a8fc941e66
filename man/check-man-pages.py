#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Keep the man pages and the sample configuration in step with the binary.

Fails when an option of `tcpack --help` has no entry in tcpack(8), a key has
no entry in tcpack.conf(5) or no commented line in the sample tcpack.conf,
when any of them names an option or key the binary does not have, when the
sample's commented value is not the default --help states, or when tcpack
rejects the sample with every key uncommented. Runs groff's warnings over
the pages when groff is installed.

Usage: check-man-pages.py TCPACK TCPACK.8 TCPACK.CONF.5 TCPACK.CONF
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

OPTION = re.compile(r"^\s+(?:-(\w), )?--([a-z][a-z-]*)\s+(.*)$")
DEFAULT = re.compile(r"\(default (.*)\)")
SAMPLE_KEY = re.compile(r"^#([a-z][a-z-]*) = (.*)$")


def parse_help(binary):
    """Return ({long: short or None}, {key: default or None}) from --help."""
    text = subprocess.run([binary, "--help"], check=True, capture_output=True,
                          text=True).stdout
    options, keys = {}, {}
    in_keys = False
    for line in text.splitlines():
        if line.startswith("Every config file key"):
            in_keys = True
            continue
        m = OPTION.match(line)
        if not m:
            continue
        short, name, desc = m.groups()
        options[name] = short
        if in_keys:
            d = DEFAULT.search(desc)
            keys[name] = d.group(1) if d else None
    if not keys:
        raise SystemExit("FAIL: found no config keys in tcpack --help")
    return options, keys


def section_tags(path, section):
    """The tag lines (the line after each .TP) of one .SH section, roff
    escapes for hyphens removed."""
    tags = []
    in_section = False
    depth = 0  # inside .RS ... .RE: a nested list, not an entry
    lines = open(path, encoding="utf-8").read().splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".SH "):
            in_section = line[4:].strip().strip('"') == section
            depth = 0
        elif line.startswith(".RS"):
            depth += 1
        elif line.startswith(".RE"):
            depth = max(depth - 1, 0)
        elif in_section and depth == 0 and line.startswith(".TP") and i + 1 < len(lines):
            tags.append(lines[i + 1].replace("\\-", "-"))
    return tags


def compare_options(page, options, program, name_chars="a-z-"):
    """One OPTIONS entry of @page per option of @program --help (@options:
    long name -> short letter or None), with the same short form, and none
    that --help lacks. Return: the differences, one line each."""
    errors = []
    name = os.path.basename(page)
    documented = {}
    for tag in section_tags(page, "OPTIONS"):
        for short, opt in re.findall(rf"(?:-(\w), )?--([a-z][{name_chars}]*)", tag):
            documented[opt] = short or None
    for opt, short in options.items():
        if opt not in documented:
            errors.append(f"{name}: --{opt} has no entry under OPTIONS")
        elif documented[opt] != short:
            errors.append(f"{name}: --{opt}: short option {documented[opt]!r}, "
                          f"--help says {short!r}")
    for opt in documented.keys() - options.keys():
        errors.append(f"{name}: --{opt} is not an option of {program} --help")
    return errors


def main():
    binary, page8, page5, sample = sys.argv[1:5]
    options, keys = parse_help(binary)

    # tcpack(8): one OPTIONS entry per option, with its short form.
    errors = compare_options(page8, options, "tcpack")

    # tcpack.conf(5): one KEYS entry per key.
    conf_keys = set()
    for tag in section_tags(page5, "KEYS"):
        m = re.match(r"^\.B\s+([a-z][a-z-]*)\s*$", tag)
        if m:
            conf_keys.add(m.group(1))
    for key in keys.keys() - conf_keys:
        errors.append(f"tcpack.conf.5: key {key} has no entry under KEYS")
    for key in conf_keys - keys.keys():
        errors.append(f"tcpack.conf.5: key {key} is not a key of tcpack --help")

    # The sample configuration: every key commented out with its default.
    sample_values = {}
    with open(sample, encoding="utf-8") as f:
        for line in f:
            m = SAMPLE_KEY.match(line.rstrip("\n"))
            if m:
                sample_values[m.group(1)] = m.group(2)
    for key, default in keys.items():
        if key not in sample_values:
            errors.append(f"tcpack.conf: key {key} missing (expected '#{key} = ...')")
            continue
        value = sample_values[key]
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1]
        if default is not None and value != default:
            errors.append(f"tcpack.conf: {key} = {value!r}, but --help says the "
                          f"default is {default!r}")
    for key in sample_values.keys() - keys.keys():
        errors.append(f"tcpack.conf: {key} is not a key of tcpack --help")

    # The sample's values, uncommented, are a valid configuration.
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "tcpack.conf")
        with open(sample, encoding="utf-8") as f, open(conf, "w", encoding="utf-8") as out:
            for line in f:
                out.write(line[1:] if SAMPLE_KEY.match(line.rstrip("\n")) else line)
        r = subprocess.run([binary, "--config", conf, "--check-config"],
                           capture_output=True, text=True)
        if r.returncode != 0:
            errors.append("tcpack.conf uncommented is rejected: " + r.stdout + r.stderr)

    groff = shutil.which("groff")
    if groff:
        for page in (page8, page5):
            r = subprocess.run([groff, "-man", "-k", "-t", "-ww", "-z", "-Tutf8", page],
                               capture_output=True, text=True)
            if r.returncode != 0 or r.stderr.strip():
                errors.append(f"groff warnings for {os.path.basename(page)}:\n{r.stderr}")
    else:
        print("note: groff not installed, roff warnings not checked")

    for e in errors:
        print("FAIL:", e)
    if not errors:
        print(f"man pages match --help: {len(options)} options, {len(keys)} keys; "
              f"sample tcpack.conf has every key with its default")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
