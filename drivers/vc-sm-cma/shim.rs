// SPDX-License-Identifier: GPL-2.0

//! The C side of the module (`vc_sm_cma_shim.c`): the `timeout_ms` parameter and the DMA
//! parameters of the vchiq device.

use kernel::{device::Device, error::to_result, prelude::*};

use crate::kext::device::raw;

mod ffi {
    use kernel::bindings;

    // `struct device` contains zero-sized members the lint flags; only pointers cross.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn vcsm_shim_timeout_ms() -> core::ffi::c_uint;
        pub(super) fn vcsm_shim_first_trans_id() -> core::ffi::c_uint;
        pub(super) fn vcsm_shim_dma_setup(dev: *mut bindings::device) -> core::ffi::c_int;
        pub(super) fn vcsm_shim_dma_release(dev: *mut bindings::device);
        pub(super) fn vcsm_shim_current_tgid() -> core::ffi::c_int;
    }
}

/// The module parameter `timeout_ms`: how long to wait for a VPU reply.
pub(crate) fn timeout_ms() -> u32 {
    // SAFETY: Reads a module parameter; always safe.
    unsafe { ffi::vcsm_shim_timeout_ms() }
}

/// The module parameter `first_trans_id`: where transaction ids start counting.
pub(crate) fn first_trans_id() -> u32 {
    // SAFETY: Reads a module parameter; always safe.
    unsafe { ffi::vcsm_shim_first_trans_id() }
}

/// DMA set-up of the vchiq device (32-bit masks, one segment per contiguous buffer). Undo with
/// [`dma_release`].
pub(crate) fn dma_setup(dev: &Device) -> Result {
    // SAFETY: `dev` is a valid device, bound to this driver.
    to_result(unsafe { ffi::vcsm_shim_dma_setup(raw(dev)) })
}

/// Undoes [`dma_setup`].
pub(crate) fn dma_release(dev: &Device) {
    // SAFETY: `dev` is a valid device.
    unsafe { ffi::vcsm_shim_dma_release(raw(dev)) };
}

/// The process (tgid, as seen from the initial PID namespace) of the current task.
pub(crate) fn current_tgid() -> i32 {
    // SAFETY: Reads the current task's tgid; always safe.
    unsafe { ffi::vcsm_shim_current_tgid() }
}
