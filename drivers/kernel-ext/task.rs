// SPDX-License-Identifier: GPL-2.0

//! Facts about the current task that the 6.12 `kernel` crate does not give.

use super::bindings as ext;

/// The process of the current task: its tgid, as seen from the initial PID namespace.
pub(crate) fn current_tgid() -> i32 {
    // SAFETY: Reads the current task's tgid; always safe.
    unsafe { ext::kext_current_tgid() }
}

/// The current task's name (`comm`), NUL-terminated, for log lines.
pub(crate) fn current_comm() -> [u8; 16] {
    let mut buf = [0u8; 16];
    // SAFETY: `buf` is valid for writes of its length; the C side writes at most that many
    // bytes, NUL-terminated.
    unsafe { ext::kext_current_comm(buf.as_mut_ptr().cast(), buf.len() as u32) };
    buf
}
