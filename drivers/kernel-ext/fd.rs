// SPDX-License-Identifier: GPL-2.0

//! File descriptors: reserve a number first, install a file into it last, so that a failure in
//! between (for example copying the result to userspace) leaves no descriptor behind.

use super::{
    bindings as ext,
    compat::ARef,
    dma_buf::{self, DmaBuf},
};
use kernel::prelude::*;

/// A reserved, not yet installed file descriptor of the current process
/// (`get_unused_fd_flags`); given back (`put_unused_fd`) on drop unless installed.
///
/// # Invariants
///
/// `fd` was reserved by `get_unused_fd_flags` in the current process and is neither installed
/// nor released.
pub(crate) struct FdReservation {
    fd: u32,
}

impl FdReservation {
    /// Reserves the lowest free descriptor, with `flags` (`O_CLOEXEC`) applied on install.
    pub(crate) fn new(flags: u32) -> Result<Self> {
        // SAFETY: Always safe to call from process context.
        let fd = unsafe { ext::get_unused_fd_flags(flags) };
        // INVARIANT: A non-negative result is a reserved descriptor.
        Ok(Self {
            fd: u32::try_from(fd).map_err(|_| Error::from_errno(fd))?,
        })
    }

    /// The descriptor number.
    pub(crate) fn fd(&self) -> i32 {
        // `get_unused_fd_flags` returns an `int`, so this cannot truncate.
        self.fd as i32
    }

    /// Installs `buf`'s file in the descriptor, which takes over `buf`'s reference. This
    /// cannot fail; the descriptor is visible to userspace from now on.
    pub(crate) fn install(self, buf: ARef<DmaBuf>) {
        let raw = dma_buf::into_raw(buf);
        let this = core::mem::ManuallyDrop::new(self);
        // SAFETY: The descriptor is reserved by the type invariant, in this process; `raw` is a
        // live dma-buf whose file reference (the one `buf` owned, a dma-buf reference is a
        // reference to its file) passes to the descriptor table, as `dma_buf_fd` does.
        unsafe { ext::fd_install(this.fd, (*raw).file) };
    }
}

impl Drop for FdReservation {
    fn drop(&mut self) {
        // SAFETY: The descriptor is reserved and not installed by the type invariant.
        unsafe { ext::put_unused_fd(self.fd) };
    }
}
