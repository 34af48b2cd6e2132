#!/usr/bin/env bash
# test_hardening.sh - the programs that run as root (airlock,
# airlock-core, airlockd) are built hardened: position-independent, full
# RELRO (BIND_NOW, so the GOT turns read-only after start), no
# executable stack, the stack protector in. A program linked the lazy
# way is built first and must be flagged, so the checks cannot pass by
# reading nothing. The musl airlock has its own checks
# (test_cli_musl.sh).
#
#   AIRLOCK_BIN=build/airlock AIRLOCKD_BIN=build/airlockd \
#       bash tests/integration/test_hardening.sh
set -euo pipefail

: "${AIRLOCK_BIN:?set AIRLOCK_BIN to the airlock binary}"
: "${AIRLOCKD_BIN:?set AIRLOCKD_BIN to the airlockd binary}"
core="$(dirname "$AIRLOCK_BIN")/airlock-core"

tmp=$(mktemp -d /tmp/airlock-hardening.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# What is missing from program $1, one word each; nothing when hardened.
# readelf's output goes to files first: grep -q ending a pipe early would
# fail it under pipefail.
weak() {
	local p=$1
	readelf -hW "$p" > "$tmp/h"
	readelf -lW "$p" > "$tmp/l"
	readelf -dW "$p" > "$tmp/d"
	readelf -sW --dyn-syms "$p" > "$tmp/s"
	grep -Eq 'Type:[[:space:]]+DYN' "$tmp/h" || echo not-pie
	grep -q 'GNU_RELRO' "$tmp/l" || echo no-relro
	grep -Eq '\(FLAGS\).*BIND_NOW|\(FLAGS_1\).*NOW' "$tmp/d" ||
		echo lazy-binding
	grep 'GNU_STACK' "$tmp/l" | grep -q 'RWE' && echo exec-stack
	grep -q '__stack_chk_fail' "$tmp/s" || echo no-stack-protector
	return 0
}

# The checks' own check: a lazily bound program without a stack
# protector must be flagged for exactly that.
printf 'int main(int c, char **v) { char b[64]; (void)v;\n' > "$tmp/lazy.c"
printf '  return __builtin_snprintf(b, sizeof b, "%%d", c) > 99; }\n' \
	>> "$tmp/lazy.c"
cc -O1 -fPIE -pie -fno-stack-protector -Wl,-z,lazy -o "$tmp/lazy" "$tmp/lazy.c"
[ "$(weak "$tmp/lazy" | tr '\n' ' ')" = "lazy-binding no-stack-protector " ] ||
	fail "the checks do not flag a lazy program: $(weak "$tmp/lazy" | tr '\n' ' ')"
pass "a lazily bound program without a stack protector is flagged"

for p in "$AIRLOCK_BIN" "$core" "$AIRLOCKD_BIN"; do
	[ -x "$p" ] || fail "no program $p"
	w=$(weak "$p" | tr '\n' ' ')
	[ -z "$w" ] || fail "$p is built without: $w"
	pass "$(basename "$p"): PIE, full RELRO, no executable stack, stack protector"
done
echo "test_hardening: all passed"
