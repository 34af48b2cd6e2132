#!/usr/bin/env bash
# bench/api/run.sh [CLIENTS] [CALLS] - build bench_api (release flags, no
# sanitizers) and run it on a scratch home under /tmp: requests per
# second and latency percentiles of the control API, with and without
# the per-call audit entries. Run by hand; never part of the tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AL_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAL_TESTS=OFF \
	> /dev/null
make -C "$build" --no-print-directory bench_api > /dev/null

scratch=$(mktemp -d /tmp/airlock-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
echo "== bench_api $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r)"
"$build/bench/api/bench_api" "$scratch/home" "${1:-50}" "${2:-2000}"
