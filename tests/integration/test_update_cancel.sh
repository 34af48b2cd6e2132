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

# Ctrl-C while the registry hangs (a server that accepts and never
# answers): the plan stops at once instead of waiting out the requests.
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
' > stall.port &
stall=$!
trap 'kill $stall 2>/dev/null; it_cleanup' EXIT
for _ in $(seq 1 50); do [ -s stall.port ] && break; sleep 0.1; done
shome="$it_tmp/stall-home"
mkdir -p "$shome"
echo "registry = http://127.0.0.1:$(cat stall.port)/" > "$shome/airlock.conf"
"$AIRLOCK_BIN" --home "$shome" update "$url" --json > stall.json \
	2> stall.log &
pid=$!
for _ in $(seq 1 300); do
	grep -q 'plan \.\.\.' stall.log && break
	sleep 0.1
done
sleep 1
kill -INT "$pid"
# Requests time out after 60 s on their own; a cancel must not wait.
for _ in $(seq 1 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	fail "Ctrl-C did not stop a job waiting on the registry"
fi
wait "$pid" || true
node -e '
const r = require("./stall.json");
const plan = r.stages.find(s => s.name === "plan");
if (r.state !== "cancelled" || plan.result !== "cancelled")
  throw new Error(r.state + " / " + plan.result);
' || fail "stalled-registry cancel record"
pass "Ctrl-C stops a job waiting on a silent registry"
