#!/usr/bin/env bash
# The audit log through the command line, as an operator and an auditor
# use it: jobs leave entries (config, token, stages, end), exports follow
# each other, verify-export works in a clean directory with nothing but
# the PEM public key (its Ed25519 signature is also checked with the
# openssl tool, independently of airlock), a flipped byte is reported by
# file and line, and a store rolled back behind its last export is
# refused by export, checkpoint and update alike.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" auditfix)
home="$it_tmp/ah"
mkdir -p "$home"
# A registry that does not answer makes short jobs that still clone,
# plan and end: enough to fill the log.
printf 'registry = http://127.0.0.1:1/\naudit_checkpoint_entries = 5\n' \
	> "$home/airlock.conf"
al() { "$AIRLOCK_BIN" --home "$home" "$@"; }
job() { al update "$url" --json > /dev/null 2>> log.txt || true; }

job
al audit verify > out.txt || { cat out.txt log.txt; fail "verify"; }
grep -q '^OK: ' out.txt || fail "verify output: $(cat out.txt)"
al audit verify --json > v.json
node -e '
const v = require("./v.json");
if (!v.ok || v.intact < 8 || v.checkpoints < 2 || v.problems.length)
  throw new Error(JSON.stringify(v));' || fail "verify --json"
pass "a job leaves a verified log with checkpoints"

# Every kind of entry the job path makes today.
al audit export --json > e1.json || fail "export 1"
for action in job.start config.load token.issue stage.start vcs.clone \
	stage.end workspace.destroy token.revoke job.end audit.export; do
	grep -q "\"action\":\"$action\"" "$home/export/00000001.jsonl" ||
		fail "no $action entry in the export"
done
grep -q "$GIT_SERVER_PASS" "$home/export/00000001.jsonl" &&
	fail "the git token is in the log"
pass "job, config, token, stage, clone, workspace and export entries"

job
al audit export > /dev/null || fail "export 2"
al audit export > /dev/null || fail "export 3"
al audit pubkey --out key.pem || fail "pubkey"
grep -q 'BEGIN PUBLIC KEY' key.pem || fail "pubkey is not PEM"

# The auditor's side: a fresh directory, the exports and the PEM only,
# a home that does not exist.
aud="$it_tmp/auditor"
mkdir -p "$aud/x"
cp "$home"/export/0000000* "$aud/x/"
cp key.pem "$aud/"
cp "$home/export/00000003.digest.json" "$aud/held.json"
(cd "$aud" && "$AIRLOCK_BIN" --home "$aud/nohome" audit verify-export x \
	--pubkey key.pem --checkpoint held.json --json > r.json) ||
	{ cat "$aud/r.json"; fail "verify-export in a clean directory"; }
[ ! -e "$aud/nohome" ] || fail "verify-export created a home"
node -e '
const r = require(process.argv[1]);
if (!r.ok || r.exports !== 3 || r.intact < 20) throw new Error("bad");
' "$aud/r.json" || fail "verify-export report: $(cat "$aud/r.json")"
pass "three exports verify offline with only the public key"

# The signature again, with the openssl tool: the signed message is the
# digest's canonical JSON without "sig" (docs/audit.md).
node -e '
const d = JSON.parse(require("fs").readFileSync(process.argv[1]));
const canon = v => Array.isArray(v) ? "[" + v.map(canon).join(",") + "]"
  : v && typeof v === "object" ? "{" + Object.keys(v).sort().map(k =>
      JSON.stringify(k) + ":" + canon(v[k])).join(",") + "}"
  : JSON.stringify(v);
const sig = d.sig; delete d.sig;
require("fs").writeFileSync("body.bin", canon(d));
require("fs").writeFileSync("sig.bin", Buffer.from(sig, "hex"));
' "$aud/x/00000002.digest.json"
openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in body.bin \
	-sigfile sig.bin > /dev/null || fail "openssl rejects the signature"
printf 'x' >> body.bin
openssl pkeyutl -verify -pubin -inkey key.pem -rawin -in body.bin \
	-sigfile sig.bin > /dev/null 2>&1 && fail "openssl accepts a forgery"
pass "the digest's Ed25519 signature verifies with openssl too"

# A byte flipped in the second line of export 2: named by file and line.
f2="$aud/x/00000002.jsonl"
cp "$f2" f2.bak
line2=$(sed -n 2p "$f2")
sed -i '2s/"action":"/"action":"X/' "$f2"
set +e
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export x --pubkey key.pem \
	> rep.txt)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "tampered export: exit $rc"
grep -q '^00000002.jsonl:2 seq [0-9]*: hash does not match' "$aud/rep.txt" ||
	fail "report: $(cat "$aud/rep.txt")"
grep -q '^FAILED' "$aud/rep.txt" || fail "no FAILED summary"
# The same flip found through the files form, at the same position.
set +e
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export x/00000002.jsonl \
	x/00000003.digest.json --pubkey key.pem > rep2.txt)
rc=$?
set -e
[ "$rc" -eq 1 ] || fail "tampered export (files): exit $rc"
grep -q '^00000002.jsonl:2 seq [0-9]*: hash does not match' \
	"$aud/rep2.txt" || fail "report (files): $(cat "$aud/rep2.txt")"
cp f2.bak "$f2"
[ -n "$line2" ] || fail "line 2 was empty"
pass "a flipped entry is reported by file and line"

# verify-export FILE...: a whole run named by its files, a run that
# starts after export 1, a gap inside the run, and names that are not
# export files.
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export x/00000001.jsonl \
	x/00000002.digest.json x/00000003.jsonl --pubkey key.pem --json \
	> rf.json) || fail "verify-export FILE...: $(cat "$aud/rf.json")"
node -e 'const r = require(process.argv[1]);
if (!r.ok || r.exports !== 3) throw new Error("bad")' "$aud/rf.json" ||
	fail "verify-export FILE... report: $(cat "$aud/rf.json")"
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export x/00000003.digest.json \
	x/00000002.digest.json --pubkey key.pem --checkpoint held.json \
	--json > rf2.json) || fail "a run from export 2: $(cat "$aud/rf2.json")"
node -e 'const r = require(process.argv[1]);
if (!r.ok || r.exports !== 2) throw new Error("bad")' "$aud/rf2.json" ||
	fail "a run from export 2: $(cat "$aud/rf2.json")"
mkdir -p "$aud/gap"
cp "$aud"/x/0000000[13]* "$aud/gap/"
set +e
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export gap/00000001.jsonl \
	gap/00000003.jsonl --pubkey key.pem > rg.txt)
rc=$?
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export key.pem --pubkey key.pem \
	> /dev/null 2>&1)
rc_name=$?
(cd "$aud" && "$AIRLOCK_BIN" audit verify-export x x/00000001.jsonl \
	--pubkey key.pem > /dev/null 2>&1)
rc_mix=$?
set -e
[ "$rc" -eq 1 ] && grep -q '^00000002.digest.json missing' "$aud/rg.txt" ||
	fail "a gap in the named run: exit $rc, $(cat "$aud/rg.txt")"
[ "$rc_name" -eq 2 ] || fail "a file that is not an export: exit $rc_name"
[ "$rc_mix" -eq 2 ] || fail "a directory and a file: exit $rc_mix"
pass "verify-export FILE... checks the named run, gaps included"

# Roll the store back to the copy taken after export 1.
al audit checkpoint > cp.json || fail "checkpoint"
grep -q '"type":"airlock.audit.checkpoint"' cp.json || fail "checkpoint out"
rm -rf "$it_tmp/db-old"
cp -a "$home/db" "$it_tmp/db-old"
job
al audit export > /dev/null || fail "export 4"
rm -rf "$home/db"
cp -a "$it_tmp/db-old" "$home/db"
set +e
al audit export > out.txt 2> err.txt
rc_e=$?
al update "$url" > /dev/null 2> err2.txt
rc_u=$?
al audit verify > ver.txt
rc_v=$?
set -e
[ "$rc_e" -eq 1 ] && grep -q 'rolled back' err.txt ||
	{ cat err.txt; fail "export on a rolled-back store: exit $rc_e"; }
[ "$rc_u" -ne 0 ] && grep -q 'refuses writing' err2.txt ||
	{ cat err2.txt; fail "update on a rolled-back store: exit $rc_u"; }
[ "$rc_v" -eq 1 ] && grep -q 'rolled back' ver.txt ||
	{ cat ver.txt; fail "verify on a rolled-back store: exit $rc_v"; }
[ ! -e "$home/export/00000005.jsonl" ] || fail "exported from the old store"
pass "a store rolled back behind its last export is refused and reported"
