/* SPDX-License-Identifier: GPL-2.0 */
/* C side of vc-sm-cma (vc_sm_cma_shim.c): what the 6.12 Rust `module!` cannot express. */
#ifndef VC_SM_CMA_SHIM_H
#define VC_SM_CMA_SHIM_H

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

#endif /* VC_SM_CMA_SHIM_H */
