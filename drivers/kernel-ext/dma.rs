// SPDX-License-Identifier: GPL-2.0

//! DMA mapping: physically contiguous allocations from a device's CMA area, and scatter-gather
//! tables describing them.

use super::{bindings as ext, device::raw};
use crate::kext::compat::{self, ARef};
use core::{
    ptr::NonNull,
    sync::atomic::{AtomicBool, Ordering},
};
use kernel::{bindings, device::Device, error::to_result, prelude::*};

/// Direction of a DMA transfer, `enum dma_data_direction`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DataDirection {
    /// Both ways.
    Bidirectional,
    /// Memory to device.
    ToDevice,
    /// Device to memory.
    FromDevice,
}

impl DataDirection {
    /// Converts the C value; `DMA_NONE` and unknown values are rejected.
    pub(crate) fn from_raw(dir: bindings::dma_data_direction) -> Result<Self> {
        match dir {
            compat::DMA_BIDIRECTIONAL => Ok(Self::Bidirectional),
            compat::DMA_TO_DEVICE => Ok(Self::ToDevice),
            compat::DMA_FROM_DEVICE => Ok(Self::FromDevice),
            _ => Err(EINVAL),
        }
    }

    /// The C value.
    pub(crate) fn as_raw(self) -> bindings::dma_data_direction {
        match self {
            Self::Bidirectional => compat::DMA_BIDIRECTIONAL,
            Self::ToDevice => compat::DMA_TO_DEVICE,
            Self::FromDevice => compat::DMA_FROM_DEVICE,
        }
    }
}

/// `DMA_ATTR_SKIP_CPU_SYNC`: the memory needs no CPU cache maintenance (write-combined).
///
/// bindgen cannot evaluate the C macro; `kext_shim.c` asserts the value at build time.
pub(crate) const ATTR_SKIP_CPU_SYNC: u64 = 1 << 5;

/// Sets the streaming and coherent DMA masks of `dev` to `bits` bits.
pub(crate) fn set_mask_and_coherent(dev: &Device, bits: u32) -> Result {
    // SAFETY: `raw(dev)` is a valid device for the duration of the call.
    to_result(unsafe { ext::kext_dma_set_mask_and_coherent(raw(dev).cast(), bits) })
}

/// Sets the largest DMA segment `dev` takes to `size` bytes. A device that comes without DMA
/// parameters gets the module's own (one device per module) until [`release_params`].
pub(crate) fn set_max_seg_size(dev: &Device, size: u32) {
    // SAFETY: `raw(dev)` is a valid device for the duration of the call.
    unsafe { ext::kext_dma_set_max_seg_size(raw(dev).cast(), size) }
}

/// Makes the system CMA pool (the reusable `/reserved-memory` node with `linux,cma-default`:
/// `cma: linux,cma` on every Raspberry Pi tree) the CMA area of `dev` if it has none, so that
/// single pages come from it too, not from the page allocator. Returns the pool's base and
/// size; `ENODEV` if there is no such pool (none in the device tree, or `cma=` on the command
/// line replaced it) or `dev` already has another area. Undone by [`release_params`].
pub(crate) fn adopt_default_cma(dev: &Device) -> Result<(u64, u64)> {
    let (mut base, mut size) = (0u64, 0u64);
    // SAFETY: `raw(dev)` is a valid device for the duration of the call; the outputs are valid
    // for writes.
    to_result(unsafe { ext::kext_cma_adopt_default(raw(dev).cast(), &mut base, &mut size) })?;
    Ok((base, size))
}

/// Undoes [`set_max_seg_size`]'s DMA parameters and [`adopt_default_cma`]'s CMA area, where
/// they are still the ones this module gave `dev`.
pub(crate) fn release_params(dev: &Device) {
    // SAFETY: `raw(dev)` is a valid device for the duration of the call.
    unsafe { ext::kext_dma_params_release(raw(dev).cast()) }
}

/// A physically contiguous, zeroed allocation from the DMA (CMA) area of a device.
///
/// The pages are zeroed through the kernel's cacheable linear map, so right after allocation
/// the zeroes may sit dirty in the CPU caches. What happens to those lines depends on how the
/// allocation was made:
///
/// - [`ContigPages::alloc`]: they are cleaned to memory before `alloc` returns, so a CPU
///   mapping that bypasses the cache, or a device told the DMA address, sees zeroes at once.
/// - [`ContigPages::alloc_clean_on_map`]: they are cleaned by the first
///   [`ContigPages::prepare_uncached_access`], which write-combined [`ContigPages::mmap`] and
///   [`ContigPages::vmap`] call themselves and which the owner calls before it hands the
///   memory to a device with `DMA_ATTR_SKIP_CPU_SYNC`. An allocation that is never mapped
///   never pays for the clean.
/// - [`ContigPages::alloc_cached`]: they stay where they are. Only for memory the CPU maps
///   cached and devices reach through streaming mappings (whose maintenance writes them back);
///   write-combined mappings are refused.
///
/// # Invariants
///
/// `page` is the first of `size / PAGE_SIZE` contiguous pages allocated with
/// `dma_alloc_pages(dev, size, ..)`, whose DMA address is `dma_addr`; they are freed on drop.
/// If `cached` is false and `dirty` reads false (with acquire ordering), no line of the pages
/// has been dirty in the CPU caches since allocation.
pub(crate) struct ContigPages {
    dev: ARef<Device>,
    page: NonNull<bindings::page>,
    dma_addr: bindings::dma_addr_t,
    size: usize,
    cached: bool,
    dirty: AtomicBool,
}

// SAFETY: The allocation is not tied to the allocating thread; `dma_free_pages` may be called
// from any thread in process context.
unsafe impl Send for ContigPages {}
// SAFETY: Shared references read the immutable fields and use `dirty` atomically; the clean it
// guards may run on any thread, and running it twice is harmless.
unsafe impl Sync for ContigPages {}

impl ContigPages {
    /// Allocates `size` bytes (a multiple of the page size) for `dev`, zeroed and cleaned to
    /// memory, for CPU mappings that bypass the cache and for devices that skip CPU syncs.
    ///
    /// Returns `ENOMEM` when the device's DMA area has no free range of that size.
    pub(crate) fn alloc(dev: &ARef<Device>, size: usize) -> Result<Self> {
        let pages = Self::alloc_inner(dev, size, false)?;
        pages.prepare_uncached_access();
        Ok(pages)
    }

    /// Like [`ContigPages::alloc`], but the clean of the zeroes to memory waits for the first
    /// [`ContigPages::prepare_uncached_access`].
    ///
    /// Cleaning is a pass over every cache line of the allocation (on the test bed about
    /// 1.2 ms for 8 MiB, a quarter of the allocation). Done on first use, it lands where a
    /// cached buffer pays for its own maintenance (on the device mapping), and only once.
    /// The DMA address must not reach a device before `prepare_uncached_access` returned.
    pub(crate) fn alloc_clean_on_map(dev: &ARef<Device>, size: usize) -> Result<Self> {
        Self::alloc_inner(dev, size, false)
    }

    /// Like [`ContigPages::alloc`], but the zeroes are never cleaned to memory: for memory
    /// that the CPU maps only cached and that devices reach only through streaming mappings
    /// without `DMA_ATTR_SKIP_CPU_SYNC`, whose mapping writes dirty lines back anyway.
    ///
    /// Such pages refuse write-combined [`ContigPages::mmap`] and [`ContigPages::vmap`].
    pub(crate) fn alloc_cached(dev: &ARef<Device>, size: usize) -> Result<Self> {
        Self::alloc_inner(dev, size, true)
    }

    fn alloc_inner(dev: &ARef<Device>, size: usize, cached: bool) -> Result<Self> {
        if size == 0 || size % bindings::PAGE_SIZE != 0 {
            return Err(EINVAL);
        }
        let mut dma_addr: bindings::dma_addr_t = 0;
        // `__GFP_NOWARN`: a failure is an ordinary result here (exhausted region, oversized
        // request) and is reported to the caller, not as an allocation-failure splat.
        let gfp = bindings::GFP_KERNEL | bindings::__GFP_NOWARN;
        // SAFETY: `dev` is a valid device; `dma_addr` is a valid location for the result.
        let page = unsafe {
            ext::dma_alloc_pages(
                raw(dev).cast(),
                size,
                &mut dma_addr,
                compat::DMA_BIDIRECTIONAL,
                gfp,
            )
        };
        let page = NonNull::new(page.cast::<bindings::page>()).ok_or(ENOMEM)?;
        // INVARIANT: `page`, `dma_addr` and `size` come from the successful allocation above;
        // `dma_alloc_pages` zeroed it through the cacheable linear map, so it is dirty.
        Ok(Self {
            dev: dev.clone(),
            page,
            dma_addr,
            size,
            cached,
            dirty: AtomicBool::new(true),
        })
    }

    /// Makes the memory safe for accesses that bypass the CPU caches (write-combined CPU
    /// mappings, devices mapped with `DMA_ATTR_SKIP_CPU_SYNC`): cleans the zeroes written at
    /// allocation to memory, once. Does nothing for [`ContigPages::alloc_cached`] memory.
    ///
    /// Concurrent callers may both clean, which is harmless; none returns before a clean has
    /// completed. Returns true for exactly one call per allocation that needed the clean (the
    /// first to complete one), so callers can count cleaned allocations.
    pub(crate) fn prepare_uncached_access(&self) -> bool {
        if self.cached || !self.dirty.load(Ordering::Acquire) {
            return false;
        }
        // Clean the lines the zeroing dirtied, so that write-combined and device views read
        // zeroes, and so that no dirty line can later be written back over data a device or a
        // user mapping stored.
        // SAFETY: The range was allocated for `self.dev` with this DMA address and size.
        unsafe {
            ext::kext_dma_sync_single_for_device(
                raw(&self.dev).cast(),
                self.dma_addr,
                self.size,
                compat::DMA_BIDIRECTIONAL,
            )
        };
        // INVARIANT: The clean above has completed (the sync ends with a barrier).
        self.dirty.swap(false, Ordering::AcqRel)
    }

    /// Zeroes the pages again and cleans them to memory, for reuse by a new owner: afterwards
    /// they are as [`ContigPages::alloc`] returns them (zeroed, no dirty line over them), fit
    /// for write-combined mappings and for devices that skip CPU syncs, whatever the pages were
    /// allocated as and whatever their last owner wrote through cached mappings.
    ///
    /// Like [`Drop`], this must only be called once every mapping and device access of the
    /// pages has ended (`&mut self`: no other user of this value exists).
    pub(crate) fn scrub(&mut self) {
        // SAFETY: By the type invariant the range was allocated for `self.dev` with this page,
        // DMA address and size; the caller's exclusive ownership means nothing else uses it.
        unsafe {
            ext::kext_zero_and_clean_contig(
                raw(&self.dev).cast(),
                self.page.as_ptr().cast(),
                self.dma_addr,
                self.size,
            )
        };
        // INVARIANT: The zeroes were cleaned to the point of coherency above, and nothing has
        // written through a cached mapping since (exclusive ownership).
        self.cached = false;
        *self.dirty.get_mut() = false;
    }

    /// Makes pages that [`ContigPages::scrub`] (or [`ContigPages::alloc`]) left clean into
    /// pages of [`ContigPages::alloc_cached`]'s kind: mapped cached only from now on.
    pub(crate) fn set_cached(&mut self) {
        self.cached = true;
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// DMA address for the allocating device.
    pub(crate) fn dma_addr(&self) -> bindings::dma_addr_t {
        self.dma_addr
    }

    /// Physical address of the first byte.
    pub(crate) fn phys_addr(&self) -> u64 {
        // SAFETY: `self.page` is a valid page by the type invariant.
        unsafe { ext::kext_page_to_phys(self.page.as_ptr().cast()) }
    }

    /// Number of pages.
    pub(crate) fn page_count(&self) -> usize {
        self.size >> bindings::PAGE_SHIFT
    }

    /// A new scatter-gather table describing the whole allocation, for mapping by `dev`: in
    /// as few entries as the device's maximum DMA segment size allows.
    pub(crate) fn sg_table_for(&self, dev: &Device) -> Result<SgTable> {
        // SAFETY: `dev` is a valid device.
        let max_seg = unsafe { ext::kext_dma_max_seg_size(raw(dev).cast()) };
        // SAFETY: The pages are contiguous and `size` bytes long by the type invariant.
        unsafe { SgTable::new_contig(self.page, self.size, max_seg) }
    }

    /// Maps the allocation (honouring the mapping's page offset) into a user VMA.
    ///
    /// With `writecombine` the mapping bypasses the CPU caches.
    pub(crate) fn mmap(&self, vma: &mut Vma, writecombine: bool) -> Result {
        if writecombine {
            if self.cached {
                // The mapping would bypass dirty lines and see stale memory.
                return Err(EINVAL);
            }
            self.prepare_uncached_access();
            // SAFETY: `vma` is a valid VMA being set up by `mmap` (its invariant).
            unsafe { ext::kext_vma_set_writecombine(vma.as_raw().cast()) };
        }
        // SAFETY: `vma` is a valid VMA (its invariant); the pages belong to `self.dev` with size `self.size`.
        // `dma_mmap_pages` checks the VMA's offset and length against `self.size`.
        to_result(unsafe {
            ext::dma_mmap_pages(
                raw(&self.dev).cast(),
                vma.as_raw().cast(),
                self.size,
                self.page.as_ptr().cast(),
            )
        })
    }

    /// Maps the allocation into the kernel's address space. Undo with [`ContigPages::vunmap`].
    pub(crate) fn vmap(&self, writecombine: bool) -> Result<VmapAddr> {
        if writecombine {
            if self.cached {
                // The mapping would bypass dirty lines and see stale memory.
                return Err(EINVAL);
            }
            self.prepare_uncached_access();
        }
        // SAFETY: The pages are valid and contiguous by the type invariant.
        let vaddr = unsafe {
            ext::kext_vmap_contig(self.page.as_ptr().cast(), self.page_count(), writecombine)
        };
        NonNull::new(vaddr).map(VmapAddr).ok_or(ENOMEM)
    }

    /// Undoes [`ContigPages::vmap`]. An address that is not a kernel mapping of these pages is
    /// refused with a warning, not unmapped.
    pub(crate) fn vunmap(&self, vaddr: VmapAddr) {
        // SAFETY: Only compares: `vaddr` is looked up in the vmalloc space, nothing is read.
        let ours = unsafe { ext::kext_vmap_maps(vaddr.as_ptr(), self.page.as_ptr().cast()) };
        if !ours {
            crate::kext::ratelimit::pr_limited!(
                pr_warn,
                "refusing to unmap {:p}: not a kernel mapping of this buffer\n",
                vaddr.as_ptr()
            );
            return;
        }
        // SAFETY: `vaddr` is a vmalloc-space mapping of these pages, which only `vmap` makes,
        // and the caller gives it up.
        unsafe { ext::vunmap(vaddr.as_ptr()) };
    }
}

/// The address of a kernel mapping of a buffer (`vmap`), as the dma-buf core keeps it.
///
/// Only kernel-ext makes one: [`ContigPages::vmap`], an import's `vmap_locked`, and the
/// exporter callbacks from the address the dma-buf core gives back; the functions that undo a
/// mapping check that it is theirs. Dereferencing the address is up to the holder.
pub(crate) struct VmapAddr(NonNull<core::ffi::c_void>);

impl VmapAddr {
    /// Wraps an address the dma-buf core or a mapping function returned.
    pub(in crate::kext) fn from_raw(vaddr: NonNull<core::ffi::c_void>) -> Self {
        Self(vaddr)
    }

    /// The mapping's start.
    pub(crate) fn as_ptr(&self) -> *mut core::ffi::c_void {
        self.0.as_ptr()
    }
}

// SAFETY: An address; what it maps is not owned by it.
unsafe impl Send for VmapAddr {}

impl Drop for ContigPages {
    fn drop(&mut self) {
        // SAFETY: By the type invariant, the pages were allocated with these arguments and are
        // not used any more (the owner drops this only after all mappings are gone).
        unsafe {
            ext::dma_free_pages(
                raw(&self.dev).cast(),
                self.size,
                self.page.as_ptr().cast(),
                self.dma_addr,
                compat::DMA_BIDIRECTIONAL,
            )
        };
    }
}

/// A user VMA during `mmap`.
///
/// # Invariants
///
/// The VMA is valid and being set up by an `mmap` call for as long as `self` lives.
pub(crate) struct Vma(NonNull<bindings::vm_area_struct>);

impl Vma {
    /// Wraps the VMA of an `mmap` call.
    ///
    /// # Safety
    ///
    /// `ptr` is the VMA an `mmap` callback was given, and the `Vma` does not outlive the call.
    pub(crate) unsafe fn from_raw(ptr: NonNull<bindings::vm_area_struct>) -> Self {
        // INVARIANT: Guaranteed by the caller.
        Self(ptr)
    }

    /// The C VMA, valid during the `mmap` call.
    pub(crate) fn as_raw(&self) -> *mut bindings::vm_area_struct {
        self.0.as_ptr()
    }

    /// Offset into the object, in pages.
    pub(crate) fn pgoff(&self) -> usize {
        // SAFETY: The VMA is valid during the `mmap` call.
        unsafe { ext::kext_vma_pgoff(self.as_raw().cast()) as usize }
    }
}

/// A mapped `struct sg_table` as the dma-buf core holds it, from an exporter's `map` until its
/// `unmap`.
///
/// Only kernel-ext makes one: [`SgTable::map`], an attachment's `map_locked`, and the exporter
/// callback from the table the dma-buf core gives back.
pub(crate) struct MappedSgt(NonNull<bindings::sg_table>);

impl MappedSgt {
    /// Wraps a table the dma-buf core or a mapping function returned.
    pub(in crate::kext) fn from_raw(sgt: NonNull<bindings::sg_table>) -> Self {
        Self(sgt)
    }

    pub(in crate::kext) fn as_ptr(&self) -> *mut bindings::sg_table {
        self.0.as_ptr()
    }
}

/// An owned `struct sg_table` at a stable address (it is handed to the dma-buf core).
///
/// # Invariants
///
/// `table` was set up by `sg_alloc_table`; it is freed on drop. `mapped` records the device and
/// direction of a live `dma_map_sgtable`, which is undone before the table is freed.
pub(crate) struct SgTable {
    table: KBox<bindings::sg_table>,
    mapped: Option<(ARef<Device>, DataDirection, u64)>,
}

// SAFETY: The table is plain memory owned by this value; the DMA API may be called on it from
// any thread.
unsafe impl Send for SgTable {}
// SAFETY: Shared references only read the table.
unsafe impl Sync for SgTable {}

impl SgTable {
    /// A table covering `size` contiguous bytes from `page`, in entries of at most `max_seg`
    /// bytes.
    ///
    /// # Safety
    ///
    /// `page` starts `size` bytes of physically contiguous pages.
    unsafe fn new_contig(page: NonNull<bindings::page>, size: usize, max_seg: u32) -> Result<Self> {
        let mut table = KBox::new(bindings::sg_table::default(), GFP_KERNEL)?;
        // SAFETY: `table` is a valid, zeroed `sg_table`; `page` starts `size` contiguous bytes
        // (guaranteed by the caller).
        to_result(unsafe {
            ext::kext_sg_alloc_contig(
                core::ptr::from_mut::<bindings::sg_table>(&mut *table).cast(),
                page.as_ptr().cast(),
                size,
                max_seg,
            )
        })?;
        // INVARIANT: Set up by `sg_alloc_table` above, not mapped.
        Ok(Self {
            table,
            mapped: None,
        })
    }

    /// The C table, valid while `self` lives.
    pub(crate) fn as_raw(&self) -> *mut bindings::sg_table {
        core::ptr::from_ref::<bindings::sg_table>(&*self.table).cast_mut()
    }

    /// Maps the table for DMA by `dev`; returns it as the dma-buf core takes it.
    pub(crate) fn map(
        &mut self,
        dev: &ARef<Device>,
        dir: DataDirection,
        attrs: u64,
    ) -> Result<MappedSgt> {
        if self.mapped.is_some() {
            return Err(EBUSY);
        }
        // SAFETY: The table is valid and unmapped; `dev` is a valid device.
        to_result(unsafe {
            ext::dma_map_sgtable(
                raw(dev).cast(),
                self.as_raw().cast(),
                dir.as_raw(),
                attrs as usize,
            )
        })?;
        self.mapped = Some((dev.clone(), dir, attrs));
        NonNull::new(self.as_raw()).map(MappedSgt).ok_or(EINVAL)
    }

    /// Undoes [`SgTable::map`]; does nothing if the table is not mapped.
    pub(crate) fn unmap(&mut self) {
        if let Some((dev, dir, attrs)) = self.mapped.take() {
            // SAFETY: The table was mapped for `dev` with these arguments.
            unsafe {
                ext::kext_dma_unmap_sgtable(
                    raw(&dev).cast(),
                    self.as_raw().cast(),
                    dir.as_raw(),
                    attrs as usize,
                )
            };
        }
    }

    /// Hands the buffer to the CPU (cache invalidation for non-coherent devices).
    pub(crate) fn sync_for_cpu(&self, dir: DataDirection) {
        if let Some((dev, _, _)) = &self.mapped {
            // SAFETY: The table is mapped for `dev`.
            unsafe {
                ext::kext_dma_sync_sgtable_for_cpu(
                    raw(dev).cast(),
                    self.as_raw().cast(),
                    dir.as_raw(),
                )
            };
        }
    }

    /// Hands the buffer to the device (cache clean for non-coherent devices).
    pub(crate) fn sync_for_device(&self, dir: DataDirection) {
        if let Some((dev, _, _)) = &self.mapped {
            // SAFETY: The table is mapped for `dev`.
            unsafe {
                ext::kext_dma_sync_sgtable_for_device(
                    raw(dev).cast(),
                    self.as_raw().cast(),
                    dir.as_raw(),
                )
            };
        }
    }
}

impl Drop for SgTable {
    fn drop(&mut self) {
        self.unmap();
        // SAFETY: The table was set up by `sg_alloc_table` and is no longer mapped.
        unsafe { ext::sg_free_table(self.as_raw().cast()) };
    }
}
