#!/usr/bin/env bash
# A home whose socket path would not fit a Unix socket address is refused
# before anything is made in it (docs/daemon.md, "Starting": each refusal
# leaves everything as it was): no lock file, keys, store or audit entry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
long="$it_tmp/$(printf 'h%.0s' $(seq 1 100))"
dmn_use_home "$long"
chmod 0700 "$long"
rc=0
timeout 60 "$AIRLOCKD_BIN" --home "$long" > long.txt 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc: $(cat long.txt)"
grep -q "the socket path would be too long for a Unix socket" long.txt ||
	fail "no reason given: $(cat long.txt)"
[ "$(ls -A "$long")" = airlock.conf ] ||
	fail "the refused start left: $(ls -A "$long" | tr '\n' ' ')"
pass "a home too long for the socket is refused with nothing made in it"
