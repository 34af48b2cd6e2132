#!/usr/bin/env bash
# airlockd's start-up and reload refusals, as an operator meets them: a
# second daemon on the same home (named by pid), a master key readable by
# others, a home writable by others, a bad airlock.conf at start and on
# SIGHUP (the line and reason; the running configuration stays), and the
# sd_notify messages a Type=notify unit waits for.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"

# A datagram socket standing in for systemd's notify socket: it appends
# each message it gets to notify.txt.
python3 - "$it_tmp/notify.sock" "$it_tmp/notify.txt" <<'EOF' &
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
while True:
    m = s.recv(4096).decode()
    with open(sys.argv[2], "a") as f:
        f.write(m.replace("\n", " ") + "\n")
EOF
notifier=$!
trap 'kill $notifier 2>/dev/null; dmn_cleanup' EXIT
for _ in $(seq 1 50); do [ -S notify.sock ] && break; sleep 0.1; done

# wait_notify TEXT: until systemd's stand-in got a message with TEXT.
wait_notify() {
	for _ in $(seq 1 100); do
		grep -q "$1" notify.txt 2>/dev/null && return 0
		sleep 0.1
	done
	fail "no '$1' notification: $(cat notify.txt 2>/dev/null)"
}

printf 'workers = 2\n' >> "$it_home/airlock.conf"
NOTIFY_SOCKET="$it_tmp/notify.sock" dmn_start
wait_notify '^READY=1$'
pass "READY=1 once the control socket answers"

# A second daemon on the same home is refused, naming the first.
set +e
"$AIRLOCKD_BIN" --home "$it_home" > second.txt 2>&1; rc=$?
set -e
[ "$rc" -eq 1 ] || fail "second daemon exit status $rc"
grep -q "another airlockd (pid $dmn_pid) runs on $it_home" second.txt ||
	fail "second daemon: $(cat second.txt)"
al status | grep -q "workers: 0 of 2 busy" || fail "the first one suffered"
pass "a second daemon is refused and names pid $dmn_pid"

# SIGHUP with a bad line: refused with its line; the old settings stay.
cp "$it_home/airlock.conf" good.conf
printf 'workers = lots\n' >> "$it_home/airlock.conf"
: > notify.txt
kill -HUP "$dmn_pid"
wait_notify '^RELOADING=1 MONOTONIC_USEC=[0-9]*$'
for _ in $(seq 1 100); do
	grep -q 'reload refused' "$dmn_log" && break
	sleep 0.1
done
grep 'reload refused' "$dmn_log" | grep -q 'airlock.conf:3: bad value' ||
	fail "no refusal naming line 3: $(grep reload "$dmn_log")"
al status | grep -q "workers: 0 of 2 busy" ||
	fail "the refused file changed the running configuration"
wait_notify '^READY=1$'
pass "a bad reload is refused with its line; the old configuration stays"

# A good one takes effect.
sed 's/^workers = 2$/workers = 3/' good.conf > "$it_home/airlock.conf"
kill -HUP "$dmn_pid"
for _ in $(seq 1 100); do
	al status | grep -q "workers: 0 of 3 busy" && break
	sleep 0.1
done
al status | grep -q "workers: 0 of 3 busy" || fail "reload did not apply"
al audit show | grep '"config.reload"' > reloads.txt
grep -q '"refused"' reloads.txt && grep -q '"ok"' reloads.txt ||
	fail "reloads not audited: $(cat reloads.txt)"
pass "a good reload applies and both reloads are audited"

: > notify.txt
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || fail "exit status $dmn_rc"
wait_notify '^STOPPING=1$'
pass "STOPPING=1 on SIGTERM, exit status 0"

# start_refused WHAT PATTERN: airlockd must not start, saying PATTERN.
start_refused() {
	set +e
	"$AIRLOCKD_BIN" --home "$it_home" > refused.txt 2>&1; rc=$?
	set -e
	[ "$rc" -eq 1 ] || fail "$1: exit status $rc: $(cat refused.txt)"
	grep -q -- "$2" refused.txt || fail "$1: $(cat refused.txt)"
	[ ! -S "$it_home/airlockd.sock" ] || fail "$1: the socket is up"
	pass "refused: $1: $(grep -m1 ' E ' refused.txt | cut -d' ' -f3-)"
}

chmod 0644 "$it_home/keys/master.key"
start_refused "a master key readable by others" "master.key"
chmod 0600 "$it_home/keys/master.key"

chmod 0777 "$it_home"
start_refused "a home writable by others" "writable by group or others"
chmod 0700 "$it_home"

printf 'workers = -1\n' >> "$it_home/airlock.conf"
start_refused "a bad airlock.conf" "airlock.conf:3: bad value"
cp good.conf "$it_home/airlock.conf"

dmn_start
al status >/dev/null
dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || fail "exit status $dmn_rc after the refusals"
al audit verify >/dev/null || fail "audit verify"
pass "starts again once mended; the audit chain verifies"
