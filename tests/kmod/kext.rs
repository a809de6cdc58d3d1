// SPDX-License-Identifier: GPL-2.0

//! The kernel-ext files the VCHIQ test client uses, one include each, so that the others are not
//! compiled into it (nor their symbol namespaces imported). `drivers/kernel-ext/README.md`
//! describes them all.

#[path = "../../drivers/kernel-ext/bindings.rs"]
pub(crate) mod bindings;
#[path = "../../drivers/kernel-ext/compat.rs"]
pub(crate) mod compat;
#[path = "../../drivers/kernel-ext/debugfs.rs"]
pub(crate) mod debugfs;
#[path = "../../drivers/kernel-ext/device.rs"]
pub(crate) mod device;
#[path = "../../drivers/kernel-ext/dma.rs"]
pub(crate) mod dma;
#[path = "../../drivers/kernel-ext/miscdev.rs"]
pub(crate) mod miscdev;
#[path = "../../drivers/kernel-ext/ratelimit.rs"]
pub(crate) mod ratelimit;
#[path = "../../drivers/kernel-ext/workqueue.rs"]
pub(crate) mod workqueue;
