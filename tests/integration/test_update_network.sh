#!/usr/bin/env bash
# THREATS.md "Network", end to end: a project whose install script asks
# airlock's proxy for a host that is not the registry and whose install
# script and tests connect straight to an outside address (TEST-NET-3;
# the sandbox has no route there, so nothing leaves the machine). The
# tests then fail. The job's record and summary must say "the test stage
# tried to reach 203.0.113.5:443", and the audit log must hold the
# proxy's allow and deny decisions and the refused attempt, each with
# the job's id.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/network" network)

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > rec.json 2> log.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat log.txt; fail "expected the test stage to fail"; }

id=$(node -p 'require("./rec.json").id')
node -e '
const r = require("./rec.json");
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
if (st.install.result !== "passed") throw new Error("install did not pass");
const f = r.report.failures.find(x => x.stage === "test");
if (!f) throw new Error("no test failure: " + JSON.stringify(r.report));
if (!(f.net_attempts || []).includes("203.0.113.5:443"))
  throw new Error("test stage attempt not reported: " + JSON.stringify(f));
if (!/test: 203\.0\.113\.5:443 ENETUNREACH/.test(f.log_excerpt))
  throw new Error("the connect did not fail as unreachable: " + f.log_excerpt);
if (!st.install.sandbox.net_attempts.includes("203.0.113.5:443"))
  throw new Error("install stage attempt not recorded");
if (!(st.install.sandbox.proxy_denied >= 1 && st.install.sandbox.proxy_allowed >= 1))
  throw new Error("proxy counts: " + JSON.stringify(st.install.sandbox));
' || { cat rec.json; fail "record checks"; }
pass "record: the test stage tried to reach 203.0.113.5:443"

"$AIRLOCK_BIN" --home "$it_home" audit show --job "$id" > audit.jsonl
ID="$id" node -e '
const lines = require("fs").readFileSync("audit.jsonl", "utf8").trim().split("\n");
const es = lines.map(l => JSON.parse(l));
const id = process.env.ID;
if (!es.every(e => e.details.job === id)) throw new Error("--job filter");
const has = (action, pred) => es.some(e => e.action === action && pred(e));
if (!has("proxy.allow", e => /^127\.0\.0\.1:[0-9]+$/.test(e.object)))
  throw new Error("no proxy.allow for the registry");
if (!has("proxy.deny", e => e.object === "evil.invalid:443" &&
         e.details.reason === "not in the allow list"))
  throw new Error("no proxy.deny for evil.invalid:443 with its reason");
if (!has("net.refused", e => e.object === "203.0.113.5:443"))
  throw new Error("no net.refused entry");
' || { cat audit.jsonl; fail "audit entries"; }
"$AIRLOCK_BIN" --home "$it_home" audit verify | grep -q '^OK' ||
	fail "audit verify"
pass "audit log: proxy allow and deny and the refused attempt, with the job id"

# The human summary says it in words.
"$AIRLOCK_BIN" --home "$it_home" update "$url" > summary.txt 2>/dev/null ||
	true
grep -q "the test stage tried to reach 203.0.113.5:443" summary.txt ||
	{ cat summary.txt; fail "summary lacks the attempt"; }
pass "summary: the test stage tried to reach 203.0.113.5:443"
it_no_workspace
