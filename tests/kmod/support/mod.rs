// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the test-only modules (the simulated VPU and the VCHIQ test client):
//! read-write debugfs control files (kernel-ext's `debugfs` only has read-only files) and the
//! test data pattern.
//!
//! Included by each crate root with `#[path = "../kmod/support/mod.rs"] mod support;` (or
//! `"support/mod.rs"`); the C half is `support_shim.c`, which each module links privately.
//! Raw declarations are in [`ffi`] and used only by the safe types here.

pub(crate) mod debugfs;
pub(crate) mod pattern;

/// The C half (`support_shim.h`).
mod ffi {
    use core::ffi::{c_char, c_int, c_void};
    use kernel::bindings;

    extern "C" {
        pub(super) fn vt_debugfs_dir(name: *const c_char) -> *mut c_void;
        pub(super) fn vt_debugfs_file(
            dir: *mut c_void,
            name: *const c_char,
            mode: bindings::umode_t,
            data: *mut c_void,
        ) -> c_int;
        pub(super) fn vt_debugfs_remove(dir: *mut c_void);
        pub(super) fn vt_seq_put(m: *mut c_void, buf: *const c_void, len: usize) -> c_int;
    }
}
