// SPDX-License-Identifier: GPL-2.0
/*
 * Platform-driver glue for the Rust CMA heap: device-tree matching, the device's
 * reserved-memory (CMA) region, module metadata the 6.12 `module!` macro cannot express.
 */
#include <linux/module.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/platform_device.h>

#include "kext_compat.h"
#include "kext_module.h"
#include "cma_heap_shim.h"

KEXT_IMPORT_NS_DMA_BUF();
/* Here, not in module!: its key is `author` in 6.12 and `authors` in 7.3. */
MODULE_AUTHOR("vcsm project");
KEXT_IMPORT_NS_DMA_HEAP();

/*
 * The pool of freed buffers (pool.rs). Read on every use, so writes take effect at once; the
 * pool's worker applies a lowered cap (0 empties it) within a second.
 */
KEXT_PARAM_INT(pool_max_kb, -1, 0644,
	       "Most memory the pool of freed, pre-zeroed buffers may keep, in KiB (-1: the heap node's vcsm,pool-max-bytes, else a quarter of the region; 0: no pool)");

KEXT_PARAM_UINT(pool_idle_ms, 10000, 0644,
		"Pooled buffers unused for this long go back to CMA, in ms (default 10000; 0: only the cap and memory pressure return them)");

static int vcsm_cma_heap_region(struct device *dev, const char **name, u64 *base, u64 *size)
{
	struct device_node *np = of_parse_phandle(dev->of_node, "memory-region", 0);
	struct reserved_mem *rmem;

	if (!np)
		return -ENODEV;
	rmem = of_reserved_mem_lookup(np);
	of_node_put(np);
	if (!rmem)
		return -ENODEV;
	*name = rmem->name;
	*base = rmem->base;
	*size = rmem->size;
	return 0;
}

static int vcsm_cma_heap_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	void *state;
	const char *name;
	u64 base, size, pool_max = U64_MAX;
	int ret;

	ret = vcsm_cma_heap_region(dev, &name, &base, &size);
	if (ret)
		return dev_err_probe(dev, ret,
				     "no memory-region: the node needs a shared-dma-pool (see the vcsm-cma-heap overlay)\n");
	ret = of_reserved_mem_device_init(dev);
	if (ret)
		return dev_err_probe(dev, ret,
				     "memory-region is not a usable CMA pool (needs compatible \"shared-dma-pool\" and \"reusable\")\n");
	/* Optional: the pool's default cap (U64_MAX: none given). */
	of_property_read_u64(dev->of_node, "vcsm,pool-max-bytes", &pool_max);
	ret = vcsm_cma_heap_rust_probe(dev, name, base, size, pool_max, &state);
	if (ret) {
		of_reserved_mem_device_release(dev);
		/* Shown in /sys/kernel/debug/devices_deferred while it lasts. */
		if (ret == -EPROBE_DEFER)
			return dev_err_probe(dev, ret,
					     "waiting for the Raspberry Pi firmware driver: the VPU's window needs its ARM memory\n");
		return ret;
	}
	platform_set_drvdata(pdev, state);
	return 0;
}

static void vcsm_cma_heap_remove(struct platform_device *pdev)
{
	vcsm_cma_heap_rust_remove(platform_get_drvdata(pdev));
	of_reserved_mem_device_release(&pdev->dev);
}

static const struct of_device_id vcsm_cma_heap_of_match[] = {
	{ .compatible = "raspberrypi,vcsm-cma-heap" },
	{ }
};
MODULE_DEVICE_TABLE(of, vcsm_cma_heap_of_match);

static struct platform_driver vcsm_cma_heap_driver = {
	.probe = vcsm_cma_heap_probe,
	.remove = vcsm_cma_heap_remove,
	.driver = {
		.name = "vcsm-cma-heap",
		.of_match_table = vcsm_cma_heap_of_match,
		/* Heaps go away only with the module, when no buffer or heap file pins it. */
		.suppress_bind_attrs = true,
	},
};

/* Registered from Rust (cma_heap.rs, kext::platform::CPlatformDriver). */
KEXT_PLATFORM_DRIVER(vcsm_cma_heap_driver);
