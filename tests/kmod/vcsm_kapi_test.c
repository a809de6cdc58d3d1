// SPDX-License-Identifier: GPL-2.0
/*
 * Test consumer of the vc-sm-cma kernel API (vc_sm_knl.h), in the role bcm2835-mmal-vchiq
 * plays: it links against vc-sm-cma's exports, imports a dma-buf once, reads its VPU handle
 * and frees it.
 *
 * debugfs vcsm-kapi-test/run: write the number of a dma-buf fd of the writing process; the
 * checks run in that process's context. Reading gives the outcome, "ok handle 0x..." or
 * "FAIL: why".
 *
 * debugfs vcsm-kapi-test/nest: write "FD DEPTH": import the dma-buf FD, then import the handle
 * just returned, DEPTH times, freeing each previous handle (each import of a wrapper must import
 * what it wraps, not nest); then map the last one into the kernel and for a device. Reading
 * gives "ok depth N handle 0x..." or "FAIL: why".
 *
 * debugfs vcsm-kapi-test/port: a zero-copy MMAL port as bcm2835-mmal-vchiq keeps one, per open
 * file. Writing "submit FD" submits the buffer whose dma-buf is FD: the first submission of a
 * dma-buf imports it (vc_sm_cma_import_dmabuf) and keeps the import with the buffer; every
 * submission puts vc_sm_cma_int_handle into a (simulated) MMAL buffer header. Reading gives
 * that header, "header data=0x<vc_handle> length=<n> imports=<k> submits=<m>", or "FAIL: why".
 * Closing the file (also when the process dies) is buffer cleanup: every import is freed with
 * vc_sm_cma_free and its dma-buf reference dropped.
 *
 * debugfs vcsm-kapi-test/scattered: reading it gives the reader a new dma-buf fd ("fd N") of
 * two separate pages, which maps as two DMA segments: a buffer vc-sm-cma must refuse.
 *
 * debugfs vcsm-kapi-test/far: the same for one page above the first GiB of RAM, outside the
 * simulated VPU's window: mapping it for the VPU bounces it through swiotlb, which vc-sm-cma
 * must refuse too.
 *
 * debugfs vcsm-kapi-test/far-frame: a physically contiguous 2 MiB buffer above the window, with
 * a kernel mapping (vmap), big enough for a 640x480 frame: a V4L2 driver (vivid, dma-contig)
 * can capture into it as a DMABUF buffer, as a camera would into memory the VPU cannot reach.
 */
#include <linux/debugfs.h>
#include <linux/dma-buf.h>
#include <linux/err.h>
#include <linux/dma-mapping.h>
#include <linux/gfp.h>
#include <linux/iosys-map.h>
#include <linux/slab.h>
#include <linux/fs.h>
#include <linux/kernel.h>
#include <linux/module.h>
#include <linux/mutex.h>
#include <linux/platform_device.h>
#include <linux/scatterlist.h>
#include <linux/uaccess.h>

#include "../../drivers/kernel-ext/kext_compat.h"
#include "../../drivers/vc-sm-cma/vc_sm_knl.h"

KEXT_IMPORT_NS_DMA_BUF();

static struct dentry *kapi_dir;
/* A device that imports the wrapper, as a V4L2 or DRM device would. */
static struct platform_device *kapi_pdev;
static DEFINE_MUTEX(kapi_lock);
static char kapi_result[160] = "none\n";

#define FAIL(...) do { snprintf(kapi_result, sizeof(kapi_result), "FAIL: " __VA_ARGS__); goto out; } while (0)

static void kapi_run(int fd)
{
	struct dma_buf *src, *other = NULL;
	void *handle = NULL, *h2 = NULL;
	int ret, vc_handle;

	src = dma_buf_get(fd);
	if (IS_ERR(src)) {
		snprintf(kapi_result, sizeof(kapi_result), "FAIL: dma_buf_get(%d): %ld\n", fd, PTR_ERR(src));
		return;
	}

	/* Bad input is refused with -EPERM, as downstream. */
	if (vc_sm_cma_import_dmabuf(NULL, &handle) != -EPERM)
		FAIL("import of NULL did not return -EPERM\n");
	if (vc_sm_cma_import_dmabuf(src, NULL) != -EPERM)
		FAIL("import into a NULL handle did not return -EPERM\n");
	if (vc_sm_cma_int_handle(NULL) != 0)
		FAIL("int_handle(NULL) is not 0\n");
	/* A dma-buf the driver did not make is no handle of its own. */
	if (vc_sm_cma_int_handle(src) != 0)
		FAIL("int_handle of a foreign dma-buf is not 0\n");
	if (vc_sm_cma_free(src) != -EINVAL)
		FAIL("free of a foreign dma-buf did not return -EINVAL\n");

	ret = vc_sm_cma_import_dmabuf(src, &handle);
	if (ret || !handle)
		FAIL("import: %d\n", ret);
	vc_handle = vc_sm_cma_int_handle(handle);
	if (!vc_handle)
		FAIL("int_handle of the import is 0\n");
	if (((struct dma_buf *)handle)->size != src->size)
		FAIL("wrapper size %zu, source %zu\n", ((struct dma_buf *)handle)->size, src->size);

	/* Importing the same source again gives a second, independent handle. */
	ret = vc_sm_cma_import_dmabuf(src, &h2);
	if (ret)
		FAIL("second import: %d\n", ret);
	if (vc_sm_cma_int_handle(h2) == vc_handle)
		FAIL("second import got the same VPU handle\n");
	ret = vc_sm_cma_free(h2);
	h2 = NULL;
	if (ret)
		FAIL("free of the second import: %d\n", ret);

	/* The wrapper is a dma-buf in its own right: a kernel mapping works through it. */
	other = handle;
	{
		struct iosys_map map;

		ret = dma_buf_vmap_unlocked(other, &map);
		if (ret)
			FAIL("vmap of the wrapper: %d\n", ret);
		dma_buf_vunmap_unlocked(other, &map);
	}

	/* ...and so does attaching another device and mapping it for DMA. */
	{
		struct dma_buf_attachment *att;
		struct sg_table *sgt;

		att = dma_buf_attach(other, &kapi_pdev->dev);
		if (IS_ERR(att))
			FAIL("attach to the wrapper: %ld\n", PTR_ERR(att));
		sgt = dma_buf_map_attachment_unlocked(att, DMA_BIDIRECTIONAL);
		if (IS_ERR(sgt)) {
			dma_buf_detach(other, att);
			FAIL("map of the wrapper: %ld\n", PTR_ERR(sgt));
		}
		ret = sgt->nents;
		dma_buf_unmap_attachment_unlocked(att, sgt, DMA_BIDIRECTIONAL);
		dma_buf_detach(other, att);
		if (ret < 1)
			FAIL("mapping of the wrapper has %d segments\n", ret);
	}

	snprintf(kapi_result, sizeof(kapi_result), "ok handle %#x size %zu\n", vc_handle, src->size);
out:
	if (h2)
		vc_sm_cma_free(h2);
	if (handle && vc_sm_cma_free(handle))
		snprintf(kapi_result, sizeof(kapi_result), "FAIL: free of the import failed\n");
	/* The caller's reference stays ours to drop. */
	dma_buf_put(src);
}

static ssize_t kapi_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	int fd, ret;

	ret = kstrtoint_from_user(ubuf, len, 0, &fd);
	if (ret)
		return ret;
	mutex_lock(&kapi_lock);
	kapi_run(fd);
	mutex_unlock(&kapi_lock);
	return len;
}

/*
 * Reading a test's file gives its result text, the file's private data (under kapi_lock,
 * which the test's writer holds).
 */
static ssize_t result_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	const char *result = file->f_inode->i_private;
	ssize_t ret;

	mutex_lock(&kapi_lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, result, strlen(result));
	mutex_unlock(&kapi_lock);
	return ret;
}

static const struct file_operations kapi_fops = {
	.owner = THIS_MODULE,
	.read = result_read,
	.write = kapi_write,
	.llseek = default_llseek,
};

static char nest_result[160] = "none\n";

/* Maps @buf into the kernel and for kapi_pdev: 0 or why not (into nest_result). */
static int nest_use(struct dma_buf *buf)
{
	struct dma_buf_attachment *att;
	struct iosys_map map;
	struct sg_table *sgt;
	int ret;

	ret = dma_buf_vmap_unlocked(buf, &map);
	if (ret) {
		snprintf(nest_result, sizeof(nest_result), "FAIL: vmap of the last handle: %d\n", ret);
		return ret;
	}
	dma_buf_vunmap_unlocked(buf, &map);
	att = dma_buf_attach(buf, &kapi_pdev->dev);
	if (IS_ERR(att)) {
		snprintf(nest_result, sizeof(nest_result), "FAIL: attach to the last handle: %ld\n", PTR_ERR(att));
		return PTR_ERR(att);
	}
	sgt = dma_buf_map_attachment_unlocked(att, DMA_BIDIRECTIONAL);
	if (IS_ERR(sgt)) {
		dma_buf_detach(buf, att);
		snprintf(nest_result, sizeof(nest_result), "FAIL: map of the last handle: %ld\n", PTR_ERR(sgt));
		return PTR_ERR(sgt);
	}
	dma_buf_unmap_attachment_unlocked(att, sgt, DMA_BIDIRECTIONAL);
	dma_buf_detach(buf, att);
	ret = dma_buf_begin_cpu_access(buf, DMA_BIDIRECTIONAL);
	if (!ret)
		ret = dma_buf_end_cpu_access(buf, DMA_BIDIRECTIONAL);
	if (ret)
		snprintf(nest_result, sizeof(nest_result), "FAIL: CPU access to the last handle: %d\n", ret);
	return ret;
}

static void nest_run(int fd, unsigned int depth)
{
	struct dma_buf *src;
	void *handle = NULL, *next;
	unsigned int i;
	int ret, vc_handle = 0;

	src = dma_buf_get(fd);
	if (IS_ERR(src)) {
		snprintf(nest_result, sizeof(nest_result), "FAIL: dma_buf_get(%d): %ld\n", fd, PTR_ERR(src));
		return;
	}
	ret = vc_sm_cma_import_dmabuf(src, &handle);
	if (ret) {
		snprintf(nest_result, sizeof(nest_result), "FAIL: import of the source: %d\n", ret);
		goto out;
	}
	for (i = 1; i < depth; i++) {
		ret = vc_sm_cma_import_dmabuf(handle, &next);
		if (ret) {
			snprintf(nest_result, sizeof(nest_result), "FAIL: import of handle %u: %d\n", i, ret);
			goto out;
		}
		if (((struct dma_buf *)next)->size != src->size) {
			vc_sm_cma_free(next);
			snprintf(nest_result, sizeof(nest_result), "FAIL: handle %u has size %zu, the source %zu\n",
				 i + 1, ((struct dma_buf *)next)->size, src->size);
			goto out;
		}
		vc_sm_cma_free(handle);
		handle = next;
	}
	vc_handle = vc_sm_cma_int_handle(handle);
	if (!vc_handle) {
		snprintf(nest_result, sizeof(nest_result), "FAIL: the last handle has no VPU handle\n");
		goto out;
	}
	if (nest_use(handle))
		goto out;
	snprintf(nest_result, sizeof(nest_result), "ok depth %u handle %#x\n", depth, vc_handle);
out:
	if (handle)
		vc_sm_cma_free(handle);
	dma_buf_put(src);
}

static ssize_t nest_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	char text[32];
	unsigned int depth;
	int fd;

	if (len >= sizeof(text))
		return -EINVAL;
	if (copy_from_user(text, ubuf, len))
		return -EFAULT;
	text[len] = 0;
	if (sscanf(text, "%d %u", &fd, &depth) != 2 || !depth || depth > 100000)
		return -EINVAL;
	mutex_lock(&kapi_lock);
	nest_run(fd, depth);
	mutex_unlock(&kapi_lock);
	return len;
}

static const struct file_operations nest_fops = {
	.owner = THIS_MODULE,
	.read = result_read,
	.write = nest_write,
	.llseek = default_llseek,
};

/* ---- a zero-copy MMAL port ---- */

#define PORT_BUFFERS 32

/* One buffer of the port: its dma-buf (a reference of ours) and its import. */
struct port_buffer {
	struct dma_buf *dmabuf;
	void *vcsm;
};

struct port {
	struct mutex lock;
	struct port_buffer bufs[PORT_BUFFERS];
	unsigned int n, submits;
	/* The last MMAL buffer header "sent". */
	u32 data, length;
	char result[128];
};

static int port_open(struct inode *inode, struct file *file)
{
	struct port *p = kzalloc(sizeof(*p), GFP_KERNEL);

	if (!p)
		return -ENOMEM;
	mutex_init(&p->lock);
	strscpy(p->result, "none\n", sizeof(p->result));
	file->private_data = p;
	return 0;
}

/* mmal_vchi_buffer_cleanup for every buffer of the port. */
static int port_release(struct inode *inode, struct file *file)
{
	struct port *p = file->private_data;
	unsigned int i;

	for (i = 0; i < p->n; i++) {
		if (vc_sm_cma_free(p->bufs[i].vcsm))
			pr_err("vcsm-kapi-test: port cleanup: vc_sm_cma_free failed\n");
		dma_buf_put(p->bufs[i].dmabuf);
	}
	mutex_destroy(&p->lock);
	kfree(p);
	return 0;
}

static void port_submit(struct port *p, int fd)
{
	struct port_buffer *b = NULL;
	struct dma_buf *dmabuf;
	unsigned int i;
	int ret;

	dmabuf = dma_buf_get(fd);
	if (IS_ERR(dmabuf)) {
		snprintf(p->result, sizeof(p->result), "FAIL: dma_buf_get(%d): %ld\n", fd, PTR_ERR(dmabuf));
		return;
	}
	for (i = 0; i < p->n; i++) {
		if (p->bufs[i].dmabuf == dmabuf) {
			b = &p->bufs[i];
			break;
		}
	}
	if (b) {
		/* Known buffer: its import is reused, as the MMAL port reuses buffer->vcsm_handle. */
		dma_buf_put(dmabuf);
	} else {
		if (p->n == PORT_BUFFERS) {
			dma_buf_put(dmabuf);
			snprintf(p->result, sizeof(p->result), "FAIL: more than %d buffers\n", PORT_BUFFERS);
			return;
		}
		b = &p->bufs[p->n];
		ret = vc_sm_cma_import_dmabuf(dmabuf, &b->vcsm);
		if (ret) {
			dma_buf_put(dmabuf);
			snprintf(p->result, sizeof(p->result), "FAIL: import: %d\n", ret);
			return;
		}
		b->dmabuf = dmabuf;
		p->n++;
	}
	p->data = vc_sm_cma_int_handle(b->vcsm);
	p->length = dmabuf->size;
	p->submits++;
	if (!p->data)
		snprintf(p->result, sizeof(p->result), "FAIL: vc_sm_cma_int_handle is 0\n");
	else
		snprintf(p->result, sizeof(p->result), "header data=%#x length=%u imports=%u submits=%u\n",
			 p->data, p->length, p->n, p->submits);
}

static ssize_t port_write(struct file *file, const char __user *ubuf, size_t len, loff_t *ppos)
{
	struct port *p = file->private_data;
	char cmd[32];
	int fd;

	if (len >= sizeof(cmd))
		return -EINVAL;
	if (copy_from_user(cmd, ubuf, len))
		return -EFAULT;
	cmd[len] = '\0';
	if (sscanf(cmd, "submit %d", &fd) != 1)
		return -EINVAL;
	mutex_lock(&p->lock);
	port_submit(p, fd);
	mutex_unlock(&p->lock);
	return len;
}

static ssize_t port_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	struct port *p = file->private_data;
	ssize_t ret;

	/* The result at offset 0 (read it with pread at 0 after each submit). */
	mutex_lock(&p->lock);
	ret = simple_read_from_buffer(ubuf, len, ppos, p->result, strlen(p->result));
	mutex_unlock(&p->lock);
	return ret;
}

static const struct file_operations port_fops = {
	.owner = THIS_MODULE,
	.open = port_open,
	.release = port_release,
	.read = port_read,
	.write = port_write,
	.llseek = default_llseek,
};

/* ---- a dma-buf of two separate pages ---- */

struct scattered {
	struct page *pages[2];
	unsigned int n;
	/* The allocation order of each page (scattered: 1; far: 0 or FAR_ORDER). */
	unsigned int order;
	/* The bytes of each page's block in the buffer (PAGE_SIZE, or the whole far-frame block). */
	size_t seg;
};

static struct sg_table *scattered_map(struct dma_buf_attachment *att, enum dma_data_direction dir)
{
	struct scattered *sc = att->dmabuf->priv;
	struct sg_table *sgt;
	struct scatterlist *sg;
	size_t max_seg, per_block;
	int i, ret;

	sgt = kzalloc(sizeof(*sgt), GFP_KERNEL);
	if (!sgt)
		return ERR_PTR(-ENOMEM);
	/* Entries no longer than the attaching device's segment limit (vivid: 64 KiB). */
	max_seg = min_t(size_t, sc->seg, dma_get_max_seg_size(att->dev) & PAGE_MASK);
	if (!max_seg)
		max_seg = PAGE_SIZE;
	per_block = DIV_ROUND_UP(sc->seg, max_seg);
	ret = sg_alloc_table(sgt, sc->n * per_block, GFP_KERNEL);
	if (ret)
		goto free;
	for_each_sgtable_sg(sgt, sg, i) {
		size_t off = (i % per_block) * max_seg;

		sg_set_page(sg, kext_nth_page(sc->pages[i / per_block], off >> PAGE_SHIFT),
			    min(max_seg, sc->seg - off), 0);
	}
	ret = dma_map_sgtable(att->dev, sgt, dir, 0);
	if (ret)
		goto table;
	return sgt;
table:
	sg_free_table(sgt);
free:
	kfree(sgt);
	return ERR_PTR(ret);
}

static void scattered_unmap(struct dma_buf_attachment *att, struct sg_table *sgt,
			    enum dma_data_direction dir)
{
	dma_unmap_sgtable(att->dev, sgt, dir, 0);
	sg_free_table(sgt);
	kfree(sgt);
}

static void scattered_release(struct dma_buf *buf)
{
	struct scattered *sc = buf->priv;

	unsigned int i;

	for (i = 0; i < sc->n; i++)
		__free_pages(sc->pages[i], sc->order);
	kfree(sc);
}

/* The kernel mapping of a one-block buffer (its linear map): how vb2 drivers write frames. */
static int scattered_vmap(struct dma_buf *buf, struct iosys_map *map)
{
	struct scattered *sc = buf->priv;

	if (sc->n != 1)
		return -EINVAL;
	iosys_map_set_vaddr(map, page_address(sc->pages[0]));
	return 0;
}

static const struct dma_buf_ops scattered_ops = {
	.map_dma_buf = scattered_map,
	.unmap_dma_buf = scattered_unmap,
	.release = scattered_release,
	.vmap = scattered_vmap,
};

/* Exports @sc as a dma-buf of @size bytes and installs it as an fd of the current process. */
static int test_buf_fd(struct scattered *sc, size_t size, const char *name)
{
	DEFINE_DMA_BUF_EXPORT_INFO(info);
	struct dma_buf *buf;
	int fd;

	info.exp_name = name;
	info.owner = THIS_MODULE;
	info.ops = &scattered_ops;
	info.size = size;
	info.flags = O_RDWR;
	info.priv = sc;
	buf = dma_buf_export(&info);
	if (IS_ERR(buf)) {
		scattered_release(&(struct dma_buf){ .priv = sc });
		return PTR_ERR(buf);
	}
	fd = dma_buf_fd(buf, O_CLOEXEC);
	if (fd < 0)
		dma_buf_put(buf);
	return fd;
}

/* Two separate pages in the VPU's window (ZONE_DMA): two DMA segments. */
static int scattered_fd(void)
{
	struct scattered *sc;

	sc = kzalloc(sizeof(*sc), GFP_KERNEL);
	if (!sc)
		return -ENOMEM;
	/* Order-1 blocks, first page of each: never adjacent. */
	sc->pages[0] = alloc_pages(GFP_KERNEL | GFP_DMA | __GFP_ZERO, 1);
	if (sc->pages[0])
		sc->n = 1;
	sc->pages[1] = alloc_pages(GFP_KERNEL | GFP_DMA | __GFP_ZERO, 1);
	if (sc->pages[1])
		sc->n = 2;
	sc->order = 1;
	sc->seg = PAGE_SIZE;
	if (sc->n != 2) {
		scattered_release(&(struct dma_buf){ .priv = sc });
		return -ENOMEM;
	}
	return test_buf_fd(sc, 2 * PAGE_SIZE, "vcsm-kapi-test-scattered");
}

/*
 * One page outside the simulated VPU's window: QEMU virt's RAM starts at 0x40000000 and the
 * vpu-sim overlay's dma-ranges cover its first GiB.
 */
#define VPU_WINDOW_END 0x80000000ULL

/*
 * Where the page allocator hands out low memory first (with the vpu-sim-virt-split overlay all
 * of RAM is one DMA zone), single pages may all come from below the window: then 2 MiB blocks
 * are taken until one lies above it, and the buffer is its first page.
 */
#define FAR_ORDER 9
#define FAR_TRIES 512

static struct page *far_page(unsigned int order, unsigned int tries)
{
	struct page **tried, *found = NULL;
	unsigned int i, n = 0;

	tried = kcalloc(tries, sizeof(*tried), GFP_KERNEL);
	if (!tried)
		return NULL;
	while (n < tries) {
		struct page *p = alloc_pages(GFP_HIGHUSER | __GFP_ZERO | __GFP_NOWARN | __GFP_NORETRY, order);

		if (!p)
			break;
		if (page_to_phys(p) >= VPU_WINDOW_END) {
			found = p;
			break;
		}
		tried[n++] = p;
	}
	for (i = 0; i < n; i++)
		__free_pages(tried[i], order);
	kfree(tried);
	return found;
}

/*
 * A one-block buffer above the window: one page (or, where single pages all come from below it,
 * the first page of a FAR_ORDER block), or with @frame a whole FAR_ORDER block (2 MiB).
 */
static int far_buf_fd(bool frame)
{
	struct scattered *sc;

	sc = kzalloc(sizeof(*sc), GFP_KERNEL);
	if (!sc)
		return -ENOMEM;
	if (!frame)
		sc->pages[0] = far_page(0, 64);
	if (!sc->pages[0]) {
		sc->order = FAR_ORDER;
		sc->pages[0] = far_page(FAR_ORDER, FAR_TRIES);
	}
	if (!sc->pages[0]) {
		kfree(sc);
		return -ENOMEM;
	}
	sc->n = 1;
	sc->seg = frame ? PAGE_SIZE << FAR_ORDER : PAGE_SIZE;
	return test_buf_fd(sc, sc->seg, frame ? "vcsm-kapi-test-far-frame" : "vcsm-kapi-test-far");
}

static ssize_t scattered_read(struct file *file, char __user *ubuf, size_t len, loff_t *ppos)
{
	char text[32];
	int fd;

	if (*ppos)
		return 0;
	switch ((uintptr_t)file->f_inode->i_private) {
	case 2:
		fd = far_buf_fd(true);
		break;
	case 1:
		fd = far_buf_fd(false);
		break;
	default:
		fd = scattered_fd();
	}
	if (fd < 0)
		return fd;
	snprintf(text, sizeof(text), "fd %d\n", fd);
	return simple_read_from_buffer(ubuf, len, ppos, text, strlen(text));
}

static const struct file_operations scattered_fops = {
	.owner = THIS_MODULE,
	.read = scattered_read,
	.llseek = default_llseek,
};

static int __init kapi_init(void)
{
	kapi_pdev = platform_device_register_simple("vcsm-kapi-test", PLATFORM_DEVID_NONE, NULL, 0);
	if (IS_ERR(kapi_pdev))
		return PTR_ERR(kapi_pdev);
	kapi_dir = debugfs_create_dir("vcsm-kapi-test", NULL);
	debugfs_create_file("run", 0600, kapi_dir, kapi_result, &kapi_fops);
	debugfs_create_file("nest", 0600, kapi_dir, nest_result, &nest_fops);
	debugfs_create_file("port", 0600, kapi_dir, NULL, &port_fops);
	debugfs_create_file("scattered", 0400, kapi_dir, NULL, &scattered_fops);
	debugfs_create_file("far", 0400, kapi_dir, (void *)1, &scattered_fops);
	debugfs_create_file("far-frame", 0400, kapi_dir, (void *)2, &scattered_fops);
	return 0;
}

static void __exit kapi_exit(void)
{
	debugfs_remove(kapi_dir);
	platform_device_unregister(kapi_pdev);
}

module_init(kapi_init);
module_exit(kapi_exit);
MODULE_DESCRIPTION("Test consumer of the vc-sm-cma kernel API");
MODULE_LICENSE("GPL");
