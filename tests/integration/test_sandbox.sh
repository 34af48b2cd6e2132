#!/usr/bin/env bash
# test_sandbox.sh - `airlock sandbox run` as an operator uses it: exit codes,
# streamed output, --json, binds, limits, bad usage, and registry mode
# through a loopback HTTP server (and npm against the test Verdaccio when
# tests/run has started one). Only loopback is contacted.
#
#   AIRLOCK_BIN=build/airlock bash tests/integration/test_sandbox.sh
set -euo pipefail

: "${AIRLOCK_BIN:?set AIRLOCK_BIN to the airlock binary}"
A=$AIRLOCK_BIN
export AIRLOCK_LOG=warn

tmp=$(mktemp -d /tmp/airlock-sbx-it.XXXXXX)
server_pid=
sink_pid=
reader=
cleanup() {
	if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
	if [ -n "$sink_pid" ]; then kill "$sink_pid" 2>/dev/null || true; fi
	if [ -n "$reader" ]; then kill "$reader" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
# shellcheck source=tests/lib/http-server.sh
. "$(dirname "$0")/../lib/http-server.sh"
# Sandbox cgroups whose creating airlock process is gone (leaked).
dead_cgroups() {
	find /sys/fs/cgroup -maxdepth 6 -type d -name 'airlock-sbx-*' \
		2>/dev/null | while read -r d; do
		pid=${d##*/airlock-sbx-}
		pid=${pid%%-*}
		[ -d "/proc/$pid" ] || echo "$d"
	done | sort
}
dead_before=$(dead_cgroups)
pass() { echo "ok: $*"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d$1)"; }

# --help is complete: every option is described.
help=$("$A" sandbox run --help)
for o in --net --allow --mem --cpus --pids --timeout --disk --bind --workdir \
	--json; do
	grep -q -- "$o" <<<"$help" || fail "--help lacks $o"
done
pass "help lists every option"

# Bad usage exits 2 with a message.
for args in "run --bogus -- true" "run --net bad -- true" \
	"run --mem lots -- true" "run --cpus 0 -- true" "run -- " \
	"run --net registry -- true" "run --bind /tmp -- true" \
	"run true" "walk -- true"; do
	set +e
	# shellcheck disable=SC2086
	err=$("$A" sandbox $args 2>&1 >/dev/null)
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "'$args' exited $rc, expected 2"
	[ -n "$err" ] || fail "'$args' printed no reason"
done
pass "bad usage exits 2"

# The payload's exit status, and 128+N for a signal.
set +e
"$A" sandbox run -- sh -c 'exit 7'; rc=$?
[ "$rc" -eq 7 ] || fail "exit 7 became $rc"
"$A" sandbox run -- sh -c 'kill -TERM $$'; rc=$?
[ "$rc" -eq 143 ] || fail "SIGTERM became $rc"
"$A" sandbox run --timeout 1 -- sh -c 'trap "" TERM; sleep 600'; rc=$?
[ "$rc" -eq 137 ] || fail "timeout became $rc"
"$A" sandbox run -- no-such-command-airlock 2>/dev/null; rc=$?
[ "$rc" -eq 1 ] || fail "missing command became $rc"
set -e
pass "exit statuses"

# Streamed output has terminal escapes replaced.
out=$("$A" sandbox run -- printf 'a\033]0;title\007b\n')
[ "$out" = "a?]0;title?b" ] || fail "stream not sanitised: $out"
pass "streamed output is sanitised"

# --json: one document with the kill reason, usage and output.
doc=$("$A" sandbox run --json --mem 32M -- \
	dd if=/dev/zero of=/dev/null bs=128M count=1) || true
[ "$(json "['kill_reason']" <<<"$doc")" = oom ] || fail "no oom: $doc"
doc=$("$A" sandbox run --json -- sh -c 'echo hello; id -u')
[ "$(json "['output']" <<<"$doc")" = "$(printf 'hello\n1000\n')" ] ||
	fail "json output: $doc"
[ "$(json "['exit_code']" <<<"$doc")" = 0 ] || fail "json exit: $doc"
pass "--json"

# Binds: rw writes reach the host, ro and the image refuse writes.
mkdir -p "$tmp/ws" "$tmp/ro"
chown 64000:64000 "$tmp/ws"
"$A" sandbox run --bind "$tmp/ws:/work:rw" --bind "$tmp/ro:/ro" \
	--workdir /work -- sh -c 'echo in > out; (echo x > /ro/x) 2>/dev/null;
	(echo x > /usr/x) 2>/dev/null; true'
[ "$(cat "$tmp/ws/out")" = in ] || fail "rw bind not written"
[ ! -e "$tmp/ro/x" ] || fail "ro bind was written"
set +e
"$A" sandbox run --bind "$tmp/ws:/usr/local/x:rw" -- true 2>/dev/null
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "bind into /usr accepted ($rc)"
pass "binds"

# Registry mode: a loopback server on an allowed port is reachable via the
# proxy, another port is refused with 403; none mode reaches neither.
mkdir -p "$tmp/www"
echo payload-ok > "$tmp/www/file"
http_server_start "$tmp/www" || fail "the loopback HTTP server did not start"
server_pid=$HTTP_SERVER_PID
port=$HTTP_SERVER_PORT
get='exec 3<>/dev/tcp/127.0.0.1/3128; printf "GET http://127.0.0.1:%s/file HTTP/1.1\r\nHost: x\r\n\r\n" "$0" >&3; cat <&3'
out=$("$A" sandbox run --net registry --allow "127.0.0.1:$port" -- \
	bash -c "$get" "$port")
grep -q payload-ok <<<"$out" || fail "allowed request failed: $out"
out=$("$A" sandbox run --net registry --allow "127.0.0.1:1" -- \
	bash -c "$get" "$port")
grep -q "403 Forbidden" <<<"$out" || fail "denied request not 403: $out"
out=$("$A" sandbox run -- bash -c \
	"echo > /dev/tcp/127.0.0.1/$port && echo REACHED; true" 2>&1)
grep -q REACHED <<<"$out" && fail "none mode reached the host"
pass "registry proxy and none mode"

# npm itself through the proxy, against the test registry.
: "${AL_TEST_REGISTRY:?run through tests/run (no test registry)}"
hp=$(python3 -c "import sys,urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(f'{p.hostname}:{p.port}')" "$AL_TEST_REGISTRY")
"$A" sandbox run --net registry --allow "$hp" -- \
	npm ping --registry "$AL_TEST_REGISTRY" >/dev/null 2>&1 ||
	fail "npm ping through the proxy failed"
pass "npm through the proxy"

# An allowed upstream that accepts and never reads: the payload stuffs a
# tunnel and leaves. Tearing the proxy down must not wait on the full
# socket (it once hung until the upstream went away).
cat > "$tmp/sink.py" <<'PY'
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.bind(("127.0.0.1", 0)); s.listen(4)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
PY
python3 "$tmp/sink.py" > "$tmp/sink.port" &
sink_pid=$!
for _ in $(seq 1 50); do [ -s "$tmp/sink.port" ] && break; sleep 0.1; done
sport=$(cat "$tmp/sink.port")
stuff='exec 3<>/dev/tcp/127.0.0.1/3128
printf "CONNECT 127.0.0.1:%s HTTP/1.1\r\n\r\n" "$0" >&3
head -c 39 <&3 >/dev/null
timeout 3 dd if=/dev/zero bs=64k count=200 >&3 2>/dev/null; exit 0'
set +e
timeout 120 "$A" sandbox run --net registry --allow "127.0.0.1:$sport" \
	--timeout 100 -- bash -c "$stuff" "$sport" >/dev/null 2>&1
rc=$?
set -e
kill "$sink_pid" 2>/dev/null || true
sink_pid=
[ "$rc" -ne 124 ] || fail "sandbox run hung on a stalled upstream"
pass "a stalled upstream does not hold the sandbox open"

# The live stream: a control split across two writes is still caught,
# and a reader that stops reading does not suspend the time limit.
out=$("$A" sandbox run -- sh -c \
	'printf "A\302"; sleep .3; printf "\23331mB\n"; printf "x\233y\n"' |
	od -An -c | tr -s ' ')
case $out in
*'302 233'*|*'233'*) fail "split C1 control reached the stream: $out" ;;
esac
mkfifo "$tmp/slow"
sleep 40 < "$tmp/slow" &
reader=$!
"$A" sandbox run --timeout 2 -- yes > "$tmp/slow" 2> "$tmp/slow.err" &
runner=$!
for _ in $(seq 1 150); do kill -0 "$runner" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$runner" 2>/dev/null; then
	kill "$runner" "$reader" 2>/dev/null
	fail "a stalled reader held the sandbox past its time limit"
fi
kill "$reader" 2>/dev/null || true
grep -q 'ended: timeout' "$tmp/slow.err" || fail "no timeout: $(cat "$tmp/slow.err")"
pass "live stream is terminal-safe across writes and never blocks the limits"

# The payload cannot kill init or make it write to the caller's terminal
# (init is a copy of airlock: it had airlock's handlers and stderr).
out=$("$A" sandbox run -- sh -c \
	'kill -SEGV 1; kill -BUS 1; kill -TERM 1; sleep 0.2; echo alive' 2>&1)
grep -q '^alive$' <<<"$out" || fail "init died or the payload with it: $out"
grep -qi 'sanitizer\|segv' <<<"$out" && fail "init wrote to our stderr: $out"
pass "init ignores signals from its payload and stays silent"

# Nothing left behind: no new cgroup of a finished airlock process.
new=$(comm -13 <(echo "$dead_before") <(dead_cgroups))
[ -z "$new" ] || fail "cgroups left behind: $new"
pass "no cgroup left behind"
echo "sandbox.sh: all passed"
