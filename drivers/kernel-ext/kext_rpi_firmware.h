/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Raspberry Pi firmware glue for rpi_firmware.rs: out-of-line versions of the
 * include/soc/bcm2835/raspberrypi-firmware.h functions, which are static inline stubs when the
 * kernel is built without CONFIG_RASPBERRYPI_FIRMWARE (so a module built for such a kernel
 * still links, and finds no firmware).
 *
 * Only modules that ask the firmware link this file (their *_kext.c includes
 * kext_rpi_firmware.c next to kext_shim.c), so no other module imports a firmware symbol.
 */
#ifndef VCSM_KEXT_RPI_FIRMWARE_H
#define VCSM_KEXT_RPI_FIRMWARE_H

#include <linux/types.h>

struct device_node;
struct rpi_firmware;

/*
 * The firmware's device-tree node (compatible "raspberrypi,bcm2835-firmware", the one
 * compatible of the firmware driver's match table), with a reference, or NULL. Found whether
 * or not the kernel has the firmware driver.
 */
struct device_node *kext_rpi_firmware_find_node(void);
/* of_node_put(); NULL is allowed. */
void kext_of_node_put(struct device_node *np);
/* Whether the kernel has the firmware driver (CONFIG_RASPBERRYPI_FIRMWARE, built in or a module). */
bool kext_rpi_firmware_supported(void);
/*
 * rpi_firmware_get(): a counted reference to the firmware behind @np, or NULL if its driver
 * is not bound (yet) or the kernel has none.
 */
struct rpi_firmware *kext_rpi_firmware_get(struct device_node *np);
/* rpi_firmware_put(). */
void kext_rpi_firmware_put(struct rpi_firmware *fw);
/*
 * rpi_firmware_property_list(): sends the @tag_size bytes of tags at @data (the buffer header
 * and end tag are added) and copies the answer back over them; may sleep. 0 or a negative
 * errno (-EINVAL when the firmware reports an error, -ETIMEDOUT, -ENOMEM, -ENOSYS without
 * the firmware driver).
 */
int kext_rpi_firmware_property_list(struct rpi_firmware *fw, void *data, size_t tag_size);

#endif /* VCSM_KEXT_RPI_FIRMWARE_H */
