#!/usr/bin/env bash
# The appliance's seed as a hostile or careless seed maker writes it,
# read by the real boot scripts (appliance/os/firstboot and
# appliance/os/seed-admin-keys) with a real airlockd, all inside a
# private mount namespace: tmpfs over /var/lib (with the state "partition"
# /var/lib/airlock), /run, /usr/local/bin; /dev/disk holding a
# stand-in for the AIRLOCK-SEED label; /dev/tty1 and /dev/ttyS0 are
# files the test reads; /etc/group gains an airlock group. Nothing of
# the machine's own paths is touched (/dev gets an overlay in the
# namespace, since the machine may have no /dev/disk).
#  - a seed's airlock.conf, credentials, admin-keys or
#    export-push-known-hosts that is a symlink (to a file of the
#    appliance's) or too big fails the boot and copies
#    nothing;
#  - credentials lines other than AIRLOCK_GIT_USER/TOKEN (LD_PRELOAD,
#    a quote carrying a line on) fail it: the file is an EnvironmentFile
#    of the root daemon;
#  - an admin-keys line whose type is "--help" (an option to `keys admin
#    add`, which then succeeds adding nothing) fails the unit instead of
#    reporting a key added; a key named "--help" is added as seed-N;
#  - a seed filesystem of another type than ISO 9660 is not mounted;
#  - an escape sequence in a seed line never reaches tty1 or the serial
#    line;
#  - at a later boot a seed's airlock.conf replaces the one in force only
#    when it loads, and credentials are replaced.
. "$(dirname "$0")/lib.sh"
: "${AIRLOCKD_BIN:?run through tests/run (AIRLOCKD_BIN unset)}"

cd "$it_tmp"
ssh-keygen -q -t ed25519 -N '' -C alice -f alice
ssh-keygen -q -t ed25519 -N '' -C bob -f bob
ssh-keygen -q -t ed25519 -N '' -C carol -f carol
read -r _ alice_key _ < alice.pub
read -r _ bob_key _ < bob.pub
read -r _ carol_key _ < carol.pub
group=$(mktemp "$it_tmp/group.XXXXXX")
cat /etc/group > "$group"
getent group airlock >/dev/null || echo 'airlock:x:64999:' >> "$group"

# The namespace's script: $1 names the case, run with the seed files
# in ./seed-$1.
cat > ns.sh <<'EOF'
set -u
src=$1 it=$2 group=$3 airlock=$4 airlockd=$5 case=$6
mount --make-rprivate /
# A persist-CASE folder is the home of CASE (a later boot of the same
# state disk); else the home is new.
mount -t tmpfs tmpfs /var/lib && mkdir /var/lib/airlock || exit 90
if [ -d "$it/persist-$case" ]; then
	mount --bind "$it/persist-$case" /var/lib/airlock || exit 90
else
	mount -t tmpfs tmpfs /var/lib/airlock || exit 90
fi
# A tmpfs over all of /run: /run/airlock need not exist on this machine
# (nothing may have made it since it booted), and must not be made here.
mount -t tmpfs tmpfs /run && mkdir /run/airlock || exit 91
# A seed-CASE.dev file names a block device for firstboot to mount;
# else the seed directory is copied to a tmpfs already mounted there.
dev=
if [ -f "$it/seed-$case.dev" ]; then
	dev=$(cat "$it/seed-$case.dev")
else
	mkdir /run/airlock/seed && mount -t tmpfs tmpfs /run/airlock/seed &&
		cp -a "$it/seed-$case/." /run/airlock/seed/ || exit 92
fi
mount -t tmpfs tmpfs /usr/local/bin && ln -s "$airlock" /usr/local/bin/airlock
# /dev/disk may not be there: an overlay over /dev holds it.
ov=$it/devov-$case
mkdir -p "$ov" && mount -t tmpfs tmpfs "$ov" && mkdir "$ov/u" "$ov/w" &&
	mount -t overlay overlay -o "lowerdir=/dev,upperdir=$ov/u,workdir=$ov/w" \
		/dev && mkdir -p /dev/disk/by-label || exit 93
if [ -n "$dev" ]; then
	ln -s "$dev" /dev/disk/by-label/AIRLOCK-SEED
else
	touch /dev/disk/by-label/AIRLOCK-SEED
fi || exit 93
: > "$it/tty1-$case"; : > "$it/ttyS0-$case"
mount --bind "$it/tty1-$case" /dev/tty1 &&
	mount --bind "$it/ttyS0-$case" /dev/ttyS0 || exit 94
mount --bind "$group" /etc/group || exit 95
rc=0
bash "$src/appliance/os/firstboot" > "$it/fb-$case.txt" 2>&1 || rc=$?
echo "firstboot=$rc"
ls -A /var/lib/airlock > "$it/home-$case.txt"
[ -e /var/lib/airlock/credentials ] &&
	cp /var/lib/airlock/credentials "$it/cred-$case.txt"
[ "$rc" -eq 0 ] && [ -s /run/airlock/seed-admin-keys ] || exit 0
"$airlockd" --home /var/lib/airlock > "$it/dmn-$case.log" 2>&1 &
dpid=$!
trap 'kill "$dpid" 2>/dev/null; wait "$dpid"' EXIT
for _ in $(seq 1 200); do
	"$airlock" --home /var/lib/airlock status > /dev/null 2>&1 && break
	sleep 0.05
done
rc=0
bash "$src/appliance/os/seed-admin-keys" > "$it/sk-$case.txt" 2>&1 || rc=$?
echo "seedkeys=$rc"
"$airlock" --home /var/lib/airlock keys admin list > "$it/keys-$case.txt" 2>&1
exit 0
EOF

# Loop devices of the filesystem seeds, detached whatever happens.
loops=()
seed_cleanup() {
	local l
	for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
	it_cleanup
}
trap seed_cleanup EXIT

# run CASE: ns.sh for CASE; its summary in out-CASE.txt.
run() {
	unshare -m bash ns.sh "$AL_SOURCE_DIR" "$it_tmp" "$group" "$AIRLOCK_BIN" \
		"$AIRLOCKD_BIN" "$1" > "out-$1.txt" 2>&1 ||
		fail "namespace for $1 ($?): $(cat "out-$1.txt")"
}
conf_line() {
	printf 'registry = %s\nadmin_keys_file = /var/lib/airlock/ssh/admin-keys\n' \
		"$AL_TEST_REGISTRY"
}
# seed CASE: a fresh seed directory with a good airlock.conf.
seed() { mkdir "seed-$1" && conf_line > "seed-$1/airlock.conf"; }
no_esc() {
	if LC_ALL=C grep -q $'\e' "$@"; then
		fail "an escape sequence reached the console: $*"
	fi
}

# A good seed, to know the scaffolding works: every key added.
seed good
printf 'AIRLOCK_GIT_USER=bot\n# a comment\n\nAIRLOCK_GIT_TOKEN=t0k3n_-./+=\n' \
	> seed-good/credentials
# carol's line: no comment, and the CR of a file written on Windows.
printf 'ssh-ed25519 %s alice\nssh-ed25519 %s bob@test\r\nssh-ed25519 %s\r\n' \
	"$alice_key" "$bob_key" "$carol_key" > seed-good/admin-keys
run good
grep -qx 'firstboot=0' out-good.txt && grep -qx 'seedkeys=0' out-good.txt ||
	fail "good seed: $(cat out-good.txt fb-good.txt sk-good.txt 2>&1)"
grep -q ' alice$' keys-good.txt && grep -q ' bob@test$' keys-good.txt &&
	grep -q ' seed-3$' keys-good.txt ||
	fail "good seed: keys: $(cat keys-good.txt)"
cmp -s seed-good/credentials cred-good.txt || fail "credentials not copied"
pass "a good seed: airlock.conf, credentials and the three keys taken"

# Symlinks on the seed, to the appliance's own files: refused.
for f in airlock.conf credentials admin-keys export-push-known-hosts; do
	seed "link-$f"
	rm -f "seed-link-$f/$f"
	ln -s /var/lib/airlock/ssh/ssh_host_ed25519_key "seed-link-$f/$f"
	run "link-$f"
	grep -qx 'firstboot=1' "out-link-$f.txt" ||
		fail "a symlinked seed $f taken: $(cat "out-link-$f.txt" "fb-link-$f.txt")"
	grep -q "seed's $f is not a regular file" "fb-link-$f.txt" ||
		fail "symlinked $f: $(cat "fb-link-$f.txt")"
	grep -q "seed's $f is not a regular file" "tty1-link-$f" ||
		fail "symlinked $f: not on tty1"
	! grep -qx 'credentials' "home-link-$f.txt" ||
		fail "symlinked $f: credentials copied anyway"
done
pass "a seed's airlock.conf, credentials, admin-keys or" \
	"export-push-known-hosts as a symlink fails the boot"

# Too big: an airlock.conf of 2 MiB (the daemon reads 1 MiB).
seed big
head -c $((2 << 20)) /dev/zero | tr '\0' '#' > seed-big/airlock.conf
run big
grep -qx 'firstboot=1' out-big.txt && grep -q "more than 1048576" fb-big.txt ||
	fail "a 2 MiB airlock.conf: $(cat out-big.txt fb-big.txt)"
! grep -qx airlock.conf home-big.txt || fail "a 2 MiB airlock.conf was copied"
pass "a seed's airlock.conf over 1 MiB fails the boot"

# Credentials: only AIRLOCK_GIT_USER and AIRLOCK_GIT_TOKEN.
n=0
for bad in 'LD_PRELOAD=/var/lib/airlock/x.so' \
	'AIRLOCK_GIT_TOKEN="abc' "AIRLOCK_GIT_TOKEN='abc" 'AIRLOCK_GIT_TOKEN=ab\' \
	'AIRLOCK_HOME=/tmp' ' AIRLOCK_GIT_USER=x' 'AIRLOCK_GIT_TOKEN=a b' \
	$'AIRLOCK_GIT_TOKEN=\e[2J'; do
	n=$((n + 1))
	seed "cred$n"
	printf 'AIRLOCK_GIT_USER=bot\n%s\nAIRLOCK_GIT_TOKEN=t\n' "$bad" > "seed-cred$n/credentials"
	run "cred$n"
	grep -qx 'firstboot=1' "out-cred$n.txt" ||
		fail "credentials line '$bad' taken: $(cat "fb-cred$n.txt")"
	! grep -qx credentials "home-cred$n.txt" ||
		fail "credentials with '$bad' copied"
	no_esc "tty1-cred$n" "ttyS0-cred$n"
done
pass "credentials with any other line (LD_PRELOAD, quotes, backslash) fail the boot"

# An admin-keys line whose type is an option of `keys admin add`.
seed opt
printf -- '--help %s alice\n' "$alice_key" > seed-opt/admin-keys
run opt
grep -qx 'firstboot=0' out-opt.txt && grep -qx 'seedkeys=1' out-opt.txt ||
	fail "a '--help' key type: $(cat out-opt.txt sk-opt.txt)"
grep -q "is not a key line" sk-opt.txt || fail "--help type: $(cat sk-opt.txt)"
pass "an admin-keys line with the type '--help' fails, not 'added'"

# Names that are options, and escape sequences in every field.
seed names
printf 'ssh-ed25519 %s --help\nssh-ed25519 %s \e]2;owned\a\e[2J\n' \
	"$alice_key" "$bob_key" > seed-names/admin-keys
run names
grep -qx 'seedkeys=0' out-names.txt || fail "names: $(cat out-names.txt sk-names.txt)"
grep -q ' seed-1$' keys-names.txt && grep -q ' seed-2$' keys-names.txt ||
	fail "a key named --help or with escapes not added as seed-N: $(cat keys-names.txt)"
seed esc
printf 'ssh-ed25519\e[2J %s x\n' "$alice_key" > seed-esc/admin-keys
run esc
grep -qx 'seedkeys=1' out-esc.txt || fail "escape type: $(cat out-esc.txt sk-esc.txt)"
grep -q 'is not a key line' tty1-esc || fail "escape type: nothing on tty1"
no_esc tty1-esc ttyS0-esc sk-esc.txt
pass "keys named '--help' are added as seed-N; escapes never reach the console"

# The seed's filesystem: ISO 9660 (docs/appliance.md); any other type
# the kernel knows (here ext4, labelled AIRLOCK-SEED all the same) is
# not mounted: a seed's bytes do not reach another filesystem driver.
# fs_seed CASE TYPE: a seed-CASE image of TYPE holding admin-keys.
fs_seed() {
	local img="$it_tmp/seed-$1.img" l
	mkdir -p "seed-$1" && cp admin-keys "seed-$1/" || fail "seed-$1"
	case $2 in
	iso9660) xorriso -as mkisofs -quiet -V AIRLOCK-SEED -r -J \
		-o "$img" "seed-$1" 2> "xorriso-$1.txt" ;;
	ext4) truncate -s 4M "$img" &&
		mkfs.ext4 -q -L AIRLOCK-SEED -d "seed-$1" "$img" ;;
	esac || fail "cannot make the $2 seed"
	l=$(losetup --find --show --read-only "$img") || fail "no loop device"
	loops+=("$l")
	echo "$l" > "seed-$1.dev"
}
printf 'ssh-ed25519 %s alice\n' "$alice_key" > admin-keys
fs_seed ext ext4
run ext
grep -qx 'firstboot=1' out-ext.txt && grep -q "cannot mount the AIRLOCK-SEED" fb-ext.txt ||
	fail "an ext4 seed was mounted: $(cat out-ext.txt fb-ext.txt)"
pass "an ext4 filesystem labelled AIRLOCK-SEED is not mounted"
# The ISO itself only where this kernel has iso9660 (a test does not load
# modules; tests/vm/appliance-boot --seed-iso boots with one).
if grep -qw iso9660 /proc/filesystems; then
	fs_seed iso iso9660
	run iso
	grep -qx 'firstboot=0' out-iso.txt && grep -qx 'seedkeys=0' out-iso.txt &&
		grep -q ' alice$' keys-iso.txt ||
		fail "an ISO seed: $(cat out-iso.txt fb-iso.txt sk-iso.txt keys-iso.txt 2>&1)"
	pass "an ISO 9660 seed is mounted and its key added"
else
	echo "not run: an ISO 9660 seed (this kernel has no iso9660 filesystem)"
fi

# Later boots: a seed whose airlock.conf differs replaces the one in
# force when it loads (the old one kept as airlock.conf.prev), and
# changes nothing when it does not; other credentials replace the old.
mkdir reseed-home
for c in 1 2 3; do ln -s "$it_tmp/reseed-home" "persist-reseed$c"; done
seed reseed1
echo "job_retention_days = 45" >> seed-reseed1/airlock.conf
printf 'AIRLOCK_GIT_USER=one\nAIRLOCK_GIT_TOKEN=first\n' > seed-reseed1/credentials
run reseed1
grep -qx 'firstboot=0' out-reseed1.txt || fail "reseed1: $(cat fb-reseed1.txt)"
seed reseed2
echo "job_retention_days = 30" >> seed-reseed2/airlock.conf
printf 'AIRLOCK_GIT_USER=two\nAIRLOCK_GIT_TOKEN=second\n' > seed-reseed2/credentials
run reseed2
grep -qx 'firstboot=0' out-reseed2.txt || fail "reseed2: $(cat fb-reseed2.txt)"
cmp -s seed-reseed2/airlock.conf reseed-home/airlock.conf ||
	fail "a later seed's airlock.conf was not taken: $(cat fb-reseed2.txt)"
cmp -s seed-reseed1/airlock.conf reseed-home/airlock.conf.prev ||
	fail "the replaced airlock.conf was not kept as airlock.conf.prev"
cmp -s seed-reseed2/credentials reseed-home/credentials ||
	fail "a later seed's credentials were not taken"
pass "a later seed replaces airlock.conf (the old one kept) and credentials"
seed reseed3
echo "no_such_setting = 1" >> seed-reseed3/airlock.conf
printf '\033[2J' >> seed-reseed3/airlock.conf
echo " = x" >> seed-reseed3/airlock.conf
run reseed3
grep -qx 'firstboot=0' out-reseed3.txt ||
	fail "a bad later airlock.conf stopped the boot: $(cat fb-reseed3.txt)"
cmp -s seed-reseed2/airlock.conf reseed-home/airlock.conf ||
	fail "a later seed's airlock.conf that does not load was taken"
grep -q "the seed's airlock.conf does not load" tty1-reseed3 ||
	fail "a bad later airlock.conf: nothing on tty1: $(cat fb-reseed3.txt)"
no_esc tty1-reseed3 ttyS0-reseed3
pass "a later seed's airlock.conf that does not load changes nothing, said on tty1"
