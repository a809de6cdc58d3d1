// SPDX-License-Identifier: GPL-2.0

//! Helpers around [`kernel::device::Device`] that 6.12 keeps crate-private.

use kernel::{bindings, device::Device};

/// Returns the C `struct device` behind `dev`.
///
/// `Device::as_raw` is `pub(crate)` in 6.12's `kernel` crate.
pub(crate) fn raw(dev: &Device) -> *mut bindings::device {
    // `Device` is `#[repr(transparent)]` over `Opaque<bindings::device>`, which is itself
    // `#[repr(transparent)]` over the C struct, so the address of one is the address of the
    // other. The pointer is only handed to C functions that take `struct device *`.
    core::ptr::from_ref::<Device>(dev).cast_mut().cast()
}
