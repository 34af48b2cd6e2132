#!/usr/bin/env bash
# bench/sched/run.sh [JOBS] [BATCH] - build bench_sched (release flags, no
# sanitizers) and run it on a scratch home under /tmp: enqueue -> lease
# -> complete cycles of no-op jobs, durable, next to raw LMDB put+commit
# in a second environment in the same directory, in the same run. Run by
# hand; never part of the tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AL_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAL_TESTS=OFF \
	> /dev/null
make -C "$build" --no-print-directory bench_sched > /dev/null

scratch=$(mktemp -d /tmp/airlock-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
echo "== bench_sched $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r)," \
	"load $(cut -d' ' -f1-3 /proc/loadavg), $(df -P "$scratch" |
	awk 'NR == 2 { print $1 }')"
"$build/bench/sched/bench_sched" "$scratch/run" "${1:-100000}" "${2:-100}"
