// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the test-only modules (the simulated VPU and the VCHIQ test client):
//! read-write debugfs control files (on kernel-ext's debugfs) and the test data pattern.
//!
//! Included by each crate root with `#[path = "../kmod/support/mod.rs"] mod support;` (or
//! `"support/mod.rs"`).

pub(crate) mod debugfs;
pub(crate) mod pattern;
