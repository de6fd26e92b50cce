#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# debug-kernel.sh dir|build
#
# The debug kernel (KASAN, lockdep, kmemleak, fault injection) of make
# check, built from Debian's linux-source-6.12 with tinyconfig plus
# selftests/config.debug. It is cached outside the source tree, in
# $IOCP_CACHE/debug-<package version>-<fragment hash>, so only the first
# run pays for the build (about 6 minutes on 2 cores).
#
#   dir    print the cache directory (the kernel build tree)
#   build  build it unless cached, then print the directory
set -euo pipefail

fragment=$(realpath "$(dirname "$0")/../selftests/config.debug")
pkg=linux-source-6.12
tarball=/usr/src/$pkg.tar.xz
cache=${IOCP_CACHE:-$HOME/.cache/iocp}

version=$(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null || true)
hash=$(sha256sum "$fragment" | cut -c1-12)
dir=$cache/debug-${version:-none}-$hash

build() {
	local tmp jobs opt
	if [[ -z $version || ! -f $tarball ]]; then
		echo "debug-kernel.sh: $pkg is not installed (make deps)" >&2
		exit 1
	fi
	tmp=$dir.tmp$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	trap 'rm -rf "$tmp"' EXIT
	jobs=$(nproc)
	echo "debug-kernel.sh: building the debug kernel in $dir (-j$jobs)" >&2
	tar -xJf "$tarball" -C "$tmp" --strip-components=1
	(
		cd "$tmp"
		make -s tinyconfig
		scripts/kconfig/merge_config.sh -m .config "$fragment" >/dev/null
		make -s olddefconfig
		make -s -j"$jobs" bzImage modules
	) >"$tmp.log" 2>&1 || {
		tail -n 40 "$tmp.log" >&2
		echo "debug-kernel.sh: build failed (log: $tmp.log)" >&2
		exit 1
	}
	# An option whose dependencies are missing is dropped silently: refuse.
	while read -r opt; do
		case $opt in
		CONFIG_*=n) grep -qx "${opt%=n}=y" "$tmp/.config" || continue ;;
		CONFIG_*) grep -qx "$opt" "$tmp/.config" && continue ;;
		*) continue ;;
		esac
		echo "debug-kernel.sh: $opt did not survive olddefconfig" >&2
		exit 1
	done < <(grep -E '^CONFIG_' "$fragment")
	rm -f "$tmp.log"
	rm -rf "$dir"
	mv "$tmp" "$dir"
	trap - EXIT
	# Older builds of other fragments or package versions are not needed.
	find "$cache" -maxdepth 1 -type d -name 'debug-*' ! -name "${dir##*/}" \
		-exec rm -rf {} + 2>/dev/null || true
}

case ${1:-} in
dir) ;;
build)
	mkdir -p "$cache"
	# One build at a time; a second caller waits and then finds it cached.
	exec 9>"$cache/debug-kernel.lock"
	flock 9
	[[ -e $dir/arch/x86/boot/bzImage && -e $dir/Module.symvers ]] || build
	;;
*)
	echo "usage: $0 dir|build" >&2
	exit 2
	;;
esac
echo "$dir"
