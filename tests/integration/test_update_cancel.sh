#!/usr/bin/env bash
# Ctrl-C in the middle of a sandboxed install: the job ends as cancelled,
# its record is kept, and the workspace, the sandbox's processes and its
# cgroups are gone.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" cancel)

"$AIRLOCK_BIN" --home "$it_home" update "$url" --json \
	> record.json 2> job.log &
pid=$!
for _ in $(seq 1 600); do
	grep -q 'baseline-install \.\.\.' job.log && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
grep -q 'baseline-install \.\.\.' job.log || { cat job.log; fail "install never started"; }
sleep 1
kill -INT "$pid"
set +e
wait "$pid"
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat job.log; fail "expected exit 1 after Ctrl-C, got $rc"; }
[ "$(node -p "require('./record.json').state")" = cancelled ] ||
	fail "state is not cancelled"
pass "job cancelled, record kept"

it_no_workspace
if pgrep -u 64000 >/dev/null; then fail "sandboxed processes survive"; fi
left=$(find /sys/fs/cgroup -maxdepth 6 -type d -name 'airlock-*' 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || fail "cgroups left: $(find /sys/fs/cgroup -type d -name 'airlock-*')"
pass "no workspace, process or cgroup left"
