#!/usr/bin/env bash
# airlockd end to end: jobs enqueued through the control API run in
# worker processes and end with their records, progress lines and audit
# entries; a second request for a queued repository joins it (in any
# spelling of its URL, with the same settings only); list,
# show, logs, cancel and retry answer as documented; SIGTERM stops the
# daemon cleanly and the log names every call's caller.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/daemon-project" dproject)
printf 'workers = 1\n' >> "$it_home/airlock.conf"
dmn_start
pass "daemon started"

al status > status.txt
grep -q 'workers: 0 of 1 busy' status.txt || { cat status.txt; fail "status"; }

# One worker: the second repository waits in the queue behind the first.
out=$(al job enqueue "$url" --policy minor --test-cmd "npm test")
id=$(echo "$out" | sed -n 's/^queued job \([0-9a-f]\{20\}\)$/\1/p')
[ -n "$id" ] || fail "enqueue printed '$out'"
dmn_wait "$id" r.state succeeded 180
pass "job $id succeeded"
[ "$(dmn_field "$id" r.sched.attempt)" = 1 ] || fail "attempt"
[ "$(dmn_field "$id" 'r.plan.updates[0].to')" = "^1.1.0" ] ||
	fail "planned update: $(dmn_field "$id" r.plan)"
[ -n "$(dmn_field "$id" r.proposal.branch)" ] || fail "no proposal"
git --git-dir="$AL_TEST_GIT_ROOT/repos/dproject.git" rev-parse -q --verify \
	"refs/heads/$(dmn_field "$id" r.proposal.branch)" >/dev/null ||
	fail "the branch was not pushed"
stages=$(dmn_field "$id" \
	'r.stages.map(s => s.name + ":" + s.result).join(" ")')
case "$stages" in
clone:passed\ plan:passed*install:passed*test:passed*propose:passed*) ;;
*) fail "stages: $stages" ;;
esac
pass "record: $stages"

al job logs "$id" > logs.txt
grep -q 'clone \.\.\.' logs.txt || { cat logs.txt; fail "no clone line"; }
grep -q 'test passed in' logs.txt || { cat logs.txt; fail "no test line"; }
al job list > list.txt
grep -q "^$id succeeded " list.txt || { cat list.txt; fail "list"; }
al job list --state failed | grep -q 'no jobs in state failed' ||
	fail "filtered list"
al job show "$id" | grep -q "^job $id: succeeded" || fail "show"
pass "logs, list and show"

# Joining: while a job of the repository runs, a request queues a second
# one; a third joins the queued one.
a=$(al job enqueue "$url" --test-cmd "sleep 5" --policy minor --json |
	json_id)
dmn_wait "$a" r.state running 60
# --follow prints the lines as they come and ends with the job.
al job logs "$a" --follow > follow.txt 2> follow.err &
follower=$!
b=$(al job enqueue "$url" --json | json_id)
al job enqueue "$url" --json > c.json
[ "$(jq_field c.json 'r.id + " " + r.joined')" = "$b true" ] ||
	fail "third request did not join the queued job: $(cat c.json)"
[ "$(dmn_field "$b" r.state)" = queued ] || fail "second job not queued"
# Another spelling of the repository is the same repository.
alt="$(echo "${url%.git}" | sed 's#^http://#HTTP://#')/"
al job enqueue "$alt" --json > d.json
[ "$(jq_field d.json 'r.id + " " + r.joined')" = "$b true" ] ||
	fail "$alt did not join the queued job: $(cat d.json)"
# Other settings: a job of its own, which waits its turn too.
al job enqueue "$alt" --branch main --json > e.json
e=$(jq_field e.json r.id)
[ "$(jq_field e.json r.joined)" = false ] && [ "$e" != "$b" ] ||
	fail "a request with another branch joined: $(cat e.json)"
[ "$(dmn_field "$e" r.state)" = queued ] || fail "job $e not queued"
[ "$(dmn_field "$e" r.branch)" = main ] || fail "job $e lost its branch"
pass "one active job per repository; requests join the queued one"
al job cancel "$e" >/dev/null

# Cancel the queued one at once, the running one through its worker.
al job cancel "$b" | grep -q "cancelled" || fail "cancel queued"
al job cancel "$a" | grep -q 'cancel requested' || fail "cancel running"
dmn_wait "$a" r.state cancelled 60
for _ in $(seq 1 100); do kill -0 "$follower" 2>/dev/null || break; sleep 0.1; done
kill -0 "$follower" 2>/dev/null && fail "logs --follow did not end with the job"
wait "$follower" || fail "logs --follow: $(cat follow.err)"
grep -q 'clone \.\.\.' follow.txt &&
	[ "$(tail -1 follow.txt)" = "-- job $a cancelled" ] ||
	fail "logs --follow printed: $(cat follow.txt)"
[ "$(dmn_field "$a" r.sched.reason)" = "cancelled on request" ] ||
	fail "reason: $(dmn_field "$a" r.sched.reason)"
set +e
al job cancel "$a" 2> err.txt; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q 'has ended already' err.txt ||
	fail "cancelling an ended job: rc=$rc $(cat err.txt)"
pass "cancel: queued at once, running through its worker, ended refused"

r=$(al job retry "$a" --json | json_id)
[ "$(dmn_field "$r" r.sched.retry_of)" = "$a" ] || fail "retry_of"
al job cancel "$r" >/dev/null
set +e
al job show 0123456789abcdef0123 2> err.txt; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q 'no job 0123456789abcdef0123' err.txt ||
	fail "unknown job: rc=$rc $(cat err.txt)"
set +e
al job enqueue "http://user:secret@127.0.0.1/x.git" 2> err.txt; rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q 'credentials in the URL are refused' err.txt ||
	fail "credentials: rc=$rc $(cat err.txt)"
pass "retry, unknown job and credentials in a URL"

# SIGTERM while a job's tests run: the job goes back to the queue with
# its attempt not counted, nothing is left, and the next daemon runs it.
mark="daemon-jobs-$$-$RANDOM"
t=$(al job enqueue "$url" --test-cmd "sleep 600; : $mark" --policy minor --json |
	json_id)
dmn_wait "$t" r.sched.stage baseline-test 120
# Its place among the 8 stages this job runs (no build script, no
# lockfile, one group): the record, `job show` and the job.stage entry.
[ "$(dmn_field "$t" r.sched.step)/$(dmn_field "$t" r.sched.steps)" = 4/8 ] ||
	fail "place: $(dmn_field "$t" r.sched)"
al job show "$t" | grep -q "^job $t: running (stage baseline-test, step 4 of 8)" ||
	fail "show: $(al job show "$t" | head -1)"
al audit show --job "$t" | grep '"job.stage"' | grep '"baseline-test"' |
	grep -q '"steps":8' || fail "job.stage entry: $(al audit show --job "$t" |
	grep '"job.stage"' | tail -1)"
pass "a running job's place: step 4 of 8"
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || { cat "$dmn_log"; fail "daemon exit status $dmn_rc"; }
grep -q 'I daemon stopped' "$dmn_log" || fail "no stop line"
dmn_no_leftovers
pgrep -f "$mark" >/dev/null && fail "the job's test outlived the daemon"
al audit show --job "$t" > t-audit.txt
grep '"job.requeue"' t-audit.txt | grep -q 'the daemon stopped' ||
	fail "no requeue entry for the stopped job: $(tail -3 t-audit.txt)"
pass "SIGTERM: running job stopped and queued again, nothing left"

# A schedule: a job for the repository is queued at the next minute.
# The next daemon also takes the stopped job up again.
printf 'schedule = %s * * * * *\n' "$url" >> "$it_home/airlock.conf"
dmn_start
al job cancel "$t" >/dev/null
dmn_wait "$t" r.state cancelled 60
[ "$(dmn_field "$t" r.sched.requeues)" = 1 ] ||
	fail "requeues: $(dmn_field "$t" r.sched)"
[ "$(dmn_field "$t" r.sched.reason)" = "cancelled on request" ] ||
	fail "the stopped job was counted as failed: $(dmn_field "$t" r.sched)"
pass "the stopped attempt was not counted against the job"
# (A slot that fell before the cancel joined the stopped job; the next
# one makes its own: hence up to two minutes.)
for _ in $(seq 1 1300); do
	al job list --json > jobs.json
	s=$(jq_field jobs.json 'r.jobs.filter(j => j.trigger === "schedule").length')
	[ "$s" -ge 1 ] && break
	sleep 0.1
done
[ "$s" -ge 1 ] || fail "no scheduled job within 130 s: $(cat jobs.json)"
pass "a schedule in airlock.conf queued a job"
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || { cat "$dmn_log"; fail "daemon exit status $dmn_rc"; }
dmn_no_leftovers

al audit verify > verify.txt || { cat verify.txt; fail "audit verify"; }
al audit show > audit.txt
for act in daemon.start daemon.stop api.call job.enqueue job.lease \
	job.start job.stage job.end job.finish job.join job.cancel; do
	grep -q "$act" audit.txt || fail "no $act entry"
done
grep '"api.call"' audit.txt | grep -c "\"uid:$(id -u)\"" >/dev/null ||
	fail "api calls do not name the caller"
pass "audit chain verifies and names each operation and caller"
