// SPDX-License-Identifier: GPL-2.0

//! The VCHIQ client API the simulator exports (`EXPORT_SYMBOL` in `vpu_sim_shim.c`): C entry
//! points with the prototypes of `vchiq.h`, checked at build time against the bindgen
//! declarations of the same header, each a thin call into [`Sim`].
//!
//! Like VCHIQ, calls on an instance pointer trust that it is one `vchiq_initialise` returned and
//! `vchiq_shutdown` has not freed; the simulator additionally rejects pointers it did not make.

use crate::{
    kext::bindings as ext,
    sim::{Sim, SimInstance},
    SimDevice,
};
use core::ffi::{c_int, c_uint, c_void};
use kernel::{bindings, prelude::*};

/// The C side (`vpu_sim_shim.h`).
mod shim {
    use crate::kext::bindings as ext;
    use core::ffi::c_void;

    extern "C" {
        pub(super) fn vpu_sim_state_ctx(state: *mut ext::vchiq_state) -> *mut c_void;
        pub(super) fn vpu_sim_wait_up(state: *mut ext::vchiq_state) -> core::ffi::c_int;
    }
}

/// Compiles only if `a` and `b` coerce to the same function-pointer type `F`.
const fn same_signature<F: Copy>(_a: F, _b: F) {}

// Each entry point has exactly the type bindgen derived from `vchiq.h`.
const _: () =
    same_signature::<unsafe extern "C" fn(_, _) -> _>(ext::vchiq_initialise, vchiq_initialise);
const _: () = same_signature::<unsafe extern "C" fn(_) -> _>(ext::vchiq_shutdown, vchiq_shutdown);
const _: () = same_signature::<unsafe extern "C" fn(_) -> _>(ext::vchiq_connect, vchiq_connect);
const _: () = same_signature::<unsafe extern "C" fn(_, _, _) -> _>(
    ext::vchiq_open_service,
    vchiq_open_service,
);
const _: () = same_signature::<unsafe extern "C" fn(_, _) -> _>(
    ext::vchiq_close_service,
    vchiq_close_service,
);
const _: () =
    same_signature::<unsafe extern "C" fn(_, _) -> _>(ext::vchiq_use_service, vchiq_use_service);
const _: () = same_signature::<unsafe extern "C" fn(_, _) -> _>(
    ext::vchiq_release_service,
    vchiq_release_service,
);
const _: () = same_signature::<unsafe extern "C" fn(_, _, _, _) -> _>(
    ext::vchiq_queue_kernel_message,
    vchiq_queue_kernel_message,
);
const _: () = same_signature::<unsafe extern "C" fn(_, _, _)>(
    ext::vchiq_msg_queue_push,
    vchiq_msg_queue_push,
);
const _: () =
    same_signature::<unsafe extern "C" fn(_, _) -> _>(ext::vchiq_msg_hold, vchiq_msg_hold);
const _: () = same_signature::<unsafe extern "C" fn(_, _, _)>(
    ext::vchiq_release_message,
    vchiq_release_message,
);
const _: () = same_signature::<unsafe extern "C" fn(_, _) -> _>(
    ext::vchiq_get_service_userdata,
    vchiq_get_service_userdata,
);

fn to_c(r: Result) -> c_int {
    match r {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// VCHIQ contract: `state` is the state of a VCHIQ platform device (here: a simulator's);
/// `pinstance` is valid for a write.
#[no_mangle]
unsafe extern "C" fn vchiq_initialise(
    state: *mut ext::vchiq_state,
    pinstance: *mut *mut ext::vchiq_instance,
) -> c_int {
    if pinstance.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: Only compares `state` with the simulator's own.
    let ctx = unsafe { shim::vpu_sim_state_ctx(state) };
    if ctx.is_null() {
        pr_err!("vchiq_initialise: not the VCHIQ state of a simulated VPU\n");
        return -(bindings::ENOTCONN as c_int);
    }
    // Like VCHIQ: wait (briefly) for the VideoCore to be up, else -ENOTCONN.
    // SAFETY: `state` is the simulator's own (checked above); the callee only compares it and
    // reads the connection flag.
    let up = unsafe { shim::vpu_sim_wait_up(state) };
    if up != 0 {
        return up;
    }
    // SAFETY: `ctx` is the `SimDevice` of the bound simulator; it lives until the simulator is
    // removed, which first removes the vchiq devices whose clients call this.
    let dev = unsafe { &*ctx.cast::<SimDevice>() };
    match dev.sim().initialise() {
        Ok(inst) => {
            // SAFETY: The caller guarantees `pinstance` is writable.
            unsafe { *pinstance = inst };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// VCHIQ contract: `instance` came from `vchiq_initialise` and is not used after this.
#[no_mangle]
unsafe extern "C" fn vchiq_shutdown(instance: *mut ext::vchiq_instance) -> c_int {
    // SAFETY: Forwarded from the caller.
    to_c(unsafe { Sim::shutdown_instance(instance) })
}

/// # Safety
///
/// VCHIQ contract: `instance` is live.
#[no_mangle]
unsafe extern "C" fn vchiq_connect(instance: *mut ext::vchiq_instance) -> c_int {
    // SAFETY: Forwarded from the caller.
    let inst = unsafe { SimInstance::from_raw(instance) };
    to_c(inst.and_then(|inst| inst.sim().connect(inst)))
}

/// # Safety
///
/// VCHIQ contract: `instance` is live; `params` points to valid parameters; `pservice` is
/// valid for a write.
#[no_mangle]
unsafe extern "C" fn vchiq_open_service(
    instance: *mut ext::vchiq_instance,
    params: *const ext::vchiq_service_params_kernel,
    pservice: *mut c_uint,
) -> c_int {
    // SAFETY: Forwarded from the caller.
    let inst = match unsafe { SimInstance::from_raw(instance) } {
        Ok(i) => i,
        Err(e) => return e.to_errno(),
    };
    if params.is_null() || pservice.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The caller guarantees `params` is valid; it is copied.
    let params = unsafe { &*params };
    match inst.sim().open_service(inst, instance, params) {
        Ok(handle) => {
            // SAFETY: The caller guarantees `pservice` is writable.
            unsafe { *pservice = handle };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// VCHIQ contract: `instance` is live.
#[no_mangle]
unsafe extern "C" fn vchiq_close_service(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
) -> c_int {
    // SAFETY: Forwarded from the caller.
    let inst = unsafe { SimInstance::from_raw(instance) };
    to_c(inst.and_then(|inst| inst.sim().close_service(inst, handle)))
}

/// # Safety
///
/// VCHIQ contract: `instance` is live.
#[no_mangle]
unsafe extern "C" fn vchiq_use_service(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
) -> c_int {
    // SAFETY: Forwarded from the caller.
    let inst = unsafe { SimInstance::from_raw(instance) };
    to_c(inst.and_then(|inst| inst.sim().use_service(inst, handle)))
}

/// # Safety
///
/// VCHIQ contract: `instance` is live.
#[no_mangle]
unsafe extern "C" fn vchiq_release_service(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
) -> c_int {
    // SAFETY: Forwarded from the caller.
    let inst = unsafe { SimInstance::from_raw(instance) };
    to_c(inst.and_then(|inst| inst.sim().release_service(inst, handle)))
}

/// # Safety
///
/// VCHIQ contract: `instance` is live; `data` holds `size` bytes.
#[no_mangle]
unsafe extern "C" fn vchiq_queue_kernel_message(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
    data: *mut c_void,
    size: c_uint,
) -> c_int {
    // SAFETY: Forwarded from the caller.
    let inst = match unsafe { SimInstance::from_raw(instance) } {
        Ok(i) => i,
        Err(e) => return e.to_errno(),
    };
    if data.is_null() {
        return EINVAL.to_errno();
    }
    // SAFETY: The caller guarantees `data` holds `size` bytes; they are copied before return.
    let data = unsafe { core::slice::from_raw_parts(data.cast::<u8>(), size as usize) };
    to_c(inst.sim().queue_message(inst, handle, data))
}

/// # Safety
///
/// VCHIQ contract: `instance` is live; `header` is a message delivered to `handle`.
#[no_mangle]
unsafe extern "C" fn vchiq_msg_queue_push(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
    header: *mut ext::vchiq_header,
) {
    // SAFETY: Forwarded from the caller.
    if let Ok(inst) = unsafe { SimInstance::from_raw(instance) } {
        inst.sim().msg_queue_push(inst, handle, header);
    }
}

/// # Safety
///
/// VCHIQ contract: `instance` is live.
#[no_mangle]
unsafe extern "C" fn vchiq_msg_hold(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
) -> *mut ext::vchiq_header {
    // SAFETY: Forwarded from the caller.
    match unsafe { SimInstance::from_raw(instance) } {
        Ok(inst) => inst.sim().msg_hold(inst, handle),
        Err(_) => core::ptr::null_mut(),
    }
}

/// # Safety
///
/// VCHIQ contract: `instance` is live; `header` is a message delivered to `handle`, not yet
/// released.
#[no_mangle]
unsafe extern "C" fn vchiq_release_message(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
    header: *mut ext::vchiq_header,
) {
    // SAFETY: Forwarded from the caller.
    if let Ok(inst) = unsafe { SimInstance::from_raw(instance) } {
        inst.sim().release_message(inst, handle, header);
    }
}

/// # Safety
///
/// VCHIQ contract: `instance` is live.
#[no_mangle]
unsafe extern "C" fn vchiq_get_service_userdata(
    instance: *mut ext::vchiq_instance,
    handle: c_uint,
) -> *mut c_void {
    // SAFETY: Forwarded from the caller.
    match unsafe { SimInstance::from_raw(instance) } {
        Ok(inst) => inst.sim().userdata(inst, handle),
        Err(_) => core::ptr::null_mut(),
    }
}
