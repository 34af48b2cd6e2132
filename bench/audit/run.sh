#!/usr/bin/env bash
# bench/audit/run.sh [ENTRIES [ROUNDS]] - build bench_audit (release
# flags, no sanitizers) and run it on a scratch home under /tmp, then
# run `openssl speed` SHA-256 on blocks of the average entry size and on
# 16 KiB blocks (streaming), so that both verifiers' rates can be read
# against the hash limit of this machine in the same run. openssl speed
# divides by one thread's CPU time; each verifier's rate is put against
# it twice: per second of wall-clock time (what a caller waits; the
# verifiers use a second core) and per CPU second of both its threads
# (the work done). Run by hand; never part of the tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AL_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAL_TESTS=OFF \
	> /dev/null
make -C "$build" --no-print-directory bench_audit > /dev/null

scratch=$(mktemp -d /tmp/airlock-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
echo "== bench_audit $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores," \
	"$(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
"$build/bench/audit/bench_audit" "$scratch/home" "${1:-200000}" \
	"${2:-5}" | tee "$scratch/out.txt"
field() { awk -v k="$1" '$1 == k { print $2 }' "$scratch/out.txt"; }
avg=$(field entry_bytes_avg)
bytes=$(field export_bytes)
entries=$(field entries)
store=$(field verify_store)
store_cpu=$(field verify_store_cpu)
export=$(field verify_export)
export_cpu=$(field verify_export_cpu)
store1=$(field verify_store_1thread)
export1=$(field verify_export_1thread)

echo "== openssl speed -bytes $avg sha256 (entry-sized blocks, same run)"
e=$(openssl speed -seconds 3 -bytes "$avg" sha256 2>/dev/null | tail -1 |
	awk '{ sub(/k$/, "", $2); print $2 * 1000 }')
echo "sha256 $e bytes/s"
echo "== openssl speed -bytes 16384 sha256 (streaming, same run)"
s=$(openssl speed -seconds 3 -bytes 16384 sha256 2>/dev/null | tail -1 |
	awk '{ sub(/k$/, "", $2); print $2 * 1000 }')
echo "sha256 $s bytes/s"
echo "== load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
awk -v e="$e" -v s="$s" -v avg="$avg" -v bytes="$bytes" -v n="$entries" \
	-v store="$store" -v export="$export" -v store_cpu="$store_cpu" \
	-v export_cpu="$export_cpu" -v store1="$store1" \
	-v export1="$export1" 'BEGIN {
	printf "verify_store (median) takes %.2fx (wall) and %.2fx (CPU) " \
	       "the time openssl needs to hash %d entry-sized blocks " \
	       "(one thread: %.2fx wall)\n", (e / avg) / store,
	       (e / avg) / store_cpu, n, (e / avg) / store1
	printf "verify_export (median) takes %.2fx (wall) and %.2fx (CPU) " \
	       "the time openssl needs to hash the export file once " \
	       "(%d bytes; one thread: %.2fx wall)\n",
	       (n / export) / (bytes / s), (n / export_cpu) / (bytes / s),
	       bytes, (n / export1) / (bytes / s)
}'
