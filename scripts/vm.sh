#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# vm.sh check|demo RELEASE
#
# Boot kernel RELEASE in QEMU with an initramfs holding the module built for
# it (build/kmod/RELEASE/iocp.ko), the selftests and the examples; the guest
# (scripts/guest-init.sh) runs them and powers off. Writes in
# build/vm/RELEASE/: console.log (kernel console, ttyS0), out.log (what the
# guest's programs print, ttyS1) and qemu.log.
#
# Uses KVM when a probe boot under KVM works, TCG otherwise; the probe runs
# once per IOCP_RUN_ID (the Makefile sets one per make invocation).
# ACCEL=kvm|tcg skips the probe. GUEST_TIMEOUT (seconds) bounds a boot.
# TCG_THREAD=single runs TCG's vCPUs on one host thread (default multi).
#
# Exit status: 0 if the guest finished, 124 on timeout, 1 otherwise.
set -euo pipefail

mode=$1
kver=$2
here=$(dirname "$0")
build=${BUILD:-build}
timeout=${GUEST_TIMEOUT:-480}
image=$("$here/kernels.sh" image "$kver")
dir=$build/vm/$kver
initrd=$dir/initramfs.cpio.gz

# boot ACCEL MODE TIMEOUT LOGDIR: boot the guest, logging into LOGDIR.
#
# tsc=unstable: under multi-threaded TCG, a 6.12 guest has been seen to panic
# on an int3 left in sched_clock_cpu() when late boot patches the
# sched_clock-stable static branch while the other vCPU runs it. An unstable
# TSC (what 6.1 decides for itself under TCG) never flips that branch; the
# clocksource is then hpet under TCG (kvm-clock under KVM), for every kernel
# alike. A tsc= in IOCP_GUEST_ARGS replaces it (make bench keeps the TSC, for
# cheap clock reads, and boots again a guest that died before its init).
boot() {
	local accel=$1 what=$2 limit=$3 dir=$4 opts pid end clock=tsc=unstable
	[[ " ${IOCP_GUEST_ARGS:-}" != *" tsc="* ]] || clock=
	opts=(-accel kvm)
	[[ $accel == kvm ]] || opts=(-accel "tcg,thread=${TCG_THREAD:-multi}")
	: >"$dir/console.log"
	: >"$dir/out.log"
	qemu-system-x86_64 "${opts[@]}" -cpu max -smp 2 -m 1G -nographic \
		-no-reboot -nic none -monitor none \
		-serial "file:$dir/console.log" -serial "file:$dir/out.log" \
		-kernel "$image" -initrd "$initrd" \
		-append "console=ttyS0 panic=-1 $clock iocp_mode=$what ${IOCP_GUEST_ARGS:-}" \
		</dev/null >"$dir/qemu.log" 2>&1 &
	pid=$!
	end=$((SECONDS + limit))
	while kill -0 "$pid" 2>/dev/null; do
		# A broken KVM may stop the guest rather than exit.
		if ((SECONDS >= end)) || grep -q 'KVM internal error' "$dir/qemu.log"; then
			kill "$pid" 2>/dev/null || true
			wait "$pid" || true
			return 124
		fi
		sleep 0.2
	done
	wait "$pid" || return 1
}

# The accelerator to use, probed at most once per make invocation.
accel() {
	local cache=$build/vm/accel.${IOCP_RUN_ID:-$$} probe=$build/vm/probe
	local start why='' result=tcg
	if [[ -n ${ACCEL:-} ]]; then
		echo "$ACCEL"
		return
	fi
	if [[ ! -s $cache ]]; then
		rm -f "$build"/vm/accel.*
		mkdir -p "$probe"
		start=$(date +%s%N)
		if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
			why="no usable /dev/kvm"
		elif boot kvm probe 60 "$probe" && grep -q IOCP-PROBE-OK "$probe/out.log"; then
			result=kvm
		else
			why="KVM guest failed: $(head -c 300 "$probe/qemu.log" | grep -m 1 . || echo timeout)"
		fi
		echo "vm: KVM probe took $((($(date +%s%N) - start) / 1000000)) ms, using $result${why:+ ($why)}" >&2
		echo "$result" >"$cache"
	fi
	cat "$cache"
}

ko=$build/kmod/$kver/iocp.ko
for f in "$image" "$ko"; do
	if [[ ! -e $f ]]; then
		echo "vm.sh: $f is missing (run make modules-all, or make deps)" >&2
		exit 1
	fi
done
mkdir -p "$dir"
progs=()
for f in "$build"/selftests/* "$build"/examples/*; do
	[[ -f $f && -x $f ]] || continue
	case $f in
	*/selftests/*) progs+=(-t "$f") ;;
	*) progs+=(-b "$f") ;;
	esac
done
if [[ $mode == fuzz ]]; then
	progs+=(-b "$(command -v trinity)")
fi
if [[ $mode == bench ]]; then
	progs+=(-b "$build/bench/iocp_bench")
fi
"$here/mkinitramfs.sh" "$initrd" "$ko" "${progs[@]}"

accel=$(accel)
echo "vm: booting $kver ($mode, $accel)" >&2
rc=0
boot "$accel" "$mode" "$timeout" "$dir" || rc=$?
if [[ $rc -eq 124 ]]; then
	echo "vm: $kver: guest did not finish within ${timeout}s" >&2
	exit 124
fi
grep -q '^# iocp-guest: end' "$dir/out.log" || exit 1
