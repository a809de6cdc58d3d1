/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel API of vc-sm-cma, for other drivers that hand dma-bufs to the VideoCore
 * (bcm2835-mmal-vchiq, bcm2835-isp). Same names and signatures as the Raspberry Pi
 * downstream driver's <linux/raspberrypi/vc_sm_knl.h>, so those drivers link unchanged.
 */
#ifndef __VC_SM_KNL_H__INCLUDED__
#define __VC_SM_KNL_H__INCLUDED__

struct dma_buf;

/*
 * Share @src (physically contiguous) with the VPU. On success *@handle is a new dma-buf
 * wrapping @src (the caller's reference to @src is left alone) and 0 is returned. Returns
 * -EPERM before the driver is connected to the VPU or on a NULL argument, or another
 * negative error (-EINVAL for a buffer that is not contiguous, -ENOMEM when the VPU refuses,
 * -ETIMEDOUT when it does not answer).
 */
int vc_sm_cma_import_dmabuf(struct dma_buf *src, void **handle);

/* The VPU memory handle of a buffer from vc_sm_cma_import_dmabuf(); 0 if it has none. */
int vc_sm_cma_int_handle(void *handle);

/*
 * Drop the reference vc_sm_cma_import_dmabuf() returned. The VPU is told to let go; the
 * memory of @src stays referenced until it has.
 */
int vc_sm_cma_free(void *handle);

#endif /* __VC_SM_KNL_H__INCLUDED__ */
