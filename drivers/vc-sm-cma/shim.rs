// SPDX-License-Identifier: GPL-2.0

//! The C side of the module (`vc_sm_cma_shim.c`): the module parameters, the DMA parameters
//! and CMA area of the vchiq device, and facts about the current task.

use kernel::{device::Device, error::to_result, prelude::*};

use crate::kext::{bindings as ffi, device::raw};

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

/// The current task's name (`comm`), for log lines.
pub(crate) fn current_comm() -> [u8; 16] {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is valid for writes of its length; the shim NUL-terminates within it.
    unsafe { ffi::vcsm_shim_current_comm(buf.as_mut_ptr().cast(), buf.len() as u32) };
    buf
}

/// Bytes in `mb` MiB; 0 (no cap) stays 0.
fn mib(mb: core::ffi::c_uint) -> u64 {
    u64::from(mb) << 20
}

/// The module parameter `pin_cap_process_mb`, in bytes (0: no cap).
pub(crate) fn pin_cap_process() -> u64 {
    // SAFETY: Reads a module parameter; always safe.
    mib(unsafe { ffi::vcsm_shim_pin_cap_process_mb() })
}

/// The module parameter `pin_cap_total_mb`, in bytes (0: no cap).
pub(crate) fn pin_cap_total() -> u64 {
    // SAFETY: Reads a module parameter; always safe.
    mib(unsafe { ffi::vcsm_shim_pin_cap_total_mb() })
}

/// The system CMA pool, made the vchiq device's CMA area (see `vc_sm_cma_shim.h`): its base
/// and size, or `ENODEV` if there is none. Undone by [`dma_release`].
pub(crate) fn cma_setup(dev: &Device) -> Result<(u64, u64)> {
    let (mut base, mut size) = (0u64, 0u64);
    // SAFETY: `dev` is a valid device bound to this driver; the outputs are valid for writes.
    to_result(unsafe { ffi::vcsm_shim_cma_setup(raw(dev), &mut base, &mut size) })?;
    Ok((base, size))
}
