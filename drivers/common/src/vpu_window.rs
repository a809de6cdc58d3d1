// SPDX-License-Identifier: GPL-2.0

//! The VPU's window: the part of ARM memory the VideoCore can address, and the bus address it
//! knows it by.
//!
//! # Where the window comes from
//!
//! - The device tree's `dma-ranges` on the VPU's bus (`/soc` on a Raspberry Pi, the
//!   simulator's own node on the QEMU `virt` test bed): each entry maps a range of VPU bus
//!   addresses onto ARM physical memory. The Pi trees have two: RAM (`<0xc0000000 0x0 ...>`,
//!   the VPU's uncached alias of the first 1 GiB, 0x3f000000 bytes on a Pi 3) and the
//!   peripherals (`<0x7e000000 0x3f000000 0x1000000>` on a Pi 3, `0xfc000000` on a Pi 4). The
//!   RAM entry is the one with the lowest ARM address: on every Pi RAM starts below the
//!   peripherals. In the driver the same ranges come from the vchiq device's DMA range map,
//!   which the kernel built from those `dma-ranges` and which every DMA address it is given
//!   comes through.
//! - The firmware's ARM memory (`GET_ARM_MEMORY`), where there is a firmware: the ARM memory
//!   below the VideoCore's own carve-out (`gpu_mem`), which is what the VPU may be handed. The
//!   window is the intersection of the two.
//!
//! [`parse_dma_ranges`] reads a `dma-ranges` property (big-endian cells, the node's own
//! `#address-cells` for the bus side, its parent's for the ARM side, its `#size-cells`);
//! [`Window::from_ranges`] picks the RAM entry and intersects it with the firmware's answer.
//! A node's `dma-ranges` is translated one level only: the Pi's `/soc` sits under the root,
//! whose addresses are physical.
//!
//! Nothing here allocates, panics or reads past its input. This file is shared: the
//! `vcsm-common` crate tests it on the host, and kernel modules include it with
//! `#[path = "../common/src/vpu_window.rs"] mod vpu_window;`. It therefore uses `core` only.

#![forbid(unsafe_code)]
#![deny(
    clippy::arithmetic_side_effects,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

use core::fmt;

/// The most `dma-ranges` entries [`parse_dma_ranges`] reads (a Pi tree has two).
pub const MAX_RANGES: usize = 8;

/// One `dma-ranges` entry: `size` bytes of VPU bus addresses from `bus`, which are ARM
/// physical memory from `cpu`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DmaRange {
    /// ARM physical start.
    pub cpu: u64,
    /// Bus (VPU) start.
    pub bus: u64,
    /// Length in bytes (not 0).
    pub size: u64,
}

/// Why a `dma-ranges` property or a window could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowError {
    /// A cell count outside 1..=2 for addresses or sizes (a window is 64-bit at most).
    Cells,
    /// The property's length is not a whole number of entries.
    Length,
    /// More than [`MAX_RANGES`] entries.
    TooMany,
    /// An entry of size 0, or one whose end does not fit in 64 bits.
    BadEntry,
    /// No entries (an empty `dma-ranges` means "1:1", which says nothing about a window).
    Empty,
    /// The firmware's ARM memory and the `dma-ranges` RAM entry do not overlap.
    Disjoint,
}

impl WindowError {
    /// A short description for log lines.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Cells => "unsupported #address-cells or #size-cells",
            Self::Length => "property length is not a whole number of entries",
            Self::TooMany => "too many entries",
            Self::BadEntry => "an entry is empty or wraps around",
            Self::Empty => "no entries",
            Self::Disjoint => "the firmware's ARM memory is outside the dma-ranges",
        }
    }
}

impl fmt::Display for WindowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

/// Reads `cells` big-endian 32-bit cells from the front of `data` as one number.
fn read_cells(data: &[u8], cells: usize) -> Option<(u64, &[u8])> {
    let n = cells.checked_mul(4)?;
    let (head, rest) = (data.get(..n)?, data.get(n..)?);
    let mut v: u64 = 0;
    for c in head.chunks_exact(4) {
        let w = u32::from_be_bytes([*c.first()?, *c.get(1)?, *c.get(2)?, *c.get(3)?]);
        v = v.checked_shl(32)? | u64::from(w);
    }
    Some((v, rest))
}

/// Parses a `dma-ranges` property into `out`; returns the number of entries.
///
/// `bus_cells` is the node's own `#address-cells`, `cpu_cells` its parent's, `size_cells` the
/// node's `#size-cells`; each must be 1 or 2.
pub fn parse_dma_ranges(
    prop: &[u8],
    bus_cells: u32,
    cpu_cells: u32,
    size_cells: u32,
    out: &mut [DmaRange; MAX_RANGES],
) -> Result<usize, WindowError> {
    let ok = |c: u32| (1..=2).contains(&c);
    if !ok(bus_cells) || !ok(cpu_cells) || !ok(size_cells) {
        return Err(WindowError::Cells);
    }
    // At most 6 cells of 4 bytes.
    let entry = bus_cells
        .checked_add(cpu_cells)
        .and_then(|c| c.checked_add(size_cells))
        .and_then(|c| c.checked_mul(4))
        .ok_or(WindowError::Cells)? as usize;
    if prop.len().checked_rem(entry) != Some(0) {
        return Err(WindowError::Length);
    }
    let n = prop.len().checked_div(entry).ok_or(WindowError::Length)?;
    if n == 0 {
        return Err(WindowError::Empty);
    }
    if n > MAX_RANGES {
        return Err(WindowError::TooMany);
    }
    let mut rest = prop;
    for slot in out.iter_mut().take(n) {
        let (bus, r) = read_cells(rest, bus_cells as usize).ok_or(WindowError::Length)?;
        let (cpu, r) = read_cells(r, cpu_cells as usize).ok_or(WindowError::Length)?;
        let (size, r) = read_cells(r, size_cells as usize).ok_or(WindowError::Length)?;
        rest = r;
        if size == 0 || bus.checked_add(size).is_none() || cpu.checked_add(size).is_none() {
            return Err(WindowError::BadEntry);
        }
        *slot = DmaRange { cpu, bus, size };
    }
    Ok(n)
}

/// Where a [`Window`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The `dma-ranges` alone (no firmware: QEMU `virt`).
    DmaRanges,
    /// The `dma-ranges` cut to the firmware's ARM memory.
    DmaRangesAndFirmware,
}

impl Source {
    /// The name shown in debugfs.
    pub fn name(self) -> &'static str {
        match self {
            Self::DmaRanges => "dma-ranges",
            Self::DmaRangesAndFirmware => "dma-ranges+firmware",
        }
    }
}

/// The ARM memory the VPU can be handed: `size` bytes from ARM physical `cpu`, which the VPU
/// addresses from `bus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// ARM physical start.
    pub cpu: u64,
    /// The VPU's (bus) address of `cpu`.
    pub bus: u64,
    /// Length in bytes (not 0).
    pub size: u64,
    /// Where it came from.
    pub source: Source,
}

/// Whether `[start, start + len)` lies within `[base, base + size)` (false on overflow).
fn within(start: u64, len: u64, base: u64, size: u64) -> bool {
    match (start.checked_add(len), base.checked_add(size)) {
        (Some(end), Some(limit)) => start >= base && end <= limit,
        _ => false,
    }
}

impl Window {
    /// The window of `ranges` (the entry with the lowest ARM address, RAM on every Pi), cut to
    /// the firmware's ARM memory `arm` (`(base, size)`) if there is one.
    pub fn from_ranges(ranges: &[DmaRange], arm: Option<(u64, u64)>) -> Result<Self, WindowError> {
        let ram = ranges
            .iter()
            .filter(|r| r.size != 0)
            .min_by_key(|r| r.cpu)
            .ok_or(WindowError::Empty)?;
        let ram_end = ram.cpu.checked_add(ram.size).ok_or(WindowError::BadEntry)?;
        let Some((base, size)) = arm else {
            return Ok(Self {
                cpu: ram.cpu,
                bus: ram.bus,
                size: ram.size,
                source: Source::DmaRanges,
            });
        };
        let arm_end = base.checked_add(size).ok_or(WindowError::BadEntry)?;
        let start = ram.cpu.max(base);
        let end = ram_end.min(arm_end);
        if start >= end {
            return Err(WindowError::Disjoint);
        }
        // `start >= ram.cpu` and `ram.bus + ram.size` fits (checked by the parser, or below).
        let off = start.checked_sub(ram.cpu).ok_or(WindowError::BadEntry)?;
        Ok(Self {
            cpu: start,
            bus: ram.bus.checked_add(off).ok_or(WindowError::BadEntry)?,
            size: end.checked_sub(start).ok_or(WindowError::BadEntry)?,
            source: Source::DmaRangesAndFirmware,
        })
    }

    /// Whether ARM physical `[start, start + len)` lies in the window.
    pub fn contains_cpu(&self, start: u64, len: u64) -> bool {
        within(start, len, self.cpu, self.size)
    }

    /// Whether bus addresses `[start, start + len)` lie in the window.
    pub fn contains_bus(&self, start: u64, len: u64) -> bool {
        within(start, len, self.bus, self.size)
    }

    /// The first ARM physical address past the window (saturating).
    pub fn cpu_end(&self) -> u64 {
        self.cpu.saturating_add(self.size)
    }

    /// The first bus address past the window (saturating).
    pub fn bus_end(&self) -> u64 {
        self.bus.saturating_add(self.size)
    }
}

/// `cpu_base=.. cpu_end=.. bus_base=.. size=.. source=..`, as debugfs shows a window.
impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cpu_base={:#x} cpu_end={:#x} bus_base={:#x} size={} source={}",
            self.cpu,
            self.cpu_end(),
            self.bus,
            self.size,
            self.source.name()
        )
    }
}
