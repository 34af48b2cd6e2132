#!/usr/bin/env bash
# THREATS.md, "Secrets": with the git token in airlock's environment and
# memory, a project's install script and tests look for it in every
# /proc/*/environ and cmdline they can read and in their own environment.
# They print what they find; the test stage fails on purpose so that its
# output lands in the failure report, where the token must not appear.
# The credentials are given twice, in the environment and in the URL on
# airlock's command line, so both ways in are tried.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/secrets" secrets)
url="http://$GIT_SERVER_USER:$GIT_SERVER_PASS@${url#http://}"

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > rec.json 2> log.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat log.txt; fail "expected the test stage to fail"; }

node -e '
const r = require("./rec.json");
const f = (r.report && r.report.failures || []).find(x => x.stage === "test");
if (!f) throw new Error("no test failure recorded: " + JSON.stringify(r.report));
const log = f.log_excerpt;
for (const stage of ["install", "test"])
  if (!new RegExp(stage + " hunt done: read [1-9][0-9]* files, sandbox home seen 1").test(log))
    throw new Error("the " + stage + " hunt did not run: " + log);
if (/ found in | env: /.test(log))
  throw new Error("the hunt found something: " + log);
' || fail "hunt results"
grep -qF "$AIRLOCK_GIT_TOKEN" rec.json && fail "the token is in the job record"
grep -qF "$AIRLOCK_GIT_TOKEN" log.txt && fail "the token is in the log"
pass "install script and tests found no credential anywhere they could read"
it_no_workspace
