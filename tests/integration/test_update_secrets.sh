#!/usr/bin/env bash
# THREATS.md, "Secrets": with the git token in airlock's environment, in
# its command line (inside the repository URL) and in its memory, and a
# registry-style token in its environment, a project's install script and
# tests (tests/fixtures/secrets/hunt.js) search every /proc/*/environ and
# cmdline, every process memory they may read, every descriptor, their
# own environment and every file under / for them. The test stage fails
# on purpose so that both hunts' output lands in the failure report.
#
# The hunt gets, per secret, a prefix, the length and the SHA-256 only. A
# decoy secret planted in the repository must be found, so a hunt that
# cannot see anything cannot pass.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
export NPM_TOKEN="npm_$(rand 18)"
decoy="decoy-$(rand 12)"
basic=$(printf '%s:%s' "$GIT_SERVER_USER" "$GIT_SERVER_PASS" | base64 -w0)

cp -a "$AL_SOURCE_DIR/tests/fixtures/secrets" fixture
printf 'This file holds the decoy: %s\n' "$decoy" > fixture/decoy.txt
needle() {
	local sha
	sha=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
	printf '{"name":"%s","prefix":"%s","len":%d,"sha256":"%s"}' \
		"$1" "${2:0:6}" "${#2}" "$sha"
}
printf '[%s,%s,%s,%s]\n' "$(needle git-token "$GIT_SERVER_PASS")" \
	"$(needle basic-auth "$basic")" "$(needle npm-token "$NPM_TOKEN")" \
	"$(needle decoy "$decoy")" > fixture/needles.json
url=$(it_publish "$it_tmp/fixture" secrets)
url="http://$GIT_SERVER_USER:$GIT_SERVER_PASS@${url#http://}"

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > rec.json 2> log.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat log.txt; fail "expected the test stage to fail"; }

node -e '
const r = require("./rec.json");
for (const stage of ["baseline-test", "test"]) {
  const f = (r.report && r.report.failures || []).find(x => x.stage === stage);
  if (!f) throw new Error("no " + stage + " failure: " + JSON.stringify(r.report));
  const log = f.log_excerpt;
  for (const h of ["install", "test"]) {
    const m = new RegExp(h + " hunt done: files ([0-9]+) .*environ ([0-9]+), " +
      "cmdline [0-9]+, mem ([0-9]+) \\(denied ([0-9]+)\\).*fds ([0-9]+), " +
      "home /home/airlock").exec(log);
    if (!m) throw new Error(stage + ": the " + h + " hunt did not finish: " + log);
    const [files, environ, mem, denied, fds] = m.slice(1).map(Number);
    if (files < 10 || environ < 2 || mem < 1 || denied < 1 || fds < 3)
      throw new Error(stage + ": the " + h + " hunt saw too little: " + m[0]);
    if (stage === "test") console.log(m[0]);
    if (!new RegExp(h + " FOUND decoy in /work/decoy.txt").test(log))
      throw new Error(stage + ": the " + h + " hunt missed the decoy: " + log);
  }
  const found = log.split("\n").filter(l => / FOUND /.test(l) &&
                                            !/ FOUND decoy /.test(l));
  if (found.length) throw new Error(stage + ": " + found.join("; "));
}
' || fail "hunt results"
for s in "$GIT_SERVER_PASS" "$NPM_TOKEN" "$basic"; do
	grep -qF "$s" rec.json && fail "a secret is in the job record"
	grep -qF "$s" log.txt && fail "a secret is in the log"
done
pass "install script and tests found no credential anywhere they could read"
it_no_workspace
