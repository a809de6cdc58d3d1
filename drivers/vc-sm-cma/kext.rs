// SPDX-License-Identifier: GPL-2.0

//! The kernel-ext files vc-sm-cma uses, one include each, so that the others are not
//! compiled into it (nor their symbol namespaces imported). `drivers/kernel-ext/README.md`
//! describes them all.

/// The generated declarations (the kernel API's `struct dma_buf`, the ioctl arguments).
#[path = "../kernel-ext/bindings.rs"]
pub(crate) mod bindings;
/// `ARef`, `AsBytes`/`FromBytes`, `this_module()`, `cstr_bytes`, `user_ptr`.
#[path = "../kernel-ext/compat.rs"]
pub(crate) mod compat;
/// The read-only `state` file.
#[path = "../kernel-ext/debugfs.rs"]
pub(crate) mod debugfs;
/// The raw `struct device` for kernel-ext's C helpers.
#[path = "../kernel-ext/device.rs"]
pub(crate) mod device;
/// `ContigPages` (MEM_ALLOC and VPU memory), `SgTable`, `Vma`, `DataDirection`, the vchiq
/// device's DMA parameters and CMA area.
#[path = "../kernel-ext/dma.rs"]
pub(crate) mod dma;
/// The wrapper's export (`Exporter`), `DmaBuf` references.
#[path = "../kernel-ext/dma_buf.rs"]
pub(crate) mod dma_buf;
/// Imports: attach, map for the VPU, forward CPU access.
#[path = "../kernel-ext/dma_buf_import.rs"]
pub(crate) mod dma_buf_import;
/// Installing the wrapper's fd last.
#[path = "../kernel-ext/fd.rs"]
pub(crate) mod fd;
/// `/dev/vcsm-cma`.
#[path = "../kernel-ext/miscdev.rs"]
pub(crate) mod miscdev;
/// Each buffer pins the module.
#[path = "../kernel-ext/module_ref.rs"]
pub(crate) mod module_ref;
/// The module parameters (`params.rs`).
#[path = "../kernel-ext/param.rs"]
pub(crate) mod param;
/// `FromBytes`/`AsBytes` for the ioctl arguments, their layout checked.
#[path = "../kernel-ext/plain_data.rs"]
pub(crate) mod plain_data;
/// `pr_limited!` for every message userspace can trigger.
#[path = "../kernel-ext/ratelimit.rs"]
pub(crate) mod ratelimit;
/// The bound device, for the kernel API and the VCHIQ connected callback.
#[path = "../kernel-ext/rcu_arc.rs"]
pub(crate) mod rcu_arc;
/// The service handle and the requests teardown waits for.
#[path = "../kernel-ext/revocable.rs"]
pub(crate) mod revocable;
/// The caller's tgid (what it pins) and name (log lines).
#[path = "../kernel-ext/task.rs"]
pub(crate) mod task;
/// The receive and event workqueues.
#[path = "../kernel-ext/workqueue.rs"]
pub(crate) mod workqueue;
