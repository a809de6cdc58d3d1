// SPDX-License-Identifier: GPL-2.0
/* This module's private copies of the kernel-ext (with VCHIQ) and test-support helpers. */
#include <linux/dma-direct.h>
#include <linux/module.h>
#include <linux/slab.h>

#include "../../drivers/kernel-ext/kext_shim.c"
#include "../../drivers/kernel-ext/kext_vchiq.c"

/* Here, not in module!: its key is `author` in 6.12 and `authors` in 7.3. */
MODULE_AUTHOR("vcsm project");

void *vtc_slab_alloc(struct device *dev, u64 *bus);
void vtc_slab_free(void *obj);

/*
 * A page-sized slab object in ZONE_DMA (the VPU's window: arm64's ZONE_DMA ends where the
 * lowest dma-ranges do) and its bus address for @dev, for a deliberately wrong
 * VC_MEM_REQUEST_REPLY. Power-of-two kmalloc sizes are naturally aligned.
 */
void *vtc_slab_alloc(struct device *dev, u64 *bus)
{
	void *obj = kmalloc(PAGE_SIZE, GFP_KERNEL | GFP_DMA);

	if (obj)
		*bus = phys_to_dma(dev, virt_to_phys(obj));
	return obj;
}

void vtc_slab_free(void *obj)
{
	kfree(obj);
}
