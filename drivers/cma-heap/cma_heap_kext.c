// SPDX-License-Identifier: GPL-2.0
/* This module's private copy of the kernel-ext helpers. */
#include "../kernel-ext/kext_shim.c"
