// SPDX-License-Identifier: GPL-2.0
/* This module's private copies of the kernel-ext and test-support helpers. */
#include <linux/module.h>

#include "../../drivers/kernel-ext/kext_shim.c"

/* Here, not in module!: its key is `author` in 6.12 and `authors` in 7.3. */
MODULE_AUTHOR("vcsm project");
