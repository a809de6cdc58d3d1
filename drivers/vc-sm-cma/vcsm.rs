// SPDX-License-Identifier: GPL-2.0

//! The VCHIQ service client and the life of the device: connecting once VCHIQ is up, sending
//! messages, taking received ones off the VCHIQ callback, and tearing everything down.
//!
//! Received messages are not processed in the VCHIQ callback: the callback keeps the message
//! on the service's queue (`vchiq_msg_queue_push`) and queues [`Vcsm`]'s receive work on an
//! ordered workqueue, which takes messages with `vchiq_msg_hold`, copies them, hands them
//! back at once (`vchiq_release_message`) and then dispatches them, in the order they came.
//! Replies complete their waiter; RELEASED is handled in place (it never sends); anything
//! that sends or allocates (a FREE after a late IMPORT reply, VC_MEM_REQUEST) goes to a second
//! workqueue, so the receive path never blocks on the VPU. (Handling replies and RELEASED in
//! the callback itself was tried for the import round trip: in six `make bench` runs it saved
//! no measurable time, and it puts RELEASED's unmap and detach on the path of the next reply;
//! see README, `make bench`.)
//!
//! # Locking
//!
//! Locks are taken in this order, and each is released before any dma-buf, workqueue or
//! VCHIQ call that may sleep for long:
//!
//! 1. [`Vcsm::conn`] (connection state; never held while sending),
//! 2. [`Vcsm::wq`] (only around `queue_work`),
//! 3. [`Vcsm::bufs`] (the buffer registry),
//! 4. [`Vcsm::trans`] (pending transactions; a leaf).
//!
//! The use counts of [`Vcsm::io`] and [`Vcsm::ops`] have leaf locks of their own.
//!
//! Objects whose drop releases memory or dma-buf references (registry entries, services,
//! registrations) are dropped after the lock that guarded them is released.

use crate::kext::compat::ARef;
use crate::{
    buffer::Registry,
    debugfs::DebugFiles,
    firmware::FirmwareInfo,
    ioctl::{self, VcsmMisc},
    kext::{
        dma::{self, DataDirection},
        miscdev,
        ratelimit::pr_limited,
        revocable::{Revocable, UseGuard},
        workqueue::OwnedQueue,
    },
    mapcache::MapCache,
    params,
    smem::{self, HostBody, HostMsg, VpuMsg, MAX_MSG_LEN},
    transaction::{Late, TransTable},
    vchiq::{self, Incoming, ServiceHandler, ServiceRef, VchiqDevice},
    window::VpuWindow,
    NAME,
};
use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use kernel::{
    c_str,
    device::Device,
    impl_has_work, new_condvar, new_mutex, new_work,
    prelude::*,
    sync::{Arc, CondVar, Mutex},
    time::msecs_to_jiffies,
    workqueue::{Work, WorkItem},
};

/// How long the connect step waits for the VPU to acknowledge protocol 2, at most.
const ACK_WAIT_MS: u32 = 500;

/// Where the device is in its life.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Phase {
    /// Bound; waiting for VCHIQ to connect.
    Probed,
    /// Opening the service and announcing the protocol.
    Connecting,
    /// Serving: `/dev/vcsm-cma` and the kernel API work.
    Ready,
    /// Connecting failed; the device stays bound but unusable.
    Failed,
    /// Being removed.
    Removing,
}

/// The VCHIQ connection and what exists only while it is up.
pub(crate) struct Conn {
    pub(crate) phase: Phase,
    /// The open service; closed when dropped.
    service: Option<vchiq::Service<Handler>>,
    misc: Option<miscdev::Registration<VcsmMisc>>,
    debugfs: Option<DebugFiles>,
}

/// The workqueues. Work items are queued with [`Vcsm::wq`] held, and only teardown takes
/// other references, so a work item never drops the last one (which would destroy its own
/// queue from inside it).
struct Queues {
    /// Ordered: the receive work.
    rx: OwnedQueue,
    /// The connect work and [`Event`]s (they send or allocate).
    ev: OwnedQueue,
}

/// The vchiq device the driver is bound to: a counted reference, so the device's memory
/// outlives the driver's state; only the connect work uses it, which [`Vcsm::remove`] waits for
/// before the device is unbound.
struct BoundDevice(ARef<VchiqDevice>);

/// Counters shown in debugfs.
#[derive(Default)]
pub(crate) struct Stats {
    pub(crate) timeouts: AtomicU32,
    pub(crate) interrupted: AtomicU32,
    pub(crate) late_replies: AtomicU32,
    pub(crate) unexpected_replies: AtomicU32,
    pub(crate) bad_messages: AtomicU32,
    pub(crate) released_unknown: AtomicU32,
    pub(crate) mem_requests: AtomicU32,
    pub(crate) mem_request_failures: AtomicU32,
    pub(crate) free_failures: AtomicU32,
    /// Allocations the CMA pool could not serve (the DMA API's page-allocator fallback was
    /// refused).
    pub(crate) cma_fallbacks: AtomicU32,
    /// Requests refused by a pin cap (`pins.rs`).
    pub(crate) pin_refused: AtomicU64,
    /// Imports and allocations refused because the VPU cannot reach them (`window.rs`).
    pub(crate) window_refused: AtomicU32,
}

/// One bound VideoCore: the SMEM service client and everything shared with the VPU.
#[pin_data]
pub(crate) struct Vcsm {
    /// The vchiq device: the DMA device buffers are mapped for.
    pub(crate) dev: ARef<Device>,
    vdev: BoundDevice,
    #[pin]
    pub(crate) conn: Mutex<Conn>,
    /// Signalled when the VPU acknowledges the protocol.
    #[pin]
    conn_cv: CondVar,
    /// What senders and the receive work use of the open service; teardown revokes it and
    /// waits for every use to end before it closes the service.
    #[pin]
    io: Revocable<ServiceRef>,
    /// Requests (imports, allocations) under way: teardown revokes this and waits for them
    /// to end before the device's DMA set-up goes, so no request allocates or maps through a
    /// device whose DMA configuration is gone.
    #[pin]
    ops: Revocable<()>,
    #[pin]
    wq: Mutex<Option<Arc<Queues>>>,
    /// Every buffer the driver knows (see `buffer.rs`).
    #[pin]
    pub(crate) bufs: Mutex<Registry>,
    /// The device's mappings of imported dma-bufs (see `mapcache.rs`).
    pub(crate) maps: Arc<MapCache>,
    /// Base and size of the system CMA pool driver allocations come from (`alloc.rs`).
    pub(crate) cma: Option<(u64, u64)>,
    /// What the Raspberry Pi firmware said at probe (`firmware.rs`).
    pub(crate) firmware: FirmwareInfo,
    /// The ARM memory the VPU may be handed (`window.rs`).
    pub(crate) window: VpuWindow,
    /// Signalled when a buffer leaves the VPU or the registry.
    #[pin]
    pub(crate) bufs_cv: CondVar,
    /// Requests waiting for a reply (see `transaction.rs`).
    #[pin]
    pub(crate) trans: Mutex<TransTable>,
    /// Signalled when a reply arrives or the connection closes.
    #[pin]
    pub(crate) trans_cv: CondVar,
    /// The VPU acknowledged protocol 2: it sends RELEASED after FREE.
    pub(crate) protocol_v2: AtomicBool,
    pub(crate) stats: Stats,
    #[pin]
    rx_work: Work<Vcsm, 1>,
    #[pin]
    connect_work: Work<Vcsm, 2>,
}

impl_has_work! {
    impl HasWork<Self, 1> for Vcsm { self.rx_work }
    impl HasWork<Self, 2> for Vcsm { self.connect_work }
}

impl WorkItem<1> for Vcsm {
    type Pointer = Arc<Vcsm>;

    fn run(this: Arc<Vcsm>) {
        this.receive();
    }
}

impl WorkItem<2> for Vcsm {
    type Pointer = Arc<Vcsm>;

    fn run(this: Arc<Vcsm>) {
        this.connect();
    }
}

/// Receives the service callbacks.
struct Handler {
    // A reference cycle (the service is in `Vcsm::conn`), broken when teardown closes the
    // service, which drops the handler.
    vcsm: Arc<Vcsm>,
}

impl ServiceHandler for Handler {
    fn message(&self, msg: Incoming<'_>) {
        // Keep it on the service's queue and let the receive work take it.
        msg.push();
        self.vcsm.kick_receive();
    }

    fn closed(&self) {
        pr_info!("VCHIQ service SMEM closed\n");
    }
}

/// Work items for events that send or allocate, run on the event workqueue.
pub(crate) enum Event {
    /// The reply to an IMPORT whose caller gave up.
    LateImport(Late),
    /// The VPU asks for memory.
    MemRequest(smem::VcMemRequest),
}

#[pin_data]
pub(crate) struct EventWork {
    vcsm: Arc<Vcsm>,
    event: Event,
    #[pin]
    work: Work<EventWork>,
}

impl_has_work! {
    impl HasWork<Self> for EventWork { self.work }
}

impl EventWork {
    /// What the work item handles.
    pub(crate) fn event(&self) -> &Event {
        &self.event
    }
}

impl WorkItem for EventWork {
    type Pointer = Arc<EventWork>;

    fn run(this: Arc<EventWork>) {
        match &this.event {
            Event::LateImport(late) => this.vcsm.late_import(late),
            Event::MemRequest(req) => this.vcsm.serve_mem_request(req),
        }
    }
}

impl Vcsm {
    /// Sets up the state for a newly bound vchiq device.
    pub(crate) fn new(vdev: &VchiqDevice, firmware: FirmwareInfo) -> Result<Arc<Self>> {
        let dev = vdev.get();
        // 32-bit masks, and segments of up to 1 GiB - 1 so that a contiguous buffer maps as one.
        dma::set_mask_and_coherent(&dev, 32)
            .inspect_err(|e| pr_err!("cannot set up DMA: {:?}\n", e))?;
        dma::set_max_seg_size(&dev, 0x3fff_ffff);
        let cma = match dma::adopt_default_cma(&dev) {
            Ok((base, size)) => {
                pr_info!(
                    "MEM_ALLOC and VC_MEM_REQUEST memory comes from the system CMA pool at {:#x}, {} MiB\n",
                    base,
                    size >> 20
                );
                Some((base, size))
            }
            Err(_) => {
                pr_warn!(
                    "no system CMA pool (reusable /reserved-memory node with linux,cma-default; not replaced by cma= on the command line): MEM_ALLOC and VC_MEM_REQUEST will fail, imports work\n"
                );
                None
            }
        };
        let window = VpuWindow::probe(&dev, &firmware);
        if let Some((base, size)) = cma {
            if !window.contains_cpu(base, size) {
                pr_err!(
                    "the system CMA pool at {:#x}, {} MiB, is not all inside the VPU's window ({}): MEM_ALLOC and VC_MEM_REQUEST memory the VPU cannot reach is refused; keep linux,cma in the first GiB (its alloc-ranges)\n",
                    base,
                    size >> 20,
                    window
                );
            }
        }
        let this = Self::alloc(vdev, dev.clone(), cma, firmware, window);
        if this.is_err() {
            dma::release_params(&dev);
        }
        this
    }

    fn alloc(
        vdev: &VchiqDevice,
        dev: ARef<Device>,
        cma: Option<(u64, u64)>,
        firmware: FirmwareInfo,
        window: VpuWindow,
    ) -> Result<Arc<Self>> {
        let queues = Arc::new(
            Queues {
                rx: OwnedQueue::new_ordered(c_str!("vcsm-cma-rx"))?,
                ev: OwnedQueue::new(c_str!("vcsm-cma-ev"), 0)?,
            },
            GFP_KERNEL,
        )?;
        let maps = MapCache::new()?;
        Arc::pin_init(
            try_pin_init!(Self {
                dev,
                vdev: BoundDevice(ARef::from(vdev)),
                conn <- new_mutex!(
                    Conn {
                        phase: Phase::Probed,
                        service: None,
                        misc: None,
                        debugfs: None,
                    },
                    "vcsm:conn"
                ),
                conn_cv <- new_condvar!("vcsm:conn_cv"),
                io <- Revocable::new(None),
                ops <- Revocable::new(Some(())),
                wq <- new_mutex!(Some(queues), "vcsm:wq"),
                bufs <- new_mutex!(Registry::new(), "vcsm:bufs"),
                maps,
                cma,
                firmware,
                window,
                bufs_cv <- new_condvar!("vcsm:bufs_cv"),
                trans <- new_mutex!(TransTable::new(params::first_trans_id()), "vcsm:trans"),
                trans_cv <- new_condvar!("vcsm:trans_cv"),
                protocol_v2: AtomicBool::new(false),
                stats: Stats::default(),
                rx_work <- new_work!("vcsm:rx_work"),
                connect_work <- new_work!("vcsm:connect_work"),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues the connect work (VCHIQ is connected).
    pub(crate) fn schedule_connect(self: &Arc<Self>) {
        let wq = self.wq.lock();
        if let Some(q) = &*wq {
            // Already queued: nothing to do.
            let _ = q.ev.enqueue::<Arc<Vcsm>, 2>(self.clone());
        }
    }

    /// Queues the receive work (a message arrived).
    fn kick_receive(self: &Arc<Self>) {
        let wq = self.wq.lock();
        if let Some(q) = &*wq {
            // Already queued: that run will see the new message.
            let _ = q.rx.enqueue::<Arc<Vcsm>, 1>(self.clone());
        }
    }

    /// Queues `event` on the event workqueue.
    pub(crate) fn queue_event(self: &Arc<Self>, event: Event) -> Result {
        let item = self.new_event(event)?;
        self.enqueue_event(item)
    }

    /// A work item for `event`, to be queued later with [`Vcsm::enqueue_event`] (where no
    /// allocation may fail).
    pub(crate) fn new_event(self: &Arc<Self>, event: Event) -> Result<Arc<EventWork>> {
        Arc::pin_init(
            pin_init!(EventWork {
                vcsm: self.clone(),
                event,
                work <- new_work!("vcsm:event"),
            }),
            GFP_KERNEL,
        )
    }

    /// Queues a work item from [`Vcsm::new_event`] on the event workqueue (allocates nothing).
    pub(crate) fn enqueue_event(self: &Arc<Self>, item: Arc<EventWork>) -> Result {
        let wq = self.wq.lock();
        match &*wq {
            Some(q) => q.ev.enqueue(item).map_err(|_| EBUSY),
            None => Err(ENODEV),
        }
    }

    /// The current phase.
    pub(crate) fn phase(&self) -> Phase {
        self.conn.lock().phase
    }

    /// Fails unless the device serves requests.
    pub(crate) fn ensure_ready(&self) -> Result {
        match self.phase() {
            Phase::Ready => Ok(()),
            Phase::Removing => Err(ENODEV),
            _ => Err(EPERM),
        }
    }

    /// Starts a request that uses the device (see [`Vcsm::ops`]); fails unless the device
    /// serves requests.
    pub(crate) fn begin_op(&self) -> Result<UseGuard<'_, ()>> {
        // A request that passes this check before teardown starts is waited for; one that
        // passes it after teardown revoked `ops` fails here.
        self.ensure_ready()?;
        self.ops.try_access().ok_or(ENODEV)
    }

    /// Starts a use of the service; fails with `ENODEV` when there is none.
    fn begin_io(&self) -> Result<UseGuard<'_, ServiceRef>> {
        self.io.try_access().ok_or(ENODEV)
    }

    /// Sends one message; blocks until VCHIQ has queued it.
    pub(crate) fn send(&self, msg: &HostMsg) -> Result {
        let mut buf = [0u8; MAX_MSG_LEN];
        let len = msg.encode(&mut buf);
        let data = buf.get(..len).ok_or(EINVAL)?;
        let io = self.begin_io()?;
        // Keep the VideoCore awake while the message is queued.
        let used = io.use_service().is_ok();
        let res = io.queue_kernel_message(data);
        if used {
            let _ = io.release_service();
        }
        res
    }

    /// Sends a message that gets no reply, with a fresh transaction id.
    pub(crate) fn send_oneway(&self, body: HostBody) -> Result {
        let id = self.trans.lock().next_untracked_id();
        self.send(&HostMsg::new(id, body))
    }

    /// The receive work: takes every queued message, hands it back, dispatches it.
    fn receive(self: &Arc<Self>) {
        let Ok(io) = self.begin_io() else {
            return;
        };
        while let Some(msg) = io.hold() {
            let mut buf = [0u8; MAX_MSG_LEN];
            let data = msg.data();
            let len = data.len();
            let copied = match buf.get_mut(..len) {
                Some(dst) => {
                    dst.copy_from_slice(data);
                    true
                }
                None => false,
            };
            // Back to VCHIQ before any processing, so its slots are never held up by us.
            drop(msg);
            match buf.get(..len) {
                Some(data) if copied => self.dispatch(data),
                _ => {
                    self.stats.bad_messages.fetch_add(1, Ordering::Relaxed);
                    pr_limited!(
                        pr_warn,
                        "dropping a {} byte message from the VPU (at most {})\n",
                        len,
                        MAX_MSG_LEN
                    );
                }
            }
        }
    }

    /// Hands a reply to its waiter (receive work). Allocates nothing and never sends.
    fn handle_reply(self: &Arc<Self>, reply: smem::Reply) {
        if let Some(late) = self.complete(reply) {
            // Sending FREE may block on the VPU: not here.
            let kernel_id = match late.event() {
                Event::LateImport(l) => l.kernel_id,
                Event::MemRequest(_) => 0,
            };
            if let Err(e) = self.enqueue_event(late) {
                pr_limited!(
                    pr_err,
                    "cannot queue the late IMPORT reply for buffer {} ({:?}); it is released at teardown\n",
                    kernel_id,
                    e
                );
            }
        }
    }

    /// Handles one message from the VPU.
    fn dispatch(self: &Arc<Self>, data: &[u8]) {
        match VpuMsg::decode(data) {
            Ok(VpuMsg::Reply(reply)) => self.handle_reply(reply),
            Ok(VpuMsg::ClientVersionAck) => {
                if !self.protocol_v2.swap(true, Ordering::AcqRel) {
                    pr_info!(
                        "VPU acknowledged protocol {}: buffers are freed on RELEASED\n",
                        smem::PROTOCOL_VERSION
                    );
                }
                let _conn = self.conn.lock();
                self.conn_cv.notify_all();
            }
            Ok(VpuMsg::Released(rel)) => self.released(&rel),
            Ok(VpuMsg::VcMemRequest(req)) => {
                self.stats.mem_requests.fetch_add(1, Ordering::Relaxed);
                let trans_id = req.trans_id;
                if let Err(e) = self.queue_event(Event::MemRequest(req)) {
                    pr_limited!(
                        pr_err,
                        "cannot queue VC_MEM_REQUEST {}: {:?}\n",
                        trans_id,
                        e
                    );
                    self.refuse_mem_request(trans_id);
                }
            }
            Err(e) => {
                self.stats.bad_messages.fetch_add(1, Ordering::Relaxed);
                pr_limited!(
                    pr_warn,
                    "dropping a malformed {} byte message from the VPU: {:?}\n",
                    data.len(),
                    e
                );
            }
        }
    }

    /// The connect work: opens the service, announces the protocol, registers the device
    /// node and debugfs.
    fn connect(self: &Arc<Self>) {
        {
            let mut conn = self.conn.lock();
            if conn.phase != Phase::Probed {
                return;
            }
            conn.phase = Phase::Connecting;
        }
        let res = self.try_connect();
        let mut conn = self.conn.lock();
        match res {
            Ok(()) if conn.phase == Phase::Connecting => {
                conn.phase = Phase::Ready;
                pr_info!(
                    "connected to the VPU (protocol {}); /dev/{} ready\n",
                    if self.protocol_v2.load(Ordering::Acquire) {
                        2
                    } else {
                        1
                    },
                    NAME
                );
            }
            Ok(()) => {}
            Err(e) => {
                pr_err!("cannot connect to the VPU: {:?}\n", e);
                if conn.phase == Phase::Connecting {
                    conn.phase = Phase::Failed;
                }
            }
        }
    }

    fn try_connect(self: &Arc<Self>) -> Result {
        // The device is bound while this work runs (the invariant of `BoundDevice`).
        let vdev = &*self.vdev.0;
        let instance = vdev
            .instance()
            .inspect_err(|e| pr_err!("vchiq_initialise failed: {:?}\n", e))?;
        instance
            .connect()
            .inspect_err(|e| pr_err!("vchiq_connect failed: {:?}\n", e))?;
        let handler = Arc::new(Handler { vcsm: self.clone() }, GFP_KERNEL)?;
        let service = vchiq::Service::open(
            &instance,
            smem::SERVICE_FOURCC,
            smem::SERVICE_VERSION,
            smem::SERVICE_VERSION_MIN,
            handler,
        )
        .inspect_err(|e| pr_err!("cannot open VCHIQ service SMEM: {:?}\n", e))?;
        let svc = service.service().clone();
        // Drop the use `vchiq_open_service` leaves held: we use the service per message.
        let _ = svc.release_service();
        {
            let mut conn = self.conn.lock();
            if conn.phase != Phase::Connecting {
                drop(conn);
                drop(service);
                return Err(ENODEV);
            }
            if let Err(svc) = self.io.provide(svc) {
                // Teardown revoked it: it starts with the phase, which was checked above.
                drop(conn);
                drop(svc);
                drop(service);
                return Err(ENODEV);
            }
            conn.service = Some(service);
        }

        self.send_oneway(HostBody::ClientVersion {
            version: smem::PROTOCOL_VERSION,
        })
        .inspect_err(|e| pr_err!("cannot send CLIENT_VERSION: {:?}\n", e))?;
        // Firmware that speaks protocol 2 acknowledges at once. Without the acknowledgement,
        // FREE is final (protocol 1); a late acknowledgement still switches to protocol 2.
        {
            let mut conn = self.conn.lock();
            let mut left = msecs_to_jiffies(ACK_WAIT_MS.min(params::timeout_ms()));
            while !self.protocol_v2.load(Ordering::Acquire) && left > 0 {
                match self.conn_cv.wait_interruptible_timeout(&mut conn, left) {
                    kernel::sync::CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                    _ => break,
                }
            }
        }
        if !self.protocol_v2.load(Ordering::Acquire) {
            pr_warn!("the VPU did not acknowledge protocol 2: buffers are released on FREE\n");
        }

        let misc = ioctl::register(self.clone())?;
        let debugfs = DebugFiles::new(self.clone())
            .inspect_err(|e| pr_warn!("no debugfs state file: {:?}\n", e))
            .ok();
        let mut conn = self.conn.lock();
        conn.misc = Some(misc);
        conn.debugfs = debugfs;
        Ok(())
    }

    /// Tears the device down (driver unbind or module unload).
    ///
    /// Waits for the connect work, removes the device node and debugfs, tells the VPU to let
    /// go of every buffer and waits (up to `timeout_ms`) for it to confirm, closes the
    /// service, stops the workqueues, fails waiting requests and releases what the VPU still
    /// held. Buffers whose dma-buf is still open stay alive (without a VPU handle) until it is
    /// closed.
    pub(crate) fn remove(self: &Arc<Self>) {
        self.conn.lock().phase = Phase::Removing;
        // An IMPORT whose reply comes from now on is given back at once (see `share`).
        self.bufs.lock().removing = true;
        let queues = self.wq.lock().clone();
        // The connect work and queued events finish (a connect that sees `Removing` stops).
        if let Some(q) = &queues {
            q.ev.flush();
        }
        let (misc, debugfs) = {
            let mut conn = self.conn.lock();
            (conn.misc.take(), conn.debugfs.take())
        };
        // No new opens of /dev/vcsm-cma, no new debugfs reads.
        drop(misc);
        drop(debugfs);

        // Buffers still mapped by the VPU: tell it, and give it time to answer.
        self.unshare_all();
        self.wait_vpu_idle(params::timeout_ms());

        // Take the last messages, then close the service.
        if let Some(q) = &queues {
            q.rx.flush();
        }
        drop(self.io.revoke_and_wait());
        let service = self.conn.lock().service.take();
        // `vchiq_close_service`; no callbacks after this. The instance is shut down
        // (`vchiq_shutdown`) with its last reference, the service's.
        drop(service);

        // Stop the workqueues: everything queued runs first (sends now fail).
        drop(queues);
        let queues = self.wq.lock().take();
        drop(queues);

        self.close_transactions();
        self.forget_vpu();
        // Requests still under way fail now (no service, no transactions); wait for them to
        // let go of the device before its DMA set-up goes.
        self.ops.revoke_and_wait();
        // The driver core frees the device's DMA configuration (its `dma_range_map`) once this
        // returns: no mapping of it may outlive remove, not even of buffers whose wrapper is
        // still open (they stay usable as dma-bufs, without a VPU mapping).
        let held = self.maps.revoke();
        if held > 0 {
            pr_info!(
                "unmapped {} imported buffers from the VPU that are still open in userspace\n",
                held
            );
        }
        dma::release_params(&self.dev);
    }

    /// Waits up to `ms` for the VPU to let go of every buffer.
    fn wait_vpu_idle(&self, ms: u32) {
        let mut left = msecs_to_jiffies(ms);
        let mut reg = self.bufs.lock();
        while reg.vpu_busy() > 0 && left > 0 {
            match self.bufs_cv.wait_interruptible_timeout(&mut reg, left) {
                kernel::sync::CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                _ => break,
            }
        }
        let busy = reg.vpu_busy();
        drop(reg);
        if busy > 0 {
            pr_warn!(
                "the VPU still holds {} buffers after {} ms; releasing them at service close\n",
                busy,
                ms
            );
        }
    }
}

/// The default direction buffers are mapped for the VPU with.
pub(crate) const VPU_DIR: DataDirection = DataDirection::Bidirectional;
