#!/usr/bin/env bash
# Who can reach airlockd, tried as a local user who is not root: without
# socket_group neither the socket nor anything under the home, and the
# command line says why in words; with socket_group, the group's members
# call the API (audited as their own uid) but still read nothing under
# the home.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
suffix=$(printf '%04x%04x' "$RANDOM" "$RANDOM")
user="alt-$suffix"
group="alg-$suffix"
access_cleanup() {
	userdel "$user" 2>/dev/null || true
	groupdel "$group" 2>/dev/null || true
	dmn_cleanup
}
trap access_cleanup EXIT
groupadd "$group"
useradd -M -N -g nogroup -s /bin/sh "$user"
uid=$(id -u "$user")
# The scratch directory is root's (0700); let the user walk to the home
# so that the home's own permissions are what is tried. The home is made
# as the appliance makes it (StateDirectoryMode=0700).
chmod 0711 "$it_tmp"
chmod 0700 "$it_home"

# as_user CMD...: run CMD as the user; its output goes to as_user.txt.
as_user() {
	local rc=0
	setpriv --reuid="$uid" --regid="$(id -g "$user")" --init-groups \
		"$@" > as_user.txt 2>&1 || rc=$?
	return "$rc"
}

dmn_start
[ "$(stat -c %a "$it_home/airlockd.sock")" = 660 ] ||
	fail "socket mode $(stat -c %a "$it_home/airlockd.sock")"
if as_user "$AIRLOCK_BIN" --home "$it_home" status; then
	fail "a user outside the group called the daemon: $(cat as_user.txt)"
fi
grep -q "not allowed to use airlockd's socket" as_user.txt ||
	fail "the refusal does not say why: $(cat as_user.txt)"
if as_user ls "$it_home"; then
	fail "a user outside the group lists the home: $(cat as_user.txt)"
fi
pass "without socket_group a local user reaches neither socket nor home"

dmn_stop TERM
printf 'socket_group = %s\n' "$group" >> "$it_home/airlock.conf"
usermod -a -G "$group" "$user"
dmn_start
[ "$(stat -c '%a %G' "$it_home")" = "710 $group" ] ||
	fail "home: $(stat -c '%a %G' "$it_home")"
[ "$(stat -c '%a %G' "$it_home/airlockd.sock")" = "660 $group" ] ||
	fail "socket: $(stat -c '%a %G' "$it_home/airlockd.sock")"
as_user "$AIRLOCK_BIN" --home "$it_home" status ||
	fail "a member of socket_group cannot call: $(cat as_user.txt)"
grep -q 'workers:' as_user.txt || fail "status: $(cat as_user.txt)"
for f in "$it_home" "$it_home/keys" "$it_home/db" "$it_home/work"; do
	if as_user ls "$f"; then
		fail "a member of socket_group lists $f: $(cat as_user.txt)"
	fi
done
for f in keys/master.key keys/audit-sign.key db/data.mdb audit-anchor.json \
	airlockd.lock; do
	if as_user cat "$it_home/$f"; then
		fail "a member of socket_group reads $f"
	fi
done
al audit show > audit.txt
grep '"action":"api.call"' audit.txt | grep '"object":"status"' |
	grep -q "\"actor\":\"uid:$uid\"" ||
	fail "the call is not audited as uid:$uid: $(grep api.call audit.txt | tail -3)"
pass "a member of socket_group calls as uid:$uid and reads nothing under the home"
