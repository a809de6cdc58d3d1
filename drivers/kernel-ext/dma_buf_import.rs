// SPDX-License-Identifier: GPL-2.0

//! dma-buf importing: taking references to buffers other drivers exported, attaching devices to
//! them, mapping them for DMA, and forwarding CPU access to them through the dma-buf core.
//!
//! [`DmaBuf`] (from `dma_buf.rs`) is the counted reference; this file adds the importer's
//! operations on it ([`Import`]) and the attachment types.

use super::{
    bindings as ext,
    device::raw,
    dma::{DataDirection, MappedSgt, Vma, VmapAddr},
    dma_buf::{self, DmaBuf, ResvLocked},
    ratelimit::pr_limited,
};
use crate::kext::compat::ARef;
use core::ptr::NonNull;
use kernel::{
    bindings,
    device::Device,
    error::{from_err_ptr, to_result},
    prelude::*,
    str::CStr,
};

/// Takes a reference to the dma-buf behind file descriptor `fd` of the current process
/// (`dma_buf_get`).
///
/// Fails with `EBADF` if `fd` is not an open file and `EINVAL` if it is not a dma-buf.
pub(crate) fn get(fd: i32) -> Result<ARef<DmaBuf>> {
    // SAFETY: `dma_buf_get` accepts any value and returns a new reference or an `ERR_PTR`.
    let ptr = from_err_ptr(unsafe { ext::dma_buf_get(fd) })?;
    let ptr = NonNull::new(ptr).ok_or(EBADF)?;
    // SAFETY: A successful `dma_buf_get` gives us one reference.
    Ok(unsafe { dma_buf::from_owned_raw(ptr) })
}

/// The importer's operations on a dma-buf, through the dma-buf core.
pub(crate) trait Import {
    /// The exporter's name (`exp_name`), as shown in `/sys/kernel/debug/dma_buf/bufinfo`.
    fn exp_name(&self) -> &CStr;

    /// Prepares the buffer for CPU access (`dma_buf_begin_cpu_access`).
    fn begin_cpu_access(&self, dir: DataDirection) -> Result;

    /// Ends CPU access (`dma_buf_end_cpu_access`).
    fn end_cpu_access(&self, dir: DataDirection) -> Result;

    /// Sets up a user mapping of the buffer starting `pgoff` pages into it (`dma_buf_mmap`).
    ///
    /// The VMA then refers to this buffer's file instead of the one being mapped.
    fn mmap(&self, vma: &mut Vma, pgoff: usize) -> Result;

    /// Maps the buffer into the kernel (`dma_buf_vmap`, the locked variant), with the lock
    /// `held` for an exporter's callback; fails with `EINVAL` unless that is this buffer's lock.
    ///
    /// Only system-memory mappings are returned; an I/O-memory one is undone and refused
    /// (`EOPNOTSUPP`).
    fn vmap_locked(&self, held: &ResvLocked<'_>) -> Result<VmapAddr>;

    /// Undoes [`Import::vmap_locked`] (`dma_buf_vunmap`, the locked variant). Refused with a
    /// warning unless `held` is this buffer's lock and `vaddr` its current kernel mapping.
    fn vunmap_locked(&self, held: &ResvLocked<'_>, vaddr: VmapAddr);
}

impl Import for DmaBuf {
    fn exp_name(&self) -> &CStr {
        // SAFETY: The buffer is live; `exp_name` is a NUL-terminated string the exporter keeps
        // for the buffer's whole life, or NULL.
        unsafe {
            let name = (*self.as_raw()).exp_name;
            if name.is_null() {
                kernel::c_str!("?")
            } else {
                CStr::from_char_ptr(name)
            }
        }
    }

    fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        // SAFETY: The buffer is live.
        to_result(unsafe { ext::dma_buf_begin_cpu_access(self.as_raw(), dir.as_raw()) })
    }

    fn end_cpu_access(&self, dir: DataDirection) -> Result {
        // SAFETY: The buffer is live.
        to_result(unsafe { ext::dma_buf_end_cpu_access(self.as_raw(), dir.as_raw()) })
    }

    fn mmap(&self, vma: &mut Vma, pgoff: usize) -> Result {
        // SAFETY: The buffer is live and `vma` is a VMA being set up by `mmap`. `dma_buf_mmap`
        // checks `pgoff` and the length against the buffer's size and takes a reference to
        // the buffer's file for the VMA.
        to_result(unsafe { ext::dma_buf_mmap(self.as_raw(), vma.as_raw().cast(), pgoff) })
    }

    fn vmap_locked(&self, held: &ResvLocked<'_>) -> Result<VmapAddr> {
        if !held.covers(self) {
            pr_limited!(
                pr_err,
                "dma_buf_vmap without the buffer's reservation lock\n"
            );
            return Err(EINVAL);
        }
        let mut map = ext::iosys_map::default();
        // SAFETY: The buffer is live and its reservation lock is held (checked above); `map` is
        // valid for writes.
        to_result(unsafe { ext::dma_buf_vmap(self.as_raw(), &mut map) })?;
        if map.is_iomem {
            // SAFETY: Undoes the mapping just made, under the same lock.
            unsafe { ext::dma_buf_vunmap(self.as_raw(), &mut map) };
            return Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)));
        }
        // SAFETY: `is_iomem` is clear, so the system-memory member is the valid one.
        let vaddr = unsafe { map.__bindgen_anon_1.vaddr };
        NonNull::new(vaddr).map(VmapAddr::from_raw).ok_or(ENOMEM)
    }

    fn vunmap_locked(&self, held: &ResvLocked<'_>, vaddr: VmapAddr) {
        // SAFETY: The buffer is live; its mapping record is read under its reservation lock
        // (checked first), which `dma_buf_vmap` and `dma_buf_vunmap` change it under.
        let current = held.covers(self)
            && unsafe {
                let cur = &(*self.as_raw()).vmap_ptr;
                (*self.as_raw()).vmapping_counter > 0
                    && !cur.is_iomem
                    && cur.__bindgen_anon_1.vaddr == vaddr.as_ptr()
            };
        if !current {
            pr_limited!(
                pr_warn,
                "refusing dma_buf_vunmap of {:p}: not the buffer's kernel mapping, or its lock is not held\n",
                vaddr.as_ptr()
            );
            return;
        }
        let mut map = ext::iosys_map::default();
        map.__bindgen_anon_1.vaddr = vaddr.as_ptr();
        map.is_iomem = false;
        // SAFETY: The lock is held and `map` equals the buffer's current mapping (checked
        // above).
        unsafe { ext::dma_buf_vunmap(self.as_raw(), &mut map) };
    }
}

/// A device's attachment to a dma-buf (`dma_buf_attach`); detached on drop.
///
/// The attachment holds a reference of its own to the buffer, so the buffer outlives it.
///
/// # Invariants
///
/// `att` was returned by `dma_buf_attach(buf, dev)` and is not detached yet.
pub(crate) struct Attachment {
    buf: ARef<DmaBuf>,
    dev: ARef<Device>,
    att: NonNull<ext::dma_buf_attachment>,
}

// SAFETY: The dma-buf API may be used on an attachment from any thread.
unsafe impl Send for Attachment {}
// SAFETY: Shared references only call thread-safe dma-buf core functions.
unsafe impl Sync for Attachment {}

impl Attachment {
    /// Attaches `dev` to `buf`.
    pub(crate) fn new(buf: &DmaBuf, dev: &Device) -> Result<Self> {
        let buf: ARef<DmaBuf> = buf.into();
        // SAFETY: `buf` and `dev` are valid; the result is an attachment or an `ERR_PTR`.
        let att = from_err_ptr(unsafe { ext::dma_buf_attach(buf.as_raw(), raw(dev).cast()) })?;
        // INVARIANT: A successful `dma_buf_attach`.
        Ok(Self {
            buf,
            dev: dev.into(),
            att: NonNull::new(att).ok_or(ENOMEM)?,
        })
    }

    /// Maps the buffer for the device (`dma_buf_map_attachment`, the locked variant), with the
    /// lock `held` for an exporter's callback; fails with `EINVAL` unless that is the
    /// buffer's lock.
    pub(crate) fn map_locked(
        &self,
        held: &ResvLocked<'_>,
        dir: DataDirection,
    ) -> Result<MappedSgt> {
        if !held.covers(&self.buf) {
            pr_limited!(
                pr_err,
                "dma_buf_map_attachment without the buffer's reservation lock\n"
            );
            return Err(EINVAL);
        }
        // SAFETY: The attachment is live; its buffer's reservation lock is held (checked).
        let sgt =
            from_err_ptr(unsafe { ext::dma_buf_map_attachment(self.att.as_ptr(), dir.as_raw()) })?;
        NonNull::new(sgt.cast())
            .map(MappedSgt::from_raw)
            .ok_or(ENOMEM)
    }

    /// Undoes [`Attachment::map_locked`] (`dma_buf_unmap_attachment`) with the lock `held`.
    ///
    /// # Safety
    ///
    /// `sgt` came from `map_locked` on this attachment with `dir`.
    pub(crate) unsafe fn unmap_locked(
        &self,
        held: &ResvLocked<'_>,
        sgt: MappedSgt,
        dir: DataDirection,
    ) {
        if !held.covers(&self.buf) {
            pr_limited!(
                pr_err,
                "dma_buf_unmap_attachment without the buffer's reservation lock\n"
            );
            return;
        }
        // SAFETY: The lock is held (checked); the caller guarantees the table.
        unsafe {
            ext::dma_buf_unmap_attachment(self.att.as_ptr(), sgt.as_ptr().cast(), dir.as_raw())
        };
    }

    /// Maps the buffer for the device (`dma_buf_map_attachment_unlocked`); the mapping is
    /// undone, and the device detached, when the result is dropped.
    pub(crate) fn map(self, dir: DataDirection) -> Result<Mapping> {
        // SAFETY: The attachment is live; the unlocked variant takes the reservation lock.
        let sgt = from_err_ptr(unsafe {
            ext::dma_buf_map_attachment_unlocked(self.att.as_ptr(), dir.as_raw())
        })?;
        // On failure `self` is dropped, which detaches.
        let sgt = NonNull::new(sgt.cast()).ok_or(ENOMEM)?;
        // INVARIANT: `sgt` is a live mapping of `att` for `dir`.
        Ok(Mapping {
            att: self,
            sgt,
            dir,
        })
    }
}

impl Drop for Attachment {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the attachment is live; its mappings are gone (a
        // `Mapping` owns the attachment and unmaps first). `self.buf` is dropped after this.
        unsafe { ext::dma_buf_detach(self.buf.as_raw(), self.att.as_ptr()) };
    }
}

/// An attachment mapped for DMA; unmapped and detached on drop.
///
/// # Invariants
///
/// `sgt` was returned by `dma_buf_map_attachment_unlocked(att, dir)` and is not unmapped.
pub(crate) struct Mapping {
    att: Attachment,
    sgt: NonNull<bindings::sg_table>,
    dir: DataDirection,
}

// SAFETY: The table is only read, and unmapped from any thread.
unsafe impl Send for Mapping {}
// SAFETY: Shared references only read the table.
unsafe impl Sync for Mapping {}

impl Mapping {
    /// Number of DMA segments of the mapping (`sgt->nents`).
    pub(crate) fn nents(&self) -> u32 {
        // SAFETY: The table is live by the type invariant.
        unsafe { ext::kext_sgt_nents(self.sgt.as_ptr().cast()) }
    }

    /// DMA address of the first segment.
    pub(crate) fn dma_address(&self) -> u64 {
        // SAFETY: The table is live and mapped by the type invariant.
        unsafe { ext::kext_sgt_dma_address(self.sgt.as_ptr().cast()) }
    }

    /// Whether the first segment is a swiotlb bounce buffer rather than the buffer itself (the
    /// device cannot reach the buffer; it would see a copy, not the memory).
    pub(crate) fn is_bounced(&self) -> bool {
        // SAFETY: The table is live and mapped for the attachment's device.
        unsafe { ext::kext_sgt_bounced(raw(&self.att.dev).cast(), self.sgt.as_ptr().cast()) }
    }

    /// DMA length of the first segment, in bytes.
    pub(crate) fn dma_len(&self) -> u32 {
        // SAFETY: The table is live and mapped by the type invariant.
        unsafe { ext::kext_sgt_dma_len(self.sgt.as_ptr().cast()) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the mapping is live; it is not used after this. The
        // attachment (`self.att`) is dropped, and so detached, after this.
        unsafe {
            ext::dma_buf_unmap_attachment_unlocked(
                self.att.att.as_ptr(),
                self.sgt.as_ptr().cast(),
                self.dir.as_raw(),
            )
        };
    }
}
