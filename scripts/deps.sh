#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian 12 packages that building iocp and booting its test
# guests need. Does nothing (quickly) when they are all installed already.
set -euo pipefail

pkgs=(
	# userspace build, and the tools the scripts use
	gcc make libc6-dev binutils cpio gzip xz-utils perl python3 kmod
	# kernels to build for and boot, their headers, and the source tree
	# the kselftest headers and checkpatch come from
	linux-image-amd64 linux-headers-amd64
	linux-image-6.12-amd64 linux-headers-6.12-amd64
	linux-source-6.12
	# building the debug kernel from linux-source-6.12
	bc bison flex libelf-dev libssl-dev
	# guests, static checks, and make fuzz's second fuzzer
	qemu-system-x86 busybox-static sparse trinity
	# make bench: the io_uring baseline and the chart
	liburing-dev gnuplot-nox
	groff-base mandoc	# check_docs.sh: the lint of the man pages
	dkms pkg-config		# make dkms-install; make check's packaging checks
)

missing=()
for p in "${pkgs[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ $status == installed ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

echo "deps: installing ${missing[*]}"
sudo=
[[ $(id -u) -eq 0 ]] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -q
$sudo apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null
