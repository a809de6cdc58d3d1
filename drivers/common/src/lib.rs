// SPDX-License-Identifier: GPL-2.0

//! Protocol definitions shared by the `vc-sm-cma` driver and the simulated VPU.
//!
//! The kernel modules include [`smem`] directly with
//! `#[path = "../common/src/smem.rs"] mod smem;`; this crate exists so the same file can be
//! unit-tested on the host with `cargo test`.

#![cfg_attr(not(test), no_std)]

pub mod smem;

#[cfg(test)]
mod tests;
