// SPDX-License-Identifier: GPL-2.0

//! Buffers shared with the VPU, imports, and their lifetime.
//!
//! A [`Buffer`] is immutable: its memory ([`Backing`]: an imported dma-buf with the VPU's
//! attachment and mapping, or an allocation) and the addresses and names describing it. It
//! is reference counted; its memory is released when the last reference goes.
//!
//! The [`Registry`] (under [`Vcsm::bufs`]) holds a reference to every buffer that is either
//! exposed as a dma-buf (the "wrapper", see `export.rs`) or known to the VPU, keyed by the
//! buffer's kernel id (the opaque id the VPU echoes in RELEASED; 31 bits, never 0, never reused
//! while in use), with the buffer's mutable state ([`Entry`]). An entry leaves the registry
//! ("retires") when it is neither wrapped, nor being imported, nor mapped by the VPU:
//!
//! ```text
//!   IMPORT sent ──reply──▶ Mapped ──wrapper released──▶ FREE sent: Unmapping ──RELEASED──▶ gone
//!        │                  (protocol 1: FREE sent ─────────────────────────────────────▶ gone)
//!        ├─waiter gave up──▶ reply comes later: FREE the handle, then as above
//!        └─no handle / error──────────────────────────────────────────────────────────▶ gone
//! ```
//!
//! Every buffer also holds a reference to the module, so the module cannot be unloaded while
//! the VPU may still use memory the driver lent it; it unloads once all are released.

use crate::{
    alloc::NameFmt,
    kext::{
        compat::ARef,
        dma::ContigPages,
        dma_buf::DmaBuf,
        dma_buf_import::{self, Import},
        module_ref::ModuleRef,
        ratelimit::pr_limited,
    },
    mapcache::MapUse,
    smem::{self, AllocType, Free, HostBody, NAME_LEN},
    transaction::Late,
    vcsm::Vcsm,
};
use core::sync::atomic::{AtomicBool, Ordering};
use kernel::{
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::Arc,
};

/// The largest kernel id; ids are 31 bits so they read as positive `int`s on both sides.
const MAX_KERNEL_ID: u32 = smem::TRANS_ID_MASK;

/// Where a buffer came from.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Origin {
    /// A dma-buf imported by userspace or a kernel driver.
    Import,
    /// `VC_SM_CMA_IOCTL_MEM_ALLOC`.
    Alloc,
    /// VC_MEM_REQUEST from the VPU.
    VpuRequest,
}

impl Origin {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Import => "import",
            Self::Alloc => "alloc",
            Self::VpuRequest => "vpu-request",
        }
    }
}

/// The memory of a buffer.
pub(crate) enum Backing {
    /// An imported dma-buf (a reference to it), and its mapping for the vchiq device, shared
    /// with every other import of it (see `mapcache.rs`).
    Import { src: ARef<DmaBuf>, _map: MapUse },
    /// Contiguous pages allocated for the vchiq device.
    Alloc(ContigPages),
}

/// A buffer shared with the VPU. See the module documentation.
pub(crate) struct Buffer {
    pub(crate) origin: Origin,
    backing: Backing,
    /// Size of the dma-buf, in bytes.
    pub(crate) size: usize,
    /// Length of the VPU's mapping, in bytes (what IMPORT announces).
    pub(crate) map_len: u32,
    /// DMA address for the vchiq device, without a VPU cache alias.
    pub(crate) dma_addr: u64,
    /// The address the VPU uses (with its cache alias bits).
    pub(crate) vpu_addr: u32,
    pub(crate) name: [u8; NAME_LEN],
    /// The exporter of an imported dma-buf.
    pub(crate) exporter: [u8; NAME_LEN],
    /// The process (tgid) that created it.
    pub(crate) pid: i32,
    /// It counts against `pid`'s pin caps (`pins.rs`): made through `/dev/vcsm-cma`.
    pub(crate) charged: bool,
    _module: ModuleRef,
}

/// What describes a new [`Buffer`] besides its memory.
pub(crate) struct BufferInfo<'a> {
    pub(crate) origin: Origin,
    /// Size of the dma-buf, in bytes.
    pub(crate) size: usize,
    /// Length of the VPU's mapping, in bytes.
    pub(crate) map_len: u32,
    /// DMA address for the vchiq device.
    pub(crate) dma_addr: u64,
    pub(crate) name: &'a [u8],
    pub(crate) exporter: &'a [u8],
    pub(crate) pid: i32,
    pub(crate) charged: bool,
}

impl Buffer {
    /// A buffer of `backing`; fails if the VPU cannot reach its DMA address.
    pub(crate) fn new(backing: Backing, info: BufferInfo<'_>) -> Result<Arc<Self>> {
        let vpu_addr = vpu_bus_addr(info.dma_addr)?;
        Ok(Arc::new(
            Self {
                origin: info.origin,
                backing,
                size: info.size,
                map_len: info.map_len,
                dma_addr: info.dma_addr,
                vpu_addr,
                name: smem::name_from_bytes(info.name),
                exporter: smem::name_from_bytes(info.exporter),
                pid: info.pid,
                charged: info.charged,
                _module: ModuleRef::new(crate::kext::compat::this_module()),
            },
            GFP_KERNEL,
        )?)
    }

    /// The imported dma-buf, if this is an import.
    pub(crate) fn source(&self) -> Option<&ARef<DmaBuf>> {
        match &self.backing {
            Backing::Import { src, .. } => Some(src),
            Backing::Alloc(_) => None,
        }
    }

    /// The allocated pages, if this is an allocation.
    pub(crate) fn pages(&self) -> Option<&ContigPages> {
        match &self.backing {
            Backing::Import { .. } => None,
            Backing::Alloc(pages) => Some(pages),
        }
    }
}

/// What the VPU holds of a buffer, with the handle where there is one:
///
/// ```text
///   Importing ──reply with a handle──▶ Mapped(h) ──FREE sent──▶ Unmapping(h) ──RELEASED(h)──▶ Released
///       │                                 │                        └─FREE final (protocol 1, or
///       └─no handle, error──▶ Released    └─RELEASED(h)──▶ Released   not sent)──▶ Released
/// ```
///
/// A VPU allocation (VC_MEM_REQUEST) starts as `Mapped`. Only the methods of [`Entry`] change
/// it, and only under the registry lock, through [`Vcsm::update`] (or teardown's
/// [`Vcsm::forget_vpu`]).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Vpu {
    /// IMPORT sent, no reply handled yet.
    Importing,
    /// The VPU holds this handle for the buffer.
    Mapped(u32),
    /// FREE was sent for this handle; waiting for RELEASED.
    Unmapping(u32),
    /// The VPU holds nothing of the buffer (or never did).
    Released,
}

impl Vpu {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Importing => "importing",
            Self::Mapped(_) => "mapped",
            Self::Unmapping(_) => "unmapping",
            Self::Released => "released",
        }
    }
}

/// Whether a wrapper dma-buf exposes the buffer (a wrapper holds its own reference to it).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wrap {
    /// Nothing exposes it.
    None,
    /// A wrapper is being made (IMPORT answered, the dma-buf not exported yet).
    Exporting,
    /// The wrapper's `struct dma_buf` is at this address (the key of `Registry::by_wrapper`).
    At(usize),
}

/// A buffer's state in the registry.
pub(crate) struct Entry {
    pub(crate) buf: Arc<Buffer>,
    pub(crate) vpu: Vpu,
    pub(crate) wrap: Wrap,
}

impl Entry {
    /// The VPU's handle; 0 if it holds none.
    pub(crate) fn handle(&self) -> u32 {
        match self.vpu {
            Vpu::Mapped(h) | Vpu::Unmapping(h) => h,
            Vpu::Importing | Vpu::Released => 0,
        }
    }

    pub(crate) fn wrapped(&self) -> bool {
        self.wrap != Wrap::None
    }

    /// Nothing holds the buffer: the entry leaves the registry.
    fn retirable(&self) -> bool {
        self.wrap == Wrap::None && self.vpu == Vpu::Released
    }

    /// The IMPORT reply was handled: the VPU holds `handle`, or nothing if it is 0.
    fn replied(&mut self, handle: u32) {
        if self.vpu == Vpu::Importing {
            self.vpu = if handle != 0 {
                Vpu::Mapped(handle)
            } else {
                Vpu::Released
            };
        }
    }

    /// If the VPU maps a buffer nothing exposes any more: the handle FREE is to be sent for,
    /// now that the state says it was.
    fn free_due(&mut self) -> Option<u32> {
        match (self.vpu, self.wrap) {
            (Vpu::Mapped(h), Wrap::None) => {
                self.vpu = Vpu::Unmapping(h);
                Some(h)
            }
            _ => None,
        }
    }

    /// FREE for `handle` is final (protocol 1, or it could not be sent): no RELEASED comes.
    fn freed(&mut self, handle: u32) {
        if self.vpu == Vpu::Unmapping(handle) {
            self.vpu = Vpu::Released;
        }
    }

    /// RELEASED for `handle`; `Err` with the buffer's own handle if the VPU named another.
    fn released(&mut self, handle: u32) -> core::result::Result<(), u32> {
        let ours = self.handle();
        if ours != handle {
            return Err(ours);
        }
        if ours != 0 {
            self.vpu = Vpu::Released;
        }
        Ok(())
    }

    /// The service closed: the VPU holds nothing any more. Returns whether it held anything.
    fn forget_vpu(&mut self) -> bool {
        let held = self.vpu != Vpu::Released;
        self.vpu = Vpu::Released;
        held
    }
}

/// Every buffer the driver knows, by kernel id, and wrappers by address.
pub(crate) struct Registry {
    /// The device is being removed: an IMPORT reply that arrives now is given back.
    pub(crate) removing: bool,
    last_id: u32,
    len: u32,
    pub(crate) by_id: RBTree<u32, Entry>,
    /// Wrapper `struct dma_buf` address to kernel id, for the kernel API.
    by_wrapper: RBTree<usize, u32>,
}

impl Registry {
    pub(crate) fn new() -> Self {
        Self {
            removing: false,
            last_id: 0,
            len: 0,
            by_id: RBTree::new(),
            by_wrapper: RBTree::new(),
        }
    }

    /// The next free kernel id (from 1).
    fn next_id(&mut self) -> Result<u32> {
        let mut id = self.last_id;
        for _ in 0..=self.len {
            id = if id >= MAX_KERNEL_ID { 1 } else { id + 1 };
            if self.by_id.get(&id).is_none() {
                self.last_id = id;
                return Ok(id);
            }
        }
        Err(ENOSPC)
    }

    /// Removes an entry; the caller drops it after releasing the lock.
    fn take(&mut self, id: u32) -> Option<Entry> {
        let e = self.by_id.remove(&id)?;
        self.len = self.len.saturating_sub(1);
        if let Wrap::At(addr) = e.wrap {
            self.by_wrapper.remove(&addr);
        }
        Some(e)
    }

    /// Entry `id`, to change with one of its transitions.
    fn entry(&mut self, id: u32) -> Option<&mut Entry> {
        self.by_id.get_mut(&id)
    }

    /// Removes entry `id` if nothing holds it any more; the caller drops it after releasing
    /// the lock.
    fn take_if_retirable(&mut self, id: u32) -> Option<Entry> {
        if self.by_id.get(&id)?.retirable() {
            self.take(id)
        } else {
            None
        }
    }

    /// Buffers the VPU has or may get a handle for.
    pub(crate) fn vpu_busy(&self) -> usize {
        self.by_id
            .values()
            .filter(|e| e.vpu != Vpu::Released)
            .count()
    }

    /// The kernel id of the buffer a wrapper exposes.
    pub(crate) fn by_wrapper(&self, wrapper: usize) -> Option<u32> {
        self.by_wrapper.get(&wrapper).copied()
    }
}

/// Returns the address the VPU uses for DMA address `dma`.
///
/// The top two bits of a VPU bus address select its cache alias: 0xC (direct, uncached) and
/// 0x8 (L2-coherent, BCM2835) are used as they are; anything else gets 0xC ORed in, with a
/// warning (once).
fn vpu_bus_addr(dma: u64) -> Result<u32> {
    static WARNED: AtomicBool = AtomicBool::new(false);
    let Ok(addr) = u32::try_from(dma) else {
        pr_limited!(
            pr_err,
            "DMA address {:#x} is beyond the VPU's 32-bit reach\n",
            dma
        );
        return Err(EINVAL);
    };
    match addr & 0xc000_0000 {
        0xc000_0000 | 0x8000_0000 => Ok(addr),
        _ => {
            if !WARNED.swap(true, Ordering::Relaxed) {
                pr_warn!(
                    "expecting an uncached (0xC) or coherent (0x8) VPU alias, got {:#x}; using {:#x} (shown once)\n",
                    addr,
                    addr | 0xc000_0000
                );
            }
            Ok(addr | 0xc000_0000)
        }
    }
}

/// A buffer shared with the VPU and wrapped in a new dma-buf.
pub(crate) struct Shared {
    pub(crate) wrapper: ARef<DmaBuf>,
    pub(crate) buf: Arc<Buffer>,
    pub(crate) vc_handle: u32,
}

impl Vcsm {
    /// Imports `src` (which must be physically contiguous): maps it for the VPU, gets a VPU
    /// handle for it and wraps it in a new dma-buf. `pid` is the requesting process; `charged`
    /// makes the import count against its pin caps (`/dev/vcsm-cma`, not the kernel API).
    ///
    /// A wrapper this driver made is not imported as such: what it wraps is (its source, or
    /// itself for an allocation's wrapper). So a wrapper never forwards to another wrapper
    /// of an import, and no chain of imports nests calls through the dma-buf core.
    pub(crate) fn import_dmabuf(
        self: &Arc<Self>,
        src: ARef<DmaBuf>,
        pid: i32,
        charged: bool,
    ) -> Result<Shared> {
        let _op = self.begin_op()?;
        let src = self.innermost(src);
        if charged {
            // Refused before anything is mapped; checked again when the buffer is registered.
            self.bufs.lock().check_caps(
                pid,
                src.size() as u64,
                "IMPORT",
                &self.stats.pin_refused,
            )?;
        }
        let exporter = smem::name_from_bytes(crate::kext::compat::cstr_bytes(src.exp_name()));
        let exporter = NameFmt(&exporter);
        let map = self.maps.get(&src, &self.dev).inspect_err(|e| {
            if *e == EIO {
                // What the DMA layer returns when it has no address for the buffer that the
                // vchiq device can use: outside the VPU's window and too big to bounce.
                pr_limited!(
                    pr_err,
                    "import: cannot map a {}-byte {} buffer for the VPU (EIO): the DMA layer has no bus address the VPU can use for it (a buffer outside the VPU's window is bounced only when small, and then refused); allocate it from a heap inside the window (vcsm-uncached, vcsm-cached, linux,cma)\n",
                    src.size(),
                    exporter
                );
            } else if *e != ENODEV {
                pr_limited!(
                    pr_err,
                    "import: cannot attach or map a {} buffer for the VPU: errno {}\n",
                    exporter,
                    -e.to_errno()
                );
            }
        })?;
        let info = map.info;
        if info.nents != 1 {
            pr_limited!(
                pr_err,
                "import: a {} buffer of {} bytes maps as {} DMA segments; the VPU needs one (a contiguous buffer)\n",
                exporter,
                src.size(),
                info.nents
            );
            return Err(EINVAL);
        }
        if info.bounced {
            pr_limited!(
                pr_err,
                "import: a {} buffer is outside the VPU's reach (its DMA mapping is a bounce buffer at {:#x})\n",
                exporter,
                info.dma_addr
            );
            return Err(EINVAL);
        }
        if !self
            .window
            .allows("import", info.dma_addr, u64::from(info.dma_len))
        {
            self.stats.window_refused.fetch_add(1, Ordering::Relaxed);
            return Err(EINVAL);
        }
        let info = BufferInfo {
            origin: Origin::Import,
            size: src.size(),
            map_len: info.dma_len,
            dma_addr: info.dma_addr,
            name: smem::HOST_RESOURCE_NAME,
            exporter: smem::name_bytes(exporter.0),
            pid,
            charged,
        };
        let buf = Buffer::new(Backing::Import { src, _map: map }, info)?;
        self.share_and_wrap(buf)
    }

    /// What an import of `buf` imports: `buf` itself, unless it is one of this driver's
    /// wrappers of an import, whose source it returns instead (a source is never such a
    /// wrapper itself, so this is the innermost buffer).
    fn innermost(&self, buf: ARef<DmaBuf>) -> ARef<DmaBuf> {
        let inner = {
            let reg = self.bufs.lock();
            // The address identifies our wrapper: `buf` keeps it alive, and a wrapper leaves
            // `by_wrapper` only when it is released.
            reg.by_wrapper(buf.as_raw() as usize)
                .and_then(|id| reg.by_id.get(&id))
                .and_then(|e| e.buf.source().cloned())
        };
        inner.unwrap_or(buf)
    }

    /// Gets a VPU handle for `buf` and wraps it in a new dma-buf.
    pub(crate) fn share_and_wrap(self: &Arc<Self>, buf: Arc<Buffer>) -> Result<Shared> {
        let (kernel_id, vc_handle) = self.share(&buf)?;
        let wrapper = crate::export::wrap(self, &buf, kernel_id)?;
        Ok(Shared {
            wrapper,
            buf,
            vc_handle,
        })
    }

    /// Registers `buf` with the VPU's state `vpu`; returns its new kernel id.
    pub(crate) fn register(&self, buf: &Arc<Buffer>, vpu: Vpu) -> Result<u32> {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut reg = self.bufs.lock();
        if buf.charged {
            let what = match buf.origin {
                Origin::Alloc => "MEM_ALLOC",
                _ => "IMPORT",
            };
            reg.check_caps(buf.pid, buf.size as u64, what, &self.stats.pin_refused)?;
        }
        let id = reg.next_id()?;
        reg.by_id.insert(node.into_node(
            id,
            Entry {
                buf: buf.clone(),
                vpu,
                wrap: Wrap::None,
            },
        ));
        reg.len += 1;
        Ok(id)
    }

    /// Changes entry `kernel_id`: runs `change` on the registry under its lock (it returns
    /// `None` if it found no entry to change). Then retires the entry if nothing holds it any
    /// more, and, outside the lock, wakes whoever waits for buffers to leave the VPU or the
    /// registry and releases a retired buffer's memory.
    ///
    /// Every change of an entry's state after registration goes through here, so none forgets
    /// to retire or to wake (teardown's [`Vcsm::forget_vpu`] does the same for all at once).
    fn update<T>(
        &self,
        kernel_id: u32,
        change: impl FnOnce(&mut Registry) -> Option<T>,
    ) -> Option<T> {
        let mut reg = self.bufs.lock();
        let out = change(&mut reg)?;
        let retired = reg.take_if_retirable(kernel_id);
        drop(reg);
        self.bufs_cv.notify_all();
        // A retired buffer's memory (the imported dma-buf's mapping, attachment and reference,
        // or the pages) is released here, outside the lock.
        drop(retired);
        Some(out)
    }

    /// Sends IMPORT for `buf` and waits; returns its kernel id and VPU handle. On success the
    /// entry is marked as being wrapped: the caller must wrap it (see [`crate::export::wrap`]).
    fn share(self: &Arc<Self>, buf: &Arc<Buffer>) -> Result<(u32, u32)> {
        let kernel_id = self.register(buf, Vpu::Importing)?;
        let body = HostBody::Import(smem::Import {
            alloc_type: AllocType::NonCached,
            addr: buf.vpu_addr,
            size: buf.map_len,
            kernel_id,
            allocator: buf.pid as u32,
            name: buf.name,
        });
        let handle = match self.transact(body, Some(kernel_id)) {
            Ok(reply) => reply
                .import_result()
                .map(|r| r.res_handle)
                .unwrap_or_else(|e| {
                    pr_limited!(pr_err, "malformed IMPORT reply: {:?}\n", e);
                    0
                }),
            Err(f) if f.abandoned => {
                // The entry stays until the reply comes (`late_import`).
                return Err(f.err);
            }
            Err(f) => {
                // No handle: the entry retires.
                self.update(kernel_id, |reg| reg.entry(kernel_id).map(|e| e.replied(0)));
                return Err(f.err);
            }
        };
        if handle == 0 {
            pr_limited!(
                pr_err,
                "the VPU refused to import {} bytes at {:#x} (no handle)\n",
                buf.map_len,
                buf.vpu_addr
            );
        }
        let wrapped = self.update(kernel_id, |reg| {
            let removing = reg.removing;
            let e = reg.entry(kernel_id)?;
            e.replied(handle);
            // The reply came after teardown sent FREE for everything the VPU maps: this one is
            // not wrapped, so `settle` below sends its FREE (and the caller gets no buffer).
            if handle != 0 && !removing {
                e.wrap = Wrap::Exporting;
            }
            Some(e.wrapped())
        });
        match wrapped {
            Some(true) => Ok((kernel_id, handle)),
            Some(false) if handle == 0 => Err(ENOMEM),
            Some(false) => {
                self.settle(kernel_id);
                Err(ENODEV)
            }
            // Teardown forgot it meanwhile.
            None => Err(ENODEV),
        }
    }

    /// Records the address of the wrapper of buffer `kernel_id`.
    pub(crate) fn set_wrapper(&self, kernel_id: u32, wrapper: usize) -> Result {
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut reg = self.bufs.lock();
        match reg.entry(kernel_id) {
            Some(e) if e.wrap == Wrap::Exporting => e.wrap = Wrap::At(wrapper),
            _ => return Err(ENODEV),
        }
        reg.by_wrapper.insert(node.into_node(wrapper, kernel_id));
        Ok(())
    }

    /// The wrapper of buffer `kernel_id` is gone (or was never made).
    pub(crate) fn wrapper_released(&self, kernel_id: u32) {
        let unwrapped = self.update(kernel_id, |reg| {
            let e = reg.entry(kernel_id)?;
            if let Wrap::At(addr) = core::mem::replace(&mut e.wrap, Wrap::None) {
                reg.by_wrapper.remove(&addr);
            }
            Some(())
        });
        if unwrapped.is_some() {
            self.settle(kernel_id);
        }
    }

    /// The reply to an abandoned IMPORT arrived (event workqueue).
    pub(crate) fn late_import(&self, late: &Late) {
        let id = late.kernel_id;
        let res_handle = late.res_handle.load(Ordering::Acquire);
        if self
            .update(id, |reg| reg.entry(id).map(|e| e.replied(res_handle)))
            .is_none()
        {
            return;
        }
        if res_handle != 0 {
            pr_limited!(
                pr_info,
                "late IMPORT reply for buffer {}: freeing VPU handle {:#x}\n",
                id,
                res_handle
            );
        }
        self.settle(id);
    }

    /// After a change to entry `kernel_id`: sends FREE if the VPU maps a buffer nothing exposes
    /// any more.
    fn settle(&self, kernel_id: u32) {
        let Some(Some(handle)) =
            self.update(kernel_id, |reg| reg.entry(kernel_id).map(|e| e.free_due()))
        else {
            return;
        };
        let sent = self.send_oneway(HostBody::Free(Free {
            res_handle: handle,
            res_mem: 0,
        }));
        if let Err(e) = &sent {
            self.stats.free_failures.fetch_add(1, Ordering::Relaxed);
            pr_limited!(
                pr_warn,
                "cannot send FREE for VPU handle {:#x} ({:?}); the VPU is gone, releasing the buffer\n",
                handle,
                e
            );
        }
        // Protocol 2: the memory is kept until RELEASED. Otherwise FREE is final.
        if sent.is_err() || !self.protocol_v2.load(Ordering::Acquire) {
            self.update(kernel_id, |reg| {
                reg.entry(kernel_id).map(|e| e.freed(handle))
            });
        }
    }

    /// RELEASED: the VPU let go of a buffer (receive work).
    pub(crate) fn released(&self, rel: &smem::Released) {
        let id = rel.kernel_id;
        // A buffer still wrapped stays until its wrapper goes.
        match self.update(id, |reg| reg.entry(id).map(|e| e.released(rel.vc_handle))) {
            Some(Ok(())) => {}
            None => {
                self.stats.released_unknown.fetch_add(1, Ordering::Relaxed);
                pr_limited!(
                    pr_warn,
                    "VPU released buffer {} (handle {:#x}) that is already released\n",
                    id,
                    rel.vc_handle
                );
            }
            Some(Err(ours)) => {
                self.stats.released_unknown.fetch_add(1, Ordering::Relaxed);
                pr_limited!(
                    pr_warn,
                    "VPU released buffer {} with handle {:#x}, but it has handle {:#x}; ignored\n",
                    id,
                    rel.vc_handle,
                    ours
                );
            }
        }
    }

    /// Teardown: sends FREE for every buffer the VPU maps, wrapped or not.
    pub(crate) fn unshare_all(&self) {
        let mut handles = KVec::new();
        {
            let mut reg = self.bufs.lock();
            for (id, e) in reg.by_id.iter_mut() {
                if let Vpu::Mapped(h) = e.vpu {
                    if handles.push((*id, h), GFP_KERNEL).is_err() {
                        break;
                    }
                    e.vpu = Vpu::Unmapping(h);
                }
            }
        }
        let v2 = self.protocol_v2.load(Ordering::Acquire);
        for &(id, handle) in handles.iter() {
            let sent = self.send_oneway(HostBody::Free(Free {
                res_handle: handle,
                res_mem: 0,
            }));
            if sent.is_err() || !v2 {
                self.update(id, |reg| reg.entry(id).map(|e| e.freed(handle)));
            }
        }
    }

    /// Teardown, after the service is closed: nothing is mapped by the VPU any more.
    pub(crate) fn forget_vpu(&self) {
        let mut dead = KVec::new();
        let mut forced = 0u32;
        {
            let mut reg = self.bufs.lock();
            let mut ids = KVec::new();
            for (id, e) in reg.by_id.iter_mut() {
                if e.forget_vpu() {
                    forced += 1;
                }
                if e.retirable() {
                    let _ = ids.push(*id, GFP_KERNEL);
                }
            }
            for id in ids.iter() {
                if let Some(e) = reg.take(*id) {
                    // On allocation failure the entry is dropped under the lock instead.
                    let _ = dead.push(e, GFP_KERNEL);
                }
            }
        }
        self.bufs_cv.notify_all();
        if forced > 0 {
            pr_warn!(
                "{} buffers were still held by the VPU when the service closed\n",
                forced
            );
        }
        drop(dead);
    }

    /// The VPU handle of the buffer wrapped by `wrapper`, if the driver made that wrapper.
    pub(crate) fn handle_of_wrapper(&self, wrapper: usize) -> Option<u32> {
        let reg = self.bufs.lock();
        let id = reg.by_wrapper(wrapper)?;
        reg.by_id.get(&id).map(|e| e.handle())
    }

    /// The VPU handle of buffer `kernel_id`; 0 if the VPU holds none.
    pub(crate) fn handle_of(&self, kernel_id: u32) -> u32 {
        self.bufs
            .lock()
            .by_id
            .get(&kernel_id)
            .map_or(0, |e| e.handle())
    }
}

/// Takes a reference to the dma-buf behind `fd` for an import.
pub(crate) fn source_from_fd(fd: i32) -> Result<ARef<DmaBuf>> {
    dma_buf_import::get(fd)
}
