#!/usr/bin/env bash
# A project whose tests break on a real dependency's newer major: chalk 5
# dropped CommonJS, so the fixture's require('chalk').red is gone. The
# baseline passes, the update fails its tests: the score must be low and
# the failure report must name the stage and the failing test.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" breaking)

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json \
	> record.json 2> job.log
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat job.log; fail "expected exit 1, got $rc"; }

node -e '
const r = require("./record.json");
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
const up = r.plan.updates.find(u => u.name === "chalk");
if (!up || up.bump !== "major") throw new Error("no major chalk update");
if (st["baseline-test"].result !== "passed") throw new Error("baseline");
if (st.test.result !== "failed") throw new Error("update tests passed?");
if (!(r.score.value < 50) || r.score.level !== "low")
  throw new Error("score " + JSON.stringify(r.score));
const f = r.report.failures.find(x => x.stage === "test");
if (!f) throw new Error("report does not name the test stage");
if (!f.tests.failing.some(n => n.includes("chalk paints through require")))
  throw new Error("failing test not named: " + JSON.stringify(f.tests));
' || { cat record.json; fail "record checks"; }
pass "score under 50, report names stage test and the failing test"

# The human summary says the same; this time through a file:// remote.
bare="$AL_TEST_GIT_ROOT/repos/breaking.git"
"$AIRLOCK_BIN" --home "$it_home" update "file://$bare" > summary.txt \
	2>/dev/null || true
[ "$(it_branch "$bare" | wc -l)" -eq 2 ] ||
	fail "the file:// run did not push its branch"
grep -q "stage test failed" summary.txt || fail "summary lacks the report"
grep -q "failing test: chalk paints through require" summary.txt ||
	fail "summary lacks the failing test"
grep -q "Confidence: [0-4]\?[0-9] (low)" summary.txt || fail "summary score"
pass "summary shows score and report"
it_no_workspace
