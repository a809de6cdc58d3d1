// SPDX-License-Identifier: GPL-2.0

//! The kernel-ext files the heap module uses, one include each, so that the others are not
//! compiled into it (nor their symbol namespaces imported). `drivers/kernel-ext/README.md`
//! describes them all.

/// The generated declarations (`struct dma_heap`, kernel-ext's C helpers).
#[path = "../kernel-ext/bindings.rs"]
pub(crate) mod bindings;
/// `ARef`, `this_module()`, `cstr_display`, `ktime_get_*`, `cursor_front_mut`.
#[path = "../kernel-ext/compat.rs"]
pub(crate) mod compat;
/// The read-only `stats` file.
#[path = "../kernel-ext/debugfs.rs"]
pub(crate) mod debugfs;
/// The raw `struct device` for kernel-ext's C helpers.
#[path = "../kernel-ext/device.rs"]
pub(crate) mod device;
/// `ContigPages` (the heaps' buffers, cached or not), per-attachment `SgTable`s, `Vma`.
#[path = "../kernel-ext/dma.rs"]
pub(crate) mod dma;
/// Each buffer's export (`Exporter`).
#[path = "../kernel-ext/dma_buf.rs"]
pub(crate) mod dma_buf;
/// The two heaps' registrations.
#[path = "../kernel-ext/dma_heap.rs"]
pub(crate) mod dma_heap;
/// `this_module!()` for the `stats` file's owner.
#[path = "../kernel-ext/miscdev.rs"]
pub(crate) mod miscdev;
/// The module parameters (`params` in `cma_heap.rs`).
#[path = "../kernel-ext/param.rs"]
pub(crate) mod param;
/// The platform driver of `cma_heap_shim.c`.
#[path = "../kernel-ext/platform.rs"]
pub(crate) mod platform;
/// `pr_limited!` and `current_killed`.
#[path = "../kernel-ext/ratelimit.rs"]
pub(crate) mod ratelimit;
/// The pool gives memory back under pressure.
#[path = "../kernel-ext/shrinker.rs"]
pub(crate) mod shrinker;
/// The pool's background zeroing and idle trim (`DelayedWork`).
#[path = "../kernel-ext/workqueue.rs"]
pub(crate) mod workqueue;
