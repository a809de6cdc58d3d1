// SPDX-License-Identifier: GPL-2.0
/*
 * Out-of-line wrappers for static inline kernel helpers (see kext_shim.h). Included by
 * one small C file per module, so each module carries a private copy.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/dma-direct.h>
#include <linux/dma-mapping.h>
#include <linux/jiffies.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/of.h>
#include <linux/of_reserved_mem.h>
#include <linux/rcupdate.h>
#include <linux/sched.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/shrinker.h>
#include <linux/slab.h>
#include <linux/swiotlb.h>
#include <linux/vmalloc.h>
#include <linux/highmem.h>
#include <linux/workqueue.h>

#include "kext_compat.h"
#include "kext_shim.h"

/* Values the Rust side (dma.rs) spells out because bindgen cannot evaluate them. */
static_assert(DMA_ATTR_SKIP_CPU_SYNC == (1UL << 5));
static_assert(MISC_DYNAMIC_MINOR == 255);	/* miscdev.rs */

int kext_sg_alloc_contig(struct sg_table *sgt, struct page *page, size_t size,
			 unsigned int max_seg)
{
	struct scatterlist *sg;
	size_t seg = max_t(size_t, round_down(max_seg, PAGE_SIZE), PAGE_SIZE);
	unsigned int nents = DIV_ROUND_UP(size, seg), i;
	int ret;

	ret = sg_alloc_table(sgt, nents, GFP_KERNEL);
	if (ret)
		return ret;
	for_each_sg(sgt->sgl, sg, nents, i) {
		size_t len = min(seg, size - (size_t)i * seg);

		sg_set_page(sg, kext_nth_page(page, (i * seg) >> PAGE_SHIFT), len, 0);
	}
	return 0;
}

unsigned int kext_dma_max_seg_size(struct device *dev)
{
	return dma_get_max_seg_size(dev);
}

dma_addr_t kext_sgt_dma_address(const struct sg_table *sgt)
{
	return sg_dma_address(sgt->sgl);
}

unsigned int kext_sgt_dma_len(const struct sg_table *sgt)
{
	return sg_dma_len(sgt->sgl);
}

unsigned int kext_sgt_nents(const struct sg_table *sgt)
{
	return sgt->nents;
}

struct page *kext_sgt_page(const struct sg_table *sgt)
{
	return sg_page(sgt->sgl);
}

void kext_dma_unmap_sgtable(struct device *dev, struct sg_table *sgt,
			    enum dma_data_direction dir, unsigned long attrs)
{
	dma_unmap_sgtable(dev, sgt, dir, attrs);
}

void kext_dma_sync_sgtable_for_cpu(struct device *dev, struct sg_table *sgt,
				   enum dma_data_direction dir)
{
	dma_sync_sgtable_for_cpu(dev, sgt, dir);
}

void kext_dma_sync_sgtable_for_device(struct device *dev, struct sg_table *sgt,
				      enum dma_data_direction dir)
{
	dma_sync_sgtable_for_device(dev, sgt, dir);
}

void kext_dma_sync_single_for_device(struct device *dev, dma_addr_t addr, size_t size,
				     enum dma_data_direction dir)
{
	dma_sync_single_for_device(dev, addr, size, dir);
}

int kext_dma_set_mask_and_coherent(struct device *dev, unsigned int bits)
{
	return dma_set_mask_and_coherent(dev, DMA_BIT_MASK(bits));
}

bool kext_vmap_maps(const void *vaddr, struct page *page)
{
	return is_vmalloc_addr(vaddr) && vmalloc_to_page(vaddr) == page;
}

void *kext_vmap_contig(struct page *page, unsigned long count, bool writecombine)
{
	struct page **pages;
	unsigned long i;
	void *vaddr;

	pages = kvmalloc_array(count, sizeof(*pages), GFP_KERNEL);
	if (!pages)
		return NULL;
	for (i = 0; i < count; i++)
		pages[i] = kext_nth_page(page, i);
	vaddr = vmap(pages, count, VM_MAP,
		     writecombine ? pgprot_writecombine(PAGE_KERNEL) : PAGE_KERNEL);
	kvfree(pages);
	return vaddr;
}

void *kext_page_address(struct page *page)
{
	return page_address(page);
}

struct page *kext_pfn_to_page(unsigned long pfn)
{
	return pfn_to_page(pfn);
}

u64 kext_page_to_phys(struct page *page)
{
	return page_to_phys(page);
}

unsigned long kext_vma_pgoff(const struct vm_area_struct *vma)
{
	return vma->vm_pgoff;
}

unsigned long kext_vma_len(const struct vm_area_struct *vma)
{
	return vma->vm_end - vma->vm_start;
}

void kext_vma_set_dontexpand_dontdump(struct vm_area_struct *vma)
{
	vm_flags_set(vma, VM_DONTEXPAND | VM_DONTDUMP);
}

void kext_vma_set_writecombine(struct vm_area_struct *vma)
{
	vma->vm_page_prot = pgprot_writecombine(vma->vm_page_prot);
}

void kext_get_dma_buf(struct dma_buf *dmabuf)
{
	get_dma_buf(dmabuf);
}

struct workqueue_struct *kext_alloc_workqueue(const char *name, bool ordered, int max_active)
{
	if (ordered)
		return alloc_ordered_workqueue("%s", 0, name);
	return alloc_workqueue("%s", WQ_PERCPU, max_active, name);
}

struct dentry *kext_debugfs_create_file(const char *name, umode_t mode, struct dentry *parent,
					void *data, const struct file_operations *fops)
{
	return debugfs_create_file(name, mode, parent, data, fops);
}

void *kext_seq_private(struct seq_file *m)
{
	return m->private;
}

bool kext_sgt_bounced(struct device *dev, const struct sg_table *sgt)
{
	return swiotlb_find_pool(dev, dma_to_phys(dev, sg_dma_address(sgt->sgl))) != NULL;
}

u64 kext_now_ms(void)
{
	return jiffies64_to_msecs(get_jiffies_64());
}

bool kext_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void kext_zero_and_clean_contig(struct device *dev, struct page *page, dma_addr_t addr,
				size_t size)
{
	unsigned long i, n = size >> PAGE_SHIFT;

	for (i = 0; i < n; i++) {
		clear_highpage(kext_nth_page(page, i));
		cond_resched();
	}
	dma_sync_single_for_device(dev, addr, size, DMA_BIDIRECTIONAL);
}

struct kext_dwork {
	struct delayed_work dw;
	void (*fn)(void *data);
	void *data;
};

static void kext_dwork_fn(struct work_struct *work)
{
	struct kext_dwork *w = container_of(to_delayed_work(work), struct kext_dwork, dw);

	if (w->data)
		w->fn(w->data);
}

struct kext_dwork *kext_dwork_alloc(void (*fn)(void *data))
{
	struct kext_dwork *w = kzalloc(sizeof(*w), GFP_KERNEL);

	if (!w)
		return NULL;
	INIT_DELAYED_WORK(&w->dw, kext_dwork_fn);
	w->fn = fn;
	return w;
}

void kext_dwork_set_data(struct kext_dwork *w, void *data)
{
	WRITE_ONCE(w->data, data);
}

bool kext_dwork_queue(struct kext_dwork *w, unsigned int ms)
{
	return queue_delayed_work(system_unbound_wq, &w->dw, msecs_to_jiffies(ms));
}

bool kext_dwork_mod(struct kext_dwork *w, unsigned int ms)
{
	return mod_delayed_work(system_unbound_wq, &w->dw, msecs_to_jiffies(ms));
}

void kext_dwork_cancel(struct kext_dwork *w)
{
	cancel_delayed_work_sync(&w->dw);
}

void kext_dwork_free(struct kext_dwork *w)
{
	cancel_delayed_work_sync(&w->dw);
	kfree(w);
}

struct kext_shrinker {
	struct shrinker *s;
	unsigned long (*count)(void *data);
	unsigned long (*scan)(void *data, unsigned long nr);
	void *data;
};

static unsigned long kext_shrinker_count(struct shrinker *s, struct shrink_control *sc)
{
	struct kext_shrinker *ks = s->private_data;

	return ks->count(ks->data);
}

static unsigned long kext_shrinker_scan(struct shrinker *s, struct shrink_control *sc)
{
	struct kext_shrinker *ks = s->private_data;
	unsigned long freed = ks->scan(ks->data, sc->nr_to_scan);

	if (freed != SHRINK_STOP)
		sc->nr_scanned = freed;
	return freed;
}

struct kext_shrinker *kext_shrinker_register(const char *name,
					     unsigned long (*count)(void *data),
					     unsigned long (*scan)(void *data, unsigned long nr),
					     void *data)
{
	struct kext_shrinker *ks = kzalloc(sizeof(*ks), GFP_KERNEL);

	if (!ks)
		return NULL;
	ks->s = shrinker_alloc(0, "%s", name);
	if (!ks->s) {
		kfree(ks);
		return NULL;
	}
	ks->count = count;
	ks->scan = scan;
	ks->data = data;
	ks->s->count_objects = kext_shrinker_count;
	ks->s->scan_objects = kext_shrinker_scan;
	ks->s->private_data = ks;
	shrinker_register(ks->s);
	return ks;
}

void kext_shrinker_free(struct kext_shrinker *ks)
{
	/* Returns once no callback runs; none starts afterwards. */
	shrinker_free(ks->s);
	kfree(ks);
}

unsigned long kext_shrink_stop(void)
{
	return SHRINK_STOP;
}

/* Used when the device comes without DMA parameters (one device per module). */
static struct device_dma_parameters kext_dma_parms;
/* The CMA area kext_cma_adopt_default() gave the device, to take back on release. */
static struct cma *kext_cma_given;

void kext_dma_set_max_seg_size(struct device *dev, unsigned int size)
{
	if (!dev->dma_parms) {
		memset(&kext_dma_parms, 0, sizeof(kext_dma_parms));
		dev->dma_parms = &kext_dma_parms;
	}
	dma_set_max_seg_size(dev, size);
}

int kext_cma_adopt_default(struct device *dev, u64 *base, u64 *size)
{
#ifdef CONFIG_DMA_CMA
	struct device_node *mem, *np;
	struct reserved_mem *rmem = NULL;

	mem = of_find_node_by_path("/reserved-memory");
	if (!mem)
		return -ENODEV;
	for_each_available_child_of_node(mem, np) {
		if (!of_property_read_bool(np, "linux,cma-default") ||
		    !of_property_read_bool(np, "reusable"))
			continue;
		rmem = of_reserved_mem_lookup(np);
		if (rmem) {
			of_node_put(np);
			break;
		}
	}
	of_node_put(mem);
	/* No struct cma: the kernel bypassed the node (cma= on the command line) or failed it. */
	if (!rmem || !rmem->priv)
		return -ENODEV;
	if (dev->cma_area && dev->cma_area != rmem->priv)
		return -ENODEV;
	if (!dev->cma_area) {
		dev->cma_area = rmem->priv;
		kext_cma_given = rmem->priv;
	}
	*base = rmem->base;
	*size = rmem->size;
	return 0;
#else
	return -ENODEV;
#endif
}

void kext_dma_params_release(struct device *dev)
{
	if (dev->dma_parms == &kext_dma_parms)
		dev->dma_parms = NULL;
#ifdef CONFIG_DMA_CMA
	/* Pages still allocated are released to the same area: it is the default one. */
	if (kext_cma_given && dev->cma_area == kext_cma_given)
		dev->cma_area = NULL;
	kext_cma_given = NULL;
#endif
}

int kext_current_tgid(void)
{
	return task_tgid_nr(current);
}

void kext_current_comm(char *buf, unsigned int len)
{
	char comm[TASK_COMM_LEN];

	get_task_comm(comm, current);
	strscpy(buf, comm, len);
}

void kext_rcu_read_lock(void)
{
	rcu_read_lock();
}

void kext_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

void kext_synchronize_rcu(void)
{
	synchronize_rcu();
}
