#!/usr/bin/env bash
# The timed audit export (`airlock audit export --scheduled`, what
# airlock-audit-export.timer runs) and its push to an auditor:
#  - the interval: a run right after an export exports nothing; after
#    "downtime" (the recorded time moved back, as docs/audit.md allows)
#    one export covers every entry since the last one; a recorded time
#    in the future does not hold exports back; off turns them off;
#  - bad export_* values are refused by `config check` naming the line;
#  - the push, to a real sshd on a loopback port in a private mount
#    namespace with per-run host keys, into an sftp-only chrooted
#    account (ForceCommand internal-sftp) with a `restrict` key made by
#    `airlock keys export-push`: files arrive whole (written under a
#    temporary name and renamed, as sshd's sftp log shows), hashes
#    match, and the receiver verifies them with nothing but the public
#    key; a push that fails (sshd stopped, unknown or wrong host key,
#    a key or known hosts file others could use) is audited with its
#    reason, retried by the next run and then succeeds.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
suffix=$(printf '%04x%04x' "$RANDOM" "$RANDOM")
rcv="alr-$suffix"       # the receiving (auditor's) account
sshd_pid=
syslog_pid=
stall_pid=
timer_cleanup() {
	local p
	for p in "$sshd_pid" "$syslog_pid" "$stall_pid"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	userdel "$rcv" 2>/dev/null || true
	it_cleanup
}
trap timer_cleanup EXIT

url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" "timer-$suffix")
home="$it_home"
conf="$home/airlock.conf"
# A registry that does not answer: short jobs that still fill the log.
base_conf() {
	printf 'registry = http://127.0.0.1:1/\nexport_interval = 1h\n' > "$conf"
}
base_conf
al() { "$AIRLOCK_BIN" --home "$home" "$@"; }
job() { al update "$url" --json > /dev/null 2>> log.txt || true; }
# sched: one timer run; its JSON in s.json, its exit status in rc.
sched() {
	rc=0
	al audit export --scheduled --json > s.json 2>> log.txt || rc=$?
}
js() { node -e 'const o = require("./s.json"); console.log(o[process.argv[1]])' "$1"; }
# set_last_time ISO: the recorded time of the last export, as an
# operator may edit it to make the next run export.
set_last_time() {
	node -e 'const f = process.argv[1], o = JSON.parse(require("fs").readFileSync(f));
		o.last_export.time = process.argv[2];
		require("fs").writeFileSync(f, JSON.stringify(o))' \
		"$home/export-state.json" "$1"
}
hours_ago() { node -e "console.log(new Date(Date.now() - $1 * 3600e3).toISOString())"; }

job
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = true ] && [ "$(js n)" = 1 ] ||
	fail "first run ($rc): $(cat s.json log.txt)"
[ -s "$home/export/00000001.digest.json" ] || fail "no export 1"
[ "$(stat -c %a "$home/export-state.json")" = 600 ] ||
	fail "state file mode $(stat -c %a "$home/export-state.json")"
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = false ] && [ "$(js due)" = false ] ||
	fail "second run right after ($rc): $(cat s.json)"
[ ! -e "$home/export/00000002.jsonl" ] || fail "the second run exported"
pass "an export when none was made; a run right after exports nothing"

# Downtime: two jobs, then the last export looks three hours old. One
# export covers both jobs and everything since export 1.
job
job
set_last_time "$(hours_ago 3)"
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = true ] && [ "$(js n)" = 2 ] ||
	fail "catch-up ($rc): $(cat s.json log.txt)"
last1=$(node -e 'console.log(require(process.argv[1]).last.seq)' \
	"$home/export/00000001.digest.json")
first2=$(head -1 "$home/export/00000002.jsonl" |
	node -e 'console.log(JSON.parse(require("fs").readFileSync(0)).seq)')
[ "$first2" -eq $((last1 + 1)) ] || fail "export 2 starts at $first2, not $((last1 + 1))"
[ "$(grep -c '"action":"job.start"' "$home/export/00000002.jsonl")" -eq 2 ] ||
	fail "export 2 does not hold both jobs"
sched
[ "$(js exported)" = false ] || fail "exported again after catching up"
pass "after downtime one export covers every entry since the last"

# A time in the future (a clock set back, an edit) does not hold
# exports back for the interval: it means "export now".
set_last_time 2099-01-01T00:00:00.000Z
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = true ] && [ "$(js n)" = 3 ] ||
	fail "a future time held the export back ($rc): $(cat s.json)"
printf 'export_interval = off\n' >> "$conf"
set_last_time "$(hours_ago 30)"
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = false ] &&
	[ ! -e "$home/export/00000004.jsonl" ] || fail "off still exported: $(cat s.json)"
base_conf
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = true ] && [ "$(js n)" = 4 ] ||
	fail "back on after 30 hours ($rc): $(cat s.json)"
pass "a future recorded time exports now; export_interval = off stops it"

# Bad values: refused naming the line (line 3 of the file).
bad_value() {
	base_conf
	printf '%s\n' "$1" >> "$conf"
	if al config check > cc.txt 2>&1; then
		fail "config check took: $1"
	fi
	grep -q "airlock.conf:3: bad value for '${1%% =*}'" cc.txt ||
		fail "config check on '$1': $(cat cc.txt)"
}
for v in 1m 0s 8d 2x -1h 1.5h ''; do
	bad_value "export_interval = $v"
done
for v in 'ssh://u@127.0.0.1/up' 'sftp://127.0.0.1/up' 'sftp://u@127.0.0.1' \
	'sftp://-oProxyCommand=x@h/up' 'sftp://u@-oProxyCommand=x/up' \
	'sftp://u@h/up -oProxyCommand=x' 'sftp://u@h/up;id' \
	'sftp://u:pw@h/up' 'sftp://u@h:0/up' 'sftp://u@h:65536/up' \
	'sftp://u@h:22x/up' 'sftp://u@h/../etc' 'sftp://u@h/up/../..' \
	'sftp://u@h//up' 'sftp://u@h/up$(id)' "sftp://u@h/up'x" \
	'sftp://u@[::1/up' 'sftp://U@h/up' 'sftp://u@h/up	x'; do
	bad_value "export_push = $v"
done
bad_value 'export_push_key = key'
bad_value 'export_push_known_hosts = relative/kh'
# ssh expands these in both names: the file checked would not be the
# file ssh reads (kh%% is checked, ssh trusts kh%; %d is root's home).
for v in '/x/kh%%' '/x/kh%d' '/x/${HOME}/kh' '/x/kh/.' '/x/./kh' '/x/k"h'; do
	bad_value "export_push_known_hosts = $v"
	bad_value "export_push_key = $v"
done
base_conf
printf 'export_push = sftp://u@127.0.0.1:2222/up\n' >> "$conf"
al config check > cc.txt 2>&1 && fail "export_push without known hosts taken"
grep -q "airlock.conf:3: export_push needs export_push_known_hosts" cc.txt ||
	fail "no known hosts: $(cat cc.txt)"
al audit export --scheduled > cc.txt 2>&1 && fail "the timer ran without known hosts"
grep -q "airlock.conf:3: export_push needs" cc.txt || fail "timer: $(cat cc.txt)"
printf 'export_push_known_hosts = /x/kh\n' >> "$conf"
al config check > cc.txt 2>&1 || fail "a good push config refused: $(cat cc.txt)"
pass "bad export_interval and export_push values are refused with the line"

# The receiver: an sftp-only account chrooted to /run/rcv (its
# upload/ its own), keys in /run/rcv-keys, both bind mounts in sshd's
# private namespace (a chroot must be root's all the way up; /tmp is not).
useradd -M -N -g nogroup -d / -s /usr/sbin/nologin "$rcv"
usermod -p '*' "$rcv"
mkdir -m 0755 recv recv-keys
mkdir -m 0700 recv/upload
chown "$rcv" recv/upload
chmod 0711 "$it_tmp"
# The chrooted sftp server logs every open and rename to /dev/log in
# its root: a listener there keeps them in sftp.log.
mkdir -m 0755 recv/dev
python3 -c '
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
f = open(sys.argv[2], "ab", 0)
while True:
    f.write(s.recv(65536) + b"\n")' recv/dev/log sftp.log &
syslog_pid=$!
for _ in $(seq 1 50); do [ -S recv/dev/log ] && break; sleep 0.1; done
[ -S recv/dev/log ] || fail "the sftp log listener did not start"
ssh-keygen -q -t ed25519 -N '' -f hostkey
ssh-keygen -q -t ed25519 -N '' -f otherhost
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > sshd_config <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $it_tmp/hostkey
PidFile none
UsePAM no
StrictModes yes
LogLevel VERBOSE
AllowUsers $rcv
AuthorizedKeysFile /run/rcv-keys/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
Match User $rcv
	ChrootDirectory /run/rcv
	ForceCommand internal-sftp -l INFO
	AllowTcpForwarding no
	X11Forwarding no
	PermitTTY no
EOF
start_sshd() {
	: > sshd.log
	unshare -m --propagation private sh -c '
		mount -t tmpfs -o mode=0755 tmpfs /run &&
		mkdir -m 0755 /run/sshd /run/rcv /run/rcv-keys &&
		mount --bind "$1/recv" /run/rcv &&
		mount --bind "$1/recv-keys" /run/rcv-keys &&
		exec /usr/sbin/sshd -D -e -f "$1/sshd_config"' sshd "$it_tmp" \
		2> sshd.log &
	sshd_pid=$!
	for _ in $(seq 1 100); do
		grep -q 'Server listening' sshd.log && return 0
		kill -0 "$sshd_pid" 2>/dev/null || fail "sshd died: $(cat sshd.log)"
		sleep 0.1
	done
	fail "sshd did not start: $(cat sshd.log)"
}
stop_sshd() {
	kill "$sshd_pid"
	wait "$sshd_pid" 2>/dev/null || true
	sshd_pid=
}
start_sshd

# The push key, made on the machine; its line goes to the receiver.
al keys export-push > keyline.txt 2>> log.txt || fail "keys export-push: $(cat log.txt)"
grep -qx 'restrict ssh-ed25519 [A-Za-z0-9+/=]* airlock-export-push' keyline.txt ||
	fail "key line: $(cat keyline.txt)"
[ "$(stat -c '%U %a' "$home/export-push/key")" = "root 600" ] &&
	[ "$(stat -c %a "$home/export-push")" = 700 ] || fail "key or its directory mode"
al keys export-push > keyline2.txt 2>> log.txt || fail "keys export-push again"
cmp -s keyline.txt keyline2.txt || fail "a second run made another key"
cp keyline.txt recv-keys/authorized_keys
chmod 0644 recv-keys/authorized_keys
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 hostkey.pub)" > kh
chmod 0644 kh
dest="sftp://$rcv@127.0.0.1:$port/upload"
base_conf
printf 'export_push = %s\nexport_push_known_hosts = %s/kh\n' "$dest" "$it_tmp" >> "$conf"
al config check > cc.txt 2>&1 || fail "config check: $(cat cc.txt)"
# The key opens sftp only: no command runs with it.
if ssh -F /dev/null -i "$home/export-push/key" -o IdentitiesOnly=yes \
	-o BatchMode=yes -o UserKnownHostsFile=kh -p "$port" \
	"$rcv@127.0.0.1" "echo ran-$suffix" > cmd.txt 2>&1 < /dev/null &&
	grep -q "ran-$suffix" cmd.txt; then
	fail "the receiving account ran a command"
fi
pass "keys export-push makes one 0600 key and prints its restrict line"

# check_received N: exports 1..N on the receiver, byte for byte, no
# temporary names left, and verified there with the public key only.
al audit pubkey > pub.pem
check_received() {
	local n f
	for n in $(seq 1 "$1"); do
		for f in $(printf '%08d.jsonl %08d.digest.json' "$n" "$n"); do
			[ -f "recv/upload/$f" ] || fail "$f did not arrive: $(ls -a recv/upload)"
			[ "$(sha256sum < "recv/upload/$f")" = "$(sha256sum < "$home/export/$f")" ] ||
				fail "$f differs on the receiver"
		done
	done
	if ls -a recv/upload | grep -q '\.part$'; then
		fail "temporary files left: $(ls -a recv/upload)"
	fi
	"$AIRLOCK_BIN" --home "$it_tmp/nohome" audit verify-export recv/upload \
		--pubkey pub.pem > ve.txt 2>&1 || fail "verify-export on the receiver: $(cat ve.txt)"
}
# push_entries RESULT: how many audit.push entries with that result.
push_entries() {
	al audit show | grep '"action":"audit.push"' | grep -c "\"result\":\"$1\"" || true
}

sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = false ] && [ "$(js pushed)" = 4 ] ||
	fail "push ($rc): $(cat s.json log.txt; tail -20 sshd.log)"
check_received 4
[ "$(push_entries ok)" -eq 1 ] || fail "audit.push ok entries: $(push_entries ok)"
al audit show | grep '"action":"audit.push.start"' | grep -q "\"object\":\"$dest\"" ||
	fail "no audit.push.start entry naming $dest"
al audit show | grep '"action":"audit.push"' | grep -q '"00000003.digest.json"' ||
	fail "the audit.push entry does not name the files"
grep -q 'pushed exports 1..4 to sftp://' log.txt || fail "no log line for the push"
# Whole files only: every file was opened for writing under its
# temporary name and renamed into place (the sftp server's log).
for f in 00000001.jsonl 00000003.digest.json; do
	grep -q "open \"/upload/.$f.part\" flags WRITE" sftp.log &&
		grep -q "rename old \"/upload/.$f.part\" new \"/upload/$f\"" sftp.log ||
		fail "$f was not written under a temporary name: $(grep -E 'open|rename' sftp.log | head)"
	if grep -q "open \"/upload/$f\" flags WRITE" sftp.log; then
		fail "$f was written in place"
	fi
done
sched
[ "$(js pushed)" = 0 ] && [ "$(push_entries ok)" -eq 1 ] || fail "pushed again: $(cat s.json)"
pass "exports 1-4 pushed whole into the chroot, audited, verified on the receiver"

# sshd down: the due export is made, its push fails (audited, exit 1),
# and the next run, with sshd back, pushes it.
stop_sshd
set_last_time "$(hours_ago 2)"
sched
[ "$rc" -eq 1 ] && [ "$(js exported)" = true ] && [ "$(js n)" = 5 ] &&
	[ "$(js push_pending)" = 1 ] || fail "push to a stopped sshd ($rc): $(cat s.json)"
[ "$(push_entries failed)" -eq 1 ] || fail "the failed push is not audited"
al audit show | grep '"result":"failed"' | grep -q '"reason":"sftp exited with status' ||
	fail "no reason in the failed push's entry"
grep -q 'push failed: exports 5..5 to sftp://' log.txt || fail "no log line for the failure"
[ ! -e recv/upload/00000005.jsonl ] || fail "export 5 arrived with sshd down"
start_sshd
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = false ] && [ "$(js pushed)" = 1 ] ||
	fail "retry ($rc): $(cat s.json)"
check_received 5
pass "a push to a stopped sshd is audited and retried by the next run"

# push_refused WHAT GREP: the next run's push fails with a reason
# matching GREP, nothing arrives, and the known hosts file is unchanged.
push_refused() {
	local n
	n=$(ls recv/upload | wc -l)
	cp kh kh.before
	set_last_time "$(hours_ago 2)"
	sched
	[ "$rc" -eq 1 ] && [ "$(js push_pending)" -ge 1 ] ||
		fail "$1: the push was not refused ($rc): $(cat s.json)"
	node -e 'const o = require("./s.json"); if (!new RegExp(process.argv[1]).test(o.push_error))
		{ console.error(o.push_error); process.exit(1); }' "$2" ||
		fail "$1: push error: $(cat s.json)"
	[ "$(ls recv/upload | wc -l)" -eq "$n" ] || fail "$1: files arrived"
	cmp -s kh kh.before || fail "$1: the known hosts file changed (trust on first use)"
	[ "$(push_entries failed)" -ge 2 ] || fail "$1: not audited"
	al audit show | tail -1 | grep -q '"result":"failed"' || fail "$1: last entry"
}
# The receiver's host key differs from the one we hold.
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 otherhost.pub)" > kh.good
mv kh kh.real
mv kh.good kh
push_refused "a wrong host key" 'Host key verification failed|REMOTE HOST IDENTIFICATION'
# The receiver is not known at all: no trust on first use.
: > kh
push_refused "an unknown host" 'Host key verification failed|No .* host key is known'
mv kh.real kh
# A key others can read, a known hosts file others can write.
chmod 0640 "$home/export-push/key"
push_refused "a readable key" 'must have mode 0600'
chmod 0600 "$home/export-push/key"
chmod 0666 kh
push_refused "a writable known hosts file" 'writable by its owner only'
chmod 0644 kh
# A directory above either file that others can write (not sticky):
# they could swap the file between airlock's check and ssh's open.
chmod 0777 "$home/export-push"
push_refused "a key in a directory others can write" 'no one else can write'
chmod 0700 "$home/export-push"
mkdir -m 0755 khdir && cp kh khdir/kh && chmod 0777 khdir
sed -i "s|^export_push_known_hosts = .*|export_push_known_hosts = $it_tmp/khdir/kh|" "$conf"
push_refused "known hosts in a directory others can write" 'no one else can write'
chmod 1777 khdir
sched
[ "$rc" -eq 0 ] || fail "known hosts in a sticky directory refused: $(cat s.json)"
sed -i "s|^export_push_known_hosts = .*|export_push_known_hosts = $it_tmp/kh|" "$conf"
# A receiver that accepts and never answers: the push gives up (ssh's
# connect timeout, and airlock's own limit behind it) instead of holding
# the timer for ever.
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(4)
print(s.getsockname()[1], flush=True)
c = s.accept()
time.sleep(3600)' > stall.port &
stall_pid=$!
for _ in $(seq 1 50); do [ -s stall.port ] && break; sleep 0.1; done
printf 'export_push = sftp://%s@127.0.0.1:%s/upload\n' "$rcv" "$(cat stall.port)" >> "$conf"
push_refused "a receiver that never answers" 'timed out|killed after'
kill "$stall_pid"
wait "$stall_pid" 2>/dev/null || true
base_conf
printf 'export_push = %s\nexport_push_known_hosts = %s/kh\n' "$dest" "$it_tmp" >> "$conf"
sched
[ "$rc" -eq 0 ] && [ "$(js pushed)" -ge 1 ] && [ "$(js push_pending)" = 0 ] ||
	fail "the retry after the refusals ($rc): $(cat s.json)"
check_received "$(ls "$home"/export/*.digest.json | wc -l)"
pass "wrong or unknown host keys, a readable key, a writable known hosts file or directory, a silent receiver: refused, audited, retried"

# An export made by hand is the last export: the interval counts
# from it (its push is still due).
set_last_time "$(hours_ago 3)"
al audit export > /dev/null 2>> log.txt || fail "a manual export"
sched
[ "$rc" -eq 0 ] && [ "$(js exported)" = false ] && [ "$(js due)" = false ] &&
	[ "$(js pushed)" = 1 ] || fail "after a manual export ($rc): $(cat s.json)"
pass "an export made by hand counts as the last one, and is pushed"

al audit verify > v.txt 2>&1 || fail "audit verify: $(cat v.txt)"
pass "the log verifies after every push and refusal"
