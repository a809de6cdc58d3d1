// SPDX-License-Identifier: GPL-2.0

//! The VPU's window: the ARM memory the VideoCore may be handed, found at probe from the
//! vchiq device's DMA range map (built from the `dma-ranges` of its bus: `/soc` on a Pi, the
//! simulator's node on the test bed), cut to the firmware's ARM memory where there is a
//! firmware (`vpu_window.rs` has the rules).
//!
//! Every address the driver gives the VPU is checked against it: an import whose mapping
//! lies outside is refused with `EINVAL`, a MEM_ALLOC or VC_MEM_REQUEST whose pages do with
//! `ENOMEM` (both with a rate-limited line naming the addresses and the window), and the pool
//! allocations come from is checked once at probe. The window is the `vpu_window` line of
//! debugfs `vcsm-cma/state`.

use crate::{
    firmware::FirmwareInfo,
    kext::ratelimit::pr_limited,
    vpu_ranges,
    vpu_window::{Window, WindowError},
};
use core::fmt;
use kernel::{device::Device, prelude::*};

/// What the driver knows of the VPU's window.
pub(crate) enum VpuWindow {
    /// The window; every address is checked against it.
    Known(Window),
    /// The device has no DMA range map: its DMA addresses are ARM physical addresses and no
    /// window is known, so nothing is checked (not a Raspberry Pi tree).
    NoRangeMap,
    /// The range map or the firmware's answer made no window (why); nothing is checked.
    Unusable(WindowError),
}

impl VpuWindow {
    /// Finds the window of `dev` (the vchiq device) and logs it.
    pub(crate) fn probe(dev: &Device, firmware: &FirmwareInfo) -> Self {
        let arm = firmware.arm_memory();
        let w = match vpu_ranges::device_ranges(dev) {
            Ok(Some(r)) => match Window::from_ranges(r.as_slice(), arm) {
                Ok(w) => Self::Known(w),
                Err(e) => Self::Unusable(e),
            },
            Ok(None) => Self::NoRangeMap,
            Err(_) => Self::Unusable(WindowError::TooMany),
        };
        match &w {
            Self::Known(win) => pr_info!("the VPU's window: {}\n", win),
            _ => pr_warn!(
                "the VPU's window is unknown ({}): addresses given to the VPU are not checked\n",
                w
            ),
        }
        w
    }

    /// The window, if known.
    pub(crate) fn get(&self) -> Option<&Window> {
        match self {
            Self::Known(w) => Some(w),
            _ => None,
        }
    }

    /// Whether bus addresses `[dma, dma + len)` may be given to the VPU; logs (rate-limited)
    /// and returns false if not. `what` names the request in the line.
    pub(crate) fn allows(&self, what: &str, dma: u64, len: u64) -> bool {
        let Some(w) = self.get() else {
            return true;
        };
        if w.contains_bus(dma, len) {
            return true;
        }
        pr_limited!(
            pr_err,
            "{}: {} bytes at bus address {:#x} are outside the VPU's window (bus {:#x}..{:#x}, ARM {:#x}..{:#x}, from the {}): refused\n",
            what,
            len,
            dma,
            w.bus,
            w.bus_end(),
            w.cpu,
            w.cpu_end(),
            w.source.name()
        );
        false
    }

    /// Whether ARM physical `[base, base + size)` lies in the window (true when unknown).
    pub(crate) fn contains_cpu(&self, base: u64, size: u64) -> bool {
        // (Not `is_none_or`: newer than 6.12's minimum Rust; 7.3's clippy flags `map_or(true, ..)`.)
        match self.get() {
            Some(w) => w.contains_cpu(base, size),
            None => true,
        }
    }
}

/// `vpu_window ...` as debugfs shows it (the reason when unknown).
impl fmt::Display for VpuWindow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Known(w) => w.fmt(f),
            Self::NoRangeMap => f.write_str("unknown reason=no-dma-ranges"),
            Self::Unusable(WindowError::Disjoint) => {
                f.write_str("unknown reason=firmware-disjoint")
            }
            Self::Unusable(_) => f.write_str("unknown reason=bad-dma-ranges"),
        }
    }
}
crate::kext::compat::kext_impl_display!(VpuWindow);
