#!/usr/bin/env bash
# The base image: a job on an image directory records its digest, a pinned
# digest that does not match stops the job before anything is stored, and
# an image someone other than root could change is refused.
. "$(dirname "$0")/lib.sh"

cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" image)

# A tiny image: one static program, no shell and no npm.
img="$it_tmp/image"
mkdir -p "$img/usr/bin" "$img/etc"
printf '#include <stdio.h>\nint main(void) { puts("in the image"); }\n' \
	> hello.c
gcc -static -O1 -o "$img/usr/bin/hello" hello.c
ln -s usr/bin "$img/bin"
echo "127.0.0.1 localhost" > "$img/etc/hosts"
chmod -R go-w "$img"

"$AIRLOCK_BIN" sandbox run --image "$img" --json -- /usr/bin/hello \
	> run.json 2> /dev/null || fail "sandbox run on the image"
digest=$(node -p 'require("./run.json").image_digest')
[[ "$digest" =~ ^sha256:[0-9a-f]{64}$ ]] || fail "digest: $digest"
grep -q '"in the image' run.json || fail "the image's program did not run"
set +e
"$AIRLOCK_BIN" sandbox run --image "$img" -- /bin/sh -c true 2> sh.txt
rc=$?
set -e
[ "$rc" -ne 0 ] && grep -q "No such file" sh.txt ||
	fail "the host's /bin/sh is visible through an image (exit $rc)"
pass "a sandbox on an image sees the image, not the host"

wrong=sha256:$(printf '0%.0s' $(seq 64))
home="$it_tmp/pinned-wrong"
mkdir -p "$home"
printf 'registry = %s\nimage = %s\nimage_digest = %s\n' \
	"$AL_TEST_REGISTRY" "$img" "$wrong" > "$home/airlock.conf"
it_update_json "$home" "$url"
[ "$rc" -eq 2 ] || { cat err.txt; fail "wrong pin: exit $rc, not 2"; }
grep -q "has digest $digest, but airlock.conf pins $wrong" err.txt ||
	{ cat err.txt; fail "wrong pin: message"; }
[ ! -e "$home/db" ] || fail "wrong pin: a store was created"
pass "a pinned digest that does not match stops the job"

home="$it_tmp/pinned"
mkdir -p "$home"
printf 'registry = %s\nimage = %s\nimage_digest = %s\n' \
	"$AL_TEST_REGISTRY" "$img" "$digest" > "$home/airlock.conf"
it_update_json "$home" "$url"
# The image has no npm: the install fails, and the record says on what.
[ "$rc" -eq 1 ] || { cat err.txt; fail "image job: exit $rc, not 1"; }
node -e '
const r = require("./job.json");
if (r.image.name !== process.argv[1] || r.image.digest !== process.argv[2])
  throw new Error("image " + JSON.stringify(r.image));
if (r.state !== "failed") throw new Error("state " + r.state);
' "$img" "$digest" || fail "image job record"
pass "the job record names the image and its digest"

chmod g+w "$img/usr/bin/hello"
it_update_json "$home" "$url"
[ "$rc" -eq 2 ] && grep -q "usr/bin/hello: writable by group or others" \
	err.txt || { cat err.txt; fail "writable image: exit $rc"; }
chmod g-w "$img/usr/bin/hello"
chown 1:1 "$img/etc/hosts"
it_update_json "$home" "$url"
[ "$rc" -eq 2 ] && grep -q "etc/hosts: not owned by root" err.txt ||
	{ cat err.txt; fail "foreign-owned image file: exit $rc"; }
pass "an image others could change is refused"
