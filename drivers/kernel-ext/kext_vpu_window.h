/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where the VPU's window onto ARM memory comes from (vpu_window.rs): the DMA range map of a
 * device, or the dma-ranges of the VPU's bus in the device tree.
 *
 * Only modules that need the window link this file (their *_kext.c includes
 * kext_vpu_window.c next to kext_shim.c).
 */
#ifndef VCSM_KEXT_VPU_WINDOW_H
#define VCSM_KEXT_VPU_WINDOW_H

#include <linux/types.h>

struct device;

/* One entry of a DMA range map: @size bytes of bus addresses from @bus are ARM @cpu. */
struct kext_dma_range {
	u64 cpu;
	u64 bus;
	u64 size;
};

/*
 * Copies up to @max entries of @dev's DMA range map (dev->dma_range_map, built from the
 * dma-ranges of its bus by of_dma_configure()) to @out. Returns the number of entries
 * (0: the device has no map, its DMA addresses are ARM physical addresses), or -E2BIG if
 * the map has more than @max entries.
 */
int kext_dev_dma_ranges(struct device *dev, struct kext_dma_range *out, int max);

/* What kext_vpu_dt_ranges() found. */
struct kext_vpu_dt {
	/* #address-cells of the node with the dma-ranges (bus side), of its parent (ARM side),
	 * and its #size-cells. */
	u32 bus_cells;
	u32 cpu_cells;
	u32 size_cells;
	/* The dma-ranges property's length in bytes (copied to the caller's buffer). */
	u32 len;
	/* The full name of the node the ranges are from, NUL-terminated. */
	char node[64];
	/* The compatible of the VPU node that was found. */
	char vpu[32];
};

/*
 * Finds the VPU in the device tree (the first available node compatible with the vchiq
 * mailbox, "brcm,bcm2711-vchiq", "brcm,bcm2836-vchiq" or "brcm,bcm2835-vchiq", or with the
 * test bed's simulated VPU, "vcsm,vpu-sim") and the dma-ranges that apply to the devices it
 * creates: its own, if it has them, else those of its nearest ancestor (/soc on a Pi). The
 * property is copied to @buf (@buflen bytes). Returns 0, -ENODEV (no VPU node), -ENOENT (no
 * dma-ranges on the way to the root, or only an empty one), -EINVAL (the node lacks
 * #address-cells or #size-cells) or -E2BIG (longer than @buflen).
 */
int kext_vpu_dt_ranges(void *buf, size_t buflen, struct kext_vpu_dt *out);

#endif /* VCSM_KEXT_VPU_WINDOW_H */
