// SPDX-License-Identifier: GPL-2.0

//! Whether the VPU can reach the heap's region, decided at probe.
//!
//! The heap has no VPU device to ask; it reads what the driver's DMA set-up is built from:
//! the `dma-ranges` of the VPU's bus in the device tree (`/soc` on a Pi; the simulator's node
//! on the test bed), cut to the firmware's ARM memory where there is a firmware (the rules are
//! in `vpu_window.rs`). A region that is not entirely inside that window is refused: the probe
//! fails with `EINVAL` and one line that names the region, the window and the overlay to use
//! instead. Without a VPU in the device tree (not a Pi, not the test bed) nothing is refused
//! and the heaps say so in debugfs (`vpu_window unknown reason=...`).

use crate::{
    rpi_firmware::Firmware,
    vpu_ranges::{self, DtError},
    vpu_window::{Window, WindowError},
};
use core::fmt;
use kernel::prelude::*;

/// What the probe found out.
pub(crate) enum Reach {
    /// The region is inside this window.
    Inside(Window),
    /// No window could be found (why): the region is not checked.
    Unknown(Unknown),
}

/// Why the window is unknown.
#[derive(Clone, Copy)]
pub(crate) enum Unknown {
    /// The device tree says nothing usable (no VPU, no dma-ranges, ...).
    Dt(DtError),
    /// The firmware's ARM memory does not overlap the dma-ranges.
    Window(WindowError),
}

impl Reach {
    /// Checks `[base, base + size)`, the region of reserved-memory node `name`. `Err(EINVAL)`
    /// (logged) if the VPU cannot reach all of it; `Err(EPROBE_DEFER)` while the device tree
    /// has a firmware whose driver is not bound yet.
    pub(crate) fn probe(name: &CStr, base: u64, size: u64) -> Result<Self> {
        let arm = match Firmware::find() {
            Ok(Some(fw)) => {
                let arm = crate::vpu_ranges::firmware_arm_memory(&fw);
                if arm.is_none() {
                    pr_warn!("the firmware did not tell its ARM memory: the VPU's window comes from the dma-ranges alone\n");
                }
                arm
            }
            Ok(None) => None,
            Err(e) if e == EPROBE_DEFER => return Err(e),
            Err(e) => {
                pr_warn!(
                    "the device tree has a firmware node, but the firmware cannot be asked ({:?}): the VPU's window comes from the dma-ranges alone\n",
                    e
                );
                None
            }
        };
        let dt = match vpu_ranges::device_tree_ranges() {
            Ok(dt) => dt,
            Err(e) => {
                pr_info!("cannot tell whether the VPU reaches the pool: {}\n", e);
                return Ok(Self::Unknown(Unknown::Dt(e)));
            }
        };
        let window = match Window::from_ranges(dt.ranges.as_slice(), arm) {
            Ok(w) => w,
            Err(e) => {
                pr_warn!(
                    "cannot tell whether the VPU reaches the pool: the dma-ranges of {} ({}) and the firmware disagree: {}\n",
                    dt.node(),
                    dt.vpu(),
                    e
                );
                return Ok(Self::Unknown(Unknown::Window(e)));
            }
        };
        if !window.contains_cpu(base, size) {
            pr_err!(
                "refusing pool {} at {:#x}..{:#x}: the VPU ({}, dma-ranges of {}) reaches only ARM {:#x}..{:#x} ({}); use the overlay for the board, vcsm-cma-heap-pi4 or vcsm-cma-heap-pi3, which keeps the pool inside it (Documentation/installing.rst), or vcsm-cma-heap-system\n",
                crate::kext::compat::cstr_display(name),
                base,
                base.saturating_add(size),
                dt.vpu(),
                dt.node(),
                window.cpu,
                window.cpu_end(),
                window.source.name()
            );
            return Err(EINVAL);
        }
        Ok(Self::Inside(window))
    }
}

/// The `vpu_window` line of the heap's debugfs `stats`.
impl fmt::Display for Reach {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inside(w) => write!(f, "{} reachable=yes", w),
            Self::Unknown(why) => {
                let reason = match why {
                    Unknown::Dt(DtError::NoVpu) => "no-vpu",
                    Unknown::Dt(DtError::NoRanges) => "no-dma-ranges",
                    Unknown::Dt(_) => "bad-dma-ranges",
                    Unknown::Window(WindowError::Disjoint) => "firmware-disjoint",
                    Unknown::Window(_) => "bad-dma-ranges",
                };
                write!(f, "unknown reason={} reachable=unknown", reason)
            }
        }
    }
}
crate::kext::compat::kext_impl_display!(Reach);
