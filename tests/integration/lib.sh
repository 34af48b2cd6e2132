# lib.sh - helpers shared by the integration tests (sourced).
#
# Each test gets a scratch directory removed on exit, a fresh airlock home
# whose airlock.conf points at the test registry, and helpers to publish a
# directory as a repository on the test git server.
set -euo pipefail

: "${AIRLOCK_BIN:?run through tests/run (AIRLOCK_BIN unset)}"
: "${AL_TEST_REGISTRY:?run through tests/run (no test registry)}"
: "${GIT_SERVER_URL:?run through tests/run (no git server)}"
: "${AL_TEST_GIT_ROOT:?run through tests/run (no git server root)}"

it_tmp=$(mktemp -d /tmp/airlock-it.XXXXXX)
it_cleanup() { rm -rf "$it_tmp"; }
trap it_cleanup EXIT

it_home="$it_tmp/home"
mkdir -p "$it_home"
printf 'registry = %s\n' "$AL_TEST_REGISTRY" > "$it_home/airlock.conf"

export AIRLOCK_GIT_USER="$GIT_SERVER_USER"
export AIRLOCK_GIT_TOKEN="$GIT_SERVER_PASS"

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok: $*"; }

# it_publish SRC_DIR NAME: commit SRC_DIR's files as branch main of a new
# bare repository NAME.git on the test git server; prints its URL.
it_publish() {
	local src=$1 name=$2 work="$it_tmp/publish-$2"
	local bare="$AL_TEST_GIT_ROOT/repos/$name.git"
	rm -rf "$work" "$bare"
	cp -a "$src" "$work"
	git -C "$work" init -q -b main
	git -C "$work" add -A
	git -C "$work" -c user.name=test -c user.email=test@localhost \
		commit -q -m "fixture"
	git init -q --bare "$bare"
	git -C "$work" push -q "$bare" main
	git --git-dir="$bare" symbolic-ref HEAD refs/heads/main
	echo "$GIT_SERVER_URL/$name.git"
}

# it_branch BARE: the single airlock/ branch pushed to BARE, or nothing.
it_branch() {
	git --git-dir="$1" for-each-ref --format='%(refname:short)' \
		'refs/heads/airlock/*'
}

it_no_workspace() {
	local left
	left=$(find "$it_home/work" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
	[ "$left" -eq 0 ] || fail "workspace left behind: $(ls "$it_home/work")"
}

# it_npm_publish NAME VERSION [EXTRA-JSON]: publish a package with no
# files but package.json to the test registry (@airlock-test/ names only:
# Verdaccio keeps that scope local, so no uplink is involved). EXTRA-JSON
# is merged into package.json (e.g. '"peerDependencies":{...}'). A
# version that is already there is left alone.
it_npm_publish() {
	local name=$1 version=$2 extra=${3:-} dir
	local host=${AL_TEST_REGISTRY#http:}
	dir=$(mktemp -d "$it_tmp/pkg.XXXXXX")
	printf '{"name":"%s","version":"%s"%s}\n' "$name" "$version" \
		"${extra:+,$extra}" > "$dir/package.json"
	if npm view --registry "$AL_TEST_REGISTRY" "$name@$version" version \
		2>/dev/null | grep -q .; then
		return 0
	fi
	(cd "$dir" && npm publish --registry "$AL_TEST_REGISTRY" \
		"--$host:_authToken=anonymous" --loglevel=error >/dev/null) ||
		fail "cannot publish $name@$version"
}

# it_lock DIR VERSION: write DIR/package-lock.json with this machine's npm
# (lockfileVersion VERSION) against the test registry.
it_lock() {
	(cd "$1" && npm install --package-lock-only --ignore-scripts \
		--registry "$AL_TEST_REGISTRY" --lockfile-version="$2" \
		--no-audit --no-fund --loglevel=error >/dev/null) ||
		fail "npm could not lock $1"
}

# it_job NAME [ARGS...]: run airlock update on repository NAME (already
# published); the record goes to NAME.json, the log to NAME.log; prints
# the exit status.
it_job() {
	local name=$1 rc=0
	shift
	"$AIRLOCK_BIN" --home "$it_home" update "$GIT_SERVER_URL/$name.git" \
		--test-cmd "node -e 0" --json "$@" > "$it_tmp/$name.json" \
		2> "$it_tmp/$name.log" || rc=$?
	echo "$rc"
}

# it_mini_tree TREE PROGRAM...: a minimal system for an image: dash as
# TREE/usr/bin/sh, each PROGRAM (a host path) in TREE/usr/bin, the
# libraries they load at their host paths under TREE/usr, and bin, lib
# and lib64 linked into usr as on Debian.
it_mini_tree() {
	local tree=$1 lib real d
	shift
	mkdir -p "$tree/usr/bin" "$tree/etc"
	cp /bin/dash "$tree/usr/bin/sh"
	cp "$@" "$tree/usr/bin/"
	for lib in $(ldd /bin/dash "$@" | grep -o '/[^ ]*\.so[^ ]*' | sort -u); do
		real=$(readlink -f "$lib")
		mkdir -p "$tree/usr$(dirname "$lib")"
		cp "$real" "$tree/usr$lib"
	done
	for d in bin lib lib64; do
		if [ -e "$tree/usr/$d" ]; then ln -s "usr/$d" "$tree/$d"; fi
	done
}

# it_update_json HOME URL: airlock update of URL with HOME, its --json
# output in job.json, its errors in err.txt, its exit status in rc.
it_update_json() {
	set +e
	"$AIRLOCK_BIN" --home "$1" update "$2" --json > job.json 2> err.txt
	rc=$?
	set -e
}
