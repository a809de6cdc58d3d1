// SPDX-License-Identifier: GPL-2.0

//! Workqueues owned by a module (`alloc_workqueue`), destroyed on drop after everything queued
//! on them has run, so no work item of the module can run after its owner is gone.

use crate::kext::bindings as ext;
use core::{ops::Deref, ptr::NonNull};
use kernel::{bindings, prelude::*, str::CStr, workqueue::Queue};

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
    fn alloc(name: &'static CStr, ordered: bool, max_active: i32) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated (and copied by the callee).
        let ptr = unsafe { ext::kext_alloc_workqueue(name.as_char_ptr(), ordered, max_active) };
        // INVARIANT: A non-NULL result is a live workqueue.
        Ok(Self {
            ptr: NonNull::new(ptr.cast()).ok_or(ENOMEM)?,
        })
    }

    /// An ordered workqueue (`alloc_ordered_workqueue`): one item at a time, in queueing order.
    pub(crate) fn new_ordered(name: &'static CStr) -> Result<Self> {
        Self::alloc(name, true, 1)
    }

    /// A workqueue running up to `max_active` items at once per CPU (0: the default).
    pub(crate) fn new(name: &'static CStr, max_active: i32) -> Result<Self> {
        Self::alloc(name, false, max_active)
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

/// What a [`DelayedWork`] runs.
pub(crate) trait DelayedWorkFn: Send + Sync {
    /// The work, on `system_unbound_wq` (process context, may sleep).
    fn run(&self);
}

/// A delayed work item on `system_unbound_wq` (the 6.12 `kernel` crate has none) that runs
/// [`DelayedWorkFn::run`] of the `T` it was pointed at with [`DelayedWork::set_target`];
/// cancelled (and waited for) on drop. Meant to be a field of the `T` it runs on, so that the
/// `T` can queue it; until a target is set, it runs nothing.
///
/// # Invariants
///
/// `raw` is a live `kext_dwork` whose callback is `run_cb::<T>`, freed only on drop; its data is
/// NULL or a `T` that outlives this value.
pub(crate) struct DelayedWork<T: DelayedWorkFn> {
    raw: NonNull<super::bindings::kext_dwork>,
    _t: core::marker::PhantomData<T>,
}

// SAFETY: Delayed work may be queued and cancelled from any thread; `T` is `Send + Sync`.
unsafe impl<T: DelayedWorkFn> Send for DelayedWork<T> {}
// SAFETY: Queueing is thread-safe.
unsafe impl<T: DelayedWorkFn> Sync for DelayedWork<T> {}

/// The work function.
///
/// # Safety
///
/// `data` is the target of a live [`DelayedWork`] (see [`DelayedWork::set_target`]).
unsafe extern "C" fn run_cb<T: DelayedWorkFn>(data: *mut core::ffi::c_void) {
    // SAFETY: The C side calls this only with the non-NULL data given to `set_target`, a `T`
    // that outlives the work item (safety requirement of `set_target`), and the item is
    // cancelled synchronously before it is freed.
    let t = unsafe { &*data.cast::<T>() };
    t.run();
}

impl<T: DelayedWorkFn> DelayedWork<T> {
    /// A new delayed work item with no target (queueing it runs nothing).
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: `run_cb::<T>` matches the callback prototype.
        let raw = unsafe { super::bindings::kext_dwork_alloc(Some(run_cb::<T>)) };
        // INVARIANT: A non-NULL result is a live item with this callback and NULL data.
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
            _t: core::marker::PhantomData,
        })
    }

    /// Points the item at `target`, before it is first queued.
    ///
    /// # Safety
    ///
    /// `target` must stay valid, at the same address, until this `DelayedWork` is dropped
    /// (e.g. it is the `T` inside an `Arc` that owns this item as a field).
    pub(crate) unsafe fn set_target(&self, target: &T) {
        // INVARIANT: The caller guarantees that `target` outlives the item.
        // SAFETY: `raw` is live (type invariant).
        unsafe {
            super::bindings::kext_dwork_set_data(
                self.raw.as_ptr(),
                core::ptr::from_ref::<T>(target).cast_mut().cast(),
            )
        };
    }

    /// Queues the item to run in `ms` milliseconds, unless it is pending already. Returns
    /// whether it was queued.
    pub(crate) fn queue(&self, ms: u32) -> bool {
        // SAFETY: `raw` is live (type invariant).
        unsafe { super::bindings::kext_dwork_queue(self.raw.as_ptr(), ms) }
    }

    /// Queues the item to run in `ms` milliseconds, moving it if it is pending already.
    pub(crate) fn requeue(&self, ms: u32) {
        // SAFETY: `raw` is live (type invariant).
        unsafe { super::bindings::kext_dwork_mod(self.raw.as_ptr(), ms) };
    }

    /// Waits until the item is neither pending nor running (a run that queues it again is
    /// cancelled too).
    pub(crate) fn cancel_sync(&self) {
        // SAFETY: `raw` is live (type invariant).
        unsafe { super::bindings::kext_dwork_cancel(self.raw.as_ptr()) };
    }
}

impl<T: DelayedWorkFn> Drop for DelayedWork<T> {
    fn drop(&mut self) {
        // SAFETY: `raw` is live and not used after this; the callee cancels and waits first.
        unsafe { super::bindings::kext_dwork_free(self.raw.as_ptr()) };
    }
}
