#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Which kernels iocp is built for and booted on.
#
#   kernels.sh list           every kernel with a /boot image and a build tree
#   kernels.sh resolve NAME.. full releases for NAMEs, each a release or a
#                             prefix of one ("6.12" -> 6.12.117+deb12-amd64)
#   kernels.sh default        the kernel a plain `make` builds for
#   kernels.sh kdir RELEASE   its build tree
#   kernels.sh image RELEASE  its bootable image
#   kernels.sh kbuild RELEASE extra Kbuild arguments for its module
#
# Besides the /boot images with headers, two names are variants:
#   debug     the debug kernel scripts/debug-kernel.sh builds (listed
#             whenever it can be built);
#   nonotify  the newest Debian kernel, with the module built as for a
#             kernel without preempt notifiers (IOCP_NO_NOTIFIERS=1).
set -euo pipefail

here=$(dirname "$0")

# The newest kernel with a /boot image and a build tree.
newest() {
	stock | tail -n 1
}

kdir() {
	if [[ $1 == debug ]]; then
		"$here/debug-kernel.sh" dir
	elif [[ $1 == nonotify ]]; then
		kdir "$(newest)"
	elif [[ -e /lib/modules/$1/build/Makefile ]]; then
		echo "/lib/modules/$1/build"
	else
		echo "/usr/src/linux-headers-$1"
	fi
}

image() {
	if [[ $1 == debug ]]; then
		echo "$("$here/debug-kernel.sh" dir)/arch/x86/boot/bzImage"
	elif [[ $1 == nonotify ]]; then
		image "$(newest)"
	else
		echo "/boot/vmlinuz-$1"
	fi
}

stock() {
	local f rel
	for f in /boot/vmlinuz-*; do
		[[ -e $f ]] || continue
		rel=${f#/boot/vmlinuz-}
		[[ -e $(kdir "$rel")/Makefile ]] && echo "$rel"
	done | sort -V
}

list() {
	stock
	if [[ -n $(newest) ]]; then
		echo nonotify
	fi
	if [[ -f /usr/src/linux-source-6.12.tar.xz ]]; then
		echo debug
	fi
}

resolve() {
	local name rel found all
	all=$(list)
	for name in "$@"; do
		found=
		for rel in $all; do
			case $rel in
			"$name" | "$name".* | "$name"-* | "$name"+*)
				echo "$rel"
				found=1
				;;
			esac
		done
		if [[ -z $found ]]; then
			echo "kernels.sh: no installed kernel matches '$name'" \
				"(installed: $(echo "$all" | tr '\n' ' '))" >&2
			exit 1
		fi
	done
}

default() {
	local rel
	rel=$(uname -r)
	if [[ -e /lib/modules/$rel/build/Makefile ]]; then
		echo "$rel"
		return
	fi
	# No build tree for the running kernel: the newest installed headers.
	for rel in /usr/src/linux-headers-*/Module.symvers; do
		[[ -e $rel ]] || continue
		rel=${rel%/Module.symvers}
		echo "${rel#/usr/src/linux-headers-}"
	done | sort -V | tail -n 1
}

kbuild() {
	if [[ $1 == nonotify ]]; then
		echo IOCP_NO_NOTIFIERS=1
	fi
}

cmd=${1:-}
shift || true
case $cmd in
list | resolve | default | kdir | image | kbuild) "$cmd" "$@" ;;
*)
	echo "usage: $0 list|resolve NAME...|default|kdir|image|kbuild RELEASE" >&2
	exit 2
	;;
esac
