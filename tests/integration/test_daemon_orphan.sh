#!/usr/bin/env bash
# A job left "running" with no worker (a worker whose end could not be
# stored, e.g. on a full disk) is requeued by the running daemon once its
# lease expires, not only at the next start: the repository is not
# blocked until then. tests/tools/sched_orphan makes such a lease through
# the scheduler library on the daemon's store, as a worker would.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"
: "${AL_TEST_TOOLS:?run through tests/run (AL_TEST_TOOLS unset)}"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/daemon-project" orphan)
printf 'workers = 1\n' >> "$it_home/airlock.conf"
dmn_start
pass "daemon started"

# A lease of 1 s that nobody renews.
id=$("$AL_TEST_TOOLS/sched_orphan" "$it_home" "$url" 1000)
[ "$(dmn_field "$id" r.sched.lease.worker)" = test-orphan ] ||
	fail "not leased to the test's worker: $(dmn_field "$id" r.sched)"
al status > status.txt
grep -q 'workers: 0 of 1 busy' status.txt || { cat status.txt; fail "status"; }
pass "job $id runs with no worker"

# The daemon learns of the new lease at its next call (each one pokes
# it), then ends it when it expires. dmn_field is such a call.
want="lease expired: the worker stopped heartbeating"
for _ in $(seq 1 300); do
	r=$(dmn_field "$id" 'r.state + " " + r.sched.attempt + " " + r.sched.reason')
	[ "$r" = "queued 1 $want" ] && break
	sleep 0.1
done
[ "$r" = "queued 1 $want" ] || { cat "$dmn_log" >&2; fail "job $id: $r"; }
[ "$(dmn_field "$id" 'r.sched.due_ms > r.created_ms')" = true ] ||
	fail "not backed off: $(dmn_field "$id" r.sched)"
al audit show --job "$id" > audit.txt
grep '"job.requeue"' audit.txt | grep -q "$want" ||
	{ cat audit.txt; fail "no job.requeue entry with the reason"; }
grep -q "ended 1 lease that no worker held" "$dmn_log" ||
	{ cat "$dmn_log"; fail "no log line for the orphan"; }
pass "the orphan lease was ended: $r"

dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || fail "airlockd exited $dmn_rc"
al audit verify > verify.txt || { cat verify.txt; fail "audit verify"; }
pass "audit chain verifies"
