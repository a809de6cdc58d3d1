// SPDX-License-Identifier: GPL-2.0
/*
 * Raspberry Pi firmware glue (see kext_rpi_firmware.h). Included by the *_kext.c of the
 * modules that ask the firmware, so each carries a private copy.
 */
#include <linux/kconfig.h>
#include <linux/of.h>
#include <soc/bcm2835/raspberrypi-firmware.h>

#include "kext_rpi_firmware.h"

/* The tag header rpi_fw.rs lays out by hand (TAG_HEADER_LEN). */
static_assert(sizeof(struct rpi_firmware_property_tag_header) == 12);
static_assert(RPI_FIRMWARE_STATUS_SUCCESS == 0x80000000);
static_assert(RPI_FIRMWARE_GET_FIRMWARE_REVISION == 0x00000001);
static_assert(RPI_FIRMWARE_GET_BOARD_REVISION == 0x00010002);
static_assert(RPI_FIRMWARE_GET_ARM_MEMORY == 0x00010005);
static_assert(RPI_FIRMWARE_GET_VC_MEMORY == 0x00010006);

struct device_node *kext_rpi_firmware_find_node(void)
{
	return of_find_compatible_node(NULL, NULL, "raspberrypi,bcm2835-firmware");
}

void kext_of_node_put(struct device_node *np)
{
	of_node_put(np);
}

bool kext_rpi_firmware_supported(void)
{
	return IS_ENABLED(CONFIG_RASPBERRYPI_FIRMWARE);
}

struct rpi_firmware *kext_rpi_firmware_get(struct device_node *np)
{
	return rpi_firmware_get(np);
}

void kext_rpi_firmware_put(struct rpi_firmware *fw)
{
	rpi_firmware_put(fw);
}

int kext_rpi_firmware_property_list(struct rpi_firmware *fw, void *data, size_t tag_size)
{
	return rpi_firmware_property_list(fw, data, tag_size);
}
