// SPDX-License-Identifier: GPL-2.0

//! A value that users borrow, which teardown revokes and then waits until nobody uses it.
//!
//! The `kernel` crate's `Revocable` protects its users with RCU, so a user may not sleep; the
//! users here do (a sender blocks until VCHIQ has queued its message, an import maps and
//! waits for the VPU). This one counts its users under a mutex instead:
//! [`Revocable::try_access`] hands out a clone of the value with a [`UseGuard`] that counts as
//! a use until dropped, and [`Revocable::revoke_and_wait`] refuses new users, then sleeps until
//! the last guard is gone, and returns the value. Once revoked it stays revoked.
//!
//! `T` is `Unpin`: the value is moved in and out (and 7.3's lock guards give mutable access
//! only to `Unpin` data).
//!
//! Its lock is a leaf: nothing else is taken under it, and guards may be dropped with any
//! other lock held.

use kernel::{
    new_condvar, new_mutex,
    prelude::*,
    sync::{CondVar, Mutex},
};

struct Inner<T> {
    value: Option<T>,
    users: u32,
    revoked: bool,
}

/// See the module documentation.
#[pin_data]
pub(crate) struct Revocable<T: Clone + Unpin> {
    #[pin]
    inner: Mutex<Inner<T>>,
    /// Signalled when the last user goes.
    #[pin]
    idle: CondVar,
}

impl<T: Clone + Unpin> Revocable<T> {
    /// A revocable that holds `value` (or nothing yet, for [`Revocable::provide`] to fill).
    pub(crate) fn new(value: Option<T>) -> impl PinInit<Self> {
        pin_init!(Self {
            inner <- new_mutex!(Inner {
                value,
                users: 0,
                revoked: false,
            }),
            idle <- new_condvar!(),
        })
    }

    /// Sets the value users get; gives it back if the revocable was revoked already.
    pub(crate) fn provide(&self, value: T) -> core::result::Result<(), T> {
        let mut inner = self.inner.lock();
        if inner.revoked {
            return Err(value);
        }
        inner.value = Some(value);
        Ok(())
    }

    /// A use of the value, or `None` if there is none (not provided yet, or revoked).
    pub(crate) fn try_access(&self) -> Option<UseGuard<'_, T>> {
        let mut inner = self.inner.lock();
        let value = inner.value.clone()?;
        inner.users += 1;
        Some(UseGuard { owner: self, value })
    }

    /// Refuses new users, waits until every [`UseGuard`] is dropped, and returns the value.
    ///
    /// Must not be called by a holder of a guard of this revocable (it would wait for itself).
    pub(crate) fn revoke_and_wait(&self) -> Option<T> {
        let mut inner = self.inner.lock();
        inner.revoked = true;
        let value = inner.value.take();
        while inner.users > 0 {
            self.idle.wait(&mut inner);
        }
        value
    }
}

/// One use of a [`Revocable`]'s value; the revocable's teardown waits until it is dropped.
pub(crate) struct UseGuard<'a, T: Clone + Unpin> {
    owner: &'a Revocable<T>,
    value: T,
}

impl<T: Clone + Unpin> core::ops::Deref for UseGuard<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T: Clone + Unpin> Drop for UseGuard<'_, T> {
    fn drop(&mut self) {
        let mut inner = self.owner.inner.lock();
        inner.users = inner.users.saturating_sub(1);
        if inner.users == 0 {
            self.owner.idle.notify_all();
        }
    }
}
