#!/usr/bin/env bash
# THREATS.md, "Paths": repositories built to lead airlock's own file
# operations out of the workspace, run as real jobs.
#
# 1. package.json is a symlink to a host file, node_modules -> /etc,
#    .npmrc and data/ are symlinks to host canaries, a report file is a
#    symlink to /etc/shadow: the plan must refuse package.json, naming it.
# 2. The same links beside a regular package.json, and install and test
#    scripts that leave everything a payload can make (FIFOs, sockets,
#    setuid and mode-000 files, unsearchable directories, hard links, a
#    deep tree, long names), swap a directory the daemon removes for a
#    symlink to a host canary, replace node_modules and package.json with
#    links out, plant links in npm's home, and start a detached loop that
#    keeps swapping a directory for a link to the canary, to race the
#    daemon's removal of the tree.
#
# After each job: the canaries (content, mode, owner, mtime and atime)
# and /etc/shadow are unchanged, no workspace is left, nothing the
# payload started still runs, and the audit log verifies.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
canary="$it_tmp/canary"
mkdir -p "$canary/dir/sub"
printf 'canary-keep\n' > "$canary/dir/keep"
printf 'canary-sub\n' > "$canary/dir/sub/keep"
printf 'registry=http://127.0.0.1:9/\n' > "$canary/npmrc"
printf '{"name":"host-file","dependencies":{"is-number":"^6.0.0"}}\n' \
	> "$canary/package.json"
# An atime older than the mtime: any read of a canary file moves it
# (relatime). Directory atimes are not compared: listing them here does.
find "$canary" -exec touch -h -m -d '2001-02-03 04:05:06' {} +
old_atime() { find "$canary" -type f -exec touch -a -d '2000-01-01' {} +; }
old_atime

# Stat first, then hash (a read), then put the old atimes back.
snapshot() {
	find "$canary" -printf '%P %y %m %U %G %s %T@ %l\n' | sort
	find "$canary" -type f -printf '%P atime %A@\n' | sort
	find "$canary" -type f -exec sha256sum {} + | sort
	old_atime
	stat -c '%n %a %U %s %Y %Z' /etc/shadow /etc/passwd
	sha256sum /etc/shadow /etc/passwd
}

# The atime check only means something if reads move atime here.
probe="$it_tmp/atime-probe"
echo probe > "$probe"
touch -m -d '2001-02-03' "$probe"; touch -a -d '2000-01-01' "$probe"
a0=$(stat -c %X "$probe"); cat "$probe" > /dev/null
[ "$(stat -c %X "$probe")" != "$a0" ] ||
	fail "this file system does not record reads in atime"
before=$(snapshot)

check_host() {
	local what=$1 left
	[ "$(snapshot)" = "$before" ] || {
		diff <(echo "$before") <(snapshot) >&2 || true
		fail "$what: something outside the workspace changed"
	}
	it_no_workspace
	# The canary path is unique to this run; a payload process that
	# outlived its sandbox would still carry it in its command line.
	left=$(pgrep -f "$canary/dir" || true)
	[ -z "$left" ] || fail "$what: payload processes still run: $left"
	"$AIRLOCK_BIN" --home "$it_home" audit verify | grep -q '^OK' ||
		fail "$what: audit verify"
}

links() {
	ln -s /etc "$1/node_modules.etc"
	ln -s "$canary/npmrc" "$1/.npmrc"
	ln -s /etc/shadow "$1/report.xml"
	ln -s "$canary/dir" "$1/data"
}

# --- 1: package.json is a symlink ------------------------------------
mkdir links
links links
mv links/node_modules.etc links/node_modules
ln -s "$canary/package.json" links/package.json
url=$(it_publish "$it_tmp/links" hostile-links)
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > links.json \
	2> links.log
rc=$?
set -e
[ "$rc" -eq 1 ] || { cat links.log; fail "links: expected exit 1, got $rc"; }
node -e '
const r = require("./links.json");
const plan = r.stages.find(s => s.name === "plan");
if (!plan || plan.result !== "failed") throw new Error("plan did not fail");
if (!/package\.json: .*symlink is refused/.test(plan.reason))
  throw new Error("reason does not name package.json: " + plan.reason);
if (r.stages.some(s => /install|test/.test(s.name)))
  throw new Error("a sandbox ran");
' || { cat links.json; fail "links: record"; }
check_host links
pass "package.json -> host file refused by name; nothing outside touched"

# --- 2: payload games, then the daemon removes the trees ---------------
mkdir games
links games
cat > games/package.json <<'EOF'
{
  "name": "airlock-fixture-hostile-paths",
  "version": "1.0.0",
  "private": true,
  "scripts": {
    "postinstall": "sh payload.sh install > payload-install.txt",
    "test": "cat payload-install.txt; sh payload.sh test; exit 1"
  },
  "dependencies": {
    "is-number": "^6.0.0"
  }
}
EOF
cat > games/payload.sh <<EOF
# Runs inside the sandbox as the install script and as the tests; any
# step that fails stops it before it says "done".
set -e
stage=\$1
canary='$canary'
EOF
cat >> games/payload.sh <<'EOF'
mkfifo "fifo-$stage"
node -e "require('net').createServer().listen('sock-$stage',
  () => process.exit(0))"
echo x > "suid-$stage"; chmod 4755 "suid-$stage"
ln "suid-$stage" "hard-$stage"
echo x > "nomode-$stage"; chmod 000 "nomode-$stage"
mkdir -p "locked-$stage/inner"; echo x > "locked-$stage/inner/f"
chmod 000 "locked-$stage/inner" "locked-$stage"
long=$(head -c 240 /dev/zero | tr '\0' n)
echo x > "$long-$stage"
(mkdir "deep-$stage" && cd "deep-$stage" && i=0 &&
	while [ $i -lt 600 ]; do mkdir a && cd a || exit 1; i=$((i + 1)); done &&
	echo bottom > f)
# Directories the daemon removes later become links out of the tree.
mkdir -p "victim-$stage/sub"; echo x > "victim-$stage/sub/f"
mv "victim-$stage" "victim-$stage.old"
ln -s "$canary/dir" "victim-$stage"
ln -sfn "$canary/dir" "$HOME/planted"
ln -sfn /etc "$HOME/etc"
# A detached loop that tries to outlive the stage and race the removal.
setsid sh -c '
	while :; do
		mkdir -p race/d && echo x > race/d/f
		mv race/d race/e; ln -s "$1" race/d; rm -f race/d
		mv race/e race/d
	done' race "$canary/dir" < /dev/null > /dev/null 2>&1 &
if [ "$stage" = test ]; then
	mv node_modules node_modules.old && ln -s /etc node_modules
	ln -sf "$canary/package.json" package.json
fi
echo "payload $stage done"
EOF
url=$(it_publish "$it_tmp/games" hostile-games)
bare="$AL_TEST_GIT_ROOT/repos/hostile-games.git"
set +e
"$AIRLOCK_BIN" --home "$it_home" update "$url" --json > games.json \
	2> games.log
rc=$?
set -e
# The tests fail on purpose, so that their output, with the install
# script's, lands in the failure report.
[ "$rc" -eq 1 ] || { cat games.log; cat games.json; fail "games: exit $rc"; }
node -e '
const r = require("./games.json");
const st = Object.fromEntries(r.stages.map(s => [s.name, s]));
for (const n of ["baseline-install", "install", "propose"])
  if (!st[n] || st[n].result !== "passed")
    throw new Error("stage " + n + " " + JSON.stringify(st[n]));
for (const n of ["baseline-test", "test"]) {
  const f = r.report.failures.find(x => x.stage === n);
  if (!f || !/payload install done\npayload test done/.test(f.log_excerpt))
    throw new Error(n + ": the payload did not run through: " +
                    JSON.stringify(f));
}
' || { cat games.json; fail "games: record"; }
check_host games
# What is pushed comes from the daemon's own clone, never a sandbox's.
branch=$(it_branch "$bare")
[ -n "$branch" ] || fail "games: nothing pushed"
[ "$(git --git-dir="$bare" ls-tree "$branch" package.json | cut -c1-6)" \
	= 100644 ] || fail "games: the pushed package.json is not a file"
git --git-dir="$bare" show "$branch:package.json" |
	grep -q '"is-number": "^7' || fail "games: the update is not pushed"
pass "payload links, special files, deep tree and swap race: host intact"
