#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
# `make bench`: one boot of the non-debug (perf) kernel; allocation latency of our two heaps
# and of the in-kernel CMA (`linux,cma`) and system heaps, as ratios to the in-kernel CMA heap.
#
# Our heaps sit on the same CMA area as the baseline: the vcsm-cma-heap-system overlay puts
# them on the Pi's system pool `cma: linux,cma` that tests/qemu/run.sh gives the guest (64 MiB,
# the kernel's default area, which also holds the DMA atomic pools), the area behind the
# in-kernel heap /dev/dma_heap/linux,cma. Same pool, same free-block layout: apples to apples.
# VCSM_BENCH_POOL=dedicated boots the dedicated 128 MiB pool overlay (vcsm-cma-heap-virt)
# instead, as `make bench` did before; the baseline stays linux,cma.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# shellcheck source=scripts/lib.sh
. "$top/scripts/lib.sh"
must deps scripts/install-deps.sh
must kernel-perf scripts/kernel.sh build perf
kdir=$(scripts/kernel.sh kdir perf)
must modules-perf scripts/build-modules.sh "$kdir"
must guest-programs-perf scripts/guest-build.sh "$kdir" "$top/build/guest-bin-perf"
must dtbs dts-overlays/build.sh "$top/build/dtbs"
case ${VCSM_BENCH_POOL:-system} in
system) heap_dtbo=vcsm-cma-heap-system.dtbo pool="the system CMA pool linux,cma" ;;
dedicated) heap_dtbo=vcsm-cma-heap-virt.dtbo pool="a dedicated 128 MiB pool (vcsm-cma-pool)" ;;
*) echo "bench.sh: VCSM_BENCH_POOL must be 'system' (the default) or 'dedicated'" >&2; exit 2 ;;
esac
step bench-guest tests/qemu/run.sh --kdir "$kdir" --modules "$top/build/kmod/$(basename "$kdir")" \
	--bin "$top/build/guest-bin-perf" --dtbo "$top/build/dtbs/$heap_dtbo" \
	--dtbo "$top/build/dtbs/vpu-sim-virt.dtbo" --script bench --timeout 900 --out "$top/build/qemu-bench"
console="$top/build/qemu-bench/bench/console.txt"
echo
echo "make bench: QEMU TCG arm64 guest, $(nproc) host cores, one boot; our heaps on $pool,"
echo "baseline the in-kernel CMA heap linux,cma (ready: the allocation plus mmap, one write per"
echo "page and munmap; ratio: p50 over linux,cma's p50 of the same run and size)."
echo
# One table, the targets (reported, not enforced: a timing on a shared host is not a pass/fail
# test), build/bench/report.md and build/bench/alloc-latency.svg.
if ! python3 "$top/scripts/bench-report.py" "$console" "$top/build/bench"; then
	echo "bench-report: no results in $console"
	VCSM_FAILED=$((VCSM_FAILED + 1))
fi
echo
echo "vc-sm-cma import+free round trip of a 1 MiB vcsm-uncached buffer, simulated VPU:"
sed -n '/RUN bench\/import-free/,/PASS bench\/import-free\|FAIL bench\/import-free/p' "$console" | grep -v '@@VCSM'
vcsm_summary
[ "$VCSM_FAILED" -eq 0 ]
