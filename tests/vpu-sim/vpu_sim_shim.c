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
 * - vchiq_add_connected_callback(): the simulator is connected from probe on, so the callback
 *   runs at once.
 * - EXPORT_SYMBOL()s of the client API implemented in Rust, and build-time checks that the
 *   headers have the layouts the Rust side and our modules assume.
 */
#include <linux/device.h>
#include <linux/dma-direct.h>
#include <linux/dma-map-ops.h>
#include <linux/dma-mapping.h>
#include <linux/ioport.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/of.h>
#include <linux/of_device.h>
#include <linux/platform_device.h>
#include <linux/slab.h>

#include "vchiq_arm/vchiq_arm.h"
#include "vchiq_arm/vchiq_bus.h"
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

/* The one simulated VPU: the platform device's drvdata. */
struct vpu_sim {
	struct vchiq_drv_mgmt mgmt;
	struct vchiq_device *vdev;
	/* The VPU's bus view: a copy of vcsm-cma's DMA range map as first configured. */
	struct bus_dma_region *vpu_map;
	void *rust;
};

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

static int vpu_sim_bus_probe(struct device *dev)
{
	struct vchiq_driver *drv = to_vchiq_driver(dev->driver);

	return drv->probe ? drv->probe(to_vchiq_device(dev)) : -ENODEV;
}

static void vpu_sim_bus_remove(struct device *dev)
{
	struct vchiq_driver *drv = to_vchiq_driver(dev->driver);

	if (drv->remove)
		drv->remove(to_vchiq_device(dev));
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
	if (!device || device->dev.bus != &vpu_sim_bus || !device->drv_mgmt) {
		pr_err("vpu_sim: vchiq_add_connected_callback on a device that is not a simulated vchiq device\n");
		return;
	}
	/* The simulated VPU is connected from probe on (mgmt.connected is never false). */
	callback();
}
EXPORT_SYMBOL(vchiq_add_connected_callback);

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
	sim->mgmt.connected = true;
	platform_set_drvdata(pdev, &sim->mgmt);

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
