// SPDX-License-Identifier: GPL-2.0

//! Workqueues owned by a module (`alloc_workqueue`), destroyed on drop after everything queued
//! on them has run, so no work item of the module can run after its owner is gone.

use core::{ops::Deref, ptr::NonNull};
use kernel::{bindings, c_str, prelude::*, str::CStr, workqueue::Queue};

/// An owned workqueue.
///
/// # Invariants
///
/// `ptr` is a live workqueue from `alloc_workqueue`, destroyed only on drop.
pub(crate) struct OwnedQueue {
    ptr: NonNull<bindings::workqueue_struct>,
}

// SAFETY: Workqueues may be used and destroyed from any thread.
unsafe impl Send for OwnedQueue {}
// SAFETY: Queueing work is thread-safe.
unsafe impl Sync for OwnedQueue {}

impl OwnedQueue {
    fn alloc(name: &'static CStr, flags: u32, max_active: i32) -> Result<Self> {
        // SAFETY: The format is "%s" with one string argument, `name`, which is NUL-terminated
        // (the name is copied by the callee).
        let ptr = unsafe {
            bindings::alloc_workqueue(
                c_str!("%s").as_char_ptr(),
                flags,
                max_active,
                name.as_char_ptr(),
            )
        };
        // INVARIANT: A non-NULL result is a live workqueue.
        Ok(Self {
            ptr: NonNull::new(ptr).ok_or(ENOMEM)?,
        })
    }

    /// An ordered workqueue (`alloc_ordered_workqueue`): one item at a time, in queueing order.
    pub(crate) fn new_ordered(name: &'static CStr) -> Result<Self> {
        Self::alloc(
            name,
            bindings::wq_flags_WQ_UNBOUND | bindings::wq_flags___WQ_ORDERED,
            1,
        )
    }

    /// A workqueue running up to `max_active` items at once per CPU (0: the default).
    pub(crate) fn new(name: &'static CStr, max_active: i32) -> Result<Self> {
        Self::alloc(name, 0, max_active)
    }
}

impl OwnedQueue {
    /// Waits until every item queued so far has run (`flush_workqueue`).
    pub(crate) fn flush(&self) {
        // SAFETY: The workqueue is live (type invariant).
        unsafe { bindings::__flush_workqueue(self.ptr.as_ptr()) };
    }
}

impl Deref for OwnedQueue {
    type Target = Queue;

    fn deref(&self) -> &Queue {
        // SAFETY: The workqueue is live for as long as `self` (type invariant).
        unsafe { Queue::from_raw(self.ptr.as_ptr()) }
    }
}

impl Drop for OwnedQueue {
    fn drop(&mut self) {
        // SAFETY: The workqueue is live and not used after this; `destroy_workqueue` first
        // drains it (runs every queued item, including ones queued while draining).
        unsafe { bindings::destroy_workqueue(self.ptr.as_ptr()) };
    }
}
