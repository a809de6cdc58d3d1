// SPDX-License-Identifier: GPL-2.0

//! The kernel API other drivers use (`vc_sm_knl.h`), with the downstream names and signatures
//! so that bcm2835-mmal-vchiq and bcm2835-isp link against this module unchanged. The C shim
//! exports these symbols (`EXPORT_SYMBOL_GPL`).
//!
//! A handle is the wrapper `struct dma_buf *`, as downstream. Handles are checked against the
//! wrappers this driver made before they are used.

use crate::{
    current,
    export::EXP_NAME,
    kext::{
        bindings as ext,
        compat::ARef,
        dma_buf::{self, DmaBuf},
        ratelimit::pr_limited,
        task,
    },
};
use core::{
    ffi::{c_int, c_void},
    ptr::NonNull,
};
use kernel::prelude::*;

/// Shares `src` with the VPU; `*handle` receives a new wrapper dma-buf (the caller's
/// reference to `src` is left alone).
///
/// Returns 0, `-EPERM` before the driver is connected or on a NULL argument, or the import's
/// error.
///
/// # Safety
///
/// `src` is NULL or a dma-buf the caller holds a reference to; `handle` is NULL or valid for
/// writes.
#[no_mangle]
pub(crate) unsafe extern "C" fn vc_sm_cma_import_dmabuf(
    src: *mut ext::dma_buf,
    handle: *mut *mut c_void,
) -> c_int {
    let (Some(src), false) = (NonNull::new(src), handle.is_null()) else {
        return EPERM.to_errno();
    };
    let Some(vcsm) = current() else {
        return EPERM.to_errno();
    };
    if vcsm.ensure_ready().is_err() {
        return EPERM.to_errno();
    }
    // SAFETY: The caller holds a reference to `src` for the duration of the call.
    let src: ARef<DmaBuf> = unsafe { DmaBuf::from_raw(src.as_ptr()) }.into();
    match vcsm.import_dmabuf(src, task::current_tgid(), false) {
        Ok(shared) => {
            // SAFETY: `handle` is valid for writes (caller); the caller now owns the
            // wrapper's reference.
            unsafe { *handle = dma_buf::into_raw(shared.wrapper).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// The VPU handle of a buffer from [`vc_sm_cma_import_dmabuf`]; 0 if it is not one or has
/// none.
///
/// # Safety
///
/// `handle` is NULL or a handle from [`vc_sm_cma_import_dmabuf`] not yet freed.
#[no_mangle]
pub(crate) unsafe extern "C" fn vc_sm_cma_int_handle(handle: *mut c_void) -> c_int {
    if handle.is_null() {
        return 0;
    }
    current()
        .and_then(|vcsm| vcsm.handle_of_wrapper(handle as usize))
        .map(|h| h as c_int)
        .unwrap_or(0)
}

/// Drops the reference [`vc_sm_cma_import_dmabuf`] returned: the VPU is told to let go; the
/// memory stays referenced until it has.
///
/// # Safety
///
/// `handle` is NULL or a handle from [`vc_sm_cma_import_dmabuf`], not used afterwards.
#[no_mangle]
pub(crate) unsafe extern "C" fn vc_sm_cma_free(handle: *mut c_void) -> c_int {
    let Some(ptr) = NonNull::new(handle.cast::<ext::dma_buf>()) else {
        return EPERM.to_errno();
    };
    // SAFETY: `handle` is a live dma-buf (caller). Wrappers are exported with this module's
    // own `EXP_NAME` string (a `static`, so one address) and owner, which no other exporter
    // can pass.
    let ours = unsafe {
        (*ptr.as_ptr()).exp_name == EXP_NAME.as_char_ptr()
            && (*ptr.as_ptr()).owner == crate::kext::compat::this_module().as_ptr().cast()
    };
    if !ours {
        pr_limited!(
            pr_err,
            "vc_sm_cma_free: {:p} is not a vc-sm-cma buffer\n",
            handle
        );
        return EINVAL.to_errno();
    }
    // SAFETY: The handle is one of our wrappers, whose reference the caller owns and gives up.
    drop(unsafe { dma_buf::from_owned_raw(ptr) });
    0
}
