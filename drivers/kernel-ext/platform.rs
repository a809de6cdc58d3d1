// SPDX-License-Identifier: GPL-2.0

//! A platform driver defined in the module's C shim (the 6.12 `kernel` crate has no platform
//! driver abstraction): the shim defines the `struct platform_driver`, whose probe and remove
//! call into Rust, and names it with `KEXT_PLATFORM_DRIVER` (`kext_module.h`); Rust registers
//! it for as long as a [`CPlatformDriver`] lives.

use kernel::{error::to_result, prelude::*};

extern "C" {
    // Defined by `KEXT_PLATFORM_DRIVER` (`kext_module.h`) in the module's C shim.
    fn kext_platform_driver_register() -> core::ffi::c_int;
    fn kext_platform_driver_unregister();
}

/// The module's C platform driver, registered while this lives.
///
/// # Invariants
///
/// The driver is registered, by this value (a second registration of the same driver fails with
/// `EBUSY`, so there is at most one).
pub(crate) struct CPlatformDriver(());

impl CPlatformDriver {
    /// Registers the driver; its devices are probed from here on.
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: `KEXT_PLATFORM_DRIVER` defines this with this prototype; it calls
        // `platform_driver_register`, which refuses a driver already registered.
        to_result(unsafe { kext_platform_driver_register() })?;
        // INVARIANT: Registered just now.
        Ok(Self(()))
    }
}

impl Drop for CPlatformDriver {
    fn drop(&mut self) {
        // SAFETY: The driver is registered, by this value (type invariant); its devices are
        // unbound before this returns.
        unsafe { kext_platform_driver_unregister() };
    }
}
