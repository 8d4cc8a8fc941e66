# SPDX-License-Identifier: MIT
# Shared by scripts/run and scripts/test: install what is missing, build.

BUILD_DEPS="meson ninja-build gcc pkg-config liburing-dev libsystemd-dev libcmocka-dev"
TEST_DEPS="python3 systemd util-linux groff-base procps graphviz fonts-dejavu-core"

# install_deps PKG...: apt-get install the packages dpkg does not have yet.
install_deps() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo ">> installing ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -q >/dev/null </dev/null
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null </dev/null
}

# configure DIR [MESON ARGS...]: meson setup once, reconfigure when args change.
configure() {
	local dir=$1
	shift
	if [ -f "$dir/build.ninja" ]; then
		meson configure "$dir" "$@" >/dev/null
	else
		meson setup "$dir" "$@" >/dev/null
	fi
}
