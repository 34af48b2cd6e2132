#!/usr/bin/env bash
# Ctrl-C while a sandboxed test run hangs (it ignores SIGTERM): the job
# ends as cancelled, its record is kept, and the workspace, the sandbox's
# processes and its cgroups are gone.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" cancel)
# The marker is doubled only inside the sandbox (by the shell there), so
# pgrep finds the sandboxed process and never airlock's own command line.
half="airlock-cancel-$$-$RANDOM"
marker="$half$half"

"$AIRLOCK_BIN" --home "$it_home" update "$url" --json \
	--test-cmd "trap '' TERM INT; m=$half; sh -c 'trap \"\" TERM; sleep 600; :' \"\$m\$m\"" \
	> record.json 2> job.log &
pid=$!
for _ in $(seq 1 1200); do
	grep -q 'baseline-test \.\.\.' job.log && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
grep -q 'baseline-test \.\.\.' job.log || { cat job.log; fail "test never started"; }
for _ in $(seq 1 100); do
	pgrep -f "$marker" >/dev/null && break
	sleep 0.1
done
pgrep -f "$marker" >/dev/null || fail "the hanging test is not running"

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
if pgrep -f "$marker" >/dev/null; then fail "sandboxed processes survive"; fi
left=$(find /sys/fs/cgroup -maxdepth 6 -type d -name "airlock-sbx-$pid-*" \
	2>/dev/null | wc -l)
[ "$left" -eq 0 ] || fail "cgroups left behind"
pass "no workspace, process or cgroup left"
