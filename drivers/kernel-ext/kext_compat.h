/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What differs between the two kernels the suite builds for (Linux 6.12 and 7.3), on the C
 * side, in one place. Feature probes (__has_include, LINUX_VERSION_CODE), never the caller's
 * #ifdefs. The Rust side's counterpart is kernel-ext/compat.rs.
 */
#ifndef VCSM_KEXT_COMPAT_H
#define VCSM_KEXT_COMPAT_H

#include <linux/module.h>
#include <linux/version.h>

/*
 * MODULE_IMPORT_NS: 6.12 stringifies a bare word, 6.13 and later take a string literal.
 * KEXT_IMPORT_NS_DMA_BUF() imports what a dma-buf exporter or importer needs;
 * KEXT_IMPORT_NS_DMA_HEAP() what a heap exporter needs (6.12's patch exports the heap API in
 * DMA_BUF, 7.3 exports it in DMA_BUF_HEAP).
 */
#if LINUX_VERSION_CODE >= KERNEL_VERSION(6, 13, 0)
#define KEXT_IMPORT_NS_DMA_BUF() MODULE_IMPORT_NS("DMA_BUF")
#define KEXT_IMPORT_NS_DMA_HEAP() MODULE_IMPORT_NS("DMA_BUF_HEAP")
#else
#define KEXT_IMPORT_NS_DMA_BUF() MODULE_IMPORT_NS(DMA_BUF)
#define KEXT_IMPORT_NS_DMA_HEAP()
#endif

/*
 * The VCHIQ headers: in 6.12 under drivers/staging/vc04_services (the Kbuild puts its include/
 * and interface/ directories on the path), in 7.3 in include/linux/raspberrypi/. Users write
 *   #ifdef KEXT_VCHIQ_IN_INCLUDE  <linux/raspberrypi/vchiq_X.h>  #else  "vchiq_arm/vchiq_X.h"
 * (a macro cannot name a <linux/...> header: `linux` is itself a predefined macro).
 */
#if __has_include(<linux/raspberrypi/vchiq_bus.h>)
#define KEXT_VCHIQ_IN_INCLUDE 1
#endif

/* nth_page() is gone in 7.3; this form works on both. */
#define kext_nth_page(page, n) pfn_to_page(page_to_pfn(page) + (n))

#endif /* VCSM_KEXT_COMPAT_H */
