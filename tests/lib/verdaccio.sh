# verdaccio.sh - start and stop a local Verdaccio registry for the tests.
#
# Sourced by tests/run. verdaccio_start DIR installs a pinned Verdaccio
# into a cache folder (kept between runs), writes a configuration into DIR
# whose only uplink is the registry npm is configured with at run time,
# starts it on a free loopback port and exports:
#   AL_TEST_REGISTRY  http://127.0.0.1:PORT/
#   VERDACCIO_PID     the server's pid, the only process verdaccio_stop ends
# Packages under the @airlock-test scope are local only and may be
# published without authentication; everything else is proxied.
# verdaccio_publish_fixtures publishes tests/fixtures/registry/* under that
# scope (tests/run calls it after every start, so they are always fresh).
# With VERDACCIO_PRIVATE=1 set, anyone may sign up (PUT
# /-/user/org.couchdb.user:NAME answers with a token) and packages under
# @airlock-private may be read and published by signed-in users only.
# With VERDACCIO_TLS_KEY and VERDACCIO_TLS_CERT (PEM files) set, it serves
# HTTPS with them (AL_TEST_REGISTRY is then https://127.0.0.1:PORT/), and
# VERDACCIO_TLS_CA names the CA the start-up check trusts (without it,
# the check does not verify: a test may serve a certificate on purpose
# that nothing should accept).

VERDACCIO_VERSION=6.8.0

verdaccio__free_port() {
	node -e '
const s = require("net").createServer();
s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });'
}

verdaccio__install() {
	local cache=$1
	local bin=$cache/node_modules/.bin/verdaccio

	if [ -x "$bin" ] &&
	   [ "$(cat "$cache/.version" 2>/dev/null)" = "$VERDACCIO_VERSION" ]; then
		return 0
	fi
	mkdir -p "$cache" || return 1
	echo "verdaccio: installing verdaccio@$VERDACCIO_VERSION into $cache" >&2
	npm install --prefix "$cache" --no-audit --no-fund --loglevel=error \
		"verdaccio@$VERDACCIO_VERSION" >&2 || return 1
	echo "$VERDACCIO_VERSION" > "$cache/.version"
}

verdaccio__config() {
	local dir=$1 port=$2 uplink=$3 users=-1 private='' listen tls=''

	if [ -n "${VERDACCIO_PRIVATE:-}" ]; then
		users=100
		private="  '@airlock-private/*':
    access: \$authenticated
    publish: \$authenticated"
	fi
	listen=127.0.0.1:$port
	if [ -n "${VERDACCIO_TLS_KEY:-}" ]; then
		listen=https://127.0.0.1:$port
		tls="https:
  key: $VERDACCIO_TLS_KEY
  cert: $VERDACCIO_TLS_CERT"
	fi
	cat > "$dir/config.yaml" <<EOF
storage: $dir/storage
listen: $listen
$tls
web:
  enable: false
auth:
  htpasswd:
    file: $dir/htpasswd
    max_users: $users
uplinks:
  upstream:
    url: $uplink
    timeout: 60s
    max_fails: 5
packages:
$private
  '@airlock-test/*':
    access: \$all
    publish: \$anonymous
    unpublish: \$anonymous
  '@*/*':
    access: \$all
    proxy: upstream
  '**':
    access: \$all
    proxy: upstream
log: { type: file, path: $dir/verdaccio.log, level: warn }
EOF
}

verdaccio_start() {
	local dir=$1
	local cache=${AL_TEST_CACHE:-/var/cache/airlock-tests}/verdaccio
	local uplink port i scheme=http ping_tls=()

	if [ -z "$dir" ]; then
		echo "verdaccio_start: usage: verdaccio_start DIR" >&2
		return 2
	fi
	uplink=$(npm config get registry) || return 1
	case $uplink in
	http://*|https://*) ;;
	*) echo "verdaccio_start: npm registry '$uplink' is not a URL" >&2
	   return 1 ;;
	esac
	verdaccio__install "$cache" || return 1

	mkdir -p "$dir/storage" || return 1
	port=$(verdaccio__free_port) || return 1
	verdaccio__config "$dir" "$port" "$uplink" || return 1
	"$cache/node_modules/.bin/verdaccio" --config "$dir/config.yaml" \
		> "$dir/stdout.log" 2>&1 &
	VERDACCIO_PID=$!

	if [ -n "${VERDACCIO_TLS_KEY:-}" ]; then
		scheme=https
		ping_tls=(--insecure)
		[ -n "${VERDACCIO_TLS_CA:-}" ] && ping_tls=(--cacert "$VERDACCIO_TLS_CA")
	fi
	for i in $(seq 1 150); do
		if curl -fs -o /dev/null "${ping_tls[@]}" \
			"$scheme://127.0.0.1:$port/-/ping"; then
			export AL_TEST_REGISTRY="$scheme://127.0.0.1:$port/"
			export VERDACCIO_PID
			return 0
		fi
		if ! kill -0 "$VERDACCIO_PID" 2>/dev/null; then
			break
		fi
		sleep 0.2
	done
	echo "verdaccio_start: server did not answer on port $port" >&2
	cat "$dir/stdout.log" >&2
	verdaccio_stop
	return 1
}

# verdaccio_publish_fixtures DIR FIXTURES: publish the fixture packages
# (tests/lib/registry-fixtures.js says how) into the Verdaccio started
# with verdaccio_start DIR.
verdaccio_publish_fixtures() {
	local dir=$1 fixtures=$2

	node "$(dirname "${BASH_SOURCE[0]}")/registry-fixtures.js" \
		"$AL_TEST_REGISTRY" "$dir/storage" "$fixtures"
}

verdaccio_stop() {
	if [ -n "$VERDACCIO_PID" ]; then
		kill "$VERDACCIO_PID" 2>/dev/null
		wait "$VERDACCIO_PID" 2>/dev/null
	fi
	unset VERDACCIO_PID AL_TEST_REGISTRY
}
