#!/usr/bin/env bash
# The demo job, end to end: minimist@1.2.8's published source as a git
# repository behind git's http-backend with basic auth; airlock clones it,
# plans against the test registry, installs and tests baseline and update
# in sandboxes, scores, pushes a branch, and leaves no workspace.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
npm pack --silent --registry "$AL_TEST_REGISTRY" minimist@1.2.8 >/dev/null
mkdir src && tar -xzf minimist-1.2.8.tgz -C src --strip-components=1
url=$(it_publish "$it_tmp/src" minimist)
bare="$AL_TEST_GIT_ROOT/repos/minimist.git"

# minimist's `npm test` runs eslint first and `aud` (a registry audit)
# after: only its tape suite, `npm run tests-only`, runs offline.
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" \
	--test-cmd "npm run tests-only" --json > record.json 2> job.log
rc=$?
set -e
[ "$rc" -eq 0 ] || { cat job.log; cat record.json; fail "update exited $rc"; }

state=$(node -p "require('./record.json').state")
[ "$state" = succeeded ] || fail "state $state"
node -e '
const r = require("./record.json");
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
for (const n of ["clone", "plan", "baseline-install", "baseline-test",
                 "propose"])
  if (!st[n] || st[n].result !== "passed")
    throw new Error("stage " + n + " " + JSON.stringify(st[n]));
// The dev dependencies of minimist come from the live registry through
// Verdaccio: when a new release there breaks the set (a peer range no
// longer met), culprit isolation must name it and propose the rest.
const whole = st.install.result === "passed" && st.test.result === "passed";
const iso = r.isolation || (r.groups && r.groups[0].isolation);
if (!whole && !(st.isolate && st.isolate.result === "passed" && iso &&
                iso.culprits.length > 0 && iso.proposed.length > 0))
  throw new Error("neither the whole set nor isolation passed: " +
                  JSON.stringify({install: st.install, test: st.test, iso}));
if (!(st["baseline-test"].tests && st["baseline-test"].tests.ran > 0))
  throw new Error("no test count");
if (typeof r.score.value !== "number") throw new Error("no score");
if (r.timing.overhead_ms < 0) throw new Error("bad overhead");
if (JSON.stringify(r).includes(process.env.AIRLOCK_GIT_TOKEN))
  throw new Error("token in the job record");
' || fail "record checks"
pass "record: the job passed (whole set or after isolation), score $(node -p "require('./record.json').score.value")"

branch=$(it_branch "$bare")
[ -n "$branch" ] || fail "no airlock/ branch pushed"
case $branch in airlock/????-??-??-????????) ;; *) fail "branch name $branch" ;; esac
files=$(git --git-dir="$bare" diff --name-only main "$branch")
[ "$files" = package.json ] || fail "branch touches: $files"
git --git-dir="$bare" show "main:package.json" > old.json
git --git-dir="$bare" show "$branch:package.json" > new.json
node "$AL_SOURCE_DIR/tests/integration/check-diff.js" old.json new.json \
	record.json || fail "diff is not only range strings"
pass "pushed $branch, diff only range strings"

it_no_workspace
pass "no workspace left"

"$AIRLOCK_BIN" --home "$it_home" audit verify | grep -q '^OK' ||
	fail "audit verify"
grep -q "$AIRLOCK_GIT_TOKEN" "$it_home"/db/* job.log &&
	fail "token found in the store or the log"
pass "audit chain verifies; token in neither store nor log"
