#!/usr/bin/env bash
# A private registry over HTTPS (THREATS.md "Secrets"): a Verdaccio of
# this test's own on loopback serving TLS with a certificate of a CA the
# test makes (openssl), given to airlock as registry_ca_file; packages
# under @airlock-private need a signed-in user.
#
# - With registry_token_file, the plan and the installs see the private
#   package: in the install sandboxes npm trusts only the job's own CA
#   (npm_config_cafile), the proxy ends npm's TLS with a certificate of
#   it, adds the token and sends the request on over its own TLS, which
#   checks the registry's certificate against registry_ca_file. The
#   install script and the tests hunt for the token and for any PEM
#   private key (the job CA's or the proxy's) and find only the decoy.
# - A registry whose certificate is of a CA airlock was not told to
#   trust, or for another address, gets no request at all: the job fails
#   and says why.
. "$(dirname "$0")/lib.sh"
# shellcheck source=tests/lib/verdaccio.sh
. "$AL_SOURCE_DIR/tests/lib/verdaccio.sh"

tls_cleanup() {
	verdaccio_stop || true
	it_cleanup
}
trap tls_cleanup EXIT

cd "$it_tmp"
rand() { od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'; }

# mkca NAME: a CA key and certificate; mkcert CA NAME SAN: a server
# certificate of CA for SAN.
mkca() {
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$1.key" -out "$1.pem" -days 2 \
		-subj "/CN=airlock test $1" \
		-addext basicConstraints=critical,CA:TRUE \
		-addext keyUsage=critical,keyCertSign 2> /dev/null
}
mkcert() {
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout "$2.key" -out "$2.csr" -subj "/CN=airlock test $2" \
		2> /dev/null
	printf 'subjectAltName=%s\nbasicConstraints=CA:FALSE\n' "$3" > "$2.ext"
	printf 'extendedKeyUsage=serverAuth\n' >> "$2.ext"
	openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" \
		-CAcreateserial -days 2 -out "$2.pem" -extfile "$2.ext" \
		2> /dev/null
}
mkca regca || fail "openssl: the registry's CA"
mkcert regca server IP:127.0.0.1 || fail "openssl: the registry's certificate"
mkca rogueca || fail "openssl: another CA"
mkcert rogueca rogue IP:127.0.0.1 || fail "openssl: the rogue certificate"
mkcert regca elsewhere IP:127.0.0.2 || fail "openssl: a certificate for 127.0.0.2"

mkdir verdaccio
VERDACCIO_PRIVATE=1 VERDACCIO_TLS_KEY=$it_tmp/server.key \
	VERDACCIO_TLS_CERT=$it_tmp/server.pem VERDACCIO_TLS_CA=$it_tmp/regca.pem \
	verdaccio_start "$it_tmp/verdaccio" ||
	fail "the private HTTPS Verdaccio did not start"
reg=$AL_TEST_REGISTRY
case $reg in https://127.0.0.1:*) ;; *) fail "not an https registry: $reg" ;; esac
hostport=${reg#https://}
hostport=${hostport%/}

pw="pw-$(rand 12)"
curl -fsS --cacert regca.pem -X PUT -H 'Content-Type: application/json' \
	-d "{\"name\":\"airlock-it\",\"password\":\"$pw\"}" \
	"${reg}-/user/org.couchdb.user:airlock-it" > signup.json ||
	fail "cannot sign up on the private registry"
token=$(node -p 'require("./signup.json").token')
[ -n "$token" ] && [ "$token" != undefined ] || fail "no token: $(cat signup.json)"
printf '//%s/:_authToken=%s\ncafile=%s\n' "$hostport" "$token" \
	"$it_tmp/regca.pem" > publish.npmrc
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
code=$(curl -s --cacert regca.pem -o /dev/null -w '%{http_code}' \
	"${reg}@airlock-private%2fsecret-lib")
case $code in 401|403) ;; *) fail "anonymous read answered $code" ;; esac
pass "private HTTPS registry: @airlock-private needs a token (anonymous: $code)"

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
# Any PEM private key (hunt.js): the job CA's or the proxy's, if either
# were ever written out or held as PEM. A key of no use to anyone is
# planted in the repository, which the hunt must find.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out fixture/decoy-key.pem 2> /dev/null || fail "openssl: the decoy key"
printf '[%s,%s,%s,{"name":"pem-private-key","pem":true}]\n' \
	"$(needle registry-token "$token")" "$(needle bearer "Bearer $token")" \
	"$(needle decoy "$decoy")" > fixture/needles.json
url=$(it_publish "$it_tmp/fixture" regtoken-tls)

tokfile="$it_tmp/registry.token"
printf '%s\n' "$token" > "$tokfile"
chmod 600 "$tokfile"
conf() {
	printf 'registry = %s\nregistry_token_file = %s\nregistry_ca_file = %s\n' \
		"$1" "$tokfile" "$it_tmp/regca.pem" > "$it_home/airlock.conf"
}
conf "$reg"
id=$(printf '%s' "$token" | sha256sum | cut -c1-16)

set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --policy major --json \
	> rec.json 2> log.txt
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat log.txt; fail "expected the test stage to fail"; }
node "$AL_SOURCE_DIR/tests/integration/check-token-job.js" rec.json --pem ||
	{ cat log.txt; fail "record checks"; }
pass "plan and installs over HTTPS saw the private package; the hunts found no token and no private key"

jid=$(node -p 'require("./rec.json").id')
"$AIRLOCK_BIN" --home "$it_home" audit show --job "$jid" > audit.jsonl
ID="sha256:$id" HP="$hostport" node -e '
const es = require("fs").readFileSync("audit.jsonl", "utf8").trim()
  .split("\n").map(l => JSON.parse(l));
const id = process.env.ID;
if (!es.some(e => e.action === "proxy.credential" && e.object === process.env.HP &&
              e.details.credential === id && e.details.requests >= 1))
  throw new Error("no proxy.credential entry naming " + id);
if (!es.some(e => e.action === "proxy.allow" && e.object === process.env.HP))
  throw new Error("no proxy.allow for the registry");
' || { cat audit.jsonl; fail "audit entries"; }
for f in rec.json log.txt audit.jsonl; do
	grep -qF "$token" "$f" && fail "the token is in $f"
done
pass "the proxy added the token (audit names it as sha256:$id); no token in record, log or audit"

# The same registry behind a certificate airlock must not accept: the
# job fails, says why, and the registry is sent no request.
bad_registry() {
	local name=$1 what=$2
	verdaccio_stop || true
	VERDACCIO_PRIVATE=1 VERDACCIO_TLS_KEY=$it_tmp/$name.key \
		VERDACCIO_TLS_CERT=$it_tmp/$name.pem \
		VERDACCIO_TLS_CA= verdaccio_start "$it_tmp/verdaccio" ||
		fail "Verdaccio with the $name certificate did not start"
	conf "$AL_TEST_REGISTRY"
	set +e
	"$AIRLOCK_BIN" --home "$it_home" update "$url" --policy major --json \
		> "$name.json" 2> "$name.txt"
	rc=$?
	set -e
	[ "$rc" -ne 0 ] || fail "the job succeeded against $what"
	grep -Eq "$3" "$name.json" "$name.txt" ||
		{ cat "$name.json" "$name.txt"; fail "no clear error for $what"; }
	grep -qF "$token" "$name.json" "$name.txt" && fail "the token leaked"
	pass "a registry with $what is refused: $(grep -Eho "$3[^\"]*" \
		"$name.json" "$name.txt" | head -n 1)"
}
bad_registry rogue "a certificate of another CA" \
	"SSL certificate problem: unable to get local issuer certificate"
bad_registry elsewhere "a certificate for another address" \
	"SSL: no alternative certificate subject name matches|does not match target host"
it_no_workspace
