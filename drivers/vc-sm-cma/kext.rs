// SPDX-License-Identifier: GPL-2.0

//! The kernel-ext files vc-sm-cma uses, one include each, so that the others are not
//! compiled into it (nor their symbol namespaces imported). `drivers/kernel-ext/README.md`
//! describes them all.

#[path = "../kernel-ext/bindings.rs"]
pub(crate) mod bindings;
#[path = "../kernel-ext/compat.rs"]
pub(crate) mod compat;
#[path = "../kernel-ext/debugfs.rs"]
pub(crate) mod debugfs;
#[path = "../kernel-ext/device.rs"]
pub(crate) mod device;
#[path = "../kernel-ext/dma.rs"]
pub(crate) mod dma;
#[path = "../kernel-ext/dma_buf.rs"]
pub(crate) mod dma_buf;
#[path = "../kernel-ext/dma_buf_import.rs"]
pub(crate) mod dma_buf_import;
#[path = "../kernel-ext/fd.rs"]
pub(crate) mod fd;
#[path = "../kernel-ext/miscdev.rs"]
pub(crate) mod miscdev;
#[path = "../kernel-ext/module_ref.rs"]
pub(crate) mod module_ref;
#[path = "../kernel-ext/ratelimit.rs"]
pub(crate) mod ratelimit;
#[path = "../kernel-ext/revocable.rs"]
pub(crate) mod revocable;
#[path = "../kernel-ext/workqueue.rs"]
pub(crate) mod workqueue;
