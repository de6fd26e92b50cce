#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# mkinitramfs.sh OUT.cpio.gz MODULE.ko [-t TEST]... [-b PROGRAM]...
#
# A gzipped initramfs holding the static busybox, scripts/guest-init.sh as
# /init, the module as /iocp.ko, tests in /tests and programs in /bin.
set -euo pipefail

out=$1
ko=$2
shift 2
here=$(dirname "$0")

busybox=$(command -v busybox || true)
if [[ -z $busybox ]] || readelf -l "$busybox" | grep -q 'program interpreter'; then
	echo "mkinitramfs.sh: a static busybox is needed (apt-get install busybox-static)" >&2
	exit 1
fi

root=$(mktemp -d "${TMPDIR:-/tmp}/iocp-initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,tests}
cp "$busybox" "$root/bin/busybox"
cp "$here/guest-init.sh" "$root/init"
cp "$ko" "$root/iocp.ko"
while getopts t:b: opt; do
	case $opt in
	t) cp "$OPTARG" "$root/tests/" ;;
	b)
		cp "$OPTARG" "$root/bin/"
		# A dynamic program brings its libraries and loader.
		for lib in $(ldd "$OPTARG" 2>/dev/null | grep -oE '/[^ ]+' || true); do
			mkdir -p "$root$(dirname "$lib")"
			cp -L "$lib" "$root$lib"
		done
		;;
	*) exit 2 ;;
	esac
done
# A RAM disk with a filesystem for the tests on uncached files: the
# kernel's brd and ext4 modules (with what they depend on) when the kernel
# the module was built for has them as modules; /blk-modules lists them in
# load order for guest-init.sh. A kernel with them built in (the debug
# kernel) needs nothing; one with neither gets no block device and the
# tests that need it skip.
kver=$(modinfo -F vermagic "$ko" 2>/dev/null | awk '{print $1}')
moddir=/lib/modules/$kver
: >"$root/blk-modules"
# add_module NAME: add NAME after its dependencies (depth first).
add_module() {
	local name=$1 file dep rel dest
	file=$(modinfo -k "$kver" -F filename "$name" 2>/dev/null) || return 0
	[[ -f $file ]] || return 0 # built in
	rel=${file#"$moddir"/}
	rel=${rel%.xz}
	rel=${rel%.zst}
	grep -qx "/blk/$rel" "$root/blk-modules" && return 0
	# Soft "pre:" dependencies are often aliases (ext4: crypto-crc32c,
	# which ext4 needs to mount anything): every module they resolve to.
	for dep in $(modinfo -k "$kver" -F softdep "$name" 2>/dev/null |
		sed -n 's/.*pre: *\([^:]*\).*/\1/p' | sed 's/post//'); do
		for m in $(modprobe -S "$kver" -R "$dep" 2>/dev/null || echo "$dep"); do
			add_module "$m"
		done
	done
	for dep in $(modinfo -k "$kver" -F depends "$name" 2>/dev/null | tr , ' '); do
		add_module "$dep"
	done
	dest=$root/blk/$rel
	mkdir -p "$(dirname "$dest")"
	case $file in
	*.xz) xz -dc "$file" >"$dest" ;;
	*.zst) zstd -qdc "$file" >"$dest" ;;
	*) cp "$file" "$dest" ;;
	esac
	echo "/blk/$rel" >>"$root/blk-modules"
}
if [[ -n $kver && -d $moddir ]]; then
	for m in brd ext4; do
		add_module "$m"
	done
fi
chmod 755 "$root/init"
# The kernel opens /dev/console before /init runs (needs root; without
# it, /init still gets its output through devtmpfs).
mknod "$root/dev/console" c 5 1 2>/dev/null || true

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
