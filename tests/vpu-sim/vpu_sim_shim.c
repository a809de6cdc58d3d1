// SPDX-License-Identifier: GPL-2.0
/*
 * C side of the simulated VideoCore (vpu_sim.rs): what has to be C in 6.12.
 *
 * - The "vchiq-bus" bus type, matching drivers to devices by device name as VCHIQ's own bus
 *   does, and vchiq_driver_register()/vchiq_driver_unregister().
 * - The "vcsm,vpu-sim" platform driver. Its drvdata is a real struct vchiq_drv_mgmt (from the
 *   private vchiq_arm.h), whose embedded `state` is what clients pass to vchiq_initialise().
 *   It creates the "vcsm-cma" vchiq device as vchiq_device_register() does: parent = the
 *   platform device, dma_mask -> coherent_dma_mask, drv_mgmt set, of_dma_configure() with the
 *   parent's node so the dma-ranges (VPU bus alias) apply.
 * - vchiq_add_connected_callback() as VCHIQ has it: under drv_mgmt->connected_mutex (a real
 *   mutex, so lockdep sees what a client's callback does under it), called at once when
 *   connected, otherwise recorded (at most VCHIQ_DRV_MAX_CALLBACKS) and called, under the same
 *   mutex, when the connection comes up. The simulator is connected from probe on, like VCHIQ
 *   (whose probe connects before it creates the vchiq devices); debugfs `connected off` puts
 *   it back in the state before the connection, for tests of the deferred path.
 * - The check that a VC_MEM_REQUEST_REPLY names memory a host driver allocated with the DMA
 *   API (vpu_sim_check_host_pages()).
 * - EXPORT_SYMBOL()s of the client API implemented in Rust, and build-time checks that the
 *   headers have the layouts the Rust side and our modules assume.
 */
#include <linux/delay.h>
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/ioport.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/of.h>
#include <linux/of_device.h>
#include <linux/of_reserved_mem.h>
#include <linux/mm.h>
#include <linux/page-flags.h>
#include <linux/page_ref.h>
#include <linux/platform_device.h>
#include <linux/ratelimit.h>
#include <linux/slab.h>

#include "kext_compat.h"
#ifdef KEXT_VCHIQ_IN_INCLUDE
#include <linux/raspberrypi/vchiq_arm.h>
#include <linux/raspberrypi/vchiq_bus.h>
#else
#include "vchiq_arm/vchiq_arm.h"
#include "vchiq_arm/vchiq_bus.h"
#endif
#include "kext_vchiq.h"
#include "vpu_sim_shim.h"

/* The layouts of the real 6.12 headers that this simulator and our clients are built for. */
static_assert(sizeof(struct vchiq_header) == KEXT_VCHIQ_HEADER_SIZE);
static_assert(offsetof(struct vchiq_header, data) == KEXT_VCHIQ_HEADER_DATA_OFFSET);
static_assert(sizeof(struct vchiq_service_params_kernel) == KEXT_VCHIQ_PARAMS_SIZE);
static_assert(offsetof(struct vchiq_service_params_kernel, userdata) ==
	      KEXT_VCHIQ_PARAMS_USERDATA_OFFSET);
static_assert(offsetof(struct vchiq_service_params_kernel, version_min) ==
	      KEXT_VCHIQ_PARAMS_VERSION_MIN_OFFSET);
static_assert(offsetof(struct vchiq_device, dev) == 0);
static_assert(offsetof(struct vchiq_driver, driver) == KEXT_VCHIQ_DRIVER_DRIVER_OFFSET);

/* The VCHIQ client API, implemented in Rust (vpu_sim.rs) with vchiq.h's prototypes. */
EXPORT_SYMBOL(vchiq_initialise);
EXPORT_SYMBOL(vchiq_shutdown);
EXPORT_SYMBOL(vchiq_connect);
EXPORT_SYMBOL(vchiq_open_service);
EXPORT_SYMBOL(vchiq_close_service);
EXPORT_SYMBOL(vchiq_use_service);
EXPORT_SYMBOL(vchiq_release_service);
EXPORT_SYMBOL(vchiq_queue_kernel_message);
EXPORT_SYMBOL(vchiq_msg_queue_push);
EXPORT_SYMBOL(vchiq_msg_hold);
EXPORT_SYMBOL(vchiq_release_message);
EXPORT_SYMBOL(vchiq_get_service_userdata);

static_assert(sizeof(struct vpu_sim_conn_info) == VPU_SIM_CONN_INFO_SIZE);

/* The most CMA areas (reusable shared-dma-pool reserved-memory nodes) the page check knows. */
#define VPU_SIM_MAX_CMA 8

struct vpu_sim_cma {
	const char *name;
	phys_addr_t base;
	phys_addr_t size;
};

/* The one simulated VPU: the platform device's drvdata. */
struct vpu_sim {
	struct vchiq_drv_mgmt mgmt;
	struct vchiq_device *vdev;
	/* The VPU's bus view: a copy of vcsm-cma's DMA range map as first configured. */
	struct bus_dma_region *vpu_map;
	void *rust;
	/*
	 * The VPU is up: vchiq_initialise() works (VCHIQ's "remote initialised", true before the
	 * connected callbacks run). Written under mgmt.connected_mutex, read without it.
	 */
	bool remote_up;
	/* Under mgmt.connected_mutex: the module that registered each deferred callback. */
	struct module *deferred_owner[VCHIQ_DRV_MAX_CALLBACKS];
	/* Under mgmt.connected_mutex (read without it for the state file). */
	u64 cb_immediate, cb_deferred_run, cb_over_limit, cb_dropped;
	/* CMA areas, from /reserved-memory at probe. */
	struct vpu_sim_cma cma[VPU_SIM_MAX_CMA];
	unsigned int ncma;
};

static struct vpu_sim *vpu_sim_of(struct device *pdev)
{
	return container_of(dev_get_drvdata(pdev), struct vpu_sim, mgmt);
}

static DEFINE_MUTEX(vpu_sim_lock);
static struct vpu_sim *vpu_sim_current; /* under vpu_sim_lock */

/* ---- vchiq-bus ---- */

static int vpu_sim_bus_match(struct device *dev, const struct device_driver *drv)
{
	return strcmp(dev_name(dev), drv->name) == 0;
}

static int vpu_sim_bus_uevent(const struct device *dev, struct kobj_uevent_env *env)
{
	return add_uevent_var(env, "MODALIAS=vchiq:%s", dev_name(dev));
}

static void vpu_sim_drop_deferred(struct vchiq_device *vdev, const char *when);

static int vpu_sim_bus_probe(struct device *dev)
{
	struct vchiq_driver *drv = to_vchiq_driver(dev->driver);
	int ret = drv->probe ? drv->probe(to_vchiq_device(dev)) : -ENODEV;

	if (ret)
		vpu_sim_drop_deferred(to_vchiq_device(dev), "whose probe failed");
	return ret;
}

static void vpu_sim_bus_remove(struct device *dev)
{
	struct vchiq_driver *drv = to_vchiq_driver(dev->driver);

	if (drv->remove)
		drv->remove(to_vchiq_device(dev));
	vpu_sim_drop_deferred(to_vchiq_device(dev), "which was unbound");
}

/* Like VCHIQ's bus: no .dma_configure, so a device keeps its DMA set-up only until unbind. */
static const struct bus_type vpu_sim_bus = {
	.name = "vchiq-bus",
	.match = vpu_sim_bus_match,
	.uevent = vpu_sim_bus_uevent,
	.probe = vpu_sim_bus_probe,
	.remove = vpu_sim_bus_remove,
};

int vchiq_driver_register(struct vchiq_driver *vchiq_drv)
{
	vchiq_drv->driver.bus = &vpu_sim_bus;
	return driver_register(&vchiq_drv->driver);
}
EXPORT_SYMBOL_GPL(vchiq_driver_register);

void vchiq_driver_unregister(struct vchiq_driver *vchiq_drv)
{
	driver_unregister(&vchiq_drv->driver);
}
EXPORT_SYMBOL_GPL(vchiq_driver_unregister);

void vchiq_add_connected_callback(struct vchiq_device *device, void (*callback)(void))
{
	struct vchiq_drv_mgmt *mgmt;
	struct vpu_sim *sim;

	if (!device || device->dev.bus != &vpu_sim_bus || !device->drv_mgmt) {
		pr_err("vpu_sim: vchiq_add_connected_callback on a device that is not a simulated vchiq device\n");
		return;
	}
	mgmt = device->drv_mgmt;
	sim = container_of(mgmt, struct vpu_sim, mgmt);
	/* As VCHIQ: a fatal signal while waiting for the mutex loses the callback silently. */
	if (mutex_lock_killable(&mgmt->connected_mutex))
		return;
	if (mgmt->connected) {
		/* Connected: the callback runs at once, under the mutex. */
		sim->cb_immediate++;
		callback();
	} else if (mgmt->num_deferred_callbacks >= VCHIQ_DRV_MAX_CALLBACKS) {
		sim->cb_over_limit++;
		dev_err(&device->dev,
			"core: deferred callbacks(%d) exceeded the maximum limit(%d)\n",
			mgmt->num_deferred_callbacks, VCHIQ_DRV_MAX_CALLBACKS);
	} else {
		/* The driver being probed or bound, if any: its callbacks go when it does. */
		sim->deferred_owner[mgmt->num_deferred_callbacks] =
			device->dev.driver ? device->dev.driver->owner : NULL;
		mgmt->deferred_callback[mgmt->num_deferred_callbacks] = callback;
		mgmt->num_deferred_callbacks++;
	}
	mutex_unlock(&mgmt->connected_mutex);
}
EXPORT_SYMBOL(vchiq_add_connected_callback);

/*
 * Forgets the deferred callbacks the driver of @vdev registered, when its probe failed or it
 * was unbound before the connection came up. VCHIQ has no way to take a callback back and
 * would call it later, possibly after the module is gone; the simulator logs it instead.
 */
static void vpu_sim_drop_deferred(struct vchiq_device *vdev, const char *when)
{
	struct vchiq_drv_mgmt *mgmt = vdev->drv_mgmt;
	struct vpu_sim *sim = container_of(mgmt, struct vpu_sim, mgmt);
	struct module *owner = vdev->dev.driver ? vdev->dev.driver->owner : NULL;
	int i, kept = 0, dropped;

	if (!owner)
		return;
	mutex_lock(&mgmt->connected_mutex);
	for (i = 0; i < mgmt->num_deferred_callbacks; i++) {
		if (sim->deferred_owner[i] == owner)
			continue;
		mgmt->deferred_callback[kept] = mgmt->deferred_callback[i];
		sim->deferred_owner[kept] = sim->deferred_owner[i];
		kept++;
	}
	dropped = mgmt->num_deferred_callbacks - kept;
	mgmt->num_deferred_callbacks = kept;
	sim->cb_dropped += dropped;
	mutex_unlock(&mgmt->connected_mutex);
	if (dropped)
		dev_info(&vdev->dev,
			 "dropped %d deferred connected callback(s) of driver %s, %s before VCHIQ connected (real VCHIQ would still call them)\n",
			 dropped, vdev->dev.driver->name, when);
}

/* VCHIQ's vchiq_call_connected_callbacks(): the connection comes up. */
static int vpu_sim_connect_up(struct vpu_sim *sim)
{
	struct vchiq_drv_mgmt *mgmt = &sim->mgmt;
	int i;

	if (mutex_lock_killable(&mgmt->connected_mutex))
		return -EINTR;
	/* The VPU is up before the callbacks run, so they may vchiq_initialise(). */
	WRITE_ONCE(sim->remote_up, true);
	for (i = 0; i < mgmt->num_deferred_callbacks; i++) {
		sim->cb_deferred_run++;
		mgmt->deferred_callback[i]();
	}
	mgmt->num_deferred_callbacks = 0;
	WRITE_ONCE(mgmt->connected, true);
	mutex_unlock(&mgmt->connected_mutex);
	return 0;
}

int vpu_sim_set_connected(struct device *pdev, bool on)
{
	struct vpu_sim *sim = vpu_sim_of(pdev);

	if (on)
		return vpu_sim_connect_up(sim);
	if (mutex_lock_killable(&sim->mgmt.connected_mutex))
		return -EINTR;
	WRITE_ONCE(sim->mgmt.connected, false);
	WRITE_ONCE(sim->remote_up, false);
	mutex_unlock(&sim->mgmt.connected_mutex);
	return 0;
}

/* Without the mutex: a callback stuck under it must not block reading the state file. */
void vpu_sim_conn_info(struct device *pdev, struct vpu_sim_conn_info *info)
{
	struct vpu_sim *sim = vpu_sim_of(pdev);

	info->connected = READ_ONCE(sim->mgmt.connected);
	info->remote_up = READ_ONCE(sim->remote_up);
	info->deferred = READ_ONCE(sim->mgmt.num_deferred_callbacks);
	info->pad = 0;
	info->immediate = READ_ONCE(sim->cb_immediate);
	info->deferred_run = READ_ONCE(sim->cb_deferred_run);
	info->over_limit = READ_ONCE(sim->cb_over_limit);
	info->dropped = READ_ONCE(sim->cb_dropped);
}

/* Like vchiq_initialise()'s wait for the VideoCore: 10 polls, then -ENOTCONN. */
int vpu_sim_wait_up(struct vchiq_state *state)
{
	int i;

	for (i = 0; i < 10; i++) {
		bool up;

		mutex_lock(&vpu_sim_lock);
		up = vpu_sim_current && state == &vpu_sim_current->mgmt.state &&
		     READ_ONCE(vpu_sim_current->remote_up);
		mutex_unlock(&vpu_sim_lock);
		if (up)
			return 0;
		usleep_range(500, 600);
	}
	pr_err("vpu_sim: vchiq_initialise: Videocore not initialized (debugfs connected is off)\n");
	return -ENOTCONN;
}

/* ---- memory as the VPU sees it ---- */

/* Physical address of VPU bus address @bus, or (phys_addr_t)-1 if the VPU cannot reach it. */
static phys_addr_t vpu_sim_translate(const struct bus_dma_region *m, u64 bus)
{
	for (; m->size; m++)
		if (bus >= m->dma_start && bus - m->dma_start < m->size)
			return m->cpu_start + (bus - m->dma_start);
	return (phys_addr_t)-1;
}

int vpu_sim_bus_to_phys(struct device *dev, u64 bus, u64 size, u64 *phys)
{
	struct vpu_sim *sim = container_of(dev_get_drvdata(dev), struct vpu_sim, mgmt);
	phys_addr_t first, last;

	if (!size || bus + size - 1 < bus)
		return -EINVAL;
	first = vpu_sim_translate(sim->vpu_map, bus);
	last = vpu_sim_translate(sim->vpu_map, bus + size - 1);
	if (first == (phys_addr_t)-1 || last == (phys_addr_t)-1 || last - first != size - 1)
		return -ERANGE;
	if (region_intersects(first, size, IORESOURCE_SYSTEM_RAM, IORES_DESC_NONE) !=
	    REGION_INTERSECTS)
		return -EFAULT;
	*phys = first;
	return 0;
}

/* The CMA area holding @phys, or NULL. */
static const struct vpu_sim_cma *vpu_sim_cma_of(const struct vpu_sim *sim, phys_addr_t phys)
{
	unsigned int i;

	for (i = 0; i < sim->ncma; i++)
		if (phys >= sim->cma[i].base && phys - sim->cma[i].base < sim->cma[i].size)
			return &sim->cma[i];
	return NULL;
}

/*
 * Whether [@phys, @phys + @size) (page aligned, System RAM) is memory a host driver allocated
 * with the DMA API (dma_alloc_pages(), dma_alloc_coherent(); dma-direct, no IOMMU) and still
 * holds: VPU_SIM_PAGES_OK, or the first thing wrong, with *@offset the offset of the page.
 *
 * Every page must be in use by its allocator's owner: not free in the buddy allocator, not
 * slab, not part of a compound page (the DMA API never allocates those), not reserved (kernel
 * image, firmware, no-map), not page cache or anonymous memory. How the pages are referenced
 * depends on where they come from:
 * - a CMA area: cma_alloc() gives every page a reference, so every page must have one (a
 *   freed range has none, even before its pages reach the buddy lists);
 * - the page allocator (single pages, or CMA's fallback): one non-compound block of
 *   2^get_order(size) pages, naturally aligned, whose first page holds the only reference.
 * A range may not straddle the edge of a CMA area. The struct pages are read without locks:
 * a verdict on memory that changes hands meanwhile is as good as the host's reply.
 */
int vpu_sim_check_host_pages(struct device *pdev, u64 phys, u64 size, u64 *offset)
{
	const struct vpu_sim *sim = vpu_sim_of(pdev);
	const struct vpu_sim_cma *cma;
	unsigned long pfn = PHYS_PFN(phys), n = size >> PAGE_SHIFT, i;

	*offset = 0;
	if (!size || !PAGE_ALIGNED(phys) || !PAGE_ALIGNED(size) || phys + size - 1 < phys)
		return VPU_SIM_PAGES_UNALIGNED;
	cma = vpu_sim_cma_of(sim, phys);
	if (vpu_sim_cma_of(sim, phys + size - 1) != cma) {
		/* The first page on the other side of the edge. */
		for (i = 1; i < n; i++)
			if (vpu_sim_cma_of(sim, phys + ((u64)i << PAGE_SHIFT)) != cma)
				break;
		*offset = (u64)i << PAGE_SHIFT;
		return VPU_SIM_PAGES_CMA_EDGE;
	}
	if (!cma && !IS_ALIGNED(phys, PAGE_SIZE << get_order(size)))
		return VPU_SIM_PAGES_NOT_BLOCK;
	for (i = 0; i < n; i++) {
		const struct page *page;
		int refs;

		*offset = (u64)i << PAGE_SHIFT;
		if (!pfn_valid(pfn + i))
			return VPU_SIM_PAGES_NO_PAGE;
		page = pfn_to_page(pfn + i);
		if (is_free_buddy_page(page))
			return VPU_SIM_PAGES_FREE;
		/* The folio's type: 7.3's PageSlab() is true only for a slab's head page. */
		if (folio_test_slab(page_folio(page)))
			return VPU_SIM_PAGES_SLAB;
		if (PageCompound(page))
			return VPU_SIM_PAGES_COMPOUND;
		if (PageReserved(page))
			return VPU_SIM_PAGES_RESERVED;
		if (PageLRU(page) || READ_ONCE(page->mapping))
			return VPU_SIM_PAGES_USER;
		refs = page_ref_count(page);
		if (cma || i == 0) {
			if (refs <= 0)
				return VPU_SIM_PAGES_UNREFERENCED;
		} else if (refs > 0) {
			/* A page of its own: the range spans more than the first page's block. */
			return VPU_SIM_PAGES_SPLIT;
		}
	}
	*offset = 0;
	return VPU_SIM_PAGES_OK;
}

/* Rate limit of the simulator's log lines about bad replies from the host. */
bool vpu_sim_log_ratelimit(void)
{
	static DEFINE_RATELIMIT_STATE(rs, DEFAULT_RATELIMIT_INTERVAL, DEFAULT_RATELIMIT_BURST);

	return __ratelimit(&rs);
}

/* The CMA areas the page check knows: the reusable shared-dma-pool nodes of /reserved-memory. */
static void vpu_sim_find_cma(struct device *dev, struct vpu_sim *sim)
{
	struct device_node *np = of_find_node_by_path("/reserved-memory"), *child;

	if (np) {
		for_each_available_child_of_node(np, child) {
			struct reserved_mem *rmem;

			if (!of_device_is_compatible(child, "shared-dma-pool") ||
			    !of_property_read_bool(child, "reusable"))
				continue;
			rmem = of_reserved_mem_lookup(child);
			if (!rmem || !rmem->size)
				continue;
			if (sim->ncma == VPU_SIM_MAX_CMA) {
				dev_info(dev, "more than %d CMA areas: %s and the rest are not known to the page check\n",
					 VPU_SIM_MAX_CMA, rmem->name);
				of_node_put(child);
				break;
			}
			sim->cma[sim->ncma++] = (struct vpu_sim_cma){
				.name = rmem->name,
				.base = rmem->base,
				.size = rmem->size,
			};
			dev_info(dev, "CMA area %s at %pa, %pa bytes\n", rmem->name, &rmem->base,
				 &rmem->size);
		}
		of_node_put(np);
	}
	if (!sim->ncma)
		dev_info(dev, "no CMA area in /reserved-memory: host memory is checked as page-allocator blocks\n");
}

void *vpu_sim_state_ctx(struct vchiq_state *state)
{
	void *ctx = NULL;

	mutex_lock(&vpu_sim_lock);
	if (vpu_sim_current && state == &vpu_sim_current->mgmt.state)
		ctx = vpu_sim_current->rust;
	mutex_unlock(&vpu_sim_lock);
	return ctx;
}

/* ---- the platform device (the VPU) and its "vcsm-cma" vchiq device ---- */

static void vpu_sim_vdev_release(struct device *dev)
{
	kfree(to_vchiq_device(dev));
}

static int vpu_sim_probe(struct platform_device *pdev)
{
	struct device *dev = &pdev->dev;
	struct vchiq_device *vdev;
	struct vpu_sim *sim;
	size_t n;
	int ret;

	sim = devm_kzalloc(dev, sizeof(*sim), GFP_KERNEL);
	if (!sim)
		return -ENOMEM;
	mutex_init(&sim->mgmt.connected_mutex);
	platform_set_drvdata(pdev, &sim->mgmt);
	vpu_sim_find_cma(dev, sim);

	vdev = kzalloc(sizeof(*vdev), GFP_KERNEL);
	if (!vdev) {
		ret = -ENOMEM;
		goto err_mutex;
	}
	device_initialize(&vdev->dev);
	vdev->dev.parent = dev;
	vdev->dev.bus = &vpu_sim_bus;
	vdev->dev.dma_mask = &vdev->dev.coherent_dma_mask;
	vdev->dev.release = vpu_sim_vdev_release;
	vdev->drv_mgmt = &sim->mgmt;
	ret = dev_set_name(&vdev->dev, "vcsm-cma");
	if (ret)
		goto err_put;
	ret = of_dma_configure(&vdev->dev, dev->of_node, true);
	if (ret) {
		dev_err(dev, "of_dma_configure for vcsm-cma failed: %d\n", ret);
		goto err_put;
	}
	if (!vdev->dev.dma_range_map) {
		ret = dev_err_probe(dev, -EINVAL,
				    "no dma-ranges on the vpu-sim node: the VPU bus alias is undefined (see tests/vpu-sim/README.md)\n");
		goto err_put;
	}
	/* The VPU's view stays fixed, whatever later happens to vcsm-cma's DMA set-up. */
	for (n = 0; vdev->dev.dma_range_map[n].size; n++)
		;
	sim->vpu_map = devm_kmemdup(dev, vdev->dev.dma_range_map,
				    (n + 1) * sizeof(*sim->vpu_map), GFP_KERNEL);
	if (!sim->vpu_map) {
		ret = -ENOMEM;
		goto err_put;
	}
	sim->vdev = vdev;
	/*
	 * Connected before the vchiq device exists, as VCHIQ's probe is (vchiq_init() calls the
	 * connected callbacks, none yet, before the devices are registered): a client's
	 * vchiq_add_connected_callback() runs its callback at once.
	 */
	ret = vpu_sim_connect_up(sim);
	if (ret)
		goto err_put;

	mutex_lock(&vpu_sim_lock);
	if (vpu_sim_current) {
		mutex_unlock(&vpu_sim_lock);
		ret = dev_err_probe(dev, -EBUSY, "only one simulated VPU is supported\n");
		goto err_put;
	}
	ret = vpu_sim_rust_probe(dev, &sim->rust);
	if (ret) {
		mutex_unlock(&vpu_sim_lock);
		goto err_put;
	}
	vpu_sim_current = sim;
	mutex_unlock(&vpu_sim_lock);

	/* May probe a client at once, which calls back into the simulator: no lock held. */
	ret = device_add(&vdev->dev);
	if (ret) {
		dev_err(dev, "cannot add vcsm-cma: %d\n", ret);
		goto err_rust;
	}
	dev_info(dev, "simulated VideoCore ready, vchiq device %s\n", dev_name(&vdev->dev));
	return 0;

err_rust:
	mutex_lock(&vpu_sim_lock);
	vpu_sim_current = NULL;
	mutex_unlock(&vpu_sim_lock);
	vpu_sim_rust_remove(sim->rust);
err_put:
	put_device(&vdev->dev);
err_mutex:
	mutex_destroy(&sim->mgmt.connected_mutex);
	return ret;
}

static void vpu_sim_remove(struct platform_device *pdev)
{
	struct vpu_sim *sim = container_of(platform_get_drvdata(pdev), struct vpu_sim, mgmt);

	/* Unbinds the client first: it closes its services and shuts its instances down. */
	device_unregister(&sim->vdev->dev);
	mutex_lock(&vpu_sim_lock);
	vpu_sim_current = NULL;
	mutex_unlock(&vpu_sim_lock);
	vpu_sim_rust_remove(sim->rust);
	mutex_destroy(&sim->mgmt.connected_mutex);
}

static const struct of_device_id vpu_sim_of_match[] = {
	{ .compatible = "vcsm,vpu-sim" },
	{ }
};
MODULE_DEVICE_TABLE(of, vpu_sim_of_match);

static struct platform_driver vpu_sim_driver = {
	.probe = vpu_sim_probe,
	.remove = vpu_sim_remove,
	.driver = {
		.name = "vpu-sim",
		.of_match_table = vpu_sim_of_match,
	},
};

int vpu_sim_driver_register(void)
{
	int ret = bus_register(&vpu_sim_bus);

	if (ret)
		return ret;
	ret = platform_driver_register(&vpu_sim_driver);
	if (ret)
		bus_unregister(&vpu_sim_bus);
	return ret;
}

void vpu_sim_driver_unregister(void)
{
	platform_driver_unregister(&vpu_sim_driver);
	bus_unregister(&vpu_sim_bus);
}
