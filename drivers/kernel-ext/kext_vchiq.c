// SPDX-License-Identifier: GPL-2.0
/*
 * vchiq-bus driver registration with Rust probe/remove, and the VCHIQ state behind a
 * vchiq-bus device (see kext_vchiq.h). Included by one small C file per module that talks to
 * the VideoCore, so each such module carries a private copy and nothing is exported.
 */
#include <linux/align.h>
#include <linux/device.h>
#include <linux/err.h>
#include <linux/module.h>
#include <linux/of_device.h>
#include <linux/slab.h>
#include <linux/stddef.h>

#include "kext_compat.h"
#ifdef KEXT_VCHIQ_IN_INCLUDE
#include <linux/raspberrypi/vchiq_arm.h>
#else
#include "vchiq_arm/vchiq_arm.h"
#endif
#include "kext_vchiq.h"

/*
 * The layouts vchiq.rs (and tests/vpu-sim) are written for. A kernel whose headers differ
 * fails here, at build time, instead of corrupting memory at run time.
 */
static_assert(sizeof(struct vchiq_header) == KEXT_VCHIQ_HEADER_SIZE);
static_assert(offsetof(struct vchiq_header, msgid) == 0);
static_assert(offsetof(struct vchiq_header, size) == 4);
static_assert(offsetof(struct vchiq_header, data) == KEXT_VCHIQ_HEADER_DATA_OFFSET);
static_assert(sizeof(struct vchiq_service_params_kernel) == KEXT_VCHIQ_PARAMS_SIZE);
static_assert(offsetof(struct vchiq_service_params_kernel, fourcc) == 0);
static_assert(offsetof(struct vchiq_service_params_kernel, callback) ==
	      KEXT_VCHIQ_PARAMS_CALLBACK_OFFSET);
static_assert(offsetof(struct vchiq_service_params_kernel, userdata) ==
	      KEXT_VCHIQ_PARAMS_USERDATA_OFFSET);
static_assert(offsetof(struct vchiq_service_params_kernel, version) ==
	      KEXT_VCHIQ_PARAMS_VERSION_OFFSET);
static_assert(offsetof(struct vchiq_service_params_kernel, version_min) ==
	      KEXT_VCHIQ_PARAMS_VERSION_MIN_OFFSET);
static_assert(offsetof(struct vchiq_device, dev) == 0);
static_assert(offsetof(struct vchiq_device, drv_mgmt) ==
	      ALIGN(sizeof(struct device), sizeof(void *)));
static_assert(sizeof(struct vchiq_device) ==
	      ALIGN(sizeof(struct device), sizeof(void *)) + sizeof(void *));
static_assert(offsetof(struct vchiq_driver, probe) == 0);
static_assert(offsetof(struct vchiq_driver, remove) == KEXT_VCHIQ_DRIVER_REMOVE_OFFSET);
static_assert(offsetof(struct vchiq_driver, id_table) == KEXT_VCHIQ_DRIVER_ID_TABLE_OFFSET);
static_assert(offsetof(struct vchiq_driver, driver) == KEXT_VCHIQ_DRIVER_DRIVER_OFFSET);
/* enum vchiq_reason values the Rust side matches on. */
static_assert(VCHIQ_SERVICE_OPENED == 0 && VCHIQ_SERVICE_CLOSED == 1 &&
	      VCHIQ_MESSAGE_AVAILABLE == 2 && VCHIQ_BULK_RECEIVE_ABORTED == 6);

struct kext_vchiq_driver {
	struct vchiq_driver drv;
	kext_vchiq_probe_fn probe;
	kext_vchiq_remove_fn remove;
};

static struct kext_vchiq_driver *kext_vchiq_driver_of(struct vchiq_device *vdev)
{
	return container_of(to_vchiq_driver(vdev->dev.driver), struct kext_vchiq_driver, drv);
}

static int kext_vchiq_probe(struct vchiq_device *vdev)
{
	struct kext_vchiq_driver *kd = kext_vchiq_driver_of(vdev);
	void *data = NULL;
	int ret;

	ret = kd->probe(vdev, &data);
	if (ret)
		return ret;
	dev_set_drvdata(&vdev->dev, data);
	return 0;
}

static void kext_vchiq_remove(struct vchiq_device *vdev)
{
	struct kext_vchiq_driver *kd = kext_vchiq_driver_of(vdev);

	kd->remove(vdev, dev_get_drvdata(&vdev->dev));
	dev_set_drvdata(&vdev->dev, NULL);
}

struct kext_vchiq_driver *kext_vchiq_driver_register(const char *name, struct module *owner,
						     kext_vchiq_probe_fn probe,
						     kext_vchiq_remove_fn remove)
{
	struct kext_vchiq_driver *kd;
	int ret;

	kd = kzalloc(sizeof(*kd), GFP_KERNEL);
	if (!kd)
		return ERR_PTR(-ENOMEM);
	kd->drv.probe = kext_vchiq_probe;
	kd->drv.remove = kext_vchiq_remove;
	kd->drv.driver.name = name;
	kd->drv.driver.owner = owner;
	kd->probe = probe;
	kd->remove = remove;
	ret = vchiq_driver_register(&kd->drv);
	if (ret) {
		kfree(kd);
		return ERR_PTR(ret);
	}
	return kd;
}

void kext_vchiq_driver_unregister(struct kext_vchiq_driver *kd)
{
	/* Unbinds every device (remove runs for each) before returning. */
	vchiq_driver_unregister(&kd->drv);
	kfree(kd);
}

struct device *kext_vchiq_device_dev(struct vchiq_device *vdev)
{
	return &vdev->dev;
}

struct vchiq_state *kext_vchiq_device_state(struct vchiq_device *vdev)
{
	return vdev->drv_mgmt ? &vdev->drv_mgmt->state : NULL;
}

int kext_vchiq_dma_configure(struct vchiq_device *vdev)
{
	struct device *parent = vdev->dev.parent;

	/* Still set up (first bind): of_dma_configure() would leak the current range map. */
	if (vdev->dev.dma_range_map)
		return 0;
	if (!parent || !parent->of_node)
		return -ENODEV;
	return of_dma_configure(&vdev->dev, parent->of_node, true);
}
