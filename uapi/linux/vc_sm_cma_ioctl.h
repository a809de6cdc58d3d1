/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-3-Clause */
/*
 * Userspace ABI of /dev/vcsm-cma, the VideoCore shared memory (CMA) device.
 *
 * ABI-identical to the Raspberry Pi downstream vc_sm_cma_ioctl.h: same ioctl
 * numbers, structure sizes and field offsets.
 *
 * The driver dispatches on _IOC_NR() only, and all commands are declared
 * _IOR() although the driver also writes results back into the argument.
 * Fields marked "in" are read by the driver, "out" are written by it.
 */
#ifndef _UAPI_LINUX_VC_SM_CMA_IOCTL_H
#define _UAPI_LINUX_VC_SM_CMA_IOCTL_H

#include <linux/ioctl.h>
#include <linux/types.h>

/* Length of the resource name fields, including the terminating NUL. */
#define VC_SM_CMA_RESOURCE_NAME		32
/* Name given to buffers created without one. */
#define VC_SM_CMA_RESOURCE_NAME_DEFAULT	"sm-host-resource"

/* ioctl type ("magic") of this device. */
#define VC_SM_CMA_MAGIC_TYPE		'J'

/* ioctl command numbers (_IOC_NR). */
enum vc_sm_cma_cmd_e {
	VC_SM_CMA_CMD_ALLOC = 0x5A,
	VC_SM_CMA_CMD_IMPORT_DMABUF = 0x5B,
	VC_SM_CMA_CMD_CLEAN_INVALID2 = 0x5C,
	VC_SM_CMA_CMD_LAST
};

/* Cache type requested for an allocation; the values match libvcsm's. */
enum vc_sm_cma_cache_e {
	VC_SM_CMA_CACHE_NONE = 0,
	VC_SM_CMA_CACHE_HOST = 1,
	VC_SM_CMA_CACHE_VC = 2,
	VC_SM_CMA_CACHE_BOTH = 3,
};

/* Cache operations for struct vc_sm_cma_ioctl_clean_invalid_block. */
#define VC_SM_CMA_CACHE_OP_NOP		0	/* Do nothing. */
#define VC_SM_CMA_CACHE_OP_INV		1	/* Invalidate. */
#define VC_SM_CMA_CACHE_OP_CLEAN	2	/* Clean (write back). */
#define VC_SM_CMA_CACHE_OP_FLUSH	3	/* Clean and invalidate. */

/*
 * VC_SM_CMA_IOCTL_MEM_ALLOC: allocate a contiguous buffer, share it with the
 * VPU and return it as a dma-buf fd. 64 bytes.
 */
struct vc_sm_cma_ioctl_alloc {
	__u32 size;		/* in: size in bytes, rounded up to pages */
	__u32 num;		/* in: number of buffers; ignored */
	__u32 cached;		/* in: enum vc_sm_cma_cache_e; ignored, always uncached */
	__u32 pad;		/* in: padding, set to 0 */
	__u8 name[VC_SM_CMA_RESOURCE_NAME];	/* in: resource name, NUL-terminated */

	__s32 handle;		/* out: dma-buf fd of the new buffer */
	__u32 vc_handle;	/* out: VPU memory handle */
	__u64 dma_addr;		/* out: bus address of the buffer */
};

/*
 * VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF: share an existing contiguous dma-buf
 * with the VPU and return a new dma-buf fd that wraps it. 64 bytes.
 */
struct vc_sm_cma_ioctl_import_dmabuf {
	__s32 dmabuf_fd;	/* in: fd of the dma-buf to import */
	__u32 cached;		/* in: enum vc_sm_cma_cache_e; ignored */
	__u8 name[VC_SM_CMA_RESOURCE_NAME];	/* in: resource name; ignored */

	__s32 handle;		/* out: fd of the new wrapper dma-buf */
	__u32 vc_handle;	/* out: VPU memory handle */
	__u32 size;		/* out: size of the mapping in bytes */
	__u32 pad;		/* padding */
	__u64 dma_addr;		/* out: bus address, without the VPU cache alias */
};

/*
 * One cache operation of VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2: invalidate_mode
 * is applied block_count times to block_size bytes at start_address, moving
 * inter_block_stride bytes each time. 20 bytes on 32-bit, 24 on 64-bit.
 */
struct vc_sm_cma_ioctl_clean_invalid_block {
	__u32 invalidate_mode;		/* in: VC_SM_CMA_CACHE_OP_* */
	__u32 block_count;		/* in: number of blocks */
	void *start_address;		/* in: user address of the first block */
	__u32 block_size;		/* in: bytes per block */
	__u32 inter_block_stride;	/* in: bytes from one block to the next */
};

/*
 * VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2: header (8 bytes), followed by op_count
 * blocks. Only old 32-bit kernels implement it; current drivers return
 * -EINVAL (use DMA_BUF_IOCTL_SYNC on the dma-buf instead).
 */
struct vc_sm_cma_ioctl_clean_invalid2 {
	__u32 op_count;		/* in: number of blocks in s[] */
	__u32 pad;		/* padding */
	struct vc_sm_cma_ioctl_clean_invalid_block s[];	/* in: the operations */
};

/* 0x80404A5A */
#define VC_SM_CMA_IOCTL_MEM_ALLOC \
	_IOR(VC_SM_CMA_MAGIC_TYPE, VC_SM_CMA_CMD_ALLOC, \
	     struct vc_sm_cma_ioctl_alloc)

/* 0x80404A5B */
#define VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF \
	_IOR(VC_SM_CMA_MAGIC_TYPE, VC_SM_CMA_CMD_IMPORT_DMABUF, \
	     struct vc_sm_cma_ioctl_import_dmabuf)

/* 0x80084A5C */
#define VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2 \
	_IOR(VC_SM_CMA_MAGIC_TYPE, VC_SM_CMA_CMD_CLEAN_INVALID2, \
	     struct vc_sm_cma_ioctl_clean_invalid2)

#endif /* _UAPI_LINUX_VC_SM_CMA_IOCTL_H */
