#!/usr/bin/env bash
# Two rows of the shared npm edge-case table on real jobs against the
# fixture packages of tests/fixtures/registry (docs/update-job.md,
# "Cooldowns and engines"):
#
#   30: a repository .npmrc with min-release-age = 7. npm applies it in
#       the sandbox, so the plan must too: @airlock-test/cooled 1.2.0
#       (published today) is held back with a reason naming the .npmrc,
#       the plan falls back to 1.1.0 instead of dropping the package, and
#       npm installs what the plan chose (a plan that ignored the file
#       would propose ^1.2.0, which npm refuses with ETARGET).
#   27: a project on Node >=18: @airlock-test/engined 1.2.0 (node <18)
#       cannot meet it and 2.0.0 (node >=99) excludes the Node of the
#       image, which runs the tests: both dropped, 1.1.0 proposed.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"

mkdir cool
cat > cool/package.json <<'EOF'
{
  "name": "cooldown-project",
  "version": "1.0.0",
  "private": true,
  "dependencies": {
    "@airlock-test/cooled": "^1.0.0"
  }
}
EOF
printf '; the cooldown npm applies\nmin-release-age = 7\n' > cool/.npmrc
url=$(it_publish cool npmrc-cool)
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url" --test-cmd "node -e 0" \
	--json > cool.json 2> cool.log || rc=$?
[ "$rc" -eq 0 ] || { cat cool.log cool.json; fail "cooldown: exit $rc"; }
node -e '
const r = require("./cool.json");
const die = (m) => { throw new Error(m); };
const ups = r.plan.updates;
if (ups.length !== 1 || ups[0].name !== "@airlock-test/cooled" ||
    ups[0].to !== "^1.1.0" || ups[0].version !== "1.1.0")
  die("updates: " + JSON.stringify(ups));
const s = r.plan.skipped.filter((x) => x.name === "@airlock-test/cooled");
if (s.length !== 1 || s[0].rule !== ".npmrc" || s[0].reason !==
    "1.2.0 held back: released 0 days ago, .npmrc min-release-age = 7")
  die("skipped: " + JSON.stringify(r.plan.skipped));
if (r.plan.npmrc["min-release-age"] !== "7" || r.plan.rules.min_release_age !== 0)
  die("npmrc: " + JSON.stringify(r.plan.npmrc));
if (r.state !== "succeeded" || !r.proposal.pushed) die("state " + r.state);
' || fail "cooldown: plan"
pass "cooldown: 1.2.0 held back by the .npmrc, 1.1.0 proposed"

bare="$AL_TEST_GIT_ROOT/repos/npmrc-cool.git"
branch=$(it_branch "$bare")
[ -n "$branch" ] || fail "cooldown: no branch pushed"
got=$(git --git-dir="$bare" show "$branch:package.json" |
	node -e 'let s="";process.stdin.on("data",(d)=>s+=d).on("end",()=>
	console.log(JSON.parse(s).dependencies["@airlock-test/cooled"]))')
[ "$got" = "^1.1.0" ] || fail "cooldown: branch has $got"
pass "cooldown: the branch raises the range to ^1.1.0"

mkdir eng
cat > eng/package.json <<'EOF'
{
  "name": "engines-project",
  "version": "1.0.0",
  "private": true,
  "engines": { "node": ">=18" },
  "dependencies": {
    "@airlock-test/engined": "^1.0.0"
  }
}
EOF
url=$(it_publish eng npmrc-eng)
node_v=$(node --version)
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url" --test-cmd "node -e 0" \
	--json > eng.json 2> eng.log || rc=$?
[ "$rc" -eq 0 ] || { cat eng.log eng.json; fail "engines: exit $rc"; }
NODE_V=${node_v#v} node -e '
const r = require("./eng.json");
const die = (m) => { throw new Error(m); };
const nv = process.env.NODE_V;
if (r.plan.node !== nv) die("node " + r.plan.node + ", want " + nv);
const ups = r.plan.updates;
if (ups.length !== 1 || ups[0].to !== "^1.1.0")
  die("updates: " + JSON.stringify(ups));
const why = r.plan.skipped.filter((x) => x.rule === "engines")
  .map((x) => x.reason).sort();
const want = [
  "1.2.0 dropped: its engines.node \"<18\" cannot meet the project\u0027s " +
    "engines.node \">=18\"",
  "2.0.0 dropped: its engines.node \">=99\" excludes Node " + nv +
    ", which runs the tests",
];
if (JSON.stringify(why) !== JSON.stringify(want))
  die("skipped: " + JSON.stringify(r.plan.skipped));
if (r.state !== "succeeded" || !r.proposal.pushed) die("state " + r.state);
' || fail "engines: plan"
pass "engines: 1.2.0 and 2.0.0 dropped with their reasons, 1.1.0 proposed"
it_no_workspace
