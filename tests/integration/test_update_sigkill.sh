#!/usr/bin/env bash
# airlock killed outright (SIGKILL) in the middle of a sandboxed test: its
# sandboxed processes die with it, and the next airlock on the same home
# removes the workspace (customer source) and the cgroups it left.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" sigkill)
half="airlock-sigkill-$$-$RANDOM"

"$AIRLOCK_BIN" --home "$it_home" update "$url" \
	--test-cmd "m=$half; sh -c 'sleep 600; :' \"\$m\$m\"" \
	> out.txt 2> job.log &
pid=$!
for _ in $(seq 1 1200); do
	pgrep -f "$half$half" >/dev/null && break
	kill -0 "$pid" 2>/dev/null || break
	sleep 0.1
done
pgrep -f "$half$half" >/dev/null || { cat job.log; fail "test never started"; }
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true

for _ in $(seq 1 50); do
	pgrep -f "$half$half" >/dev/null || break
	sleep 0.1
done
if pgrep -f "$half$half" >/dev/null; then fail "sandboxed test outlived airlock"; fi
left=$(find "$it_home/work" -mindepth 1 -maxdepth 1 -type d | wc -l)
[ "$left" -eq 1 ] || fail "expected the killed job's workspace, found $left"
pass "sandboxed processes died with airlock; workspace left behind"

# The next run, even one that fails early, sweeps what the dead one left.
"$AIRLOCK_BIN" --home "$it_home" update "$it_tmp/no-such-repo" \
	> /dev/null 2> next.log || true
it_no_workspace
[ -z "$(find "$it_home/work" -name '*.lock')" ] || fail "lock file left"
cg=$(find /sys/fs/cgroup -maxdepth 6 -type d -name "airlock-sbx-$pid-*" \
	2>/dev/null | wc -l)
[ "$cg" -eq 0 ] || fail "cgroups of the killed process left"
pass "next run removed the workspace and cgroups"
