# SPDX-License-Identifier: GPL-2.0
#
# iocp: I/O completion ports for Linux. See README.
#
#   make                 module (for KVER/KDIR), library, selftests, examples
#   make modules-all     the module for every kernel in KERNELS
#   make check           build everything, boot each kernel in KERNELS in
#                        QEMU and run the selftests there, check the docs
#   make demo            boot DEMO_KERNEL in QEMU and run the examples
#   make bench           boot BENCH_KERNEL in QEMU, benchmark iocp against
#                        epoll, io_uring and a futex queue (bench/results/)
#   make fuzz            the fuzzer and trinity on the debug kernel
#   make checkpatch      checkpatch.pl --strict on the module sources
#   make sparse          sparse (C=2) module build for every kernel in KERNELS
#   make deps            install the Debian packages all this needs
#   make install         libraries, headers, .pc files, man pages, udev rule
#                        under PREFIX (and DESTDIR); make uninstall
#   make modules_install the module for KVER into /lib/modules/KVER/extra
#                        (INSTALL_MOD_PATH), then depmod; modules_uninstall
#   make dkms-install    the module's sources into /usr/src/iocp-VERSION,
#                        built and installed by DKMS for every kernel (or
#                        KVER), and again for each new kernel; dkms-uninstall

VERSION := 0.1.0
BUILD := build

# Kernel to build the module for: KDIR, or KVER's build tree; by default the
# running kernel's if it has one, else the newest installed headers package.
ifdef KDIR
KVER ?= $(shell sed -n 's/.*UTS_RELEASE "\(.*\)"/\1/p' \
	$(KDIR)/include/generated/utsrelease.h 2>/dev/null)
else
ifndef KVER
KVER := $(shell scripts/kernels.sh default)
endif
KDIR := $(shell scripts/kernels.sh kdir $(KVER))
endif

# Kernels for modules-all, check and sparse: releases or prefixes of them
# (KERNELS=6.12). Default: every kernel with a /boot image and headers.
KERNELS ?= $(shell scripts/kernels.sh list)
DEMO_KERNEL ?= 6.12
BENCH_KERNEL ?= 6.12
kvers = $(shell scripts/kernels.sh resolve $(KERNELS))
# The build tree of release $(1).
kdir_of = $(if $(filter $(1),$(KVER)),$(KDIR),$(shell scripts/kernels.sh kdir $(1)))

# Kselftest headers and checkpatch come from the linux-source package,
# extracted once per package version into a cache outside the tree.
IOCP_CACHE ?= $(HOME)/.cache/iocp
KSRC_PKG := linux-source-6.12
KSRC_TARBALL := /usr/src/$(KSRC_PKG).tar.xz
KSRC_VERSION := $(shell dpkg-query -W -f='$${Version}' $(KSRC_PKG) 2>/dev/null)
KSRC := $(IOCP_CACHE)/$(KSRC_PKG)_$(KSRC_VERSION)
KSRC_FILES := tools/testing/selftests/kselftest*.h scripts/checkpatch.pl \
	scripts/spelling.txt scripts/const_structs.checkpatch
KSELFTEST := $(KSRC)/tools/testing/selftests
CHECKPATCH := $(KSRC)/scripts/checkpatch.pl

# One run id per top-level make: the QEMU accelerator probe runs once each.
ifndef IOCP_RUN_ID
IOCP_RUN_ID := $(shell date +%s%N)
endif
export IOCP_RUN_ID

CFLAGS ?= -O2 -g
IOCP_CFLAGS := $(CFLAGS) -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE \
	-I uapi -I lib -MMD -MP
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include

KMOD_SRCS := Kbuild $(wildcard module/*.[ch] uapi/linux/*.h) scripts/kmod.sh
LIB := $(BUILD)/lib/libiocp.a $(BUILD)/lib/libiocp.so.0 \
	$(BUILD)/lib/libiocp.so $(BUILD)/lib/libiocp.pc
# The Win32 API (<iocp/win32.h>) over libiocp: a library of its own, so
# that programs that do not ask for the Windows names do not get them.
WIN32_LIB := $(BUILD)/lib/libiocp-win32.a $(BUILD)/lib/libiocp-win32.so.0 \
	$(BUILD)/lib/libiocp-win32.so $(BUILD)/lib/libiocp-win32.pc
WIN32_HDRS := lib/iocp/win32.h $(wildcard lib/iocp/windows/*.h)
SELFTESTS := $(patsubst selftests/%.c,$(BUILD)/selftests/%,$(wildcard selftests/*.c))
EXAMPLES := $(patsubst examples/%.c,$(BUILD)/examples/iocp_%,$(wildcard examples/*.c)) \
	$(BUILD)/examples/iocp_win32-echo

.PHONY: all module modules-all no-kernel lib selftests examples userspace build-all \
	check demo fuzz bench deps checkpatch sparse install uninstall \
	modules_install modules_uninstall dkms-version dkms-install dkms-uninstall \
	clean FORCE
.DELETE_ON_ERROR:

all: module userspace

userspace: lib selftests examples
lib: $(LIB) $(WIN32_LIB)
selftests: $(SELFTESTS)
examples: $(EXAMPLES)

# --- kernel module: build/kmod/<release>/iocp.ko ---------------------------

module: $(if $(KVER),$(BUILD)/kmod/$(KVER)/iocp.ko,no-kernel)

modules-all: $(if $(kvers),$(patsubst %,$(BUILD)/kmod/%/iocp.ko,$(kvers)),no-kernel)

no-kernel:
	@echo "no kernel build tree found (KERNELS='$(KERNELS)' KDIR='$(KDIR)'):" \
		"run make deps, or set KDIR" >&2; exit 1

$(BUILD)/kmod/%/iocp.ko: $(KMOD_SRCS)
	+scripts/kmod.sh $(call kdir_of,$*) $(@D) $(shell scripts/kernels.sh kbuild $*)

# The debug kernel is built (once, then cached) before its module.
DEBUG_KDIR := $(shell scripts/debug-kernel.sh dir 2>/dev/null)
$(BUILD)/kmod/debug/iocp.ko: $(DEBUG_KDIR)/Module.symvers
$(DEBUG_KDIR)/Module.symvers:
	scripts/debug-kernel.sh build >/dev/null

# --- library ----------------------------------------------------------------

$(BUILD)/lib/iocp.o: lib/iocp.c
	@mkdir -p $(@D)
	$(CC) $(IOCP_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/lib/libiocp.a: $(BUILD)/lib/iocp.o
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/lib/libiocp.so.0: $(BUILD)/lib/iocp.o
	$(CC) $(IOCP_CFLAGS) -shared -Wl,-soname,libiocp.so.0 -o $@ $^

$(BUILD)/lib/libiocp.so: $(BUILD)/lib/libiocp.so.0
	ln -sf libiocp.so.0 $@

$(BUILD)/lib/%.pc: lib/%.pc.in Makefile
	@mkdir -p $(@D)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
	    -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< >$@

WIN32_OBJS := $(patsubst lib/win32/%.c,$(BUILD)/lib/win32/%.o,$(wildcard lib/win32/*.c))

$(BUILD)/lib/win32/%.o: lib/win32/%.c
	@mkdir -p $(@D)
	$(CC) $(IOCP_CFLAGS) -fPIC -c -o $@ $<

$(BUILD)/lib/libiocp-win32.a: $(WIN32_OBJS)
	rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/lib/libiocp-win32.so.0: $(WIN32_OBJS) $(BUILD)/lib/libiocp.so
	$(CC) $(IOCP_CFLAGS) -shared -Wl,-soname,libiocp-win32.so.0 -o $@ \
		$(WIN32_OBJS) -L$(BUILD)/lib -liocp -lpthread

$(BUILD)/lib/libiocp-win32.so: $(BUILD)/lib/libiocp-win32.so.0
	ln -sf libiocp-win32.so.0 $@

# --- selftests and examples (static, so they run in the bare guest) ---------

$(BUILD)/selftests/%: selftests/%.c selftests/iocp_util.h $(BUILD)/lib/libiocp.a \
		$(BUILD)/lib/libiocp-win32.a | $(KSRC)/.done
	@mkdir -p $(@D)
	$(CC) $(IOCP_CFLAGS) -isystem $(KSELFTEST) -static -o $@ $< \
		$(BUILD)/lib/libiocp-win32.a $(BUILD)/lib/libiocp.a -lpthread

$(BUILD)/examples/iocp_%: examples/%.c $(BUILD)/lib/libiocp.a
	@mkdir -p $(@D)
	$(CC) $(IOCP_CFLAGS) -static -o $@ $< $(BUILD)/lib/libiocp.a -lpthread

# A Windows program, built unchanged against the Windows headers of
# lib/iocp/windows and libiocp-win32.
$(BUILD)/examples/iocp_win32-echo: examples/win32-echo/echo-server.c \
		$(BUILD)/lib/libiocp-win32.a $(BUILD)/lib/libiocp.a
	@mkdir -p $(@D)
	$(CC) $(IOCP_CFLAGS) -I lib/iocp/windows -static -o $@ $< \
		$(BUILD)/lib/libiocp-win32.a $(BUILD)/lib/libiocp.a -lpthread

# The benchmark; not in selftests/, whose programs make check runs.
BENCH_SRCS := bench/iocp_bench.c bench/echo.c bench/scale.c
$(BUILD)/bench/iocp_bench: $(BENCH_SRCS) bench/bench.h $(BUILD)/lib/libiocp.a
	@mkdir -p $(@D)
	$(CC) $(IOCP_CFLAGS) -static -o $@ $(BENCH_SRCS) $(BUILD)/lib/libiocp.a \
		-luring -lpthread

$(KSRC)/.done:
	@test -n "$(KSRC_VERSION)" -a -f $(KSRC_TARBALL) || \
		{ echo "$(KSRC_PKG) is not installed: run make deps" >&2; exit 1; }
	@echo "  EXTRACT $(KSRC_FILES) -> $(KSRC)"
	@rm -rf $(KSRC).tmp$$$$ && mkdir -p $(KSRC).tmp$$$$ && \
	tar -xJf $(KSRC_TARBALL) -C $(KSRC).tmp$$$$ --strip-components=1 \
		--wildcards $(addprefix $(KSRC_PKG)/,$(KSRC_FILES)) && \
	touch $(KSRC).tmp$$$$/.done && rm -rf $(KSRC) && mv $(KSRC).tmp$$$$ $(KSRC)

-include $(wildcard $(BUILD)/*/*.d $(BUILD)/lib/win32/*.d)

# --- tests ------------------------------------------------------------------

deps:
	@scripts/deps.sh

# The benchmark is built too, so that it cannot rot unnoticed.
build-all: all modules-all $(BUILD)/bench/iocp_bench

# Recursive make: the variables above are computed again after deps ran.
check: deps
	@$(MAKE) --no-print-directory build-all || \
		{ echo "make check: the build failed"; echo "0 passed, 1 failed"; exit 1; }
	@BUILD=$(BUILD) scripts/check.sh $(KERNELS)

# make fuzz: iocp_fuzz for FUZZ_SECONDS, then trinity for TRINITY_CALLS
# calls against /dev/iocp, on the debug kernel (FUZZ_KERNELS), from SEED.
FUZZ_SECONDS ?= 600
TRINITY_CALLS ?= 10000
FUZZ_KERNELS ?= debug
SEED ?= $(shell date +%s)
fuzz: deps
	@$(MAKE) --no-print-directory userspace modules-all KERNELS="$(FUZZ_KERNELS)"
	@MODE=fuzz BUILD=$(BUILD) GUEST_TIMEOUT=$$(( $(FUZZ_SECONDS) + 2400 )) \
	IOCP_GUEST_ARGS="iocp_fuzz_seconds=$(FUZZ_SECONDS) iocp_trinity_calls=$(TRINITY_CALLS) iocp_seed=$(SEED)" \
		scripts/check.sh $(FUZZ_KERNELS)

# The demo passes if iocp_demo succeeded, the echo client got every byte
# back (ECHO_CONNS connections of ECHO_SIZE bytes) from the echo server and
# from the Win32 echo server (examples/win32-echo), and both shut down
# cleanly. ECHO_SERVER_ARGS, ECHO_CLIENT_ARGS: more options
# (e.g. -s for the server, -w 1M for the client).
ECHO_CONNS ?= 1000
ECHO_SIZE ?= 1M
ECHO_SERVER_ARGS ?=
ECHO_CLIENT_ARGS ?=
demo: deps
	@$(MAKE) --no-print-directory userspace modules-all KERNELS="$(DEMO_KERNEL)"
	@kver=$$(scripts/kernels.sh resolve $(DEMO_KERNEL) | tail -n 1); \
	out=$(BUILD)/vm/$$kver/out.log; \
	BUILD=$(BUILD) IOCP_GUEST_ARGS="iocp_echo_conns=$(ECHO_CONNS) iocp_echo_size=$(ECHO_SIZE) iocp_echo_server_args=$$(echo $(ECHO_SERVER_ARGS) | tr ' ' +) iocp_echo_client_args=$$(echo $(ECHO_CLIENT_ARGS) | tr ' ' +)" \
		scripts/vm.sh demo $$kver; rc=$$?; \
	tr -d '\r' <$$out; test $$rc -eq 0 && \
	grep -q 'iocp_demo exited with status 0' $$out && \
	test "$$(grep -c '^echo: OK' $$out)" -ge 2 && \
	grep -q 'iocp_echo-client exited with status 0' $$out && \
	grep -q 'iocp_echo-server exited with status 0' $$out && \
	grep -q 'iocp_echo-client against iocp_win32-echo exited with status 0' $$out && \
	grep -q 'iocp-guest: iocp_win32-echo exited with status 0' $$out || \
		{ echo "make demo: FAILED (see $$out)"; exit 1; }

# The guest prints raw results; bench/report.py turns them into tables, CSV
# and a chart in bench/results/. BENCH_ARGS go to iocp_bench (-r, -t, -w,
# -b, -c); see Documentation/performance.rst. tsc=reliable: under TCG the
# clocksource watchdog may otherwise drop the TSC in the middle of a run.
# A guest that dies before its init runs (see scripts/vm.sh) boots again.
bench: deps
	@$(MAKE) --no-print-directory $(BUILD)/bench/iocp_bench modules-all \
		KERNELS="$(BENCH_KERNEL)"
	@kver=$$(scripts/kernels.sh resolve $(BENCH_KERNEL) | tail -n 1); \
	out=$(BUILD)/vm/$$kver/out.log; log=$(BUILD)/bench/vm.log; : >$$log; start=$$(date +%s); \
	tail -n 0 -s 1 -F --pid=$$$$ $$out 2>/dev/null | grep --line-buffered '^P ' & \
	while :; do cut -d' ' -f1 /proc/loadavg; sleep 10; done >$(BUILD)/bench/load.log & \
	sampler=$$!; \
	for boot in 1 2; do \
	BUILD=$(BUILD) GUEST_TIMEOUT=$${GUEST_TIMEOUT:-780} \
	IOCP_GUEST_ARGS="tsc=reliable iocp_bench_args=$$(echo $(BENCH_ARGS) | tr ' ' +)" \
		scripts/vm.sh bench $$kver 2>>$$log; rc=$$?; \
		[ $$rc -ne 0 ] && ! grep -q '^# iocp-guest: kernel' $$out || break; \
		echo "bench: the guest died before its init ran; booting it again" | tee -a $$log; \
	done; kill $$sampler; cat $$log; \
	echo "bench: the guest ran for $$(($$(date +%s) - start)) s"; \
	if [ $$rc -ne 0 ] || ! grep -q '^T,total' $$out; then \
		echo "bench: the guest failed (status $$rc)"; \
		tail -n 30 $$out $(BUILD)/vm/$$kver/console.log | tr -d '\r'; exit 1; fi; \
	python3 bench/report.py $$out bench/results $$log $(BUILD)/bench/load.log

checkpatch: $(KSRC)/.done
	$(CHECKPATCH) --strict --no-tree -f $(wildcard module/*.[ch]) uapi/linux/iocp.h

sparse: $(if $(kvers),,no-kernel)
	+@set -e; $(foreach k,$(kvers),echo "  SPARSE  $(k)"; \
		scripts/kmod.sh $(call kdir_of,$(k)) $(BUILD)/kmod/$(k) C=2 \
			$(shell scripts/kernels.sh kbuild $(k));)

# --- installation -----------------------------------------------------------
#
# make install [PREFIX=/usr/local] [DESTDIR=]: the libraries, their headers
# and pkg-config files, the man pages and the udev rule; make uninstall,
# with the same variables, removes exactly these. With DESTDIR (staging a
# package) neither needs root. Without it, ldconfig runs afterwards.
MANDIR ?= $(PREFIX)/share/man
# udev reads /usr/lib/udev/rules.d and /usr/local/lib/udev/rules.d (and
# /etc/udev/rules.d): the one of PREFIX. Other prefixes: set UDEVDIR.
UDEVDIR ?= $(PREFIX)/lib/udev/rules.d
UDEV_RULES := udev/60-iocp.rules
INSTALL_LIBS := libiocp.a libiocp.so.0 libiocp.so \
	libiocp-win32.a libiocp-win32.so.0 libiocp-win32.so
INSTALL_PCS := libiocp.pc libiocp-win32.pc
WINDOWS_HDRS := $(wildcard lib/iocp/windows/*.h)
MAN_SECTIONS := 3 7
man_pages = $(wildcard man/man$(1)/*.$(1))
define install_man
install -d $(DESTDIR)$(MANDIR)/man$(1)
install -m 644 $(call man_pages,$(1)) $(DESTDIR)$(MANDIR)/man$(1)/

endef

# The .pc files name the installation directories: make them again when
# PREFIX, LIBDIR or INCLUDEDIR change (make, then make install PREFIX=/usr).
$(addprefix $(BUILD)/lib/,$(INSTALL_PCS)): $(BUILD)/lib/pc-dirs
$(BUILD)/lib/pc-dirs: FORCE
	@mkdir -p $(@D)
	@echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR)' | cmp -s - $@ || \
		echo '$(PREFIX) $(LIBDIR) $(INCLUDEDIR)' >$@

install: lib
	install -d $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(INCLUDEDIR)/linux \
		$(DESTDIR)$(INCLUDEDIR)/iocp/windows $(DESTDIR)$(UDEVDIR)
	install -m 644 $(BUILD)/lib/libiocp.a $(BUILD)/lib/libiocp-win32.a \
		$(DESTDIR)$(LIBDIR)/
	install -m 755 $(BUILD)/lib/libiocp.so.0 $(BUILD)/lib/libiocp-win32.so.0 \
		$(DESTDIR)$(LIBDIR)/
	ln -sf libiocp.so.0 $(DESTDIR)$(LIBDIR)/libiocp.so
	ln -sf libiocp-win32.so.0 $(DESTDIR)$(LIBDIR)/libiocp-win32.so
	install -m 644 $(addprefix $(BUILD)/lib/,$(INSTALL_PCS)) \
		$(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 lib/iocp.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 uapi/linux/iocp.h $(DESTDIR)$(INCLUDEDIR)/linux/
	install -m 644 lib/iocp/win32.h $(DESTDIR)$(INCLUDEDIR)/iocp/
	install -m 644 $(WINDOWS_HDRS) $(DESTDIR)$(INCLUDEDIR)/iocp/windows/
	$(foreach n,$(MAN_SECTIONS),$(if $(call man_pages,$(n)),$(call install_man,$(n))))
	install -m 644 $(UDEV_RULES) $(DESTDIR)$(UDEVDIR)/
	$(if $(DESTDIR),,-ldconfig)

uninstall:
	rm -f $(addprefix $(DESTDIR)$(LIBDIR)/,$(INSTALL_LIBS)) \
		$(addprefix $(DESTDIR)$(LIBDIR)/pkgconfig/,$(INSTALL_PCS)) \
		$(DESTDIR)$(INCLUDEDIR)/iocp.h $(DESTDIR)$(INCLUDEDIR)/linux/iocp.h \
		$(DESTDIR)$(INCLUDEDIR)/iocp/win32.h \
		$(addprefix $(DESTDIR)$(INCLUDEDIR)/iocp/windows/,$(notdir $(WINDOWS_HDRS))) \
		$(foreach n,$(MAN_SECTIONS),$(addprefix $(DESTDIR)$(MANDIR)/man$(n)/,$(notdir $(call man_pages,$(n))))) \
		$(addprefix $(DESTDIR)$(UDEVDIR)/,$(notdir $(UDEV_RULES)))
	for d in $(DESTDIR)$(INCLUDEDIR)/iocp/windows $(DESTDIR)$(INCLUDEDIR)/iocp; do \
		[ ! -d $$d ] || rmdir --ignore-fail-on-non-empty $$d; done
	$(if $(DESTDIR),,-ldconfig)

# make modules_install [KVER=] [INSTALL_MOD_PATH=]: the module built for
# KVER into $(INSTALL_MOD_PATH)/lib/modules/$(KVER)/$(INSTALL_MOD_DIR), by
# the kernel's modules_install, then depmod; make modules_uninstall, with
# the same variables, removes it. INSTALL_MOD_DIR is extra on every kernel
# (the kernel's default changed to updates in 6.7).
INSTALL_MOD_DIR ?= extra
MOD_DIR = $(INSTALL_MOD_PATH)/lib/modules/$(KVER)
depmod_kver = depmod $(if $(INSTALL_MOD_PATH),-b $(INSTALL_MOD_PATH)) $(KVER)

modules_install: module
	$(MAKE) -C $(KDIR) M=$(abspath $(BUILD)/kmod/$(KVER)) \
		INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) modules_install
	$(depmod_kver)

modules_uninstall:
	@test -n "$(KVER)" || { echo "modules_uninstall: set KVER" >&2; exit 1; }
	rm -f $(foreach z,.ko .ko.gz .ko.xz .ko.zst,$(MOD_DIR)/$(INSTALL_MOD_DIR)/iocp$(z))
	[ ! -d $(MOD_DIR)/$(INSTALL_MOD_DIR) ] || \
		rmdir --ignore-fail-on-non-empty $(MOD_DIR)/$(INSTALL_MOD_DIR)
	[ ! -d $(MOD_DIR) ] || $(depmod_kver)

# make dkms-install: the DKMS source tree (dkms.conf, Kbuild, module/,
# uapi/) into /usr/src/iocp-$(VERSION), then dkms add, build and install
# for DKMS_KERNELS: KVER when given, else every kernel with a build tree.
# Later kernels get the module from dkms itself (AUTOINSTALL). A version
# already added is removed first, so that the new sources are built. With
# DESTDIR (staging a package whose scripts run dkms), only the source tree
# is copied. make dkms-uninstall: dkms remove for every kernel, and the
# source tree.
DKMS_SRC := /usr/src/iocp-$(VERSION)
ifneq ($(filter command environment,$(firstword $(origin KVER))),)
DKMS_KERNELS ?= $(KVER)
else
DKMS_KERNELS ?= $(patsubst /lib/modules/%/build/Makefile,%,\
	$(wildcard /lib/modules/*/build/Makefile))
endif
dkms_added = dkms status -m iocp -v $(VERSION) 2>/dev/null | grep -q .

dkms-version:
	@grep -qx 'PACKAGE_VERSION="$(VERSION)"' dkms.conf || \
		{ echo "dkms.conf: PACKAGE_VERSION is not the Makefile's VERSION" \
			"($(VERSION))" >&2; exit 1; }

dkms-install: dkms-version
ifeq ($(DESTDIR),)
	@command -v dkms >/dev/null || { echo "dkms is not installed" >&2; exit 1; }
	if $(dkms_added); then dkms remove -m iocp -v $(VERSION) --all; fi
endif
	rm -rf $(DESTDIR)$(DKMS_SRC)
	install -d $(DESTDIR)$(DKMS_SRC)/module $(DESTDIR)$(DKMS_SRC)/uapi/linux
	install -m 644 dkms.conf Kbuild $(DESTDIR)$(DKMS_SRC)/
	install -m 644 $(wildcard module/*.[ch]) $(DESTDIR)$(DKMS_SRC)/module/
	install -m 644 $(wildcard uapi/linux/*.h) $(DESTDIR)$(DKMS_SRC)/uapi/linux/
ifeq ($(DESTDIR),)
	dkms add -m iocp -v $(VERSION)
	$(if $(DKMS_KERNELS),,@echo "dkms-install: no kernel build tree in" \
		"/lib/modules: dkms builds the module when one is installed")
	for k in $(DKMS_KERNELS); do \
		dkms build -m iocp -v $(VERSION) -k $$k && \
		dkms install -m iocp -v $(VERSION) -k $$k || exit 1; \
	done
endif

dkms-uninstall:
ifeq ($(DESTDIR),)
	if $(dkms_added); then dkms remove -m iocp -v $(VERSION) --all; fi
endif
	rm -rf $(DESTDIR)$(DKMS_SRC)

clean:
	rm -rf $(BUILD)
