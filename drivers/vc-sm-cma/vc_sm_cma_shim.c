// SPDX-License-Identifier: GPL-2.0
/*
 * C side of vc-sm-cma: what the 6.12 Rust `module!` cannot express (module metadata, the module
 * parameters, the exports of the kernel API implemented in Rust in kapi.rs).
 */
#include <linux/module.h>

#include "vc_sm_knl.h"
#include "kext_compat.h"
#include "kext_module.h"

KEXT_IMPORT_NS_DMA_BUF();
/* Here, not in module!: its key is `author` in 6.12 and `authors` in 7.3. */
MODULE_AUTHOR("vcsm project");

KEXT_PARAM_UINT(timeout_ms, 3000, 0644, "How long to wait for a VPU reply, in ms (default 3000)");

/* Tests reach transaction ids past 65535 (a downstream bug) without 65536 round trips. */
KEXT_PARAM_UINT(first_trans_id, 0, 0444,
		"Transaction id to count from (31 bits, wraps; for testing)");

/*
 * Pin caps (pins.rs): what one process may keep pinned through the driver (MEM_ALLOC memory,
 * and imported memory the VPU still holds after the process let go of it), and all together.
 */
KEXT_PARAM_UINT(pin_cap_process_mb, 128, 0644,
		"Memory one process may keep pinned through /dev/vcsm-cma, in MiB (default 128; 0: no cap)");

KEXT_PARAM_UINT(pin_cap_total_mb, 256, 0644,
		"Memory all processes together may keep pinned through /dev/vcsm-cma, in MiB (default 256; 0: no cap)");

/* Implemented in Rust (kapi.rs); prototypes in vc_sm_knl.h. */
EXPORT_SYMBOL_GPL(vc_sm_cma_import_dmabuf);
EXPORT_SYMBOL_GPL(vc_sm_cma_int_handle);
EXPORT_SYMBOL_GPL(vc_sm_cma_free);
