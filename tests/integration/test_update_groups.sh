#!/usr/bin/env bash
# Groups (docs/update-job.md, "Groups"): with group = non-major, one job
# tests and proposes every group on a stable branch of its own, each
# holding only its group's change. @airlock-test/greet has 1.1.0 (minor)
# and 2.0.0 (major, breaks "greet says hello"); sunset has 1.0.1. So the
# non-major group passes and the major group fails: the job fails, both
# branches are pushed. A second job on the unchanged repository pushes
# nothing and makes no branch; after main moves and someone commits on
# the major branch, a third job replaces airlock's own branch and leaves
# the other one alone.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
mkdir -p proj/test
cat > proj/package.json <<'EOF'
{
  "name": "airlock-fixture-groups",
  "version": "1.0.0",
  "private": true,
  "scripts": {
    "test": "node --test --test-reporter=spec test/"
  },
  "dependencies": {
    "@airlock-test/greet": "^1.0.0",
    "@airlock-test/sunset": "^1.0.0"
  }
}
EOF
cat > proj/test/all.test.js <<'EOF'
'use strict';
const test = require('node:test');
const assert = require('node:assert');

test('greet says hello', () => {
  assert.strictEqual(require('@airlock-test/greet').greet('ada'),
    'hello ada');
});

test('sunset loads a 1.0.x', () => {
  assert.match(require('@airlock-test/sunset').version, /^1\.0\./);
});
EOF
url=$(it_publish proj groups)
bare="$AL_TEST_GIT_ROOT/repos/groups.git"
nm=airlock/non-major
mj=airlock/major-@airlock-test+greet
printf 'group = non-major\n' >> "$it_home/airlock.conf"

refs() {
	git --git-dir="$bare" for-each-ref --format='%(refname:short) %(objectname)' \
		'refs/heads/airlock/*'
}

# Job 1: both groups tested and pushed; the major one fails its test.
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > one.json \
	2> one.log || rc=$?
[ "$rc" -eq 1 ] || { cat one.log one.json; fail "job 1: exit $rc, want 1"; }
node -e '
const r = require("./one.json");
const die = (m) => { throw new Error(m); };
if (r.state !== "failed") die("state " + r.state);
if (r.plan.rules.max_groups !== 4) die("rules " + JSON.stringify(r.plan.rules));
if (r.plan.skipped.some(s => s.rule === "max_groups")) die("a group waited");
const g = r.groups;
if (!Array.isArray(g) || g.length !== 2) die("groups " + JSON.stringify(g));
const [nm, mj] = g;
if (nm.name !== "non-major" || nm.result !== "passed" ||
    nm.branch !== "airlock/non-major" || nm.proposal.action !== "created" ||
    !nm.proposal.pushed ||
    nm.updates.slice().sort().join() !== "@airlock-test/greet,@airlock-test/sunset")
  die("non-major " + JSON.stringify(nm));
if (mj.name !== "major:@airlock-test/greet" || mj.result !== "failed" ||
    mj.test !== "failed" || mj.branch !== "airlock/major-@airlock-test+greet" ||
    mj.proposal.action !== "created" || !mj.proposal.pushed ||
    mj.updates.join() !== "@airlock-test/greet")
  die("major " + JSON.stringify(mj));
if (mj.isolation.result !== "single update") die("isolation " + JSON.stringify(mj));
// The record keeps its own fields: the first proposal, the weakest score.
if (r.proposal.branch !== "airlock/non-major") die("proposal " + JSON.stringify(r.proposal));
if (r.score.value !== Math.min(nm.score.value, mj.score.value) ||
    mj.score.value >= nm.score.value) die("scores");
if (r.report.isolation) die("isolation at the top with two groups");
const f = r.report.failures.filter(x => x.stage === "test");
if (f.length !== 1 || f[0].group !== mj.name ||
    !f[0].tests.failing.includes("greet says hello"))
  die("failures " + JSON.stringify(r.report.failures));
// The baseline ran once; each group has its own test stage.
const names = (n) => r.stages.filter(s => s.name === n);
if (names("baseline-test").length !== 1 || names("baseline-test")[0].group)
  die("baseline stages");
const tests = names("test").map(s => s.group + "=" + s.result).join();
if (tests !== "non-major=passed,major:@airlock-test/greet=failed") die("tests " + tests);
if (names("propose").length !== 2) die("propose stages");
' || fail "job 1: record"
pass "job 1: two groups, each tested and proposed; one failing fails the job"

[ "$(refs | wc -l)" -eq 2 ] || { refs; fail "job 1: branches"; }
for b in "$nm" "$mj"; do
	files=$(git --git-dir="$bare" diff --name-only main "$b")
	[ "$files" = package.json ] || fail "$b touches: $files"
	git --git-dir="$bare" show "$b:package.json" > "$(basename "$b").json"
done
node -e '
const want = {
  "non-major": { "@airlock-test/greet": "^1.1.0", "@airlock-test/sunset": "^1.0.1" },
  "major-@airlock-test+greet": { "@airlock-test/greet": "^2.0.0",
                                 "@airlock-test/sunset": "^1.0.0" },
};
for (const [f, deps] of Object.entries(want)) {
  const got = require("./" + f + ".json").dependencies;
  if (JSON.stringify(got) !== JSON.stringify(deps))
    throw new Error(f + ": " + JSON.stringify(got));
}
' || fail "job 1: branch contents"
git --git-dir="$bare" log -1 --format=%B "$nm" | grep -qx "Group: non-major" ||
	fail "job 1: commit message lacks its group"
pass "job 1: each branch holds only its group's change"
before=$(refs)

# Job 2 on the unchanged repository: the same content, nothing pushed.
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > two.json \
	2> two.log || rc=$?
[ "$rc" -eq 1 ] || { cat two.log two.json; fail "job 2: exit $rc, want 1"; }
[ "$(refs)" = "$before" ] || { refs; fail "job 2 changed the branches"; }
node -e '
const r = require("./two.json");
const g = r.groups.map(x => x.proposal.action + ":" + x.proposal.pushed);
if (g.join() !== "unchanged:false,unchanged:false")
  throw new Error(JSON.stringify(r.groups.map(x => x.proposal)));
' || fail "job 2: record"
pass "job 2: no new branch, none pushed again"

# main moves on, and someone commits on top of the major branch.
git clone -q "$bare" edit
git -C edit -c user.name=dev -c user.email=dev@localhost commit -q \
	--allow-empty -m "unrelated change on main"
echo "# notes" > edit/NOTES.md
git -C edit add NOTES.md
git -C edit -c user.name=dev -c user.email=dev@localhost commit -q \
	-m "notes on main"
git -C edit push -q origin main
git -C edit checkout -q "$mj"
echo "// adapted to greet 2" > edit/test/adapt.js
git -C edit add test/adapt.js
git -C edit -c user.name=dev -c user.email=dev@localhost commit -q \
	-m "adapt the tests"
git -C edit push -q origin "$mj"
mine=$(git --git-dir="$bare" rev-parse "$mj")
main=$(git --git-dir="$bare" rev-parse main)

rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > three.json \
	2> three.log || rc=$?
[ "$rc" -eq 1 ] || { cat three.log three.json; fail "job 3: exit $rc, want 1"; }
node -e '
const r = require("./three.json");
const g = r.groups.map(x => x.proposal.action + ":" + x.proposal.pushed);
if (g.join() !== "updated:true,kept:false")
  throw new Error(JSON.stringify(r.groups.map(x => x.proposal)));
' || fail "job 3: record"
[ "$(git --git-dir="$bare" rev-parse "$mj")" = "$mine" ] ||
	fail "job 3 replaced a branch someone else committed on"
[ "$(git --git-dir="$bare" rev-parse "$nm^")" = "$main" ] ||
	fail "job 3: the non-major branch is not on the new main"
git --git-dir="$bare" show "$nm:NOTES.md" > /dev/null ||
	fail "job 3: the non-major branch lacks main's change"
[ "$(refs | wc -l)" -eq 2 ] || { refs; fail "job 3: branches"; }
pass "job 3: airlock's own branch replaced on the new main, the edited one left"

it_no_workspace
pass "no workspace left"
