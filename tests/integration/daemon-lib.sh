# daemon-lib.sh - run a real airlockd on the test's home (sourced after
# lib.sh). The daemon, and with it every worker (they die with it), is
# ended on exit, whatever the test did.
: "${AIRLOCKD_BIN:?run through tests/run (AIRLOCKD_BIN unset)}"

dmn_pid=
dmn_log="$it_tmp/airlockd.log"
dmn_homes=("$it_home")

dmn_cleanup() {
	local h
	if [ -n "$dmn_pid" ] && kill -0 "$dmn_pid" 2>/dev/null; then
		kill -KILL "$dmn_pid" 2>/dev/null || true
		wait "$dmn_pid" 2>/dev/null || true
	fi
	for h in "${dmn_homes[@]}"; do
		# Workers die with the daemon; wait for them before removing
		# the home, so nothing is removed under a running job.
		for _ in $(seq 1 100); do
			pgrep -f -- "--worker --home $h " >/dev/null || break
			sleep 0.1
		done
		# A test that failed half way may leave a job's volume
		# mounted; unmounting is its whole removal.
		{ findmnt -rn -o TARGET | grep -F "$h/" | sort -r |
			while read -r m; do umount -l "$m" 2>/dev/null; done
		} || true
	done
	it_cleanup
}
trap dmn_cleanup EXIT

# dmn_use_home DIR: make DIR (with the test registry) the home of the
# next daemon and commands.
dmn_use_home() {
	it_home=$1
	dmn_log="$it_home.log"
	dmn_homes+=("$it_home")
	mkdir -p "$it_home"
	printf 'registry = %s\n' "${2:-$AL_TEST_REGISTRY}" > "$it_home/airlock.conf"
}

# al ARGS...: the command line against the test's home.
al() { "$AIRLOCK_BIN" --home "$it_home" "$@"; }

# dmn_start: start airlockd and wait until it answers.
dmn_start() {
	"$AIRLOCKD_BIN" --home "$it_home" >> "$dmn_log" 2>&1 &
	dmn_pid=$!
	for _ in $(seq 1 200); do
		al status >/dev/null 2>&1 && return 0
		kill -0 "$dmn_pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$dmn_log" >&2
	fail "airlockd did not start"
}

# dmn_stop [SIGNAL]: stop it and wait; its exit status goes to dmn_rc.
dmn_stop() {
	dmn_rc=0
	kill "-${1:-TERM}" "$dmn_pid"
	wait "$dmn_pid" || dmn_rc=$?
	dmn_pid=
}

# jq_field FILE EXPR: a field of a JSON file, by a JavaScript expression
# on `r` (node is there for npm anyway).
jq_field() {
	node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1]));
const v = eval(process.argv[2]);
console.log(v === undefined || v === null ? "" :
	typeof v === "object" ? JSON.stringify(v) : v);' "$1" "$2"
}

# json_id: the "id" of the JSON document on stdin.
json_id() { node -p 'JSON.parse(require("fs").readFileSync(0)).id'; }

# dmn_field ID EXPR: a field of job ID's record.
dmn_field() {
	al job show "$1" --json > "$it_tmp/show.json" || return 1
	jq_field "$it_tmp/show.json" "$2"
}

# dmn_wait ID EXPR VALUE [SECONDS]: until the record's EXPR is VALUE.
dmn_wait() {
	local id=$1 expr=$2 want=$3 secs=${4:-120} v=
	for _ in $(seq 1 $((secs * 10))); do
		v=$(dmn_field "$id" "$expr" 2>/dev/null) || true
		[ "$v" = "$want" ] && return 0
		sleep 0.1
	done
	cat "$dmn_log" >&2
	fail "job $id: $expr is '$v', not '$want', after ${secs}s"
}

# dmn_no_leftovers: no workspace, volume, worker or sandbox cgroup of a
# dead process.
dmn_no_leftovers() {
	local left
	it_no_workspace
	if findmnt -rn -o TARGET | grep -qF "$it_home/"; then
		fail "a volume is still mounted: $(findmnt -rn -o TARGET |
			grep -F "$it_home/")"
	fi
	if pgrep -f -- "--worker --home $it_home " >/dev/null; then
		fail "a worker still runs: $(pgrep -af -- "--worker --home $it_home ")"
	fi
	left=$(find /sys/fs/cgroup -maxdepth 6 -type d -name 'airlock-sbx-*' \
		2>/dev/null | while read -r d; do
			p=${d##*/airlock-sbx-}; p=${p%%-*}
			kill -0 "$p" 2>/dev/null || echo "$d"
		done)
	[ -z "$left" ] || fail "sandbox cgroups of dead processes: $left"
}
