/* SPDX-License-Identifier: GPL-2.0 */
/*
 * C declarations the 6.12 `kernel` crate does not bind, for bindgen (gen-bindings.sh).
 * Only the functions and types allow-listed there are generated; every other type
 * resolves to `kernel::bindings`.
 */
#include <linux/dma-buf.h>
#include <linux/dma-heap.h>
#include <linux/dma-mapping.h>
#include <linux/dma-resv.h>
#include <linux/iosys-map.h>
#include <linux/mm.h>
#include <linux/of_reserved_mem.h>
#include <linux/scatterlist.h>
#include <linux/vmalloc.h>
#include <linux/debugfs.h>
#include <linux/seq_file.h>
#include <linux/miscdevice.h>

#include "kext_shim.h"

/* VCHIQ (vchiq.rs): the public client API and the vchiq-bus types. */
#include "kext_vchiq.h"

/* The Raspberry Pi firmware (rpi_firmware.rs). */
#include "kext_rpi_firmware.h"

/* The VPU's window (vpu_window.rs). */
#include "kext_vpu_window.h"

/*
 * The /dev/vcsm-cma ABI (vc-sm-cma's ioctl.rs): its argument structs come from the one uapi
 * header userspace compiles against, never from a second copy.
 */
#include "../../uapi/linux/vc_sm_cma_ioctl.h"
