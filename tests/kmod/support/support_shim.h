/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the test-only modules (tests/vpu-sim, tests/kmod): debugfs control files
 * whose read and write are Rust functions. Each module links its own copy (its *_kext.c
 * includes support_shim.c), so nothing is exported.
 */
#ifndef VCSM_TEST_SUPPORT_SHIM_H
#define VCSM_TEST_SUPPORT_SHIM_H

#include <linux/types.h>

struct dentry;
struct seq_file;

/* Implemented in Rust (support/debugfs.rs): a control file's read and write, for @data. */
int vt_debugfs_rust_show(void *data, struct seq_file *m);
int vt_debugfs_rust_store(void *data, const char *buf, size_t len);

/* debugfs directory @name at the top level; an ERR_PTR on failure. */
struct dentry *vt_debugfs_dir(const char *name);
/* A control file in @dir: reads call vt_debugfs_rust_show, writes vt_debugfs_rust_store. */
int vt_debugfs_file(struct dentry *dir, const char *name, umode_t mode, void *data);
/* Removes @dir and its files; returns once no read or write of them is running. */
void vt_debugfs_remove(struct dentry *dir);
/* Appends @len bytes to a control file's output. */
int vt_seq_put(struct seq_file *m, const void *buf, size_t len);

#endif /* VCSM_TEST_SUPPORT_SHIM_H */
