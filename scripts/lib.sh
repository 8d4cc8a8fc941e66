# SPDX-License-Identifier: MIT
# Shared by scripts/run and scripts/test: install what is missing, build.

BUILD_DEPS="meson ninja-build gcc pkg-config liburing-dev libsystemd-dev libcmocka-dev"
TEST_DEPS="python3 systemd util-linux groff-base procps graphviz fonts-dejavu-core iproute2 haproxy prometheus"
# Packages whose service the tests never want running: the fleet suite starts
# its own haproxy, with its own configuration, in network namespaces of its own;
# the monitoring suite its own prometheus on a port of its own (the packaged
# one would listen on :9090 and scrape the machine).
NO_SERVICE="haproxy prometheus"

# install_deps PKG...: apt-get install the packages dpkg does not have yet.
# No service a package ships is started meanwhile (a policy-rc.d that denies
# every start, for the install only, where the machine has none); those in
# NO_SERVICE are then disabled, so they do not start at boot either.
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
	local policy=/usr/sbin/policy-rc.d ours='' rc=0
	if [ ! -e "$policy" ]; then
		# 101: "action not allowed" (invoke-rc.d(8)), for every service.
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null &&
			$sudo chmod 755 "$policy" && ours=yes
	fi
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends \
		"${missing[@]}" >/dev/null </dev/null || rc=$?
	[ -n "$ours" ] && $sudo rm -f "$policy"
	for p in "${missing[@]}"; do
		case " $NO_SERVICE " in *" $p "*) ;; *) continue ;; esac
		# systemctl disable edits links, booted under systemd or not.
		$sudo systemctl disable --quiet "$p.service" 2>/dev/null || true
		[ -d /run/systemd/system ] && $sudo systemctl stop "$p.service" 2>/dev/null || true
		$sudo update-rc.d "$p" disable >/dev/null 2>&1 || true
	done
	return $rc
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
