#!/usr/bin/env bash
# A private registry (THREATS.md "Secrets"): a Verdaccio of this test's
# own on loopback, where @airlock-private packages may be read by
# signed-in users only. A project depends on one of them.
#
# - With registry_token_file, the plan (the daemon's registry client) and
#   the installs (npm in the sandbox, through the proxy, which adds the
#   token) see the package; the install script and the tests hunt for
#   the token everywhere they can read (tests/fixtures/secrets/hunt.js)
#   and find only the decoy planted in the repository.
# - The audit log names the token by its id, never by its value, and so
#   do the record and the log.
# - Without the file, the plan fails and says a token is needed; a file
#   others may read is refused before anything runs.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lib/verdaccio.sh
. "$AL_SOURCE_DIR/tests/lib/verdaccio.sh"

regtoken_cleanup() {
	verdaccio_stop || true
	it_cleanup
}
trap regtoken_cleanup EXIT

cd "$it_tmp"
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }
mkdir verdaccio
VERDACCIO_PRIVATE=1 verdaccio_start "$it_tmp/verdaccio" ||
	fail "the private Verdaccio did not start"
reg=$AL_TEST_REGISTRY
hostport=${reg#http://}
hostport=${hostport%/}

# Sign up; the answer carries the token.
pw="pw-$(rand 12)"
curl -fsS -X PUT -H 'Content-Type: application/json' \
	-d "{\"name\":\"airlock-it\",\"password\":\"$pw\"}" \
	"${reg}-/user/org.couchdb.user:airlock-it" > signup.json ||
	fail "cannot sign up on the private registry"
token=$(node -p 'require("./signup.json").token')
[ -n "$token" ] && [ "$token" != undefined ] || fail "no token: $(cat signup.json)"
printf '//%s/:_authToken=%s\n' "$hostport" "$token" > publish.npmrc
chmod 600 publish.npmrc
for v in 1.0.0 2.0.0; do
	d="pkg-$v"
	mkdir "$d"
	printf '{"name":"@airlock-private/secret-lib","version":"%s",' "$v" \
		> "$d/package.json"
	printf '"main":"index.js"}\n' >> "$d/package.json"
	echo "module.exports = '$v';" > "$d/index.js"
	(cd "$d" && npm publish --registry "$reg" --userconfig ../publish.npmrc \
		--loglevel=error > /dev/null) || fail "cannot publish $v"
done
rm publish.npmrc
# The setup itself: anonymous readers are refused.
code=$(curl -s -o /dev/null -w '%{http_code}' \
	"${reg}@airlock-private%2fsecret-lib")
case $code in 401|403) ;; *) fail "anonymous read answered $code" ;; esac
pass "private registry: @airlock-private needs a token (anonymous: $code)"

# The project: hunts in its install script and tests, depends on the
# private package.
decoy="decoy-$(rand 12)"
cp -a "$AL_SOURCE_DIR/tests/fixtures/secrets" fixture
node -e '
const fs = require("fs");
const p = JSON.parse(fs.readFileSync("fixture/package.json"));
p.dependencies = { "@airlock-private/secret-lib": "^1.0.0" };
fs.writeFileSync("fixture/package.json", JSON.stringify(p, null, 2) + "\n");
'
printf 'This file holds the decoy: %s\n' "$decoy" > fixture/decoy.txt
needle() {
	local sha
	sha=$(printf '%s' "$2" | sha256sum | cut -d' ' -f1)
	printf '{"name":"%s","prefix":"%s","len":%d,"sha256":"%s"}' \
		"$1" "${2:0:6}" "${#2}" "$sha"
}
printf '[%s,%s,%s]\n' "$(needle registry-token "$token")" \
	"$(needle bearer "Bearer $token")" "$(needle decoy "$decoy")" \
	> fixture/needles.json
url=$(it_publish "$it_tmp/fixture" regtoken)

tokfile="$it_tmp/registry.token"
printf '%s\n' "$token" > "$tokfile"
chmod 600 "$tokfile"
printf 'registry = %s\nregistry_token_file = %s\n' "$reg" "$tokfile" \
	> "$it_home/airlock.conf"
id=$(printf '%s' "$token" | sha256sum | cut -c1-16)

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --policy major --json \
	> rec.json 2> log.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat log.txt; fail "expected the test stage to fail"; }
node "$AL_SOURCE_DIR/tests/integration/check-token-job.js" rec.json ||
	{ cat log.txt; fail "record checks"; }
pass "plan and installs saw the private package; the hunts found no token"

jid=$(node -p 'require("./rec.json").id')
"$AIRLOCK_BIN" --home "$it_home" audit show --job "$jid" > audit.jsonl
ID="sha256:$id" node -e '
const es = require("fs").readFileSync("audit.jsonl", "utf8").trim()
  .split("\n").map(l => JSON.parse(l));
const id = process.env.ID;
const has = (a, p) => es.some(e => e.action === a && p(e));
for (const a of ["token.issue", "token.revoke"])
  if (!has(a, e => e.details.source === "registry_token_file" &&
                 e.details.id === id))
    throw new Error("no " + a + " naming " + id);
if (!has("proxy.credential", e => e.details.credential === id &&
         e.details.requests >= 1))
  throw new Error("no proxy.credential entry naming " + id);
' || { cat audit.jsonl; fail "audit entries"; }
for f in rec.json log.txt audit.jsonl; do
	grep -qF "$token" "$f" && fail "the token is in $f"
done
"$AIRLOCK_BIN" --home "$it_home" audit export > export.jsonl ||
	fail "audit export"
grep -qF "$token" export.jsonl && fail "the token is in the audit export"
pass "audit log names the token as sha256:$id; no token in record, log or audit"

# Without the token: the plan fails and says why.
printf 'registry = %s\n' "$reg" > "$it_home/airlock.conf"
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --policy major --json \
	> anon.json 2> anon.txt
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "the job without a token succeeded"
grep -q "refused access without a token (registry_token_file" anon.json ||
	{ cat anon.json anon.txt; fail "no clear error without a token"; }
pass "without registry_token_file the plan fails and names the key"

# A token file that others may read is refused before anything runs.
chmod 644 "$tokfile"
printf 'registry = %s\nregistry_token_file = %s\n' "$reg" "$tokfile" \
	> "$it_home/airlock.conf"
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" > open.txt 2>&1
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "a world-readable token file was used"
grep -q "has mode 0644, group or others may access it" open.txt ||
	{ cat open.txt; fail "no clear error for the open token file"; }
grep -qF "$token" open.txt anon.json anon.txt && fail "the token leaked"
pass "a token file others may read is refused"
it_no_workspace
