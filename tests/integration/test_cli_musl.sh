#!/usr/bin/env bash
# test_cli_musl.sh - the airlock program that ships: built statically
# against musl by tools/musl-cli (the appliance and bench/run configure
# with -DAL_MUSL_CLI=ON). tests/run's build is glibc with sanitizers, so
# this test builds the musl program itself into BUILD/musl (left alone
# when it is current; the downloads are cached in $AL_MUSL_CACHE, by
# default /var/cache/airlock-tests/musl) and runs it as an operator
# does: sandbox run with output, exit codes, --json, a time limit, a
# direct connection attempt, the registry proxy to a loopback server, a
# bind, a refused bind, bad usage, `semver` through airlock-core and
# --version. It also checks what the build promises: static, RELRO
# read-only while it runs, no pcre2. Exact outputs throughout.
#
#   AIRLOCK_BIN=build/airlock bash tests/integration/test_cli_musl.sh
set -euo pipefail

: "${AIRLOCK_BIN:?set AIRLOCK_BIN to the airlock binary (glibc build)}"
root=${AL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bdir=$(cd "$(dirname "$AIRLOCK_BIN")" && pwd)
G=$AIRLOCK_BIN
M=$bdir/musl/airlock
export AIRLOCK_LOG=warn
export AL_MUSL_CACHE=${AL_MUSL_CACHE:-/var/cache/airlock-tests/musl}

tmp=$(mktemp -d /tmp/airlock-musl-it.XXXXXX)
server_pid=
held_pid=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	if [ -n "$held_pid" ]; then kill "$held_pid" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/lib/http-server.sh
. "$(dirname "$0")/../lib/http-server.sh"
pass() { echo "ok: $*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

[ -x "$bdir/airlock-core" ] || fail "no airlock-core beside $G"
"$root/tools/musl-cli" -B "$bdir/musl" > "$tmp/build.log" 2>&1 ||
	{ cat "$tmp/build.log" >&2; fail "tools/musl-cli failed"; }
ln -sfn ../airlock-core "$bdir/musl/airlock-core"
[ -x "$M" ] || fail "tools/musl-cli left no $M"
pass "built: $(tail -1 "$tmp/build.log")"

# Static: no program interpreter, no shared library needed.
readelf -lW "$M" > "$tmp/phdr" || fail "readelf -l $M"
grep -q 'INTERP' "$tmp/phdr" && fail "$M has a program interpreter"
grep -q 'GNU_RELRO' "$tmp/phdr" || fail "$M has no RELRO segment"
readelf -dW "$M" | grep -q '(NEEDED)' && fail "$M needs shared libraries"
# The same check on the glibc program, which must fail it.
readelf -lW "$G" | grep -q 'INTERP' || fail "the INTERP check sees nothing"
pass "static: no interpreter, no NEEDED entry"

# No pcre2 (nor libcrypto): the symbol table is there, sbx_run in it.
nm "$M" > "$tmp/nm" || fail "nm $M"
grep -q ' T sbx_run$' "$tmp/nm" || fail "no sbx_run in nm's output of $M"
if grep -Ei 'pcre2|EVP_|OPENSSL_' "$tmp/nm" | head -3 >&2; then
	fail "$M carries pcre2 or libcrypto symbols"
fi
pass "no pcre2 or libcrypto symbols"

# RELRO read-only while it runs: held in --version's write to a FIFO
# whose pipe is already full, its first RELRO page looked up.
vaddr=$(awk '$1 == "GNU_RELRO" { print $3 }' "$tmp/phdr")
mkfifo "$tmp/fifo"
exec 9<> "$tmp/fifo"
dd if=/dev/zero of="$tmp/fifo" bs=4096 count=1024 oflag=nonblock \
	2>/dev/null || true
"$M" --version > "$tmp/fifo" &
held_pid=$!
for _ in $(seq 100); do
	[ "$(cut -d' ' -f3 "/proc/$held_pid/stat" 2>/dev/null)" = S ] && break
	sleep 0.05
done
perms=$(awk -v bin="$M" -v va="$vaddr" '
	function hex(s,  i, n) {
		n = 0; s = tolower(s); sub(/^0x/, "", s)
		for (i = 1; i <= length(s); i++)
			n = n * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
		return n
	}
	$6 == bin {
		split($1, r, "-"); lo = hex(r[1]); hi = hex(r[2])
		if (base == "") { base = lo; want = base + hex(va) - hex(va) % 4096 }
		if (lo <= want && want < hi) p = $2
	}
	END { print p }' "/proc/$held_pid/maps")
kill "$held_pid" 2>/dev/null || true
wait "$held_pid" 2>/dev/null || true
held_pid=
exec 9>&-
[ "$perms" = r--p ] || fail "RELRO mapped '${perms:-?}' while running"
pass "RELRO read-only while running"

# --version: the same text as the glibc program's.
[ "$("$M" --version)" = "$("$G" --version)" ] ||
	fail "--version: '$("$M" --version)'"
[ "$("$M" --version)" = "airlock $(sed -n \
	's/^project(airlock VERSION \([0-9.]*\).*/\1/p' "$root/CMakeLists.txt")" ] ||
	fail "--version does not print CMakeLists.txt's version"
pass "--version"

# semver: the same answers as the glibc program, which has it built in;
# the musl program hands it to airlock-core (alone, it cannot answer).
for q in "valid v1.2.3" "satisfies 1.2.3 ^1.0.0" "satisfies 2.0.0 ^1.0.0" \
	"max-satisfying ~1.2.0 1.2.0 1.2.9 1.3.0" "valid not-a-version"; do
	for p in G M; do
		rc=0
		# shellcheck disable=SC2086
		"${!p}" semver $q > "$tmp/$p.out" 2>&1 || rc=$?
		echo "rc=$rc" >> "$tmp/$p.out"
	done
	cmp -s "$tmp/G.out" "$tmp/M.out" ||
		fail "semver $q: musl '$(cat "$tmp/M.out")', glibc '$(cat "$tmp/G.out")'"
done
[ "$("$M" semver max-satisfying '~1.2.0' 1.2.0 1.2.9 1.3.0)" = 1.2.9 ] ||
	fail "semver max-satisfying answered wrongly"
mkdir "$tmp/alone"
cp "$M" "$tmp/alone/airlock"
rc=0
"$tmp/alone/airlock" semver valid 1.2.3 > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "semver without airlock-core: exit $rc, not 1"
grep -q "cannot run $tmp/alone/airlock-core: .*'semver' command" "$tmp/err" ||
	fail "semver without airlock-core: $(cat "$tmp/err")"
pass "semver goes through airlock-core, same answers"

# sandbox run: output, exit status, the signal's 128+N.
out=$("$M" sandbox run -- sh -c 'echo hello; id -u')
[ "$out" = "$(printf 'hello\n1000')" ] || fail "output: '$out'"
rc=0
"$M" sandbox run -- sh -c 'exit 7' || rc=$?
[ "$rc" -eq 7 ] || fail "exit 7 became $rc"
rc=0
"$M" sandbox run -- sh -c 'kill -TERM $$' 2>/dev/null || rc=$?
[ "$rc" -eq 143 ] || fail "SIGTERM became $rc"
pass "sandbox run: output and exit statuses"

# --json, and a time limit: exit code, kill reason, output.
doc=$("$M" sandbox run --json -- sh -c 'echo out; exit 3') || true
[ "$(json "['exit_code']" <<<"$doc")" = 3 ] || fail "json exit: $doc"
[ "$(json "['kill_reason']" <<<"$doc")" = none ] || fail "json kill: $doc"
[ "$(json "['output']" <<<"$doc")" = out ] || fail "json output: $doc"
rc=0
doc=$("$M" sandbox run --json --timeout 1 -- sh -c 'echo t; sleep 30') ||
	rc=$?
[ "$rc" -eq 137 ] || fail "timeout: exit $rc, not 137"
[ "$(json "['kill_reason']" <<<"$doc")" = timeout ] || fail "no timeout: $doc"
[ "$(json "['exit_code']" <<<"$doc")" = 137 ] || fail "timeout code: $doc"
[ "$(json "['output']" <<<"$doc")" = t ] || fail "timeout output: $doc"
pass "--json fields and a timeout"

# --net none: a direct connection is refused inside the sandbox's own
# network namespace (nothing leaves it) and recorded.
doc=$("$M" sandbox run --json -- bash -c \
	'(echo > /dev/tcp/203.0.113.5/443) 2>/dev/null; echo $?') || true
[ "$(json "['output']" <<<"$doc")" = 1 ] || fail "the connection: $doc"
[ "$(json "['net_attempts']" <<<"$doc")" = "['203.0.113.5:443']" ] ||
	fail "attempt not recorded: $doc"
rc=0
"$M" sandbox run -- bash -c 'echo > /dev/tcp/203.0.113.5/443' \
	> /dev/null 2> "$tmp/err" || rc=$?
grep -q 'tried to reach 203.0.113.5:443 (refused)' "$tmp/err" ||
	fail "attempt not reported: $(cat "$tmp/err")"
pass "--net none records the attempt"

# --net registry: a loopback server on an allowed port through the
# proxy; another port gets 403.
mkdir -p "$tmp/www"
echo payload-ok > "$tmp/www/file"
http_server_start "$tmp/www" || fail "the loopback HTTP server did not start"
server_pid=$HTTP_SERVER_PID
port=$HTTP_SERVER_PORT
get='exec 3<>/dev/tcp/127.0.0.1/3128
printf "GET http://127.0.0.1:%s/file HTTP/1.0\r\nHost: x\r\n\r\n" "$0" >&3
cat <&3'
out=$("$M" sandbox run --net registry --allow "127.0.0.1:$port" -- \
	bash -c "$get" "$port" | sed 's/?$//')
[ "$(tail -1 <<<"$out")" = payload-ok ] || fail "allowed request: $out"
[ "$(head -1 <<<"$out")" = "HTTP/1.0 200 OK" ] || fail "allowed status: $out"
out=$("$M" sandbox run --net registry --allow "127.0.0.1:1" -- \
	bash -c "$get" "$port" | sed 's/?$//')
grep -q '^HTTP/1.[01] 403 Forbidden$' <<<"$out" || fail "not 403: $out"
pass "--net registry through the proxy"

# A writable bind reaches the host; a read-only one refuses writes.
mkdir -p "$tmp/ws" "$tmp/ro"
chown 64000:64000 "$tmp/ws"
out=$("$M" sandbox run --bind "$tmp/ws:/work:rw" --bind "$tmp/ro:/ro" \
	--workdir /work -- sh -c 'echo in > out; pwd;
	(echo x > /ro/x) 2>/dev/null || echo ro-refused')
[ "$out" = "$(printf '/work\nro-refused')" ] || fail "binds: '$out'"
[ "$(cat "$tmp/ws/out")" = in ] || fail "rw bind not written"
[ ! -e "$tmp/ro/x" ] || fail "ro bind was written"
pass "binds"

# Refused: a bind into /usr (set-up failure, 1) and bad usage (2).
rc=0
"$M" sandbox run --bind "$tmp/ws:/usr/local/x:rw" -- true 2> "$tmp/err" ||
	rc=$?
[ "$rc" -eq 1 ] || fail "bind into /usr: exit $rc, not 1"
[ -s "$tmp/err" ] || fail "bind into /usr: no reason given"
rc=0
"$M" sandbox run --net bad -- true 2> "$tmp/err" || rc=$?
[ "$rc" -eq 2 ] || fail "--net bad: exit $rc, not 2"
grep -q 'bad value for --net: "bad"' "$tmp/err" ||
	fail "--net bad: $(cat "$tmp/err")"
pass "a bad bind and bad usage are refused"
echo "cli_musl.sh: all passed"
