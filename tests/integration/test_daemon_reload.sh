#!/usr/bin/env bash
# airlockd's configuration reload on SIGHUP: a file that loads takes
# effect and a file that does not is refused with the running settings
# kept; both leave an audit entry (config.reload, with the result and,
# when refused, the reason), between daemon.start and daemon.stop, and
# the chain verifies.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
conf="$it_home/airlock.conf"
base=$(cat "$conf")
printf '%s\nworkers = 1\n' "$base" > "$conf"
dmn_start
al status | grep -q 'workers: 0 of 1 busy' || fail "status before reload"
pass "daemon started with one worker"

# dmn_wait_log TEXT: until airlockd's log holds TEXT (count N of them).
dmn_wait_log() {
	local text=$1 n=${2:-1}
	for _ in $(seq 1 200); do
		[ "$(grep -cF -- "$text" "$dmn_log" || true)" -ge "$n" ] &&
			return 0
		sleep 0.05
	done
	cat "$dmn_log" >&2
	fail "airlockd did not log '$text'"
}

printf '%s\nworkers = 2\n' "$base" > "$conf"
kill -HUP "$dmn_pid"
dmn_wait_log 'configuration reloaded'
al status | grep -q 'workers: 0 of 2 busy' ||
	fail "the reload did not take effect: $(al status)"
pass "SIGHUP with a good file: two workers"

printf '%s\nworkers = many\n' "$base" > "$conf"
kill -HUP "$dmn_pid"
dmn_wait_log 'reload refused'
al status | grep -q 'workers: 0 of 2 busy' ||
	fail "a refused reload changed the settings: $(al status)"
pass "SIGHUP with a bad file: refused, two workers still"

dmn_stop TERM
[ "$dmn_rc" -eq 0 ] || { cat "$dmn_log"; fail "daemon exit status $dmn_rc"; }
al audit verify > verify.txt || { cat verify.txt; fail "audit verify"; }
al audit show > audit.txt
node -e '
for (const l of require("fs").readFileSync(0, "utf8").split("\n")) {
	if (!l) continue;
	const e = JSON.parse(l);
	if (e.action === "config.reload")
		console.log(e.action + " " + e.details.result);
	else if (e.action.startsWith("daemon."))
		console.log(e.action);
}' < audit.txt > actions.txt
printf '%s\n' daemon.start "config.reload ok" "config.reload refused" \
	daemon.stop > want.txt
diff want.txt actions.txt || { cat audit.txt; fail "audit entries"; }
grep '"config.reload"' audit.txt | grep '"refused"' |
	grep -q '"error":"[^"]*workers' ||
	fail "the refused reload's entry does not say why"
grep '"config.reload"' audit.txt | grep '"ok"' | grep -q '"workers":2' ||
	fail "the reload's entry does not give the new workers"
pass "both reloads are in the audit log, in order, and it verifies"
