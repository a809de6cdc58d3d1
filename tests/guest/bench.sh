# SPDX-License-Identifier: GPL-2.0
# `make bench`: allocation latency of our heaps against the in-kernel CMA and system heaps, and
# the import+free round trip of vc-sm-cma against the simulated VPU (1 and 4 threads).
# The baseline is the in-kernel CMA heap, linux,cma: the Pi's system pool, which is also where
# our heaps allocate with the vcsm-cma-heap-system overlay that scripts/bench.sh boots by
# default (VCSM_BENCH_POOL=dedicated: a pool of their own).
. /tests/lib.sh
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

# The per-frame import cost of a streaming pipeline: a ring of frame buffers imported on every
# frame (as bcm2835-isp imports its lens-shading table each time it is set) against each buffer
# imported once and reused (MMAL's zero-copy ports, vcsm-tool stream). 1080p and 12 MP YUV420
# frames (1920x1080 and 4056x3040, the HQ camera's full resolution), both heaps; the 12 MP ring
# holds 2 frames so that it fits the 64 MiB system pool next to the DMA atomic pools.
for f in 1080p:3110400:4 12mp:18495360:2; do
	name=${f%%:*}
	rest=${f#*:}
	for h in vcsm-uncached vcsm-cached; do
		vcsm_check "bench/frames-$name-$h" vcsm-tool bench --what frames --size "${rest%%:*}" \
			--buffers "${rest#*:}" --iters 100 --heap "$h" --no-progress
	done
done
