#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make check`: install what is missing, build, run every host test and the QEMU guest tests
# (two boots: everything on the dedicated pool, then the heaps on the system CMA pool).
# The last line is `N passed, N failed`; the exit status is non-zero if anything failed.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"
start=$(date +%s)

must deps scripts/install-deps.sh
# shellcheck source=scripts/env.sh
. "$top/scripts/env.sh"

# Host tests.
step host-smem-protocol cargo test --locked --manifest-path drivers/common/Cargo.toml
step host-uapi-rust cargo test --locked --manifest-path uapi/rust/Cargo.toml
step host-uapi-header bash uapi/tests/check-header.sh
step host-userspace cargo test --locked --manifest-path userspace/Cargo.toml
step host-harness python3 tests/qemu/test_judge.py
step host-install bash tests/host/install.sh
step host-docs bash tests/host/docs.sh "$top/build/docs"

# Kernel, modules, guest programs.
must kernel-debug scripts/kernel.sh build debug
kdir=$(scripts/kernel.sh kdir debug)
must modules scripts/build-modules.sh "$kdir"
moddir="$top/build/kmod/$(basename "$kdir")"
step vchiq-linkcheck tests/host/vchiq-linkcheck.sh --kdir "$kdir" \
	--sim-symvers "$moddir-tests/Module.symvers" "$moddir/vc-sm-cma.ko" "$moddir/vchiq-test-client.ko"
step host-overlays tests/host/overlays.sh "$top/build/dtbs" "$(readlink -f "$kdir/source")"
must guest-programs scripts/guest-build.sh "$kdir" "$top/build/guest-bin"

# The guest. The fuzzer's settings go to the guest's init as KEY=VALUE words of the kernel
# command line (VCSM_FUZZ_SEED=N replays a run; see tests/guest/fuzz.sh).
fuzz_env=""
for v in VCSM_FUZZ_SEED VCSM_FUZZ_CALLS VCSM_FUZZ_THREADS VCSM_FUZZ_WRAP_DEPTH VCSM_FUZZ_IMPORTS_PER_BUFFER; do
	[ -n "${!v:-}" ] && fuzz_env="$fuzz_env $v=${!v}"
done
step qemu-guest tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" --bin "$top/build/guest-bin" \
	--dtbo "$top/build/dtbs/vcsm-cma-heap-virt.dtbo" --dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" \
	--script check --timeout 1800 --kernel-cmdline "${fuzz_env# }"
# The heaps on the Pi's system CMA pool (`cma: linux,cma`, which run.sh gives every guest), in a
# boot of their own with only the system-pool overlay: no dedicated pool, no simulated VPU.
step qemu-guest-system-pool tests/qemu/run.sh --kdir "$kdir" --modules "$moddir" \
	--bin "$top/build/guest-bin" --dtbo "$top/build/dtbs/vcsm-cma-heap-system.dtbo" \
	--script heap-system --timeout 900 --out "$top/build/qemu-system"

echo "make check took $(( $(date +%s) - start )) s; logs in build/logs/"
vcsm_summary
[ "$VCSM_FAILED" -eq 0 ]
