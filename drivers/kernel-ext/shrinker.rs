// SPDX-License-Identifier: GPL-2.0

//! Shrinkers (`shrinker_alloc`/`shrinker_register`, 6.12): memory a module keeps for reuse and
//! gives back when the kernel reclaims memory.

use super::bindings as ext;
use core::{ffi::c_void, ptr::NonNull};
use kernel::{ffi::c_ulong, prelude::*, str::CStr, sync::Arc};

/// What a shrinker reclaims.
pub(crate) trait ShrinkerOps: Send + Sync {
    /// How many objects could be freed now (an estimate; 0 when there is nothing).
    fn count(&self) -> usize;

    /// Frees up to `nr` objects and returns how many it freed, or `None` if it cannot make
    /// progress now (`SHRINK_STOP`). Runs in reclaim: it must not allocate memory or wait for
    /// anything that may allocate memory.
    fn scan(&self, nr: usize) -> Option<usize>;
}

/// A registered shrinker over a `T`; unregistered on drop.
///
/// # Invariants
///
/// `raw` is a registered shrinker whose callbacks are `count_cb::<T>`/`scan_cb::<T>` with data
/// `Arc::as_ptr(&self.data)`; it is freed only on drop.
pub(crate) struct Shrinker<T: ShrinkerOps> {
    raw: NonNull<ext::kext_shrinker>,
    data: Arc<T>,
}

// SAFETY: The shrinker API may be used from any thread; `T` is `Send + Sync`.
unsafe impl<T: ShrinkerOps> Send for Shrinker<T> {}
// SAFETY: Shared references allow nothing but reading the data.
unsafe impl<T: ShrinkerOps> Sync for Shrinker<T> {}

/// The `count_objects` callback.
///
/// # Safety
///
/// `data` is the `T` a live [`Shrinker`] was registered with.
unsafe extern "C" fn count_cb<T: ShrinkerOps>(data: *mut c_void) -> c_ulong {
    // SAFETY: `data` is the `Arc<T>` pointer registered with this callback, alive until the
    // shrinker is freed, which waits for running callbacks (type invariant of `Shrinker`).
    let t = unsafe { &*data.cast::<T>() };
    t.count() as c_ulong
}

/// The `scan_objects` callback.
///
/// # Safety
///
/// As for [`count_cb`].
unsafe extern "C" fn scan_cb<T: ShrinkerOps>(data: *mut c_void, nr: c_ulong) -> c_ulong {
    // SAFETY: As in `count_cb`.
    let t = unsafe { &*data.cast::<T>() };
    match t.scan(nr) {
        Some(freed) => freed as c_ulong,
        // SAFETY: Returns a constant.
        None => unsafe { ext::kext_shrink_stop() },
    }
}

impl<T: ShrinkerOps> Shrinker<T> {
    /// Registers a shrinker named `name` (shown in `/sys/kernel/debug/shrinker/`) over `data`.
    pub(crate) fn register(name: &CStr, data: Arc<T>) -> Result<Self> {
        let ptr = core::ptr::from_ref::<T>(&*data).cast_mut().cast::<c_void>();
        // SAFETY: `name` is NUL-terminated (copied by the callee); the callbacks match the
        // C prototypes and `ptr` stays valid until `Drop` has freed the shrinker.
        let raw = unsafe {
            ext::kext_shrinker_register(
                name.as_char_ptr(),
                Some(count_cb::<T>),
                Some(scan_cb::<T>),
                ptr,
            )
        };
        // INVARIANT: A non-NULL result is a registered shrinker with these callbacks and data.
        Ok(Self {
            raw: NonNull::new(raw).ok_or(ENOMEM)?,
            data,
        })
    }

    /// The data the shrinker works on.
    pub(crate) fn data(&self) -> &Arc<T> {
        &self.data
    }
}

impl<T: ShrinkerOps> Drop for Shrinker<T> {
    fn drop(&mut self) {
        // SAFETY: The shrinker is registered (type invariant) and not used after this; the
        // callee returns once no callback runs, so `self.data` may go afterwards.
        unsafe { ext::kext_shrinker_free(self.raw.as_ptr()) };
    }
}
