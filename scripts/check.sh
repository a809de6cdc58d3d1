#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: install what is missing, build, run every host test, the lint gates
# (scripts/lint.sh) and the QEMU guest tests
# (five boots: everything on the dedicated pool; the heaps on the system CMA pool; the
# hostile-user suite: fuzzer, fault injection, killed processes, unload races; the VPU's window
# with a split range map; a Raspberry Pi 3 B on QEMU raspi3b with the real firmware driver).
#
# `scripts/check.sh soak` (`make soak`) runs only the hostile-user boot, longer: VCSM_SOAK_CALLS
# fuzzer calls (default 2,000,000), VCSM_FUZZ_SEED to replay a seed.
# The last line is `N passed, N failed`; the exit status is non-zero if anything failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"
start=$(date +%s)
mode=${1:-check}
case $mode in check|soak) ;; *) echo "check.sh: unknown mode $mode" >&2; exit 2 ;; esac

must deps scripts/install-deps.sh
# shellcheck source=scripts/env.sh
. "$top/scripts/env.sh"

# Host tests.
if [ "$mode" = check ]; then
step host-protocols cargo test --locked --manifest-path drivers/common/Cargo.toml
step host-uapi-rust cargo test --locked --manifest-path uapi/rust/Cargo.toml
step host-uapi-header bash uapi/tests/check-header.sh
step host-userspace cargo test --locked --manifest-path userspace/Cargo.toml
step host-harness python3 tests/qemu/test_judge.py
step host-install bash tests/host/install.sh
step host-docs bash tests/host/docs.sh "$top/build/docs"
fi

# Kernel, modules, guest programs.
must kernel-debug scripts/kernel.sh build debug
kdir=$(scripts/kernel.sh kdir debug)
# The lint gates of scripts/lint.sh (rustfmt, clippy on the modules and the host workspaces,
# and shellcheck), before the boots: a finding fails the check.
if [ "$mode" = check ]; then
	# shellcheck source=scripts/lint.sh
	. "$top/scripts/lint.sh"
	vcsm_lint "$kdir"
fi
must modules scripts/build-modules.sh "$kdir"
moddir="$top/build/kmod/$(basename "$kdir")"
[ "$mode" = check ] && step vchiq-linkcheck tests/host/vchiq-linkcheck.sh --kdir "$kdir" \
	--sim-symvers "$moddir-tests/Module.symvers" "$moddir/vc-sm-cma.ko" "$moddir/vchiq-test-client.ko"
[ "$mode" = check ] && step host-overlays tests/host/overlays.sh "$top/build/dtbs" "$kdir"
must guest-programs scripts/guest-build.sh "$kdir" "$top/build/guest-bin"

# The hostile-user boot (tests/guest/hostile.sh): as uid 1000 in group video and as a uid
# outside it; the fuzzer's seed and call count and the fault-injection step counts are in
# build/qemu-hostile/hostile/console.txt.
# The phases' settings pass through to the guest (tests/guest/fuzz.sh, chaos.sh): for example
# VCSM_FUZZ_SEED=N and VCSM_CHAOS_SEED=N replay a run.
hostile_env=()
for v in VCSM_FUZZ_SEED VCSM_FUZZ_CALLS VCSM_FUZZ_THREADS VCSM_FUZZ_WRAP_DEPTH \
	VCSM_FUZZ_IMPORTS_PER_BUFFER VCSM_CHAOS_SEED; do
	[ -n "${!v:-}" ] && hostile_env+=(--env "$v=${!v}")
done
if [ "$mode" = soak ]; then
	hostile_env+=(--env "VCSM_FUZZ_CALLS=${VCSM_SOAK_CALLS:-2000000}")
	hostile_timeout=${VCSM_SOAK_TIMEOUT:-10800}
else
	hostile_timeout=1500
fi
# What the hostile-user boot did, from its console: the fuzzer's seed and call count, the fault
# injection's steps per entry point, the chaos seed.
hostile_report() {
	local log="$top/build/qemu-hostile/hostile/console.txt"
	[ -f "$log" ] || return 0
	echo "    hostile-user boot (console: build/qemu-hostile/hostile/console.txt):"
	grep -E '^(vcsm-fuzz: seed |@@VCSM INFO fuzz/[a-z-]+: [0-9]+ calls in |faults/[a-z-]+: [0-9]+ steps|chaos: seed )' "$log" |
		sed -e 's/^@@VCSM INFO //' -e 's/^/      /'
}
hostile() {
	tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$top/build/guest-bin" \
		--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" \
		--script hostile --timeout "$hostile_timeout" --out "$top/build/qemu-hostile" "${hostile_env[@]}"
}

if [ "$mode" = soak ]; then
	step qemu-guest-hostile-soak hostile
	hostile_report
	echo "make soak took $(( $(date +%s) - start )) s; log in build/qemu-hostile/hostile/console.txt"
	vcsm_summary
	[ "$VCSM_FAILED" -eq 0 ]
	exit
fi

# The guest.
step qemu-guest tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$top/build/guest-bin" \
	--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" \
	--dtbo "$top/build/dtbs/vcsm-far-pool-virt.dtbo" --script check --timeout 1800
# The heaps on the Pi's system CMA pool (`cma: linux,cma`, which run.sh gives every guest), in a
# boot of their own with only the system-pool overlay: no dedicated pool, no simulated VPU.
step qemu-guest-system-pool tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" \
	--bin "$top/build/guest-bin" --dtbo "$top/build/dtbs/vcsm-cma-heap-system.dtbo" \
	--script heap-system --timeout 900 --out "$top/build/qemu-system"
step qemu-guest-hostile hostile
hostile_report
# The VPU's window against a DMA layer that does not bounce what lies outside it: the simulated
# VPU with a second dma-ranges entry for the RAM above its window (tests/guest/window.sh).
step qemu-guest-window tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$top/build/guest-bin" \
	--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt-split.dtbo" \
	--script window --timeout 900 --out "$top/build/qemu-window"
# A Raspberry Pi 3 B (QEMU -M raspi3b): the kernel's own Pi 3 tree with the Pi firmware's
# dma-ranges, the Pi overlay, the simulated VPU under /soc; the firmware bindings answered by
# QEMU's property mailbox (tests/guest/pi3.sh).
step qemu-guest-raspi3b tests/qemu/run.sh --machine raspi3b --kdir "$kdir" --modules "$moddir" \
	--bin "$top/build/guest-bin" --dtbo "$top/build/dtbs/vcsm-cma-heap-pi3.dtbo" \
	--dtbo "$top/build/dtbs/vpu-sim-pi3.dtbo" --script pi3 --timeout 900 --out "$top/build/qemu-pi3"

echo "make check took $(( $(date +%s) - start )) s; logs in build/logs/"
vcsm_summary
[ "$VCSM_FAILED" -eq 0 ]
