#!/usr/bin/env bash
# Keys and sealing through the command line, after a real update job:
# - marker strings the job stores (its test command, its test output) are
#   in the job record airlock prints, and nowhere in the LMDB files, the
#   key files or airlock's log;
# - `airlock keys rotate` killed with SIGKILL half-way, then resumed;
# - a missing and a wrong master key stop the next command with a clear
#   message and change nothing;
# - a store made by the schema 1 code is migrated once and its audit log
#   still verifies.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
cmd_marker="KEYS-IT-CMD-MARKER-90fd"
out_marker="KEYS-IT-OUT-MARKER-e41c"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" keys-breaking)

# chalk 5 breaks the fixture's tests, so the report keeps the test output.
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json \
	--test-cmd "MARK=$cmd_marker; printf 'KEYS-IT-OUT-%s\n' MARKER-e41c; npm test" \
	> record.json 2> job.log
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat job.log; fail "expected the update's tests to fail, exit $rc"; }

# Control: both markers really are in what was stored.
grep -qF "$cmd_marker" record.json || fail "test command marker not in the record"
grep -qF "$out_marker" record.json || fail "test output marker not in the record"
for m in "$cmd_marker" "$out_marker"; do
	hits=$(grep -rlF "$m" "$it_home" job.log || true)
	[ -z "$hits" ] || fail "marker $m found in plain in: $hits"
done
ls "$it_home/keys" | grep -qx master.key || fail "no master key"
[ ! -e "$it_home/keys/data.key" ] || fail "an unwrapped data key file exists"
pass "markers of a real job are in its record and in no store file, key file or log"

status_json() { "$AIRLOCK_BIN" --home "$it_home" keys status --json 2>>status.log; }
records=$(status_json | node -p 'JSON.parse(require("fs").readFileSync(0)).records')
[ "$records" -ge 5 ] || fail "only $records sealed records after a job"

# Rotation killed half-way. Its stderr is a pipe already filled but for
# ~500 bytes, so the command blocks on a progress line after a few of its
# one-value batches have committed, without holding any transaction.
mkfifo errpipe
exec 3<>errpipe
timeout 20 head -c $((65536 - 500)) /dev/zero >&3 ||
	fail "the pipe holds less than 64 KiB (pipe-user-pages-soft reached?)"
"$AIRLOCK_BIN" --home "$it_home" keys rotate --batch 1 2>&3 >/dev/null &
rot=$!
cleanup_rot() { kill -9 "$rot" 2>/dev/null || true; exec 3>&-; it_cleanup; }
trap cleanup_rot EXIT
mid=""
for _ in $(seq 1 600); do
	mid=$(status_json)
	done_n=$(node -p "const s=$mid; s.rotating ? s.rotate_done : -1")
	# Two polls alike: the rotator is stuck on its pipe, not between.
	if [ "$done_n" -gt 0 ] && [ "${prev:-}" = "$done_n" ]; then break; fi
	prev=$done_n
	sleep 0.1
done
kill -9 "$rot"
wait "$rot" 2>/dev/null || true
exec 3>&-
trap it_cleanup EXIT
node -e "
const s = $(status_json);
if (!s.rotating) throw new Error('rotation not under way after the kill');
if (!(s.rotate_done > 0 && s.rotate_done < s.records))
  throw new Error('not half-way: ' + s.rotate_done + ' of ' + s.records);
const cur = s.keys.find(k => k.current), old = s.keys.find(k => !k.current);
if (!(cur.values > 0 && old.values > 0)) throw new Error(JSON.stringify(s.keys));
if (!s.ok) throw new Error(s.problem);
" || fail "state after killing the rotation"

"$AIRLOCK_BIN" --home "$it_home" keys rotate > rotate.out 2> rotate.log ||
	{ cat rotate.log; fail "resuming the rotation"; }
grep -q "finishing an interrupted rotation" rotate.log || fail "did not resume"
node -e "
const s = $(status_json);
if (s.rotating || !s.ok) throw new Error(JSON.stringify(s));
const old = s.keys.find(k => !k.current);
if (old.values !== 0 || s.keys.length !== 2) throw new Error(JSON.stringify(s.keys));
" || fail "state after resuming"
"$AIRLOCK_BIN" --home "$it_home" audit verify > verify.out 2>&1 ||
	{ cat verify.out; fail "audit log after rotation"; }
"$AIRLOCK_BIN" --home "$it_home" audit show > entries.jsonl
# Two starts (the killed run, the resumed one) and one end, naming the key.
[ "$(grep -c '"action":"keys.rotate.start"' entries.jsonl)" -eq 2 ] ||
	fail "rotation starts are not in the audit log"
cur=$(node -p "($(status_json)).keys.find(k => k.current).id")
grep '"action":"keys.rotate.done"' entries.jsonl | grep -q "\"key\":\"$cur\"" ||
	fail "the rotation's end and its key are not in the audit log"
pass "rotation killed half-way resumed: every value under the new key, audit log intact"

# Master key missing, then wrong: refused, nothing changed, no new key.
sum() { sha256sum "$it_home/db/data.mdb" | cut -d' ' -f1; }
before=$(sum)
mv "$it_home/keys/master.key" master.bak
set +e
"$AIRLOCK_BIN" --home "$it_home" keys status > /dev/null 2> missing.log
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "missing master key: exit $rc"
grep -q "master key is missing" missing.log || { cat missing.log; fail "no clear message"; }
[ ! -e "$it_home/keys/master.key" ] || fail "a new master key was made"
head -c 32 /dev/urandom > "$it_home/keys/master.key"
chmod 600 "$it_home/keys/master.key"
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" > /dev/null 2> wrong.log
rc=$?
set -e
[ "$rc" -ne 0 ] || fail "update ran with the wrong master key"
grep -q "wrong master key" wrong.log || { cat wrong.log; fail "no clear message"; }
[ "$(sum)" = "$before" ] || fail "the store changed"
mv -f master.bak "$it_home/keys/master.key"
"$AIRLOCK_BIN" --home "$it_home" keys status > /dev/null 2>&1 || fail "right key refused"
pass "missing and wrong master key refused with a clear message, store unchanged"

# A schema 1 store (made by the schema 1 code) migrates once.
old="$it_tmp/v1"
mkdir -m 700 -p "$old/db" "$old/keys"
cp "$AL_SOURCE_DIR/tests/fixtures/store-v1/data.mdb" "$old/db/"
install -m 600 "$AL_SOURCE_DIR/tests/fixtures/store-v1/data.key" "$old/keys/"
"$AIRLOCK_BIN" --home "$old" audit verify > v1.out 2> v1.log ||
	{ cat v1.log; fail "audit verify on a migrated store"; }
grep -q "OK: 21 entries" v1.out || fail "$(cat v1.out)"
grep -q "migrated schema 1 to 2" v1.log || fail "no migration logged"
[ ! -e "$old/keys/data.key" ] || fail "the schema 1 key file stayed"
"$AIRLOCK_BIN" --home "$old" audit verify > /dev/null 2> v1b.log
! grep -q "migrated" v1b.log || fail "migrated twice"
pass "schema 1 store migrated once, audit log verifies"

# Usage errors exit 2 and change nothing.
for args in "keys" "keys bogus" "keys rotate --batch 0" "keys status --batch 3"; do
	set +e
	# shellcheck disable=SC2086
	"$AIRLOCK_BIN" --home "$it_home" $args > /dev/null 2>&1
	rc=$?
	set -e
	[ "$rc" -eq 2 ] || fail "airlock $args: exit $rc, expected 2"
done
"$AIRLOCK_BIN" keys --help | grep -q "airlock keys rotate" || fail "keys --help"
pass "keys usage errors exit 2"
