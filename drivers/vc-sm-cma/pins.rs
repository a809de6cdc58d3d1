// SPDX-License-Identifier: GPL-2.0

//! What processes keep pinned through the driver, and the caps on it.
//!
//! A process pins memory through `/dev/vcsm-cma` in two ways:
//!
//! - MEM_ALLOC buffers, from the allocation until the VPU's RELEASED (after the process closed
//!   the fd, the VPU may keep it for a while);
//! - imported buffers while their IMPORT is in flight, and after the process let go of them
//!   (wrapper closed) for as long as the VPU still holds them: memory the process no longer
//!   holds that stays allocated on its behalf.
//!
//! Imports whose wrapper is open are not counted: they are the process's own dma-bufs, held
//! by its fds and bounded by the heap they came from. Neither are the kernel API's imports
//! (V4L2 drivers) nor the VPU's own VC_MEM_REQUEST memory.
//!
//! The usage is computed from the registry whenever it is needed (a walk over the buffers the
//! driver knows, bounded by the caps themselves), so no counter can drift from the truth. A
//! request that would take a process past `pin_cap_process_mb`, or everyone past
//! `pin_cap_total_mb`, fails with `EDQUOT` and one rate-limited line naming the process and
//! the cap. The check and the registration of the new buffer happen under one lock.

use crate::kext::task;
use crate::{
    buffer::{Entry, Origin, Registry, Vpu},
    kext::ratelimit::pr_limited,
    params,
};
use core::sync::atomic::Ordering;
use kernel::{bindings, prelude::*, rbtree::RBTree, str::CStr};

/// `EDQUOT`, which 6.12's `kernel::error::code` does not declare: a pin cap would be passed.
pub(crate) fn edquot() -> Error {
    Error::from_errno(-(bindings::EDQUOT as i32))
}

impl Entry {
    /// Bytes this entry pins on behalf of its process (see the module documentation).
    pub(crate) fn pinned_bytes(&self) -> u64 {
        if !self.buf.charged {
            return 0;
        }
        let held = match self.buf.origin {
            Origin::Alloc => true,
            Origin::Import => !self.wrapped() && self.vpu != Vpu::Released,
            Origin::VpuRequest => false,
        };
        if held {
            self.buf.size as u64
        } else {
            0
        }
    }
}

/// What is pinned: by one process, and by all.
pub(crate) struct Usage {
    pub(crate) process: u64,
    pub(crate) total: u64,
}

impl Registry {
    /// What `pid` and everyone pin now.
    pub(crate) fn pinned(&self, pid: i32) -> Usage {
        let mut u = Usage {
            process: 0,
            total: 0,
        };
        for e in self.by_id.values() {
            let b = e.pinned_bytes();
            u.total += b;
            if e.buf.pid == pid {
                u.process += b;
            }
        }
        u
    }

    /// Pinned bytes per process, for debugfs (processes pinning nothing are left out).
    pub(crate) fn pinned_by_process(&self) -> Result<RBTree<i32, u64>> {
        let mut t = RBTree::new();
        for e in self.by_id.values() {
            let b = e.pinned_bytes();
            if b == 0 {
                continue;
            }
            match t.get_mut(&e.buf.pid) {
                Some(v) => *v += b,
                None => {
                    t.try_create_and_insert(e.buf.pid, b, GFP_KERNEL)?;
                }
            }
        }
        Ok(t)
    }

    /// Fails with `EDQUOT` (and a rate-limited line) if `pid` pinning `add` more bytes for
    /// `what` would pass a cap. `refused` counts refusals.
    pub(crate) fn check_caps(
        &self,
        pid: i32,
        add: u64,
        what: &str,
        refused: &core::sync::atomic::AtomicU64,
    ) -> Result {
        let (cap_process, cap_total) = (params::pin_cap_process(), params::pin_cap_total());
        if cap_process == 0 && cap_total == 0 {
            return Ok(());
        }
        let u = self.pinned(pid);
        let checks = [
            (cap_process, u.process, "the process", "pin_cap_process_mb"),
            (cap_total, u.total, "all processes", "pin_cap_total_mb"),
        ];
        for (cap, pinned, who, param) in checks {
            if cap == 0 || pinned.saturating_add(add) <= cap {
                continue;
            }
            refused.fetch_add(1, Ordering::Relaxed);
            let comm = task::current_comm();
            pr_limited!(
                pr_warn,
                "{} of {} bytes by {} (pid {}) refused: {} would pin more than {}={} MiB ({} bytes pinned)\n",
                what,
                add,
                comm_str(&comm),
                pid,
                who,
                param,
                cap >> 20,
                pinned
            );
            return Err(edquot());
        }
        Ok(())
    }
}

/// A task name (`comm`, NUL-terminated) as a string.
fn comm_str(comm: &[u8; 16]) -> &CStr {
    CStr::from_bytes_with_nul(&comm[..=comm.iter().position(|&b| b == 0).unwrap_or(15)])
        .unwrap_or(kernel::c_str!("?"))
}
