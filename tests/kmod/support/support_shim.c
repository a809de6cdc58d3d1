// SPDX-License-Identifier: GPL-2.0
/*
 * Debugfs control files for the test-only modules (see support_shim.h). Included by one
 * small C file per module.
 */
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>

#include "support_shim.h"

/* Longest accepted write; commands are a few words. */
#define VT_MAX_WRITE 256

static int vt_show(struct seq_file *m, void *v)
{
	return vt_debugfs_rust_show(m->private, m);
}

static int vt_open(struct inode *inode, struct file *file)
{
	return single_open(file, vt_show, inode->i_private);
}

static ssize_t vt_write(struct file *file, const char __user *ubuf, size_t count, loff_t *ppos)
{
	struct seq_file *m = file->private_data;
	char *buf;
	int ret;

	if (count > VT_MAX_WRITE) {
		pr_err("%s: %pD: write of %zu bytes, at most %d accepted\n",
		       KBUILD_MODNAME, file, count, VT_MAX_WRITE);
		return -EINVAL;
	}
	buf = memdup_user_nul(ubuf, count);
	if (IS_ERR(buf))
		return PTR_ERR(buf);
	ret = vt_debugfs_rust_store(m->private, buf, count);
	kfree(buf);
	return ret ? ret : count;
}

static const struct file_operations vt_fops = {
	.owner = THIS_MODULE,
	.open = vt_open,
	.read = seq_read,
	.write = vt_write,
	.llseek = seq_lseek,
	.release = single_release,
};

struct dentry *vt_debugfs_dir(const char *name)
{
	return debugfs_create_dir(name, NULL);
}

int vt_debugfs_file(struct dentry *dir, const char *name, umode_t mode, void *data)
{
	struct dentry *d = debugfs_create_file(name, mode, dir, data, &vt_fops);

	return IS_ERR(d) ? PTR_ERR(d) : 0;
}

void vt_debugfs_remove(struct dentry *dir)
{
	debugfs_remove(dir);
}

int vt_seq_put(struct seq_file *m, const void *buf, size_t len)
{
	return seq_write(m, buf, len);
}
