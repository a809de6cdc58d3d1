// SPDX-License-Identifier: GPL-2.0

//! Module-local abstractions over C APIs that the 6.12 `kernel` crate lacks.
//!
//! Each driver crate includes this directory with `#[path = "../kernel-ext/mod.rs"] mod kext;`
//! (6.12 gives every module exactly one crate and no way to share another). Raw declarations
//! live in [`bindings`] and are used only here; the drivers see the safe types below.

pub(crate) mod bindings;
pub(crate) mod compat;
pub(crate) mod debugfs;
pub(crate) mod device;
pub(crate) mod dma;
pub(crate) mod dma_buf;
pub(crate) mod dma_buf_import;
pub(crate) mod dma_heap;
pub(crate) mod fd;
pub(crate) mod miscdev;
pub(crate) mod module_ref;
pub(crate) mod ratelimit;
pub(crate) mod revocable;
pub(crate) mod shrinker;
pub(crate) mod workqueue;
