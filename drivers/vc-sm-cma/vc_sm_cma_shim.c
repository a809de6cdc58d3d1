// SPDX-License-Identifier: GPL-2.0
/*
 * C side of vc-sm-cma: module metadata, the timeout_ms parameter, the exports of the kernel
 * API (implemented in Rust, kapi.rs) and DMA parameters of the vchiq device.
 */
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/sched.h>

#include "vc_sm_knl.h"
#include "vc_sm_cma_shim.h"

MODULE_IMPORT_NS(DMA_BUF);

static unsigned int timeout_ms = 3000;
module_param(timeout_ms, uint, 0644);
MODULE_PARM_DESC(timeout_ms, "How long to wait for a VPU reply, in ms (default 3000)");

unsigned int vcsm_shim_timeout_ms(void)
{
	return READ_ONCE(timeout_ms);
}

/* Tests reach transaction ids past 65535 (a downstream bug) without 65536 round trips. */
static unsigned int first_trans_id;
module_param(first_trans_id, uint, 0444);
MODULE_PARM_DESC(first_trans_id, "Transaction id to count from (31 bits, wraps; for testing)");

unsigned int vcsm_shim_first_trans_id(void)
{
	return first_trans_id;
}

/* Implemented in Rust (kapi.rs); prototypes in vc_sm_knl.h. */
EXPORT_SYMBOL_GPL(vc_sm_cma_import_dmabuf);
EXPORT_SYMBOL_GPL(vc_sm_cma_int_handle);
EXPORT_SYMBOL_GPL(vc_sm_cma_free);

/* Used when the vchiq device comes without DMA parameters (one device: one VideoCore). */
static struct device_dma_parameters vcsm_dma_parms;

int vcsm_shim_dma_setup(struct device *dev)
{
	int ret;

	ret = dma_set_mask_and_coherent(dev, DMA_BIT_MASK(32));
	if (ret)
		return ret;
	if (!dev->dma_parms) {
		memset(&vcsm_dma_parms, 0, sizeof(vcsm_dma_parms));
		dev->dma_parms = &vcsm_dma_parms;
	}
	dma_set_max_seg_size(dev, 0x3fffffff);
	return 0;
}

void vcsm_shim_dma_release(struct device *dev)
{
	if (dev->dma_parms == &vcsm_dma_parms)
		dev->dma_parms = NULL;
}

int vcsm_shim_current_tgid(void)
{
	return task_tgid_nr(current);
}
