// SPDX-License-Identifier: GPL-2.0
/* This module's private copies of the kernel-ext and test-support helpers. */
#include <linux/module.h>

#include "../../drivers/kernel-ext/kext_shim.c"
#include "../kmod/support/support_shim.c"

/*
 * kernel-ext's types are compiled into every module that includes it, with their drop glue,
 * which calls dma-buf functions (namespace DMA_BUF) whether or not this module uses them.
 */
KEXT_IMPORT_NS_DMA_BUF();
/* Here, not in module!: its key is `author` in 6.12 and `authors` in 7.3. */
MODULE_AUTHOR("vcsm project");
