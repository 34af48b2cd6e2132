#!/usr/bin/env bash
# test_cli_split.sh - the command line is two programs (src/cli/main.c):
# `airlock`, which must stay free of libgit2 and libcurl so that
# `airlock sandbox run` starts fast, and `airlock-core` beside it, which
# it becomes for every other command. Checks the link structure (no
# timing), that every command answers through `airlock` with --home and
# exit status intact, and the error when airlock-core is missing.
# Needs no server.
#
#   AIRLOCK_BIN=build/airlock bash tests/integration/test_cli_split.sh
set -euo pipefail

: "${AIRLOCK_BIN:?set AIRLOCK_BIN to the airlock binary}"
A=$AIRLOCK_BIN
core="$(dirname "$A")/airlock-core"
export AIRLOCK_LOG=warn

tmp=$(mktemp -d /tmp/airlock-cli-it.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

[ -x "$core" ] || fail "no airlock-core beside $A"

# Every shared object each program loads, the loader's own view (ldd lists
# indirect dependencies too, so one pulled in by another library counts).
ldd "$A" > "$tmp/thin.ldd" || fail "ldd $A"
ldd "$core" > "$tmp/core.ldd" || fail "ldd $core"
for lib in libgit2 libcurl libcrypto libssl; do
	if grep -q "$lib" "$tmp/thin.ldd"; then
		cat "$tmp/thin.ldd" >&2
		fail "$A loads $lib: keep the commands that need it in airlock-core"
	fi
	# The same check on the program that must have them, so that a
	# change in ldd's output cannot make the one above pass vacuously.
	grep -q "$lib" "$tmp/core.ldd" || fail "$core does not load $lib"
done
# Nor a copy of libcrypto linked in statically: its security fixes must
# reach airlock without a rebuild.
if nm "$A" 2>/dev/null | grep -Eq ' [TtDdBbRr] (EVP_|OPENSSL_)'; then
	fail "$A carries a static copy of libcrypto"
fi
pass "airlock loads neither libgit2, libcurl, libcrypto nor libssl; airlock-core loads them"

# Every command is listed and answers through airlock, in process or in
# airlock-core.
"$A" --help > "$tmp/help" || fail "airlock --help"
for cmd in update sandbox semver audit keys; do
	grep -Eq "^  $cmd " "$tmp/help" || fail "airlock --help lacks $cmd"
	"$A" "$cmd" --help > "$tmp/$cmd.help" 2>&1 ||
		fail "airlock $cmd --help failed"
	grep -q "airlock $cmd" "$tmp/$cmd.help" ||
		fail "airlock $cmd --help: $(head -2 "$tmp/$cmd.help")"
done
pass "every command answers --help through airlock"

# --home reaches airlock-core in either spelling, and wins over
# $AIRLOCK_HOME; exit status is airlock-core's.
rc=0
AIRLOCK_HOME="$tmp/env-home" "$A" --home "$tmp/opt-home" keys status \
	> /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "keys status on a missing home: exit $rc, not 1"
grep -q "$tmp/opt-home" "$tmp/err" || fail "--home lost: $(cat "$tmp/err")"
grep -q "$tmp/env-home" "$tmp/err" && fail "\$AIRLOCK_HOME won over --home"
rc=0
"$A" audit verify --home="$tmp/eq-home" > /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "audit verify on a missing home: exit $rc, not 1"
grep -q "$tmp/eq-home" "$tmp/err" || fail "--home= lost: $(cat "$tmp/err")"
rc=0
"$A" update > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "update without a repository: exit $rc, not 2"
rc=0
"$A" no-such-command > /dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "unknown command: exit $rc, not 2"
pass "--home, \$AIRLOCK_HOME and exit status carried over to airlock-core"

# That airlock-core is the same process (same pid, so Ctrl-C and kill
# reach it) is what test_update_cancel.sh relies on: it signals the pid
# it started as airlock and expects the job's sandboxes to be torn down.

# Without airlock-core, sandbox and semver still work, and the others
# fail with a message naming the missing program.
mkdir -p "$tmp/alone"
cp "$A" "$tmp/alone/airlock"
[ "$("$tmp/alone/airlock" semver valid v1.2.3)" = 1.2.3 ] ||
	fail "semver without airlock-core"
rc=0
"$tmp/alone/airlock" update https://example.invalid/x.git \
	> /dev/null 2> "$tmp/err" || rc=$?
[ "$rc" -eq 1 ] || fail "missing airlock-core: exit $rc, not 1"
grep -q "cannot run $tmp/alone/airlock-core" "$tmp/err" ||
	fail "missing airlock-core, message: $(cat "$tmp/err")"
grep -q "'update'" "$tmp/err" || fail "the message does not name the command"
pass "a missing airlock-core is named, sandbox and semver still run"
