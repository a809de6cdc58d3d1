# SPDX-License-Identifier: GPL-2.0
# `make bench`: allocation latency of our heaps against the in-kernel CMA and system heaps.
. /tests/lib.sh
. /tests/heap.sh

heap_load || exit 1
vcsm_check bench/heaps heap-bench --heap vcsm-uncached --heap vcsm-cached --heap reserved \
	--heap system --baseline reserved
