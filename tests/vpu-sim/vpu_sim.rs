// SPDX-License-Identifier: GPL-2.0

//! Simulated VideoCore (VPU) for testing VCHIQ clients without a Raspberry Pi.
//!
//! A platform driver for the device-tree node `compatible = "vcsm,vpu-sim"` (see
//! `tests/vpu-sim/README.md` and `dts-overlays/vpu-sim-virt-overlay.dts`). It
//!
//! - exports the VCHIQ kernel client API (`vchiq_initialise`, `vchiq_open_service`,
//!   `vchiq_queue_kernel_message`, `vchiq_msg_hold`, ...) and the vchiq-bus driver API with the
//!   prototypes and struct layouts of the 6.12 headers, so a client built against the real
//!   `vchiq.ko` runs on it unchanged ([`api`]);
//! - registers the "vchiq-bus" bus and creates the "vcsm-cma" device on it, whose parent's
//!   drvdata is a real `struct vchiq_drv_mgmt` (`vpu_sim_shim.c`), whose `connected_mutex`
//!   guards the connected callbacks as VCHIQ's does ([`connection`]);
//! - runs the firmware's SMEM service ([`firmware`]) behind asynchronous VCHIQ delivery
//!   ([`sim`]), and acts as the VPU's DMA on imported buffers through their bus addresses
//!   ([`vpu_mem`]);
//! - is observed and steered through debugfs `vpu-sim/` ([`control`]).
//!
//! It is a test module: never needed to build the driver, never installed.

use core::ffi::{c_int, c_void};
use kernel::{bindings, c_str, device::Device, prelude::*, sync::Arc};

// kernel-ext is shared by every module, each using part of it, so its dead-code warnings are
// only meaningful across all of them: `scripts/lint.sh` builds with `--cfg kext_audit` and fails
// on an item no module uses (lint-kext-dead-code).
#[cfg_attr(not(kext_audit), allow(dead_code))]
#[allow(unused_imports, unused_macros)] // Re-exports and macros of compat.rs it does not use.
mod kext;
#[path = "../../drivers/common/src/smem.rs"]
#[allow(dead_code, unreachable_pub)]
mod smem;
#[path = "../kmod/support/mod.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))] // Shared with the test client; see `mod kext`.
mod support;

mod api;
mod connection;
mod control;
mod firmware;
mod sim;
mod vpu_mem;

use control::SimControl;
use sim::Sim;
use support::debugfs::Dir;

module! {
    type: VpuSimModule,
    name: "vpu_sim",
    description: "Simulated VideoCore: VCHIQ client API and SMEM firmware service, for tests",
    license: "GPL",
}

/// The C side of the module (`vpu_sim_shim.c`).
mod shim {
    use core::ffi::c_int;

    extern "C" {
        pub(crate) fn vpu_sim_driver_register() -> c_int;
        pub(crate) fn vpu_sim_driver_unregister();
    }
}

struct VpuSimModule;

impl kernel::Module for VpuSimModule {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        // SAFETY: Called once, from module init.
        kernel::error::to_result(unsafe { shim::vpu_sim_driver_register() })?;
        Ok(Self)
    }
}

impl Drop for VpuSimModule {
    fn drop(&mut self) {
        // SAFETY: The drivers were registered in `init`.
        unsafe { shim::vpu_sim_driver_unregister() };
    }
}

/// One simulated VPU: what the C side keeps as its context.
pub(crate) struct SimDevice {
    /// Removed first, so no control operation runs during shutdown.
    control: Option<Dir<SimControl>>,
    sim: Arc<Sim>,
}

impl SimDevice {
    /// The simulator.
    pub(crate) fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }
}

impl Drop for SimDevice {
    fn drop(&mut self) {
        drop(self.control.take());
        self.sim.shutdown();
    }
}

/// Sets up the simulator of platform device `pdev`.
///
/// # Safety
///
/// Only called by `vpu_sim_shim.c` from the probe of `pdev`, with a writable `ctx`.
#[no_mangle]
unsafe extern "C" fn vpu_sim_rust_probe(
    pdev: *mut bindings::device,
    ctx: *mut *mut c_void,
) -> c_int {
    // SAFETY: `pdev` is the device being probed; we take our own reference.
    let pdev = unsafe { Device::get_device(pdev) };
    let setup = || -> Result<KBox<SimDevice>> {
        let sim = Sim::new(
            vpu_mem::Bus::new(pdev.clone()),
            connection::Connection::new(pdev),
        )?;
        let control = Arc::new(SimControl::new(sim.clone()), GFP_KERNEL)?;
        let mut dev = KBox::new(SimDevice { control: None, sim }, GFP_KERNEL)?;
        dev.control = Some(Dir::new(
            c_str!("vpu-sim"),
            control,
            &control::FILES,
            &control::FOPS,
        )?);
        Ok(dev)
    };
    match setup() {
        Ok(dev) => {
            // SAFETY: The caller guarantees `ctx` is writable.
            unsafe { *ctx = KBox::into_raw(dev).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// Tears down a simulator set up by [`vpu_sim_rust_probe`].
///
/// # Safety
///
/// Only called by `vpu_sim_shim.c`, once, with the context `vpu_sim_rust_probe` stored, after
/// the vchiq device (and so every client) is gone.
#[no_mangle]
unsafe extern "C" fn vpu_sim_rust_remove(ctx: *mut c_void) {
    // SAFETY: `ctx` came from `KBox::into_raw` in `vpu_sim_rust_probe`.
    drop(unsafe { KBox::from_raw(ctx.cast::<SimDevice>()) });
}
