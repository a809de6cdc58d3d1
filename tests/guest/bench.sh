# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
# `make bench`: allocation latency of our heaps against the in-kernel CMA and system heaps,
# cold (our pool off) and warm (the pool on), the import round trip of vc-sm-cma next to the
# raw SMEM round trip, and a streaming pipeline's per-frame import cost, all in one boot.
# The baseline is the in-kernel CMA heap, linux,cma: the Pi's system pool, which is also where
# our heaps allocate with the vcsm-cma-heap-system overlay that scripts/bench.sh boots by
# default (VCSM_BENCH_POOL=dedicated: a pool of their own). The host turns the BENCH-JSON lines
# into build/bench/ (scripts/bench-report.py).
# shellcheck source=tests/guest/lib.sh
. /tests/lib.sh
# shellcheck source=tests/guest/heap.sh
. /tests/heap.sh

POOL_MAX=/sys/module/vcsm_cma_heap/parameters/pool_max_kb
HEAP_STATS=/sys/kernel/debug/vcsm-cma-heap/stats
ALL_HEAPS="--heap vcsm-uncached --heap vcsm-cached --heap linux,cma --heap system --baseline linux,cma"

bench_pool_empty() { [ "$(vcsm_pool_pages)" = 0 ]; }

heap_load || exit 1
# Cold: every allocation of our heaps goes to CMA and zeroes on the caller's thread, as
# linux,cma's does.
vcsm_run bench/pool-param
if [ -w "$POOL_MAX" ] && echo 0 > "$POOL_MAX"; then
	vcsm_pass bench/pool-param
else
	vcsm_fail bench/pool-param "no writable $POOL_MAX: the heap has no pool"
fi
# One size at a time, with more rounds than heap-bench's defaults: the host's report pairs
# each round's allocation of ours with linux,cma's of the same round (the heaps take turns
# inside one loop) and judges the median of those per-round ratios, which drift between
# rounds (migration of movable pages, the host's load) cancels out of.
for f in 4:400 1024:300 8192:80 12288:60; do
	# shellcheck disable=SC2086 # ALL_HEAPS is a list of arguments
	vcsm_check "bench/heaps-cold-${f%%:*}K" heap-bench --label cold --json --size "${f%%:*}K" \
		--iters "${f#*:}" $ALL_HEAPS
done
# Warm: the pool on, one size at a time from an empty pool (a stream that starts at a new
# resolution), the warm-up allocations filling it. The cap holds two and a half buffers of the
# size: the two heaps share the pool and alternate in the round-robin, so each finds the other's
# last buffer zeroed (the default cap, a quarter of the 64 MiB system pool, holds one 12 MiB
# buffer; a pipeline restarting a stream of N buffers wants a cap of N).
if [ -w "$POOL_MAX" ]; then
	for kib in 4 1024 8192 12288; do
		echo 0 > "$POOL_MAX"
		vcsm_until 50 bench_pool_empty || echo "bench: the pool did not empty: $(grep '^pool ' "$HEAP_STATS")"
		echo $((kib * 5 / 2)) > "$POOL_MAX"
		# shellcheck disable=SC2086
		vcsm_check "bench/heaps-warm-${kib}K" heap-bench --label warm --json --size "${kib}K" $ALL_HEAPS
	done
	echo -1 > "$POOL_MAX"
	sed 's/^/@@VCSM BENCH-STATS /' "$HEAP_STATS"
fi

# The import round trip of a 4 KiB buffer (the ping's size) next to the raw SMEM round trip of
# this boot (the vchiq test client's `ping once`: one IMPORT message and its reply, timed from
# userspace around the one write that does it, as the import is timed around its ioctl), the
# floor under the driver's import round trip, at 1, 2 and 4 threads. The two bind the same
# vchiq device, so they cannot run at once; they take turns instead, in BENCH_PAIRS pairs of
# phases (ping, then import), and the host's report judges the median of the per-pair ratios:
# the round trip under QEMU TCG has phases that come and go within a boot (a cross-vCPU wakeup
# costs 30 to 100 us), and a phase lasts longer than one pair, so that both sides of a pair see
# the same one.
BENCH_PAIRS=${BENCH_PAIRS:-5}
bench_wait_client() { grep -q '^version_acked 1' /sys/kernel/debug/vchiq-test-client/state 2>/dev/null; }
bench_wait_vcsm() { [ -c /dev/vcsm-cma ]; }
vcsm_run bench/sim-load
if insmod /lib/modules/vpu-sim.ko; then vcsm_pass bench/sim-load; else vcsm_fail bench/sim-load "insmod vpu-sim failed"; exit 1; fi
pair=1
while [ $pair -le "$BENCH_PAIRS" ]; do
	echo "@@VCSM BENCH-PAIR $pair"
	vcsm_run "bench/smem-ping-pair$pair"
	if insmod /lib/modules/vchiq-test-client.ko && vcsm_until 50 bench_wait_client &&
		smem-ping --threads 1 --threads 2 --threads 4 --iters 300; then
		vcsm_pass "bench/smem-ping-pair$pair"
	else
		vcsm_fail "bench/smem-ping-pair$pair" "vchiq-test-client did not load or connect, or smem-ping failed"
	fi
	rmmod vchiq_test_client 2>/dev/null
	vcsm_run "bench/import-4K-pair$pair"
	if insmod /lib/modules/vc-sm-cma.ko && vcsm_until 50 bench_wait_vcsm; then
		failed=""
		for t in 1 2 4; do
			if out=$(vcsm-tool bench --what import --size 4K --iters 300 --threads $t --no-progress --json); then
				echo "@@VCSM BENCH-JSON import threads=$t $out"
			else
				echo "$out"
				failed="$failed $t"
			fi
		done
		if [ -z "$failed" ]; then
			vcsm_pass "bench/import-4K-pair$pair"
		else
			vcsm_fail "bench/import-4K-pair$pair" "vcsm-tool bench failed with threads:$failed"
		fi
	else
		vcsm_fail "bench/import-4K-pair$pair" "vc-sm-cma did not load or make /dev/vcsm-cma"
	fi
	rmmod vc_sm_cma 2>/dev/null
	pair=$((pair + 1))
done

vcsm_run bench/vcsm-load
if insmod /lib/modules/vc-sm-cma.ko && vcsm_until 50 bench_wait_vcsm; then
	vcsm_pass bench/vcsm-load
else
	vcsm_fail bench/vcsm-load "no /dev/vcsm-cma"
	exit 1
fi
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
	fname=${f%%:*}
	rest=${f#*:}
	for h in vcsm-uncached vcsm-cached; do
		vcsm_check "bench/frames-$fname-$h" vcsm-tool bench --what frames --size "${rest%%:*}" \
			--buffers "${rest#*:}" --iters 100 --heap "$h" --no-progress
	done
done
