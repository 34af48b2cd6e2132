# appliance/lib/debian.sh - what the base and rootfs stages share: the
# Debian mirror apt is configured with, build-host packages installed
# when missing, and debootstrap trees cached by their package list.
# Sourced, not run; the caller sets `me` (its name in messages).

die() { printf '%s: %s\n' "${me:-appliance}" "$*" >&2; exit 1; }
say() { printf '%s: %s\n' "${me:-appliance}" "$*"; }

# The first mirror apt's own sources name: the stages fetch from nowhere
# else (the same rule as tests/vm/cgroup2).
debian_mirror() {
	local f=/etc/apt/sources.list.d/debian.sources
	if [ -f "$f" ]; then
		awk '/^URIs:/ { print $2; exit }' "$f"
	else
		awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list
	fi
}

# need_host_packages PKG... - install the build host's missing packages.
need_host_packages() {
	local p need=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null |
			grep -q "ok installed" || need+=("$p")
	done
	[ ${#need[@]} -eq 0 ] && return 0
	say "installing on the build host: ${need[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${need[@]}" >/dev/null ||
		die "apt-get could not install ${need[*]}"
}

# debootstrap_cached NAME PKGS [APT_PKGS] - print the path of a minbase
# bookworm tree with PKGS (comma-separated) in $AL_CACHE, made once per
# package list. APT_PKGS (space-separated) are installed afterwards by
# apt-get in the chroot: debootstrap's own resolver does not follow
# virtual packages (npm's dependencies need it). The cached tree is never
# changed: stages copy it before they edit.
debootstrap_cached() {
	local name=$1 pkgs=$2 apt=${3:-} key tree url t0 log
	key="minbase bookworm $pkgs"
	[ -z "$apt" ] || key="$key|$apt"
	key=$(printf '%s' "$key" | sha256sum | cut -c1-12)
	tree=$AL_CACHE/$name-$key
	log=$AL_CACHE/$name-$key.log
	if [ ! -d "$tree" ]; then
		url=$(debian_mirror)
		[ -n "$url" ] || die "no Debian mirror in apt's configuration"
		say "debootstrap of $name (cached as $tree)" >&2
		rm -rf "$tree.new"
		t0=$(date +%s)
		debootstrap --variant=minbase --include="$pkgs" bookworm \
			"$tree.new" "$url" >"$log" 2>&1 ||
			die "debootstrap failed; see $log"
		if [ -n "$apt" ]; then
			# No service of the chroot's packages may start here.
			printf '#!/bin/sh\nexit 101\n' >"$tree.new/usr/sbin/policy-rc.d"
			chmod 0755 "$tree.new/usr/sbin/policy-rc.d"
			# shellcheck disable=SC2086
			chroot "$tree.new" /usr/bin/env DEBIAN_FRONTEND=noninteractive \
				sh -c "apt-get update -q && apt-get install -y -q \
				--no-install-recommends $apt" >>"$log" 2>&1 ||
				die "apt-get in the chroot failed; see $log"
			chroot "$tree.new" apt-get clean >>"$log" 2>&1
			rm -f "$tree.new/usr/sbin/policy-rc.d"
		fi
		# The chroot's apt caches are of no use to a copy.
		rm -rf "$tree.new"/var/cache/apt/archives/*.deb
		mv "$tree.new" "$tree"
		say "debootstrap of $name took $(( $(date +%s) - t0 )) s" >&2
	fi
	printf '%s\n' "$tree"
}

# stale OUTPUT INPUT... - true when OUTPUT is missing or older than any
# INPUT (files or directories, searched whole).
stale() {
	local out=$1 f
	shift
	[ -e "$out" ] || return 0
	for f in "$@"; do
		[ -n "$(find "$f" -newer "$out" -print -quit 2>/dev/null)" ] &&
			return 0
	done
	return 1
}
