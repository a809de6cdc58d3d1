// SPDX-License-Identifier: GPL-2.0

//! The VCHIQ connection as clients see it through `vchiq_add_connected_callback` and
//! `vchiq_initialise` (the C side, `vpu_sim_shim.c`, keeps it in the platform device's
//! `struct vchiq_drv_mgmt`, under its `connected_mutex`).
//!
//! The simulated VPU connects at probe, before the vchiq device exists, as VCHIQ does. Debugfs
//! `connected off` puts it back in the state before the connection: connected callbacks are
//! deferred (at most 10) and `vchiq_initialise` fails with `ENOTCONN`; `connected on` brings
//! the connection up and runs the deferred callbacks under the mutex.

use crate::kext::compat::ARef;
use crate::support::debugfs::{on_off, SeqFile};
use core::ffi::{c_int, c_void};
use kernel::{device::Device, error::to_result, prelude::*};

/// `struct vpu_sim_conn_info` (`vpu_sim_shim.h`).
#[repr(C)]
#[derive(Default)]
struct Info {
    connected: u32,
    remote_up: u32,
    deferred: u32,
    pad: u32,
    immediate: u64,
    deferred_run: u64,
    over_limit: u64,
    dropped: u64,
}

// `VPU_SIM_CONN_INFO_SIZE`, which the C side asserts.
const _: () = assert!(core::mem::size_of::<Info>() == 48);

/// The C side (`vpu_sim_shim.h`).
mod shim {
    use super::Info;
    use core::ffi::{c_int, c_void};

    extern "C" {
        pub(super) fn vpu_sim_set_connected(pdev: *mut c_void, on: bool) -> c_int;
        pub(super) fn vpu_sim_conn_info(pdev: *mut c_void, info: *mut Info);
    }
}

/// The connection of the simulator whose platform device is `pdev`.
pub(crate) struct Connection {
    pdev: ARef<Device>,
}

impl Connection {
    pub(crate) fn new(pdev: ARef<Device>) -> Self {
        Self { pdev }
    }

    fn dev_ptr(&self) -> *mut c_void {
        core::ptr::from_ref::<Device>(&*self.pdev)
            .cast_mut()
            .cast::<c_void>()
    }

    fn info(&self) -> Info {
        let mut info = Info::default();
        // SAFETY: `dev_ptr()` is the live, bound platform device (we hold a reference, and
        // the simulator lives only while it is bound); `info` is valid for a write.
        unsafe { shim::vpu_sim_conn_info(self.dev_ptr(), &mut info) };
        info
    }

    /// Whether clients see VCHIQ connected.
    pub(crate) fn connected(&self) -> bool {
        self.info().connected != 0
    }

    /// Brings the connection up (running the deferred callbacks) or back down. Must not be
    /// called with the simulator's lock held: the callbacks may call into the simulator.
    pub(crate) fn set(&self, on: bool) -> Result {
        // SAFETY: As in `info`; the callee takes `connected_mutex` itself.
        let ret: c_int = unsafe { shim::vpu_sim_set_connected(self.dev_ptr(), on) };
        to_result(ret)
    }

    /// The `state` file's connection line.
    pub(crate) fn show(&self, out: &mut SeqFile<'_>) -> Result {
        let i = self.info();
        out.fmt(format_args!(
            "connection connected={} remote_up={} deferred={} immediate={} deferred_run={} over_limit={} dropped={}\n",
            on_off(i.connected != 0),
            on_off(i.remote_up != 0),
            i.deferred,
            i.immediate,
            i.deferred_run,
            i.over_limit,
            i.dropped
        ))
    }
}
