#!/usr/bin/env bash
# A job on a project depending on the fixture packages of
# tests/fixtures/registry (published to the test Verdaccio by tests/run):
# the documented plan (docs/update-job.md), the score with each factor
# (docs/score.md), and the failure report with the failing test and the
# culprit named while the other updates still make a branch. A second
# repository with two of the same updates then sees this appliance's
# history of them.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/registry-project" regproj)
bare="$AL_TEST_GIT_ROOT/repos/regproj.git"

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json \
	> record.json 2> job.log
rc=$?
set -e
# What is proposed passed its tests: the job succeeded, with a report.
[ "$rc" -eq 0 ] || { cat job.log record.json; fail "expected exit 0, got $rc"; }

node -e '
const r = require("./record.json");
const die = (m) => { throw new Error(m); };
const up = Object.fromEntries(r.plan.updates.map(u => [u.name, u]));
const want = {
  "@airlock-test/greet": ["^2.0.0", "major"],
  "@airlock-test/hooked": ["^1.0.1", "patch"],
  "@airlock-test/sunset": ["^1.0.1", "patch"],   // 1.1.0 is deprecated
  "@airlock-test/fresh": ["~1.0.1", "patch"],
};
for (const [n, [to, bump]] of Object.entries(want)) {
  if (!up[n] || up[n].to !== to || up[n].bump !== bump)
    die("plan for " + n + ": " + JSON.stringify(up[n]));
}
if (up["@airlock-test/nightly"]) die("a prerelease was proposed");
if (Object.keys(up).length !== 4) die("plan: " + Object.keys(up));
if (!up["@airlock-test/hooked"].install_scripts) die("install_scripts");

// The group failed where the baseline passed, naming the test.
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
if (st["baseline-test"].result !== "passed") die("baseline");
if (st.test.result !== "failed") die("the group passed?");
const f = r.report.failures.find(x => x.stage === "test");
if (!f || !f.tests.failing.includes("greet says hello"))
  die("failing test not named: " + JSON.stringify(f));
if (f.tests.failing.length !== 1) die("others named: " + f.tests.failing);
// Colours and a window title were printed: the words stay, the
// sequences go (not merely made visible as "[31m").
if (/[\x00-\x08\x0b-\x1f\x7f]/.test(f.log_excerpt) ||
    !f.log_excerpt.includes("painted red after the title") ||
    /\[31m|\]0;|owned title/.test(f.log_excerpt))
  die("excerpt: " + JSON.stringify(f.log_excerpt.slice(0, 300)));

// The culprit, by bisection; the rest proposed, and verified together.
const iso = r.report.isolation;
if (iso.result !== "isolated") die("isolation " + JSON.stringify(iso));
if (iso.culprits.length !== 1 || iso.culprits[0].name !== "@airlock-test/greet")
  die("culprits " + JSON.stringify(iso.culprits));
if (!iso.culprits[0].trial.tests.failing.includes("greet says hello"))
  die("culprit trial does not name the test");
const prop = iso.proposed.slice().sort().join(" ");
if (prop !== "@airlock-test/fresh @airlock-test/hooked @airlock-test/sunset")
  die("proposed " + prop);
const trials = st.isolate.trials;
if (trials.length !== 5) die(trials.length + " trials");
const last = trials[trials.length - 1];
if (last.result !== "passed" || last.updates.length !== 3) die("verify");

// The score of what is proposed, every factor visible.
const s = r.score;
const fac = Object.fromEntries(s.factors.map(x => [x.name, x]));
const eff = { patch_updates: -3, fresh_release: -20,
  install_scripts_added: -25, leaves_deprecated: 0,
  publisher_changed: -15, maintainers_added: -10, left_out: 0 };
for (const [n, e] of Object.entries(eff))
  if (!fac[n] || fac[n].effect !== e) die(n + ": " + JSON.stringify(fac[n]));
if (Object.keys(fac).length !== Object.keys(eff).length)
  die("factors: " + Object.keys(fac));
if (!fac.fresh_release.packages.includes("@airlock-test/fresh")) die("fresh");
if (!/hooked 1\.0\.1 by mallory \(1\.0\.0 by alice\)/.test(fac.publisher_changed.detail))
  die(fac.publisher_changed.detail);
if (!fac.left_out.packages.includes("@airlock-test/greet")) die("left_out");
if (s.value !== 27 || s.level !== "low") die("score " + s.value);
const h = s.updates.find(u => u.name === "@airlock-test/hooked");
if (!h.signals.install_scripts.to || h.signals.install_scripts.from ||
    h.signals.publisher.to !== "mallory") die(JSON.stringify(h));
if (r.state !== "succeeded" || !r.proposal.pushed) die("state/proposal");
' || { cat record.json; fail "record checks"; }
pass "plan, culprit greet by bisection, score 27 with every factor"

# The branch raises the three ranges and leaves greet alone.
branch=$(it_branch "$bare")
[ -n "$branch" ] || fail "no branch pushed"
git --git-dir="$bare" show "$branch:package.json" > branch.json
node -e '
const p = require("./branch.json");
const d = Object.assign({}, p.dependencies, p.devDependencies);
const want = { "@airlock-test/greet": "^1.0.0", "@airlock-test/hooked": "^1.0.1",
  "@airlock-test/sunset": "^1.0.1", "@airlock-test/fresh": "~1.0.1",
  "@airlock-test/nightly": "^1.0.0" };
for (const [n, v] of Object.entries(want))
  if (d[n] !== v) throw new Error(n + " is " + d[n]);
' || fail "branch package.json"
git --git-dir="$bare" log -1 --format=%B "$branch" > msg.txt
grep -q "^- @airlock-test/greet 2.0.0: fails alone" msg.txt ||
	{ cat msg.txt; fail "commit message does not name the culprit"; }
pass "branch has the three other updates; the message names the culprit"

# A second repository: greet fails again, sunset passed on the first.
url2=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/registry-project-2" regproj2)
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url2" > summary.txt 2> job2.log
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat job2.log summary.txt; fail "second job: exit $rc"; }
grep -q "culprit: @airlock-test/greet 2.0.0 (fails alone)" summary.txt ||
	{ cat summary.txt; fail "summary lacks the culprit"; }
grep -q "failing test: greet says hello" summary.txt ||
	fail "summary lacks the failing test"
grep -q "history_passed .*@airlock-test/sunset 1.0.1 (1 repository)" \
	summary.txt || { cat summary.txt; fail "no history factor"; }
grep -q "still proposed (passed without the culprits): @airlock-test/sunset" \
	summary.txt || fail "summary lacks what is proposed"
pass "second repository: history of the first job shows in the score"
it_no_workspace
