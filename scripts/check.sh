#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# [MODE=fuzz] check.sh KERNEL...
#
# Run the guest tests on each kernel (scripts/vm.sh), and on the host the
# documentation checks, the packaging checks (scripts/dkms-check.sh: DKMS,
# make install, make modules_install) and the static checks; print the KTAP
# output with per-kernel totals, and end with the line "N passed, M
# failed". Exits non-zero on any failure.
#
# A kernel fails if a test says "not ok", the guest does not finish, fewer
# results than planned ("1..N") arrive, or the kernel log shows a splat.
set -uo pipefail

here=$(dirname "$0")
build=${BUILD:-build}
# MODE=fuzz: the guests fuzz (make fuzz) instead of running the selftests,
# and the host checks are left out.
mode=${MODE:-check}
# Kernel reports: WARN/BUG/oops, lockdep (its reports start with WARNING:
# or BUG:, plus the lines below), KASAN, hung tasks, atomic sleeps, UBSAN.
splat='WARNING:|BUG:|Oops|Kernel panic|general protection fault|possible circular locking|possible recursive locking|inconsistent lock state|suspicious RCU usage|bad unlock balance|KASAN:|blocked for more than|hung task|sleeping function called from invalid context|UBSAN|Call Trace'

total_pass=0
total_fail=0
total_skip=0
summary=()

# tally LOG: count the KTAP results in LOG into pass/fail/skip/planned.
tally() {
	read -r pass fail skip planned < <(tr -d '\r' <"$1" | awk '
		/^1\.\.[0-9]+/ { sub(/^1\.\./, ""); planned += $1 + 0 }
		/^(not )?ok [0-9]+/ && /# [Ss][Kk][Ii][Pp]/ { skip++; next }
		/^ok [0-9]+/ { pass++ }
		/^not ok [0-9]+/ { fail++ }
		END { print pass + 0, fail + 0, skip + 0, planned + 0 }')
}

# early_splat LOG: a splat in the kernel log before /init started.
early_splat() {
	tr -d '\r' <"$1" 2>/dev/null | awk -v re="$splat" '
		/Run \/init as init process/ { exit 1 }
		$0 ~ re { found = 1; exit 0 }
		END { exit !found }'
}

# problem TEXT: a failure that is not a "not ok" line.
problem() {
	echo "not ok - $1"
	fail=$((fail + 1))
}

report() {
	local name=$1 extra=$2
	summary+=("$(printf '%-24s %3d passed, %3d failed, %3d skipped%s' \
		"$name:" "$pass" "$fail" "$skip" "$extra")")
	total_pass=$((total_pass + pass))
	total_fail=$((total_fail + fail))
	total_skip=$((total_skip + skip))
}

kernels=$("$here/kernels.sh" resolve "$@" | awk '!seen[$0]++') || kernels=
if [[ -z $kernels ]]; then
	echo "check: no kernel to test (KERNELS='$*')"
	pass=0 fail=0 skip=0
	problem "kernels"
	report "kernels" ""
fi

for kver in $kernels; do
	dir=$build/vm/$kver
	echo "=== $kver"
	start=$SECONDS
	# A guest that died, or whose kernel reported a problem, before its
	# init ran never reached the module (TCG has been seen to crash or to
	# trip KASAN that early, rarely): boot it again, openly, at most twice.
	# The last time with single-threaded TCG, which runs the vCPUs by
	# turns: a race between them in the emulator cannot happen there.
	for boot in 1 2 3; do
		rc=0 tcg=multi
		if ((boot == 3)); then
			echo "# $kver: the last boot runs TCG (if used) single-threaded"
			tcg=single
		fi
		TCG_THREAD=$tcg "$here/vm.sh" "$mode" "$kver" || rc=$?
		((boot < 3)) || break
		if [[ $rc -ne 0 ]] && ! grep -q '^# iocp-guest: kernel' "$dir/out.log" 2>/dev/null; then
			echo "# $kver: the guest died before its init ran; booting it again"
			{ grep -E -m 1 -B 2 -A 30 "$splat" "$dir/console.log" ||
				tail -n 20 "$dir/console.log"; } | tr -d '\r' | sed 's/^/# /'
		elif early_splat "$dir/console.log"; then
			echo "# $kver: the kernel reported a problem before init ran; booting it again"
			grep -E -m 1 -A 12 "$splat" "$dir/console.log" | tr -d '\r' | sed 's/^/# /'
		else
			break
		fi
	done
	secs=$((SECONDS - start))
	tr -d '\r' <"$dir/out.log" 2>/dev/null
	pass=0 fail=0 skip=0 planned=0
	[[ -s $dir/out.log ]] && tally "$dir/out.log"
	results=$((pass + fail + skip))
	if [[ $rc -ne 0 ]]; then
		if [[ $rc -eq 124 ]]; then
			problem "$kver: guest timed out"
		else
			problem "$kver: guest did not finish (no end marker)"
		fi
		echo "--- tail of the kernel console ($dir/console.log)"
		tail -n 40 "$dir/console.log" | tr -d '\r'
		echo "--- tail of qemu.log"
		tail -n 5 "$dir/qemu.log"
	fi
	if ((planned == 0)); then
		problem "$kver: no test plan in the guest output"
	elif ((results < planned)); then
		problem "$kver: $results results for $planned planned tests"
	fi
	if grep -Eq "$splat" "$dir/console.log" 2>/dev/null; then
		problem "$kver: kernel splat in the guest log:"
		grep -E -m 1 -B 2 -A 40 "$splat" "$dir/console.log" | tr -d '\r'
	fi
	report "$kver" " (${secs}s)"
done

if [[ $mode == fuzz ]]; then
	echo "=== totals"
	printf '%s\n' "${summary[@]}"
	echo "$total_pass passed, $total_fail failed"
	[[ $total_fail -eq 0 ]]
	exit
fi

echo "=== documentation (host)"
pass=0 fail=0 skip=0
if [[ -f selftests/check_docs.sh ]]; then
	bash selftests/check_docs.sh >"$build/check_docs.log" 2>&1
	rc=$?
	cat "$build/check_docs.log"
	read -r pass fail skip < <(awk '
		/^(not )?ok( |$)/ && /# [Ss][Kk][Ii][Pp]/ { skip++; next }
		/^ok( |$)/ { pass++ }
		/^not ok( |$)/ { fail++ }
		END { print pass + 0, fail + 0, skip + 0 }' "$build/check_docs.log")
	if grep -q '^Bail out!' "$build/check_docs.log"; then
		problem "check_docs.sh bailed out"
	elif [[ $rc -ne 0 && $fail -eq 0 ]]; then
		problem "check_docs.sh exited with status $rc"
	elif ((pass + fail + skip == 0)); then
		problem "check_docs.sh printed no results"
	fi
else
	problem "selftests/check_docs.sh is missing"
fi
report "docs" ""

echo "=== packaging (host)"
# DKMS for each Debian kernel, make install/uninstall, make modules_install.
pass=0 fail=0 skip=0 planned=0
rc=0
"$here/dkms-check.sh" "$@" >"$build/packaging.log" 2>&1 || rc=$?
cat "$build/packaging.log"
tally "$build/packaging.log"
if ((planned == 0)); then
	problem "dkms-check.sh printed no test plan"
elif ((pass + fail + skip < planned)); then
	problem "dkms-check.sh: $((pass + fail + skip)) results for $planned planned tests"
elif [[ $rc -ne 0 && $fail -eq 0 ]]; then
	problem "dkms-check.sh exited with status $rc"
fi
report "packaging" ""

echo "=== static checks (host)"
pass=0 fail=0 skip=0
n=0
for target in checkpatch sparse; do
	n=$((n + 1))
	if make --no-print-directory "$target" KERNELS="$*" >"$build/$target.log" 2>&1; then
		echo "ok $n $target"
		pass=$((pass + 1))
	else
		echo "not ok $n $target"
		sed 's/^/# /' "$build/$target.log" | tail -n 40
		fail=$((fail + 1))
	fi
done
report "static" ""

echo "=== totals"
printf '%s\n' "${summary[@]}"
((total_skip == 0)) || echo "$total_skip skipped"
echo "$total_pass passed, $total_fail failed"
[[ $total_fail -eq 0 ]]
