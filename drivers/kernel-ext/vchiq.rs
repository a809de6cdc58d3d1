// SPDX-License-Identifier: GPL-2.0

//! The VCHIQ kernel client API (6.12 staging `linux/raspberrypi/vchiq.h`) and vchiq-bus
//! drivers.
//!
//! - [`Registration`] registers a vchiq-bus [`Driver`], matched by device name (the VCHIQ
//!   platform driver creates "vcsm-cma", "bcm2835-audio", ...). Its probe gets a
//!   [`VchiqDevice`].
//! - [`Instance`] is a connection to VCHIQ (`vchiq_initialise` on the state of the device's
//!   VCHIQ platform device, `vchiq_connect`), shut down when the last reference goes.
//! - [`Service`] is an open service (fourcc, version, minimum version) whose callbacks go to a
//!   [`ServiceHandler`]; it is closed on drop. [`ServiceRef`] is what the rest of a driver keeps
//!   to send messages and to take received ones.
//! - A received message is an [`Incoming`] inside the callback (keep it with
//!   [`Incoming::push`] or drop it to hand it back) and a [`HeldMessage`] once taken with
//!   [`ServiceRef::hold`]; both are released on drop.
//!
//! The service callback takes five arguments in 6.12 and six from 6.13 on; the Kbuild sets the
//! `vchiq_cb_userdata` cfg when `vchiq.h` has the sixth (`cb_userdata`).
//!
//! Not in a module's `kext.rs` (see `README.md`): a module that talks to the VideoCore
//! includes it at its crate root, next to `mod kext;`:
//!
//! ```ignore
//! #[path = "../kernel-ext/vchiq.rs"]
//! mod vchiq;
//! ```
//!
//! and links `kext_vchiq.c` (its `*_kext.c` includes it next to `kext_shim.c`).

use crate::kext::bindings as ext;
use crate::kext::compat::{self, ARef, AlwaysRefCounted};
use core::{
    ffi::{c_int, c_uint, c_void},
    marker::PhantomData,
    mem::{offset_of, size_of},
    ptr::NonNull,
};
use kernel::{
    bindings,
    device::Device,
    error::{from_err_ptr, to_result},
    prelude::*,
    str::CStr,
    sync::Arc,
    types::{ForeignOwnable, Opaque},
    ThisModule,
};

// The 6.12 layouts this file is written for (reference/vcsm-spec.md section 7); the same
// numbers are `KEXT_VCHIQ_*` in kext_vchiq.h, which kext_vchiq.c asserts against the C headers.
const _: () = assert!(size_of::<ext::vchiq_header>() == 8);
const _: () = assert!(offset_of!(ext::vchiq_header, msgid) == 0);
const _: () = assert!(offset_of!(ext::vchiq_header, size) == 4);
const _: () = assert!(offset_of!(ext::vchiq_header, data) == 8);
const _: () = assert!(size_of::<ext::vchiq_service_params_kernel>() == 32);
const _: () = assert!(offset_of!(ext::vchiq_service_params_kernel, fourcc) == 0);
const _: () = assert!(offset_of!(ext::vchiq_service_params_kernel, callback) == 8);
const _: () = assert!(offset_of!(ext::vchiq_service_params_kernel, userdata) == 16);
const _: () = assert!(offset_of!(ext::vchiq_service_params_kernel, version) == 24);
const _: () = assert!(offset_of!(ext::vchiq_service_params_kernel, version_min) == 26);
const _: () = assert!(offset_of!(ext::vchiq_device, dev) == 0);
const _: () = assert!(
    offset_of!(ext::vchiq_device, drv_mgmt)
        == size_of::<bindings::device>().next_multiple_of(size_of::<usize>())
);
const _: () = assert!(
    size_of::<ext::vchiq_device>() == offset_of!(ext::vchiq_device, drv_mgmt) + size_of::<usize>()
);
const _: () = assert!(offset_of!(ext::vchiq_driver, probe) == 0);
const _: () = assert!(offset_of!(ext::vchiq_driver, remove) == 8);
const _: () = assert!(offset_of!(ext::vchiq_driver, id_table) == 32);
const _: () = assert!(offset_of!(ext::vchiq_driver, driver) == 40);

/// A device on the vchiq bus (`struct vchiq_device`), created by the VCHIQ platform driver.
#[repr(transparent)]
pub(crate) struct VchiqDevice(Opaque<ext::vchiq_device>);

// SAFETY: A vchiq device lives as long as its embedded `struct device`, whose reference count
// `get_device`/`put_device` manage (the bus frees the vchiq device on the last put), so any
// `&VchiqDevice` stands for a non-zero count.
unsafe impl AlwaysRefCounted for VchiqDevice {
    fn inc_ref(&self) {
        // SAFETY: `self` is valid, so the count of its device is not zero.
        unsafe { bindings::get_device(ext::kext_vchiq_device_dev(self.as_raw()).cast()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller owns a reference to `obj` and gives it up.
        unsafe { bindings::put_device(ext::kext_vchiq_device_dev(obj.as_ptr().cast()).cast()) };
    }
}

// SAFETY: The C side lets a vchiq device be referenced and used from any thread (as a
// `struct device`; its VCHIQ calls take their own locks).
unsafe impl Send for VchiqDevice {}
// SAFETY: See `Send`.
unsafe impl Sync for VchiqDevice {}

impl VchiqDevice {
    /// Returns the device behind `ptr`.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a registered `struct vchiq_device` that stays valid for `'a`.
    unsafe fn from_raw<'a>(ptr: *mut ext::vchiq_device) -> &'a Self {
        // SAFETY: `Self` is `#[repr(transparent)]` over the C struct; the caller guarantees it
        // is valid for `'a`.
        unsafe { &*ptr.cast::<Self>() }
    }

    fn as_raw(&self) -> *mut ext::vchiq_device {
        self.0.get()
    }

    /// The generic device (for DMA, logging, reference counting).
    pub(crate) fn as_dev(&self) -> &Device {
        // SAFETY: `self` is a valid vchiq device, whose embedded `struct device` lives as long.
        unsafe { compat::device_from_raw(ext::kext_vchiq_device_dev(self.as_raw()).cast()) }
    }

    /// A counted reference to the generic device.
    pub(crate) fn get(&self) -> ARef<Device> {
        ARef::from(self.as_dev())
    }

    /// Re-applies the DMA set-up the VCHIQ platform driver gave this device (`of_dma_configure`
    /// with the parent's node, so its dma-ranges, i.e. the VPU bus alias, apply).
    ///
    /// The driver core drops a device's DMA range map on every unbind (and failed probe), and
    /// the vchiq bus has no `dma_configure` to restore it: without this, a driver bound for the
    /// second time gets plain physical DMA addresses. Call it first thing in probe.
    pub(crate) fn dma_configure(&self) -> Result {
        // SAFETY: `self` is a valid vchiq device being probed.
        to_result(unsafe { ext::kext_vchiq_dma_configure(self.as_raw()) })
    }

    /// Runs `callback` once VCHIQ is connected to the VideoCore; at once if it already is.
    ///
    /// VCHIQ keeps at most 10 pending callbacks, and a callback gets no argument.
    pub(crate) fn add_connected_callback(&self, callback: extern "C" fn()) {
        // SAFETY: `self` is a valid vchiq device; `callback` is a plain function that stays
        // valid as long as this module is loaded, and this module cannot unload while its
        // driver is bound to the device.
        unsafe { ext::vchiq_add_connected_callback(self.as_raw(), Some(trampoline_fn(callback))) };
    }

    /// Creates a VCHIQ instance on the state of this device's VCHIQ platform device
    /// (`vchiq_initialise`). Call [`Instance::connect`] before opening services.
    ///
    /// The instance must be dropped before this device is removed (its VCHIQ state belongs
    /// to the platform device that created this one).
    pub(crate) fn instance(&self) -> Result<Arc<Instance>> {
        // SAFETY: `self` is a valid vchiq device.
        let state = unsafe { ext::kext_vchiq_device_state(self.as_raw()) };
        if state.is_null() {
            return Err(ENODEV);
        }
        let mut raw: *mut ext::vchiq_instance = core::ptr::null_mut();
        // SAFETY: `state` is the live VCHIQ state of the parent; `raw` is a valid location.
        to_result(unsafe { ext::vchiq_initialise(state, &mut raw) })?;
        let ptr = NonNull::new(raw).ok_or(ENOMEM)?;
        // INVARIANT: `ptr` came from a successful `vchiq_initialise`.
        Ok(Arc::new(Instance { ptr }, GFP_KERNEL)?)
    }
}

/// Converts a safe `extern "C" fn()` into the `unsafe` pointer type bindgen uses.
fn trampoline_fn(f: extern "C" fn()) -> unsafe extern "C" fn() {
    f
}

/// A VCHIQ instance (`struct vchiq_instance`), shut down (`vchiq_shutdown`) on drop.
///
/// Services hold a reference, so an instance outlives all of its services.
///
/// # Invariants
///
/// `ptr` came from a successful `vchiq_initialise` and has not been shut down.
pub(crate) struct Instance {
    ptr: NonNull<ext::vchiq_instance>,
}

// SAFETY: The VCHIQ API may be called on an instance from any thread; it takes its own locks.
unsafe impl Send for Instance {}
// SAFETY: See `Send`; every method takes `&self` and VCHIQ serialises internally.
unsafe impl Sync for Instance {}

impl Instance {
    fn as_raw(&self) -> *mut ext::vchiq_instance {
        self.ptr.as_ptr()
    }

    /// Connects the instance to the VideoCore (`vchiq_connect`).
    pub(crate) fn connect(&self) -> Result {
        // SAFETY: `self.ptr` is a live instance by the type invariant.
        to_result(unsafe { ext::vchiq_connect(self.as_raw()) })
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        // SAFETY: `self.ptr` is a live instance; no service is open any more (each holds a
        // reference), and it is not used after this.
        let ret = unsafe { ext::vchiq_shutdown(self.as_raw()) };
        if ret != 0 {
            pr_err!("vchiq_shutdown failed: {}\n", ret);
        }
    }
}

/// Receives the callbacks of a [`Service`].
pub(crate) trait ServiceHandler: Send + Sync + 'static {
    /// A message arrived.
    ///
    /// Runs in VCHIQ's callback context: it may sleep, but VCHIQ delivers nothing else to the
    /// service until it returns. Keep the message with [`Incoming::push`] and take it later with
    /// [`ServiceRef::hold`], or drop it to hand it back at once.
    fn message(&self, msg: Incoming<'_>);

    /// The service was closed.
    fn closed(&self) {}
}

/// What a driver keeps of an open service: sending, taking received messages, use counts.
///
/// Once the [`Service`] is closed, calls fail (`EINVAL`, or no message) instead of reaching a
/// stale service: VCHIQ looks every handle up.
#[derive(Clone)]
pub(crate) struct ServiceRef {
    instance: Arc<Instance>,
    handle: c_uint,
}

impl ServiceRef {
    /// The VCHIQ service handle.
    pub(crate) fn handle(&self) -> u32 {
        self.handle
    }

    /// Sends `data` as one message (`vchiq_queue_kernel_message`); blocks until it is queued.
    pub(crate) fn queue_kernel_message(&self, data: &[u8]) -> Result {
        let len = c_uint::try_from(data.len()).map_err(|_| EINVAL)?;
        // SAFETY: The instance is live; VCHIQ only reads `len` bytes from `data` (it copies
        // them into its message slots), so the `*mut` is never written through.
        to_result(unsafe {
            ext::vchiq_queue_kernel_message(
                self.instance.as_raw(),
                self.handle,
                data.as_ptr().cast_mut().cast(),
                len,
            )
        })
    }

    /// Takes the oldest message kept with [`Incoming::push`] (`vchiq_msg_hold`), if any.
    pub(crate) fn hold(&self) -> Option<HeldMessage<'_>> {
        // SAFETY: The instance is live; VCHIQ validates the handle.
        let header = unsafe { ext::vchiq_msg_hold(self.instance.as_raw(), self.handle) };
        NonNull::new(header).map(|header| HeldMessage {
            service: self,
            header,
        })
    }

    /// Marks the service in use, keeping the VideoCore awake (`vchiq_use_service`).
    pub(crate) fn use_service(&self) -> Result {
        // SAFETY: The instance is live; VCHIQ validates the handle.
        to_result(unsafe { ext::vchiq_use_service(self.instance.as_raw(), self.handle) })
    }

    /// Drops one use (`vchiq_release_service`). `vchiq_open_service` leaves one use held.
    pub(crate) fn release_service(&self) -> Result {
        // SAFETY: The instance is live; VCHIQ validates the handle.
        to_result(unsafe { ext::vchiq_release_service(self.instance.as_raw(), self.handle) })
    }
}

/// A received message inside [`ServiceHandler::message`]; handed back to VCHIQ
/// (`vchiq_release_message`) on drop unless kept with [`Incoming::push`].
///
/// # Invariants
///
/// `header` is a message VCHIQ delivered to service `handle` of `instance` in the callback
/// that is running for `'a`, not yet pushed or released.
pub(crate) struct Incoming<'a> {
    instance: NonNull<ext::vchiq_instance>,
    handle: c_uint,
    header: NonNull<ext::vchiq_header>,
    _callback: PhantomData<&'a ()>,
}

impl Incoming<'_> {
    /// Keeps the message on the service's queue (`vchiq_msg_queue_push`), for
    /// [`ServiceRef::hold`]. May block while the queue is full.
    pub(crate) fn push(self) {
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: By the type invariant the message belongs to this instance and service and
        // has been neither pushed nor released; ownership passes to the queue (no drop).
        unsafe {
            ext::vchiq_msg_queue_push(this.instance.as_ptr(), this.handle, this.header.as_ptr())
        };
    }
}

impl Drop for Incoming<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the message is still ours to release.
        unsafe {
            ext::vchiq_release_message(self.instance.as_ptr(), self.handle, self.header.as_ptr())
        };
    }
}

/// A message taken with [`ServiceRef::hold`]; released (`vchiq_release_message`) on drop.
///
/// # Invariants
///
/// `header` was returned by `vchiq_msg_hold` for `service` and is not released yet.
pub(crate) struct HeldMessage<'a> {
    service: &'a ServiceRef,
    header: NonNull<ext::vchiq_header>,
}

impl HeldMessage<'_> {
    /// The message bytes.
    pub(crate) fn data(&self) -> &[u8] {
        // SAFETY: By the type invariant the message is held and valid.
        unsafe { message_data(self.header) }
    }
}

impl Drop for HeldMessage<'_> {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the message was held from this service and is
        // released exactly once, here.
        unsafe {
            ext::vchiq_release_message(
                self.service.instance.as_raw(),
                self.service.handle,
                self.header.as_ptr(),
            )
        };
    }
}

/// The data of a message.
///
/// # Safety
///
/// `header` must be a message delivered by VCHIQ and not yet released, valid for `'a`.
unsafe fn message_data<'a>(header: NonNull<ext::vchiq_header>) -> &'a [u8] {
    let header = header.as_ptr();
    // SAFETY: The caller guarantees the header is valid; VCHIQ stores `size` bytes of data
    // right after it, valid until the message is released.
    unsafe {
        let len = (*header).size as usize;
        let data = core::ptr::addr_of!((*header).data).cast::<u8>();
        core::slice::from_raw_parts(data, len)
    }
}

/// An open VCHIQ service; closed (`vchiq_close_service`) on drop.
///
/// # Invariants
///
/// `svc.handle` is an open service of `svc.instance` whose userdata is `handler`, a pointer
/// from `Arc::into_raw` that this service owns.
pub(crate) struct Service<H: ServiceHandler> {
    svc: ServiceRef,
    handler: *const H,
}

// SAFETY: `handler` is an `Arc<H>` with `H: Send + Sync`; the rest is `Send`.
unsafe impl<H: ServiceHandler> Send for Service<H> {}
// SAFETY: `&Service` only gives out `&ServiceRef`, which is `Sync`.
unsafe impl<H: ServiceHandler> Sync for Service<H> {}

impl<H: ServiceHandler> Service<H> {
    /// Opens service `fourcc` (`vchiq_open_service`) with the given version and minimum
    /// version; callbacks go to `handler` until the service is closed.
    ///
    /// VCHIQ leaves one use of the service held (see [`ServiceRef::release_service`]).
    pub(crate) fn open(
        instance: &Arc<Instance>,
        fourcc: u32,
        version: i16,
        version_min: i16,
        handler: Arc<H>,
    ) -> Result<Self> {
        let userdata = Arc::into_raw(handler);
        let params = ext::vchiq_service_params_kernel {
            fourcc: fourcc as c_int,
            callback: Some(service_callback::<H>),
            userdata: userdata.cast_mut().cast(),
            version,
            version_min,
        };
        let mut handle: c_uint = 0;
        // SAFETY: The instance is live and `params` fully initialised; VCHIQ copies `params`.
        // `userdata` stays valid until the service is closed (see `Drop`).
        let ret = unsafe { ext::vchiq_open_service(instance.as_raw(), &params, &mut handle) };
        if ret != 0 {
            // SAFETY: The service was not opened, so nothing else uses `userdata`.
            drop(unsafe { Arc::from_raw(userdata) });
            return Err(Error::from_errno(ret));
        }
        // INVARIANT: The service is open with `userdata` as its userdata.
        Ok(Self {
            svc: ServiceRef {
                instance: instance.clone(),
                handle,
            },
            handler: userdata,
        })
    }

    /// The handle other parts of the driver keep.
    pub(crate) fn service(&self) -> &ServiceRef {
        &self.svc
    }
}

impl<H: ServiceHandler> Drop for Service<H> {
    fn drop(&mut self) {
        // SAFETY: The service is open by the type invariant.
        let ret = unsafe { ext::vchiq_close_service(self.svc.instance.as_raw(), self.svc.handle) };
        if ret != 0 {
            // The service may still call back into `handler`: keep it alive (leaked).
            pr_err!(
                "vchiq_close_service({:#x}) failed: {}\n",
                self.svc.handle,
                ret
            );
            return;
        }
        // SAFETY: The service is closed, so VCHIQ makes no more callbacks that could use
        // `handler`; this drops the reference `open` leaked.
        drop(unsafe { Arc::from_raw(self.handler) });
    }
}

/// Dispatches a service callback to the service's [`ServiceHandler`].
///
/// # Safety
///
/// Only called by VCHIQ for a service opened by [`Service::<H>::open`], with a message that is
/// this callback's to keep or release when `reason` is `VCHIQ_MESSAGE_AVAILABLE`.
unsafe fn dispatch<H: ServiceHandler>(
    instance: *mut ext::vchiq_instance,
    reason: ext::vchiq_reason,
    header: *mut ext::vchiq_header,
    handle: c_uint,
) -> c_int {
    // SAFETY: VCHIQ passes the live instance and the handle of the service being called.
    let userdata = unsafe { ext::vchiq_get_service_userdata(instance, handle) };
    if userdata.is_null() {
        return 0;
    }
    // SAFETY: `Service::open` set the userdata to an `Arc<H>` that lives until the service is
    // closed, which cannot complete while this callback runs.
    let handler = unsafe { &*userdata.cast_const().cast::<H>() };
    match reason {
        ext::vchiq_reason_VCHIQ_MESSAGE_AVAILABLE => {
            if let (Some(instance), Some(header)) = (NonNull::new(instance), NonNull::new(header)) {
                // INVARIANT: VCHIQ hands us this message for the duration of the callback.
                handler.message(Incoming {
                    instance,
                    handle,
                    header,
                    _callback: PhantomData,
                });
            }
        }
        ext::vchiq_reason_VCHIQ_SERVICE_CLOSED => handler.closed(),
        _ => {}
    }
    0
}

/// The service callback (6.12: five arguments).
///
/// # Safety
///
/// Only called by VCHIQ, for a service opened by [`Service::<H>::open`].
#[cfg(not(vchiq_cb_userdata))]
unsafe extern "C" fn service_callback<H: ServiceHandler>(
    instance: *mut ext::vchiq_instance,
    reason: ext::vchiq_reason,
    header: *mut ext::vchiq_header,
    handle: c_uint,
    _bulk_userdata: *mut c_void,
) -> c_int {
    // SAFETY: Forwarded from VCHIQ, as `dispatch` requires.
    unsafe { dispatch::<H>(instance, reason, header, handle) }
}

/// The service callback (6.13 and later: six arguments).
///
/// # Safety
///
/// Only called by VCHIQ, for a service opened by [`Service::<H>::open`].
#[cfg(vchiq_cb_userdata)]
unsafe extern "C" fn service_callback<H: ServiceHandler>(
    instance: *mut ext::vchiq_instance,
    reason: ext::vchiq_reason,
    header: *mut ext::vchiq_header,
    handle: c_uint,
    _cb_data: *mut c_void,
    _cb_userdata: *mut c_void,
) -> c_int {
    // SAFETY: Forwarded from VCHIQ, as `dispatch` requires.
    unsafe { dispatch::<H>(instance, reason, header, handle) }
}

/// A vchiq-bus driver: bound to the vchiq device named [`Driver::NAME`].
pub(crate) trait Driver: Send + Sync + Sized + 'static {
    /// The device name to bind to, e.g. `c_str!("vcsm-cma")`.
    const NAME: &'static CStr;

    /// Sets up a device. The returned data lives until the device is removed (dropped then).
    fn probe(dev: &VchiqDevice) -> Result<Pin<KBox<Self>>>;
}

/// A registered vchiq-bus driver; unregistered (removing every bound device) on drop.
///
/// # Invariants
///
/// `raw` came from a successful `kext_vchiq_driver_register` with `probe_cb::<T>` and
/// `remove_cb::<T>`.
pub(crate) struct Registration<T: Driver> {
    raw: NonNull<ext::kext_vchiq_driver>,
    _driver: PhantomData<T>,
}

// SAFETY: The registration may be dropped from any thread (module exit).
unsafe impl<T: Driver> Send for Registration<T> {}
// SAFETY: `&Registration` gives access to nothing.
unsafe impl<T: Driver> Sync for Registration<T> {}

impl<T: Driver> Registration<T> {
    /// Registers the driver; devices already present are probed before this returns.
    pub(crate) fn new(module: &'static ThisModule) -> Result<Self> {
        // SAFETY: `T::NAME` is static; the callbacks match the prototypes kext_vchiq.h gives.
        let raw = from_err_ptr(unsafe {
            ext::kext_vchiq_driver_register(
                T::NAME.as_char_ptr(),
                module.as_ptr().cast(),
                Some(probe_cb::<T>),
                Some(remove_cb::<T>),
            )
        })?;
        // INVARIANT: `raw` is a successful registration with this type's callbacks.
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
            _driver: PhantomData,
        })
    }
}

impl<T: Driver> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is registered by the type invariant and not used after this.
        unsafe { ext::kext_vchiq_driver_unregister(self.raw.as_ptr()) };
    }
}

/// # Safety
///
/// Only called by kext_vchiq.c, from the bus probe of a device matched to `T`'s registration.
unsafe extern "C" fn probe_cb<T: Driver>(
    vdev: *mut ext::vchiq_device,
    data: *mut *mut c_void,
) -> c_int {
    // SAFETY: The device is being probed, so it is registered and valid during this call.
    let dev = unsafe { VchiqDevice::from_raw(vdev) };
    match T::probe(dev) {
        Ok(this) => {
            // SAFETY: `data` is a valid location provided by kext_vchiq.c.
            unsafe { *data = compat::foreign_as_mut(this.into_foreign()) };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by kext_vchiq.c, on removal of a device that `probe_cb::<T>` set up, with the
/// data it stored.
unsafe extern "C" fn remove_cb<T: Driver>(_vdev: *mut ext::vchiq_device, data: *mut c_void) {
    // SAFETY: `data` came from `into_foreign` in `probe_cb::<T>` and is not used again.
    drop(unsafe { <Pin<KBox<T>> as ForeignOwnable>::from_foreign(data) });
}
