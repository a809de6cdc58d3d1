/* SPDX-License-Identifier: GPL-2.0 */
/*
 * VCHIQ glue for vchiq.rs: registration of a vchiq-bus driver whose probe and remove are
 * Rust functions, and the VCHIQ state behind a vchiq-bus device.
 *
 * Only modules that talk to the VideoCore link this file (their *_kext.c includes
 * kext_vchiq.c next to kext_shim.c), so no other module imports a vchiq symbol.
 *
 * Needs the 6.12 staging headers on the include path:
 *   -I<src>/drivers/staging/vc04_services/include -I<src>/drivers/staging/vc04_services/interface
 */
#ifndef VCSM_KEXT_VCHIQ_H
#define VCSM_KEXT_VCHIQ_H

#include <linux/raspberrypi/vchiq.h>
#include "kext_compat.h"
#ifdef KEXT_VCHIQ_IN_INCLUDE
#include <linux/raspberrypi/vchiq_bus.h>
#else
#include "vchiq_arm/vchiq_bus.h"
#endif

struct device;
struct module;
struct vchiq_state;

/*
 * The ABI our modules are built for (6.12 staging, see reference/vcsm-spec.md section 7).
 * kext_vchiq.c and the simulator assert the real headers against these numbers, and
 * vchiq.rs asserts the generated Rust types against them.
 */
#define KEXT_VCHIQ_HEADER_SIZE 8
#define KEXT_VCHIQ_HEADER_DATA_OFFSET 8
#define KEXT_VCHIQ_PARAMS_SIZE 32
#define KEXT_VCHIQ_PARAMS_CALLBACK_OFFSET 8
#define KEXT_VCHIQ_PARAMS_USERDATA_OFFSET 16
#define KEXT_VCHIQ_PARAMS_VERSION_OFFSET 24
#define KEXT_VCHIQ_PARAMS_VERSION_MIN_OFFSET 26
#define KEXT_VCHIQ_DRIVER_REMOVE_OFFSET 8
#define KEXT_VCHIQ_DRIVER_ID_TABLE_OFFSET 32
#define KEXT_VCHIQ_DRIVER_DRIVER_OFFSET 40

/* Rust side of a driver: probe stores its per-device data in *data; remove gets it back. */
typedef int (*kext_vchiq_probe_fn)(struct vchiq_device *vdev, void **data);
typedef void (*kext_vchiq_remove_fn)(struct vchiq_device *vdev, void *data);

struct kext_vchiq_driver;

/*
 * Registers a vchiq-bus driver named @name (matched against the device name, e.g.
 * "vcsm-cma"); @name must outlive the registration. Returns the registration or an
 * ERR_PTR.
 */
struct kext_vchiq_driver *kext_vchiq_driver_register(const char *name, struct module *owner,
						     kext_vchiq_probe_fn probe,
						     kext_vchiq_remove_fn remove);
/* Unregisters (removing every bound device first) and frees the registration. */
void kext_vchiq_driver_unregister(struct kext_vchiq_driver *drv);

/* The embedded struct device of @vdev. */
struct device *kext_vchiq_device_dev(struct vchiq_device *vdev);
/*
 * The VCHIQ state of the VCHIQ platform device that created @vdev (its drv_mgmt), for
 * vchiq_initialise(); NULL if @vdev has none.
 */
struct vchiq_state *kext_vchiq_device_state(struct vchiq_device *vdev);
/*
 * Re-applies the DMA set-up vchiq_device_register() gave @vdev (of_dma_configure() with the
 * parent's node, so the parent bus's dma-ranges, i.e. the VPU alias, apply). The driver core
 * drops a device's DMA range map on every unbind and failed probe, and the vchiq bus has no
 * .dma_configure to restore it, so a driver bound a second time needs this.
 */
int kext_vchiq_dma_configure(struct vchiq_device *vdev);

/*
 * Exported by vchiq.ko but declared only in its private vchiq_arm.h, which bindgen does not
 * read; the same prototype (kext_vchiq.c includes both, so the compiler checks they agree).
 * @callback runs once VCHIQ is connected, at once if it already is.
 */
extern void vchiq_add_connected_callback(struct vchiq_device *device, void (*callback)(void));

#endif /* VCSM_KEXT_VCHIQ_H */
