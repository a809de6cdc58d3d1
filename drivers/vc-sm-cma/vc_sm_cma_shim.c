// SPDX-License-Identifier: GPL-2.0
/*
 * C side of vc-sm-cma: module metadata, the timeout_ms parameter, the exports of the kernel
 * API (implemented in Rust, kapi.rs) and DMA parameters of the vchiq device.
 */
#include <linux/device.h>
#include <linux/dma-mapping.h>
#include <linux/module.h>
#include <linux/moduleparam.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/sched.h>

#include "vc_sm_knl.h"
#include "kext_compat.h"
#include "vc_sm_cma_shim.h"

KEXT_IMPORT_NS_DMA_BUF();
/* Here, not in module!: its key is `author` in 6.12 and `authors` in 7.3. */
MODULE_AUTHOR("vcsm project");

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

/*
 * Pin caps (pins.rs): what one process may keep pinned through the driver (MEM_ALLOC memory,
 * and imported memory the VPU still holds after the process let go of it), and all together.
 */
static unsigned int pin_cap_process_mb = 128;
module_param(pin_cap_process_mb, uint, 0644);
MODULE_PARM_DESC(pin_cap_process_mb,
		 "Memory one process may keep pinned through /dev/vcsm-cma, in MiB (default 128; 0: no cap)");

static unsigned int pin_cap_total_mb = 256;
module_param(pin_cap_total_mb, uint, 0644);
MODULE_PARM_DESC(pin_cap_total_mb,
		 "Memory all processes together may keep pinned through /dev/vcsm-cma, in MiB (default 256; 0: no cap)");

unsigned int vcsm_shim_pin_cap_process_mb(void)
{
	return READ_ONCE(pin_cap_process_mb);
}

unsigned int vcsm_shim_pin_cap_total_mb(void)
{
	return READ_ONCE(pin_cap_total_mb);
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

/* The CMA area vcsm_shim_cma_setup() gave the device, to take back on release. */
static struct cma *vcsm_cma_given;

int vcsm_shim_cma_setup(struct device *dev, u64 *base, u64 *size)
{
#ifdef CONFIG_DMA_CMA
	struct device_node *mem, *np;
	struct reserved_mem *rmem = NULL;

	mem = of_find_node_by_path("/reserved-memory");
	if (!mem)
		return -ENODEV;
	for_each_available_child_of_node(mem, np) {
		if (!of_property_read_bool(np, "linux,cma-default") ||
		    !of_property_read_bool(np, "reusable"))
			continue;
		rmem = of_reserved_mem_lookup(np);
		if (rmem) {
			of_node_put(np);
			break;
		}
	}
	of_node_put(mem);
	/* No struct cma: the kernel bypassed the node (cma= on the command line) or failed it. */
	if (!rmem || !rmem->priv)
		return -ENODEV;
	if (dev->cma_area && dev->cma_area != rmem->priv)
		return -ENODEV;
	if (!dev->cma_area) {
		dev->cma_area = rmem->priv;
		vcsm_cma_given = rmem->priv;
	}
	*base = rmem->base;
	*size = rmem->size;
	return 0;
#else
	return -ENODEV;
#endif
}

void vcsm_shim_dma_release(struct device *dev)
{
	if (dev->dma_parms == &vcsm_dma_parms)
		dev->dma_parms = NULL;
#ifdef CONFIG_DMA_CMA
	/* Pages still allocated are released to the same area: it is the default one. */
	if (vcsm_cma_given && dev->cma_area == vcsm_cma_given)
		dev->cma_area = NULL;
	vcsm_cma_given = NULL;
#endif
}

int vcsm_shim_current_tgid(void)
{
	return task_tgid_nr(current);
}

void vcsm_shim_current_comm(char *buf, unsigned int len)
{
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, current);
	strscpy(buf, comm, len);
}
