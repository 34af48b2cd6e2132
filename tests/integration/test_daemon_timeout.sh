#!/usr/bin/env bash
# A job stopped at job_timeout ends failed everywhere: the scheduler's
# state and reason, the job's own record and report, and the job's log
# line ("job ended state=failed", not "cancelled"); lines of the worker's
# modules carry the job id.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/daemon-project" timeout)
printf 'workers = 1\njob_timeout = 60\n' >> "$it_home/airlock.conf"
dmn_start
id=$(al job enqueue "$url" --test-cmd "sleep 600" --json | json_id)
dmn_wait "$id" r.state failed 300
reason=$(dmn_field "$id" r.sched.reason)
[ "$reason" = "the job ran longer than job_timeout (60 s) and was stopped" ] ||
	fail "reason: $reason"
[ "$(dmn_field "$id" 'r.report.failures[0].stage + ": " + r.report.failures[0].reason')" = \
	"job: the job ran longer than job_timeout (60 s) and was stopped" ] ||
	fail "report: $(dmn_field "$id" r.report)"
grep "\[$id\] job ended state=" "$dmn_log" > ended.txt ||
	{ cat "$dmn_log"; fail "no job ended line"; }
grep -q "state=failed" ended.txt || fail "the job says: $(cat ended.txt)"
grep -q "I sched \[$id\] job failed attempt=1 reason=the job ran longer" \
	"$dmn_log" || fail "no sched line for the timeout"
grep -q "I vcs \[$id\] cloned url=" "$dmn_log" ||
	fail "the vcs line has no job id: $(grep 'vcs.*cloned' "$dmn_log")"
pass "job_timeout: failed in the record, the report and the log"
dmn_stop TERM
dmn_no_leftovers
