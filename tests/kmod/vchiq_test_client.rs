// SPDX-License-Identifier: GPL-2.0

//! A small VCHIQ client of the SMEM service, to prove the simulated VPU (`tests/vpu-sim`) and
//! the kernel-ext VCHIQ wrappers (`drivers/kernel-ext/vchiq.rs`) before the real driver exists.
//!
//! It binds to the vchiq device "vcsm-cma" (so it and `vc-sm-cma.ko` are never loaded
//! together), opens service SMEM version 1 (minimum 0), announces protocol 2 with
//! CLIENT_VERSION, and takes every message the way the driver does: pushed in the service
//! callback, held and released from its own (ordered) workqueue. Through debugfs
//! `vchiq-test-client/` a test
//!
//! | file | write | read |
//! |---|---|---|
//! | `import` | `COUNT SIZE`: allocate COUNT DMA buffers, send COUNT IMPORTs back to back, wait for the replies | the last import's buffers |
//! | `import_raw` | `ADDR SIZE`: send one IMPORT of an arbitrary bus range (no memory) | as `import` |
//! | `free` | `KID`: send FREE for buffer KID (a rejected one is just forgotten) | |
//! | `fill` | `KID SEED`: the CPU writes the test pattern | |
//! | `checksum` | `KID`: the CPU checksums the buffer | the last checksum |
//! | `timeout_ms` | `N`: how long `import` waits | the value |
//! | `drain` | `off`: leave received messages queued (not held or released); `on`: take them | on/off |
//! | `mem_reply` | how to answer the next VC_MEM_REQUEST: `normal`, or wrong on purpose (below) | the mode |
//! | `connected_callbacks` | `N`: register N counting connected callbacks; `reenter`: one that calls `vchiq_add_connected_callback` itself (deadlocks, as on VCHIQ) | `registered R run C` |
//! | `ping` | `N`: N round trips, one after the other, each one IMPORT of a fresh 4 KiB buffer timed from the send to its reply, then FREE (untimed); `once`: one IMPORT round trip of the client's ping page (a 4 KiB buffer allocated on first use), for a caller that times the write itself as it times an import ioctl; `free`: FREE of one `once` not freed yet (as closing an import's fd); `reset`: forget the samples | `count N p50_ns P p99_ns Q mean_ns M` over every round trip since the reset, from all writers |
//! | `state` | | counters, reply order, buffers |
//!
//! VC_MEM_REQUESTs are answered with a new DMA buffer (or address 0 over 16 MiB), freed on
//! RELEASED. With the CLIENT_VERSION acknowledgement, FREE keeps the memory until RELEASED;
//! without it (protocol 1 firmware) FREE is final.
//!
//! `mem_reply` makes the next answer wrong, to prove the simulator refuses it; the client keeps
//! no buffer for it (nothing the VPU could hold), and the mode goes back to `normal`:
//!
//! | mode | the reply's address |
//! |---|---|
//! | `kid KID` | the address of the client's live buffer KID (an import or a VPU allocation) |
//! | `freed` | a buffer allocated for the request and freed before the reply |
//! | `offset N` | a buffer allocated for the request, plus N bytes |
//! | `raw ADDR` | ADDR, no memory behind it |
//! | `slab` | a page-sized slab object (kmalloc) in the VPU's window |
//! | `kernel-id KID` | a buffer allocated for the request, with kernel id KID (not a fresh one) |
//!
//! In every mode but `raw` and `kid` the memory lives until the reply is sent (the simulator
//! judges it while the message is queued) and is freed right after.

use crate::kext::compat::ARef;
use core::{
    ffi::c_void,
    ptr::NonNull,
    sync::atomic::{AtomicPtr, AtomicU64, Ordering},
};
use kernel::{
    bindings, c_str,
    device::Device,
    impl_has_work, new_condvar, new_mutex, new_work,
    prelude::*,
    rbtree::RBTree,
    sync::{Arc, CondVar, Mutex},
    time::msecs_to_jiffies,
    workqueue::{Work, WorkItem},
};

// kernel-ext is shared by every module, each using part of it, so its dead-code warnings are
// only meaningful across all of them: `scripts/lint.sh` builds with `--cfg kext_audit` and fails
// on an item no module uses (lint-kext-dead-code).
#[cfg_attr(not(kext_audit), allow(dead_code))]
#[allow(unused_imports, unused_macros)] // Re-exports and macros of compat.rs it does not use.
mod kext;
#[path = "../../drivers/common/src/smem.rs"]
#[allow(dead_code, unreachable_pub)]
mod smem;
#[path = "support/mod.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))] // Shared with the simulator; see `mod kext`.
mod support;
#[path = "../../drivers/kernel-ext/vchiq.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod vchiq;

use kext::{debugfs::StoreFops, miscdev::this_module};
use kext::{dma, workqueue::OwnedQueue};
use smem::{HostBody, HostMsg, VpuMsg};
use support::debugfs::{on_off, parse_on_off, parse_u32, Control, Dir, File, FileOf, SeqFile};
use vchiq::{Incoming, Instance, Service, ServiceHandler, ServiceRef, VchiqDevice};

module! {
    type: ClientModule,
    name: "vchiq_test_client",
    description: "Test client of the SMEM VCHIQ service (for the simulated VPU)",
    license: "GPL",
}

struct ClientModule {
    _driver: vchiq::Registration<Client>,
}

impl kernel::Module for ClientModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        Ok(Self {
            _driver: vchiq::Registration::new(module)?,
        })
    }
}

/// The C side (`vchiq_test_client_kext.c`).
mod shim {
    use core::ffi::c_void;

    extern "C" {
        pub(super) fn vtc_slab_alloc(dev: *mut c_void, bus: *mut u64) -> *mut c_void;
        pub(super) fn vtc_slab_free(obj: *mut c_void);
    }
}

/// A page-sized slab object in the VPU's window, for a wrong `mem_reply slab`; freed on drop.
///
/// # Invariants
///
/// `obj` came from `vtc_slab_alloc` and is freed only by drop.
struct SlabObj {
    obj: NonNull<c_void>,
    bus: u64,
}

impl SlabObj {
    fn new(dev: &Device) -> Result<Self> {
        let mut bus = 0u64;
        let dev = core::ptr::from_ref::<Device>(dev)
            .cast_mut()
            .cast::<c_void>();
        // SAFETY: `dev` is the bound vchiq device; `bus` is valid for a write.
        let obj = unsafe { shim::vtc_slab_alloc(dev, &mut bus) };
        // INVARIANT: A non-NULL `obj` came from `vtc_slab_alloc`.
        Ok(Self {
            obj: NonNull::new(obj).ok_or(ENOMEM)?,
            bus,
        })
    }
}

impl Drop for SlabObj {
    fn drop(&mut self) {
        // SAFETY: `obj` came from `vtc_slab_alloc` (type invariant) and is not used after this.
        unsafe { shim::vtc_slab_free(self.obj.as_ptr()) };
    }
}

/// How the next VC_MEM_REQUEST is answered (`mem_reply`; see the module documentation).
#[derive(Clone, Copy, PartialEq, Eq)]
enum MemReply {
    Normal,
    Kid(u32),
    Freed,
    Offset(u32),
    Raw(u32),
    Slab,
    KernelId(u32),
}

impl MemReply {
    fn parse(input: &str) -> Option<Self> {
        let mut w = input.split_ascii_whitespace();
        let (mode, arg, rest) = (w.next()?, w.next(), w.next());
        if rest.is_some() {
            return None;
        }
        let num = || arg.and_then(parse_u32);
        Some(match (mode, arg) {
            ("normal", None) => Self::Normal,
            ("freed", None) => Self::Freed,
            ("slab", None) => Self::Slab,
            ("kid", Some(_)) => Self::Kid(num()?),
            ("offset", Some(_)) => Self::Offset(num()?),
            ("raw", Some(_)) => Self::Raw(num()?),
            ("kernel-id", Some(_)) => Self::KernelId(num()?),
            _ => return None,
        })
    }

    fn show(self, out: &mut SeqFile<'_>) -> Result {
        match self {
            Self::Normal => out.fmt(format_args!("normal\n")),
            Self::Kid(k) => out.fmt(format_args!("kid {}\n", k)),
            Self::Freed => out.fmt(format_args!("freed\n")),
            Self::Offset(n) => out.fmt(format_args!("offset {:#x}\n", n)),
            Self::Raw(a) => out.fmt(format_args!("raw {:#010x}\n", a)),
            Self::Slab => out.fmt(format_args!("slab\n")),
            Self::KernelId(k) => out.fmt(format_args!("kernel-id {}\n", k)),
        }
    }
}

/// The bound vchiq device, for the connected callbacks (which get no argument); NULL when
/// unbound.
static VDEV: AtomicPtr<kext::bindings::vchiq_device> = AtomicPtr::new(core::ptr::null_mut());
/// How many `connected_callbacks` callbacks have run.
static CALLBACKS_RUN: AtomicU64 = AtomicU64::new(0);

/// A connected callback that only counts.
extern "C" fn counted_connected() {
    CALLBACKS_RUN.fetch_add(1, Ordering::Relaxed);
}

/// A connected callback that registers another from inside: deliberate misuse. VCHIQ calls
/// connected callbacks under its connected mutex, so this deadlocks (lockdep reports recursive
/// locking); a fatal signal to the task ends the inner wait.
extern "C" fn reentering_connected() {
    CALLBACKS_RUN.fetch_add(1, Ordering::Relaxed);
    let vdev = VDEV.load(Ordering::Acquire);
    if !vdev.is_null() {
        // SAFETY: `VDEV` is the bound device (cleared before it is unbound); the callback is
        // a plain function of this module.
        unsafe { kext::bindings::vchiq_add_connected_callback(vdev, Some(counted_connected)) };
    }
}

/// The largest VC_MEM_REQUEST the client serves.
const MAX_VPU_ALLOC: u32 = 16 << 20;
/// The largest `import` COUNT.
const MAX_IMPORT_COUNT: u32 = 16;
/// The size of a ping's buffer.
const PING_SIZE: u32 = bindings::PAGE_SIZE as u32;
/// The most round trips of one `ping` write, and kept samples.
const MAX_PINGS: u32 = 10_000;
const MAX_PING_SAMPLES: usize = 100_000;
/// How long `remove` waits for RELEASED of freed buffers.
const REMOVE_WAIT_MS: i64 = 2000;

fn now_ms() -> i64 {
    kext::compat::ktime_get_ms()
}

/// A DMA buffer of the vchiq device with a write-combined CPU mapping.
///
/// # Invariants
///
/// `vaddr` is `pages.vmap(true)` until drop, which unmaps it before `pages` is freed.
struct Mem {
    pages: dma::ContigPages,
    vaddr: Option<dma::VmapAddr>,
}

// SAFETY: The mapping is not tied to a thread; `ContigPages` is `Send`.
unsafe impl Send for Mem {}

impl Mem {
    fn alloc(dev: &ARef<Device>, size: usize) -> Result<Self> {
        let pages = dma::ContigPages::alloc(dev, size)?;
        let vaddr = Some(pages.vmap(true)?);
        // INVARIANT: `vaddr` maps `pages`.
        Ok(Self { pages, vaddr })
    }

    /// The 32-bit bus address the VPU uses.
    fn bus_addr(&self) -> Result<u32> {
        u32::try_from(self.pages.dma_addr()).map_err(|_| ERANGE)
    }

    fn fill(&self, seed: u32) {
        if let Some(v) = &self.vaddr {
            // SAFETY: The mapping covers `size()` bytes, page aligned.
            unsafe { support::pattern::fill(v.as_ptr().cast(), self.pages.size(), seed) };
        }
    }

    fn checksum(&self) -> u32 {
        match &self.vaddr {
            // SAFETY: The mapping covers `size()` bytes.
            Some(v) => unsafe { support::pattern::checksum(v.as_ptr().cast(), self.pages.size()) },
            None => 0,
        }
    }
}

impl Drop for Mem {
    fn drop(&mut self) {
        if let Some(v) = self.vaddr.take() {
            self.pages.vunmap(v);
        }
    }
}

/// Where a buffer is in its VPU life.
#[derive(Clone, Copy, PartialEq, Eq)]
enum BufState {
    /// IMPORT sent, no reply yet.
    Waiting,
    /// The VPU has a handle.
    Mapped,
    /// IMPORT answered with handle 0.
    Rejected,
    /// No reply in time; a late one gets a FREE.
    TimedOut,
    /// FREE sent, waiting for RELEASED.
    Freeing,
}

impl BufState {
    fn name(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Mapped => "mapped",
            Self::Rejected => "rejected",
            Self::TimedOut => "timed-out",
            Self::Freeing => "freeing",
        }
    }
}

struct Buffer {
    /// `None` for `import_raw`.
    mem: Option<Mem>,
    addr: u32,
    size: u32,
    vc_handle: u32,
    trans_id: u32,
    state: BufState,
    /// Allocated for a VC_MEM_REQUEST.
    vpu_alloc: bool,
    /// A `ping once` that returned (only those are for `ping free`).
    once_done: bool,
}

#[derive(Default)]
struct Counters {
    replies: u64,
    unexpected_replies: u64,
    late_replies: u64,
    version_acks: u64,
    released: u64,
    released_unknown: u64,
    mem_requests: u64,
    mem_requests_failed: u64,
    /// VC_MEM_REQUESTs answered wrong on purpose (`mem_reply`).
    bad_replies: u64,
    undecodable: u64,
    send_errors: u64,
}

struct State {
    /// Taken (and destroyed) on remove.
    wq: Option<OwnedQueue>,
    /// Taken on remove.
    service: Option<ServiceRef>,
    version_acked: bool,
    last_trans_id: u32,
    next_kernel_id: u32,
    timeout_ms: u32,
    /// `drain off`: messages stay pushed, neither held nor released.
    paused: bool,
    buffers: RBTree<u32, Buffer>,
    /// Trans ids of IMPORTs without a reply yet, to their buffer's kernel id.
    waiting: RBTree<u32, u32>,
    /// Trans ids of the last replies, in arrival order.
    reply_order: KVec<u32>,
    /// Kernel ids of the last `import`/`import_raw`.
    last_import: KVec<u32>,
    last_checksum: Option<(u32, u32)>,
    /// How the next VC_MEM_REQUEST is answered.
    mem_reply: MemReply,
    /// Callbacks registered through `connected_callbacks`.
    callbacks_registered: u64,
    counters: Counters,
    /// Nanoseconds of each `ping` round trip since the last reset.
    ping_ns: KVec<u64>,
    /// The page `ping once` imports (allocated on first use, freed with the client).
    ping_page: Option<Mem>,
}

/// What the service callback, the message work and debugfs share.
#[pin_data]
struct Shared {
    #[pin]
    state: Mutex<State>,
    /// Signalled when a reply or RELEASED has been handled.
    #[pin]
    changed: CondVar,
    #[pin]
    drain: Work<Shared>,
    dev: ARef<Device>,
}

impl_has_work! {
    impl HasWork<Self> for Shared { self.drain }
}

impl WorkItem for Shared {
    type Pointer = Arc<Shared>;

    fn run(this: Arc<Shared>) {
        this.drain_messages();
    }
}

/// The service callback's target.
struct Events(Arc<Shared>);

impl ServiceHandler for Events {
    fn message(&self, msg: Incoming<'_>) {
        // As the driver does: a reply (here: to a ping) goes to its waiter from the callback;
        // anything else is kept for the worker, which is woken.
        // As the driver does: keep it for the worker, then wake the worker.
        msg.push();
        let g = self.0.state.lock();
        if let Some(wq) = &g.wq {
            // Fails only if the work is already queued, which is just as good.
            let _ = wq.enqueue(self.0.clone());
        }
    }

    fn closed(&self) {
        pr_info!("SMEM service closed\n");
    }
}

impl Shared {
    /// Sends a host message; returns its transaction id.
    fn send(&self, svc: &ServiceRef, body: HostBody) -> Result<u32> {
        let trans_id = {
            let mut g = self.state.lock();
            g.last_trans_id = smem::next_trans_id(g.last_trans_id);
            g.last_trans_id
        };
        self.send_with(svc, trans_id, body)?;
        Ok(trans_id)
    }

    fn send_with(&self, svc: &ServiceRef, trans_id: u32, body: HostBody) -> Result {
        let mut buf = [0u8; smem::MAX_MSG_LEN];
        let len = HostMsg::new(trans_id, body).encode(&mut buf);
        let r = svc.queue_kernel_message(buf.get(..len).ok_or(EINVAL)?);
        if let Err(e) = r {
            self.state.lock().counters.send_errors += 1;
            pr_err!("sending {:?} failed: {:?}\n", body.msg_type(), e);
        }
        r
    }

    fn service(&self) -> Result<ServiceRef> {
        self.state.lock().service.clone().ok_or(ENODEV)
    }

    /// Takes and handles every queued message.
    fn drain_messages(&self) {
        let Ok(svc) = self.service() else { return };
        if self.state.lock().paused {
            // Left queued (unreleased) at the VPU side until `drain on`.
            return;
        }
        while let Some(held) = svc.hold() {
            let decoded = VpuMsg::decode(held.data());
            // Handed back before acting on it, as the driver does.
            drop(held);
            match decoded {
                Ok(msg) => self.handle(&svc, msg),
                Err(e) => {
                    self.state.lock().counters.undecodable += 1;
                    pr_err!("undecodable message from the VPU: {:?}\n", e);
                }
            }
        }
    }

    fn handle(&self, svc: &ServiceRef, msg: VpuMsg) {
        match msg {
            VpuMsg::Reply(reply) => self.reply(svc, &reply),
            VpuMsg::ClientVersionAck => {
                let mut g = self.state.lock();
                g.version_acked = true;
                g.counters.version_acks += 1;
            }
            VpuMsg::Released(rel) => {
                let mut g = self.state.lock();
                let known = g.buffers.get(&rel.kernel_id).is_some_and(|b| {
                    b.vc_handle == rel.vc_handle
                        && (b.state == BufState::Freeing
                            || (b.vpu_alloc && b.state == BufState::Mapped))
                });
                if known {
                    // Frees the memory: the VPU no longer uses it.
                    let buf = g.buffers.remove(&rel.kernel_id);
                    g.counters.released += 1;
                    drop(g);
                    drop(buf);
                } else {
                    g.counters.released_unknown += 1;
                    pr_err!(
                        "RELEASED for kernel id {} handle {:#x}, which is not being freed\n",
                        rel.kernel_id,
                        rel.vc_handle
                    );
                }
                self.changed.notify_all();
            }
            VpuMsg::VcMemRequest(req) => self.mem_request(svc, &req),
        }
    }

    fn reply(&self, svc: &ServiceRef, reply: &smem::Reply) {
        let trans_id = reply.trans_id();
        let mut g = self.state.lock();
        g.counters.replies += 1;
        if g.reply_order.len() >= 64 {
            g.reply_order = KVec::new();
        }
        let _ = g.reply_order.push(trans_id, GFP_KERNEL);
        let Some(kid) = g.waiting.remove(&trans_id) else {
            g.counters.unexpected_replies += 1;
            pr_info!(
                "reply to trans_id {} not awaited (duplicate?), ignored\n",
                trans_id
            );
            return;
        };
        let handle = match reply.import_result() {
            Ok(r) => r.res_handle,
            Err(e) => {
                pr_err!("bad IMPORT reply for trans_id {}: {:?}\n", trans_id, e);
                0
            }
        };
        let acked = g.version_acked;
        let Some(buf) = g.buffers.get_mut(&kid) else {
            return;
        };
        let late = buf.state == BufState::TimedOut;
        buf.vc_handle = handle;
        buf.state = match (handle, late) {
            (0, _) => BufState::Rejected,
            (_, false) => BufState::Mapped,
            (_, true) => BufState::Freeing,
        };
        if late {
            g.counters.late_replies += 1;
        }
        if late && handle != 0 {
            // Nobody waits for this handle any more: give it back.
            if !acked {
                g.buffers.remove(&kid);
            }
            drop(g);
            pr_info!(
                "late IMPORT reply (kid {}, handle {:#x}): sending FREE\n",
                kid,
                handle
            );
            let _ = self.send(
                svc,
                HostBody::Free(smem::Free {
                    res_handle: handle,
                    res_mem: 0,
                }),
            );
        } else {
            drop(g);
        }
        self.changed.notify_all();
    }

    fn mem_request(&self, svc: &ServiceRef, req: &smem::VcMemRequest) {
        let mode = {
            let mut g = self.state.lock();
            g.counters.mem_requests += 1;
            core::mem::replace(&mut g.mem_reply, MemReply::Normal)
        };
        let size =
            align_up(req.size, req.align).and_then(|s| align_up(s, bindings::PAGE_SIZE as u32));
        if mode != MemReply::Normal {
            self.bad_mem_reply(svc, req, mode, size);
            return;
        }
        let mem = match size {
            Some(s) if s != 0 && s <= MAX_VPU_ALLOC => Mem::alloc(&self.dev, s as usize).ok(),
            _ => None,
        };
        let addr = mem.as_ref().and_then(|m| m.bus_addr().ok());
        let (addr, kernel_id) = match (mem, addr) {
            (Some(mem), Some(addr)) => {
                let mut g = self.state.lock();
                let kid = g.next_kernel_id;
                g.next_kernel_id = g.next_kernel_id.wrapping_add(1).max(1);
                let buf = Buffer {
                    mem: Some(mem),
                    addr,
                    size: size.unwrap_or(0),
                    vc_handle: req.vc_handle,
                    trans_id: req.trans_id,
                    state: BufState::Mapped,
                    vpu_alloc: true,
                    once_done: false,
                };
                match g.buffers.try_create_and_insert(kid, buf, GFP_KERNEL) {
                    Ok(_) => (addr, kid),
                    Err(_) => (0, 0),
                }
            }
            _ => (0, 0),
        };
        if addr == 0 {
            self.state.lock().counters.mem_requests_failed += 1;
        }
        let reply = smem::VcMemRequestReply {
            trans_id: req.trans_id,
            addr,
            kernel_id,
        };
        let _ = self.send(svc, HostBody::VcMemRequestReply(reply));
    }

    /// Answers `req` wrong on purpose, as `mode` says. `size` is what a correct answer would
    /// allocate. Nothing is recorded: the simulator must refuse the reply.
    fn bad_mem_reply(
        &self,
        svc: &ServiceRef,
        req: &smem::VcMemRequest,
        mode: MemReply,
        size: Option<u32>,
    ) {
        let alloc = || -> Result<Mem> {
            match size {
                Some(s) if s != 0 && s <= MAX_VPU_ALLOC => Mem::alloc(&self.dev, s as usize),
                _ => Err(EINVAL),
            }
        };
        // What must stay allocated until the reply is sent.
        let mut mem = None;
        let mut slab = None;
        let mut answer = || -> Result<(u32, Option<u32>)> {
            Ok(match mode {
                MemReply::Normal => return Err(EINVAL),
                MemReply::Kid(k) => {
                    let g = self.state.lock();
                    let addr = g.buffers.get(&k).map(|b| b.addr).ok_or(EINVAL)?;
                    (addr, None)
                }
                MemReply::Freed => {
                    let m = alloc()?;
                    let addr = m.bus_addr()?;
                    drop(m);
                    (addr, None)
                }
                MemReply::Offset(n) => {
                    let m = alloc()?;
                    let addr = m.bus_addr()?.wrapping_add(n);
                    mem = Some(m);
                    (addr, None)
                }
                MemReply::Raw(addr) => (addr, None),
                MemReply::Slab => {
                    let obj = SlabObj::new(&self.dev)?;
                    let addr = u32::try_from(obj.bus).map_err(|_| ERANGE)?;
                    slab = Some(obj);
                    (addr, None)
                }
                MemReply::KernelId(k) => {
                    let m = alloc()?;
                    let addr = m.bus_addr()?;
                    mem = Some(m);
                    (addr, Some(k))
                }
            })
        };
        let (addr, kernel_id) = match answer() {
            Ok((addr, kid)) => {
                let mut g = self.state.lock();
                let kid = kid.unwrap_or_else(|| {
                    let fresh = g.next_kernel_id;
                    g.next_kernel_id = g.next_kernel_id.wrapping_add(1).max(1);
                    fresh
                });
                g.counters.bad_replies += 1;
                (addr, kid)
            }
            Err(e) => {
                pr_err!(
                    "mem_reply: cannot prepare the wrong answer to VC_MEM_REQUEST {}: {:?}; answering with a failure\n",
                    req.trans_id,
                    e
                );
                self.state.lock().counters.mem_requests_failed += 1;
                (0, 0)
            }
        };
        let reply = smem::VcMemRequestReply {
            trans_id: req.trans_id,
            addr,
            kernel_id,
        };
        let _ = self.send(svc, HostBody::VcMemRequestReply(reply));
        // The simulator has judged the reply (inside the send): the memory can go.
        drop(mem);
        drop(slab);
    }

    /// `connected_callbacks N`: registers `n` counting callbacks (or one reentering one).
    fn add_connected_callbacks(&self, n: u32, reenter: bool) {
        let vdev = core::ptr::from_ref::<Device>(&*self.dev)
            .cast_mut()
            .cast::<kext::bindings::vchiq_device>();
        let cb: extern "C" fn() = if reenter {
            reentering_connected
        } else {
            counted_connected
        };
        for _ in 0..n {
            self.state.lock().callbacks_registered += 1;
            // SAFETY: `dev` is the bound vchiq device (its `struct device` is the first member
            // of `struct vchiq_device`); `cb` is a plain function of this module. Not under
            // our lock: the callback may run at once.
            unsafe { kext::bindings::vchiq_add_connected_callback(vdev, Some(cb)) };
        }
    }

    /// Sends one IMPORT for a new buffer; returns its kernel id.
    fn import_one(&self, svc: &ServiceRef, mem: Option<Mem>, addr: u32, size: u32) -> Result<u32> {
        let (kid, trans_id) = {
            let mut g = self.state.lock();
            let kid = g.next_kernel_id;
            g.next_kernel_id = g.next_kernel_id.wrapping_add(1).max(1);
            g.last_trans_id = smem::next_trans_id(g.last_trans_id);
            let trans_id = g.last_trans_id;
            let buf = Buffer {
                mem,
                addr,
                size,
                vc_handle: 0,
                trans_id,
                state: BufState::Waiting,
                vpu_alloc: false,
                once_done: false,
            };
            g.buffers.try_create_and_insert(kid, buf, GFP_KERNEL)?;
            if let Err(e) = g.waiting.try_create_and_insert(trans_id, kid, GFP_KERNEL) {
                g.buffers.remove(&kid);
                return Err(e);
            }
            (kid, trans_id)
        };
        let import = smem::Import {
            alloc_type: smem::AllocType::NonCached,
            addr,
            size,
            kernel_id: kid,
            allocator: kernel::current!().group_leader().pid() as u32,
            name: smem::name_from_bytes(b"vchiq-test-client"),
        };
        if let Err(e) = self.send_with(svc, trans_id, HostBody::Import(import)) {
            let mut g = self.state.lock();
            g.waiting.remove(&trans_id);
            let buf = g.buffers.remove(&kid);
            drop(g);
            drop(buf);
            return Err(e);
        }
        Ok(kid)
    }

    /// `import` / `import_raw`: sends the IMPORTs, then waits for every reply.
    fn import(&self, buffers: KVec<(Option<Mem>, u32, u32)>) -> Result {
        let svc = self.service()?;
        let mut kids = KVec::with_capacity(buffers.len(), GFP_KERNEL)?;
        let mut result = Ok(());
        for (mem, addr, size) in buffers {
            match self.import_one(&svc, mem, addr, size) {
                Ok(kid) => kids.push(kid, GFP_KERNEL)?,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let mut g = self.state.lock();
        let deadline = now_ms() + i64::from(g.timeout_ms);
        loop {
            let pending = kids.iter().any(|k| {
                g.buffers
                    .get(k)
                    .is_some_and(|b| b.state == BufState::Waiting)
            });
            let left = deadline - now_ms();
            if !pending || left <= 0 {
                break;
            }
            let _ = self
                .changed
                .wait_interruptible_timeout(&mut g, msecs_to_jiffies(left as u32));
            if kernel::current!().signal_pending() {
                break;
            }
        }
        let mut timed_out = false;
        for k in kids.iter() {
            if let Some(b) = g.buffers.get_mut(k) {
                if b.state == BufState::Waiting {
                    b.state = BufState::TimedOut;
                    timed_out = true;
                }
            }
        }
        g.last_import = kids;
        drop(g);
        result?;
        if timed_out {
            pr_err!("import: no reply within the timeout\n");
            return Err(Error::from_errno(-(bindings::ETIMEDOUT as i32)));
        }
        Ok(())
    }

    /// `ping N`: N timed IMPORT round trips, each buffer freed after its reply.
    fn ping(&self, n: u32) -> Result {
        let svc = self.service()?;
        for _ in 0..n {
            let mem = Mem::alloc(&self.dev, PING_SIZE as usize)?;
            let addr = mem.bus_addr()?;
            let kid = self.ping_round_trip(&svc, Some(mem), addr)?;
            self.free(kid)?;
        }
        Ok(())
    }

    /// `ping once`: one timed IMPORT round trip of the ping page; its FREE is left to a
    /// `ping free`, so the write that the caller times is the round trip alone.
    fn ping_once(&self) -> Result {
        let svc = self.service()?;
        let addr = {
            let mut g = self.state.lock();
            match &g.ping_page {
                Some(m) => m.bus_addr()?,
                None => {
                    let m = Mem::alloc(&self.dev, PING_SIZE as usize)?;
                    let addr = m.bus_addr()?;
                    g.ping_page = Some(m);
                    addr
                }
            }
        };
        let kid = self.ping_round_trip(&svc, None, addr)?;
        if let Some(b) = self.state.lock().buffers.get_mut(&kid) {
            b.once_done = true;
        }
        Ok(())
    }

    /// `ping free`: FREE of a `ping once` not freed yet (every one imports the same page, so
    /// which one does not matter; each thread frees one after each of its round trips).
    fn ping_free(&self) -> Result {
        let kid = {
            let mut g = self.state.lock();
            let found = g
                .buffers
                .iter_mut()
                .find(|(_, b)| b.once_done && b.state == BufState::Mapped);
            let Some((kid, b)) = found else {
                return Err(bad("ping", "free", "no `ping once` left to free"));
            };
            // Claimed: no other thread's `ping free` takes it as well.
            b.once_done = false;
            *kid
        };
        self.free(kid)
    }

    /// One IMPORT round trip of `addr` (the page `mem`, if given, goes with the buffer),
    /// timed from the send to the reply and recorded; returns the buffer's kernel id.
    fn ping_round_trip(&self, svc: &ServiceRef, mem: Option<Mem>, addr: u32) -> Result<u32> {
        let t0 = kext::compat::ktime_get_ns();
        let kid = self.import_one(svc, mem, addr, PING_SIZE)?;
        let mut g = self.state.lock();
        let deadline = now_ms() + i64::from(g.timeout_ms);
        loop {
            let waiting = g
                .buffers
                .get(&kid)
                .is_some_and(|b| b.state == BufState::Waiting);
            let left = deadline - now_ms();
            if !waiting || left <= 0 || kernel::current!().signal_pending() {
                break;
            }
            let _ = self
                .changed
                .wait_interruptible_timeout(&mut g, msecs_to_jiffies(left as u32));
        }
        let ns = kext::compat::ktime_get_ns() - t0;
        let state = g.buffers.get(&kid).map(|b| b.state);
        if state != Some(BufState::Mapped) {
            if let Some(b) = g.buffers.get_mut(&kid) {
                if b.state == BufState::Waiting {
                    b.state = BufState::TimedOut;
                }
            }
            pr_err!("ping: IMPORT {} got no accepting reply\n", kid);
            return Err(Error::from_errno(-(bindings::ETIMEDOUT as i32)));
        }
        if g.ping_ns.len() < MAX_PING_SAMPLES {
            g.ping_ns.push(ns.max(0) as u64, GFP_KERNEL)?;
        }
        Ok(kid)
    }

    fn show_ping(&self, out: &mut SeqFile<'_>) -> Result {
        let mut v = {
            let g = self.state.lock();
            let mut v = KVec::with_capacity(g.ping_ns.len(), GFP_KERNEL)?;
            v.extend_from_slice(&g.ping_ns, GFP_KERNEL)?;
            v
        };
        v.sort_unstable();
        let n = v.len();
        if n == 0 {
            return out.fmt(format_args!("count 0\n"));
        }
        let at = |q: usize| v[((n - 1) * q + 50) / 100];
        let mean = v.iter().sum::<u64>() / n as u64;
        out.fmt(format_args!(
            "count {} p50_ns {} p99_ns {} mean_ns {}\n",
            n,
            at(50),
            at(99),
            mean
        ))
    }

    /// `free KID`.
    fn free(&self, kid: u32) -> Result {
        let svc = self.service()?;
        let mut g = self.state.lock();
        let acked = g.version_acked;
        let Some(buf) = g.buffers.get_mut(&kid) else {
            pr_err!("free: no buffer {}\n", kid);
            return Err(EINVAL);
        };
        if buf.state == BufState::Rejected {
            // The VPU never had it: just forget it.
            let gone = g.buffers.remove(&kid);
            drop(g);
            drop(gone);
            return Ok(());
        }
        if buf.state != BufState::Mapped || buf.vpu_alloc {
            pr_err!(
                "free: buffer {} is {}, not an imported mapped buffer\n",
                kid,
                buf.state.name()
            );
            return Err(EINVAL);
        }
        let handle = buf.vc_handle;
        // With the version acknowledgement the VPU confirms with RELEASED; without it (protocol
        // 1) FREE is final and the memory goes now.
        let gone = if acked {
            buf.state = BufState::Freeing;
            None
        } else {
            g.buffers.remove(&kid)
        };
        drop(g);
        drop(gone);
        self.send(
            &svc,
            HostBody::Free(smem::Free {
                res_handle: handle,
                res_mem: 0,
            }),
        )
        .map(|_| ())
    }

    /// Runs `f` on the CPU mapping of buffer `kid`.
    fn with_mem<R>(&self, kid: u32, f: impl FnOnce(&Mem) -> R) -> Result<R> {
        let g = self.state.lock();
        match g.buffers.get(&kid).and_then(|b| b.mem.as_ref()) {
            Some(mem) => Ok(f(mem)),
            None => {
                pr_err!("no buffer {} with memory\n", kid);
                Err(EINVAL)
            }
        }
    }

    fn show_state(&self, out: &mut SeqFile<'_>) -> Result {
        let g = self.state.lock();
        let c = &g.counters;
        out.fmt(format_args!(
            "connected {}\nversion_acked {}\n",
            u32::from(g.service.is_some()),
            u32::from(g.version_acked)
        ))?;
        out.fmt(format_args!(
            "counters replies={} unexpected_replies={} late_replies={} version_acks={} released={} released_unknown={} mem_requests={} mem_requests_failed={} bad_replies={} undecodable={} send_errors={}\n",
            c.replies,
            c.unexpected_replies,
            c.late_replies,
            c.version_acks,
            c.released,
            c.released_unknown,
            c.mem_requests,
            c.mem_requests_failed,
            c.bad_replies,
            c.undecodable,
            c.send_errors
        ))?;
        out.fmt(format_args!("reply_order"))?;
        for t in g.reply_order.iter() {
            out.fmt(format_args!(" {}", t))?;
        }
        out.fmt(format_args!("\nbuffers {}\n", g.buffers.iter().count()))?;
        for (kid, b) in g.buffers.iter() {
            show_buffer(out, *kid, b)?;
        }
        Ok(())
    }

    fn show_last_import(&self, out: &mut SeqFile<'_>) -> Result {
        let g = self.state.lock();
        for kid in g.last_import.iter() {
            match g.buffers.get(kid) {
                Some(b) => show_buffer(out, *kid, b)?,
                None => out.fmt(format_args!("kid {} gone\n", kid))?,
            }
        }
        Ok(())
    }
}

fn show_buffer(out: &mut SeqFile<'_>, kid: u32, b: &Buffer) -> Result {
    out.fmt(format_args!(
        "kid {} trans {} addr {:#010x} size {:#x} handle {:#x} state {}{}\n",
        kid,
        b.trans_id,
        b.addr,
        b.size,
        b.vc_handle,
        b.state.name(),
        if b.vpu_alloc { " vpu-alloc" } else { "" }
    ))
}

/// `ALIGN(v, a)` for any `a` (0 and 1: unchanged); `None` on overflow.
fn align_up(v: u32, a: u32) -> Option<u32> {
    if a <= 1 {
        return Some(v);
    }
    v.checked_add(a - 1).map(|x| x / a * a)
}

// ---- debugfs ----

const STATE: usize = 0;
const IMPORT: usize = 1;
const IMPORT_RAW: usize = 2;
const FREE: usize = 3;
const FILL: usize = 4;
const CHECKSUM: usize = 5;
const TIMEOUT: usize = 6;
const DRAIN: usize = 7;
const MEM_REPLY: usize = 8;
const CONNECTED_CALLBACKS: usize = 9;
const PING: usize = 10;

const FILES: [File; 11] = [
    File {
        name: c_str!("state"),
        mode: 0o444,
        id: STATE,
    },
    File {
        name: c_str!("import"),
        mode: 0o644,
        id: IMPORT,
    },
    File {
        name: c_str!("import_raw"),
        mode: 0o644,
        id: IMPORT_RAW,
    },
    File {
        name: c_str!("free"),
        mode: 0o200,
        id: FREE,
    },
    File {
        name: c_str!("fill"),
        mode: 0o200,
        id: FILL,
    },
    File {
        name: c_str!("checksum"),
        mode: 0o644,
        id: CHECKSUM,
    },
    File {
        name: c_str!("timeout_ms"),
        mode: 0o644,
        id: TIMEOUT,
    },
    File {
        name: c_str!("drain"),
        mode: 0o644,
        id: DRAIN,
    },
    File {
        name: c_str!("mem_reply"),
        mode: 0o644,
        id: MEM_REPLY,
    },
    File {
        name: c_str!("connected_callbacks"),
        mode: 0o644,
        id: CONNECTED_CALLBACKS,
    },
    File {
        name: c_str!("ping"),
        mode: 0o644,
        id: PING,
    },
];

struct ClientControl(Arc<Shared>);

fn bad(what: &str, input: &str, why: &str) -> Error {
    pr_err!("debugfs {}: '{}' refused: {}\n", what, input, why);
    EINVAL
}

fn words<const N: usize>(what: &str, input: &str, usage: &str) -> Result<[u32; N]> {
    let mut out = [0u32; N];
    let mut it = input.split_ascii_whitespace();
    for slot in out.iter_mut() {
        let w = it.next().ok_or_else(|| bad(what, input, usage))?;
        *slot = parse_u32(w).ok_or_else(|| bad(what, input, usage))?;
    }
    if it.next().is_some() {
        return Err(bad(what, input, usage));
    }
    Ok(out)
}

/// The `file_operations` of the control files.
static CONTROL_FOPS: StoreFops = StoreFops::new::<FileOf<ClientControl>>(this_module!());

impl Control for ClientControl {
    fn show(&self, file: usize, out: &mut SeqFile<'_>) -> Result {
        let s = &self.0;
        match file {
            STATE => s.show_state(out),
            IMPORT | IMPORT_RAW => s.show_last_import(out),
            PING => s.show_ping(out),
            CHECKSUM => match s.state.lock().last_checksum {
                Some((kid, sum)) => out.fmt(format_args!("kid {} checksum {:#010x}\n", kid, sum)),
                None => out.fmt(format_args!("none\n")),
            },
            TIMEOUT => {
                let t = s.state.lock().timeout_ms;
                out.fmt(format_args!("{}\n", t))
            }
            DRAIN => {
                let paused = s.state.lock().paused;
                out.fmt(format_args!("{}\n", on_off(!paused)))
            }
            MEM_REPLY => {
                let mode = s.state.lock().mem_reply;
                mode.show(out)
            }
            CONNECTED_CALLBACKS => {
                let registered = s.state.lock().callbacks_registered;
                out.fmt(format_args!(
                    "registered {} run {}\n",
                    registered,
                    CALLBACKS_RUN.load(Ordering::Relaxed)
                ))
            }
            _ => Err(EINVAL),
        }
    }

    fn store(&self, file: usize, input: &str) -> Result {
        let s = &self.0;
        match file {
            IMPORT => {
                let [count, size] = words::<2>("import", input, "expected COUNT SIZE")?;
                if count == 0 || count > MAX_IMPORT_COUNT {
                    return Err(bad("import", input, "COUNT is 1..16"));
                }
                if size == 0 || size % bindings::PAGE_SIZE as u32 != 0 || size > MAX_VPU_ALLOC {
                    return Err(bad(
                        "import",
                        input,
                        "SIZE must be page aligned, 4 KiB..16 MiB",
                    ));
                }
                let mut bufs = KVec::with_capacity(count as usize, GFP_KERNEL)?;
                for _ in 0..count {
                    let mem = Mem::alloc(&s.dev, size as usize)?;
                    let addr = mem.bus_addr()?;
                    bufs.push((Some(mem), addr, size), GFP_KERNEL)?;
                }
                s.import(bufs)
            }
            IMPORT_RAW => {
                let [addr, size] = words::<2>("import_raw", input, "expected ADDR SIZE")?;
                let mut bufs = KVec::with_capacity(1, GFP_KERNEL)?;
                bufs.push((None, addr, size), GFP_KERNEL)?;
                s.import(bufs)
            }
            FREE => {
                let [kid] = words::<1>("free", input, "expected KID")?;
                s.free(kid)
            }
            PING => {
                match input {
                    "reset" => {
                        s.state.lock().ping_ns = KVec::new();
                        return Ok(());
                    }
                    "once" => return s.ping_once(),
                    "free" => return s.ping_free(),
                    _ => {}
                }
                let [n] = words::<1>("ping", input, "expected N, once, free or reset")?;
                if n == 0 || n > MAX_PINGS {
                    return Err(bad("ping", input, "N is 1..10000"));
                }
                s.ping(n)
            }
            FILL => {
                let [kid, seed] = words::<2>("fill", input, "expected KID SEED")?;
                s.with_mem(kid, |m| m.fill(seed))
            }
            CHECKSUM => {
                let [kid] = words::<1>("checksum", input, "expected KID")?;
                let sum = s.with_mem(kid, |m| m.checksum())?;
                s.state.lock().last_checksum = Some((kid, sum));
                Ok(())
            }
            TIMEOUT => {
                let [ms] = words::<1>("timeout_ms", input, "expected a number of milliseconds")?;
                if ms == 0 || ms > 60_000 {
                    return Err(bad("timeout_ms", input, "1..60000"));
                }
                s.state.lock().timeout_ms = ms;
                Ok(())
            }
            DRAIN => {
                let on =
                    parse_on_off(input).ok_or_else(|| bad("drain", input, "expected on or off"))?;
                let mut g = s.state.lock();
                g.paused = !on;
                if on {
                    // Take whatever piled up meanwhile.
                    if let Some(wq) = &g.wq {
                        let _ = wq.enqueue(s.clone());
                    }
                }
                Ok(())
            }
            MEM_REPLY => {
                let mode = MemReply::parse(input).ok_or_else(|| {
                    bad(
                        "mem_reply",
                        input,
                        "expected normal, kid KID, freed, offset N, raw ADDR, slab or kernel-id KID",
                    )
                })?;
                s.state.lock().mem_reply = mode;
                Ok(())
            }
            CONNECTED_CALLBACKS => {
                if input == "reenter" {
                    s.add_connected_callbacks(1, true);
                    return Ok(());
                }
                let [n] = words::<1>("connected_callbacks", input, "expected N or reenter")?;
                if n == 0 || n > 16 {
                    return Err(bad("connected_callbacks", input, "N is 1..16"));
                }
                s.add_connected_callbacks(n, false);
                Ok(())
            }
            _ => Err(bad("state", input, "the file is read-only")),
        }
    }
}

// ---- the driver ----

/// Connection state of a bound "vcsm-cma" device.
struct Client {
    control: Option<Dir<ClientControl>>,
    service: Option<Service<Events>>,
    shared: Arc<Shared>,
    instance: Option<Arc<Instance>>,
}

extern "C" fn connected() {
    pr_info!("VCHIQ connected\n");
}

impl vchiq::Driver for Client {
    const NAME: &'static CStr = c_str!("vcsm-cma");

    fn probe(vdev: &VchiqDevice) -> Result<Pin<KBox<Self>>> {
        vdev.dma_configure()?;
        dma::set_mask_and_coherent(vdev.as_dev(), 32)?;
        vdev.add_connected_callback(connected);
        let instance = vdev.instance()?;
        instance.connect()?;
        let wq = OwnedQueue::new_ordered(c_str!("vchiq-test-client"))?;
        let shared = Arc::pin_init(
            pin_init!(Shared {
                state <- new_mutex!(State {
                    wq: Some(wq),
                    service: None,
                    version_acked: false,
                    last_trans_id: 0,
                    next_kernel_id: 1,
                    timeout_ms: 5000,
                    paused: false,
                    buffers: RBTree::new(),
                    waiting: RBTree::new(),
                    reply_order: KVec::new(),
                    last_import: KVec::new(),
                    ping_ns: KVec::new(),
                    ping_page: None,
                    last_checksum: None,
                    mem_reply: MemReply::Normal,
                    callbacks_registered: 0,
                    counters: Counters::default(),
                }),
                changed <- new_condvar!("vchiq_test_client::changed"),
                drain <- new_work!("vchiq_test_client::drain"),
                dev: vdev.get(),
            }),
            GFP_KERNEL,
        )?;
        // From here on, dropping `client` undoes everything (see `Drop`).
        let mut client = Client {
            control: None,
            service: None,
            shared: shared.clone(),
            instance: Some(instance.clone()),
        };
        let events = Arc::new(Events(shared.clone()), GFP_KERNEL)?;
        let service = Service::open(
            &instance,
            smem::SERVICE_FOURCC,
            smem::SERVICE_VERSION,
            smem::SERVICE_VERSION_MIN,
            events,
        )?;
        let svc = service.service().clone();
        shared.state.lock().service = Some(svc.clone());
        client.service = Some(service);
        // `vchiq_open_service` leaves a use held; the driver drops it the same way.
        svc.release_service()?;
        shared.send(
            &svc,
            HostBody::ClientVersion {
                version: smem::PROTOCOL_VERSION,
            },
        )?;
        VDEV.store(
            core::ptr::from_ref::<Device>(vdev.as_dev())
                .cast_mut()
                .cast::<kext::bindings::vchiq_device>(),
            Ordering::Release,
        );
        let control = Arc::new(ClientControl(shared), GFP_KERNEL)?;
        client.control = Some(Dir::new(
            c_str!("vchiq-test-client"),
            control,
            &FILES,
            &CONTROL_FOPS,
        )?);
        pr_info!("bound to vcsm-cma: SMEM service {:#x}\n", svc.handle());
        Ok(KBox::pin(client, GFP_KERNEL)?)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        drop(self.control.take());
        VDEV.store(core::ptr::null_mut(), Ordering::Release);
        let shared = &self.shared;
        // Give back every handle the VPU has and wait (bounded) for RELEASED.
        if let Ok(svc) = shared.service() {
            let mapped: KVec<u32> = {
                let g = shared.state.lock();
                let mut v = KVec::new();
                for (kid, b) in g.buffers.iter() {
                    if b.state == BufState::Mapped
                        && !b.vpu_alloc
                        && v.push(*kid, GFP_KERNEL).is_err()
                    {
                        break;
                    }
                }
                v
            };
            for kid in mapped.iter() {
                let _ = shared.free(*kid);
            }
            let deadline = now_ms() + REMOVE_WAIT_MS;
            let mut g = shared.state.lock();
            while g.version_acked
                && g.buffers.values().any(|b| b.state == BufState::Freeing)
                && now_ms() < deadline
            {
                let _ = shared
                    .changed
                    .wait_interruptible_timeout(&mut g, msecs_to_jiffies(50));
                if kernel::current!().signal_pending() {
                    break;
                }
            }
            drop(g);
            drop(svc);
        }
        // No callback after this; then no work.
        drop(self.service.take());
        let wq = shared.state.lock().wq.take();
        drop(wq);
        let (svc, buffers) = {
            let mut g = shared.state.lock();
            (
                g.service.take(),
                core::mem::replace(&mut g.buffers, RBTree::new()),
            )
        };
        drop(svc);
        let left = buffers
            .values()
            .filter(|b| b.state != BufState::Rejected)
            .count();
        if left != 0 {
            pr_info!(
                "remove: freeing {} buffer(s) the VPU did not release\n",
                left
            );
        }
        drop(buffers);
        drop(self.instance.take());
    }
}
