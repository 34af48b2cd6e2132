#!/usr/bin/env bash
# The packed base image: a squashfs file named by the SHA-256 of its bytes,
# mounted read-only. `sandbox run --image FILE` and `update` mount it for
# their run; the daemon mounts it once for all its jobs, verifies it again
# when the file changed, and removes a mount its killed predecessor left.
# A file that is not squashfs, truncated, a symlink, writable by others,
# under a directory others can write, or of another digest than the pinned
# one is refused with one line, and nothing stays mounted or attached.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon-lib.sh"

command -v mksquashfs >/dev/null || fail "mksquashfs (squashfs-tools) missing"
cd "$it_tmp"
url=$(it_publish "$AL_SOURCE_DIR/tests/fixtures/breaking" packed)

# A minimal system: a shell, env and cat, and the libraries they load.
tree="$it_tmp/tree"
it_mini_tree "$tree" /usr/bin/env /usr/bin/cat /usr/bin/sleep
# An npm that takes its time and fails: a job's install on the image
# lasts long enough to change the image under it.
printf '#!/bin/sh\nsleep 4\necho "npm of the packed image"; exit 1\n' \
	> "$tree/usr/bin/npm"
chmod 0755 "$tree/usr/bin/npm"
echo "127.0.0.1 packed-image.test" > "$tree/etc/hosts"
imgdir="$it_tmp/images"
mkdir -m 0755 "$imgdir"
img="$imgdir/base.img"
mksquashfs "$tree" "$img" -all-root -noappend -quiet -comp gzip > /dev/null
chmod 0644 "$img"
digest=sha256:$(sha256sum "$img" | cut -d' ' -f1)
hex16=${digest:7:16}

# Every file a test made: none may stay attached to a loop device, and no
# mount or mount point of an image may stay under /run/airlock/image.
files=("$img")
no_leftovers() { # WHAT
	local f
	for f in "${files[@]}"; do
		[ -z "$(losetup -j "$f" 2>/dev/null)" ] ||
			fail "$1: $f is still attached: $(losetup -j "$f")"
	done
	! grep -q "/run/airlock/image/" /proc/self/mountinfo ||
		fail "$1: an image is still mounted: $(grep /run/airlock/image/ \
			/proc/self/mountinfo)"
	! ls /run/airlock/image/ 2>/dev/null | grep -q . ||
		fail "$1: a mount point is left: $(ls /run/airlock/image/)"
}
# Whatever happens, the test leaves none of its images mounted: a failed
# run must not make the next one fail at its first check.
pk_cleanup() {
	local f dev m
	for f in "${files[@]}"; do
		for dev in $(losetup -j "$f" -n -O NAME 2>/dev/null); do
			for m in $(findmnt -rn -o TARGET -S "$dev"); do
				umount -l "$m" && rmdir "$m" || true
			done
		done
	done
	dmn_cleanup
}
trap pk_cleanup EXIT
# Other users of /run/airlock/image would make the checks above lie.
! grep -q "/run/airlock/image/" /proc/self/mountinfo ||
	fail "an image is mounted before the test: cannot tell leftovers"
no_leftovers "before"

"$AIRLOCK_BIN" sandbox run --image "$img" --json -- /bin/sh -c \
	'cat /etc/hosts; ls / 2>&1; echo done' > run.json 2> run.err ||
	{ cat run.err; fail "sandbox run on the packed image"; }
[ "$(jq_field run.json r.image_digest)" = "$digest" ] ||
	fail "digest: $(jq_field run.json r.image_digest), not $digest"
grep -q "packed-image.test" run.json || fail "the image's /etc/hosts unseen"
grep -q "ls: not found" run.json ||
	fail "the host's ls is visible through the image: $(cat run.json)"
grep -q "image mounted file=$img digest=$digest root=/run/airlock/image/" \
	run.err || fail "no mount line: $(cat run.err)"
no_leftovers "after sandbox run"
pass "sandbox run --image FILE runs on the file's tree and leaves nothing"

# refuse FILE PATTERN WHAT: sandbox run on FILE exits 1 with one line
# naming the reason, and mounts nothing.
refuse() {
	files+=("$1")
	set +e
	"$AIRLOCK_BIN" sandbox run --image "$1" -- /bin/sh -c 'echo ran' \
		> out.txt 2> err.txt
	local rc=$?
	set -e
	[ "$rc" -eq 1 ] || { cat err.txt; fail "$3: exit $rc, not 1"; }
	! grep -q ran out.txt || fail "$3: the payload ran"
	grep -q "^airlock sandbox: the image was refused: .*$2" err.txt ||
		{ cat err.txt; fail "$3: no refusal matching '$2'"; }
	[ "$(grep -c "^airlock sandbox:" err.txt)" -eq 1 ] ||
		{ cat err.txt; fail "$3: not one line"; }
	no_leftovers "$3"
	pass "refused: $3"
}

refuse "$imgdir/missing.img" "missing.img: No such file or directory" \
	"a file that is not there"
head -c 200000 /dev/urandom > "$imgdir/random.img"
refuse "$imgdir/random.img" "random.img: not a squashfs 4 image" \
	"a file that is not squashfs"
head -c $(($(stat -c %s "$img") / 2)) "$img" > "$imgdir/half.img"
refuse "$imgdir/half.img" "half.img: truncated: the image needs" \
	"a truncated image"
ln -s base.img "$imgdir/link.img"
refuse "$imgdir/link.img" "link.img: a symbolic link" "a symlink"
cp "$img" "$imgdir/shared.img"
chmod 0666 "$imgdir/shared.img"
refuse "$imgdir/shared.img" \
	"shared.img: must be owned by root and writable by root only" \
	"a file others can write"
cp "$img" "$imgdir/foreign.img"
chown 1:1 "$imgdir/foreign.img"
refuse "$imgdir/foreign.img" \
	"foreign.img: must be owned by root and writable by root only" \
	"a file not owned by root"
mkdir -m 0775 "$it_tmp/open"
cp "$img" "$it_tmp/open/base.img"
refuse "$it_tmp/open/base.img" \
	"$it_tmp/open: must be owned by root and writable by root only" \
	"a file in a directory others can write"

wrong=sha256:$(printf '0%.0s' $(seq 64))
home="$it_tmp/pinned-wrong"
mkdir -p "$home"
printf 'registry = %s\nimage = %s\nimage_digest = %s\n' \
	"$AL_TEST_REGISTRY" "$img" "$wrong" > "$home/airlock.conf"
it_update_json "$home" "$url"
[ "$rc" -eq 2 ] || { cat err.txt; fail "wrong pin: exit $rc, not 2"; }
grep -q "$img has digest $digest, but the pinned digest is $wrong" err.txt ||
	{ cat err.txt; fail "wrong pin: message"; }
[ ! -e "$home/db" ] || fail "wrong pin: a store was created"
no_leftovers "update with a wrong pin"
pass "update: a pinned digest that does not match stops the job"

# A command line killed outright leaves its mount; the next job's sweep
# removes it (and the sandbox's cgroups), as a daemon's start would.
"$AIRLOCK_BIN" sandbox run --image "$img" -- /bin/sh -c 'sleep 60' \
	> /dev/null 2> killed.err &
cli=$!
for _ in $(seq 1 100); do
	grep -q "/run/airlock/image/$hex16-$cli-0" /proc/self/mountinfo && break
	sleep 0.1
done
grep -q "/run/airlock/image/$hex16-$cli-0" /proc/self/mountinfo ||
	{ cat killed.err; fail "sandbox run did not mount the image"; }
kill -KILL "$cli"
wait "$cli" 2>/dev/null || true
grep -q "/run/airlock/image/$hex16-$cli-0" /proc/self/mountinfo ||
	fail "the killed run's mount is gone already: nothing to sweep"

home="$it_tmp/pinned"
mkdir -p "$home"
printf 'registry = %s\nimage = %s\nimage_digest = %s\n' \
	"$AL_TEST_REGISTRY" "$img" "$digest" > "$home/airlock.conf"
it_update_json "$home" "$url"
# The image has no npm: the install fails, and the record says on what.
[ "$rc" -eq 1 ] || { cat err.txt; fail "packed image job: exit $rc, not 1"; }
[ "$(jq_field job.json 'r.image.name + " " + r.image.digest + " " +
	r.image.format + " " + r.state')" = "$img $digest squashfs failed" ] ||
	fail "update record: $(jq_field job.json r.image) $(jq_field job.json r.state)"
grep -q "npm of the packed image" job.json ||
	fail "the install did not run the image's npm: $(cat job.json)"
grep -q "removed 1 stale image mounts" err.txt ||
	{ cat err.txt; fail "update: the killed run's mount was not swept"; }
no_leftovers "after update"
pass "update: the job runs on the packed image and records its digest"
pass "a killed sandbox run's mount is removed by the next job"

# The daemon: one verification for many jobs.
dmn_use_home "$it_tmp/dhome"
printf 'image = %s\nimage_digest = %s\nworkers = 1\n' "$img" "$digest" \
	>> "$it_home/airlock.conf"
dmn_start
mounted() { grep -c "I sandbox .*image mounted file=$img" "$dmn_log" || true; }
[ "$(mounted)" -eq 1 ] || { cat "$dmn_log"; fail "daemon: no mount at start"; }
opts=$(findmnt -rn -o FSTYPE,OPTIONS -S "$(findmnt -rn -o SOURCE \
	"/run/airlock/image/$hex16-$dmn_pid-0")")
[[ "$opts" == squashfs\ ro,nosuid,nodev* ]] || fail "daemon mount: $opts"
[ "$(losetup -n -O RO,AUTOCLEAR -j "$img" | tr -s ' ')" = " 1 1" ] &&
	[ "$(losetup -j "$img" | wc -l)" -eq 1 ] ||
	fail "loop device: $(losetup -l -j "$img")"
pass "the daemon mounts the image once, squashfs ro,nosuid,nodev, loop ro"

reload() { # HUP the daemon and wait until it reloaded: no job may start
	# on the old settings meanwhile
	local n
	n=$(grep -c "configuration reloaded" "$dmn_log" || true)
	kill -HUP "$dmn_pid"
	for _ in $(seq 1 100); do
		[ "$(grep -c "configuration reloaded" "$dmn_log")" -gt "$n" ] &&
			return 0
		sleep 0.1
	done
	fail "the daemon did not reload"
}
run_dmn_job() { # STATE: enqueue a job and wait for it to end in STATE
	id=$(al job enqueue "$url" --json | json_id)
	dmn_wait "$id" r.state "$1" 180
}
run_dmn_job failed
[ "$(dmn_field "$id" 'r.image.digest + " " + r.image.format')" = \
	"$digest squashfs" ] || fail "daemon record: $(dmn_field "$id" r.image)"
run_dmn_job failed
[ "$(dmn_field "$id" r.image.digest)" = "$digest" ] || fail "second record"
[ "$(mounted)" -eq 1 ] ||
	{ cat "$dmn_log"; fail "daemon: the image was verified per job"; }
pass "daemon jobs record the digest of the image mounted once"

touch "$img"
run_dmn_job failed
[ "$(mounted)" -eq 2 ] ||
	{ cat "$dmn_log"; fail "daemon: a changed file was not verified again"; }
printf 'image_digest = %s\n' "$wrong" >> "$it_home/airlock.conf"
reload
run_dmn_job failed
al job show "$id" > show.txt
grep -q "has digest $digest, but the pinned digest is $wrong" show.txt ||
	{ cat show.txt; fail "daemon: wrong pin after a reload"; }
[ "$(dmn_field "$id" r.image)" = "" ] || fail "a job ran on a refused image"
! grep -q "/run/airlock/image/" /proc/self/mountinfo ||
	fail "daemon: the refused image stays mounted"
pass "a changed file is verified again; a reload to another pin refuses it"

sed -i "/^image_digest = $wrong/d" "$it_home/airlock.conf"
reload
# Changed while a job runs on it: the next job gets a new mount, the
# running one keeps its own until it ends.
id=$(al job enqueue "$url" --json | json_id)
dmn_wait "$id" r.sched.stage baseline-install 120
[ "$(grep -c "/run/airlock/image/" /proc/self/mountinfo)" -eq 1 ] &&
	grep -q "/run/airlock/image/$hex16-$dmn_pid-" /proc/self/mountinfo ||
	fail "the job does not run on the daemon's one mount"
retired() { grep -c "image $img changed .*retired" "$dmn_log" || true; }
n=$(retired)
touch "$img"
reload
for _ in $(seq 1 100); do
	[ "$(retired)" -gt "$n" ] && break
	sleep 0.1
done
[ "$(retired)" -gt "$n" ] || fail "the reload did not retire the mount"
[ "$(grep -c "/run/airlock/image/$hex16-$dmn_pid-" /proc/self/mountinfo)" \
	-eq 2 ] || { tail -30 "$dmn_log"; al job show "$id";
		grep "/run/airlock/image/" /proc/self/mountinfo
		fail "the running job's mount is gone"; }
dmn_wait "$id" r.state failed 120
[ "$(dmn_field "$id" r.image.digest)" = "$digest" ] || fail "running record"
for _ in $(seq 1 50); do
	[ "$(grep -c "/run/airlock/image/$hex16-$dmn_pid-" \
		/proc/self/mountinfo)" -eq 1 ] && break
	sleep 0.1
done
[ "$(grep -c "/run/airlock/image/$hex16-$dmn_pid-" /proc/self/mountinfo)" \
	-eq 1 ] || fail "the retired mount stays after its job ended"
al job show "$id" > show.txt
pass "a mount retired under a running job lasts until the job ends"

run_dmn_job failed
stale="/run/airlock/image/$hex16-$dmn_pid-"
grep -q "$stale" /proc/self/mountinfo || fail "no mount after the fix"
dmn_stop KILL
grep -q "$stale" /proc/self/mountinfo ||
	fail "the killed daemon's mount is gone already: nothing to sweep"
dmn_start
grep -q "removed 1 stale image mounts" "$dmn_log" ||
	{ cat "$dmn_log"; fail "the stale mount was not removed"; }
! grep -q "$stale" /proc/self/mountinfo || fail "the stale mount stays"
dmn_stop
[ "$dmn_rc" -eq 0 ] || fail "daemon exit $dmn_rc"
no_leftovers "after the daemon stopped"
dmn_no_leftovers
pass "a killed daemon's mount is removed at the next start, none after a stop"
