#!/usr/bin/env bash
# Key rotation in airlockd: `airlock keys rotate` goes through the control
# API, returns with the new key current, and the daemon seals the stored
# values again in the background in small transactions, while it keeps
# answering calls and a worker writes the store. A SIGKILL half-way and a
# restart resume the walk where the store says it stopped; at the end
# every value is under the new key, opens, and the audit log verifies.
# A key retired by its seal count starts the same background re-seal.
#
# AIRLOCK_RESEAL_PAUSE_MS spaces the batches so that the test sees the
# re-seal under way (the pause is a lower bound on its duration, so it
# cannot have finished before the test looks); AIRLOCK_TEST_SEAL_LIMIT
# lowers the seal limit (docs/daemon.md, "Environment").
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

cd "$it_tmp"
printf 'workers = 1\n' >> "$it_home/airlock.conf"

# ping N: N pings on one connection; each is a sealed audit entry.
ping_n() {
	node -e '
const c = require("net").createConnection(process.argv[1]);
const n = +process.argv[2];
let got = 0, buf = "";
c.on("connect", () => {
  let out = "";
  for (let i = 0; i < n; i++) out += JSON.stringify({id: i, method: "ping"}) + "\n";
  c.write(out);
});
c.on("data", d => {
  buf += d;
  let k;
  while ((k = buf.indexOf("\n")) >= 0) {
    const r = JSON.parse(buf.slice(0, k));
    buf = buf.slice(k + 1);
    if (!r.result) { console.error(JSON.stringify(r)); process.exit(1); }
    if (++got === n) process.exit(0);
  }
});
c.on("error", e => { console.error(e.message); process.exit(1); });
' "$it_home/airlockd.sock" "$1"
}

# ks [JS]: `keys status --json` into ks.json, then JS on it as `s`
# (throw to fail). Through the daemon when it runs, else in process.
ks() {
	al keys status --json > ks.json 2> ks.err || { cat ks.err >&2; return 1; }
	[ $# -eq 0 ] || node -e "const s = JSON.parse(require('fs')
		.readFileSync('ks.json')); $1"
}

# ks_wait_done: until no rotation is under way and the daemon runs none.
ks_wait_done() {
	for _ in $(seq 1 1200); do
		ks 'process.exit(s.rotating || s.daemon.running ? 1 : 0)' &&
			return 0
		sleep 0.1
	done
	cat ks.json "$dmn_log" >&2
	fail "the re-seal did not finish"
}

AIRLOCK_RESEAL_PAUSE_MS=20 dmn_start
ping_n 1500 || fail "seeding the store"
ks 'if (s.keys.length !== 1 || s.records < 1500 || !s.ok ||
	s.daemon.running) throw new Error(JSON.stringify(s))' ||
	fail "status before the rotation: $(cat ks.json)"
records=$(jq_field ks.json r.records)
old=$(jq_field ks.json 'r.keys[0].id')
pass "$records sealed values under key $old"

# Rotate: the new key is current when the command returns.
al keys rotate --batch 1 > rot.out 2> rot.err || { cat rot.err; fail "rotate"; }
grep -q 'in the background' rot.out || fail "rotate printed: $(cat rot.out)"
new=$(sed -n 's/^current key \([0-9a-f]\{16\}\);.*/\1/p' rot.out)
[ -n "$new" ] && [ "$new" != "$old" ] || fail "no new key: $(cat rot.out)"
# Answered while the re-seal runs (one value per batch, 20 ms apart).
ks "if (!s.rotating || !s.daemon.running || s.rotating_to !== '$new' ||
	!(s.left > 0) || !s.ok ||
	s.keys.find(k => k.current).id !== '$new') throw new Error()" ||
	fail "status during the re-seal: $(cat ks.json)"
al status > status.txt || fail "airlock status during the re-seal"
grep -q '^airlockd ' status.txt || fail "status: $(cat status.txt)"
pass "new key $new current at once; the daemon answers while it re-seals"

# A worker writes the store meanwhile (the job fails at its clone).
job=$(al job enqueue "$GIT_SERVER_URL/no-such-repository.git" --json | json_id)
dmn_wait "$job" r.state failed 120
ks 'if (!s.rotating) throw new Error()' ||
	fail "the re-seal ended before the job: make the test store larger"
pass "a job ran and stored its record during the re-seal"

# SIGKILL half-way, then look at the store without a daemon.
for _ in $(seq 1 600); do
	ks 'process.exit(s.rotate_done > 0 ? 0 : 1)' && break
	sleep 0.1
done
dmn_stop KILL
ks "const o = s.keys.find(k => k.id === '$old');
	const n = s.keys.find(k => k.id === '$new');
	if (!s.rotating || s.daemon || !s.ok || !(o.values > 0) ||
	!(n.values > 0) || !(s.rotate_done > 0 && s.rotate_done < s.records))
	throw new Error()" || fail "state after SIGKILL: $(cat ks.json)"
at=$(jq_field ks.json r.rotate_done)
pass "killed at value $at of $(jq_field ks.json r.records)"

dmn_start
ks_wait_done
grep -q "re-sealing values under older keys.* key=$new at=$at " "$dmn_log" ||
	{ cat "$dmn_log"; fail "the restarted daemon did not resume at $at"; }
ks "const o = s.keys.find(k => k.id === '$old');
	const n = s.keys.find(k => k.id === '$new');
	if (!s.ok || s.left !== 0 || o.values !== 0 || !n.current ||
	n.values !== s.records) throw new Error()" ||
	fail "state after the resumed re-seal: $(cat ks.json)"
al audit verify > verify.out 2>&1 || { cat verify.out; fail "audit verify"; }
al audit show > entries.jsonl
grep '"action":"keys.rotate.start"' entries.jsonl |
	grep -q "\"actor\":\"uid:$(id -u)\".*\"to\":\"$new\"" ||
	fail "the rotation's start and its caller are not in the audit log"
grep '"action":"keys.reseal.start"' entries.jsonl | grep -q "\"at\":$at," ||
	fail "the resumed re-seal is not in the audit log"
grep '"action":"keys.rotate.done"' entries.jsonl | grep -q "\"key\":\"$new\"" ||
	fail "the rotation's end is not in the audit log"
pass "the restarted daemon resumed at $at; every value under $new; audit log verifies"

# --wait follows the re-seal to its end.
al keys rotate --wait > wait.out 2> wait.err || { cat wait.err; fail "rotate --wait"; }
third=$(sed -n 's/^current key \([0-9a-f]\{16\}\); every value sealed under it$/\1/p' \
	wait.out)
[ -n "$third" ] && [ "$third" != "$new" ] || fail "rotate --wait: $(cat wait.out)"
ks "if (s.keys.length !== 3 || s.left !== 0 || s.rotating || !s.ok ||
	s.keys.find(k => k.current).id !== '$third') throw new Error()" ||
	fail "after rotate --wait: $(cat ks.json)"
pass "rotate --wait returned when every value was under $third"

# A key retired at its seal limit: the daemon re-seals in the background
# without being asked. (Each key must seal every value during a re-seal,
# so with a limit this low the new key is retired in turn near the end
# of its walk, leaving the values behind the walk's place under it:
# docs/KNOWN-LIMITS.md. Hence no check that nothing is left.)
dmn_stop
limit=$(node -p "JSON.parse(require('fs').readFileSync('ks.json'))
	.keys.find(k => k.current).seals + 300")
AIRLOCK_TEST_SEAL_LIMIT=$limit dmn_start
ping_n 600 || fail "pings after the restart"
grep -q "made [0-9]* seals (limit $limit): retired" "$dmn_log" ||
	{ cat "$dmn_log"; fail "no key retired at the limit"; }
ks_wait_done
ks "const c = s.keys.find(k => k.current);
	if (s.keys.length < 4 || c.id === '$third' || !s.ok ||
	s.keys.find(k => k.id === '$third').values !== 0 ||
	!s.daemon.last || s.daemon.last.key !== c.id) throw new Error()" ||
	fail "after the seal limit: $(cat ks.json)"
al audit verify > verify.out 2>&1 || { cat verify.out; fail "audit verify"; }
al audit show > entries.jsonl
[ "$(grep -c '"action":"keys.rotate.start"' entries.jsonl)" -eq 2 ] ||
	fail "a rotation start by a caller that did not ask"
grep '"action":"keys.reseal.start"' entries.jsonl | grep -v "\"to\":\"$third\"" |
	grep -v "\"to\":\"$new\"" | grep -q '"at":0,' ||
	fail "no re-seal towards the key that replaced the retired one"
pass "a key retired by its seal count was re-sealed away by the daemon"

dmn_stop
[ "$dmn_rc" -eq 0 ] || fail "airlockd exited $dmn_rc"
