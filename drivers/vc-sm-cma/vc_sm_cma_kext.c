// SPDX-License-Identifier: GPL-2.0
/* This module's private copy of the kernel-ext helpers, the VCHIQ, firmware and VPU window glue. */
#include "../kernel-ext/kext_shim.c"
#include "../kernel-ext/kext_vchiq.c"
#include "../kernel-ext/kext_rpi_firmware.c"
#include "../kernel-ext/kext_vpu_window.c"
