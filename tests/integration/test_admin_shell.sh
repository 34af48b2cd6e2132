#!/usr/bin/env bash
# The SSH admin shell, driven through a real sshd: a per-run admin
# account, host key and client keys; sshd on a free loopback port, in a
# private mount namespace (its /run/sshd and everything else it needs
# stay out of the host's view), configured with the shipped drop-in
# (appliance/sshd/airlock-admin.conf) and made with the shipped
# appliance/sshd/admin-account. Checked: the allowed commands answer;
# other commands, shell syntax, paths and options outside the set, a
# terminal for anything but the console, and every kind of forwarding
# are refused; the audit log names the key (as ssh-keygen -lf prints
# it) for each login, command and refusal; a local user cannot forge a
# login or add a key; a refusal while the daemon is down says so.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

src=${AL_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$it_tmp"
suffix=$(printf '%04x%04x' "$RANDOM" "$RANDOM")
admin="ala-$suffix"     # the admin account
local_user="alu-$suffix" # a local user in socket_group, not the admin
group="alg-$suffix"
sshd_pid=
sshd2_pid=
admin_cleanup() {
	local p
	for p in "$sshd_pid" "$sshd2_pid"; do
		[ -n "$p" ] || continue
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	userdel "$admin" 2>/dev/null || true
	userdel "$local_user" 2>/dev/null || true
	groupdel "$group" 2>/dev/null || true
	dmn_cleanup
}
trap admin_cleanup EXIT

# The accounts, as the appliance makes them. The keys directory is
# root's 0755 (sshd checks every directory above the keys file: /tmp,
# writable by all, would fail, so sshd sees it at /run/airlock-admin,
# a bind mount inside its namespace).
keysdir="$it_tmp/adminkeys"
"$src/appliance/sshd/admin-account" "$admin" "$group" \
	"$keysdir/admin-keys" > account.txt
useradd -M -N -g nogroup -G "$group" -s /bin/sh "$local_user"
chmod 0711 "$it_tmp"
chmod 0700 "$it_home"
printf 'registry_token_file = %s/token\n' "$it_tmp" >> "$it_home/airlock.conf"
printf 'secret-token-%s\n' "$suffix" > token
chmod 0600 token
grep -E '^  (socket_group|admin_user|admin_keys_file) = ' account.txt |
	sed 's/^  //' >> "$it_home/airlock.conf"
grep -q "^admin_user = $admin" "$it_home/airlock.conf" ||
	fail "admin-account printed no settings: $(cat account.txt)"
dmn_start

# Keys: the client's, another administrator's, and sshd's host key.
ssh-keygen -q -t ed25519 -N '' -C alice@test -f alice
ssh-keygen -q -t ecdsa -b 256 -N '' -C bob@test -f bob
ssh-keygen -q -t ed25519 -N '' -f hostkey
fp_alice=$(ssh-keygen -lf alice.pub | cut -d' ' -f2)
fp_bob=$(ssh-keygen -lf bob.pub | cut -d' ' -f2)
# shellcheck disable=SC2046
al keys admin add $(cat alice.pub) > add.txt ||
	fail "root cannot add the first admin key: $(cat add.txt)"
grep -q "added $fp_alice" add.txt || fail "add: $(cat add.txt)"
[ "$(stat -c '%U %a' "$keysdir/admin-keys")" = "root 644" ] ||
	fail "keys file: $(stat -c '%U %a' "$keysdir/admin-keys")"
grep -qx "restrict,pty $(cut -d' ' -f1,2 alice.pub) alice@test" \
	"$keysdir/admin-keys" || fail "key line: $(cat "$keysdir/admin-keys")"
# shellcheck disable=SC2046
if al keys admin add $(cat alice.pub) > dup.txt 2>&1; then
	fail "a duplicate key was added"
fi
grep -q "there already" dup.txt || fail "duplicate: $(cat dup.txt)"
pass "root adds the first key, restrict,pty; a duplicate is refused"

# sshd: the shipped drop-in for this run's account, keys file and
# program; sshd's log goes to sshd.log.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
force="$AIRLOCK_BIN --home $it_home admin-shell"
{
	printf 'Port %s\nListenAddress 127.0.0.1\nHostKey %s/hostkey\n' \
		"$port" "$it_tmp"
	printf 'PidFile none\nUsePAM no\nStrictModes yes\nLogLevel VERBOSE\n'
	printf 'AuthorizedKeysFile none\nAllowUsers %s\n' "$admin"
	sed -e "s|^Match User airlock-admin\$|Match User $admin|" \
	    -e "s|AuthorizedKeysFile /.*|AuthorizedKeysFile /run/airlock-admin/admin-keys|" \
	    -e "s|ForceCommand .*|ForceCommand $force|" \
	    "$src/appliance/sshd/airlock-admin.conf"
	# The sanitizers' settings, which sshd does not pass on (test only).
	printf '\tSetEnv LSAN_OPTIONS=%s UBSAN_OPTIONS=%s\n' \
		"${LSAN_OPTIONS:-x=1}" "${UBSAN_OPTIONS:-x=1}"
} > sshd_config
grep -q "ForceCommand $force" sshd_config &&
	grep -q "AuthorizedKeysFile /run/airlock-admin/admin-keys" sshd_config ||
	fail "drop-in not adapted"
unshare -m --propagation private sh -c '
	mount -t tmpfs -o mode=0755 tmpfs /run &&
	mkdir -m 0755 /run/sshd /run/airlock-admin &&
	mount --bind "$1" /run/airlock-admin &&
	exec /usr/sbin/sshd -D -e -f "$2"' sshd "$keysdir" \
	"$it_tmp/sshd_config" 2> sshd.log &
sshd_pid=$!
printf '[127.0.0.1]:%s %s\n' "$port" "$(cut -d' ' -f1,2 hostkey.pub)" \
	> known_hosts
for _ in $(seq 1 100); do
	grep -q 'Server listening' sshd.log && break
	kill -0 "$sshd_pid" 2>/dev/null || fail "sshd died: $(cat sshd.log)"
	sleep 0.1
done

# ssh_as KEY [SSH-OPTIONS...] -- [COMMAND]: one login; output in
# out.txt, the exit status in rc.
ssh_as() {
	local key=$1
	shift
	local opts=()
	while [ "$1" != -- ]; do opts+=("$1"); shift; done
	shift
	rc=0
	ssh -F /dev/null -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes \
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts \
		-o LogLevel=ERROR -p "$port" "${opts[@]}" "$admin@127.0.0.1" \
		"$@" > out.txt 2>&1 < /dev/null || rc=$?
}

# Allowed commands answer.
ssh_as alice -- status
[ "$rc" -eq 0 ] && grep -q 'workers:' out.txt ||
	fail "status over ssh ($rc): $(cat out.txt; tail -5 sshd.log)"
ssh_as alice -- version
[ "$rc" -eq 0 ] && grep -q '^airlock [0-9]' out.txt ||
	fail "version ($rc): $(cat out.txt)"
ssh_as alice -- jobs --limit 5
[ "$rc" -eq 0 ] || fail "jobs ($rc): $(cat out.txt)"
ssh_as alice -- audit public-key
al audit pubkey > pub.pem
[ "$rc" -eq 0 ] && cmp -s out.txt pub.pem ||
	fail "audit public-key ($rc): $(cat out.txt)"
ssh_as alice -- audit verify
[ "$rc" -eq 0 ] && grep -q '^ok: ' out.txt ||
	fail "audit verify ($rc): $(cat out.txt)"
ssh_as alice -- audit export
[ "$rc" -eq 0 ] && grep -q "^export 1: .* 00000001.jsonl" out.txt &&
	[ -s "$it_home/export/00000001.jsonl" ] ||
	fail "audit export ($rc): $(cat out.txt)"
ssh_as alice -- keys status
[ "$rc" -eq 0 ] && grep -q 'version check' out.txt ||
	fail "keys status ($rc): $(cat out.txt)"
ssh_as alice -- config show
[ "$rc" -eq 0 ] && grep -q "registry_token_file *= $it_tmp/token" out.txt ||
	fail "config show ($rc): $(cat out.txt)"
if grep -q "secret-token" out.txt; then
	fail "config show printed the token"
fi
ssh_as alice -- config check
[ "$rc" -eq 0 ] && grep -qx ok out.txt || fail "config check ($rc): $(cat out.txt)"
ssh_as alice -- "enqueue '$GIT_SERVER_URL/none-$suffix.git' --policy patch --json"
[ "$rc" -eq 0 ] || fail "enqueue ($rc): $(cat out.txt)"
job=$(json_id < out.txt)
ssh_as alice -- show "$job" --json
[ "$rc" -eq 0 ] && grep -q "\"id\": \"$job\"" out.txt ||
	fail "show ($rc): $(cat out.txt)"
# A test command that could drive a terminal (U+009B, a C1 CSI, and
# U+202E, a bidi override) is refused by the daemon at enqueue.
c1=$(printf '\xc2\x9b31m-\xe2\x80\xae-%s' "$suffix")
ssh_as alice -- "enqueue '$GIT_SERVER_URL/none-$suffix.git' --test-cmd '$c1' --json"
[ "$rc" -ne 0 ] && grep -q 'test_cmd' out.txt ||
	fail "a test command with a C1 control was taken ($rc): $(cat out.txt)"
# JSON goes to the operator's terminal through ssh as it is: everything
# past ASCII in a job's text comes out escaped, and decodes to what it was.
u8=$(printf 'npm test -- caf\xc3\xa9 \xe2\x80\x94 %s' "$suffix")
ssh_as alice -- "enqueue '$GIT_SERVER_URL/none-$suffix.git' --test-cmd '$u8' --json"
[ "$rc" -eq 0 ] || fail "enqueue with a UTF-8 test command ($rc): $(cat out.txt)"
job_u8=$(json_id < out.txt)
for c in "show $job_u8 --json" "jobs --json"; do
	ssh_as alice -- "$c"
	[ "$rc" -eq 0 ] || fail "$c ($rc): $(cat out.txt)"
	if LC_ALL=C grep -q "$(printf '[\x80-\xff]')" out.txt; then
		fail "$c printed bytes past ASCII: $(LC_ALL=C grep -m1 -o "$(printf '.[\x80-\xff]*')" out.txt)"
	fi
done
ssh_as alice -- show "$job_u8" --json
U8="$u8" node -e 'const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
	process.exit(r.test_cmd === process.env.U8 ? 0 : 1)' < out.txt ||
	fail "show --json lost the test command: $(grep test_cmd out.txt)"
# A token typed into a URL reaches neither the queue nor the log.
ssh_as alice -- "enqueue https://user:tok-$suffix@127.0.0.1:9/x.git"
[ "$rc" -eq 2 ] && grep -q 'credentials' out.txt ||
	fail "a URL with credentials ($rc): $(cat out.txt)"
refusals=1
ssh_as alice -- "enqueue https://user:tok-$suffix@127.0.0.1:9/x.git; id"
[ "$rc" -eq 126 ] || fail "not refused ($rc): $(cat out.txt)"
ssh_as alice -- keys admin list
[ "$rc" -eq 0 ] && grep -q "$fp_alice .*alice@test" out.txt ||
	fail "keys admin list ($rc): $(cat out.txt)"
pass "status, version, jobs, audit, keys, config, enqueue and show answer"

# Refused: exit status 126, a message, and nothing run.
refuse() {
	local want=$1
	shift
	ssh_as alice "$@"
	[ "$rc" -eq 126 ] || fail "not refused ($rc): $* -> $(cat out.txt)"
	LC_ALL=C grep -q "refused: .*$want" out.txt ||
		fail "refusal of $* does not say '$want': $(cat out.txt)"
	refusals=$((refusals + 1))
}
refuse "not a command" -- sh
refuse "not a command" -- /bin/sh -c id
refuse "not a command" -- cat /etc/passwd
refuse "holds ';'" -- 'status; id'
refuse "holds '|'" -- 'status | id'
refuse "holds '&'" -- 'status && id'
refuse "holds '\$'" -- '$(id)'
refuse "holds '\`'" -- '`id`'
refuse "holds '>'" -- "status > /tmp/al-redir-$suffix"
refuse "inside double quotes" -- 'enqueue "https://h/$(id)"'
refuse "not closed" -- "status 'x"
refuse "unknown option '--out'" -- audit export --out /etc
refuse "unknown option '--home'" -- status --home /tmp
refuse "unknown option '--stats'" -- console --stats /tmp/x
refuse "only http" -- enqueue file:///etc
refuse "only http" -- enqueue /etc
refuse "not a job id" -- show ../../etc/passwd
refuse "takes 0 operands" -- status now
refuse "only the console" -t -t -- status
refuse "console needs a terminal" -- console
refuse "no command and no terminal" -- ""
# Each of these is audited too (the count below): a reason that quotes a
# word cut inside a character, a word longer than the daemon takes in
# argv, and a command cut where the record has no room left for "***".
refuse "is not a command" -- "$(printf 'a%.0s' $(seq 1 63))é"
refuse "longer than 1024 bytes" -- \
	"enqueue https://h.test/x.git --test-cmd '$(printf 'a%.0s' $(seq 1 1100))'"
refuse "longer than 2048" -- \
	"enqueue $(printf 'a%.0s' $(seq 1 2029)) https://QZsecret@h.test/x.git"
[ -e "/tmp/al-redir-$suffix" ] && fail "a redirection made a file"
pass "$refusals commands refused: other programs, shell syntax, paths, options, terminals"

# The console: no command and a terminal (ssh -tt), quit with q.
rc=0
printf 'q' | TERM=xterm timeout 60 ssh -F /dev/null -i alice -o IdentitiesOnly=yes \
	-o BatchMode=yes -o StrictHostKeyChecking=yes \
	-o UserKnownHostsFile=known_hosts -o LogLevel=ERROR -p "$port" -tt \
	"$admin@127.0.0.1" > console.txt 2>&1 || rc=$?
[ "$rc" -eq 0 ] || fail "the console over ssh -tt ($rc): $(tail -c 400 console.txt)"
pass "no command with a terminal is the console"

# Forwarding of every kind is refused; the command itself still runs.
# Through a working forward, the other end would be sshd's own banner
# (TCP) or the daemon's socket (a Unix socket: the admin account could
# then name any key it liked).
probe() { timeout 5 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1; head -c 4 <&3" 2>/dev/null || true; }
lport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh -F /dev/null -i alice -o IdentitiesOnly=yes -o BatchMode=yes \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts \
	-o LogLevel=INFO -p "$port" -N -L "127.0.0.1:$lport:127.0.0.1:$port" \
	"$admin@127.0.0.1" > fwd.txt 2>&1 &
fwd_pid=$!
sleep 1
got=$(probe "$lport")
kill "$fwd_pid" 2>/dev/null; wait "$fwd_pid" 2>/dev/null || true
[ -z "$got" ] || fail "-L forwarded to sshd: '$got'"
grep -q 'open failed' fwd.txt &&
	grep -q "refused local port forward.*port $port" sshd.log ||
	fail "-L: $(cat fwd.txt)"
ssh -F /dev/null -i alice -o IdentitiesOnly=yes -o BatchMode=yes \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts \
	-o LogLevel=INFO -p "$port" -N -L "$it_tmp/fwd.sock:$it_home/airlockd.sock" \
	"$admin@127.0.0.1" > fwdu.txt 2>&1 &
fwd_pid=$!
sleep 1
rc=0
timeout 5 python3 - "$it_tmp/fwd.sock" > fwdu-out.txt 2>&1 <<'EOF' || rc=$?
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"id":1,"method":"ping"}\n')
try:
    print(s.recv(100))
except OSError as e:
    print(e)
EOF
kill "$fwd_pid" 2>/dev/null; wait "$fwd_pid" 2>/dev/null || true
grep -q pong fwdu-out.txt && fail "-L to the daemon's socket answered"
grep -q 'open failed' fwdu.txt &&
	grep -q "refused streamlocal port forward.*$it_home/airlockd.sock" sshd.log ||
	fail "-L to the daemon's socket: $(cat fwdu-out.txt fwdu.txt)"
ssh_as alice -o ExitOnForwardFailure=yes -R "127.0.0.1:0:127.0.0.1:$port" -- status
[ "$rc" -ne 0 ] || fail "-R was accepted: $(cat out.txt)"
ssh_as alice -o ExitOnForwardFailure=yes -R "$it_tmp/r.sock:$it_home/airlockd.sock" -- status
[ "$rc" -ne 0 ] || fail "-R of a Unix socket was accepted: $(cat out.txt)"
dport=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ssh -F /dev/null -i alice -o IdentitiesOnly=yes -o BatchMode=yes \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts \
	-o LogLevel=INFO -p "$port" -N -D "127.0.0.1:$dport" \
	"$admin@127.0.0.1" > fwdd.txt 2>&1 &
fwd_pid=$!
sleep 1
got=$(timeout 5 python3 - "$dport" "$port" 2>&1 <<'PY' || true
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"\x05\x01\x00")
s.recv(2)
s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") +
          struct.pack(">H", int(sys.argv[2])))
data = b""
while True:
    b = s.recv(100)
    if not b:
        break
    data += b
print(data)
PY
)
kill "$fwd_pid" 2>/dev/null; wait "$fwd_pid" 2>/dev/null || true
case $got in *SSH-*) fail "-D forwarded: '$got'" ;; esac
grep -q 'open failed' fwdd.txt || fail "-D: $(cat fwdd.txt)"
ssh_as alice -W "127.0.0.1:$port" --
grep -q 'SSH-' out.txt && fail "-W reached sshd: $(cat out.txt)"
pass "-L (TCP and to the daemon's socket), -R, -D and -W are refused"

# Each layer alone. leaks PORT KEY: what a forward of each kind let
# through (nothing, when refused): sshd's banner through -L, -D or -W,
# the daemon's answer through a Unix-socket -L, a remote forward taken.
leaks() {
	local p=$1 key=$2 lp dp fp out=""
	local o=(-F /dev/null -i "$key" -o IdentitiesOnly=yes -o BatchMode=yes
		-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts
		-o LogLevel=ERROR -p "$p")
	lp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	dp=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	rm -f "$it_tmp/leak.sock"
	ssh "${o[@]}" -N -L "127.0.0.1:$lp:127.0.0.1:$port" \
		-L "$it_tmp/leak.sock:$it_home/airlockd.sock" -D "127.0.0.1:$dp" \
		"$admin@127.0.0.1" < /dev/null > /dev/null 2>&1 &
	fp=$!
	sleep 1
	case $(probe "$lp") in SSH-*) out="$out L" ;; esac
	timeout 5 python3 - "$it_tmp/leak.sock" "$dp" "$port" \
		> leak.txt 2>&1 <<'PY' || true
import socket, struct, sys
try:
    s = socket.socket(socket.AF_UNIX)
    s.connect(sys.argv[1])
    s.sendall(b'{"id":1,"method":"ping"}\n')
    print(s.recv(100))
except OSError as e:
    print(e)
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[2])))
    s.sendall(b"\x05\x01\x00")
    s.recv(2)
    s.sendall(b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") +
              struct.pack(">H", int(sys.argv[3])))
    s.settimeout(3)
    print(s.recv(100) + s.recv(100))
except OSError as e:
    print(e)
PY
	kill "$fp" 2>/dev/null; wait "$fp" 2>/dev/null || true
	grep -q pong leak.txt && out="$out L-unix"
	grep -q SSH- leak.txt && out="$out D"
	timeout 10 ssh "${o[@]}" -W "127.0.0.1:$port" "$admin@127.0.0.1" \
		< /dev/null 2>&1 | head -c 4 | grep -q SSH- && out="$out W"
	timeout 10 ssh "${o[@]}" -o ExitOnForwardFailure=yes \
		-R "127.0.0.1:0:127.0.0.1:$port" "$admin@127.0.0.1" version \
		< /dev/null > /dev/null 2>&1 && out="$out R"
	echo "${out# }"
}
# The drop-in alone: a key line written by hand, without restrict.
ssh-keygen -q -t ed25519 -N '' -C carol@test -f carol
printf '%s carol-by-hand\n' "$(cut -d' ' -f1,2 carol.pub)" >> "$keysdir/admin-keys"
got=$(leaks "$port" carol)
[ -z "$got" ] || fail "the drop-in alone let through: $got"
# restrict alone: a second sshd with the drop-in's forwarding lines
# taken out. carol, with neither layer, is the probe's own check: her
# forwards must get through there.
port2=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
sed -e "s/^Port $port\$/Port $port2/" \
	-e '/^\t\(DisableForwarding\|Allow[A-Za-z]*Forwarding\|X11Forwarding\|PermitTunnel\|PermitListen\|PermitOpen\|GatewayPorts\|PermitUserRC\) /d' \
	sshd_config > sshd_config2
grep -q 'Forwarding\|PermitOpen' sshd_config2 && fail "sshd_config2: $(cat sshd_config2)"
unshare -m --propagation private sh -c '
	mount -t tmpfs -o mode=0755 tmpfs /run &&
	mkdir -m 0755 /run/sshd /run/airlock-admin &&
	mount --bind "$1" /run/airlock-admin &&
	exec /usr/sbin/sshd -D -e -f "$2"' sshd "$keysdir" \
	"$it_tmp/sshd_config2" 2> sshd2.log &
sshd2_pid=$!
printf '[127.0.0.1]:%s %s\n' "$port2" "$(cut -d' ' -f1,2 hostkey.pub)" \
	>> known_hosts
for _ in $(seq 1 100); do
	grep -q 'Server listening' sshd2.log && break
	kill -0 "$sshd2_pid" 2>/dev/null || fail "sshd2 died: $(cat sshd2.log)"
	sleep 0.1
done
got=$(leaks "$port2" carol)
[ "$got" = "L L-unix D W R" ] ||
	fail "without restrict or the drop-in, forwards did not work: '$got'"
got=$(leaks "$port2" alice)
[ -z "$got" ] || fail "restrict alone let through: $got"
kill "$sshd2_pid"; wait "$sshd2_pid" 2>/dev/null || true
sshd2_pid=
sed -i '/ carol-by-hand$/d' "$keysdir/admin-keys"
pass "each layer alone (the drop-in, a key's restrict) refuses every forward"

# A connection without a session is not audited (nothing of airlock's
# runs): sshd closes it by itself (UnusedConnectionTimeout). The bound
# of timeout(1) only keeps a broken sshd from hanging the test.
rc=0
timeout 120 ssh -F /dev/null -i alice -o IdentitiesOnly=yes -o BatchMode=yes \
	-o StrictHostKeyChecking=yes -o UserKnownHostsFile=known_hosts \
	-o LogLevel=ERROR -p "$port" -N "$admin@127.0.0.1" < /dev/null \
	> idle.txt 2>&1 || rc=$?
[ "$rc" -ne 124 ] && grep -q "terminating inactive connection from user $admin" sshd.log ||
	fail "ssh -N was not closed ($rc): $(cat idle.txt)"
pass "a connection that opens no session is closed by sshd"

# Keys: an administrator adds bob over ssh; bob logs in, is named in
# the log, and is removed again; the last key needs --force.
# shellcheck disable=SC2046
ssh_as alice -- keys admin add $(cat bob.pub)
[ "$rc" -eq 0 ] && grep -q "added $fp_bob" out.txt ||
	fail "keys admin add over ssh ($rc): $(cat out.txt)"
ssh_as bob -- version
[ "$rc" -eq 0 ] || fail "bob cannot log in ($rc): $(cat out.txt)"
ssh_as bob -- keys admin remove bob@test
[ "$rc" -eq 0 ] && grep -q "removed $fp_bob" out.txt ||
	fail "keys admin remove ($rc): $(cat out.txt)"
ssh_as bob -- version
[ "$rc" -eq 255 ] || fail "a removed key still logs in ($rc): $(cat out.txt)"
ssh_as alice -- keys admin remove "$fp_alice"
[ "$rc" -eq 2 ] && grep -q "last admin key" out.txt ||
	fail "the last key went without --force ($rc): $(cat out.txt)"
pass "keys added and removed over ssh; the last one stays without --force"

# The log: every login, command and refusal, under the key.
# acount FILE ACTOR ACTION [OBJECT] [TEXT]: entries of FILE (audit show)
# with that actor and action (and object, and TEXT in their details).
acount() {
	python3 - "$@" <<'PY'
import json, sys
f, actor, action = sys.argv[1:4]
obj = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
text = sys.argv[5] if len(sys.argv) > 5 else None
n = 0
for line in open(f):
    e = json.loads(line)
    if e["actor"] != actor or e["action"] != action:
        continue
    if obj is not None and e["object"] != obj:
        continue
    if text is not None and text not in json.dumps(e["details"]):
        continue
    n += 1
print(n)
PY
}
al audit show > audit.txt
n_login=$(acount audit.txt "$fp_alice" admin.login)
n_cmd=$(acount audit.txt "$fp_alice" admin.command)
n_ref=$(acount audit.txt "$fp_alice" admin.refuse)
[ "$n_ref" -eq "$refusals" ] ||
	fail "$n_ref refusals audited for $refusals: $(grep admin.refuse audit.txt | tail -3)"
[ "$n_login" -eq $((n_cmd + n_ref)) ] && [ "$n_cmd" -ge 15 ] ||
	fail "logins $n_login, commands $n_cmd, refusals $n_ref"
[ "$(acount audit.txt "$fp_alice" admin.refuse admin-shell 'status; id')" -eq 1 ] ||
	fail "the refusal does not record the command"
[ "$(acount audit.txt "$fp_alice" admin.command console '"tty": true')" -eq 1 ] ||
	fail "the console is not audited with its terminal"
[ "$(acount audit.txt "$fp_alice" admin.keys.add "$fp_bob")" -eq 1 ] ||
	fail "adding bob is not audited under alice"
[ "$(acount audit.txt "$fp_bob" admin.keys.remove "$fp_bob")" -eq 1 ] ||
	fail "bob's removal is not audited under bob"
[ "$(acount audit.txt "$fp_bob" admin.login ssh '127.0.0.1')" -ge 2 ] ||
	fail "bob's logins are not audited under bob"
[ "$(acount audit.txt "$fp_alice" job.enqueue)" -ge 1 ] ||
	fail "the enqueue is not audited under the key"
[ "$(acount audit.txt "$fp_alice" api.call status)" -ge 1 ] ||
	fail "the status call is not audited under the key"
if grep -q 'secret-token' audit.txt; then fail "the token is in the log"; fi
if grep -q "https://QZ" audit.txt; then
	fail "a URL's credentials cut short are in the log"
fi
if grep -q "tok-$suffix" audit.txt; then
	fail "a URL's credentials are in the log: $(grep "tok-$suffix" audit.txt)"
fi
[ "$(acount audit.txt "$fp_alice" admin.refuse admin-shell \
	'https://***@127.0.0.1:9/x.git; id')" -eq 1 ] ||
	fail "the refused command is not recorded without its credentials"
al audit verify > /dev/null || fail "the audit chain does not verify"
pass "logins ($n_login), commands ($n_cmd) and refusals ($n_ref) are audited under the key's fingerprint"

# A local user (in socket_group, not the admin account) cannot forge a
# login, name a key, or add one.
as_local() {
	local r=0
	setpriv --reuid="$(id -u "$local_user")" --regid="$(id -g "$local_user")" \
		--init-groups "$@" > local.txt 2>&1 || r=$?
	return "$r"
}
api_py='
import json, socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
print(s.makefile().readline().strip())'
session='{"command":null,"argv":["status"],"tty":false,"client":"10.9.9.9 1","key_type":"ssh-ed25519","verdict":"allowed"}'
as_local /usr/bin/python3 -c "$api_py" "$it_home/airlockd.sock" \
	"{\"id\":1,\"method\":\"admin.session\",\"ssh_key_fingerprint\":\"$fp_alice\",\"params\":$session}" ||
	true
grep -q '"forbidden"' local.txt || fail "forged session with a key: $(cat local.txt)"
as_local /usr/bin/python3 -c "$api_py" "$it_home/airlockd.sock" \
	"{\"id\":1,\"method\":\"admin.session\",\"params\":$session}" || true
grep -q '"forbidden"' local.txt || fail "forged session without a key: $(cat local.txt)"
printf 'publickey %s\n' "$(cut -d' ' -f1,2 alice.pub)" > fake-auth
chmod 0644 fake-auth
rc=0
as_local env SSH_USER_AUTH="$it_tmp/fake-auth" SSH_CONNECTION="10.9.9.9 1 127.0.0.1 22" \
	SSH_ORIGINAL_COMMAND=status "$AIRLOCK_BIN" --home "$it_home" admin-shell || rc=$?
[ "$rc" -eq 1 ] && grep -q "did not record" local.txt ||
	fail "admin-shell run by a local user ($rc): $(cat local.txt)"
grep -q 'workers:' local.txt && fail "the local user's forged shell ran status"
# shellcheck disable=SC2046
if as_local "$AIRLOCK_BIN" --home "$it_home" keys admin add $(cat bob.pub); then
	fail "a local user added an admin key: $(cat local.txt)"
fi
grep -q 'only root or the admin shell' local.txt || fail "add: $(cat local.txt)"
grep -q "$fp_bob" "$keysdir/admin-keys" && fail "bob's key is in the file"
al audit show > audit2.txt
grep -q '10.9.9.9' audit2.txt && fail "a forged login reached the log"
[ "$(acount audit2.txt "uid:$(id -u "$local_user")" api.call admin.session \
	forbidden)" -eq 3 ] ||
	fail "the forged calls are not audited as the local user's"
pass "a local user cannot forge a login, assert a key or add one (audited as uid)"

# Without the daemon: refused with the reason, and said to be unaudited.
dmn_stop TERM
ssh_as alice -- 'status; id'
[ "$rc" -eq 126 ] && grep -q "refused: .*';'" out.txt &&
	grep -q "not running.*refusal is not in the audit log" out.txt ||
	fail "refusal without the daemon ($rc): $(cat out.txt)"
ssh_as alice -- status
[ "$rc" -eq 1 ] && grep -q "not running.*login is not in the audit log" out.txt ||
	fail "a command without the daemon ($rc): $(cat out.txt)"
pass "with the daemon down, refusals and commands say they are not audited"
