#!/usr/bin/env bash
# bench/daemon/run.sh [SECONDS] - airlockd at rest, next to lighttpd (a
# small C event-loop server, installed for the tests' git remote) at rest
# in the same run: resident memory (VmRSS, VmHWM) once both are up, then
# CPU time and context switches of every thread over SECONDS (default 65,
# past the daemon's once-a-minute checkpoint look) with nothing queued,
# no client and no schedule. Release build, no sanitizers. Run by hand;
# never part of the tests. Goal (issue 5): RSS under 16 MiB, no CPU use.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AL_BENCH_BUILD:-$root/build-bench}
secs=${1:-65}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAL_TESTS=OFF \
	> /dev/null
make -C "$build" --no-print-directory airlockd airlock > /dev/null
command -v lighttpd > /dev/null || "$root/appliance/install-deps"

scratch=$(mktemp -d /tmp/airlock-bench.XXXXXX)
dpid= lpid=
cleanup() {
	[ -z "$dpid" ] || { kill "$dpid" 2>/dev/null; wait "$dpid" || true; }
	[ -z "$lpid" ] || { kill "$lpid" 2>/dev/null; wait "$lpid" || true; }
	rm -rf "$scratch"
}
trap cleanup EXIT

home="$scratch/home"
mkdir -m 0700 "$home"
printf 'registry = %s\nworkers = 2\n' "$(npm config get registry)" \
	> "$home/airlock.conf"
"$build/airlockd" --home "$home" 2> "$scratch/airlockd.log" &
dpid=$!

mkdir "$scratch/www"
cat > "$scratch/lighttpd.conf" <<CONF
server.document-root = "$scratch/www"
server.bind = "127.0.0.1"
server.port = 0
server.errorlog = "$scratch/lighttpd.log"
CONF
# port 0 is refused by some versions: pick a free one.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
sed -i "s/^server.port = 0$/server.port = $port/" "$scratch/lighttpd.conf"
lighttpd -D -f "$scratch/lighttpd.conf" &
lpid=$!

for _ in $(seq 1 100); do
	"$build/airlock" --home "$home" status > /dev/null 2>&1 && break
	sleep 0.1
done
"$build/airlock" --home "$home" status > /dev/null ||
	{ cat "$scratch/airlockd.log"; echo "airlockd did not start" >&2; exit 1; }
sleep 1

# kib PID FIELD: a Vm* field of /proc/PID/status, in KiB.
kib() { awk -v f="$2:" '$1 == f { print $2 }' "/proc/$1/status"; }
# ticks PID: user + system clock ticks of every thread.
ticks() { awk '{ t += $14 + $15 } END { print t }' /proc/"$1"/task/*/stat; }
# switches PID: context switches of every thread.
switches() {
	cat /proc/"$1"/task/*/status |
		awk '/ctxt_switches/ { n += $2 } END { print n }'
}

echo "== airlockd at rest, $(date -u +%Y-%m-%d) on $(nproc) cores," \
	"$(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
declare -A rss hwm t0 s0
for p in "$dpid" "$lpid"; do
	rss[$p]=$(kib "$p" VmRSS) hwm[$p]=$(kib "$p" VmHWM)
	t0[$p]=$(ticks "$p") s0[$p]=$(switches "$p")
done
sleep "$secs"
hz=$(getconf CLK_TCK)
printf '%-10s %10s %10s %8s %10s %14s\n' name "RSS KiB" "peak KiB" threads \
	"CPU ms" "ctx switches"
for p in "$dpid" "$lpid"; do
	n=airlockd; [ "$p" = "$dpid" ] || n=lighttpd
	printf '%-10s %10s %10s %8s %10s %14s\n' "$n" "${rss[$p]}" \
		"${hwm[$p]}" "$(ls /proc/"$p"/task | wc -l)" \
		$(( ($(ticks "$p") - t0[$p]) * 1000 / hz )) \
		$(( $(switches "$p") - s0[$p] ))
done
awk -v a="${rss[$dpid]}" -v l="${rss[$lpid]}" 'BEGIN {
	printf "RSS airlockd/lighttpd %.2f; airlockd/goal (16 MiB) %.2f\n",
		a / l, a / 16384 }'
echo "(over ${secs} s at rest; CPU ms counts clock ticks of $((1000 / hz)) ms)"
