#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: install what is missing, build, run every host test, the lint gates
# (scripts/lint.sh) and the QEMU guest tests
# (five boots: everything on the dedicated pool; the heaps on the system CMA pool; the
# hostile-user suite: fuzzer, fault injection, killed processes, unload races; the VPU's window
# with a split range map; a Raspberry Pi 3 B on QEMU raspi3b with the real firmware driver).
#
# Two kernels: Linux 6.12 and 7.3 (scripts/kernel.sh). With VCSM_KERNEL unset (`make check`) the
# whole suite runs on 6.12, and on 7.3 the modules (with the kernel's clippy lints), the VCHIQ
# link check and the main boot (heaps, simulated VPU, driver, vcsm-tool, fuzzer); with
# VCSM_KERNEL=6.12 or 7.3 (`make check KERNEL=7.3`) the whole suite runs on that kernel only.
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
# The kernels: the first gets the whole suite, the second (if any) the short one.
if [ -n "${VCSM_KERNEL:-}" ]; then
	kernels=("$VCSM_KERNEL")
else
	kernels=(6.12 7.3)
fi
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
	local log="$top/build/qemu${sfx}-hostile/hostile/console.txt"
	[ -f "$log" ] || return 0
	echo "    hostile-user boot (console: ${log#"$top/"}):"
	grep -E '^(vcsm-fuzz: seed |@@VCSM INFO fuzz/[a-z-]+: [0-9]+ calls in |faults/[a-z-]+: [0-9]+ steps|chaos: seed )' "$log" |
		sed -e 's/^@@VCSM INFO //' -e 's/^/      /'
}
hostile() {
	tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$bin" \
		--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" \
		--script hostile --timeout "$hostile_timeout" --out "$top/build/qemu${sfx}-hostile" "${hostile_env[@]}"
}

# suite KERNEL full|short: the kernel, the modules and the boots for one kernel. Steps and
# output directories of 6.12 keep their names; those of another kernel carry its version
# (kernel-debug-7.3, build/qemu-7.3-hostile, ...).
suite() {
	local scope=$2
	export VCSM_KERNEL=$1
	sfx=""
	[ "$VCSM_KERNEL" = 6.12 ] || sfx="-$VCSM_KERNEL"
	echo "--- Linux $VCSM_KERNEL ($scope)"
	must "kernel-debug$sfx" scripts/kernel.sh build debug
	kdir=$(scripts/kernel.sh kdir debug)
	# The lint gates of scripts/lint.sh (rustfmt, clippy on the modules and the host
	# workspaces, kernel-ext's dead code, and shellcheck), before the boots: a finding fails the
	# check. The short suite runs the kernel's clippy lints and the dead-code audit only (the
	# rest does not depend on the kernel).
	if [ "$mode" = check ]; then
		if [ "$scope" = full ]; then
			# shellcheck source=scripts/lint.sh
			. "$top/scripts/lint.sh"
			vcsm_lint "$kdir"
		else
			step "lint-clippy-kernel$sfx" vcsm_lint_clippy_kernel "$kdir"
			step "lint-kext-dead-code$sfx" vcsm_lint_kext_dead_code "$kdir"
		fi
	fi
	must "modules$sfx" scripts/build-modules.sh "$kdir"
	moddir="$top/build/kmod/$(basename "$kdir")"
	[ "$mode" = check ] && step "vchiq-linkcheck$sfx" tests/host/vchiq-linkcheck.sh --kdir "$kdir" \
		--sim-symvers "$moddir-tests/Module.symvers" "$moddir/vc-sm-cma.ko" "$moddir/vchiq-test-client.ko"
	[ "$mode" = check ] && step "host-overlays$sfx" tests/host/overlays.sh "$top/build/dtbs" "$kdir"
	bin="$top/build/guest-bin$sfx"
	must "guest-programs$sfx" scripts/guest-build.sh "$kdir" "$bin"

	if [ "$mode" = soak ]; then
		step "qemu-guest-hostile-soak$sfx" hostile
		hostile_report
		return
	fi

	# The main boot: heaps, simulated VPU, driver, vcsm-tool, fuzzer (tests/guest/check.sh).
	step "qemu-guest$sfx" tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$bin" \
		--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" \
		--dtbo "$top/build/dtbs/vcsm-far-pool-virt.dtbo" --script check --timeout 1800 \
		--out "$top/build/qemu$sfx"
	[ "$scope" = full ] || return 0
	# The heaps on the Pi's system CMA pool (`cma: linux,cma`, which run.sh gives every guest),
	# in a boot of their own with only the system-pool overlay: no dedicated pool, no simulated
	# VPU.
	step "qemu-guest-system-pool$sfx" tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" \
		--bin "$bin" --dtbo "$top/build/dtbs/vcsm-cma-heap-system.dtbo" \
		--script heap-system --timeout 900 --out "$top/build/qemu${sfx}-system"
	step "qemu-guest-hostile$sfx" hostile
	hostile_report
	# The VPU's window against a DMA layer that does not bounce what lies outside it: the
	# simulated VPU with a second dma-ranges entry for the RAM above its window
	# (tests/guest/window.sh).
	step "qemu-guest-window$sfx" tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$bin" \
		--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt-split.dtbo" \
		--script window --timeout 900 --out "$top/build/qemu${sfx}-window"
	# A Raspberry Pi 3 B (QEMU -M raspi3b): the kernel's own Pi 3 tree with the Pi firmware's
	# dma-ranges, the Pi overlay, the simulated VPU under /soc; the firmware bindings answered
	# by QEMU's property mailbox (tests/guest/pi3.sh).
	step "qemu-guest-raspi3b$sfx" tests/qemu/run.sh --machine raspi3b --kdir "$kdir" \
		--modules "$moddir" --bin "$bin" --dtbo "$top/build/dtbs/vcsm-cma-heap-pi3.dtbo" \
		--dtbo "$top/build/dtbs/vpu-sim-pi3.dtbo" --script pi3 --timeout 900 \
		--out "$top/build/qemu${sfx}-pi3"
}

suite "${kernels[0]}" full
if [ "$mode" = soak ]; then
	echo "make soak took $(( $(date +%s) - start )) s; log in build/qemu${sfx}-hostile/hostile/console.txt"
	vcsm_summary
	[ "$VCSM_FAILED" -eq 0 ]
	exit
fi
for k in "${kernels[@]:1}"; do
	suite "$k" short
done

echo "make check took $(( $(date +%s) - start )) s; logs in build/logs/"
vcsm_summary
[ "$VCSM_FAILED" -eq 0 ]
