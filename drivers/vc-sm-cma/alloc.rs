// SPDX-License-Identifier: GPL-2.0

//! Memory the driver allocates itself: `VC_SM_CMA_IOCTL_MEM_ALLOC` for userspace, and
//! VC_MEM_REQUEST for the VPU.
//!
//! Both are physically contiguous pages from the system CMA pool (`linux,cma`, made the vchiq
//! device's CMA area at probe), zeroed, and mapped uncached (write-combined) everywhere on the
//! CPU side. Never anything else: when the pool is exhausted, the DMA API falls back to the
//! page allocator, and such pages (ordinary memory, pinned for as long as the VPU likes) are
//! given back at once and the request fails with `ENOMEM`. MEM_ALLOC also counts against the
//! caller's pin caps (`pins.rs`).

use crate::{
    buffer::{Backing, Buffer, BufferInfo, Origin, Shared, Vpu},
    kext::{dma::ContigPages, ratelimit::pr_limited},
    smem::{self, HostBody, VcMemRequest, VcMemRequestReply},
    vcsm::Vcsm,
};
use core::sync::atomic::Ordering;
use kernel::{bindings, prelude::*, sync::Arc};

/// Rounds `size` up to whole pages; `None` on overflow.
fn page_align(size: usize) -> Option<usize> {
    size.checked_add(bindings::PAGE_SIZE - 1)
        .map(|s| s & !(bindings::PAGE_SIZE - 1))
}

impl Vcsm {
    /// `VC_SM_CMA_IOCTL_MEM_ALLOC`: a new buffer of `size` bytes (rounded up to pages), shared
    /// with the VPU and wrapped in a dma-buf.
    pub(crate) fn alloc_shared(
        self: &Arc<Self>,
        size: u32,
        name: &[u8],
        pid: i32,
    ) -> Result<Shared> {
        let _op = self.begin_op()?;
        if size == 0 {
            return Err(EINVAL);
        }
        let len = page_align(size as usize).ok_or(EINVAL)?;
        // Refused before anything is allocated; checked again when the buffer is registered.
        self.bufs
            .lock()
            .check_caps(pid, len as u64, "MEM_ALLOC", &self.stats.pin_refused)?;
        let pages = self.alloc_cma(len).inspect_err(|e| {
            pr_limited!(
                pr_err,
                "MEM_ALLOC: cannot allocate {} contiguous bytes from the system CMA pool: {:?}\n",
                len,
                e
            )
        })?;
        let name = if name.first().copied().unwrap_or(0) == 0 {
            smem::HOST_RESOURCE_NAME
        } else {
            name
        };
        let info = BufferInfo {
            origin: Origin::Alloc,
            size: len,
            map_len: u32::try_from(len).map_err(|_| EINVAL)?,
            dma_addr: pages.dma_addr(),
            name,
            exporter: crate::kext::compat::cstr_bytes(crate::export::EXP_NAME),
            pid,
            charged: true,
        };
        let buf = Buffer::new(Backing::Alloc(pages), info)?;
        self.share_and_wrap(buf)
    }

    /// VC_MEM_REQUEST: the VPU asks for memory (event workqueue, never the receive work).
    pub(crate) fn serve_mem_request(self: &Arc<Self>, req: &VcMemRequest) {
        // The VPU's name may lack a NUL: take at most 32 bytes and terminate (31 kept).
        let name = smem::name_from_bytes(smem::name_bytes(&req.name));
        let (addr, kernel_id) = match self.vpu_alloc(req, &name) {
            Ok(r) => r,
            Err(e) => {
                self.stats
                    .mem_request_failures
                    .fetch_add(1, Ordering::Relaxed);
                pr_limited!(
                    pr_err,
                    "VC_MEM_REQUEST {} for {} bytes (align {}) \"{}\" failed: {:?}\n",
                    req.trans_id,
                    req.size,
                    req.align,
                    NameFmt(&name),
                    e
                );
                (0, 0)
            }
        };
        let reply = HostBody::VcMemRequestReply(VcMemRequestReply {
            trans_id: req.trans_id,
            addr,
            kernel_id,
        });
        if let Err(e) = self.send_oneway(reply) {
            pr_limited!(
                pr_err,
                "cannot answer VC_MEM_REQUEST {}: {:?}\n",
                req.trans_id,
                e
            );
            if kernel_id != 0 {
                // The VPU never learns about the buffer: release it.
                self.vpu_forget(kernel_id);
            }
        }
    }

    /// Answers VC_MEM_REQUEST `trans_id` with a failure.
    pub(crate) fn refuse_mem_request(&self, trans_id: u32) {
        let reply = HostBody::VcMemRequestReply(VcMemRequestReply {
            trans_id,
            addr: 0,
            kernel_id: 0,
        });
        if let Err(e) = self.send_oneway(reply) {
            self.stats
                .mem_request_failures
                .fetch_add(1, Ordering::Relaxed);
            pr_limited!(
                pr_err,
                "cannot answer VC_MEM_REQUEST {}: {:?}\n",
                trans_id,
                e
            );
        }
    }

    fn vpu_alloc(&self, req: &VcMemRequest, name: &[u8; smem::NAME_LEN]) -> Result<(u32, u32)> {
        if req.size == 0 {
            return Err(EINVAL);
        }
        let align = (req.align as usize).max(1);
        let size = (req.size as usize)
            .checked_next_multiple_of(align)
            .and_then(page_align)
            .ok_or(EINVAL)?;
        let pages = self.alloc_cma(size)?;
        let info = BufferInfo {
            origin: Origin::VpuRequest,
            size,
            map_len: u32::try_from(size).map_err(|_| EINVAL)?,
            dma_addr: pages.dma_addr(),
            name: smem::name_bytes(name),
            exporter: crate::kext::compat::cstr_bytes(crate::export::EXP_NAME),
            pid: 0,
            charged: false,
        };
        let buf = Buffer::new(Backing::Alloc(pages), info)?;
        let vpu_addr = buf.vpu_addr;
        // The VPU holds the only reference until it sends RELEASED.
        let kernel_id = self.register(&buf, Vpu::Mapped(req.vc_handle))?;
        Ok((vpu_addr, kernel_id))
    }

    /// `len` bytes of contiguous, zeroed, cleaned pages from the system CMA pool, never from
    /// anywhere else (see the module documentation).
    fn alloc_cma(&self, len: usize) -> Result<ContigPages> {
        let Some((base, size)) = self.cma else {
            pr_limited!(
                pr_err,
                "no system CMA pool (a reusable linux,cma-default reserved-memory node): driver allocations are refused\n"
            );
            return Err(ENOMEM);
        };
        if len as u64 > size {
            return Err(ENOMEM);
        }
        let pages = ContigPages::alloc(&self.dev, len)?;
        let start = pages.phys_addr();
        if start < base || start.saturating_add(len as u64) > base + size {
            // The pool had no free run that large and the DMA API fell back to the page
            // allocator: give the pages back.
            self.stats.cma_fallbacks.fetch_add(1, Ordering::Relaxed);
            return Err(ENOMEM);
        }
        if !self
            .window
            .allows("allocation", pages.dma_addr(), len as u64)
        {
            self.stats.window_refused.fetch_add(1, Ordering::Relaxed);
            return Err(ENOMEM);
        }
        Ok(pages)
    }

    /// Forgets a VPU allocation the VPU never learned about.
    fn vpu_forget(&self, kernel_id: u32) {
        let rel = smem::Released {
            addr: 0,
            size: 0,
            kernel_id,
            vc_handle: self.handle_of(kernel_id),
        };
        self.released(&rel);
    }
}

/// Shows a name as text, replacing bytes that are not printable ASCII.
pub(crate) struct NameFmt<'a>(pub(crate) &'a [u8; smem::NAME_LEN]);

impl core::fmt::Display for NameFmt<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for &b in smem::name_bytes(self.0) {
            let c = if b.is_ascii_graphic() || b == b' ' {
                b as char
            } else {
                '?'
            };
            core::fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}
crate::kext::compat::kext_impl_display!(NameFmt<'_>);
