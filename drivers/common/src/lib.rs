// SPDX-License-Identifier: GPL-2.0

//! Protocol definitions shared by the kernel modules of the suite: the SMEM protocol of the
//! `vc-sm-cma` driver and the simulated VPU ([`smem`]), and the Raspberry Pi firmware's
//! property interface ([`rpi_fw`]), and the VPU's window onto ARM memory ([`vpu_window`]).
//!
//! The kernel modules include these files directly, e.g.
//! `#[path = "../common/src/smem.rs"] mod smem;`; this crate exists so the same files can be
//! unit-tested on the host with `cargo test`.

#![cfg_attr(not(test), no_std)]

pub mod rpi_fw;
pub mod smem;
pub mod vpu_window;

#[cfg(test)]
mod rpi_fw_tests;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vpu_window_tests;
