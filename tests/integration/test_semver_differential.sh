#!/usr/bin/env bash
# test_semver_differential.sh - airlock's semver against node-semver, the
# library npm itself uses, on a generated corpus.
#
# node-semver is installed at a pinned release from the registry npm is
# configured with, into a cache folder kept between runs. A deterministic
# generator (semver-diff.js, seed printed; AL_SEMVER_SEED and
# AL_SEMVER_COUNT override) writes questions about satisfies, valid,
# validRange, maxSatisfying, minVersion, intersects, gtr and ltr, with
# and without the loose and includePrerelease options; node-semver and
# `airlock semver batch` answer all of them and every answer must match.
set -euo pipefail

: "${AIRLOCK_BIN:?run through tests/run (AIRLOCK_BIN unset)}"
NODE_SEMVER_VERSION=7.8.6
seed=${AL_SEMVER_SEED:-20250601}
count=${AL_SEMVER_COUNT:-120000}
here=$(cd "$(dirname "$0")" && pwd)
cache=${AL_TEST_CACHE:-/var/cache/airlock-tests}/node-semver

tmp=$(mktemp -d /tmp/airlock-semver.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }

install_oracle() {
	local have
	have=$(node -p "require('$cache/node_modules/semver/package.json').version" \
		2>/dev/null || true)
	[ "$have" = "$NODE_SEMVER_VERSION" ] && return 0
	mkdir -p "$cache"
	echo "installing semver@$NODE_SEMVER_VERSION into $cache" >&2
	npm install --prefix "$cache" --no-audit --no-fund --no-save \
		--loglevel=error "semver@$NODE_SEMVER_VERSION" >&2
	have=$(node -p "require('$cache/node_modules/semver/package.json').version")
	[ "$have" = "$NODE_SEMVER_VERSION" ] ||
		fail "installed semver is $have, not $NODE_SEMVER_VERSION"
}

install_oracle
echo "corpus: seed $seed, $count questions (AL_SEMVER_SEED to replay)"
node "$here/semver-diff.js" gen "$seed" "$count" > "$tmp/q.jsonl"
# Both answer at once; the oracle's pid is ours to wait for or end.
NODE_SEMVER="$cache/node_modules/semver" \
	node "$here/semver-diff.js" oracle < "$tmp/q.jsonl" > "$tmp/want.jsonl" &
oracle_pid=$!
trap 'kill "$oracle_pid" 2>/dev/null || true; rm -rf "$tmp"' EXIT
"$AIRLOCK_BIN" semver batch < "$tmp/q.jsonl" > "$tmp/got.jsonl" ||
	fail "airlock semver batch exited with $?"
wait "$oracle_pid" || fail "node-semver oracle exited with $?"
node "$here/semver-diff.js" compare "$tmp/q.jsonl" "$tmp/want.jsonl" \
	"$tmp/got.jsonl" || fail "airlock and node-semver disagree (above)"
echo "ok: $count questions agree with node-semver $NODE_SEMVER_VERSION"

# The fixed cases the brief's edge-case table names, through the CLI.
check() {
	local want=$1; shift
	local got
	got=$("$AIRLOCK_BIN" semver "$@" 2>/dev/null) || true
	[ "$got" = "$want" ] || fail "airlock semver $* gave '$got', want '$want'"
}
check '*' valid-range ''
check '>=1.2.0 <3.0.0-0' valid-range '1.2 - 2'
check '' valid-range latest
check false satisfies '^1.2.3-alpha' 1.3.0-beta.1
check true --include-prerelease satisfies '~1.2.*' 1.2.0-rc
check '>=1.2.0-0 <1.3.0-0' --include-prerelease valid-range '~1.2.*'
check 1.9.10 min-version '>1.9.9 || >=2'
check true gtr 3.0.0 '1.x || 2.x'
check false intersects '<1.0.0 >2.0.0' '>0.0.0'
echo "ok: command-line checks"
echo "1 test: semver differential passed"
