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
