// SPDX-License-Identifier: GPL-2.0

//! The VCHIQ side of the simulated VideoCore: instances, services, and message delivery.
//!
//! Host messages are handled when they are queued (`vchiq_queue_kernel_message`), by the SMEM
//! firmware model; everything the VPU sends back goes through an outbox and is delivered
//! asynchronously by the "pump", a work item on the simulator's own ordered workqueue, never
//! from inside a client's call. Delivering a message allocates a `vchiq_header` with its data
//! and calls the service callback with `VCHIQ_MESSAGE_AVAILABLE`, without the simulator's lock
//! held. The client keeps it (`vchiq_msg_queue_push`), takes it (`vchiq_msg_hold`), and hands it
//! back (`vchiq_release_message`), which frees it. A service with [`MAX_UNRELEASED`] messages
//! not handed back stalls the pump, like VCHIQ running out of slots.

use crate::{
    connection::Connection,
    firmware::{Firmware, Post},
    kext::{bindings as ext, workqueue::OwnedQueue},
    smem::{self, VpuMsg},
    support::debugfs::{on_off, SeqFile},
    vpu_mem::{Bus, Window},
};
use core::{
    ffi::{c_int, c_uint, c_void},
    ptr,
};
use kernel::{
    c_str, impl_has_work, new_condvar, new_mutex, new_work,
    prelude::*,
    rbtree::RBTree,
    sync::{
        lock::{mutex::MutexBackend, Guard},
        Arc, CondVar, Mutex,
    },
    time::msecs_to_jiffies,
    workqueue::{Work, WorkItem},
};

/// The firmware's SMEM service version, and the oldest client version it accepts.
const SMEM_VERSION: i16 = 1;
const SMEM_VERSION_MIN: i16 = 0;
/// The largest VCHIQ message: a 4096-byte slot minus the header.
const MAX_MSG_SIZE: usize = 4096 - 8;
/// Messages delivered to a service and not handed back before delivery stalls.
pub(crate) const MAX_UNRELEASED: usize = 64;
/// Marks live simulator instances ("vpusim01").
const INSTANCE_MAGIC: u64 = 0x7670_7573_696d_3031;

type SimGuard<'a> = Guard<'a, Inner, MutexBackend>;

fn now_ms() -> i64 {
    crate::kext::compat::ktime_get_ms()
}

/// A message as delivered: the VCHIQ header followed by the data, as `struct vchiq_header`'s
/// flexible `data[]` expects.
#[repr(C)]
struct SimMsg {
    header: ext::vchiq_header,
    data: [u8; smem::MAX_MSG_LEN],
}

/// Where a delivered message is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum MsgState {
    /// Given to the callback, neither pushed nor released.
    Delivered,
    /// Pushed (`vchiq_msg_queue_push`), with its queue position.
    Queued(u64),
    /// Taken with `vchiq_msg_hold`.
    Held,
}

struct MsgRec {
    msg: KBox<SimMsg>,
    state: MsgState,
}

impl MsgRec {
    fn header_ptr(&self) -> *mut ext::vchiq_header {
        ptr::addr_of!(self.msg.header).cast_mut()
    }
}

/// The parameters a client opened a service with.
struct Params(ext::vchiq_service_params_kernel);

// SAFETY: The callback and userdata are the client's; VCHIQ may call them from any thread.
unsafe impl Send for Params {}

struct ServiceRec {
    instance: u64,
    /// The client's `struct vchiq_instance *` (our `SimInstance`), passed back in callbacks.
    instance_ptr: usize,
    params: Params,
    use_count: i32,
    closing: bool,
    /// Callbacks running (the lock is not held during them).
    in_callback: u32,
    /// The task running a callback, to refuse closing the service from inside it.
    callback_task: usize,
    msgs: RBTree<u64, MsgRec>,
    next_push: u64,
}

struct InstanceRec {
    connected: bool,
}

/// A message on its way to the host.
struct Outgoing {
    service: u32,
    due_ms: i64,
    reply: bool,
    bytes: [u8; smem::MAX_MSG_LEN],
    len: usize,
}

/// Messages not yet delivered, by posting order.
struct Outbox {
    entries: RBTree<u64, Outgoing>,
    next_seq: u64,
}

impl Post for Outbox {
    fn post(&mut self, service: u32, msg: &VpuMsg, delay_ms: u32, reply: bool) -> Result {
        let mut bytes = [0u8; smem::MAX_MSG_LEN];
        let len = msg.encode(&mut bytes);
        let seq = self.next_seq;
        self.next_seq += 1;
        let out = Outgoing {
            service,
            due_ms: now_ms() + i64::from(delay_ms),
            reply,
            bytes,
            len,
        };
        self.entries.try_create_and_insert(seq, out, GFP_KERNEL)?;
        Ok(())
    }
}

impl Outbox {
    /// The next message to deliver at `now`, if any is due. With `reorder`, a due reply makes
    /// the newest pending reply go first.
    fn pick(&self, now: i64, reorder: bool) -> Option<u64> {
        let (first, out) = self.entries.iter().find(|(_, o)| o.due_ms <= now)?;
        if reorder && out.reply {
            return self
                .entries
                .iter()
                .filter(|(_, o)| o.reply)
                .map(|(k, _)| *k)
                .last();
        }
        Some(*first)
    }

    fn earliest_due(&self) -> Option<i64> {
        self.entries.values().map(|o| o.due_ms).min()
    }

    fn remove_service(&mut self, service: u32) {
        let mut stale = KVec::new();
        for (k, o) in self.entries.iter() {
            if o.service == service && stale.push(*k, GFP_KERNEL).is_err() {
                break;
            }
        }
        for k in stale.iter() {
            self.entries.remove(k);
        }
    }

    /// RELEASED messages not delivered yet.
    fn pending_releases(&self) -> usize {
        self.entries
            .values()
            .filter(|o| {
                matches!(
                    o.bytes.get(..o.len).map(VpuMsg::decode),
                    Some(Ok(VpuMsg::Released(_)))
                )
            })
            .count()
    }
}

struct Inner {
    stopping: bool,
    wq: Option<OwnedQueue>,
    fw: Firmware,
    instances: RBTree<u64, InstanceRec>,
    next_instance: u64,
    services: RBTree<u32, ServiceRec>,
    next_service: u32,
    outbox: Outbox,
    next_msg: u64,
}

/// A client's `struct vchiq_instance`.
pub(crate) struct SimInstance {
    magic: u64,
    id: u64,
    sim: Arc<Sim>,
}

impl SimInstance {
    /// The instance behind a client's pointer.
    ///
    /// # Safety
    ///
    /// `ptr` must be NULL or a pointer [`Sim::initialise`] returned that has not been passed to
    /// [`Sim::shutdown_instance`].
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut ext::vchiq_instance) -> Result<&'a Self> {
        if ptr.is_null() {
            pr_err!("VCHIQ call with a NULL instance\n");
            return Err(EINVAL);
        }
        // SAFETY: The caller guarantees `ptr` is a live `SimInstance`.
        let this = unsafe { &*ptr.cast::<Self>() };
        if this.magic != INSTANCE_MAGIC {
            pr_err!("VCHIQ call with an instance the simulator did not create\n");
            return Err(EINVAL);
        }
        Ok(this)
    }

    /// The simulator.
    pub(crate) fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }
}

/// The simulated VideoCore.
#[pin_data]
pub(crate) struct Sim {
    #[pin]
    inner: Mutex<Inner>,
    /// Signalled on every change a waiter may care about: new messages, settings, messages
    /// handed back, callbacks finished, shutdown.
    #[pin]
    changed: CondVar,
    #[pin]
    pump: Work<Sim>,
    bus: Bus,
    conn: Connection,
}

impl_has_work! {
    impl HasWork<Self> for Sim { self.pump }
}

impl WorkItem for Sim {
    type Pointer = Arc<Sim>;

    fn run(this: Arc<Sim>) {
        this.run_pump();
    }
}

impl Sim {
    /// A simulator whose VPU sees memory through `bus`, with the VCHIQ connection `conn`.
    pub(crate) fn new(bus: Bus, conn: Connection) -> Result<Arc<Self>> {
        let wq = OwnedQueue::new_ordered(c_str!("vpu-sim"))?;
        let inner = Inner {
            stopping: false,
            wq: Some(wq),
            fw: Firmware::new(),
            instances: RBTree::new(),
            next_instance: 1,
            services: RBTree::new(),
            next_service: 0x100,
            outbox: Outbox {
                entries: RBTree::new(),
                next_seq: 1,
            },
            next_msg: 1,
        };
        Arc::pin_init(
            pin_init!(Self {
                inner <- new_mutex!(inner, "vpu_sim::inner"),
                changed <- new_condvar!("vpu_sim::changed"),
                pump <- new_work!("vpu_sim::pump"),
                bus,
                conn,
            }),
            GFP_KERNEL,
        )
    }

    /// Stops delivering and waits for the pump; called once, after every client is gone.
    pub(crate) fn shutdown(&self) {
        let wq = {
            let mut g = self.inner.lock();
            g.stopping = true;
            g.wq.take()
        };
        self.changed.notify_all();
        // Runs the pump to completion (it sees `stopping`) and frees the workqueue.
        drop(wq);
        let g = self.inner.lock();
        let services = g.services.iter().count();
        let instances = g.instances.iter().count();
        if services != 0 || instances != 0 {
            pr_err!(
                "removed with {} instance(s) and {} service(s) a client never shut down\n",
                instances,
                services
            );
        }
    }

    /// Makes the pump run (again) and wakes everything waiting for a change.
    fn kick(self: &Arc<Self>, g: &Inner) {
        if let Some(wq) = &g.wq {
            // Fails only when the pump is already queued, which is just as good.
            let _ = wq.enqueue(self.clone());
        }
        self.changed.notify_all();
    }

    // ---- The VCHIQ client API (see vpu_sim.rs for the C entry points) ----

    /// `vchiq_initialise`: a new instance, as the pointer the client keeps.
    pub(crate) fn initialise(self: &Arc<Self>) -> Result<*mut ext::vchiq_instance> {
        let mut g = self.inner.lock();
        if g.stopping {
            return Err(ENODEV);
        }
        let id = g.next_instance;
        g.next_instance += 1;
        let inst = KBox::new(
            SimInstance {
                magic: INSTANCE_MAGIC,
                id,
                sim: self.clone(),
            },
            GFP_KERNEL,
        )?;
        g.instances
            .try_create_and_insert(id, InstanceRec { connected: false }, GFP_KERNEL)?;
        Ok(KBox::into_raw(inst).cast())
    }

    /// `vchiq_shutdown`: closes the instance's services and frees it.
    ///
    /// # Safety
    ///
    /// `ptr` must be a live instance returned by [`Sim::initialise`]; it is freed.
    pub(crate) unsafe fn shutdown_instance(ptr: *mut ext::vchiq_instance) -> Result {
        // SAFETY: The caller guarantees `ptr` is live.
        let inst = unsafe { SimInstance::from_raw(ptr) }?;
        let sim = inst.sim.clone();
        loop {
            let handle = {
                let g = sim.inner.lock();
                g.services
                    .iter()
                    .find(|(_, s)| s.instance == inst.id && !s.closing)
                    .map(|(h, _)| *h)
            };
            let Some(handle) = handle else { break };
            sim.close_service(inst, handle)?;
        }
        sim.inner.lock().instances.remove(&inst.id);
        // SAFETY: `ptr` came from `KBox::into_raw` in `initialise`, and the caller passes it
        // here once; nothing refers to it any more (its services are closed).
        let mut inst = unsafe { KBox::from_raw(ptr.cast::<SimInstance>()) };
        inst.magic = 0;
        drop(inst);
        Ok(())
    }

    /// `vchiq_connect`.
    pub(crate) fn connect(&self, inst: &SimInstance) -> Result {
        let mut g = self.inner.lock();
        let rec = g.instances.get_mut(&inst.id).ok_or(EINVAL)?;
        rec.connected = true;
        Ok(())
    }

    /// `vchiq_open_service`: only SMEM exists on the simulated VPU.
    pub(crate) fn open_service(
        &self,
        inst: &SimInstance,
        inst_ptr: *mut ext::vchiq_instance,
        params: &ext::vchiq_service_params_kernel,
    ) -> Result<u32> {
        let fourcc = params.fourcc as u32;
        let mut g = self.inner.lock();
        if !g.instances.get(&inst.id).is_some_and(|i| i.connected) {
            pr_err!("vchiq_open_service before vchiq_connect\n");
            return Err(EINVAL);
        }
        if fourcc != smem::SERVICE_FOURCC {
            let b = fourcc.to_be_bytes();
            pr_err!(
                "vchiq_open_service: no service '{}{}{}{}' on the simulated VPU\n",
                b[0] as char,
                b[1] as char,
                b[2] as char,
                b[3] as char
            );
            return Err(EINVAL);
        }
        if params.version < SMEM_VERSION_MIN || params.version_min > SMEM_VERSION {
            pr_err!(
                "vchiq_open_service: SMEM client version {} (min {}) incompatible with firmware version {} (min {})\n",
                params.version,
                params.version_min,
                SMEM_VERSION,
                SMEM_VERSION_MIN
            );
            return Err(EINVAL);
        }
        if params.callback.is_none() {
            pr_err!("vchiq_open_service without a callback\n");
            return Err(EINVAL);
        }
        let handle = g.next_service;
        g.next_service = g.next_service.wrapping_add(1).max(0x100);
        let rec = ServiceRec {
            instance: inst.id,
            instance_ptr: inst_ptr as usize,
            params: Params(*params),
            // Like VCHIQ: an open service starts with one use held.
            use_count: 1,
            closing: false,
            in_callback: 0,
            callback_task: 0,
            msgs: RBTree::new(),
            next_push: 1,
        };
        g.services.try_create_and_insert(handle, rec, GFP_KERNEL)?;
        Ok(handle)
    }

    /// Looks up service `handle` of `inst`, counting a client error if there is none.
    fn service<'a>(
        g: &'a mut Inner,
        inst: &SimInstance,
        handle: u32,
        what: &str,
    ) -> Result<&'a mut ServiceRec> {
        match g.services.get_mut(&handle) {
            Some(s) if s.instance == inst.id => Ok(s),
            _ => {
                g.fw.counters.client_errors += 1;
                pr_err!("{}: no service {:#x} on this instance\n", what, handle);
                Err(EINVAL)
            }
        }
    }

    /// `vchiq_close_service`: no callback runs for the service once this returns; the last is
    /// `VCHIQ_SERVICE_CLOSED`.
    pub(crate) fn close_service(&self, inst: &SimInstance, handle: u32) -> Result {
        let me = current_task();
        let mut g = self.inner.lock();
        let svc = Self::service(&mut g, inst, handle, "vchiq_close_service")?;
        if svc.closing {
            pr_err!("vchiq_close_service({:#x}): already closing\n", handle);
            return Err(EINVAL);
        }
        if svc.in_callback > 0 && svc.callback_task == me {
            pr_err!(
                "vchiq_close_service({:#x}) from the service's own callback\n",
                handle
            );
            return Err(EBUSY);
        }
        svc.closing = true;
        g.outbox.remove_service(handle);
        while g.services.get(&handle).is_some_and(|s| s.in_callback > 0) {
            self.changed.wait(&mut g);
        }
        // The last callback: SERVICE_CLOSED, without the lock (the client may call us back).
        let (cb, inst_ptr) = match g.services.get_mut(&handle) {
            Some(s) => {
                s.in_callback += 1;
                s.callback_task = me;
                (s.params.0.callback, s.instance_ptr)
            }
            None => (None, 0),
        };
        drop(g);
        if let Some(cb) = cb {
            // SAFETY: The client registered `cb` for this service and instance; it is alive
            // until this call returns.
            unsafe {
                call_callback(
                    cb,
                    inst_ptr as *mut ext::vchiq_instance,
                    ext::vchiq_reason_VCHIQ_SERVICE_CLOSED,
                    ptr::null_mut(),
                    handle,
                )
            };
        }
        let mut g = self.inner.lock();
        let Some(svc) = g.services.remove(&handle) else {
            return Ok(());
        };
        let unreleased = svc.msgs.iter().count();
        if unreleased != 0 {
            g.fw.counters.client_errors += 1;
            pr_err!(
                "vchiq_close_service({:#x}): {} message(s) never released, freed now\n",
                handle,
                unreleased
            );
        }
        if svc.use_count != 0 {
            pr_info!(
                "vchiq_close_service({:#x}): closed with use count {}\n",
                handle,
                svc.use_count
            );
        }
        g.fw.service_closed(handle);
        drop(g);
        self.changed.notify_all();
        drop(svc);
        Ok(())
    }

    /// `vchiq_use_service`.
    pub(crate) fn use_service(&self, inst: &SimInstance, handle: u32) -> Result {
        let mut g = self.inner.lock();
        let svc = Self::service(&mut g, inst, handle, "vchiq_use_service")?;
        svc.use_count = svc.use_count.checked_add(1).ok_or(EINVAL)?;
        Ok(())
    }

    /// `vchiq_release_service`.
    pub(crate) fn release_service(&self, inst: &SimInstance, handle: u32) -> Result {
        let mut g = self.inner.lock();
        let svc = Self::service(&mut g, inst, handle, "vchiq_release_service")?;
        if svc.use_count <= 0 {
            g.fw.counters.client_errors += 1;
            pr_err!(
                "vchiq_release_service({:#x}) without a matching use\n",
                handle
            );
            return Err(EINVAL);
        }
        svc.use_count -= 1;
        Ok(())
    }

    /// `vchiq_queue_kernel_message`: the firmware handles the message now; its answers go out
    /// through the outbox.
    pub(crate) fn queue_message(
        self: &Arc<Self>,
        inst: &SimInstance,
        handle: u32,
        data: &[u8],
    ) -> Result {
        let mut g = self.inner.lock();
        let svc = Self::service(&mut g, inst, handle, "vchiq_queue_kernel_message")?;
        if svc.closing {
            return Err(EINVAL);
        }
        if data.is_empty() || data.len() > MAX_MSG_SIZE {
            g.fw.counters.client_errors += 1;
            pr_err!("vchiq_queue_kernel_message: bad size {}\n", data.len());
            return Err(EINVAL);
        }
        if g.fw.send_fails(data) {
            pr_info!("vchiq_queue_kernel_message: IMPORT send failed (fail_next)\n");
            return Err(EIO);
        }
        let Inner { fw, outbox, .. } = &mut *g;
        fw.receive(outbox, &self.bus, handle, data);
        self.kick(&g);
        Ok(())
    }

    /// `vchiq_msg_queue_push`.
    pub(crate) fn msg_queue_push(
        &self,
        inst: &SimInstance,
        handle: u32,
        header: *mut ext::vchiq_header,
    ) {
        let mut g = self.inner.lock();
        let Ok(svc) = Self::service(&mut g, inst, handle, "vchiq_msg_queue_push") else {
            return;
        };
        let pos = svc.next_push;
        let found = svc.msgs.values_mut().find(|m| m.header_ptr() == header);
        let err = match found {
            Some(m) if m.state == MsgState::Delivered => {
                m.state = MsgState::Queued(pos);
                svc.next_push += 1;
                None
            }
            Some(_) => Some("message already pushed or held"),
            None => Some("not a message delivered to this service"),
        };
        if let Some(why) = err {
            g.fw.counters.client_errors += 1;
            pr_err!("vchiq_msg_queue_push({:#x}): {}\n", handle, why);
        }
    }

    /// `vchiq_msg_hold`: the oldest pushed message, or NULL.
    pub(crate) fn msg_hold(&self, inst: &SimInstance, handle: u32) -> *mut ext::vchiq_header {
        let mut g = self.inner.lock();
        let Ok(svc) = Self::service(&mut g, inst, handle, "vchiq_msg_hold") else {
            return ptr::null_mut();
        };
        let oldest = svc
            .msgs
            .values_mut()
            .filter(|m| matches!(m.state, MsgState::Queued(_)))
            .min_by_key(|m| match m.state {
                MsgState::Queued(pos) => pos,
                _ => u64::MAX,
            });
        match oldest {
            Some(m) => {
                m.state = MsgState::Held;
                m.header_ptr()
            }
            None => ptr::null_mut(),
        }
    }

    /// `vchiq_release_message`: frees a delivered message.
    pub(crate) fn release_message(
        &self,
        inst: &SimInstance,
        handle: u32,
        header: *mut ext::vchiq_header,
    ) {
        let mut g = self.inner.lock();
        let Ok(svc) = Self::service(&mut g, inst, handle, "vchiq_release_message") else {
            return;
        };
        let key = svc
            .msgs
            .iter()
            .find(|(_, m)| m.header_ptr() == header)
            .map(|(k, m)| (*k, m.state));
        let err = match key {
            Some((k, state)) => {
                let rec = svc.msgs.remove(&k);
                drop(rec);
                matches!(state, MsgState::Queued(_))
                    .then_some("message released while still queued (pushed, not held)")
            }
            None => Some("not a message delivered to this service (double release?)"),
        };
        if let Some(why) = err {
            g.fw.counters.client_errors += 1;
            pr_err!("vchiq_release_message({:#x}): {}\n", handle, why);
        }
        drop(g);
        self.changed.notify_all();
    }

    /// `vchiq_get_service_userdata`.
    pub(crate) fn userdata(&self, inst: &SimInstance, handle: u32) -> *mut c_void {
        let mut g = self.inner.lock();
        match Self::service(&mut g, inst, handle, "vchiq_get_service_userdata") {
            Ok(svc) => svc.params.0.userdata,
            Err(_) => ptr::null_mut(),
        }
    }

    // ---- Delivery ----

    fn run_pump(self: Arc<Self>) {
        let mut g = self.inner.lock();
        loop {
            if g.stopping || g.fw.settings.hang {
                return;
            }
            let now = now_ms();
            let Some(key) = g.outbox.pick(now, g.fw.settings.reorder) else {
                let Some(due) = g.outbox.earliest_due() else {
                    return;
                };
                let wait = u32::try_from(due - now).unwrap_or(u32::MAX);
                let _ = self
                    .changed
                    .wait_interruptible_timeout(&mut g, msecs_to_jiffies(wait));
                continue;
            };
            let Some(service) = g.outbox.entries.get(&key).map(|o| o.service) else {
                continue;
            };
            let unreleased = match g.services.get(&service) {
                Some(s) if !s.closing => s.msgs.iter().count(),
                _ => {
                    // The service is gone: so is anything still meant for it.
                    g.outbox.entries.remove(&key);
                    continue;
                }
            };
            if unreleased >= MAX_UNRELEASED {
                // Stalled until the client hands messages back (or we stop).
                let _ = self
                    .changed
                    .wait_interruptible_timeout(&mut g, msecs_to_jiffies(100));
                continue;
            }
            let Some(out) = g.outbox.entries.remove(&key) else {
                continue;
            };
            let copies = if out.reply && g.fw.settings.duplicate {
                2
            } else {
                1
            };
            let bytes = out.bytes.get(..out.len).unwrap_or(&[]);
            for copy in 0..copies {
                let delivered;
                (g, delivered) = self.deliver(g, service, bytes);
                if !delivered {
                    break;
                }
                if copy > 0 {
                    g.fw.counters.tx_duplicate += 1;
                }
            }
        }
    }

    /// Delivers one message to `service`; returns the (re-taken) lock and whether it went out.
    fn deliver<'a>(
        &'a self,
        mut g: SimGuard<'a>,
        service: u32,
        bytes: &[u8],
    ) -> (SimGuard<'a>, bool) {
        let seq = g.next_msg;
        g.next_msg += 1;
        let mut msg = match KBox::new(
            SimMsg {
                header: ext::vchiq_header::default(),
                data: [0; smem::MAX_MSG_LEN],
            },
            GFP_KERNEL,
        ) {
            Ok(m) => m,
            Err(_) => {
                pr_err!("out of memory delivering a message, dropped\n");
                return (g, false);
            }
        };
        let len = bytes.len().min(smem::MAX_MSG_LEN);
        if let (Some(dst), Some(src)) = (msg.data.get_mut(..len), bytes.get(..len)) {
            dst.copy_from_slice(src);
        }
        msg.header.msgid = (seq & 0x7fff_ffff) as c_int;
        msg.header.size = len as c_uint;
        let me = current_task();
        let Some(svc) = g.services.get_mut(&service) else {
            return (g, false);
        };
        if svc.closing {
            return (g, false);
        }
        let rec = MsgRec {
            msg,
            state: MsgState::Delivered,
        };
        let header = rec.header_ptr();
        if svc
            .msgs
            .try_create_and_insert(seq, rec, GFP_KERNEL)
            .is_err()
        {
            pr_err!("out of memory delivering a message, dropped\n");
            return (g, false);
        }
        svc.in_callback += 1;
        svc.callback_task = me;
        let cb = svc.params.0.callback;
        let inst_ptr = svc.instance_ptr as *mut ext::vchiq_instance;
        drop(g);
        let ret = match cb {
            // SAFETY: The client registered `cb` for this service; `header` stays valid until
            // the client releases it (or closes the service, which waits for this callback).
            Some(cb) => unsafe {
                call_callback(
                    cb,
                    inst_ptr,
                    ext::vchiq_reason_VCHIQ_MESSAGE_AVAILABLE,
                    header,
                    service,
                )
            },
            None => 0,
        };
        let mut g = self.inner.lock();
        if ret != 0 {
            g.fw.counters.client_errors += 1;
            pr_err!("service {:#x} callback returned {}\n", service, ret);
        }
        if let Some(svc) = g.services.get_mut(&service) {
            svc.in_callback -= 1;
            svc.callback_task = 0;
        }
        self.changed.notify_all();
        (g, true)
    }

    // ---- Control (debugfs) ----

    /// Changes settings under the lock, then lets the pump see them.
    pub(crate) fn configure(self: &Arc<Self>, f: impl FnOnce(&mut Firmware) -> Result) -> Result {
        let mut g = self.inner.lock();
        f(&mut g.fw)?;
        self.kick(&g);
        Ok(())
    }

    /// `hold HANDLE`.
    pub(crate) fn hold(&self, vc_handle: u32) -> Result {
        self.inner.lock().fw.hold(vc_handle)
    }

    /// `drop HANDLE`.
    pub(crate) fn drop_ref(self: &Arc<Self>, vc_handle: u32) -> Result {
        let mut g = self.inner.lock();
        let Inner { fw, outbox, .. } = &mut *g;
        fw.drop_ref(outbox, vc_handle)?;
        self.kick(&g);
        Ok(())
    }

    /// `mem_request SIZE ALIGN NAME`, on the first open SMEM service.
    pub(crate) fn mem_request(self: &Arc<Self>, size: u32, align: u32, name: &[u8]) -> Result {
        let mut g = self.inner.lock();
        let Some(service) = g.services.iter().find(|(_, s)| !s.closing).map(|(h, _)| *h) else {
            pr_err!("mem_request: no open SMEM service\n");
            return Err(EINVAL);
        };
        let Inner { fw, outbox, .. } = &mut *g;
        fw.mem_request(outbox, service, size, align, name)?;
        self.kick(&g);
        Ok(())
    }

    /// Runs `f` on the memory of `vc_handle` as the VPU's DMA would, holding a VPU reference
    /// meanwhile (so the handle stays alive; RELEASED may follow if it was the last).
    pub(crate) fn vpu_dma<R>(
        self: &Arc<Self>,
        vc_handle: u32,
        f: impl FnOnce(&Window) -> R,
    ) -> Result<R> {
        let (addr, size) = {
            let mut g = self.inner.lock();
            let Some(range) = g.fw.buffer(vc_handle) else {
                pr_err!("VPU DMA: no live handle {:#x}\n", vc_handle);
                return Err(EINVAL);
            };
            g.fw.hold(vc_handle)?;
            range
        };
        let result = Window::map(&self.bus, addr, size).map(|w| f(&w));
        let mut g = self.inner.lock();
        let Inner { fw, outbox, .. } = &mut *g;
        let dropped = fw.drop_ref(outbox, vc_handle);
        self.kick(&g);
        dropped?;
        result
    }

    /// Records a fill or checksum result.
    pub(crate) fn record(&self, f: impl FnOnce(&mut Firmware)) {
        f(&mut self.inner.lock().fw);
    }

    /// The VCHIQ connection (never used with the simulator's lock held: connected callbacks
    /// run under the connection's mutex and may call into the simulator).
    pub(crate) fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Writes the `state` file.
    pub(crate) fn show(&self, out: &mut SeqFile<'_>) -> Result {
        // Before the lock (see `connection`).
        self.conn.show(out)?;
        let g = self.inner.lock();
        out.fmt(format_args!(
            "instances {}\nservices {}\n",
            g.instances.iter().count(),
            g.services.iter().count()
        ))?;
        for (h, s) in g.services.iter() {
            let queued = s
                .msgs
                .values()
                .filter(|m| matches!(m.state, MsgState::Queued(_)))
                .count();
            out.fmt(format_args!(
                "service {:#x} fourcc SMEM version {} min {} use_count {} unreleased {} queued {} closing {}\n",
                h,
                s.params.0.version,
                s.params.0.version_min,
                s.use_count,
                s.msgs.iter().count(),
                queued,
                on_off(s.closing)
            ))?;
        }
        out.fmt(format_args!("outbox {}\n", g.outbox.entries.iter().count()))?;
        g.fw.show(out, g.outbox.pending_releases())
    }
}

/// The running task, as a number (only compared).
fn current_task() -> usize {
    // `current!()` is a `&Task` on 6.12 and a `&CurrentTask` (deref to `Task`) on 7.3.
    let task = kernel::current!();
    let task: &kernel::task::Task = task;
    core::ptr::from_ref(task) as usize
}

/// Calls a client's service callback with the arguments of this kernel's `vchiq.h`.
///
/// # Safety
///
/// `cb` must be the callback the client registered for service `handle` of `instance`, and
/// `header` NULL or a message delivered to that service.
#[cfg(not(vchiq_cb_userdata))]
unsafe fn call_callback(
    cb: unsafe extern "C" fn(
        *mut ext::vchiq_instance,
        ext::vchiq_reason,
        *mut ext::vchiq_header,
        c_uint,
        *mut c_void,
    ) -> c_int,
    instance: *mut ext::vchiq_instance,
    reason: ext::vchiq_reason,
    header: *mut ext::vchiq_header,
    handle: u32,
) -> c_int {
    // SAFETY: Guaranteed by the caller; `bulk_userdata` is NULL for non-bulk reasons.
    unsafe { cb(instance, reason, header, handle, ptr::null_mut()) }
}

/// Calls a client's service callback with the arguments of this kernel's `vchiq.h`.
///
/// # Safety
///
/// `cb` must be the callback the client registered for service `handle` of `instance`, and
/// `header` NULL or a message delivered to that service.
#[cfg(vchiq_cb_userdata)]
unsafe fn call_callback(
    cb: unsafe extern "C" fn(
        *mut ext::vchiq_instance,
        ext::vchiq_reason,
        *mut ext::vchiq_header,
        c_uint,
        *mut c_void,
        *mut c_void,
    ) -> c_int,
    instance: *mut ext::vchiq_instance,
    reason: ext::vchiq_reason,
    header: *mut ext::vchiq_header,
    handle: u32,
) -> c_int {
    // SAFETY: Guaranteed by the caller; the bulk data pointers are NULL for non-bulk reasons.
    unsafe {
        cb(
            instance,
            reason,
            header,
            handle,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    }
}
