// SPDX-License-Identifier: GPL-2.0

//! VideoCore shared memory (`vc-sm-cma`): lends physically contiguous dma-bufs to the
//! VideoCore VPU over the VCHIQ service `SMEM`, and keeps them alive until the VPU lets go.
//!
//! A drop-in replacement for the Raspberry Pi downstream C driver of the same name:
//!
//! - binds as the vchiq-bus driver "vcsm-cma" and, once VCHIQ is connected, opens the service
//!   `SMEM` and announces protocol 2 (the host handles RELEASED and VC_MEM_REQUEST);
//! - `/dev/vcsm-cma` with the downstream ioctls `VC_SM_CMA_IOCTL_MEM_ALLOC` and
//!   `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF` (same numbers and 64-byte layouts);
//! - the kernel API `vc_sm_cma_import_dmabuf`, `vc_sm_cma_int_handle`, `vc_sm_cma_free`
//!   (`vc_sm_knl.h`) for bcm2835-mmal-vchiq and bcm2835-isp;
//! - memory the VPU asks for (VC_MEM_REQUEST), served on a workqueue;
//! - debugfs `vcsm-cma/state`, with what the Raspberry Pi firmware (if any) says about the
//!   board.
//!
//! Files: [`vcsm`] (the VCHIQ service client and the device's life), [`transaction`] (request
//! and reply matching), [`buffer`] (buffers, imports and their lifetime), [`export`] (the
//! dma-buf that wraps a buffer), [`mapcache`] (the VPU's one mapping of each imported
//! dma-buf), [`alloc`] (MEM_ALLOC and VC_MEM_REQUEST memory), [`pins`] (what processes pin and
//! the caps on it), [`ioctl`] (`/dev/vcsm-cma`), [`debugfs`], [`kapi`] (the exported kernel
//! API), [`firmware`] (the board facts from the Raspberry Pi firmware), [`window`] (the ARM
//! memory the VPU may be handed), [`params`] (the module parameters).
//!
//! The lifetime rule everything follows: a buffer's memory (an imported dma-buf with its
//! attachment and mapping, or an allocation) is kept until both no dma-buf exposes it any more
//! *and* the VPU has confirmed with RELEASED that it dropped its handle (with firmware that
//! does not speak protocol 2, sending FREE counts as the confirmation).

// `Vcsm`'s initialiser (`try_pin_init!` over its 19 fields) nests deeper than the default 128.
#![recursion_limit = "256"]

use kernel::{c_str, prelude::*, str::CStr, sync::Arc};

// kernel-ext is shared by every module, each using part of it, so its dead-code warnings are
// only meaningful across all of them: `scripts/lint.sh` builds with `--cfg kext_audit` and fails
// on an item no module uses (lint-kext-dead-code).
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod kext;

#[path = "../kernel-ext/vchiq.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod vchiq;

#[path = "../common/src/smem.rs"]
#[allow(dead_code, unreachable_pub)] // Shared with the simulated VPU, which uses the rest.
mod smem;

#[path = "../common/src/rpi_fw.rs"]
#[allow(dead_code, unreachable_pub)] // Shared; this module asks for a few properties only.
mod rpi_fw;

#[path = "../kernel-ext/rpi_firmware.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod rpi_firmware;

#[path = "../common/src/vpu_window.rs"]
#[allow(dead_code, unreachable_pub)] // Shared with the heap.
mod vpu_window;
// The kernel's `Display` for the shared window types (host crates know only core's).
kext::compat::kext_impl_display!(vpu_window::WindowError, vpu_window::Window);

#[path = "../kernel-ext/vpu_ranges.rs"]
#[cfg_attr(not(kext_audit), allow(dead_code))]
mod vpu_ranges;

mod alloc;
mod buffer;
mod debugfs;
mod export;
mod firmware;
mod ioctl;
mod kapi;
mod mapcache;
mod params;
mod pins;
mod transaction;
mod vcsm;
mod window;

use kext::rcu_arc::RcuArc;
use vcsm::Vcsm;

module! {
    type: VcsmModule,
    name: "vc_sm_cma",
    description: "VideoCore shared memory: CMA buffers shared with the VPU over VCHIQ",
    license: "GPL",
    alias: ["vchiq:vcsm-cma"],
}

/// The name of the vchiq device, the misc device and the debugfs directory.
pub(crate) const NAME: &CStr = c_str!("vcsm-cma");

/// The bound, connected device (the driver is a singleton: there is one VideoCore), for the
/// kernel API and the VCHIQ connected callback, neither of which gets a context pointer.
static CURRENT: RcuArc<Vcsm> = RcuArc::new();

/// The bound device, if any.
pub(crate) fn current() -> Option<Arc<Vcsm>> {
    CURRENT.get()
}

/// Makes `vcsm` (or nothing) the device the kernel API and the connected callback use. Once it
/// returns, no caller still gets the old device.
fn set_current(vcsm: Option<Arc<Vcsm>>) {
    drop(CURRENT.replace(vcsm));
}

/// Runs once VCHIQ is connected to the VideoCore (VCHIQ gives the callback no argument).
extern "C" fn vchiq_connected() {
    if let Some(vcsm) = current() {
        vcsm.schedule_connect();
    }
}

/// The vchiq-bus driver: one [`Vcsm`] per bound device.
#[pin_data(PinnedDrop)]
struct VcsmDriver {
    vcsm: Arc<Vcsm>,
    /// The reference to the Raspberry Pi firmware, if there is one, held while the device is
    /// bound; given back when the driver data is dropped (on remove, after
    /// [`Vcsm::remove`], and on every probe error after it was taken).
    _firmware: Option<rpi_firmware::Firmware>,
}

impl vchiq::Driver for VcsmDriver {
    const NAME: &'static CStr = NAME;

    fn probe(dev: &vchiq::VchiqDevice) -> Result<Pin<KBox<Self>>> {
        if current().is_some() {
            pr_err!("only one VideoCore is supported; not binding a second vcsm-cma device\n");
            return Err(EBUSY);
        }
        // The driver core dropped the device's DMA set-up (the VPU bus alias from the parent's
        // dma-ranges) if a driver was bound to it before.
        if let Err(e) = dev.dma_configure() {
            pr_warn!(
                "cannot restore the DMA configuration of the vchiq device: {:?}\n",
                e
            );
        }
        // On a Raspberry Pi, what the firmware says about the board (for debugfs); nothing
        // (and no error) elsewhere. Dropping `firmware` on an error below gives it back.
        let (firmware, fw_info) = firmware::probe();
        let vcsm = Vcsm::new(dev, fw_info)?;
        let this = KBox::pin(
            VcsmDriver {
                vcsm: vcsm.clone(),
                _firmware: firmware,
            },
            GFP_KERNEL,
        )?;
        set_current(Some(vcsm));
        // The callback runs at once if VCHIQ is already connected, otherwise later.
        dev.add_connected_callback(vchiq_connected);
        Ok(this)
    }
}

#[pinned_drop]
impl PinnedDrop for VcsmDriver {
    fn drop(self: Pin<&mut Self>) {
        // No new kernel-API calls or connected callbacks find the device after this.
        set_current(None);
        self.vcsm.remove();
    }
}

struct VcsmModule {
    /// Unregistering unbinds the device, which empties [`CURRENT`].
    _driver: vchiq::Registration<VcsmDriver>,
}

impl kernel::Module for VcsmModule {
    fn init(module: &'static ThisModule) -> Result<Self> {
        let driver = vchiq::Registration::new(module).inspect_err(|e| {
            pr_err!("cannot register the vchiq driver \"vcsm-cma\": {:?}\n", e);
        })?;
        Ok(Self { _driver: driver })
    }
}
