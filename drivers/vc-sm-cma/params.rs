// SPDX-License-Identifier: GPL-2.0

//! The module parameters, declared in `vc_sm_cma_shim.c` (the 6.12 `module!` cannot).

use crate::kext::param::kext_param;

kext_param! {
    /// The module parameter `timeout_ms`: how long to wait for a VPU reply.
    pub(crate) fn timeout_ms: u32;
}

kext_param! {
    /// The module parameter `first_trans_id`: where transaction ids start counting.
    pub(crate) fn first_trans_id: u32;
}

kext_param! {
    /// The module parameter `pin_cap_process_mb` (0: no cap).
    fn pin_cap_process_mb: u32;
}

kext_param! {
    /// The module parameter `pin_cap_total_mb` (0: no cap).
    fn pin_cap_total_mb: u32;
}

/// Bytes in `mb` MiB; 0 (no cap) stays 0.
fn mib(mb: u32) -> u64 {
    u64::from(mb) << 20
}

/// What one process may keep pinned through the driver, in bytes (0: no cap).
pub(crate) fn pin_cap_process() -> u64 {
    mib(pin_cap_process_mb())
}

/// What all processes together may keep pinned through the driver, in bytes (0: no cap).
pub(crate) fn pin_cap_total() -> u64 {
    mib(pin_cap_total_mb())
}
