// SPDX-License-Identifier: GPL-2.0

//! The kernel-ext files the heap module uses, one include each, so that the others are not
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
#[path = "../kernel-ext/dma_heap.rs"]
pub(crate) mod dma_heap;
#[path = "../kernel-ext/miscdev.rs"]
pub(crate) mod miscdev;
#[path = "../kernel-ext/ratelimit.rs"]
pub(crate) mod ratelimit;
#[path = "../kernel-ext/shrinker.rs"]
pub(crate) mod shrinker;
#[path = "../kernel-ext/workqueue.rs"]
pub(crate) mod workqueue;
