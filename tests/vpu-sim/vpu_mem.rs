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
use crate::kext::compat::ARef;
use crate::support::pattern;
use core::{ffi::c_void, ptr::NonNull};
use kernel::{bindings, device::Device, prelude::*};

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
        pub(super) fn vpu_sim_check_host_pages(
            dev: *mut c_void,
            phys: u64,
            size: u64,
            offset: *mut u64,
        ) -> c_int;
    }
}

/// Why a host range is not memory the host allocated with the DMA API: the words for the
/// verdicts of `vpu_sim_check_host_pages()` (`VPU_SIM_PAGES_*` in `vpu_sim_shim.h`).
fn page_verdict(code: core::ffi::c_int) -> &'static str {
    match code {
        1 => "range not page aligned",
        2 => "range straddles the edge of a CMA area",
        3 => "not the start of a page-allocator block (outside CMA the DMA API allocates naturally aligned blocks)",
        4 => "page without a struct page",
        5 => "page is free in the page allocator",
        6 => "page is slab memory",
        7 => "page is part of a compound page (the DMA API never allocates those)",
        8 => "page is reserved (kernel image, firmware or no-map memory)",
        9 => "page is page cache or anonymous (user) memory",
        10 => "page is free (no reference)",
        11 => "page has a reference of its own: the range spans more than one allocation",
        _ => "unknown page verdict",
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

    fn dev_ptr(&self) -> *mut c_void {
        core::ptr::from_ref::<Device>(&*self.pdev)
            .cast_mut()
            .cast::<c_void>()
    }

    /// Checks that physical range `[phys, phys + size)` (page aligned System RAM) is memory a
    /// host driver allocated with the DMA API and still holds: its pages are neither free nor
    /// another allocator's, and referenced as CMA or the page allocator leave them. On failure,
    /// why, and the offset of the first bad page.
    pub(crate) fn check_host_pages(
        &self,
        phys: u64,
        size: u32,
    ) -> core::result::Result<(), (&'static str, u64)> {
        let mut offset = 0u64;
        // SAFETY: `dev_ptr()` is the live platform device (we hold a reference); `offset` is a
        // valid location. The callee only reads struct pages of System RAM and the device's
        // drvdata.
        let ret = unsafe {
            shim::vpu_sim_check_host_pages(self.dev_ptr(), phys, size.into(), &mut offset)
        };
        match ret {
            0 => Ok(()),
            code => Err((page_verdict(code), offset)),
        }
    }

    /// The physical address of bus range `[addr, addr + size)`, or why it is not usable.
    pub(crate) fn to_phys(&self, addr: u32, size: u32) -> core::result::Result<u64, &'static str> {
        let mut phys = 0u64;
        let dev = self.dev_ptr();
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
