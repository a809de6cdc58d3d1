/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Out-of-line versions of static inline kernel helpers and macros that Rust cannot
 * call directly. Each module that needs them links its own copy of kext_shim.c (a
 * one-line C file that includes it), so nothing is exported.
 */
#ifndef VCSM_KEXT_SHIM_H
#define VCSM_KEXT_SHIM_H

#include <linux/types.h>
#include <linux/dma-direction.h>

struct device;
struct page;
struct sg_table;
struct vm_area_struct;
struct dma_buf;

/*
 * Allocate @sgt describing the physically contiguous range of @size bytes at @page, in
 * entries of at most @max_seg bytes (a multiple of the page size), so that it respects the
 * segment limit of the device it will be mapped for.
 */
int kext_sg_alloc_contig(struct sg_table *sgt, struct page *page, size_t size,
			 unsigned int max_seg);
/* The largest DMA segment @dev supports. */
unsigned int kext_dma_max_seg_size(struct device *dev);
/* First entry of a mapped table: DMA address, DMA length, and number of DMA segments. */
dma_addr_t kext_sgt_dma_address(const struct sg_table *sgt);
unsigned int kext_sgt_dma_len(const struct sg_table *sgt);
unsigned int kext_sgt_nents(const struct sg_table *sgt);
struct page *kext_sgt_page(const struct sg_table *sgt);

void kext_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			    enum dma_data_direction dir, unsigned long attrs);
void kext_dma_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
				   enum dma_data_direction dir);
void kext_dma_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
				      enum dma_data_direction dir);
void kext_dma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size,
				     enum dma_data_direction dir);
int kext_dma_set_mask_and_coherent(struct device *dev, unsigned int bits);

/* vmap() of @count contiguous pages from @page, write-combined or normal cached. */
void *kext_vmap_contig(struct page *page, unsigned long count, bool writecombine);
/* Whether @vaddr is a vmalloc-space address whose first page is @page. */
bool kext_vmap_maps(const void *vaddr, struct page *page);
/* Linear-map address of a lowmem page. */
void *kext_page_address(struct page *page);
struct page *kext_pfn_to_page(unsigned long pfn);
u64 kext_page_to_phys(struct page *page);

/* vm_area_struct accessors. */
unsigned long kext_vma_pgoff(const struct vm_area_struct *vma);
unsigned long kext_vma_len(const struct vm_area_struct *vma);
void kext_vma_set_dontexpand_dontdump(struct vm_area_struct *vma);
void kext_vma_set_writecombine(struct vm_area_struct *vma);

/* Reference counting on a dma_buf's file. */
void kext_get_dma_buf(struct dma_buf *dmabuf);

/*
 * alloc_workqueue() (workqueue.rs), a macro in 7.3. @ordered: one item at a time, in queueing
 * order (alloc_ordered_workqueue); else a per-CPU queue (WQ_PERCPU: 7.3 warns about a queue
 * that says neither WQ_PERCPU nor WQ_UNBOUND; 6.12.117 has the flag too) running up to
 * @max_active items per CPU (0: the default).
 */
struct workqueue_struct;
struct workqueue_struct *kext_alloc_workqueue(const char *name, bool ordered, int max_active);

/* seq_file (debugfs.rs): the private data given to single_open(). */
struct seq_file;
void *kext_seq_private(struct seq_file *m);

/*
 * debugfs_create_file() (debugfs.rs): a function in 6.12, a _Generic macro over
 * debugfs_create_file_full() in 7.3, so Rust calls it through here on both.
 */
struct dentry;
struct file_operations;
struct dentry *kext_debugfs_create_file(const char *name, umode_t mode, struct dentry *parent,
					void *data, const struct file_operations *fops);

/*
 * Whether the first DMA segment of @sgt, mapped for @dev, is a swiotlb bounce buffer instead
 * of the memory itself (the memory is out of the device's reach); dma_buf_import.rs.
 */
bool kext_sgt_bounced(struct device *dev, const struct sg_table *sgt);

/* Whether the current task has been killed (fatal_signal_pending(current)). */
bool kext_fatal_signal_pending(void);

/* Milliseconds since boot, at jiffy resolution (ratelimit.rs). */
u64 kext_now_ms(void);

/*
 * Zero @size bytes (a multiple of the page size) of contiguous pages from @page through the
 * kernel's cacheable mapping, page by page (clear_highpage), and clean the lines to the point
 * of coherency for @dev (dma_sync_single_for_device), so no dirty line remains over them.
 */
void kext_zero_and_clean_contig(struct device *dev, struct page *page, dma_addr_t addr,
				size_t size);

/*
 * A delayed work item on system_unbound_wq whose callback is @fn(@data) (workqueue.rs
 * DelayedWork). kext_dwork_queue() queues it to run after @ms milliseconds unless it is
 * already pending; kext_dwork_mod() moves a pending one to @ms from now. kext_dwork_cancel()
 * waits until it is neither pending nor running (cancel_delayed_work_sync), and
 * kext_dwork_free() does the same and frees it.
 */
struct kext_dwork;
struct kext_dwork *kext_dwork_alloc(void (*fn)(void *data));
void kext_dwork_set_data(struct kext_dwork *w, void *data);
bool kext_dwork_queue(struct kext_dwork *w, unsigned int ms);
bool kext_dwork_mod(struct kext_dwork *w, unsigned int ms);
void kext_dwork_cancel(struct kext_dwork *w);
void kext_dwork_free(struct kext_dwork *w);

/*
 * A registered shrinker (shrinker.rs): shrinker_alloc() + shrinker_register() with callbacks
 * @count(@data), the number of freeable objects, and @scan(@data, @nr), which frees up to @nr
 * and returns how many it freed (or SHRINK_STOP). kext_shrinker_free() unregisters it and
 * returns once no callback runs any more.
 */
struct kext_shrinker;
struct kext_shrinker *kext_shrinker_register(const char *name,
					     unsigned long (*count)(void *data),
					     unsigned long (*scan)(void *data, unsigned long nr),
					     void *data);
void kext_shrinker_free(struct kext_shrinker *ks);
/* SHRINK_STOP, for scan callbacks that cannot make progress now. */
unsigned long kext_shrink_stop(void);

/*
 * DMA parameters of a device a module drives (dma.rs). kext_dma_set_max_seg_size() sets the
 * device's maximum DMA segment size; a device without dma_parms gets the module's own (one
 * device per module) until kext_dma_params_release(). kext_cma_adopt_default() makes the system
 * CMA pool (the reusable /reserved-memory node with linux,cma-default) the CMA area of @dev if
 * it has none, so that single pages come from it too, and returns the pool's range in @base and
 * @size; -ENODEV if there is no such pool (none in the device tree, or cma= on the command line
 * replaced it) or @dev already has another area. kext_dma_params_release() undoes both.
 */
void kext_dma_set_max_seg_size(struct device *dev, unsigned int size);
int kext_cma_adopt_default(struct device *dev, u64 *base, u64 *size);
void kext_dma_params_release(struct device *dev);

/* The current task (task.rs): its tgid, and its name NUL-terminated into @buf of @len bytes. */
int kext_current_tgid(void);
void kext_current_comm(char *buf, unsigned int len);

/* RCU (rcu_arc.rs): rcu_read_lock(), rcu_read_unlock(), synchronize_rcu(). */
void kext_rcu_read_lock(void);
void kext_rcu_read_unlock(void);
void kext_synchronize_rcu(void);

#endif /* VCSM_KEXT_SHIM_H */
