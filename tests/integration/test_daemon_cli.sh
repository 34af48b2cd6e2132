#!/usr/bin/env bash
# `airlock job ...` exit statuses as its --help promises them: 2 for bad
# usage or no such job, whichever command meets it (logs included), 1
# when the daemon cannot be reached. Requests the worker would refuse
# (other schemes, bad branches) or that would leak a token (a query
# string) are refused at enqueue, in schedule lines and by `airlock
# update`; a config key that is not UTF-8 is logged repaired; `job list`
# shows AGE and TOOK within 80 columns; airlockd's usage errors exit 2.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"

# expect STATUS TEXT CMD...: CMD exits with STATUS and says TEXT.
expect() {
	local want=$1 text=$2 rc=0
	shift 2
	al "$@" > out.txt 2>&1 || rc=$?
	[ "$rc" -eq "$want" ] ||
		fail "airlock $*: exit status $rc, not $want: $(cat out.txt)"
	grep -qF -- "$text" out.txt || fail "airlock $*: $(cat out.txt)"
}

expect 1 "cannot reach airlockd" job logs 0123456789abcdef0123
dmn_start
for cmd in show cancel retry logs; do
	expect 2 "'id' must be a job id" job "$cmd" not-an-id
	expect 2 "no job 0123456789abcdef0123" job "$cmd" 0123456789abcdef0123
done
expect 2 "no job 0123456789abcdef0123" job logs 0123456789abcdef0123 --follow
expect 2 "'state' must be" job list --state bogus
pass "bad ids and unknown jobs exit 2 from every command"

# What the worker would refuse at the clone stage, or what would leak a
# token into records and logs, is refused at enqueue (invalid_params,
# exit 2), saying why and never quoting the value.
secret="s3cret-$RANDOM$RANDOM"
expect 2 "must not carry a query string" \
	job enqueue "https://127.0.0.1:1/a.git?token=$secret"
expect 2 "must not carry a query string" \
	job enqueue "https://127.0.0.1:1/a.git#$secret"
expect 2 "only http, https and file URLs" \
	job enqueue "ssh://-oProxyCommand=touch%20$it_tmp/pwned/a.git"
expect 2 "only http, https and file URLs" job enqueue "ext::sh://x"
expect 2 "credentials in the URL are refused" \
	job enqueue "https://bot:$secret@127.0.0.1:1/a.git"
for b in -n --upload-pack=x 'a..b' 'a@{1}' main.lock $'a\001b' 'a b' .x; do
	expect 2 "'branch' is not a valid git branch name" \
		job enqueue https://127.0.0.1:1/a.git --branch "$b"
done
al job list > list.txt
grep -q '^no jobs' list.txt || fail "a refused request was queued: $(cat list.txt)"
grep -q "$secret" "$dmn_log" && fail "the token reached the daemon's log"
[ ! -e "$it_tmp/pwned" ] || fail "ProxyCommand ran"
pass "bad URLs and branches are refused at enqueue, nothing queued or logged"

# airlock update applies the same check (its URL may carry credentials,
# split off in its own process), before anything runs.
for args in "https://127.0.0.1:1/a.git?token=$secret" \
	"ssh://-oProxyCommand=touch%20$it_tmp/pwned/a.git" \
	"https://127.0.0.1:1/a.git --branch -n"; do
	# shellcheck disable=SC2086
	expect 2 "airlock update: '" update $args
done
[ ! -e "$it_tmp/pwned" ] || fail "ProxyCommand ran"
pass "airlock update refuses them too, exit status 2"

# A schedule line with a token in its query: the reload is refused with
# the line, and the token is in no log line.
cp "$it_home/airlock.conf" good.conf
printf 'schedule = https://127.0.0.1:1/a.git?token=%s @daily\n' "$secret" \
	>> "$it_home/airlock.conf"
kill -HUP "$dmn_pid"
for _ in $(seq 1 100); do
	grep -q 'reload refused' "$dmn_log" && break
	sleep 0.1
done
grep 'reload refused' "$dmn_log" | grep -q "must not carry a query string" ||
	fail "reload: $(grep reload "$dmn_log")"
grep -q "$secret" "$dmn_log" && fail "the token reached the daemon's log"
cp good.conf "$it_home/airlock.conf"
pass "a schedule line with a query string is refused on reload"

# A config key that is not UTF-8 reaches the log as valid UTF-8.
printf 'k\377\376ey = 1\n' >> "$it_home/airlock.conf"
kill -HUP "$dmn_pid"
for _ in $(seq 1 100); do
	[ "$(grep -c 'reload refused' "$dmn_log")" -ge 2 ] && break
	sleep 0.1
done
grep 'reload refused' "$dmn_log" | tail -1 | grep -q "unknown key 'k??ey'" ||
	fail "reload: $(grep reload "$dmn_log" | tail -1)"
iconv -f UTF-8 -t UTF-8 "$dmn_log" >/dev/null ||
	fail "the daemon's log is not UTF-8"
cp good.conf "$it_home/airlock.conf"
pass "an invalid UTF-8 key is repaired in the log line"

# A caller of the socket cannot have the daemon clone from (or push to)
# the appliance's own disk, unless airlock.conf says local_repos = on.
expect 2 "local_repos = off" job enqueue "file:///etc"
expect 2 "local_repos = off" job enqueue "/etc"
al job list > list.txt
grep -q '^no jobs' list.txt || fail "a local repository was queued: $(cat list.txt)"
printf 'local_repos = on\n' >> "$it_home/airlock.conf"
kill -HUP "$dmn_pid"
for _ in $(seq 1 100); do
	grep -q 'reloaded' "$dmn_log" && break
	sleep 0.1
done
grep -q 'reloaded' "$dmn_log" || fail "reload: $(grep reload "$dmn_log" | tail -1)"
pass "paths and file URLs are refused at enqueue unless local_repos = on"

# job list: AGE is since the job was queued, TOOK its run. A job that
# fails at once (no such repository), looked at 3 s later.
id=$(al job enqueue "file:///nonexistent/repo-$$" --json | json_id)
dmn_wait "$id" r.state failed 60
sleep 3
al job list > list.txt
row=$(grep "^$id " list.txt) || fail "list: $(cat list.txt)"
# secs SPAN: a lower bound in seconds of 42s or 3m07s; -1 for "-".
secs() {
	case $1 in
	*m*) echo $((${1%%m*} * 60)) ;;
	*s) echo "${1%s}" ;;
	*) echo -1 ;;
	esac
}
age=$(echo "$row" | awk '{print $(NF-2)}')
took=$(echo "$row" | awk '{print $(NF-1)}')
[ "$(secs "$age")" -ge $(($(secs "$took") + 3)) ] ||
	fail "AGE $age is not 3 s more than TOOK $took: $(cat list.txt)"
awk 'length($0) > 80 { exit 1 }' list.txt || fail "wider than 80: $(cat list.txt)"
pass "job list: AGE $age since queued, TOOK $took, within 80 columns"

# airlockd: usage errors exit 2, as its --help says.
"$AIRLOCKD_BIN" --help | grep -q "2 bad usage" || fail "--help"
set +e
"$AIRLOCKD_BIN" --bogus > /dev/null 2>&1; rc=$?
"$AIRLOCKD_BIN" --home relative > /dev/null 2>&1; rc2=$?
set -e
[ "$rc" -eq 2 ] && [ "$rc2" -eq 2 ] || fail "airlockd usage errors: $rc $rc2"
pass "airlockd: usage errors exit 2"
