#!/usr/bin/env bash
# `airlock job ...` exit statuses as its --help promises them: 2 for bad
# usage or no such job, whichever command meets it (logs included), 1
# when the daemon cannot be reached.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"

# expect STATUS TEXT CMD...: CMD exits with STATUS and says TEXT.
expect() {
	local want=$1 text=$2 rc=0
	shift 2
	al "$@" > out.txt 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] ||
		fail "airlock $*: exit status $rc, not $want: $(cat out.txt)"
	grep -qF -- "$text" out.txt || fail "airlock $*: $(cat out.txt)"
}

expect 1 "cannot reach airlockd" job logs 0123456789abcdef0123
dmn_start
for cmd in show cancel retry logs; do
	expect 2 "'id' must be a job id" job "$cmd" not-an-id
	expect 2 "no job 0123456789abcdef0123" job "$cmd" 0123456789abcdef0123
done
expect 2 "no job 0123456789abcdef0123" job logs 0123456789abcdef0123 --follow
expect 2 "'state' must be" job list --state bogus
pass "bad ids and unknown jobs exit 2 from every command"
