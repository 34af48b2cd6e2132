#!/usr/bin/env bash
# HOME/airlockd.lock as an operator meets it: a refused second daemon
# leaves the running one's pid in the file, so a third is refused at once
# naming it too; and a daemon that was just killed (still a zombie, its
# parent has not reaped it) while its workers hold the lock is waited for,
# not taken for a running one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
lock="$it_home/airlockd.lock"

dmn_start
for n in second third; do
	set +e
	timeout 20 "$AIRLOCKD_BIN" --home "$it_home" > "$n.txt" 2>&1; rc=$?
	set -e
	[ "$rc" -eq 1 ] || fail "$n daemon: exit status $rc: $(cat "$n.txt")"
	grep -q "another airlockd (pid $dmn_pid) runs on $it_home" "$n.txt" ||
		fail "$n daemon: $(cat "$n.txt")"
	[ "$(cat "$lock")" = "$dmn_pid" ] ||
		fail "after the $n daemon the lock file says '$(cat "$lock")'"
done
al status > /dev/null || fail "the first daemon suffered"
pass "refused daemons leave the holder's pid in the lock file"
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || fail "daemon exit status $dmn_rc"

# A zombie named in the lock file, and the lock held a little longer by
# someone else (as the workers of a daemon killed a moment ago hold it).
python3 - > zombie.pid <<'EOF' &
import os, sys, time
pid = os.fork()
if pid == 0:
    os._exit(0)
print(pid, flush=True)
time.sleep(30)
EOF
reaper=$!
for _ in $(seq 1 50); do [ -s zombie.pid ] && break; sleep 0.1; done
zombie=$(cat zombie.pid)
for _ in $(seq 1 50); do
	[ "$(awk '{print $3}' "/proc/$zombie/stat" 2>/dev/null)" = Z ] && break
	sleep 0.1
done
[ "$(awk '{print $3}' "/proc/$zombie/stat")" = Z ] || fail "no zombie"
echo "$zombie" > "$lock"
flock -x "$lock" sleep 3 &
holder=$!
for _ in $(seq 1 50); do
	flock -n -x "$lock" true 2>/dev/null || break
	sleep 0.1
done
: > "$dmn_log"
dmn_start
grep -q "waiting for the workers of the previous airlockd (pid $zombie)" \
	"$dmn_log" || fail "did not wait: $(cat "$dmn_log")"
wait "$holder"
kill "$reaper" 2>/dev/null || true
wait "$reaper" 2>/dev/null || true
pass "a zombie daemon's held lock is waited for, then taken"
