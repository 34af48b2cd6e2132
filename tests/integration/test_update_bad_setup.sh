#!/usr/bin/env bash
# Setups that must fail loudly: a registry that does not answer is not
# "nothing to update"; bad airlock.conf values, a home whose parent does
# not exist and a missing repository path are refused with a message
# naming the problem, exit 2, and nothing created.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" badsetup)

# Port 1 on loopback: nothing listens there.
down="$it_tmp/down"
mkdir -p "$down"
echo 'registry = http://127.0.0.1:1/' > "$down/airlock.conf"
set +e
"$AIRLOCK_BIN" --home "$down" update "$url" --json > rec.json 2> log.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat log.txt; fail "registry down: exit $rc, not 1"; }
node -e '
const r = require("./rec.json");
const plan = r.stages.find(s => s.name === "plan");
if (r.state !== "failed" || plan.result !== "failed")
  throw new Error("state " + r.state + ", plan " + plan.result);
if (!/registry/.test(r.report.failures[0].reason))
  throw new Error("report: " + JSON.stringify(r.report));
if (r.proposal) throw new Error("proposed without a plan");
' || fail "registry down record"
pass "an unreachable registry fails the plan"

expect_usage() { # NAME CONF-LINE PATTERN
	local home="$it_tmp/conf-$1"
	mkdir -p "$home"
	printf '%s\n' "$2" > "$home/airlock.conf"
	set +e
	"$AIRLOCK_BIN" --home "$home" update "$url" > /dev/null 2> err.txt
	local rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "$1: exit $rc, not 2"
	grep -q "$3" err.txt || { cat err.txt; fail "$1: message"; }
	[ ! -e "$home/db" ] || fail "$1: a store was created"
}
expect_usage mem0 'memory = 0' "airlock.conf:1: bad value for 'memory'"
expect_usage tmo0 'test_timeout = 0' "bad value for 'test_timeout'"
expect_usage pids1 'pids = 1' "bad value for 'pids'"
expect_usage creds 'registry = https://u:secret@127.0.0.1:1/' \
	"bad value for 'registry'"
grep -q secret err.txt && fail "the registry password was echoed"
expect_usage ctl "$(printf 'registry = http://127.0.0.1:1/\033]0;x')" \
	"bad value for 'registry'"
expect_usage typo 'memroy = 1G' "unknown key 'memroy'"
pass "bad configuration values are refused by line and key"

set +e
"$AIRLOCK_BIN" --home "$it_tmp/nope/home" update "$url" 2> err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "parent directory" err.txt ||
	fail "missing home parent: exit $rc"
[ ! -e "$it_tmp/nope" ] || fail "home parent created"
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$it_tmp/missing-repo" 2> err.txt
rc=$?
set -e
[ "$rc" -eq 2 ] && grep -q "No such file" err.txt ||
	fail "missing repository path: exit $rc"
it_no_workspace
pass "missing home parent and repository path refused"
