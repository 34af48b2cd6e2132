#!/usr/bin/env bash
# bench/console/run.sh [JOBS] - the console's time to its first frame and
# per redraw with JOBS (100 000) finished jobs in the store, next to the
# control API's own round trip for the page the console reads, measured
# in the same run against the same daemon. Builds release binaries in
# build-bench/, seeds a scratch home, starts airlockd on it, runs the
# console in a private tmux (200x60) with --stats, scrolls through 150
# rows and 40 pages, filters, sorts by each column and pages, opens a
# job, quits. Needs root (airlockd)
# and tmux. Run by hand; never part of the tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AL_BENCH_BUILD:-$root/build-bench}
jobs=${1:-100000}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAL_TESTS=OFF \
	> /dev/null
make -C "$build" --no-print-directory -j2 airlock airlock_core airlockd \
	bench_console > /dev/null

scratch=$(mktemp -d /tmp/airlock-bench.XXXXXX)
home=$scratch/home
tsock=$scratch/tmux.sock
dpid=
cleanup() {
	tmux -S "$tsock" kill-server 2>/dev/null || true
	if [ -n "$dpid" ]; then kill "$dpid" 2>/dev/null; wait "$dpid" || true; fi
	rm -rf "$scratch"
}
trap cleanup EXIT
mkdir -m 700 "$home"
printf 'registry = http://127.0.0.1:9/\nworkers = 1\n' > "$home/airlock.conf"

echo "== bench console $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg)"
t0=$(date +%s)
AIRLOCK_LOG=warn "$build/bench/console/bench_console" seed "$home" "$jobs"
echo "seeded $jobs jobs in $(( $(date +%s) - t0 )) s"

AIRLOCK_LOG=warn "$build/airlockd" --home "$home" 2> "$scratch/airlockd.log" &
dpid=$!
for _ in $(seq 1 100); do
	[ -S "$home/airlockd.sock" ] && break
	sleep 0.1
done
kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
anon0=$(kib "$dpid" RssAnon)
"$build/bench/console/bench_console" call "$home" 50 > "$scratch/call.txt"
anon1=$(kib "$dpid" RssAnon)
printf 'anon0 %s\nanon1 %s\n' "$anon0" "$anon1" >> "$scratch/call.txt"

tm() { tmux -S "$tsock" "$@"; }
tm -f /dev/null new-session -d -s b -x 200 -y 60 \
	"env LANG=C.UTF-8 TERM=screen-256color $build/airlock --home $home console --stats $scratch/stats.txt"
for _ in $(seq 1 100); do
	tm capture-pane -p -t b | grep -q "jobs: 200 of $jobs" && break
	sleep 0.1
done
for _ in $(seq 1 150); do tm send-keys -t b j; done
for _ in $(seq 1 40); do tm send-keys -t b NPage; done
tm send-keys -t b / failed Enter
sleep 1
tm send-keys -t b / Enter
sleep 1
for _ in $(seq 1 8); do tm send-keys -t b s; sleep 0.3; done
for _ in $(seq 1 10); do tm send-keys -t b NPage; done
tm send-keys -t b g Enter
sleep 1
tm send-keys -t b Q
for _ in $(seq 1 100); do [ -s "$scratch/stats.txt" ] && break; sleep 0.1; done

grep '^redraw_ms ' "$scratch/stats.txt" | cut -d' ' -f2 | sort -n \
	> "$scratch/redraws.txt"
awk -v jobs="$jobs" '
FILENAME ~ /call/ { call[$1] = $2; next }
FILENAME ~ /stats/ { if ($1 == "first_frame_ms") first = $2; next }
{ r[++n] = $1 }
END {
	med = r[int((n + 1) / 2)]; p90 = r[int(n * 0.9)]; max = r[n]
	printf "jobs in the store          %d\n", jobs
	printf "job.page (200) round trip  %.2f ms median (ping %.2f ms)\n",
		call["page_ms"], call["ping_ms"]
	printf "first frame                %.2f ms; goal 50 ms, ratio %.2f\n",
		first, first / 50
	printf "redraw, %d of them         median %.2f ms, p90 %.2f, max %.2f;" \
		" goal 5 ms, ratio %.2f\n", n, med, p90, max, med / 5
	printf "first frame / job.page round trip: %.2f\n",
		first / call["page_ms"]
	printf "index build (first sorted page)  %.0f ms; daemon RssAnon" \
		" %d KiB before, %d KiB after\n", call["index_build_ms"],
		call["anon0"], call["anon1"]
	printf "sorted page (200, by repo) %.2f ms median; by score, failed" \
		" %.2f; by change, text %.2f\n", call["sorted_ms"],
		call["state_ms"], call["match_ms"]
	printf "sorted page / job.page walk: %.2f\n",
		call["sorted_ms"] / call["page_ms"]
}' "$scratch/call.txt" "$scratch/stats.txt" "$scratch/redraws.txt"
