// SPDX-License-Identifier: GPL-2.0

//! Where the VPU's window comes from, in a running kernel: the DMA range map of the device
//! the VPU's buffers are mapped for ([`device_ranges`]), the `dma-ranges` of the VPU's bus in
//! the device tree ([`device_tree_ranges`], for a module that has no such device, as the
//! heap), and the firmware's ARM memory ([`firmware_arm_memory`]). The window itself, and how
//! the three combine, is the shared `vpu_window` module (`drivers/common/src/vpu_window.rs`),
//! tested on the host.
//!
//! Not part of `kext` (`mod.rs`): a module that needs the window includes it next to the
//! shared module and the firmware bindings,
//!
//! ```ignore
//! #[path = "../common/src/vpu_window.rs"]
//! mod vpu_window;
//! #[path = "../kernel-ext/vpu_ranges.rs"]
//! mod vpu_ranges;
//! ```
//!
//! and links `kext_vpu_window.c` (its `*_kext.c` includes it next to `kext_shim.c`).

use crate::{
    kext::{bindings as ext, device},
    rpi_firmware::RpiFirmware,
    rpi_fw::GetArmMemory,
    vpu_window::{parse_dma_ranges, DmaRange, WindowError, MAX_RANGES},
};
use core::{ffi::c_int, fmt};
use kernel::{bindings, device::Device, prelude::*};

/// Entries of a DMA range map or a `dma-ranges` property (at most [`MAX_RANGES`]).
#[derive(Clone, Copy)]
pub(crate) struct Ranges {
    entries: [DmaRange; MAX_RANGES],
    len: usize,
}

impl Ranges {
    /// The entries.
    pub(crate) fn as_slice(&self) -> &[DmaRange] {
        self.entries.get(..self.len).unwrap_or(&[])
    }
}

/// The DMA range map of `dev`: the translation its DMA addresses go through. `None` when it
/// has none (its DMA addresses are ARM physical addresses: no `dma-ranges` above it).
pub(crate) fn device_ranges(dev: &Device) -> Result<Option<Ranges>> {
    let mut raw: [ext::kext_dma_range; MAX_RANGES] = Default::default();
    // SAFETY: `dev` is a live device for the duration of the call; `raw` has room for
    // `MAX_RANGES` entries, the most the C function writes.
    let n = unsafe {
        ext::kext_dev_dma_ranges(device::raw(dev), raw.as_mut_ptr(), MAX_RANGES as c_int)
    };
    let len = usize::try_from(n).map_err(|_| Error::from_errno(n))?;
    if len == 0 {
        return Ok(None);
    }
    let mut entries = [DmaRange::default(); MAX_RANGES];
    for (e, r) in entries.iter_mut().zip(raw.iter().take(len)) {
        *e = DmaRange {
            cpu: r.cpu,
            bus: r.bus,
            size: r.size,
        };
    }
    Ok(Some(Ranges { entries, len }))
}

/// A NUL-terminated C string in a fixed buffer, for display.
pub(crate) struct CBuf<'a>(&'a [u8]);

impl fmt::Display for CBuf<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let end = self.0.iter().position(|&b| b == 0).unwrap_or(self.0.len());
        let bytes = self.0.get(..end).unwrap_or(&[]);
        match core::str::from_utf8(bytes) {
            Ok(s) => f.write_str(s),
            Err(_) => f.write_str("?"),
        }
    }
}
crate::kext::compat::kext_impl_display!(CBuf<'_>);

/// The `dma-ranges` that apply to the VPU's devices, as the device tree has them.
pub(crate) struct DtRanges {
    /// The entries.
    pub(crate) ranges: Ranges,
    info: ext::kext_vpu_dt,
}

impl DtRanges {
    /// The full name of the node the ranges are from (`/soc` on a Pi).
    pub(crate) fn node(&self) -> CBuf<'_> {
        CBuf(&self.info.node)
    }

    /// The compatible of the VPU node found (`brcm,bcm2835-vchiq`, `vcsm,vpu-sim`, ...).
    pub(crate) fn vpu(&self) -> CBuf<'_> {
        CBuf(&self.info.vpu)
    }
}

/// Why [`device_tree_ranges`] found no ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DtError {
    /// No VPU node in the device tree (not a Raspberry Pi, nor the test bed).
    NoVpu,
    /// A VPU, but no (or an empty) `dma-ranges` between it and the root.
    NoRanges,
    /// The node with the `dma-ranges` has no `#address-cells` or `#size-cells`.
    NoCells,
    /// The property is not one this module reads.
    Parse(WindowError),
}

impl fmt::Display for DtError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoVpu => f.write_str("no VPU (vchiq or vpu-sim node) in the device tree"),
            Self::NoRanges => f.write_str("no dma-ranges between the VPU and the root"),
            Self::NoCells => f.write_str("the dma-ranges node lacks #address-cells or #size-cells"),
            Self::Parse(e) => write!(f, "unreadable dma-ranges: {}", e),
        }
    }
}
crate::kext::compat::kext_impl_display!(DtError);

/// The `dma-ranges` of the VPU's bus in the device tree: those of the VPU node itself or of
/// its nearest ancestor that has them.
pub(crate) fn device_tree_ranges() -> core::result::Result<DtRanges, DtError> {
    // Room for MAX_RANGES entries of the widest layout (2 + 2 + 2 cells).
    let mut buf = [0u8; MAX_RANGES * 24];
    let mut info = ext::kext_vpu_dt::default();
    // SAFETY: `buf` is valid for writes of `buf.len()` bytes and `info` for one
    // `struct kext_vpu_dt`; the C function keeps no pointer to either.
    let ret = unsafe { ext::kext_vpu_dt_ranges(buf.as_mut_ptr().cast(), buf.len(), &mut info) };
    match -ret {
        0 => {}
        e if e == bindings::ENODEV as c_int => return Err(DtError::NoVpu),
        e if e == bindings::ENOENT as c_int => return Err(DtError::NoRanges),
        e if e == bindings::E2BIG as c_int => return Err(DtError::Parse(WindowError::TooMany)),
        _ => return Err(DtError::NoCells),
    }
    let prop = buf.get(..info.len as usize).unwrap_or(&[]);
    let mut entries = [DmaRange::default(); MAX_RANGES];
    let len = parse_dma_ranges(
        prop,
        info.bus_cells,
        info.cpu_cells,
        info.size_cells,
        &mut entries,
    )
    .map_err(DtError::Parse)?;
    Ok(DtRanges {
        ranges: Ranges { entries, len },
        info,
    })
}

/// The firmware's ARM memory as `(base, size)`, or `None` when the firmware does not answer
/// (logged by the caller if it cares).
pub(crate) fn firmware_arm_memory(fw: &RpiFirmware) -> Option<(u64, u64)> {
    fw.property(&GetArmMemory)
        .ok()
        .map(|m| (u64::from(m.base), u64::from(m.size)))
}
