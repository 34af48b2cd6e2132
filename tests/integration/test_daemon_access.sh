#!/usr/bin/env bash
# Who can reach airlockd, tried as a local user who is not root: without
# socket_group neither the socket nor anything under the home, and the
# command line says why in words; with socket_group, the group's members
# call the API (audited as their own uid) but still read nothing under
# the home. Without socket_group again, and for a home made 0755, the
# daemon makes the home its own at start; an airlock.conf others can
# read is warned about.
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

# socket_group removed: at the next start the home is the daemon's own
# again (0700, its group), with a warning line, and the group is out.
dmn_stop TERM
sed -i '/^socket_group/d' "$it_home/airlock.conf"
before=$(grep -c ' W daemon' "$dmn_log" || true)
dmn_start
[ "$(stat -c '%a %g' "$it_home")" = "700 $(id -g)" ] ||
	fail "home after socket_group went: $(stat -c '%a %G' "$it_home")"
grep ' W daemon' "$dmn_log" | tail -n +$((before + 1)) |
	grep -q "was mode 0710, group [0-9]*; set to 0700" ||
	fail "no warning: $(grep ' W ' "$dmn_log")"
if as_user "$AIRLOCK_BIN" --home "$it_home" status; then
	fail "a former member of socket_group still calls: $(cat as_user.txt)"
fi
pass "without socket_group again, the home is 0700 and the group is out"

# A home others can list (made with umask 022) is closed at start.
dmn_stop TERM
chmod 0755 "$it_home"
chmod 0644 "$it_home/airlock.conf"
dmn_start
[ "$(stat -c %a "$it_home")" = 700 ] ||
	fail "home mode $(stat -c %a "$it_home")"
grep -q "W daemon .*was mode 0755, group [0-9]*; set to 0700" "$dmn_log" ||
	fail "no warning: $(grep ' W ' "$dmn_log")"
if as_user ls "$it_home"; then
	fail "a local user lists the home: $(cat as_user.txt)"
fi
pass "a home made 0755 is set to 0700 with a warning"

# airlock.conf readable by others, or by a group not the daemon's: a
# warning at start and on reload; none once it is private.
conf_warnings() { grep -c 'airlock.conf is readable by' "$dmn_log" || true; }
# reload: SIGHUP, and wait until the daemon says it reloaded.
reload() {
	local k
	k=$(grep -c 'configuration reloaded' "$dmn_log" || true)
	kill -HUP "$dmn_pid"
	for _ in $(seq 1 100); do
		[ "$(grep -c 'configuration reloaded' "$dmn_log")" -gt "$k" ] &&
			return 0
		sleep 0.1
	done
	fail "no reload: $(tail -3 "$dmn_log")"
}
n=$(conf_warnings)
[ "$n" -ge 1 ] || fail "no warning for a 0644 airlock.conf at start"
chmod 0600 "$it_home/airlock.conf"
reload
[ "$(conf_warnings)" -eq "$n" ] || fail "a warning for a 0600 airlock.conf"
chgrp "$group" "$it_home/airlock.conf"
chmod 0640 "$it_home/airlock.conf"
reload
[ "$(conf_warnings)" -eq $((n + 1)) ] ||
	fail "warnings: $(grep 'readable by' "$dmn_log")"
grep 'airlock.conf is readable by' "$dmn_log" | tail -1 |
	grep -q "by its group (mode 0640" || fail "$(tail -3 "$dmn_log")"
pass "airlock.conf readable by others or another group is warned about"
