// SPDX-License-Identifier: GPL-2.0
/*
 * VPU window glue (see kext_vpu_window.h). Included by the *_kext.c of the modules that need
 * the window, so each carries a private copy.
 */
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/of.h>
#include <linux/string.h>

#include "kext_vpu_window.h"

int kext_dev_dma_ranges(struct device *dev, struct kext_dma_range *out, int max)
{
	const struct bus_dma_region *m = dev->dma_range_map;
	int n = 0;

	if (!m)
		return 0;
	for (; m->size; m++) {
		if (n == max)
			return -E2BIG;
		out[n].cpu = m->cpu_start;
		out[n].bus = m->dma_start;
		out[n].size = m->size;
		n++;
	}
	return n;
}

static const char *const kext_vpu_compatibles[] = {
	"brcm,bcm2711-vchiq", "brcm,bcm2836-vchiq", "brcm,bcm2835-vchiq", "vcsm,vpu-sim",
};

static struct device_node *kext_vpu_node(const char **compat)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(kext_vpu_compatibles); i++) {
		struct device_node *np = NULL;

		while ((np = of_find_compatible_node(np, NULL, kext_vpu_compatibles[i]))) {
			if (of_device_is_available(np)) {
				*compat = kext_vpu_compatibles[i];
				return np;
			}
		}
	}
	return NULL;
}

int kext_vpu_dt_ranges(void *buf, size_t buflen, struct kext_vpu_dt *out)
{
	const char *compat = "";
	struct device_node *np = kext_vpu_node(&compat);
	const void *prop = NULL;
	int len = 0, ret = 0;

	memset(out, 0, sizeof(*out));
	if (!np)
		return -ENODEV;
	strscpy(out->vpu, compat, sizeof(out->vpu));
	/* The VPU node itself (the simulator's carries its own), then its ancestors. */
	while (np) {
		prop = of_get_property(np, "dma-ranges", &len);
		if (prop)
			break;
		np = of_get_next_parent(np);
	}
	if (!np || len <= 0) {
		ret = -ENOENT;
		goto out;
	}
	snprintf(out->node, sizeof(out->node), "%pOF", np);
	if (of_property_read_u32(np, "#address-cells", &out->bus_cells) ||
	    of_property_read_u32(np, "#size-cells", &out->size_cells)) {
		ret = -EINVAL;
		goto out;
	}
	out->cpu_cells = of_n_addr_cells(np);
	if ((size_t)len > buflen) {
		ret = -E2BIG;
		goto out;
	}
	memcpy(buf, prop, len);
	out->len = len;
out:
	of_node_put(np);
	return ret;
}
