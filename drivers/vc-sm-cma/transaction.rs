// SPDX-License-Identifier: GPL-2.0

//! Requests that wait for a VPU reply, matched to replies by transaction id.
//!
//! Ids are 31 bits wide ([`smem::next_trans_id`]) and never reused while a request with that
//! id is pending. Pending requests live in an [`RBTree`] keyed by id, so a reply is matched in
//! O(log n) whatever the number of requests in flight.
//!
//! A waiter gives up after `timeout_ms` or on a signal. A request that created state on the
//! VPU (IMPORT) then stays in the tree as *abandoned*: when its reply comes, the receive path
//! hands it to [`Vcsm::late_import`], which frees the VPU handle, instead of dropping it.

use crate::{
    kext::ratelimit::pr_limited,
    params,
    smem::{self, HostBody, HostMsg, MsgType, Reply},
    vcsm::{Event, EventWork, Vcsm},
};
use core::sync::atomic::{AtomicU32, Ordering};
use kernel::{
    bindings,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, CondVarTimeoutResult},
    time::msecs_to_jiffies,
};

/// `ETIMEDOUT`, which 6.12's `kernel::error::code` does not declare.
pub(crate) fn etimedout() -> Error {
    Error::from_errno(-(bindings::ETIMEDOUT as i32))
}

/// The reply to an IMPORT whose waiter gave up.
///
/// Allocated (inside its event work item) before the IMPORT is sent, so that handling a late
/// reply never needs memory on the receive path: a reply that could not be handed on would
/// leave the VPU with a handle the driver never frees.
#[derive(Debug)]
pub(crate) struct Late {
    /// The buffer the IMPORT was for.
    pub(crate) kernel_id: u32,
    /// The VPU handle it got, 0 if none; set when the reply arrives.
    pub(crate) res_handle: AtomicU32,
}

enum State {
    /// No reply yet; the waiter is waiting.
    Waiting,
    /// The reply, for the waiter to take.
    Replied(Reply),
    /// The connection closed before a reply.
    Closed,
    /// The waiter gave up; the reply goes to [`Vcsm::late_import`].
    Abandoned,
}

struct Pending {
    state: State,
    what: MsgType,
    /// For IMPORT: the work item that undoes a late reply (it names the buffer).
    late: Option<Arc<EventWork>>,
}

/// The pending requests.
pub(crate) struct TransTable {
    last_id: u32,
    pending: RBTree<u32, Pending>,
    /// Entries in `pending`.
    len: u32,
    closed: bool,
    abandoned: u32,
}

/// Why a request failed.
pub(crate) struct Failure {
    pub(crate) err: Error,
    /// The waiter gave up but the request stays pending (see the module documentation).
    pub(crate) abandoned: bool,
}

impl From<Error> for Failure {
    fn from(err: Error) -> Self {
        Self {
            err,
            abandoned: false,
        }
    }
}

impl TransTable {
    /// An empty table whose first id follows `first` (31 bits).
    pub(crate) fn new(first: u32) -> Self {
        Self {
            last_id: first & smem::TRANS_ID_MASK,
            pending: RBTree::new(),
            len: 0,
            closed: false,
            abandoned: 0,
        }
    }

    /// The next id not used by a pending request.
    fn next_id(&mut self) -> Result<u32> {
        let mut id = self.last_id;
        // At most one id per pending request is skipped.
        for _ in 0..=self.len {
            id = smem::next_trans_id(id);
            if self.pending.get(&id).is_none() {
                self.last_id = id;
                return Ok(id);
            }
        }
        Err(EBUSY)
    }

    /// An id for a message that gets no reply (it still skips the ids of pending requests).
    pub(crate) fn next_untracked_id(&mut self) -> u32 {
        self.next_id().unwrap_or(self.last_id)
    }

    /// Requests waiting for a reply, those abandoned by their waiter, and the last id used.
    pub(crate) fn counts(&self) -> (u32, u32, u32) {
        (
            self.len.saturating_sub(self.abandoned),
            self.abandoned,
            self.last_id,
        )
    }

    fn remove(&mut self, id: u32) -> Option<Pending> {
        let p = self.pending.remove(&id);
        if p.is_some() {
            self.len = self.len.saturating_sub(1);
        }
        p
    }
}

impl Vcsm {
    /// Sends `body` and waits for the reply, at most `timeout_ms`, interruptibly.
    ///
    /// With `kernel_id` (IMPORT of that buffer), a waiter that gives up leaves the request
    /// pending and the late reply is undone (`Failure::abandoned`).
    pub(crate) fn transact(
        self: &Arc<Self>,
        body: HostBody,
        kernel_id: Option<u32>,
    ) -> Result<Reply, Failure> {
        let what = body.msg_type();
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let late = match kernel_id {
            Some(kernel_id) => Some(self.new_event(Event::LateImport(Late {
                kernel_id,
                res_handle: AtomicU32::new(0),
            }))?),
            None => None,
        };
        let id = {
            let mut t = self.trans.lock();
            if t.closed {
                return Err(ENODEV.into());
            }
            let id = t.next_id()?;
            t.pending.insert(node.into_node(
                id,
                Pending {
                    state: State::Waiting,
                    what,
                    late,
                },
            ));
            t.len += 1;
            id
        };
        if let Err(e) = self.send(&HostMsg::new(id, body)) {
            pr_limited!(
                pr_err,
                "cannot send {:?} (transaction {}): {:?}\n",
                what,
                id,
                e
            );
            self.trans.lock().remove(id);
            return Err(e.into());
        }
        self.wait_reply(id)
    }

    fn wait_reply(&self, id: u32) -> Result<Reply, Failure> {
        let timeout = params::timeout_ms();
        let mut left = msecs_to_jiffies(timeout);
        let mut interrupted = false;
        let mut t = self.trans.lock();
        loop {
            let Some(p) = t.pending.get_mut(&id) else {
                return Err(EIO.into());
            };
            match core::mem::replace(&mut p.state, State::Waiting) {
                State::Replied(reply) => {
                    t.remove(id);
                    return Ok(reply);
                }
                State::Closed => {
                    t.remove(id);
                    return Err(ENODEV.into());
                }
                State::Waiting | State::Abandoned => {}
            }
            if interrupted || left == 0 {
                break;
            }
            match self.trans_cv.wait_interruptible_timeout(&mut t, left) {
                CondVarTimeoutResult::Woken { jiffies } => left = jiffies,
                CondVarTimeoutResult::Timeout => left = 0,
                CondVarTimeoutResult::Signal { .. } => interrupted = true,
            }
        }

        // Give up; the reply may still come.
        let (what, keep) = match t.pending.get_mut(&id) {
            Some(p) => {
                let keep = p.late.is_some();
                if keep {
                    p.state = State::Abandoned;
                }
                (p.what, keep)
            }
            None => return Err(EIO.into()),
        };
        if keep {
            t.abandoned += 1;
        } else {
            t.remove(id);
        }
        drop(t);
        if interrupted {
            self.stats.interrupted.fetch_add(1, Ordering::Relaxed);
            Err(Failure {
                err: ERESTARTSYS,
                abandoned: keep,
            })
        } else {
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            pr_limited!(
                pr_err,
                "no reply from the VPU to {:?} (transaction {}) within {} ms{}\n",
                what,
                id,
                timeout,
                if keep {
                    "; a late reply will be undone"
                } else {
                    ""
                }
            );
            Err(Failure {
                err: etimedout(),
                abandoned: keep,
            })
        }
    }

    /// Hands a reply to its waiter. Returns the work item that undoes the reply of an
    /// abandoned IMPORT, to be queued.
    pub(crate) fn complete(&self, reply: Reply) -> Option<Arc<EventWork>> {
        let id = reply.trans_id();
        let mut t = self.trans.lock();
        let Some(p) = t.pending.get_mut(&id) else {
            drop(t);
            self.stats
                .unexpected_replies
                .fetch_add(1, Ordering::Relaxed);
            pr_limited!(pr_warn, "reply to unknown transaction {} dropped\n", id);
            return None;
        };
        match p.state {
            State::Waiting => {
                p.state = State::Replied(reply);
                // Woken after the unlock, so that the waiter does not wake into a held lock.
                // No wakeup is lost: a waiter checks its state under the lock and is on the
                // condition variable's queue before it lets go of the lock to sleep.
                drop(t);
                self.trans_cv.notify_all();
                None
            }
            State::Abandoned => {
                let late = p.late.take();
                let entry = t.remove(id);
                t.abandoned = t.abandoned.saturating_sub(1);
                drop(t);
                // The entry is freed outside the lock.
                drop(entry);
                self.stats.late_replies.fetch_add(1, Ordering::Relaxed);
                // A malformed reply gives no handle to free.
                let res_handle = reply.import_result().map(|r| r.res_handle).unwrap_or(0);
                if let Some(work) = &late {
                    if let Event::LateImport(l) = work.event() {
                        l.res_handle.store(res_handle, Ordering::Release);
                    }
                }
                late
            }
            State::Replied(_) | State::Closed => {
                drop(t);
                self.stats
                    .unexpected_replies
                    .fetch_add(1, Ordering::Relaxed);
                pr_limited!(pr_warn, "duplicate reply to transaction {} dropped\n", id);
                None
            }
        }
    }

    /// The connection is gone: fails every waiter and forgets abandoned requests (their
    /// buffers are released by [`Vcsm::forget_vpu`]).
    pub(crate) fn close_transactions(&self) {
        let mut dead = KVec::new();
        let mut t = self.trans.lock();
        t.closed = true;
        for (id, p) in t.pending.iter_mut() {
            match p.state {
                State::Waiting => p.state = State::Closed,
                State::Abandoned => {
                    // Best effort: on allocation failure the entry stays (it is freed with
                    // the table).
                    let _ = dead.push(*id, GFP_KERNEL);
                }
                State::Replied(_) | State::Closed => {}
            }
        }
        for id in dead.iter() {
            if t.remove(*id).is_some() {
                t.abandoned = t.abandoned.saturating_sub(1);
            }
        }
        self.trans_cv.notify_all();
    }
}
