#!/usr/bin/env bash
# The build stage: a project with a "build" script is built, with no
# network, after its install and before its tests, on the baseline and on
# the update. Here only the build breaks on the major update (greet() is
# gone in @airlock-test/greet 2.0.0): the job must fail in "build", skip
# the update's tests, score it low, name the stage in the report (the
# branch is still proposed, with that report, as a failing test's would
# be: docs/update-job.md), and record the build's attempt to reach the
# network.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/build-project" buildproj)

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --policy major --json \
	> record.json 2> job.log
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat job.log; fail "expected exit 1, got $rc"; }

node -e '
const r = require("./record.json");
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
const want = {"baseline-build": "passed", "baseline-test": "passed",
	build: "failed", test: "skipped"};
for (const [n, v] of Object.entries(want))
  if (!st[n] || st[n].result !== v)
    throw new Error(n + ": " + JSON.stringify(st[n]));
if (!(r.score.value < 50)) throw new Error("score " + JSON.stringify(r.score));
const f = r.report.failures.find(x => x.stage === "build");
if (!f) throw new Error("report does not name the build stage: " +
	JSON.stringify(r.report));
' || { cat job.log; fail "record"; }
pass "the build runs before the tests; a broken build fails the job in 'build'"

grep -q '192.0.2.7:8080' record.json ||
	fail "the build's network attempt is not in the record"
it_no_workspace
pass "the build had no network (its attempt is recorded); nothing left"
