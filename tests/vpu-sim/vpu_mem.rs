// SPDX-License-Identifier: GPL-2.0

//! Memory as the VPU sees it.
//!
//! Bus addresses go through the dma-ranges of the simulator's device-tree node: the same
//! translation that gives the "vcsm-cma" device its 0xC0000000 alias, copied at probe
//! (`vpu_sim_shim.c`) so that it stays fixed, like the VPU's hardware view, whatever later
//! happens to the vchiq device's DMA set-up. The simulated VPU DMA reads and writes a buffer
//! through a write-combined (non-cached) kernel mapping of its pages, like a device that does
//! not snoop the ARM caches.

use crate::kext::bindings as ext;
use crate::support::pattern;
use core::{ffi::c_void, ptr::NonNull};
use kernel::{bindings, device::Device, prelude::*, types::ARef};

/// The C side (`vpu_sim_shim.h`).
mod shim {
    use core::ffi::{c_int, c_void};

    extern "C" {
        pub(super) fn vpu_sim_bus_to_phys(
            dev: *mut c_void,
            bus: u64,
            size: u64,
            phys: *mut u64,
        ) -> c_int;
    }
}

/// The VPU's bus: translation through the simulator node's dma-ranges (kept by the C side of
/// the platform device).
pub(crate) struct Bus {
    pdev: ARef<Device>,
}

impl Bus {
    /// The bus of the simulator's platform device `pdev`.
    pub(crate) fn new(pdev: ARef<Device>) -> Self {
        Self { pdev }
    }

    /// The physical address of bus range `[addr, addr + size)`, or why it is not usable.
    pub(crate) fn to_phys(&self, addr: u32, size: u32) -> core::result::Result<u64, &'static str> {
        let mut phys = 0u64;
        let dev = (&*self.pdev as *const Device).cast_mut().cast::<c_void>();
        // SAFETY: `dev` is the live platform device (we hold a reference); `phys` is a valid
        // location. The callee only reads the device's DMA range map.
        let ret = unsafe { shim::vpu_sim_bus_to_phys(dev, addr.into(), size.into(), &mut phys) };
        match ret {
            0 => Ok(phys),
            r if r == -(bindings::ERANGE as i32) => Err("outside the VPU's dma-ranges"),
            r if r == -(bindings::EFAULT as i32) => Err("not System RAM"),
            _ => Err("empty or wrapping range"),
        }
    }
}

/// A buffer mapped for the simulated VPU DMA; unmapped on drop.
///
/// # Invariants
///
/// `vaddr` is a `vmap` of `len` bytes (whole pages) of System RAM.
pub(crate) struct Window {
    vaddr: NonNull<c_void>,
    len: usize,
}

impl Window {
    /// Maps bus range `[addr, addr + size)` (page aligned, checked when it was imported).
    pub(crate) fn map(bus: &Bus, addr: u32, size: u32) -> Result<Self> {
        let phys = bus.to_phys(addr, size).map_err(|why| {
            pr_err!("VPU DMA: bus range {:#010x}+{:#x}: {}\n", addr, size, why);
            EINVAL
        })?;
        let len = size as usize;
        if len % bindings::PAGE_SIZE != 0 || phys % bindings::PAGE_SIZE as u64 != 0 {
            pr_err!(
                "VPU DMA: bus range {:#010x}+{:#x} is not page aligned\n",
                addr,
                size
            );
            return Err(EINVAL);
        }
        let pfn = (phys >> bindings::PAGE_SHIFT) as usize;
        // SAFETY: `pfn` is System RAM (checked by `to_phys`), so it has a `struct page`.
        let page = unsafe { ext::kext_pfn_to_page(pfn) };
        // SAFETY: The `len / PAGE_SIZE` pages from `page` are contiguous System RAM.
        let vaddr = unsafe { ext::kext_vmap_contig(page, len / bindings::PAGE_SIZE, true) };
        // INVARIANT: A non-NULL result maps the whole range.
        Ok(Self {
            vaddr: NonNull::new(vaddr).ok_or(ENOMEM)?,
            len,
        })
    }

    /// The length in bytes.
    pub(crate) fn len(&self) -> u32 {
        self.len as u32
    }

    /// Writes the test pattern of `seed` over the whole buffer.
    pub(crate) fn fill(&self, seed: u32) {
        // SAFETY: The mapping covers `len` bytes and is page (so word) aligned.
        unsafe { pattern::fill(self.vaddr.as_ptr().cast(), self.len, seed) };
    }

    /// The checksum of the whole buffer.
    pub(crate) fn checksum(&self) -> u32 {
        // SAFETY: The mapping covers `len` bytes.
        unsafe { pattern::checksum(self.vaddr.as_ptr().cast(), self.len) }
    }
}

impl Drop for Window {
    fn drop(&mut self) {
        // SAFETY: `vaddr` came from `vmap` and is not used after this.
        unsafe { ext::vunmap(self.vaddr.as_ptr()) };
    }
}
