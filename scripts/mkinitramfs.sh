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
chmod 755 "$root/init"
# The kernel opens /dev/console before /init runs (needs root; without
# it, /init still gets its output through devtmpfs).
mknod "$root/dev/console" c 5 1 2>/dev/null || true

mkdir -p "$(dirname "$out")"
(cd "$root" && find . | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet) |
	gzip -1 >"$out.tmp"
mv "$out.tmp" "$out"
