// SPDX-License-Identifier: GPL-2.0

//! The dma-buf that exposes a buffer shared with the VPU (the "wrapper"): what
//! `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF` and `VC_SM_CMA_IOCTL_MEM_ALLOC` return as an fd and
//! `vc_sm_cma_import_dmabuf` as a handle.
//!
//! For an import, every operation is forwarded to the *source* dma-buf through the dma-buf
//! core, never to the source exporter's raw ops, so the core's bookkeeping (attachments,
//! mapping caches, vmap counts, dynamic exporters) stays right:
//!
//! - attach: `dma_buf_attach(source, dev)`, kept as the wrapper attachment's state;
//! - map/unmap: `dma_buf_map_attachment`/`dma_buf_unmap_attachment` on that attachment;
//! - mmap: `dma_buf_mmap(source, vma, pgoff)` (the VMA then refers to the source's file);
//! - begin/end CPU access: `dma_buf_begin_cpu_access`/`dma_buf_end_cpu_access` on the source;
//! - vmap/vunmap: `dma_buf_vmap`/`dma_buf_vunmap` on the source.
//!
//! The wrapper shares the source's reservation object. The core calls map and vmap with the
//! wrapper's reservation lock held; with a shared object that is the source's lock, so the
//! locked variants are the right calls (the `_unlocked` ones would take it a second time, and
//! with two objects lockdep would see two locks of one class nested). Fences on the source
//! apply to the wrapper too.
//!
//! An allocation (MEM_ALLOC) is exported directly: per-attachment tables of its pages, and
//! write-combined CPU mappings (the memory is uncached for the VPU).
//!
//! When the wrapper's last reference goes, [`Vcsm::wrapper_released`] sends FREE; the
//! buffer's memory stays until the VPU's RELEASED.

use crate::kext::compat::ARef;
use crate::{
    buffer::Buffer,
    kext::{
        dma::{self, DataDirection, MappedSgt, SgTable, Vma, VmapAddr},
        dma_buf::{self, DmaBuf, Exporter, ResvLocked},
        dma_buf_import::{Attachment, Import},
        ratelimit::pr_limited,
    },
    vcsm::Vcsm,
};
use kernel::{
    bindings, c_str, device::Device, new_mutex, prelude::*, str::CStr, sync::Arc, sync::Mutex,
};

/// The exporter name of wrappers (`/sys/kernel/debug/dma_buf/bufinfo`).
pub(crate) static EXP_NAME: &CStr = c_str!("vc-sm-cma");

/// An allocation's attachment: its own table of the pages, mapped for the device.
#[pin_data]
pub(crate) struct OwnAttachment {
    dev: ARef<Device>,
    #[pin]
    table: Mutex<SgTable>,
}

/// A wrapper attachment.
pub(crate) enum WrapAttachment {
    /// Import: the device's attachment to the source.
    Forward(Attachment),
    /// Allocation.
    Own(Arc<OwnAttachment>),
}

/// The private data of a wrapper dma-buf.
#[pin_data(PinnedDrop)]
pub(crate) struct Wrapper {
    vcsm: Arc<Vcsm>,
    buf: Arc<Buffer>,
    kernel_id: u32,
}

#[pinned_drop]
impl PinnedDrop for Wrapper {
    fn drop(self: Pin<&mut Self>) {
        // Last reference to the wrapper (or a failed export): tell the VPU to let go. The
        // buffer (`buf`) is only released once the registry drops its reference too.
        self.vcsm.wrapper_released(self.kernel_id);
    }
}

impl Wrapper {
    fn source(&self) -> Result<&ARef<DmaBuf>> {
        self.buf.source().ok_or(EINVAL)
    }
}

impl Exporter for Wrapper {
    type Attachment = WrapAttachment;

    fn attach(&self, dev: &Device) -> Result<KBox<WrapAttachment>> {
        let att = match self.buf.pages() {
            None => WrapAttachment::Forward(Attachment::new(self.source()?, dev)?),
            Some(pages) => {
                let table = pages.sg_table_for(dev)?;
                WrapAttachment::Own(Arc::pin_init(
                    pin_init!(OwnAttachment {
                        dev: dev.into(),
                        table <- new_mutex!(table, "vcsm:attachment"),
                    }),
                    GFP_KERNEL,
                )?)
            }
        };
        Ok(KBox::new(att, GFP_KERNEL)?)
    }

    fn map(
        &self,
        att: &WrapAttachment,
        held: &ResvLocked<'_>,
        dir: DataDirection,
    ) -> Result<MappedSgt> {
        match att {
            // The wrapper shares the source's reservation object (see `wrap`), so the lock the
            // core holds is the source's.
            WrapAttachment::Forward(a) => a.map_locked(held, dir),
            WrapAttachment::Own(a) => {
                // The memory is write-combined everywhere: no cache maintenance.
                a.table.lock().map(&a.dev, dir, dma::ATTR_SKIP_CPU_SYNC)
            }
        }
    }

    fn unmap(
        &self,
        att: &WrapAttachment,
        held: &ResvLocked<'_>,
        sgt: MappedSgt,
        dir: DataDirection,
    ) {
        match att {
            // SAFETY: The core gives back the table `map` returned for this attachment, which
            // for a forwarding one is what `map_locked` returned, with `dir`.
            WrapAttachment::Forward(a) => unsafe { a.unmap_locked(held, sgt, dir) },
            WrapAttachment::Own(a) => a.table.lock().unmap(),
        }
    }

    fn begin_cpu_access(&self, dir: DataDirection) -> Result {
        match self.buf.source() {
            Some(src) => src.begin_cpu_access(dir),
            None => Ok(()),
        }
    }

    fn end_cpu_access(&self, dir: DataDirection) -> Result {
        match self.buf.source() {
            Some(src) => src.end_cpu_access(dir),
            None => Ok(()),
        }
    }

    fn mmap(&self, vma: &mut Vma) -> Result {
        match self.buf.pages() {
            None => {
                let pgoff = vma.pgoff();
                self.source()?.mmap(vma, pgoff)
            }
            Some(pages) => pages.mmap(vma, true),
        }
    }

    fn vmap(&self, held: &ResvLocked<'_>) -> Result<VmapAddr> {
        match self.buf.pages() {
            // The lock held is the (shared) source's, as for `map`.
            None => self.source()?.vmap_locked(held),
            Some(pages) => pages.vmap(true),
        }
    }

    fn vunmap(&self, held: &ResvLocked<'_>, vaddr: VmapAddr) {
        match self.buf.pages() {
            None => {
                if let Ok(src) = self.source() {
                    src.vunmap_locked(held, vaddr);
                }
            }
            Some(pages) => pages.vunmap(vaddr),
        }
    }
}

/// Wraps buffer `kernel_id` (shared with the VPU, its entry marked wrapped) in a new dma-buf.
///
/// On failure the entry is unwrapped again, which frees the VPU handle.
pub(crate) fn wrap(vcsm: &Arc<Vcsm>, buf: &Arc<Buffer>, kernel_id: u32) -> Result<ARef<DmaBuf>> {
    let wrapper = match KBox::pin_init(
        pin_init!(Wrapper {
            vcsm: vcsm.clone(),
            buf: buf.clone(),
            kernel_id,
        }),
        GFP_KERNEL,
    ) {
        Ok(w) => w,
        Err(e) => {
            // No `Wrapper` exists to do this on drop.
            vcsm.wrapper_released(kernel_id);
            return Err(e);
        }
    };
    let flags = bindings::O_RDWR;
    // From here on, dropping the wrapper (also inside a failed export) unwraps the entry.
    let dmabuf = match buf.source() {
        // SAFETY: The wrapper keeps `buf`, whose mapping keeps a reference to `src`, until it
        // is dropped on the new buffer's release.
        Some(src) => unsafe {
            dma_buf::export_sharing_resv(
                wrapper,
                buf.size,
                flags,
                EXP_NAME,
                crate::kext::compat::this_module(),
                src,
            )
        },
        None => dma_buf::export(
            wrapper,
            buf.size,
            flags,
            EXP_NAME,
            crate::kext::compat::this_module(),
        ),
    }
    .inspect_err(|e| {
        pr_limited!(
            pr_err,
            "cannot export the wrapper of buffer {}: {:?}\n",
            kernel_id,
            e
        )
    })?;
    // Dropping `dmabuf` on failure releases the wrapper.
    vcsm.set_wrapper(kernel_id, dmabuf.as_raw() as usize)?;
    Ok(dmabuf)
}
