// SPDX-License-Identifier: GPL-2.0

//! The Raspberry Pi firmware (`include/soc/bcm2835/raspberrypi-firmware.h`): finding it in the
//! device tree, holding it, and asking it for properties.
//!
//! - [`Firmware::find`] looks for the firmware's device-tree node (compatible
//!   `"raspberrypi,bcm2835-firmware"`) and takes a reference to the firmware behind it
//!   (`rpi_firmware_get`). `Ok(None)` means there is no firmware here (QEMU `virt`, any
//!   machine that is not a Raspberry Pi); an error means there is one that cannot be used now
//!   (its driver is not bound yet: `EPROBE_DEFER`; the kernel has no firmware driver:
//!   `ENOSYS`).
//! - [`Firmware`] owns that reference and gives it back with `rpi_firmware_put` on drop; it
//!   dereferences to [`RpiFirmware`], the firmware itself.
//! - [`RpiFirmware::property`] sends one typed request of the shared protocol module
//!   (`drivers/common/src/rpi_fw.rs`) with `rpi_firmware_property_list` and decodes the
//!   answer. Errors keep the errno of the call ([`PropertyError::Call`]) or say what was wrong
//!   with the answer ([`PropertyError::Reply`]).
//!
//! Not in a module's `kext.rs` (see `README.md`): a module that asks the firmware includes
//! it, and the protocol module, at its crate root next to `mod kext;`:
//!
//! ```ignore
//! #[path = "../common/src/rpi_fw.rs"]
//! mod rpi_fw;
//! #[path = "../kernel-ext/rpi_firmware.rs"]
//! mod rpi_firmware;
//! ```
//!
//! and links `kext_rpi_firmware.c` (its `*_kext.c` includes it next to `kext_shim.c`). The C
//! glue exists because the header's functions are static inline stubs in a kernel without
//! `CONFIG_RASPBERRYPI_FIRMWARE`: the same module then builds, links and finds no usable
//! firmware.

use crate::{
    kext::bindings as ext,
    rpi_fw::{self, ReplyError, Request},
};
use core::{ops::Deref, ptr::NonNull};
use kernel::{bindings, prelude::*, types::Opaque};

/// The firmware (`struct rpi_firmware`): the mailbox channel to the VideoCore's firmware.
///
/// Only ever seen behind a reference obtained from a [`Firmware`], which keeps it alive.
#[repr(transparent)]
pub(crate) struct RpiFirmware(Opaque<ext::rpi_firmware>);

/// Why a property request failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PropertyError {
    /// `rpi_firmware_property_list` failed with this errno (`EINVAL`: the firmware reported an
    /// error for the buffer; `ETIMEDOUT`: no answer within a second; `ENOMEM`; `ENOSYS`: no
    /// firmware driver).
    Call(Error),
    /// The firmware answered, but not with a valid response to the request.
    Reply(ReplyError),
}

impl PropertyError {
    /// The errno for callers that only pass errors on: the call's own, or `EIO` for an answer
    /// that is not a valid response.
    pub(crate) fn to_error(self) -> Error {
        match self {
            Self::Call(e) => e,
            Self::Reply(_) => EIO,
        }
    }
}

impl From<PropertyError> for Error {
    fn from(e: PropertyError) -> Self {
        e.to_error()
    }
}

impl RpiFirmware {
    fn as_raw(&self) -> *mut ext::rpi_firmware {
        self.0.get()
    }

    /// Sends `req` to the firmware and decodes its answer. May sleep (the firmware driver
    /// serialises transactions and waits up to a second for each).
    pub(crate) fn property<R: Request>(&self, req: &R) -> Result<R::Response, PropertyError> {
        let mut tag = rpi_fw::encode(req);
        let bytes = tag.as_mut_bytes();
        // SAFETY: `self` is a live firmware: it is only reachable through a `Firmware`, which
        // holds a reference to it. `bytes` is valid for reads and writes of `bytes.len()`
        // bytes for the duration of the call; the C function copies it into its own DMA
        // buffer, copies the answer back over it, and keeps no pointer to it.
        let ret = unsafe {
            ext::kext_rpi_firmware_property_list(
                self.as_raw(),
                bytes.as_mut_ptr().cast(),
                bytes.len(),
            )
        };
        if ret < 0 {
            return Err(PropertyError::Call(Error::from_errno(ret)));
        }
        rpi_fw::decode::<R>(tag.as_bytes()).map_err(PropertyError::Reply)
    }
}

/// A device-tree node reference (`of_node_put` on drop).
///
/// # Invariants
///
/// `0` points to a live `struct device_node` on which this value owns one reference.
struct OfNode(NonNull<bindings::device_node>);

impl Drop for OfNode {
    fn drop(&mut self) {
        // SAFETY: This value owns one reference to the node (type invariant).
        unsafe { ext::kext_of_node_put(self.0.as_ptr()) };
    }
}

/// A counted reference to the firmware, from `rpi_firmware_get`, given back with
/// `rpi_firmware_put` when dropped.
///
/// # Invariants
///
/// `ptr` points to a live `struct rpi_firmware` on which this value owns one reference.
pub(crate) struct Firmware {
    ptr: NonNull<RpiFirmware>,
}

// SAFETY: The reference may be dropped (`rpi_firmware_put`, a kref) on any thread.
unsafe impl Send for Firmware {}
// SAFETY: `&Firmware` only gives `&RpiFirmware`, whose methods may run concurrently on any
// thread: the firmware driver serialises transactions with its own lock.
unsafe impl Sync for Firmware {}

impl Firmware {
    /// Takes over a firmware reference.
    ///
    /// # Safety
    ///
    /// `ptr` must point to a live `struct rpi_firmware` on which the caller owns a reference
    /// (from `rpi_firmware_get`); the returned value owns that reference from now on.
    pub(crate) unsafe fn from_raw(ptr: NonNull<ext::rpi_firmware>) -> Self {
        // INVARIANT: The caller hands over one reference to a live firmware. `RpiFirmware` is
        // `#[repr(transparent)]` over the C struct, so the pointer casts.
        Self { ptr: ptr.cast() }
    }

    /// Finds the firmware in the device tree and takes a reference to it.
    ///
    /// `Ok(None)`: no firmware node, so no Raspberry Pi firmware here. Errors: `EPROBE_DEFER`
    /// when the node exists but the firmware driver is not bound to it (not yet, or the node
    /// is disabled); `ENOSYS` when the node exists but the kernel has no firmware driver
    /// (`CONFIG_RASPBERRYPI_FIRMWARE` is off).
    pub(crate) fn find() -> Result<Option<Self>> {
        // SAFETY: No preconditions; the result is NULL or a node with a reference for us.
        let Some(np) = NonNull::new(unsafe { ext::kext_rpi_firmware_find_node() }) else {
            return Ok(None);
        };
        // INVARIANT: We own the reference returned above.
        let node = OfNode(np);
        // SAFETY: No preconditions.
        if !unsafe { ext::kext_rpi_firmware_supported() } {
            return Err(Error::from_errno(-(bindings::ENOSYS as i32)));
        }
        // SAFETY: `node` is a live device-tree node (we hold a reference until it drops, after
        // the call). The result is NULL or a firmware reference for us.
        let fw = unsafe { ext::kext_rpi_firmware_get(node.0.as_ptr()) };
        drop(node);
        match NonNull::new(fw) {
            // SAFETY: `rpi_firmware_get` returned a live firmware with a reference for us.
            Some(fw) => Ok(Some(unsafe { Self::from_raw(fw) })),
            None => Err(Error::from_errno(-(bindings::EPROBE_DEFER as i32))),
        }
    }
}

impl Deref for Firmware {
    type Target = RpiFirmware;

    fn deref(&self) -> &RpiFirmware {
        // SAFETY: The firmware is live while this value holds its reference (type invariant),
        // and the returned borrow cannot outlive `self`.
        unsafe { self.ptr.as_ref() }
    }
}

impl Drop for Firmware {
    fn drop(&mut self) {
        // SAFETY: This value owns one reference to a live firmware (type invariant); it is
        // given back exactly once, here.
        unsafe { ext::kext_rpi_firmware_put(self.ptr.as_ptr().cast()) };
    }
}
