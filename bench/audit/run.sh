#!/usr/bin/env bash
# bench/audit/run.sh [ENTRIES] - build bench_audit (release flags, no
# sanitizers) and run it on a scratch home under /tmp, then print
# `openssl speed` SHA-256 for blocks of the same average size, so the
# verifier's rate can be read against the hash limit of this machine in
# the same run. Run by hand; never part of the tests.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
build=${AL_BENCH_BUILD:-$root/build-bench}
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DAL_TESTS=OFF \
	> /dev/null
make -C "$build" --no-print-directory bench_audit > /dev/null

scratch=$(mktemp -d /tmp/airlock-bench.XXXXXX)
trap 'rm -rf "$scratch"' EXIT
echo "== bench_audit $(date -u +%Y-%m-%d) on $(nproc) cores, $(uname -r)"
"$build/bench/audit/bench_audit" "$scratch/home" "${1:-200000}" |
	tee "$scratch/out.txt"
avg=$(awk '$1 == "entry_bytes_avg" { print $2 }' "$scratch/out.txt")
echo "== openssl speed -bytes $avg sha256 (entry-sized blocks, same run)"
openssl speed -seconds 3 -bytes "$avg" sha256 2>/dev/null | tail -1
# The honest limit for verify_export: the same bytes (the export file)
# hashed once as a stream, by openssl, in this run.
echo "== openssl speed -bytes 16384 sha256 (streaming, same run)"
openssl speed -seconds 3 -bytes 16384 sha256 2>/dev/null | tail -1 |
	tee "$scratch/speed.txt"
awk -v out="$scratch/out.txt" '
	BEGIN {
		while ((getline l < out) > 0) {
			split(l, f, " ")
			if (f[1] == "export_bytes") bytes = f[2]
			if (f[1] == "verify_export" && f[3] == "entries/s") {
				rate = f[2]; n = f[4]
			}
		}
		gsub(/[(]/, "", n)
	}
	$1 == "sha256" {
		kps = $2; sub(/k$/, "", kps)
		hash_s = bytes / (kps * 1000)
		ver_s = n / rate
		printf "verify_export takes %.2fx the time openssl needs to " \
		       "hash the export file once (%d bytes)\n", ver_s / hash_s,
		       bytes
	}' "$scratch/speed.txt"
