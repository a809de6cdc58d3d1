/* SPDX-License-Identifier: GPL-2.0 */
/* C side of vc-sm-cma (vc_sm_cma_shim.c): what the 6.12 Rust `module!` cannot express. */
#ifndef VC_SM_CMA_SHIM_H
#define VC_SM_CMA_SHIM_H

#include <linux/types.h>

struct device;

/* The module parameter timeout_ms: how long to wait for a VPU reply, in milliseconds. */
unsigned int vcsm_shim_timeout_ms(void);

/* The module parameter first_trans_id: where transaction ids start counting. */
unsigned int vcsm_shim_first_trans_id(void);

/*
 * DMA set-up of the vchiq device: 32-bit masks and a maximum segment size of 1 GiB - 1,
 * so that a contiguous buffer maps as one segment. If the device has no dma_parms, the
 * module's own are used until vcsm_shim_dma_release(). Returns 0 or a negative errno.
 */
int vcsm_shim_dma_setup(struct device *dev);
void vcsm_shim_dma_release(struct device *dev);

/* The tgid of the current task (task_tgid_nr(current)). */
int vcsm_shim_current_tgid(void);

/* The current task's name (get_task_comm), NUL-terminated, into @buf of @len >= 16 bytes. */
void vcsm_shim_current_comm(char *buf, unsigned int len);

/*
 * The module parameters pin_cap_process_mb and pin_cap_total_mb: how much memory one process,
 * and all processes together, may keep pinned through the driver (MiB; 0 = no cap).
 */
unsigned int vcsm_shim_pin_cap_process_mb(void);
unsigned int vcsm_shim_pin_cap_total_mb(void);

/*
 * The system CMA pool (the reusable /reserved-memory node with linux,cma-default: `cma:
 * linux,cma` on every Raspberry Pi tree), which MEM_ALLOC and VC_MEM_REQUEST memory must come
 * from. Makes it the CMA area of @dev if @dev has none (so that single pages come from it too,
 * not from the page allocator), and returns its range in @base and @size. -ENODEV if there is
 * no such pool (none in the device tree, or `cma=` on the command line replaced it) or @dev
 * already has another area. Undone by vcsm_shim_dma_release().
 */
int vcsm_shim_cma_setup(struct device *dev, u64 *base, u64 *size);

#endif /* VC_SM_CMA_SHIM_H */
