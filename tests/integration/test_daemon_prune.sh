#!/usr/bin/env bash
# Retention (docs/daemon.md, "Retention"): finished jobs that ended more
# than job_retention_days ago leave `airlock job list` at the daemon's
# next start, with their progress lines, while queued and running jobs
# stay however old; the audit log verifies and holds the jobs.prune
# entry; `job show` of a deleted job answers "no job"; a key rotation
# afterwards still works. AIRLOCK_TEST_DAY_MS makes a day one second.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/daemon-project" pproject)
printf 'workers = 1\n' >> "$it_home/airlock.conf"
dmn_start
pass "daemon started"

al config show > conf.txt
grep -q 'job_retention_days.*90' conf.txt && grep -q 'job_retention_max.*0' conf.txt ||
	{ cat conf.txt; fail "config show: retention defaults"; }

# Three jobs that fail at once (no such repository), one after the other.
gone=()
for i in 1 2 3; do
	id=$(al job enqueue "$GIT_SERVER_URL/missing-$i.git" --json | json_id)
	dmn_wait "$id" r.state failed 120
	gone+=("$id")
done
al job logs "${gone[0]}" | grep -q . || fail "no progress lines to delete"
# A job that runs for long (the one worker is busy with it), one queued
# behind it, and one cancelled while queued.
t=$(al job enqueue "$url" --test-cmd "sleep 600" --json | json_id)
dmn_wait "$t" r.state running 60
q=$(al job enqueue "$GIT_SERVER_URL/missing-q.git" --json | json_id)
c=$(al job enqueue "$GIT_SERVER_URL/missing-c.git" --json | json_id)
al job cancel "$c" >/dev/null
dmn_wait "$c" r.state cancelled 30
gone+=("$c")
[ "$(dmn_field "$q" r.state)" = queued ] || fail "job $q is not queued"
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || { cat "$dmn_log"; fail "daemon exit status $dmn_rc"; }
pass "four finished jobs, one stopped and one queued"

# A day of one second: every job above is older than three days now.
printf 'job_retention_days = 3\n' >> "$it_home/airlock.conf"
sleep 4
export AIRLOCK_TEST_DAY_MS=1000
dmn_start
for _ in $(seq 1 100); do
	grep -q 'retention: deleted jobs=4 ' "$dmn_log" && break
	sleep 0.1
done
grep -q 'retention: deleted jobs=4 ' "$dmn_log" ||
	{ cat "$dmn_log"; fail "no retention line"; }
al job list > list.txt
for id in "${gone[@]}"; do
	grep -q "^$id " list.txt && { cat list.txt; fail "job $id still listed"; }
	set +e
	al job show "$id" 2> err.txt; rc=$?
	set -e
	[ "$rc" -eq 2 ] && grep -q "no job $id" err.txt ||
		fail "job show $id: rc=$rc $(cat err.txt)"
	set +e
	al job logs "$id" 2> err.txt; rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "job logs $id: rc=$rc"
done
for id in "$t" "$q"; do
	grep -q "^$id " list.txt || { cat list.txt; fail "job $id was deleted"; }
done
pass "finished jobs past the limit are gone; queued and running ones stay"

al audit verify > verify.txt || { cat verify.txt; fail "audit verify"; }
al audit show > audit.txt
grep '"jobs.prune"' audit.txt > prune.txt || fail "no jobs.prune entry"
[ "$(wc -l < prune.txt)" -eq 1 ] || fail "more than one jobs.prune entry"
grep -q '"count":4' prune.txt && grep -q "\"id\":\"${gone[0]}\"" prune.txt &&
	grep -q "\"id\":\"$c\"" prune.txt && grep -q '"lines":' prune.txt ||
	fail "jobs.prune entry: $(cat prune.txt)"
# The audit log keeps the deleted jobs' entries.
grep -q "\"job.finish\".*${gone[1]}" audit.txt ||
	fail "the audit log lost job ${gone[1]}'s entries"
pass "audit verifies and holds one jobs.prune entry"

al keys rotate --wait > rot.txt 2>&1 || { cat rot.txt; fail "keys rotate"; }
grep -q 'every value sealed under it' rot.txt || fail "rotate: $(cat rot.txt)"
al keys status --json > ks.json || fail "keys status"
[ "$(jq_field ks.json 'r.ok')" = true ] || fail "keys status: $(cat ks.json)"
al job show "$t" > /dev/null || fail "job $t does not open after rotation"
pass "keys rotate after pruning"

al job cancel "$t" >/dev/null 2>&1 || true
al job cancel "$q" >/dev/null 2>&1 || true
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || { cat "$dmn_log"; fail "daemon exit status $dmn_rc"; }
al audit verify > verify.txt || { cat verify.txt; fail "audit verify at the end"; }
pass "stopped cleanly"
