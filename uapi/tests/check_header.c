// SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-3-Clause
/*
 * Compile-time checks of <linux/vc_sm_cma_ioctl.h> against the downstream ABI:
 * every structure size, field offset and ioctl number. Compiling is the test.
 */
#include <stddef.h>
#include <linux/vc_sm_cma_ioctl.h>

#define CHECK_OFF(type, field, off) \
	_Static_assert(offsetof(struct type, field) == (off), \
		       #type "." #field " is not at offset " #off)
#define CHECK_SIZE(type, size) \
	_Static_assert(sizeof(struct type) == (size), \
		       "sizeof(struct " #type ") is not " #size)

/* Constants. */
_Static_assert(VC_SM_CMA_RESOURCE_NAME == 32, "name length");
_Static_assert(VC_SM_CMA_MAGIC_TYPE == 0x4A, "magic is 'J'");
_Static_assert(VC_SM_CMA_CMD_ALLOC == 0x5A, "alloc nr");
_Static_assert(VC_SM_CMA_CMD_IMPORT_DMABUF == 0x5B, "import nr");
_Static_assert(VC_SM_CMA_CMD_CLEAN_INVALID2 == 0x5C, "clean_invalid2 nr");
_Static_assert(VC_SM_CMA_CACHE_NONE == 0, "cache none");
_Static_assert(VC_SM_CMA_CACHE_HOST == 1, "cache host");
_Static_assert(VC_SM_CMA_CACHE_VC == 2, "cache vc");
_Static_assert(VC_SM_CMA_CACHE_BOTH == 3, "cache both");
_Static_assert(VC_SM_CMA_CACHE_OP_NOP == 0, "op nop");
_Static_assert(VC_SM_CMA_CACHE_OP_INV == 1, "op inv");
_Static_assert(VC_SM_CMA_CACHE_OP_CLEAN == 2, "op clean");
_Static_assert(VC_SM_CMA_CACHE_OP_FLUSH == 3, "op flush");
_Static_assert(sizeof(VC_SM_CMA_RESOURCE_NAME_DEFAULT) <= VC_SM_CMA_RESOURCE_NAME,
	       "default name fits");

/* struct vc_sm_cma_ioctl_alloc. */
CHECK_SIZE(vc_sm_cma_ioctl_alloc, 64);
CHECK_OFF(vc_sm_cma_ioctl_alloc, size, 0);
CHECK_OFF(vc_sm_cma_ioctl_alloc, num, 4);
CHECK_OFF(vc_sm_cma_ioctl_alloc, cached, 8);
CHECK_OFF(vc_sm_cma_ioctl_alloc, pad, 12);
CHECK_OFF(vc_sm_cma_ioctl_alloc, name, 16);
CHECK_OFF(vc_sm_cma_ioctl_alloc, handle, 48);
CHECK_OFF(vc_sm_cma_ioctl_alloc, vc_handle, 52);
CHECK_OFF(vc_sm_cma_ioctl_alloc, dma_addr, 56);
_Static_assert(sizeof(((struct vc_sm_cma_ioctl_alloc *)0)->name) == 32, "alloc name");
_Static_assert(sizeof(((struct vc_sm_cma_ioctl_alloc *)0)->dma_addr) == 8, "alloc dma_addr");

/* struct vc_sm_cma_ioctl_import_dmabuf. */
CHECK_SIZE(vc_sm_cma_ioctl_import_dmabuf, 64);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, dmabuf_fd, 0);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, cached, 4);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, name, 8);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, handle, 40);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, vc_handle, 44);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, size, 48);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, pad, 52);
CHECK_OFF(vc_sm_cma_ioctl_import_dmabuf, dma_addr, 56);
_Static_assert(sizeof(((struct vc_sm_cma_ioctl_import_dmabuf *)0)->name) == 32, "import name");

/* struct vc_sm_cma_ioctl_clean_invalid2 and its blocks. */
CHECK_SIZE(vc_sm_cma_ioctl_clean_invalid2, 8);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid2, op_count, 0);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid2, pad, 4);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid2, s, 8);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, invalidate_mode, 0);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, block_count, 4);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, start_address, 8);
#if __SIZEOF_POINTER__ == 8
CHECK_SIZE(vc_sm_cma_ioctl_clean_invalid_block, 24);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, block_size, 16);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, inter_block_stride, 20);
#elif __SIZEOF_POINTER__ == 4
CHECK_SIZE(vc_sm_cma_ioctl_clean_invalid_block, 20);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, block_size, 12);
CHECK_OFF(vc_sm_cma_ioctl_clean_invalid_block, inter_block_stride, 16);
#else
#error "unexpected pointer size"
#endif

/* ioctl numbers. */
_Static_assert(VC_SM_CMA_IOCTL_MEM_ALLOC == 0x80404A5A, "MEM_ALLOC");
_Static_assert(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF == 0x80404A5B, "MEM_IMPORT_DMABUF");
_Static_assert(VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2 == 0x80084A5C, "MEM_CLEAN_INVALID2");
_Static_assert(_IOC_NR(VC_SM_CMA_IOCTL_MEM_ALLOC) == 0x5A, "alloc nr decodes");
_Static_assert(_IOC_TYPE(VC_SM_CMA_IOCTL_MEM_ALLOC) == 'J', "alloc type decodes");
_Static_assert(_IOC_SIZE(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF) == 64, "import size decodes");
_Static_assert(_IOC_DIR(VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2) == _IOC_READ, "all are _IOR");
/* The 32-bit compat value the driver rejects: _IOR('J', 0x5C, 4). */
_Static_assert(_IOR('J', 0x5C, __u32) == 0x80044A5C, "compat clean_invalid2");

int main(void)
{
	return 0;
}
