#!/usr/bin/env bash
# Fail closed in the middle of a real job: while the baseline test runs
# in its sandbox, the store's data file is made immutable (chattr +i,
# which refuses writes even to root and to descriptors already open), so
# the next audit entry cannot be written. The job must stop there: no
# further stage, no push, exit 1 with the reason, no workspace, loop
# device or cgroup left, and the log as it was before the refusal.
# Without the control (job_stopping / the audit_failed checks) the job
# goes on to install, test and push.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
data="$it_home/db/data.mdb"
pid=
cleanup() {
	if [ -e "$data" ]; then chattr -i "$data" 2>/dev/null || true; fi
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	fi
	it_cleanup
}
trap cleanup EXIT

probe="$it_tmp/immutable-probe"
: > "$probe"
if ! chattr +i "$probe" 2>/dev/null; then
	echo "skip: $it_tmp's filesystem has no immutable attribute"
	exit 0
fi
chattr -i "$probe"

npm pack --silent --registry "$AL_TEST_REGISTRY" minimist@1.2.8 >/dev/null
mkdir src && tar -xzf minimist-1.2.8.tgz -C src --strip-components=1
url=$(it_publish "$it_tmp/src" auditfail)
bare="$AL_TEST_GIT_ROOT/repos/auditfail.git"

# The sandboxed test announces itself with a file in its project tree
# and waits for the harness's go-ahead next to it.
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json --test-cmd \
	': > .al-waiting; while [ ! -e .al-go ]; do sleep 0.1; done; npm run tests-only' \
	> record.json 2> job.log &
pid=$!
waiting=
for _ in $(seq 1 1800); do
	waiting=$(find "$it_home/work" "/proc/$pid/root$it_home/work" \
		-name .al-waiting 2>/dev/null | head -1 || true)
	[ -n "$waiting" ] && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
[ -n "$waiting" ] || { cat job.log; fail "the baseline test never started"; }
grep -q 'baseline-test \.\.\.' job.log || fail "not in the baseline test"
entries_before=$("$AIRLOCK_BIN" --home "$it_home" audit show | wc -l)

chattr +i "$data"
touch "$(dirname "$waiting")/.al-go"
set +e
wait "$pid"
rc=$?
set -e
jobpid=$pid
pid=
chattr -i "$data"

[ "$rc" -eq 1 ] || { cat job.log; fail "expected exit 1, got $rc"; }
node -e '
const r = require("./record.json");
const f = (r.report && r.report.failures) || [];
if (r.state !== "failed" || !f.some(x => /audit log/.test(x.reason)))
  throw new Error(r.state + " " + JSON.stringify(f));
' || { cat job.log; fail "the job did not end failed with the reason"; }
grep -Eq '(^|[^-])install \.\.\.|propose \.\.\.' job.log &&
	{ cat job.log; fail "a stage started after the refusal"; }
[ -z "$(it_branch "$bare")" ] || fail "a branch was pushed"
pass "the job stopped at the refused entry: exit 1, no next stage, no push"

it_no_workspace
left=$(find /sys/fs/cgroup -maxdepth 6 -type d \
	-name "airlock-sbx-$jobpid-*" 2>/dev/null | wc -l)
[ "$left" -eq 0 ] || fail "cgroups left behind"
if losetup -a 2>/dev/null | grep -q "$it_home"; then
	fail "loop device left attached"
fi
if grep -q "$it_home" /proc/mounts; then fail "mount left behind"; fi
pass "no workspace, loop device, mount or cgroup left"

"$AIRLOCK_BIN" --home "$it_home" audit verify > verify.txt ||
	{ cat verify.txt; fail "the log does not verify after the refusal"; }
"$AIRLOCK_BIN" --home "$it_home" audit show > show.txt
grep -q '"action":"vcs.push"' show.txt && fail "a push is in the log"
grep '"action":"stage.start"' show.txt | grep -q '"object":"install"' &&
	fail "the install stage is in the log"
[ "$(wc -l < show.txt)" -ge "$entries_before" ] || fail "entries lost"
pass "the log verifies and holds nothing past the refusal"
