#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# dkms-check.sh [KERNEL...]
#
# The packaging checks of make check, run on the host (no guest); the
# output is KTAP:
#  - dkms.conf's PACKAGE_VERSION is the Makefile's VERSION;
#  - DKMS, one test per kernel: the Debian kernels among KERNELs (nonotify
#    and debug are variants, not installed kernels; when KERNELs name no
#    other, every installed one). `make dkms-install` builds and installs
#    the module for every kernel but the newest; then the newest arrives:
#    the kernel hook its package runs (dkms autoinstall) must install the
#    module too (AUTOINSTALL). Each kernel must then have iocp.ko in
#    /lib/modules/<release>/updates/dkms, built for that release, which
#    modprobe finds by name and by its char-major alias; after `make
#    dkms-uninstall`, nothing of it may remain;
#  - make dkms-uninstall removes the source tree and the module from DKMS;
#  - make install DESTDIR=<tmp> PREFIX=/usr: programs build against the
#    pkg-config files of libiocp and libiocp-win32 (shared, and static) and
#    run; make uninstall with the same variables leaves no file behind;
#  - make modules_install INSTALL_MOD_PATH=<tmp> for the newest of these
#    kernels: modprobe finds the module there; make modules_uninstall
#    removes it.
#
# The host is left as it was, whatever its own DKMS state: dkms runs in a
# private mount namespace (unshare) in which /lib/modules, /usr/src,
# /var/lib/dkms and /etc/dkms are trees in a temporary directory.
# /lib/modules/<release> there holds the kernel's build link, its modules.*
# files and its kernel/ directory (read-only); /usr/src the host's entries
# (read-only) but no iocp-*; /etc/dkms the default configuration, so that
# dkms signs with a key of its own, made in the private /var/lib/dkms.
# dkms's depmod, modprobe and the kernel hook see only these trees. Needs
# root, or unprivileged user namespaces; without either the DKMS tests are
# skipped.
set -euo pipefail

cd "$(dirname "$0")/.."
here=scripts
# Only what the checks pass to make: nothing of an enclosing make's command
# line or of the environment may change what is installed where.
unset MAKEFLAGS MFLAGS MAKELEVEL KVER KDIR DKMS_KERNELS DESTDIR PREFIX LIBDIR \
	INCLUDEDIR MANDIR UDEVDIR INSTALL_MOD_PATH INSTALL_MOD_DIR

version=$(sed -n 's/^VERSION := *//p' Makefile)
pkgsrc=/usr/src/iocp-$version

# ro_bind FROM TO: bind-mount FROM on TO, read-only.
ro_bind() {
	mount --bind "$1" "$2"
	mount -o remount,bind,ro "$2"
}

# add_kernel TMP RELEASE: in the sandbox, give /lib/modules the kernel
# RELEASE as its package installs it.
add_kernel() {
	local h=$1/host/modules/$2 m=/lib/modules/$2 f
	mkdir "$m" "$m/kernel"
	for f in "$h"/build "$h"/source "$h"/modules.*; do
		[[ -e $f || -L $f ]] && cp -P "$f" "$m/"
	done
	ro_bind "$h/kernel" "$m/kernel"
}

# installed RELEASE: in the sandbox, what is wrong with the module DKMS
# installed for RELEASE (nothing if all is right).
installed() {
	local k=$1 line path
	line=$(dkms status -m iocp -v "$version" -k "$k")
	if [[ $line != *": installed"* ]]; then
		echo "not installed; dkms status: ${line:-nothing}"
		return
	fi
	if ! line=$(modprobe -S "$k" --show-depends iocp 2>&1); then
		echo "modprobe does not find it: $line"
		return
	fi
	echo "$line" >&2
	path=${line#insmod }
	path=${path%% *}
	if [[ $line != "insmod /lib/modules/$k/updates/dkms/iocp.ko"* || ! -f $path ]]; then
		echo "not in /lib/modules/$k/updates/dkms: $line"
		return
	fi
	line=$(modinfo -k "$k" -F vermagic iocp 2>&1) || true
	if [[ $line != "$k "* ]]; then
		echo "its vermagic is not for $k: $line"
		return
	fi
	line=$(modprobe -S "$k" -R char-major-10-245 2>&1) || true
	if [[ $line != iocp ]]; then
		echo "char-major-10-245 resolves to '$line'"
	elif ! grep -qx 'iocp iocp c10:245' "/lib/modules/$k/modules.devname"; then
		echo "no iocp in modules.devname"
	fi
}

# removed RELEASE: in the sandbox, what is left for RELEASE of the module.
removed() {
	local k=$1 line
	line=$(find "/lib/modules/$k" -name 'iocp.ko*')
	if [[ -n $line ]]; then
		echo "$line is left"
	elif line=$(modprobe -S "$k" --show-depends iocp 2>&1); then
		echo "modprobe still finds it: $line"
	elif line=$(dkms status -k "$k") && [[ -n $line ]]; then
		echo "dkms status: $line"
	fi
}

# sandbox TMP NEWEST OLDER...: run in the private mount namespace. Installs
# through DKMS, removes again, and writes one line per kernel to
# TMP/dkms.results: RELEASE, a tab, and what went wrong (nothing if all
# went well); then the line "uninstall", a tab, and what went wrong.
sandbox() {
	local tmp=$1 new=$2 k e name why_u=
	shift 2
	local old=("$@") all=("$@" "$new")
	local root=$tmp/root
	local bads=()
	declare -A kwhy

	# bad RELEASE TEXT: the first thing that went wrong with RELEASE.
	bad() {
		[[ -n ${kwhy[$1]:-} ]] || kwhy[$1]=$2
		bads+=("$1: $2")
	}

	mkdir -p "$root"/lib/modules "$root"/usr/src "$root"/var/lib/dkms \
		"$root"/etc/dkms "$root"/tmp "$tmp"/host/modules "$tmp"/host/src
	ro_bind /lib/modules "$tmp/host/modules"
	ro_bind /usr/src "$tmp/host/src"
	mount --bind "$root/lib/modules" /lib/modules
	mount --bind "$root/usr/src" /usr/src
	mount --bind "$root/var/lib/dkms" /var/lib/dkms
	echo "# dkms-check.sh: the defaults" >"$root/etc/dkms/framework.conf"
	mount --bind "$root/etc/dkms" /etc/dkms
	for e in "$tmp"/host/src/*; do
		name=${e##*/}
		[[ $name == iocp-* ]] && continue
		if [[ -L $e ]]; then
			cp -P "$e" /usr/src/
		elif [[ -d $e ]]; then
			mkdir "/usr/src/$name"
			ro_bind "$e" "/usr/src/$name"
		else
			touch "/usr/src/$name"
			ro_bind "$e" "/usr/src/$name"
		fi
	done
	export TMPDIR=$root/tmp

	for k in "${old[@]}"; do
		add_kernel "$tmp" "$k"
	done
	echo "=== make dkms-install (kernels: ${old[*]:-none})"
	if ! make --no-print-directory dkms-install; then
		for k in "${old[@]}"; do
			bad "$k" "make dkms-install failed"
		done
	fi
	echo "=== kernel $new installed: its dkms hook"
	add_kernel "$tmp" "$new"
	if [[ -x /etc/kernel/postinst.d/dkms ]]; then
		/etc/kernel/postinst.d/dkms "$new" || bad "$new" "the kernel hook failed"
	else
		dkms autoinstall -k "$new" || bad "$new" "dkms autoinstall failed"
	fi
	# A failed build leaves its log there.
	if [[ -f /var/lib/dkms/iocp/$version/build/make.log ]]; then
		echo "=== /var/lib/dkms/iocp/$version/build/make.log"
		tail -n 30 "/var/lib/dkms/iocp/$version/build/make.log"
	fi

	for k in "${all[@]}"; do
		e=$(installed "$k")
		[[ -z $e ]] || bad "$k" "$e"
	done

	echo "=== make dkms-uninstall"
	make --no-print-directory dkms-uninstall || why_u="make dkms-uninstall failed"
	for k in "${all[@]}"; do
		e=$(removed "$k")
		[[ -z $e ]] || bad "$k" "after make dkms-uninstall: $e"
	done
	[[ ! -e $pkgsrc ]] || why_u=${why_u:-"$pkgsrc is left"}
	[[ ! -e /var/lib/dkms/iocp ]] || why_u=${why_u:-"/var/lib/dkms/iocp is left"}
	[[ -z $(dkms status) ]] || why_u=${why_u:-"dkms status: $(dkms status)"}

	[[ -z $why_u ]] || bads+=("uninstall: $why_u")
	for k in "${all[@]}"; do
		printf '%s\t%s\n' "$k" "${kwhy[$k]:-}"
	done >"$tmp/dkms.results"
	printf 'uninstall\t%s\n' "$why_u" >>"$tmp/dkms.results"
	# What went wrong, last in the log that failures show the tail of.
	[[ ${#bads[@]} -eq 0 ]] || printf 'dkms-check: %s\n' "${bads[@]}"
}

if [[ ${1:-} == --sandbox ]]; then
	shift
	sandbox "$@"
	exit
fi

# The Debian kernels to check: those among the arguments, else all.
pseudo='^(nonotify|debug)$'
kernels=$("$here/kernels.sh" resolve "$@" 2>/dev/null | grep -Ev "$pseudo" | sort -uV) || true
[[ -n $kernels ]] || kernels=$("$here/kernels.sh" list | grep -Ev "$pseudo") || true
mapfile -t kernels <<<"$kernels"
[[ -n ${kernels[0]} ]] || kernels=()
nk=${#kernels[@]}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/iocp-packaging.XXXXXX")
cleanup() {
	# The sandbox's mounts die with it; never delete through one.
	if grep -qF " $tmp/" /proc/self/mountinfo; then
		echo "# dkms-check: mounts left under $tmp; not removed"
		return
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

n=0
failed=0
# result NAME WHY [LOG]: one KTAP line; WHY empty means ok; a "SKIP ..."
# WHY skips. With LOG, a failure shows its last lines.
result() {
	n=$((n + 1))
	if [[ -z $2 ]]; then
		echo "ok $n $1"
	elif [[ $2 == SKIP* ]]; then
		echo "ok $n $1 # $2"
	else
		echo "not ok $n $1"
		echo "# $2"
		failed=$((failed + 1))
		[[ ! -f ${3:-} ]] || tail -n 30 "$3" | sed 's/^/# /'
	fi
}

echo "TAP version 13"
echo "1..$((nk + 4 - (nk == 0 ? 1 : 0)))"

why=
grep -qx "PACKAGE_VERSION=\"$version\"" dkms.conf ||
	why="dkms.conf: $(grep '^PACKAGE_VERSION=' dkms.conf || echo 'no PACKAGE_VERSION')"
result "dkms.conf PACKAGE_VERSION is the Makefile's VERSION ($version)" "$why"

# --- DKMS, in the sandbox ---
log=$tmp/dkms.log
# Why the DKMS tests cannot run (failed, or skipped with SKIP).
none=
if ! command -v dkms >/dev/null; then
	none="dkms is not installed: run make deps"
elif [[ $(id -u) -eq 0 ]] && unshare --mount true 2>/dev/null; then
	unshare=(unshare --mount --propagation private)
elif unshare --map-root-user --mount true 2>/dev/null; then
	unshare=(unshare --map-root-user --mount --propagation private)
else
	none="SKIP no mount namespace for dkms (needs root or user namespaces)"
fi
if ((nk == 0)); then
	result "dkms" "SKIP no Debian kernel with headers is installed"
else
	if [[ -z $none ]]; then
		# The newest kernel arrives last, through its hook.
		"${unshare[@]}" -- "$0" --sandbox "$tmp" "${kernels[nk - 1]}" \
			"${kernels[@]:0:nk-1}" >"$log" 2>&1 || true
		[[ -f $tmp/dkms.results ]] || none="the sandbox failed"
	fi
	for ((i = 0; i < nk; i++)); do
		k=${kernels[i]}
		how="make dkms-install"
		((i < nk - 1)) || how="kernel hook, AUTOINSTALL"
		why=$none
		[[ -n $why ]] ||
			why=$(awk -F '\t' -v k="$k" '$1 == k { print $2 }' "$tmp/dkms.results")
		result "dkms $k ($how)" "$why" "$log"
	done
	why=$none
	[[ -n $why ]] ||
		why=$(awk -F '\t' '$1 == "uninstall" { print $2 }' "$tmp/dkms.results")
	result "dkms-uninstall" "$why" "$log"
fi

# --- make install, pkg-config, make uninstall ---
log=$tmp/install.log
dest=$tmp/dest
why=
cat >"$tmp/t.c" <<'EOF'
#include <iocp.h>

int main(void)
{
	int port = iocp_create(0);

	if (port >= 0)
		iocp_close(port);
	return 0;
}
EOF
cat >"$tmp/t-win32.c" <<'EOF'
#include <windows.h>

int main(void)
{
	HANDLE port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 0);

	if (port)
		CloseHandle(port);
	return 0;
}
EOF
# cc_pc NAME OUT SRC [--static]: build SRC with NAME's pkg-config flags.
cc_pc() {
	local flags
	flags="$(pkg-config ${4:+"$4"} --cflags --libs "$1")" || return
	echo "cc ${4:+-static }-o $2 $3 $flags"
	# shellcheck disable=SC2086 # the flags are words
	${CC:-cc} ${4:+-static} -o "$2" "$3" $flags
}
# What make install PREFIX=/usr must install, besides the man pages.
expected=(
	usr/lib/libiocp.a usr/lib/libiocp.so.0 usr/lib/libiocp.so
	usr/lib/libiocp-win32.a usr/lib/libiocp-win32.so.0 usr/lib/libiocp-win32.so
	usr/lib/pkgconfig/libiocp.pc usr/lib/pkgconfig/libiocp-win32.pc
	usr/include/iocp.h usr/include/linux/iocp.h usr/include/iocp/win32.h
	usr/lib/udev/rules.d/60-iocp.rules
)
for f in lib/iocp/windows/*.h; do
	[[ ! -e $f ]] || expected+=("usr/include/iocp/windows/${f##*/}")
done
for f in man/man3/*.3 man/man7/*.7; do
	[[ ! -e $f ]] || expected+=("usr/share/man/${f#man/}")
done
# Sets why; called where set -e does not apply, so that it always ends.
install_test() {
	# As after `make` then `make install PREFIX=/usr`: the .pc files
	# must name the installation's directories, not the build's.
	rm -f build/lib/libiocp.pc build/lib/libiocp-win32.pc
	make --no-print-directory lib >/dev/null &&
		make --no-print-directory install DESTDIR="$dest" PREFIX=/usr ||
		why="make install failed"
	find "$dest" ! -type d | sort
	for f in "${expected[@]}"; do
		[[ -n $why || -e $dest/$f ]] || why="/$f is not installed"
	done
	export PKG_CONFIG_SYSROOT_DIR=$dest PKG_CONFIG_LIBDIR=$dest/usr/lib/pkgconfig
	for pc in libiocp libiocp-win32; do
		[[ -z $why ]] || break
		src=$tmp/t.c
		[[ $pc == libiocp ]] || src=$tmp/t-win32.c
		if [[ $(pkg-config --modversion "$pc") != "$version" ]]; then
			why="pkg-config --modversion $pc is not $version"
		elif ! grep -qx 'prefix=/usr' "$PKG_CONFIG_LIBDIR/$pc.pc"; then
			why="$pc.pc: $(grep '^prefix=' "$PKG_CONFIG_LIBDIR/$pc.pc"), not /usr"
		elif ! cc_pc "$pc" "$tmp/$pc" "$src"; then
			why="cannot build against $pc"
		elif ! readelf -d "$tmp/$pc" | grep -q "NEEDED.*\[$pc\.so\.0\]"; then
			why="the program built against $pc does not use $pc.so.0"
		elif ! LD_LIBRARY_PATH=$dest/usr/lib "$tmp/$pc"; then
			why="the program built against $pc does not run"
		elif ! cc_pc "$pc" "$tmp/$pc-static" "$src" --static; then
			why="cannot build statically against $pc"
		elif ! "$tmp/$pc-static"; then
			why="the static program built against $pc does not run"
		fi
	done
	make --no-print-directory uninstall DESTDIR="$dest" PREFIX=/usr ||
		why=${why:-"make uninstall failed"}
	left=$(find "$dest" ! -type d)
	[[ -z $left ]] || why=${why:-"left after make uninstall: ${left//$'\n'/ }"}
	[[ ! -e $dest/usr/include/iocp ]] || why=${why:-"/usr/include/iocp is left"}
}
install_test >"$log" 2>&1 || true
result "make install, pkg-config, make uninstall" "$why" "$log"

# --- make modules_install, make modules_uninstall ---
((nk > 0)) || exit $((failed > 0))
k=${kernels[nk - 1]}
log=$tmp/modules_install.log
mods=$tmp/mods
why=
# Sets why, like install_test.
modules_install_test() {
	make --no-print-directory modules_install KVER="$k" INSTALL_MOD_PATH="$mods" ||
		why="make modules_install failed"
	line=$(modprobe -d "$mods" -S "$k" --show-depends iocp 2>&1) ||
		why=${why:-"modprobe does not find iocp: $line"}
	echo "$line"
	path=${line#insmod }
	path=${path%% *}
	[[ $line == "insmod $mods/lib/modules/$k/extra/iocp.ko"* && -f $path ]] ||
		why=${why:-"not in /lib/modules/$k/extra: $line"}
	line=$(modprobe -d "$mods" -S "$k" -R char-major-10-245 2>&1) || true
	[[ $line == iocp ]] || why=${why:-"char-major-10-245 resolves to '$line'"}
	make --no-print-directory modules_uninstall KVER="$k" INSTALL_MOD_PATH="$mods" ||
		why=${why:-"make modules_uninstall failed"}
	line=$(find "$mods" -name 'iocp.ko*')
	[[ -z $line ]] || why=${why:-"left after modules_uninstall: $line"}
	! line=$(modprobe -d "$mods" -S "$k" --show-depends iocp 2>&1) ||
		why=${why:-"modprobe still finds iocp after modules_uninstall"}
}
modules_install_test >"$log" 2>&1 || true
result "make modules_install, modules_uninstall ($k)" "$why" "$log"
[[ $failed -eq 0 ]]
