#!/usr/bin/env bash
# bench/image/run.sh - what naming the base image costs a sandbox run:
# a packed image (squashfs file: SHA-256 of its bytes, loop device,
# mount) against the same tree as an image directory (SHA-256 over every
# file) and the host's own system, in interleaved rounds.
#
#   bench/image/run.sh [-n ROUNDS] [--airlock PATH]
#
# The image holds node, npm, their libraries and /etc/ssl (about the
# size of the appliance's base image without Debian's own files); the
# payload is `sh -c :`, so a run is the image's verification plus one
# sandbox. Prints the median of each and the ratios of the verification
# costs (a run's median minus the host's). Needs root and mksquashfs.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
airlock=$root/build-dev/airlock
rounds=9
while [ $# -gt 0 ]; do
	case $1 in
	-n) rounds=$2; shift 2 ;;
	--airlock) airlock=$2; shift 2 ;;
	-h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench/image: unknown option $1" >&2; exit 2 ;;
	esac
done
[ "$(id -u)" -eq 0 ] || { echo "bench/image: needs root" >&2; exit 2; }
[ -x "$airlock" ] || { echo "bench/image: no $airlock" >&2; exit 2; }

tmp=$(mktemp -d /tmp/airlock-bench-image.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
chmod 0755 "$tmp"
tree=$tmp/tree
mkdir -p "$tree/usr/bin" "$tree/usr/lib/node_modules" "$tree/etc"
node=$(readlink -f "$(command -v node)")
cp "$node" "$tree/usr/bin/node"
cp /bin/dash "$tree/usr/bin/sh"
cp -a "$(dirname "$node")/../lib/node_modules/npm" \
	"$tree/usr/lib/node_modules/"
for lib in $(ldd "$node" /bin/dash | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
	mkdir -p "$tree/usr$(dirname "$lib")"
	cp "$(readlink -f "$lib")" "$tree/usr$lib"
done
for d in bin lib lib64; do
	if [ -e "$tree/usr/$d" ]; then ln -s "usr/$d" "$tree/$d"; fi
done
cp -aL /etc/ssl "$tree/etc/"
chmod -R go-w "$tree"
mksquashfs "$tree" "$tmp/base.img" -all-root -noappend -quiet -comp zstd \
	-processors 1 > /dev/null
echo "image: $(du -sh "$tree" | cut -f1) tree, $(du -sh "$tmp/base.img" |
	cut -f1) packed (zstd); load: $(cut -d' ' -f1-3 /proc/loadavg)"

declare -A times
one() { # NAME ARGS...: one run, its ms appended to times[NAME]
	local name=$1 s e
	shift
	s=$(date +%s%N)
	"$airlock" sandbox run "$@" -- /bin/sh -c : > /dev/null 2>&1 ||
		{ echo "bench/image: $name failed" >&2; exit 1; }
	e=$(date +%s%N)
	times[$name]+="$(((e - s) / 1000000)) "
}
for _ in $(seq 1 "$rounds"); do
	one packed --image "$tmp/base.img"
	one tree --image "$tree"
	one host
done
median() { tr ' ' '\n' | grep . | sort -n | awk '{a[NR]=$1}
	END {print a[int((NR + 1) / 2)]}'; }
p=$(echo "${times[packed]}" | median)
t=$(echo "${times[tree]}" | median)
h=$(echo "${times[host]}" | median)
echo "median ms over $rounds rounds: packed $p, tree $t, host $h"
awk -v p="$p" -v t="$t" -v h="$h" 'BEGIN {
	printf "packed / tree: %.2f\n", p / t
	if (t > h) printf "verification, packed / tree: %.2f\n", (p - h) / (t - h)
}'
