/* SPDX-License-Identifier: GPL-2.0 */
/* Platform-driver glue between the C device model and the Rust CMA heap (cma_heap.rs). */
#ifndef VCSM_CMA_HEAP_SHIM_H
#define VCSM_CMA_HEAP_SHIM_H

#include <linux/types.h>

struct device;

/*
 * Implemented in Rust: set up the heaps of @dev, whose CMA region (from its
 * memory-region, the reserved-memory node @name) spans [@base, @base + @size), if the VPU
 * can reach it. @pool_max is the node's vcsm,pool-max-bytes (U64_MAX: absent). On success
 * *@state is the per-device state handed back to vcsm_cma_heap_rust_remove().
 * -EPROBE_DEFER while the firmware is not bound yet.
 */
int vcsm_cma_heap_rust_probe(struct device *dev, const char *name, u64 base, u64 size,
			     u64 pool_max, void **state);
void vcsm_cma_heap_rust_remove(void *state);

#endif /* VCSM_CMA_HEAP_SHIM_H */
