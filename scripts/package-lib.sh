# SPDX-License-Identifier: MIT
# shellcheck shell=bash
# Shared by scripts/build-deb, scripts/build-rpm and scripts/check-packages.

# The binary packages, named alike in both formats: the server first, then
# the load generator (which needs no server installed).
PACKAGES="tcpack tcpack-bench"

# project_version: meson's project() version, the one source of truth.
project_version() {
	meson introspect meson.build --projectinfo |
		python3 -c 'import json, sys; print(json.load(sys.stdin)["version"])'
}

# copy_tree DEST: the source tree as it is now, into DEST. In a git checkout
# (whose top is here): tracked and untracked files, not what .gitignore
# ignores. Elsewhere (a copy without .git): everything but build dirs.
copy_tree() {
	local dest=$1
	if [ "$(git rev-parse --show-toplevel 2>/dev/null)" = "$PWD" ]; then
		git ls-files -z --cached --others --exclude-standard |
			while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done |
			tar --null -T - -cf - | tar -xf - -C "$dest"
	else
		tar --exclude='./build*' --exclude='./obj-*' --exclude=./dist --exclude=./.git \
			-cf - . | tar -xf - -C "$dest"
	fi
}
