# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# `make bench`: allocation latency of our heaps against the in-kernel CMA and system heaps, and
# the import+free round trip of vc-sm-cma against the simulated VPU (1 and 4 threads).
# The baseline is the in-kernel CMA heap, linux,cma: the Pi's system pool, which is also where
# our heaps allocate with the vcsm-cma-heap-system overlay that scripts/bench.sh boots by
# default (VCSM_BENCH_POOL=dedicated: a pool of their own).
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh

heap_load || exit 1
vcsm_check bench/heaps heap-bench --heap vcsm-uncached --heap vcsm-cached --heap linux,cma \
	--heap system --baseline linux,cma

vcsm_run bench/vcsm-load
if insmod /lib/modules/vpu-sim.ko && insmod /lib/modules/vc-sm-cma.ko; then
	i=0
	while [ ! -c /dev/vcsm-cma ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
fi
if [ -c /dev/vcsm-cma ]; then vcsm_pass bench/vcsm-load; else vcsm_fail bench/vcsm-load "no /dev/vcsm-cma"; exit 1; fi
for t in 1 4; do
	vcsm_check "bench/import-free-1M-${t}thread" vcsm-tool bench --what import --size 1M \
		--iters 200 --threads $t --no-progress
done
