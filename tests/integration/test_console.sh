#!/usr/bin/env bash
# test_console.sh - `airlock console` headless, in a tmux of its own,
# against a real airlockd whose jobs are in every state: one that
# succeeded (score, updates, stages), one that failed and whose failing
# test's name carries escape sequences and a bidirectional override, one
# running, queued and cancelled ones. Drives it with
# send-keys and reads capture-pane: navigation, detail, filter, sort,
# cancel with confirmation (audited under our uid), resize to 80x24,
# 200x60 and below the minimum, the daemon stopped and started again
# while the console is open, and the terminal's title never changed.
# The workers view: the running job's sandbox use against the limits
# from airlock.conf (memory 448M), read again only while jobs run; the
# queue with due times and a schedule's next slot. The audit view: the
# chain's state, export and key rotation asked first and audited under
# our uid. The text filter by a planned package's name.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

command -v tmux >/dev/null || fail "tmux is not installed (appliance/install-deps)"
tsock="$it_tmp/tmux.sock"
tm() { tmux -S "$tsock" "$@"; }
con_cleanup() {
	tm kill-server 2>/dev/null || true
	dmn_cleanup
}
trap con_cleanup EXIT

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/daemon-project" cproject)
printf 'workers = 1\nmemory = 448M\n' >> "$it_home/airlock.conf"
# Next slot 04:30 Berlin time on 1 January (03:30 UTC); seen for the
# first time it only records now, so it adds no job.
printf 'schedule = http://127.0.0.1:9/sched.git TZ=Europe/Berlin 30 4 1 1 *\n' \
	>> "$it_home/airlock.conf"
dmn_start

# screen: the console's screen as text. wait_screen RE [SECS]: until
# the screen matches RE.
screen() { tm capture-pane -p -t con; }
wait_screen() {
	local re=$1 secs=${2:-20}
	for _ in $(seq 1 $((secs * 10))); do
		screen > screen.txt
		grep -Eq -- "$re" screen.txt && return 0
		sleep 0.1
	done
	cat screen.txt >&2
	fail "the screen did not show /$re/ within ${secs}s"
}
keys() { tm send-keys -t con "$@"; sleep 0.3; }

# Jobs in every state.
ok=$(al job enqueue "$url" --policy minor --test-cmd "npm test" --json | json_id)
dmn_wait "$ok" r.state succeeded 240
# Repository URLs and branches with control characters are refused at
# enqueue (test_daemon_cli.sh); what a job can still bring is its test
# output: a failing test whose name carries a bidi override, a title
# (OSC), a clear-screen and a colour sequence, in the report and excerpt.
evil_cmd="printf 'TAP version 13\\nnot ok 1 - evil\\342\\200\\256gnp \\033]2;pwned\\007\\033[2J\\033[31mred\\n1..1\\n# tests 1\\n# pass 0\\n# fail 1\\n'; exit 1"
bad=$(al job enqueue "$url" --policy minor --test-cmd "$evil_cmd" --json |
	json_id)
dmn_wait "$bad" r.state failed 240
run=$(al job enqueue "$url" --policy minor --test-cmd "sleep 600" --json |
	json_id)
dmn_wait "$run" r.state running 60
queued=()
for i in $(seq 1 12); do
	queued+=("$(al job enqueue "http://127.0.0.1:9/q$i.git" --json | json_id)")
done
for i in 0 2 4 6 8 10; do
	al job cancel "${queued[$i]}" >/dev/null
done
total=$((3 + 12))
pass "seeded $total jobs: succeeded, failed, running, queued, cancelled"

tail8() { echo "${1: -8}"; }

# The console, in a 100x30 terminal whose title we set.
tm -f /dev/null new-session -d -s con -x 100 -y 30 \
	"env LANG=C.UTF-8 TZ=UTC TERM=screen-256color $AIRLOCK_BIN --home $it_home console"
tm select-pane -t con -T clean-title
wait_screen "jobs: $total of $total"
grep -q "connected" screen.txt || fail "title line: $(head -1 screen.txt)"
for s in succeeded failed running queued cancelled; do
	grep -q " $s " screen.txt || fail "no $s job on screen"
done
# Newest first: the last queued job is the first row.
sed -n 3p screen.txt | grep -q "$(tail8 "${queued[11]}")" ||
	fail "newest first: $(sed -n 3p screen.txt)"
pass "jobs view: every state, newest first"
# Opening the console has the daemon build its job index on a thread
# of its own, before any sort or filter asks for it.
for _ in $(seq 1 100); do
	grep -q "job index built" "$dmn_log" && break
	sleep 0.1
done
grep -q "job index built" "$dmn_log" ||
	fail "the job index was not built when the console opened"
pass "the job index is built ahead when the console opens"

# Navigation: the 15th row is the oldest job, the succeeded one; its
# detail has the stage timeline, the score, the updates and the log.
keys G Enter
wait_screen "Job $ok"
for want in 'Stages' 'clone +passed' 'Score [0-9]+ \((high|medium|low)\)' \
	'Updates \([0-9]+\)' 'Log \([0-9]+ lines\)' 'clone \.\.\.'; do
	grep -Eq -- "$want" screen.txt || { cat screen.txt; fail "detail: no /$want/"; }
done
keys q
wait_screen "jobs: $total of $total"
pass "navigation and the detail view"

# Filter by state, by text, then none.
keys / cancelled Enter
wait_screen "filter: cancelled"
wait_screen "jobs: 6 of $total"
[ "$(sed -n '3,$p' screen.txt | grep -c ' cancelled ')" -eq 6 ] ||
	fail "cancelled filter"
sed -n '3,$p' screen.txt | grep -Eq ' (queued|failed|running|succeeded) ' &&
	fail "the filter let other states through"
keys / q7 Enter
wait_screen "jobs: 1 of $total"
grep -q "$(tail8 "${queued[6]}")" screen.txt || fail "text filter"
keys / Enter
wait_screen "jobs: $total of $total"
pass "filter by state and by text"

# Sort: s twice is the state column, ascending: cancelled ones first.
keys s s
wait_screen "sort: STATE"
sed -n 3p screen.txt | grep -q ' cancelled ' || fail "sort: $(sed -n 3p screen.txt)"
keys S
wait_screen "sort: STATE \(descending\)"
sed -n 3p screen.txt | grep -q ' succeeded ' || fail "reverse: $(sed -n 3p screen.txt)"
keys s s s s s s
wait_screen "sort: ID \(descending\)"
pass "sort by a column and reversed"

# Filter by the name of a package the succeeded job's plan updates.
pkg=$(dmn_field "$ok" 'r.plan.updates[0].name')
[ -n "$pkg" ] || fail "the succeeded job has no planned update"
keys / "$pkg" Enter
# The failed job plans it too; the running one may have its plan
# already. The queued and cancelled ones (other repositories) never.
wait_screen "jobs: [23] of $total"
grep -q "$(tail8 "$ok")" screen.txt || fail "filter by package $pkg"
grep -q "$(tail8 "$bad")" screen.txt || fail "filter by package $pkg"
sed -n '3,$p' screen.txt | grep -Eq ' (queued|cancelled) ' &&
	fail "the package filter let other jobs through"
keys / Enter
wait_screen "jobs: $total of $total"
pass "filter by a planned package's name"

# The running job's stage with its place among the stages it runs: the
# fixture has no build script, no lockfile and one group, so 8 stages
# (clone, plan, baseline-install, baseline-test, install, test, score,
# propose), and its test command sleeps in the baseline's test, the 4th.
wait_screen " running +4/8 base" 60
pass "a running job's stage shows its place: $(grep -Eo ' 4/8 [a-z-]*' screen.txt)"

# Workers: the running job with its sandbox's memory against the limit
# airlock.conf sets, and its CPU once two readings (2 s apart) were
# taken; the queue (6 queued behind one worker) and the schedule.
keys w
wait_screen "workers, queue and schedules"
wait_screen "worker-1 +$(tail8 "$run") +4/8 baseline-test"
wait_screen "mem [0-9.]+[BKMG] of 448M \([0-9]+%\) +pids [0-9]+ of [0-9]+" 180
wait_screen "cpu +[0-9]+\.[0-9]+ of 1\.00 \([0-9]+%\)" 30
grep -q "Workers: 1 of 1 busy" screen.txt || fail "workers line"
grep -q "Queued: 6" screen.txt || fail "queued count"
[ "$(grep -c 'now (when a worker is free)' screen.txt)" -eq 6 ] ||
	fail "due times of the queued jobs"
grep -Eq -- "-01-01 03:30 \(in [0-9]+d[0-9]+h\) +Europe/Berlin +30 4 1 1 \*" \
	screen.txt || fail "the schedule's next slot"
pass "workers view: sandbox memory and CPU against the limits, queue, schedule"
keys q
wait_screen "jobs: $total of $total"

# Cancel with confirmation: n keeps the job, y cancels it through the
# API, audited under our uid.
keys / running Enter
wait_screen "jobs: 1 of $total"
keys c
wait_screen "Cancel job $run\?"
keys n
wait_screen "kept job $run"
[ "$(dmn_field "$run" r.state)" = running ] || fail "n cancelled the job"
keys c
wait_screen "Cancel job $run\?"
keys y
wait_screen "cancel requested"
dmn_wait "$run" r.state cancelled 60
al audit show --job "$run" > cancel-audit.txt
grep '"job.cancel"' cancel-audit.txt | grep -q "\"uid:$(id -u)\"" ||
	fail "the cancel is not audited under uid:$(id -u): $(cat cancel-audit.txt)"
keys / Enter
wait_screen "jobs: $total of $total"
pass "cancel asks first and is audited under uid:$(id -u)"

# With nothing running the workers view makes no call at all: every
# call is an audit entry, so count them (audit show reads the store).
keys w
wait_screen "Queued: 0" 180
wait_screen "Workers: 0 of 1 busy" 180
sleep 1
calls() { al audit show | grep -c '"action":"api.call"'; }
n1=$(calls)
sleep 5
[ "$(calls)" -eq "$n1" ] || fail "the workers view polls with nothing running"
keys q
pass "the workers view reads nothing while no job runs"

# The job with escape sequences: shown inert, title unchanged, nothing
# cleared or coloured by it.
keys / evil Enter
wait_screen "jobs: 1 of $total"
keys Enter
wait_screen "Job $bad"
# The report is below the stages and the score: page down to it.
for _ in 1 2 3 4 5 6; do
	screen > screen.txt
	grep -q 'failing: evil' screen.txt && break
	keys Space
done
tm capture-pane -p -e -t con > screen-e.txt
# (the job's own sanitizing already dropped the OSC with its text and
# the CSIs; the console cleans again what reaches it: test_model.c)
grep -q 'failing: evil.*gnp.*red' screen.txt ||
	fail "the failing test is not shown: $(grep -i fail screen.txt)"
if grep -q $'\xe2\x80\xae' screen.txt; then fail "a bidi override reached the screen"; fi
if grep -q $'\e\]' screen-e.txt; then fail "an OSC sequence reached the screen"; fi
# Raw, the branch's ESC[31m would colour "red" (capture -e shows the
# console's own colours too, so look right before the word).
if grep -q $'\e\[31mred' screen-e.txt; then
	fail "the job's colour sequence reached the screen"
fi
[ "$(tm display -p -t con '#{pane_title}')" = clean-title ] ||
	fail "the pane title changed to '$(tm display -p -t con '#{pane_title}')'"
grep -q "airlock console - job" screen.txt || fail "the screen was cleared"
keys q
pass "escape sequences from a job are shown inert; terminal title unchanged"

# Resize: 80x24, 200x60, too small, back.
keys / Enter
tm resize-window -t con -x 80 -y 24
wait_screen "jobs: $total of $total"
[ "$(LC_ALL=C.UTF-8 wc -L < screen.txt)" -le 80 ] || fail "a line wider than 80"
[ "$(wc -l < screen.txt)" -eq 24 ] || fail "not 24 lines"
grep -q 'q quit' screen.txt || fail "80x24: no key line"
tm resize-window -t con -x 200 -y 60
wait_screen "${queued[11]}"  # the whole id, at 200 columns
[ "$(grep -c ' cancelled \| queued \| running \| failed \| succeeded ' \
	screen.txt)" -eq "$total" ] || fail "200x60 does not show every job"
tm resize-window -t con -x 60 -y 20
wait_screen "needs at least 80x24; this terminal is 60x20"
tm resize-window -t con -x 100 -y 30
wait_screen "jobs: $total of $total"
pass "resize: 80x24, 200x60, too small, back"

# The daemon goes away and comes back.
dmn_stop TERM
wait_screen "airlockd is not answering"
grep -q DISCONNECTED screen.txt || fail "title does not say disconnected"
dmn_start
wait_screen "  connected"
wait_screen "jobs: $total of $total"
# Live again: a job queued now shows up by event.
late=$(al job enqueue "http://127.0.0.1:9/late.git" --json | json_id)
wait_screen "$(tail8 "$late")"
pass "daemon stopped: said so; started: reconnected and live"

# The workers view follows a running job by the daemon's "workers"
# samples: its lines change every 2 s, and no call (no api.call entry)
# is made for them; only the subscription on the way in and out.
long=$(al job enqueue "$url" --policy minor --test-cmd "sleep 600" --json |
	json_id)
dmn_wait "$long" r.state running 120
keys w
wait_screen "worker-1 +$(tail8 "$long")"
wait_screen "mem [0-9.]+[BKMG] of 448M" 180
wait_screen "cpu +[0-9]+\.[0-9]+ of 1\.00" 30
n1=$(calls)
grep -A3 "worker-1" screen.txt > w1.txt
sleep 5
screen > screen.txt
grep -A3 "worker-1" screen.txt > w2.txt
cmp -s w1.txt w2.txt && fail "the workers view did not change in 5 s: $(cat w2.txt)"
[ "$(calls)" -eq "$n1" ] ||
	fail "the workers view made $(( $(calls) - n1 )) calls while it followed the job"
keys q
wait_screen "jobs: $((total + 2)) of $((total + 2))"
pass "workers view: live from samples, no call per refresh"

# A job that starts to pass the filter while it is not the newest comes
# in at once, without Ctrl-L: x is queued behind the running job, y
# newer; x cancelled passes "cancelled".
keys / cancelled Enter
wait_screen "filter: cancelled"
x=$(al job enqueue "http://127.0.0.1:9/fresh-x.git" --json | json_id)
y=$(al job enqueue "http://127.0.0.1:9/fresh-y.git" --json | json_id)
sleep 1
grep -q "$(tail8 "$x")" screen.txt && fail "a queued job passed the filter cancelled"
al job cancel "$x" >/dev/null
wait_screen "$(tail8 "$x") .* cancelled " 10
grep -q "$(tail8 "$y")" screen.txt && fail "a queued job passed the filter cancelled"
al job cancel "$y" >/dev/null
al job cancel "$long" >/dev/null
dmn_wait "$long" r.state cancelled 60
keys / Enter
pass "a job that comes to pass the filter appears live"

# Sorting orders the whole store: a job older than the newest page (200
# jobs) whose repository sorts first (port 1 before any other port of
# 127.0.0.1) is the first row once sorted by repository.
first=$(al job enqueue "http://127.0.0.1:1/aaa-first.git" --json | json_id)
al job cancel "$first" >/dev/null
fill() {
	local id
	id=$(al job enqueue "http://127.0.0.1:9/zfill-$1.git" --json | json_id) &&
		al job cancel "$id" >/dev/null
}
pids=()
for i in $(seq 1 205); do
	fill "$i" &
	pids+=($!)
	if [ "${#pids[@]}" -eq 4 ]; then wait "${pids[@]}"; pids=(); fi
done
[ "${#pids[@]}" -eq 0 ] || wait "${pids[@]}"
keys C-l
wait_screen "jobs: 200 of [0-9]+\+  sort: ID"
grep -q "$(tail8 "$first")" screen.txt && fail "the old job is on the first screen"
keys s
wait_screen "sort: REPOSITORY"
sed -n 3p screen.txt | grep -q "$(tail8 "$first")" ||
	fail "sort by repository: the first row is not the old aaa-first job: $(sed -n 3p screen.txt)"
keys S
wait_screen "sort: REPOSITORY \(descending\)"
grep -q "$(tail8 "$first")" screen.txt && fail "reversed, the aaa-first job is on the first screen"
keys s s s s s s s
wait_screen "sort: ID \(descending\)"
pass "sort orders every job in the store, not the pages read"

# The audit view follows: a call made now appears on top.
keys a
wait_screen "audit log"
wait_screen "Chain: intact from the last checkpoint to the head"
grep -q "Last export: none" screen.txt || fail "an export before any"
keys E
wait_screen "Export the audit log to HOME/export\?"
keys n
wait_screen "nothing done"
[ -e "$it_home/export/00000001.digest.json" ] && fail "n exported"
keys E y
wait_screen "export 1 written: seq 1 to [0-9]+"
wait_screen "Last export: #1, seq 1 to [0-9]+"
grep -Eq "Last checkpoint: #[0-9]+ at seq [0-9]+, signed 20" screen.txt ||
	fail "no checkpoint line after the export"
al audit show | grep '"audit.export"' | grep -q "\"uid:$(id -u)\"" ||
	fail "the export is not audited under uid:$(id -u)"
keys R
wait_screen "Rotate the store's keys"
keys x
wait_screen "nothing done"
keys R y
wait_screen "keys rotated: key [0-9a-f]+ is current"
al audit show | grep '"keys.rotate.start"' | grep -q "\"uid:$(id -u)\"" ||
	fail "the rotation is not audited under uid:$(id -u)"
al audit verify >/dev/null || fail "the log does not verify after export and rotation"
pass "audit view: chain state; export and rotation ask first, audited"
al status >/dev/null
wait_screen "uid:$(id -u) +api.call +status"
keys '?'
wait_screen "Keys"
for k in 'Enter' '/' 'Q'; do grep -q "^   $k " screen.txt || fail "help lacks $k"; done
keys Q
for _ in $(seq 1 50); do
	tm has-session -t con 2>/dev/null || break
	sleep 0.1
done
tm has-session -t con 2>/dev/null && fail "Q did not quit"
pass "audit and help views; Q quits"

dmn_stop TERM
echo "all console checks passed"
