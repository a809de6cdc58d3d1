# SPDX-License-Identifier: GPL-2.0
# vcsm: VideoCore shared memory in Rust for Linux 6.12 and 7.3 (arm64).
#
#   make demo      set up, build, boot the QEMU arm64 guest and show the suite at work
#   make check     every test (host and guest); last line `N passed, N failed`
#   make soak      the hostile-user boot only, longer (VCSM_SOAK_CALLS fuzzer calls, default 2M)
#   make bench     heap allocation latency against the in-kernel heaps (perf kernel)
#   make           the modules, against KDIR or the cached test kernel
#   make dtbs      the device-tree overlays
#   make clippy    the modules once more with CLIPPY=1
#   make lint      the lint gates: rustfmt, clippy (modules and host crates), shellcheck
#   make deps      install what the build needs (Debian packages, bindgen-cli)
#   make kernel    the test kernel (FLAVOUR=debug|perf), cached in ~/.cache/vcsm
#   make install   modules, overlays, udev rule, vcsm-tool into DESTDIR (default /), for KDIR
#
# KDIR=<kernel build dir> builds against another Rust-enabled 6.12 or 7.3 kernel (e.g. a Pi
# kernel). KERNEL=6.12|7.3 picks the test kernel: `make check` runs everything on 6.12 and the
# modules, link check and main boot on 7.3; `make check KERNEL=7.3` runs everything on 7.3.

FLAVOUR ?= debug
KERNEL ?=
ifneq ($(KERNEL),)
export VCSM_KERNEL := $(KERNEL)
endif
KDIR ?=
O := $(CURDIR)/build

.PHONY: all modules deps kernel dtbs clippy lint check soak demo bench install clean help

DESTDIR ?= /

all: modules

help:
	@sed -n '2,18p' Makefile | sed 's/^# \{0,1\}//'

deps:
	@scripts/install-deps.sh

kernel: deps
	@scripts/kernel.sh build $(FLAVOUR)

# With KDIR (a Pi kernel, DKMS) nothing is installed: only the modules are built.
modules:
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || { scripts/install-deps.sh && kdir=$$(scripts/kernel.sh build $(FLAVOUR)); }; \
	scripts/build-modules.sh "$$kdir"

clippy:
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || { scripts/install-deps.sh && kdir=$$(scripts/kernel.sh build $(FLAVOUR)); }; \
	scripts/build-modules.sh "$$kdir" CLIPPY=1

lint:
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || { scripts/install-deps.sh && kdir=$$(scripts/kernel.sh build $(FLAVOUR)); }; \
	scripts/lint.sh "$$kdir"

install:
	@kdir="$(KDIR)"; [ -n "$$kdir" ] || kdir=$$(scripts/kernel.sh kdir $(FLAVOUR)); \
	scripts/install.sh "$(DESTDIR)" "$$kdir" "$(O)/kmod/$$(basename "$$kdir")"

dtbs:
	@dts-overlays/build.sh $(O)/dtbs

check:
	@scripts/check.sh

soak:
	@scripts/check.sh soak

demo:
	@scripts/demo.sh

bench:
	@scripts/bench.sh

clean:
	rm -rf $(O)
	find . -name target -prune -o \( -name '*.o' -o -name '*.ko' -o -name '.*.cmd' \) -print -delete
