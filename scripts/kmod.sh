#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# kmod.sh KDIR OUTDIR [KBUILD-ARGS...]
#
# Build iocp.ko against the kernel build tree KDIR in OUTDIR (one directory
# per kernel: out-of-tree builds write their objects next to the sources, so
# Kbuild, module/ and uapi/ are copied there first). Builds with W=1 and
# fails on any warning. With C=1 or C=2 among the arguments (sparse), fails
# on any checker warning located in our own files.
set -euo pipefail

kdir=$1
out=$2
shift 2

if [[ ! -e $kdir/Makefile ]]; then
	echo "kmod.sh: no kernel build tree at '$kdir' (run make deps, or set KDIR)" >&2
	exit 1
fi

mkdir -p "$out"
out=$(realpath "$out")
# Copy the sources, keeping their times so Kbuild rebuilds only what
# changed; drop copies of sources that no longer exist.
for d in module uapi; do
	[[ -d $out/$d ]] && find "$out/$d" -type f \( -name '*.[ch]' -o -name '*.S' \) -delete
done
cp -p Kbuild "$out/"
cp -pR module uapi "$out/"

log=$out/build.log
rc=0
make -C "$kdir" M="$out" W=1 KCFLAGS=-Werror "$@" modules 2>&1 | tee "$log" ||
	rc=$?

if [[ " $* " == *" C="[12]" "* ]]; then
	# sparse: warnings in kernel headers are not ours to fix
	bad=$(grep -F "$out/" "$log" |
		grep -E ':[0-9]+:([0-9]+:)? (warning|error):' || true)
else
	bad=$(grep -iE 'warning' "$log" || true)
fi

if [[ $rc -eq 0 && -n $bad ]]; then
	printf 'kmod.sh: warnings are errors:\n%s\n' "$bad" >&2
	rc=1
fi
if [[ $rc -ne 0 ]]; then
	echo "kmod.sh: module build against $kdir failed (log: $log)" >&2
	# so that the next build runs (and warns) again
	rm -f "$out/iocp.ko" "$out/iocp.o" "$out/Module.symvers"
	exit 1
fi
