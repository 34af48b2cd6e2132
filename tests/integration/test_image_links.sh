#!/usr/bin/env bash
# The /etc files of a packed image are looked up inside the image: an
# image whose /etc/hosts, /etc/ssl or /etc/localtime is an absolute
# symlink gets what that path names in the image, never the host's file
# or directory of that name. An image is data: its links must not bind
# the host's own tree (here a directory and a file the test made, with a
# marker) into the sandbox.
. "$(dirname "$0")/lib.sh"

command -v mksquashfs >/dev/null || fail "mksquashfs (squashfs-tools) missing"
cd "$it_tmp"

# The host's "secrets": world-readable, so that only the bind stands
# between them and the sandbox.
host="$it_tmp/host"
mkdir -p -m 0755 "$host/ssl"
echo "HOST-SECRET-FILE" > "$host/hosts"
echo "HOST-SECRET-DIR" > "$host/ssl/marker"
chmod 0644 "$host/hosts" "$host/ssl/marker"
chmod 0755 "$it_tmp"

# A minimal system: a shell and cat, and the libraries they load.
tree="$it_tmp/tree"
it_mini_tree "$tree" /usr/bin/cat /usr/bin/ls
mkdir -p "$tree/usr/share/zoneinfo/Etc"
# The links: two name host paths, one (as Debian's) a path in the image.
ln -s "$host/hosts" "$tree/etc/hosts"
ln -s "$host/ssl" "$tree/etc/ssl"
echo "IMAGE-TZ" > "$tree/usr/share/zoneinfo/Etc/IMAGE"
ln -s /usr/share/zoneinfo/Etc/IMAGE "$tree/etc/localtime"
[ ! -e /usr/share/zoneinfo/Etc/IMAGE ] || fail "the host has Etc/IMAGE"
imgdir="$it_tmp/images"
mkdir -m 0755 "$imgdir"
img="$imgdir/links.img"
mksquashfs "$tree" "$img" -all-root -noappend -quiet -comp gzip > /dev/null
chmod 0644 "$img"

"$AIRLOCK_BIN" sandbox run --image "$img" --json -- /bin/sh -c \
	'cat /etc/hosts; ls /etc/ssl; cat /etc/ssl/marker; cat /etc/localtime;
	echo done' > run.json 2> run.err ||
	{ cat run.err; fail "sandbox run on the image"; }
grep -q done run.json || fail "the command did not run: $(cat run.json run.err)"
if grep -q HOST-SECRET run.json; then
	fail "an image's link bound a host path into the sandbox: $(cat run.json)"
fi
pass "an image's /etc links to host paths bind nothing of the host"
grep -q IMAGE-TZ run.json ||
	fail "the image's /etc/localtime link was not followed in the image: $(cat run.json)"
pass "an image's absolute /etc/localtime link names the image's file"
[ -z "$(losetup -j "$img" 2>/dev/null)" ] || fail "$img is still attached"
