// SPDX-License-Identifier: GPL-2.0
/* This module's private copies of the kernel-ext (with VCHIQ) and test-support helpers. */
#include <linux/module.h>

#include "../../drivers/kernel-ext/kext_shim.c"
#include "../../drivers/kernel-ext/kext_vchiq.c"
#include "support/support_shim.c"

/*
 * kernel-ext's types are compiled into every module that includes it, with their drop glue,
 * which calls dma-buf functions (namespace DMA_BUF) whether or not this module uses them.
 */
MODULE_IMPORT_NS(DMA_BUF);
