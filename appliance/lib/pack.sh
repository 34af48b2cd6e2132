# shellcheck shell=bash
# appliance/lib/pack.sh - what the image stages (disk qcow2 ova iso sums)
# and appliance/release share. Sourced, never run; the caller sets
# $stage to its own name for messages.

# The build-host package list and the mirror come from debian.sh, which
# the base and rootfs stages use too; its messages name the stage.
me=$stage
# shellcheck source=appliance/lib/debian.sh
. "$(dirname "${BASH_SOURCE[0]}")/debian.sh"
die() { printf '%s: %s\n' "$stage" "$*" >&2; exit 1; }
log() { printf '%s: %s\n' "$stage" "$*" >&2; }

# need PACKAGE... - install the build host's Debian packages a stage uses
# when they are missing (the list is in docs/appliance-build.md).
need() { need_host_packages "$@"; }

# fresh OUTPUT INPUT... - true when OUTPUT exists and nothing among the
# inputs (files, or trees searched whole) was changed after it: the
# stage then has nothing to do.
fresh() {
	local out=$1 in
	shift
	[ -e "$out" ] || return 1
	for in in "$@"; do
		[ -e "$in" ] || return 1
		[ -n "$(find "$in" -newer "$out" -print -quit 2>/dev/null)" ] &&
			return 1
	done
	return 0
}

# kernel_of TREE - the newest kernel version with both /boot/vmlinuz-V
# and /boot/initrd.img-V in TREE (the rootfs stage installs one).
kernel_of() {
	local v best=
	for v in "$1"/boot/vmlinuz-*; do
		v=${v##*/vmlinuz-}
		[ -f "$1/boot/initrd.img-$v" ] || continue
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then
			best=$v
		fi
	done
	[ -n "$best" ] || return 1
	printf '%s\n' "$best"
}

# The appliance's kernel command line after root= (contract, issue 8):
# tty1 for a screen, ttyS0 last so it is /dev/console and the serial log
# a hypervisor or appliance/release keeps shows the boot and the
# identity block.
CONSOLES="console=tty1 console=ttyS0,115200n8"

# GRUB's terminals: the screen and the first serial port, both at once.
# On UEFI the video drivers give the kernel the firmware's framebuffer for
# tty1 (without them GRUB boots Linux "in blind mode").
grub_terminals() {
	cat <<'CFG'
if [ "$grub_platform" = efi ]; then insmod all_video; fi
serial --unit=0 --speed=115200 --word=8 --parity=no --stop=1
terminal_input console serial
terminal_output console serial
CFG
}
