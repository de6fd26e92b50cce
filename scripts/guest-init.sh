#!/bin/busybox sh
# shellcheck shell=sh
# SPDX-License-Identifier: GPL-2.0
#
# /init of the test guest (busybox sh). The kernel console is ttyS0; what
# this script and the tests print goes to ttyS1, so kernel messages never
# break a KTAP line. iocp_mode= on the kernel command line selects:
#   probe  print a marker and power off (does this accelerator work?)
#   check  autoload the module, run every program in /tests and the Win32
#          echo server against the echo client, unload it
#   demo   autoload the module, run /bin/iocp_demo, then the echo client
#          against the echo server and against the Win32 echo server
#          (iocp_echo_conns=, iocp_echo_size=)
#   fuzz   autoload the module, run iocp_fuzz and trinity, unload it
#   bench  autoload the module, run /bin/iocp_bench with the arguments of
#          iocp_bench_args= (+ for spaces)
# /iocp.ko is the module; it is installed for `uname -r` at run time.

/bin/busybox mkdir -p /proc /sys /dev /tmp /sbin /usr/bin /usr/sbin
/bin/busybox --install -s
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t debugfs debugfs /sys/kernel/debug
# Pseudo-terminals, for the tests of associated ttys.
mkdir -p /dev/pts
mount -t devpts -o newinstance,ptmxmode=0666 devpts /dev/pts
[ -e /dev/ptmx ] || ln -s pts/ptmx /dev/ptmx
# Loopback, for the tests over TCP and UDP.
ip link set lo up 2>/dev/null || ifconfig lo 127.0.0.1 up

out=/dev/ttyS1
[ -c $out ] || out=/dev/console
exec </dev/null >$out 2>&1

mode=check
read -r cmdline </proc/cmdline
for arg in $cmdline; do
	case $arg in
	iocp_mode=*) mode=${arg#iocp_mode=} ;;
	esac
done

say() { echo "# iocp-guest: $*"; }

finish() {
	say end
	sync
	poweroff -f
}

loaded() { lsmod | grep -q '^iocp '; }

if [ "$mode" = probe ]; then
	echo IOCP-PROBE-OK
	poweroff -f
fi

kver=$(uname -r)
moddir=/lib/modules/$kver
say "kernel $kver, $(nproc) CPUs, mode $mode"

# Install the module where modprobe looks, and index it.
mkdir -p "$moddir/extra"
cp /iocp.ko "$moddir/extra/iocp.ko"
depmod
if ! grep -q 'char-major-10-245' "$moddir/modules.alias" 2>/dev/null; then
	say "depmod wrote no char-major-10-245 alias; generating modules.alias"
	modinfo -F alias "$moddir/extra/iocp.ko" |
		sed 's/^\(.*\)$/alias \1 iocp/' >"$moddir/modules.alias"
fi
say "modules.alias: $(grep -E 'char-major-10-245|devname:iocp' "$moddir/modules.alias" | tr '\n' ' ')"

# Autoload: opening /dev/iocp makes the kernel run modprobe char-major-10-245.
echo /sbin/modprobe >/proc/sys/kernel/modprobe
[ -c /dev/iocp ] || mknod /dev/iocp c 10 245
autoload="ok"
if loaded; then
	say "iocp was loaded before /dev/iocp was opened"
	autoload="not ok"
fi
(exec 3<>/dev/iocp) 2>/dev/null
if loaded; then
	say "opening /dev/iocp loaded the module: $(lsmod | grep '^iocp ')"
else
	say "opening /dev/iocp did NOT load the module; falling back to insmod"
	autoload="not ok"
	insmod "$moddir/extra/iocp.ko" || say "insmod failed too"
fi

# A block device for the tests on uncached files: /dev/ram0 (brd), with an
# ext2 filesystem (served by the ext4 driver) mounted at /mnt/blk. The
# modules come from /blk-modules (mkinitramfs.sh), in load order; a kernel
# with brd and ext4 built in has /dev/ram0 already. Without it the tests
# that need it skip.
blk_setup() {
	if [ -s /blk-modules ]; then
		while read -r m; do
			case $m in
			*/brd.ko) insmod "$m" rd_nr=1 rd_size=65536 ;;
			*) insmod "$m" ;;
			esac || say "insmod $m failed"
		done </blk-modules
	fi
	if [ ! -b /dev/ram0 ]; then
		say "no /dev/ram0: no block device for the tests"
		return
	fi
	mkdir -p /mnt/blk
	if ! mke2fs -q /dev/ram0 >/tmp/mke2fs.log 2>&1; then
		say "mke2fs /dev/ram0 failed: $(cat /tmp/mke2fs.log)"
		return
	fi
	if mount -t ext4 /dev/ram0 /mnt/blk 2>/dev/null ||
		mount -t ext2 /dev/ram0 /mnt/blk; then
		say "block device: $(grep ' /mnt/blk ' /proc/mounts)"
	else
		say "mounting /dev/ram0 failed"
	fi
}
[ "$mode" = check ] && blk_setup

# wait_server PID NAME: wait for the echo server PID, which exits by itself
# once every connection closed; if the client failed, it is told to stop
# (SIGTERM), and killed if stuck. Returns the server's exit status.
wait_server() {
	i=0
	while kill -0 "$1" 2>/dev/null && [ $i -lt 30 ]; do
		sleep 1
		i=$((i + 1))
	done
	if kill -0 "$1" 2>/dev/null; then
		say "$2 still running after 30 s: SIGTERM"
		kill -TERM "$1"
		sleep 10
		kill -0 "$1" 2>/dev/null && kill -KILL "$1"
	fi
	wait "$1"
}

cd /tmp || exit 1
# demo: iocp_demo, then the echo server (overlapped ACCEPT/RECV/SEND on a
# pool of workers) in the background and the echo client against it:
# iocp_echo_conns= connections of iocp_echo_size= bytes each (make demo
# ECHO_CONNS=, ECHO_SIZE=), iocp_echo_server_args= and iocp_echo_client_args=
# more options (+ for spaces). The server stops once every connection closed.
if [ "$mode" = demo ]; then
	say "running iocp_demo"
	# Its output goes to a file first: workers writing to the slow serial
	# console block on it, and a blocked worker lets another run, which
	# the demo would report as running beyond its concurrency.
	iocp_demo >/tmp/iocp_demo.out 2>&1
	rc=$?
	cat /tmp/iocp_demo.out
	say "iocp_demo exited with status $rc"

	echo_conns=1000
	echo_size=1M
	echo_server_args=
	echo_client_args=
	for arg in $cmdline; do
		case $arg in
		iocp_echo_conns=*) echo_conns=${arg#*=} ;;
		iocp_echo_size=*) echo_size=${arg#*=} ;;
		iocp_echo_server_args=*) echo_server_args=$(echo "${arg#*=}" | tr + ' ') ;;
		iocp_echo_client_args=*) echo_client_args=$(echo "${arg#*=}" | tr + ' ') ;;
		esac
	done
	say "running iocp_echo-server -n $echo_conns $echo_server_args"
	# shellcheck disable=SC2086
	iocp_echo-server -p 7777 -t 4 -n "$echo_conns" $echo_server_args &
	server=$!
	say "running iocp_echo-client -c $echo_conns -s $echo_size $echo_client_args"
	# shellcheck disable=SC2086
	iocp_echo-client -p 7777 -c "$echo_conns" -s "$echo_size" $echo_client_args
	say "iocp_echo-client exited with status $?"
	wait_server $server iocp_echo-server
	say "iocp_echo-server exited with status $?"

	# The same load on the Win32 echo server of examples/win32-echo (a
	# Windows program built against <iocp/win32.h>), which exits by itself
	# after -n connections.
	say "running iocp_win32-echo -n $echo_conns"
	iocp_win32-echo -p 7778 -n "$echo_conns" &
	server=$!
	say "running iocp_echo-client against it: -c $echo_conns -s $echo_size $echo_client_args"
	# shellcheck disable=SC2086
	iocp_echo-client -p 7778 -c "$echo_conns" -s "$echo_size" $echo_client_args
	say "iocp_echo-client against iocp_win32-echo exited with status $?"
	wait_server $server iocp_win32-echo
	say "iocp_win32-echo exited with status $?"
	finish
fi

if [ "$mode" = bench ]; then
	bench_args=
	for arg in $cmdline; do
		case $arg in
		iocp_bench_args=*) bench_args=$(echo "${arg#*=}" | tr + ' ') ;;
		esac
	done
	say "running iocp_bench $bench_args"
	# shellcheck disable=SC2086
	iocp_bench $bench_args
	say "iocp_bench exited with status $?"
	finish
fi

# fuzz (make fuzz): the fuzzer for a longer budget, then trinity against
# /dev/iocp, instead of the selftests. iocp_fuzz_seconds=, iocp_seed= and
# iocp_trinity_calls= on the command line set them.
fuzz_seconds=300
trinity_calls=100000
seed=$(date +%s)
for arg in $cmdline; do
	case $arg in
	iocp_fuzz_seconds=*) fuzz_seconds=${arg#*=} ;;
	iocp_trinity_calls=*) trinity_calls=${arg#*=} ;;
	iocp_seed=*) seed=${arg#*=} ;;
	esac
done

if [ "$mode" = fuzz ]; then
	say "running iocp_fuzz -s $seed -t $fuzz_seconds"
	/tests/iocp_fuzz -s "$seed" -t "$fuzz_seconds" -q
	say "iocp_fuzz exited with status $?"
	say "running trinity -s $seed -N $trinity_calls against /dev/iocp"
	mkdir -p /tmp/trinity && cd /tmp/trinity || exit 1
	# Only /dev/iocp as the file victim; the usual syscalls on fds.
	trinity --dangerous -q -s "$seed" -N "$trinity_calls" -C 2 \
		-V /dev/iocp --disable-fds=sockets,perf,drm,memfd,testfile,pseudo \
		-c ioctl -c poll -c ppoll -c epoll_ctl -c epoll_wait -c close \
		-c dup -c dup2 -c fcntl -c read -c write -c select -c mmap \
		>/tmp/trinity.log 2>&1
	rc=$?
	cd /tmp || exit 1
	tail -n 5 /tmp/trinity.log | sed 's/^/# /'
	echo "TAP version 13"
	echo "1..1"
	if [ $rc -eq 0 ]; then
		echo "ok 1 trinity # $trinity_calls calls"
	else
		echo "not ok 1 trinity # exit status $rc"
	fi
else
	# Under KASAN every byte copied costs many times more: the echo test
	# keeps its 1000 connections but moves 64 KiB on each, not 1 MiB.
	if [ -z "${IOCP_OPS_ECHO_BYTES:-}" ] &&
		dmesg | grep -q 'KernelAddressSanitizer initialized'; then
		export IOCP_OPS_ECHO_BYTES=65536
		say "KASAN kernel: IOCP_OPS_ECHO_BYTES=$IOCP_OPS_ECHO_BYTES"
	fi
	for t in /tests/*; do
		[ -x "$t" ] || continue
		say "running ${t##*/}"
		"$t"
		say "${t##*/} exited with status $?"
	done

	# The Win32 echo server of examples/win32-echo (a Windows program
	# built against <iocp/win32.h>) against the native echo client: one
	# KTAP result, ok if every byte came back and the server exited
	# cleanly after the 100 connections.
	say "running iocp_win32-echo -n 100 against iocp_echo-client -c 100 -s 64K"
	iocp_win32-echo -p 7779 -n 100 >/tmp/win32-echo.log 2>&1 &
	server=$!
	iocp_echo-client -p 7779 -c 100 -s 64K >/tmp/echo-client.log 2>&1
	client_rc=$?
	wait_server $server iocp_win32-echo
	server_rc=$?
	sed 's/^/# /' /tmp/win32-echo.log /tmp/echo-client.log
	echo "TAP version 13"
	echo "1..1"
	if [ $client_rc -eq 0 ] && grep -q '^echo: OK' /tmp/echo-client.log &&
		[ $server_rc -eq 0 ]; then
		echo "ok 1 win32-echo"
	else
		echo "not ok 1 win32-echo # client status $client_rc, server status $server_rc"
	fi
fi

# kmemleak (debug kernel): report only objects older than 5 s, so wait,
# then scan twice. Any leak with a module function ("[iocp]") in its
# backtrace fails.
leak_res="ok 3 kmemleak # SKIP no kmemleak in this kernel"
if [ -w /sys/kernel/debug/kmemleak ]; then
	sleep 6
	echo scan >/sys/kernel/debug/kmemleak
	echo scan >/sys/kernel/debug/kmemleak
	cat /sys/kernel/debug/kmemleak >/tmp/kmemleak
	say "kmemleak: $(grep -c '^unreferenced object' /tmp/kmemleak) unreferenced objects"
	leak_res="ok 3 kmemleak"
	if grep -q "\[iocp\]" /tmp/kmemleak; then
		leak_res="not ok 3 kmemleak"
		sed 's/^/# /' /tmp/kmemleak
	fi
fi

rmmod_res="ok"
if ! rmmod iocp; then
	rmmod_res="not ok"
	say "rmmod iocp failed: $(lsmod | grep '^iocp ')"
elif loaded; then
	rmmod_res="not ok"
	say "iocp still listed after rmmod"
fi

echo "TAP version 13"
echo "1..3"
echo "$autoload 1 autoload"
echo "$rmmod_res 2 rmmod"
echo "$leak_res"
finish
