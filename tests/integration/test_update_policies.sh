#!/usr/bin/env bash
# Update policies from airlock.conf (docs/update-job.md, "Policies") on
# real jobs against the fixture packages of tests/fixtures/registry: a
# global policy (min_release_age, ignore, group = non-major with one group
# a job, bump) and a
# [repo URL] section that overrides two keys (pin, max_updates) for one
# repository. Every update a rule held back is in the plan with the rule
# that did it, in the record and in the printed summary, and the pushed
# branch carries only what the rules let through.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
src="$AL_SOURCE_DIR/tests/fixtures/registry-project"
url_a=$(it_publish "$src" policy-a)
url_b=$(it_publish "$src" policy-b)

cat >> "$it_home/airlock.conf" <<EOF
min_release_age = 7
ignore = @airlock-test/hook*, left-pad
group = non-major
max_groups = 1
range_strategy = bump

[repo $url_a]
range_strategy = pin
max_updates = 1

[repo $GIT_SERVER_URL/unrelated.git]
max_updates = 5
EOF

# Repository A: its own section applies on top of the global keys.
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url_a" --json \
	> a.json 2> a.log || rc=$?
[ "$rc" -eq 0 ] || { cat a.log a.json; fail "repository A: exit $rc"; }
node -e '
const r = require("./a.json");
const die = (m) => { throw new Error(m); };
const ups = r.plan.updates;
if (ups.length !== 1) die("updates: " + JSON.stringify(ups));
const g = ups[0];
if (g.name !== "@airlock-test/greet" || g.to !== "1.1.0" ||
    g.group !== "non-major") die("greet: " + JSON.stringify(g));
const why = (name, rule) => r.plan.skipped.filter(
  s => s.name === name && s.rule === rule).map(s => s.reason);
const want = [
  ["@airlock-test/greet", "max_groups",
   new RegExp("^2\\.0\\.0 deferred to a later job: group " +
              "major:@airlock-test/greet \\(group = non-major, max_groups = 1\\)$")],
  ["@airlock-test/hooked", "ignore", /^ignored by ignore = @airlock-test\/hook\*$/],
  ["@airlock-test/sunset", "max_updates", /^1\.0\.1 over max_updates = 1$/],
  ["@airlock-test/nightly", "prereleases",
   /^prerelease 2\.0\.0-rc\.2 not taken: prereleases = off$/],
  ["@airlock-test/fresh", "min_release_age",
   /^1\.0\.1 held back: released 0 days ago, min_release_age = 7$/],
];
for (const [n, rule, re] of want)
  if (!why(n, rule).some(x => re.test(x)))
    die(n + " " + rule + ": " + JSON.stringify(r.plan.skipped));
const ru = r.plan.rules;
if (r.plan.rules_source !== "repository" || ru.range_strategy !== "pin" ||
    ru.max_updates !== 1 || ru.min_release_age !== 7 ||
    ru.group !== "non-major" || ru.ignore.join() !== "@airlock-test/hook*,left-pad")
  die("rules: " + JSON.stringify(ru) + " " + r.plan.rules_source);
if (r.state !== "succeeded" || !r.proposal.pushed) die("state " + r.state);
if (r.proposal.branch !== "airlock/non-major" || r.groups.length !== 1 ||
    r.groups[0].name !== "non-major" || r.groups[0].result !== "passed")
  die("groups: " + JSON.stringify(r.groups) + " " + r.proposal.branch);
' || fail "repository A: plan"
pass "repository A: the section pins and caps; every held-back update names its rule"

branch=$(it_branch "$AL_TEST_GIT_ROOT/repos/policy-a.git")
[ -n "$branch" ] || fail "repository A: no branch pushed"
git --git-dir="$AL_TEST_GIT_ROOT/repos/policy-a.git" show \
	"$branch:package.json" > a-branch.json
node -e '
const p = require("./a-branch.json");
const d = Object.assign({}, p.dependencies, p.devDependencies);
const want = { "@airlock-test/greet": "1.1.0", "@airlock-test/hooked": "^1.0.0",
  "@airlock-test/sunset": "^1.0.0", "@airlock-test/fresh": "~1.0.0",
  "@airlock-test/nightly": "^1.0.0" };
for (const [n, v] of Object.entries(want))
  if (d[n] !== v) throw new Error(n + " is " + d[n]);
' || fail "repository A: branch package.json"
pass "repository A: the branch pins greet 1.1.0 and leaves the rest"

# Repository B: no section of its own, so the global keys alone; the
# printed plan says why each update was left out.
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url_b" > b.txt 2> b.log || rc=$?
[ "$rc" -eq 0 ] || { cat b.log b.txt; fail "repository B: exit $rc"; }
for line in \
	"ignored by ignore = @airlock-test/hook*" \
	"1.0.1 held back: released 0 days ago, min_release_age = 7" \
	"prerelease 2.0.0-rc.2 not taken: prereleases = off" \
	"2.0.0 deferred to a later job: group major:@airlock-test/greet"; do
	grep -qF -- "$line" b.txt || { cat b.txt; fail "summary lacks: $line"; }
done
grep -q "over max_updates" b.txt && fail "repository B got A's max_updates"
branch=$(it_branch "$AL_TEST_GIT_ROOT/repos/policy-b.git")
[ -n "$branch" ] || fail "repository B: no branch pushed"
git --git-dir="$AL_TEST_GIT_ROOT/repos/policy-b.git" show \
	"$branch:package.json" > b-branch.json
node -e '
const p = require("./b-branch.json");
const d = Object.assign({}, p.dependencies, p.devDependencies);
const want = { "@airlock-test/greet": "^1.1.0", "@airlock-test/hooked": "^1.0.0",
  "@airlock-test/sunset": "^1.0.1", "@airlock-test/fresh": "~1.0.0",
  "@airlock-test/nightly": "^1.0.0" };
for (const [n, v] of Object.entries(want))
  if (d[n] !== v) throw new Error(n + " is " + d[n]);
' || fail "repository B: branch package.json"
pass "repository B: global rules only; bumped non-major group on the branch"

# Repository C, with a lockfile: widen keeps 1.x and adds 2.x, and the
# lock moves to 2.0.0 so that what is tested is what the range now admits.
mkdir c-src && cp -a "$src/." c-src/
it_lock c-src 3
url_c=$(it_publish c-src policy-c)
cat >> "$it_home/airlock.conf" <<EOF

[repo $url_c]
range_strategy = widen
allow = @airlock-test/gr?et
min_release_age = 0
group = all
EOF
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url_c" --test-cmd "node -e 0" \
	--json > c.json 2> c.log || rc=$?
[ "$rc" -eq 0 ] || { cat c.log c.json; fail "repository C: exit $rc"; }
node -e '
const r = require("./c.json");
const die = (m) => { throw new Error(m); };
const ups = r.plan.updates;
if (ups.length !== 1 || ups[0].to !== "^1.0.0 || ^2.0.0" ||
    ups[0].kind !== "widen" || ups[0].version !== "2.0.0")
  die("updates: " + JSON.stringify(ups));
const s = r.plan.skipped.find(x => x.name === "@airlock-test/sunset");
if (!s || s.rule !== "allow" || s.reason !== "not matched by allow = @airlock-test/gr?et")
  die("sunset: " + JSON.stringify(s));
if (r.state !== "succeeded" || !r.proposal.pushed) die("state " + r.state);
' || fail "repository C: plan"
bare_c="$AL_TEST_GIT_ROOT/repos/policy-c.git"
branch=$(it_branch "$bare_c")
[ -n "$branch" ] || fail "repository C: no branch pushed"
git --git-dir="$bare_c" show "$branch:package.json" > c-branch.json
git --git-dir="$bare_c" show "$branch:package-lock.json" > c-lock.json
node -e '
const p = require("./c-branch.json"), l = require("./c-lock.json");
const g = p.dependencies["@airlock-test/greet"];
if (g !== "^1.0.0 || ^2.0.0") throw new Error("range " + g);
const v = l.packages["node_modules/@airlock-test/greet"].version;
if (v !== "2.0.0") throw new Error("locked " + v);
' || fail "repository C: branch"
pass "repository C: widen adds ^2.0.0 and the lock moves to 2.0.0"

# A bad value stops the job before it starts, naming the line.
printf 'group = majors\n' >> "$it_home/airlock.conf"
rc=0
"$AIRLOCK_BIN" --home "$it_home" update "$url_b" > /dev/null 2> bad.log ||
	rc=$?
[ "$rc" -ne 0 ] || fail "a bad group value was accepted"
grep -q "airlock.conf:[0-9]*: bad value for 'group': one of all, non-major, none" \
	bad.log || { cat bad.log; fail "the error does not name the line"; }
pass "a bad policy value is an error naming its line"
it_no_workspace
