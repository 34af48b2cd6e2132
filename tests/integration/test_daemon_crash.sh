#!/usr/bin/env bash
# The crash suite: airlockd is killed with SIGKILL while a job is in each
# stage (clone, plan, install, build, test, propose), then started again.
# Each time the worker and its sandboxes die with the daemon, the new
# daemon starts only once they are gone, removes what they left
# (workspace, volume, cgroups), puts the job back in the queue with the
# reason, and the audit chain verifies. One job is then let run: it
# succeeds on its second attempt and pushes exactly one branch.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
mark="airlock-crash-$$-$RANDOM"
hold_git="$it_tmp/hold-git" hold_reg="$it_tmp/hold-registry"
git_port=${GIT_SERVER_URL##*:}
reg_port=${AL_TEST_REGISTRY##*:}
reg_port=${reg_port%/}
python3 "$AL_SOURCE_DIR/tests/lib/hold-proxy.py" "$git_port" "$hold_git" \
	> git-proxy.port &
proxies=$!
python3 "$AL_SOURCE_DIR/tests/lib/hold-proxy.py" "$reg_port" "$hold_reg" \
	> reg-proxy.port &
proxies="$proxies $!"
trap 'kill $proxies 2>/dev/null; dmn_cleanup' EXIT
for _ in $(seq 1 50); do
	[ -s git-proxy.port ] && [ -s reg-proxy.port ] && break
	sleep 0.1
done
git_url="http://127.0.0.1:$(cat git-proxy.port)"
registry="http://127.0.0.1:$(cat reg-proxy.port)/"

it_npm_publish "@airlock-test/slow-install-$$" 1.0.0 \
	"\"scripts\":{\"postinstall\":\"sleep 600; : $mark\"}"

# project NAME DEPS-JSON SCRIPTS-JSON: publish a repository; print its
# URL through the holding proxy.
project() {
	local dir="$it_tmp/src-$1"
	mkdir -p "$dir"
	printf '{"name":"crash-%s","version":"1.0.0","private":true,"dependencies":%s,"scripts":%s}\n' \
		"$1" "$2" "$3" > "$dir/package.json"
	it_publish "$dir" "crash-$1" >/dev/null
	echo "$git_url/crash-$1.git"
}

greet='{"@airlock-test/greet":"^1.0.0"}'
slow="{\"@airlock-test/greet\":\"^1.0.0\",\"@airlock-test/slow-install-$$\":\"^1.0.0\"}"

# wait_stage ID STAGE: until the job reports STAGE.
wait_stage() { dmn_wait "$1" r.sched.stage "$2" 120; }

# wait_mark: until a sandboxed process carrying the marker runs.
wait_mark() {
	for _ in $(seq 1 300); do
		pgrep -f "$mark" >/dev/null && return 0
		sleep 0.1
	done
	fail "no sandboxed process with the marker started"
}

# crash CASE: SIGKILL the daemon, check what dies and what the next
# daemon finds; leaves the new daemon running.
crash() {
	local case=$1 id=$2 worker
	worker=$(pgrep -f -- "--worker --home $it_home " | head -1)
	[ -n "$worker" ] || fail "$case: no worker runs"
	kill -KILL "$dmn_pid"
	wait "$dmn_pid" 2>/dev/null || true
	dmn_pid=
	for _ in $(seq 1 150); do
		kill -0 "$worker" 2>/dev/null || pgrep -f "$mark" >/dev/null ||
			break
		sleep 0.1
	done
	kill -0 "$worker" 2>/dev/null && fail "$case: the worker outlived the daemon"
	pgrep -f "$mark" >/dev/null && fail "$case: a sandboxed process outlived the daemon"
	rm -f "$hold_git" "$hold_reg"

	dmn_start
	[ "$(dmn_field "$id" r.state)" = queued ] ||
		fail "$case: state $(dmn_field "$id" r.state) after restart"
	[ "$(dmn_field "$id" r.sched.attempt)" = 1 ] || fail "$case: attempt"
	[ "$(dmn_field "$id" r.sched.reason)" = \
		"the daemon died while the job ran (found at start-up)" ] ||
		fail "$case: reason '$(dmn_field "$id" r.sched.reason)'"
	dmn_no_leftovers
	grep -q 'removed the workspace of a job that did not finish' \
		"$dmn_log" || fail "$case: the workspace was not swept"
	al audit verify > "verify-$case.txt" ||
		{ cat "verify-$case.txt"; fail "$case: audit verify"; }
	al audit show --job "$id" | grep -c '"job.requeue"' >/dev/null ||
		fail "$case: no job.requeue entry"
}

# run_case CASE STAGE URL ENQUEUE-ARGS...: a job killed in STAGE.
run_case() {
	local case=$1 stage=$2 url=$3 id
	shift 3
	dmn_use_home "$it_tmp/home-$case" "$registry"
	dmn_start
	id=$(al job enqueue "$url" --policy minor "$@" --json | json_id)
	wait_stage "$id" "$stage"
	case "$stage" in
	*install | *build | *test) wait_mark ;;
	*) sleep 1 ;; # inside the held connection
	esac
	crash "$case" "$id"
	case_id=$id
	pass "killed in $stage: worker and sandbox gone, swept, job requeued"
}

plain=$(project plain "$greet" '{"test":"node -e 0"}')
built=$(project built "$greet" \
	"{\"build\":\"sleep 600; : $mark\",\"test\":\"node -e 0\"}")
slowdep=$(project slowdep "$slow" '{"test":"node -e 0"}')

touch "$hold_git"
run_case clone clone "$plain"
al job cancel "$case_id" >/dev/null
dmn_stop

touch "$hold_reg"
run_case plan plan "$plain"
al job cancel "$case_id" >/dev/null
dmn_stop

run_case install baseline-install "$slowdep"
al job cancel "$case_id" >/dev/null
dmn_stop

run_case build baseline-build "$built"
al job cancel "$case_id" >/dev/null
dmn_stop

run_case test baseline-test "$plain" --test-cmd "sleep 600; : $mark"
al job cancel "$case_id" >/dev/null
dmn_stop

# propose: the push is held once the update's tests run.
dmn_use_home "$it_tmp/home-propose" "$registry"
dmn_start
id=$(al job enqueue "$plain" --policy minor --test-cmd "sleep 2" --json |
	json_id)
wait_stage "$id" test
touch "$hold_git"
wait_stage "$id" propose
sleep 1
crash propose "$id"
pass "killed in propose: worker gone, swept, job requeued"

# Now let it run: attempt 2, after its backoff, succeeds.
dmn_wait "$id" r.state succeeded 180
[ "$(dmn_field "$id" r.sched.attempt)" = 2 ] || fail "second attempt"
n=$(it_branch "$AL_TEST_GIT_ROOT/repos/crash-plain.git" | wc -l)
[ "$n" -eq 1 ] || fail "$n branches pushed, expected 1"
dmn_stop
[ "$dmn_rc" -eq 0 ] || fail "daemon exit status $dmn_rc"
dmn_no_leftovers
al audit verify >/dev/null || fail "audit verify at the end"
pass "the requeued job succeeded on attempt 2 and pushed one branch"
