// SPDX-License-Identifier: GPL-2.0

//! [`RcuArc`]: a slot for an `Arc` that readers clone without a lock, for state that needs a
//! `static` home (an exported C function or a C callback that gets no context pointer).

use super::bindings as ext;
use core::{
    marker::PhantomData,
    ptr,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::sync::{Arc, ArcBorrow};

/// An RCU read-side critical section, left on drop; not `Send`, as it must end on the task that
/// began it.
struct ReadGuard(PhantomData<*mut ()>);

impl ReadGuard {
    fn new() -> Self {
        // SAFETY: Always safe; balanced by the unlock in `drop`.
        unsafe { ext::kext_rcu_read_lock() };
        Self(PhantomData)
    }
}

impl Drop for ReadGuard {
    fn drop(&mut self) {
        // SAFETY: Balances the lock taken in `new`, on the same task (the guard is not `Send`).
        unsafe { ext::kext_rcu_read_unlock() };
    }
}

/// An `Option<Arc<T>>` in a slot that is `const`-constructible (so it can be a `static`, which
/// needs no initialisation order): [`RcuArc::get`] clones the `Arc` inside an RCU read-side
/// section, without a lock and without sleeping; [`RcuArc::replace`] swaps it and waits for an
/// RCU grace period before it hands the old one back, so no reader is still taking a reference
/// from it.
///
/// # Invariants
///
/// `ptr` is NULL or comes from [`Arc::into_raw`] and stands for one reference that the slot
/// owns. A pointer swapped out of `ptr` is turned back into its `Arc` only after a grace period
/// that began after the swap.
pub(crate) struct RcuArc<T> {
    ptr: AtomicPtr<T>,
    /// The slot owns an `Arc<T>`: it is `Send` and `Sync` where `Arc<T>` is.
    _owns: PhantomData<Arc<T>>,
}

impl<T> RcuArc<T> {
    /// An empty slot.
    pub(crate) const fn new() -> Self {
        // INVARIANT: NULL.
        Self {
            ptr: AtomicPtr::new(ptr::null_mut()),
            _owns: PhantomData,
        }
    }

    /// A new reference to the `Arc` in the slot, if there is one. Does not sleep.
    pub(crate) fn get(&self) -> Option<Arc<T>> {
        let _rcu = ReadGuard::new();
        let p = self.ptr.load(Ordering::Acquire);
        if p.is_null() {
            return None;
        }
        // SAFETY: `p` came from `Arc::into_raw` and its reference is still owned by the slot or
        // by a `replace` that swapped it out after this section began; that `replace` waits for
        // a grace period, so for the end of this section, before it gives the reference back
        // (type invariants). So the object is alive while the borrow is used, here, to take a
        // new reference.
        let borrow = unsafe { ArcBorrow::from_raw(p) };
        Some(borrow.into())
    }

    /// Puts `new` in the slot and returns what it held, once no reader can still be taking a
    /// reference from that. May sleep (it waits for an RCU grace period when it returns an
    /// `Arc`).
    pub(crate) fn replace(&self, new: Option<Arc<T>>) -> Option<Arc<T>> {
        let newp = new.map_or(ptr::null_mut(), |a| Arc::into_raw(a).cast_mut());
        // INVARIANT: The slot now owns `new`'s reference; the old one is this call's.
        let old = self.ptr.swap(newp, Ordering::AcqRel);
        if old.is_null() {
            return None;
        }
        // Readers that loaded `old` did so inside a read-side section that began before the
        // swap; this waits for all of them.
        // SAFETY: Always safe from process context, which `replace` is documented to need.
        unsafe { ext::kext_synchronize_rcu() };
        // SAFETY: `old` came from `Arc::into_raw` and the swap gave its reference to this call
        // alone; the grace period has passed (type invariants).
        Some(unsafe { Arc::from_raw(old) })
    }
}

impl<T> Drop for RcuArc<T> {
    fn drop(&mut self) {
        let p = *self.ptr.get_mut();
        if !p.is_null() {
            // SAFETY: `p` came from `Arc::into_raw` and its reference is the slot's; `&mut self`
            // means no reader is in a `get`.
            drop(unsafe { Arc::from_raw(p) });
        }
    }
}
