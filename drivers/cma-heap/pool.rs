// SPDX-License-Identifier: GPL-2.0

//! The heaps' pool of freed buffers: pre-zeroed CMA pages, zeroed in the background.
//!
//! A freed buffer's pages (not its dma-buf) go on the *dirty* stack, and the pool's work item
//! (on `system_unbound_wq`) is kicked. The worker takes one dirty buffer at a time off the
//! stack, zeroes it and cleans the zeroes to the point of coherency
//! ([`ContigPages::scrub`]), and only then puts it on the *zeroed* stack of its exact page
//! count. An allocation takes the newest zeroed buffer of its exact page count, or allocates
//! from CMA as without a pool. Exact page counts, not size classes: camera and codec pipelines
//! allocate the same few sizes again and again, and a class would hand out (and keep) more CMA
//! than asked for, in a region that is often only 64 MiB.
//!
//! # Never un-zeroed
//!
//! [`Pool::take`] takes only from the zeroed stacks, and only the worker puts buffers there,
//! right after scrubbing them. A buffer the worker is zeroing is on no stack (it is counted in
//! `zeroing`), so neither an allocation nor the shrinker nor a trim can see it. Every move
//! between stacks happens under the pool's lock.
//!
//! # The uncached heap's cache rule
//!
//! Every pooled buffer is zeroed *and cleaned* by the worker, whichever heap freed it (the
//! cached heap's user may have left dirty lines over it: the zeroing writes through the same
//! cacheable linear map, and the clean then writes every line out). So a pooled buffer has no
//! dirty line over it, and either heap may take it: the uncached heap's first mapping owes no
//! clean, the cached heap marks it cached.
//!
//! # Bounds
//!
//! The pool holds at most [`Pool::max_bytes`] (module parameter `pool_max_kb`, else the heap
//! node's `vcsm,pool-max-bytes`, else a quarter of the region); a free that would exceed it
//! goes straight back to CMA. While the pool holds anything the worker runs every
//! [`tick_ms`] to apply a lowered cap and to return buffers untouched for `pool_idle_ms`. The
//! shrinker ([`ShrinkerOps`]) returns pooled buffers, dirty ones first, under memory pressure.
//! An allocation that CMA cannot serve returns the whole pool and tries once more, so the pool
//! never makes an allocation fail that would succeed without it.
//!
//! # Locking
//!
//! The pool's lock is a spinlock: nothing allocates or frees CMA memory under it (buffers to
//! return are gathered into a [`Stack`] and dropped after the unlock), so the shrinker may take
//! it from reclaim, even reclaim entered by an allocation of this module.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    bindings, new_spinlock,
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::{Arc, SpinLock},
    types::ScopeGuard,
};

use crate::kext::{
    dma::ContigPages,
    shrinker::ShrinkerOps,
    workqueue::{DelayedWork, DelayedWorkFn},
};
use crate::params;

/// Milliseconds of the monotonic clock.
fn now_ms() -> u64 {
    crate::kext::compat::ktime_get_ms().max(0) as u64
}

/// Nanoseconds of the monotonic clock.
pub(crate) fn now_ns() -> u64 {
    crate::kext::compat::ktime_get_ns().max(0) as u64
}

/// How often the worker looks at a non-empty pool (cap, idle buffers): half the idle time,
/// between 100 ms and 1 s.
fn tick_ms() -> u32 {
    (params::pool_idle_ms() / 2).clamp(100, 1000)
}

/// One pooled buffer.
pub(crate) struct Node {
    pages: ContigPages,
    /// When it was zeroed (ms), for idle trimming.
    stamp_ms: u64,
    next: Option<KBox<Node>>,
}

/// A stack of pooled buffers, newest first (so stamps only decrease towards the tail).
///
/// Dropping it returns its buffers to CMA; it must not be dropped under the pool's lock.
struct Stack {
    head: Option<KBox<Node>>,
    len: usize,
    bytes: usize,
}

impl Stack {
    const fn new() -> Self {
        Self {
            head: None,
            len: 0,
            bytes: 0,
        }
    }

    fn push(&mut self, mut node: KBox<Node>) {
        self.len += 1;
        self.bytes += node.pages.size();
        node.next = self.head.take();
        self.head = Some(node);
    }

    fn pop(&mut self) -> Option<KBox<Node>> {
        let mut node = self.head.take()?;
        self.head = node.next.take();
        self.len -= 1;
        self.bytes -= node.pages.size();
        Some(node)
    }

    /// Moves the buffers zeroed before `cutoff_ms` (the tail) onto `out`.
    fn split_older(&mut self, cutoff_ms: u64, out: &mut Stack) {
        let mut keep = 0;
        let mut node = self.head.as_deref();
        while let Some(n) = node {
            if n.stamp_ms < cutoff_ms {
                break;
            }
            keep += 1;
            node = n.next.as_deref();
        }
        let mut cur = &mut self.head;
        for _ in 0..keep {
            match cur {
                Some(n) => cur = &mut n.next,
                None => break,
            }
        }
        let mut tail = cur.take();
        // Recount what stayed; the moved ones are counted by `out.push`.
        while let Some(mut n) = tail {
            tail = n.next.take();
            self.len -= 1;
            self.bytes -= n.pages.size();
            out.push(n);
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        // One by one: a long chain of boxes would recurse once per buffer.
        while self.pop().is_some() {}
    }
}

/// What the lock protects.
struct PoolInner {
    /// Freed buffers waiting for the worker.
    dirty: Stack,
    /// Zeroed and cleaned buffers, by page count.
    zeroed: RBTree<usize, Stack>,
    /// Buffers and bytes in the pool: dirty, being zeroed, and zeroed.
    buffers: usize,
    bytes: usize,
    /// Buffers the worker is zeroing (on no stack).
    zeroing: usize,
    /// Set at teardown: nothing enters the pool any more.
    closed: bool,
}

impl PoolInner {
    /// Moves buffers onto `out` until the pool holds at most `max` bytes (dirty ones first,
    /// then zeroed ones). Returns how many moved.
    fn trim_to(&mut self, max: usize, out: &mut Stack) -> usize {
        let mut moved = 0;
        while self.bytes > max {
            let node = match self.dirty.pop() {
                Some(n) => n,
                None => {
                    let Some(n) = self.zeroed.values_mut().find_map(|s| s.pop()) else {
                        // Only the buffer under the worker is left; it checks the cap itself.
                        break;
                    };
                    n
                }
            };
            self.buffers -= 1;
            self.bytes -= node.pages.size();
            out.push(node);
            moved += 1;
        }
        moved
    }

    /// Moves zeroed buffers older than `cutoff_ms` onto `out` and forgets empty sizes.
    /// Returns how many buffers moved.
    fn trim_idle(&mut self, cutoff_ms: Option<u64>, out: &mut Stack) -> usize {
        let (before, before_bytes) = (out.len, out.bytes);
        let mut cursor = crate::kext::compat::cursor_front_mut(&mut self.zeroed);
        while let Some(mut c) = cursor {
            let (_, stack) = c.current_mut();
            if let Some(cutoff) = cutoff_ms {
                stack.split_older(cutoff, out);
            }
            if stack.len == 0 {
                // The tree node (an empty stack) is freed here: kfree only, no CMA.
                let (next, _node) = c.remove_current();
                cursor = next;
            } else {
                cursor = c.move_next();
            }
        }
        let moved = out.len - before;
        self.buffers -= moved;
        self.bytes -= out.bytes - before_bytes;
        moved
    }

    /// Moves every pooled buffer (not the one under the worker) onto `out`.
    fn take_everything(&mut self, out: &mut Stack) -> usize {
        self.trim_to(0, out)
    }
}

/// Counters for debugfs `stats` (and the benchmark).
#[derive(Default)]
struct PoolStats {
    hits: AtomicU64,
    misses: AtomicU64,
    zeroed_bg_bytes: AtomicU64,
    zero_ns_worker: AtomicU64,
    shrinker_returned: AtomicU64,
    idle_returned: AtomicU64,
    cap_returned: AtomicU64,
    drained: AtomicU64,
    /// Time of the timed hits (`hits_timed` of them, see [`Pool::sample_hit`]).
    alloc_ns_hit: AtomicU64,
    alloc_ns_miss: AtomicU64,
    clean_reused: AtomicU64,
    hits_timed: AtomicU64,
    /// Allocations with the pool on, for sampling.
    allocs: AtomicU64,
}

/// One allocation in this many times its pool hit.
const HIT_SAMPLE: u64 = 16;

/// The pool of one region (both heaps share it).
#[pin_data]
pub(crate) struct Pool {
    /// The worker. First, so that dropping the pool cancels (and waits for) it before anything
    /// it uses goes.
    work: DelayedWork<Pool>,
    #[pin]
    inner: SpinLock<PoolInner>,
    /// The cap when the module parameter asks for the default (`pool_max_kb=-1`).
    default_max: usize,
    /// The region's size: no cap is larger.
    region_size: usize,
    stats: PoolStats,
}

/// The `pool` line of debugfs `stats`.
pub(crate) struct PoolSnapshot {
    pub(crate) buffers: usize,
    pub(crate) bytes: usize,
    pub(crate) dirty: usize,
    pub(crate) zeroing: usize,
    pub(crate) max: usize,
}

impl Pool {
    /// A pool for a region of `region_size` bytes; `dt_max` is the heap node's
    /// `vcsm,pool-max-bytes`, if it has one.
    pub(crate) fn new(region_size: u64, dt_max: Option<u64>) -> Result<Arc<Self>> {
        let region_size = usize::try_from(region_size).map_err(|_| EINVAL)?;
        // A quarter of the region: the pooled pages are taken from the movable allocations
        // CMA would otherwise serve, and the live buffers of a camera pipeline (several frames
        // of each size) must still fit next to the pool.
        let default_max = match dt_max {
            Some(m) => usize::try_from(m).unwrap_or(usize::MAX).min(region_size),
            None => region_size / 4,
        };
        let pool = Arc::pin_init(
            try_pin_init!(Pool {
                work: DelayedWork::new()?,
                inner <- new_spinlock!(
                    PoolInner {
                        dirty: Stack::new(),
                        zeroed: RBTree::new(),
                        buffers: 0,
                        bytes: 0,
                        zeroing: 0,
                        closed: false,
                    },
                    "Pool::inner"
                ),
                default_max,
                region_size,
                stats: PoolStats::default(),
            }),
            GFP_KERNEL,
        )?;
        // SAFETY: The pool is inside an `Arc` (it never moves) and owns the work item as a
        // field, so it outlives it.
        unsafe { pool.work.set_target(&pool) };
        Ok(pool)
    }

    /// The cap in bytes: `pool_max_kb` (0: off), or for -1 the default.
    pub(crate) fn max_bytes(&self) -> usize {
        match params::pool_max_kb() {
            kb if kb < 0 => self.default_max,
            kb => (kb as usize).saturating_mul(1024).min(self.region_size),
        }
    }

    /// A zeroed, clean buffer of exactly `pages` pages from the pool, if it has one.
    ///
    /// O(1) in the buffer's size: a pop off the stack of its page count (the tree has one node
    /// per size the pool holds, a handful), under the pool's lock. The buffer comes in its
    /// pool node, which [`PooledPages`] keeps so that the free puts it back without allocating
    /// (and this takes it without freeing).
    pub(crate) fn take(&self, pages: usize) -> Option<KBox<Node>> {
        let node = {
            let mut inner = self.inner.lock();
            let node = inner.zeroed.get_mut(&pages).and_then(|s| s.pop());
            if let Some(n) = &node {
                inner.buffers -= 1;
                inner.bytes -= n.pages.size();
            }
            node
        };
        let counter = if node.is_some() {
            &self.stats.hits
        } else {
            &self.stats.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        node
    }

    /// Takes back a freed buffer's pages: into the pool if it has room, else back to CMA.
    pub(crate) fn put(&self, pages: ContigPages) {
        if pages.size() > self.max_bytes() {
            return;
        }
        // Allocated before the lock (nothing allocates under it); on failure the pages go
        // back to CMA with the value.
        let Ok(node) = KBox::new(
            Node {
                pages,
                stamp_ms: 0,
                next: None,
            },
            GFP_KERNEL,
        ) else {
            return;
        };
        self.put_node(node);
    }

    /// Takes back a freed buffer in its pool node (it came from the pool, or `put` made one):
    /// onto the dirty stack for the worker if the pool has room, else back to CMA.
    fn put_node(&self, node: KBox<Node>) {
        let size = node.pages.size();
        let max = self.max_bytes();
        let rejected = {
            let mut inner = self.inner.lock();
            if inner.closed || inner.bytes + size > max {
                Some(node)
            } else {
                inner.bytes += size;
                inner.buffers += 1;
                inner.dirty.push(node);
                None
            }
        };
        match rejected {
            Some(node) => {
                self.stats.cap_returned.fetch_add(1, Ordering::Relaxed);
                drop(node);
            }
            None => self.work.requeue(0),
        }
    }

    /// Returns every pooled buffer to CMA, waiting for the one under the worker: for an
    /// allocation CMA could not serve. Returns how many buffers went back.
    pub(crate) fn drain(&self) -> usize {
        let mut out = Stack::new();
        let zeroing = {
            let mut inner = self.inner.lock();
            inner.take_everything(&mut out);
            inner.zeroing
        };
        if zeroing > 0 {
            // The worker puts its buffer on a zeroed stack (or returns it); take that too.
            self.work.cancel_sync();
            self.inner.lock().take_everything(&mut out);
        }
        let n = out.len;
        drop(out);
        if n > 0 {
            self.stats.drained.fetch_add(n as u64, Ordering::Relaxed);
        }
        // The cancel may have dropped a pending tick or zeroing run.
        self.work.queue(0);
        n
    }

    /// Teardown: no buffer enters the pool any more, the worker is stopped, every pooled
    /// buffer goes back to CMA.
    pub(crate) fn shutdown(&self) {
        let mut out = Stack::new();
        {
            let mut inner = self.inner.lock();
            inner.closed = true;
            inner.take_everything(&mut out);
        }
        drop(out);
        // A run in progress sees `closed` and returns its buffer; none is queued afterwards.
        self.work.cancel_sync();
        let mut out = Stack::new();
        self.inner.lock().take_everything(&mut out);
        drop(out);
    }

    /// Whether this allocation times its hit (every [`HIT_SAMPLE`]th allocation with the pool
    /// on does).
    pub(crate) fn sample_hit(&self) -> bool {
        self.stats.allocs.fetch_add(1, Ordering::Relaxed) % HIT_SAMPLE == 0
    }

    /// Counts the time of a timed hit on the allocating thread.
    pub(crate) fn account_hit(&self, ns: u64) {
        self.stats.alloc_ns_hit.fetch_add(ns, Ordering::Relaxed);
        self.stats.hits_timed.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts the time of a miss (an allocation from CMA, zeroed on the allocating thread).
    pub(crate) fn account_miss(&self, ns: u64) {
        self.stats.alloc_ns_miss.fetch_add(ns, Ordering::Relaxed);
    }

    /// Counts an uncached buffer from the pool whose first mapping needed no clean (the worker
    /// had done it).
    pub(crate) fn account_clean_reused(&self) {
        self.stats.clean_reused.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> PoolSnapshot {
        let inner = self.inner.lock();
        PoolSnapshot {
            buffers: inner.buffers,
            bytes: inner.bytes,
            dirty: inner.dirty.len,
            zeroing: inner.zeroing,
            max: self.max_bytes(),
        }
    }

    /// The counters, in the order of the `pool` line's names.
    pub(crate) fn counters(&self) -> [(&'static str, u64); 12] {
        let s = &self.stats;
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        [
            ("hits", n(&s.hits)),
            ("misses", n(&s.misses)),
            ("zeroed_bg_bytes", n(&s.zeroed_bg_bytes)),
            ("shrinker_returned", n(&s.shrinker_returned)),
            ("idle_returned", n(&s.idle_returned)),
            ("cap_returned", n(&s.cap_returned)),
            ("drained", n(&s.drained)),
            ("zero_ns_worker", n(&s.zero_ns_worker)),
            ("alloc_ns_hit", n(&s.alloc_ns_hit)),
            ("alloc_ns_miss", n(&s.alloc_ns_miss)),
            ("clean_reused", n(&s.clean_reused)),
            ("hits_timed", n(&s.hits_timed)),
        ]
    }

    /// The worker's zeroing: dirty buffers, one at a time, onto their zeroed stacks.
    fn zero_dirty(&self) {
        loop {
            // For a page count the tree does not have yet; allocated before the lock.
            let reservation = RBTreeNodeReservation::new(GFP_KERNEL).ok();
            let mut node = {
                let mut inner = self.inner.lock();
                if inner.closed {
                    return;
                }
                match inner.dirty.pop() {
                    Some(n) => {
                        inner.zeroing += 1;
                        n
                    }
                    None => return,
                }
            };
            let t0 = now_ns();
            node.pages.scrub();
            let dt = now_ns().saturating_sub(t0);
            let size = node.pages.size();
            self.stats.zero_ns_worker.fetch_add(dt, Ordering::Relaxed);
            self.stats
                .zeroed_bg_bytes
                .fetch_add(size as u64, Ordering::Relaxed);
            node.stamp_ms = now_ms();
            let pages = node.pages.page_count();
            let max = self.max_bytes();
            let rejected = {
                let mut inner = self.inner.lock();
                inner.zeroing -= 1;
                if inner.closed || inner.bytes > max {
                    inner.bytes -= size;
                    inner.buffers -= 1;
                    Some(node)
                } else if let Some(stack) = inner.zeroed.get_mut(&pages) {
                    stack.push(node);
                    None
                } else if let Some(res) = reservation {
                    let mut stack = Stack::new();
                    stack.push(node);
                    inner.zeroed.insert(res.into_node(pages, stack));
                    None
                } else {
                    inner.bytes -= size;
                    inner.buffers -= 1;
                    Some(node)
                }
            };
            if let Some(node) = rejected {
                self.stats.cap_returned.fetch_add(1, Ordering::Relaxed);
                drop(node);
            }
        }
    }

    /// The worker's bookkeeping: the cap, idle buffers, empty sizes.
    fn trim(&self) {
        let idle_ms = params::pool_idle_ms();
        let cutoff = (idle_ms > 0).then(|| now_ms().saturating_sub(u64::from(idle_ms)));
        let max = self.max_bytes();
        let mut over = Stack::new();
        let mut idle = Stack::new();
        let left = {
            let mut inner = self.inner.lock();
            inner.trim_to(max, &mut over);
            inner.trim_idle(cutoff, &mut idle);
            inner.buffers
        };
        let (n_over, n_idle) = (over.len as u64, idle.len as u64);
        drop(over);
        drop(idle);
        if n_over > 0 {
            self.stats.cap_returned.fetch_add(n_over, Ordering::Relaxed);
        }
        if n_idle > 0 {
            self.stats
                .idle_returned
                .fetch_add(n_idle, Ordering::Relaxed);
        }
        if left > 0 {
            self.work.queue(tick_ms());
        }
    }
}

impl DelayedWorkFn for Pool {
    fn run(&self) {
        self.zero_dirty();
        self.trim();
    }
}

impl ShrinkerOps for Pool {
    fn count(&self) -> usize {
        self.inner.lock().bytes >> bindings::PAGE_SHIFT
    }

    fn scan(&self, nr: usize) -> Option<usize> {
        let mut out = Stack::new();
        {
            let mut inner = self.inner.lock();
            // Dirty buffers first (they would still cost a zeroing), then zeroed ones; the
            // one under the worker is skipped.
            let target = inner.bytes.saturating_sub(nr << bindings::PAGE_SHIFT);
            inner.trim_to(target, &mut out);
        }
        if out.len == 0 {
            return None;
        }
        let pages = out.bytes >> bindings::PAGE_SHIFT;
        self.stats
            .shrinker_returned
            .fetch_add(out.len as u64, Ordering::Relaxed);
        drop(out);
        Some(pages)
    }
}

/// A buffer's pages while the buffer lives; given to the pool when it is dropped.
pub(crate) struct PooledPages {
    /// The pages and their pool; the guard hands both to [`give_back`] on drop.
    mem: HeldGuard,
}

/// A buffer's pages and their pool, given back on drop.
type HeldGuard = ScopeGuard<(Held, Arc<Pool>), fn((Held, Arc<Pool>))>;

/// Gives a dropped buffer's pages to its pool.
fn give_back((held, pool): (Held, Arc<Pool>)) {
    match held {
        Held::Node(node) => pool.put_node(node),
        Held::Fresh(pages) => pool.put(pages),
    }
}

/// How a live buffer holds its pages.
enum Held {
    /// From the pool, in its pool node (which goes back with them).
    Node(KBox<Node>),
    /// Fresh from CMA; the pool makes a node for them on free if it takes them.
    Fresh(ContigPages),
}

impl PooledPages {
    /// Pages fresh from CMA.
    pub(crate) fn fresh(pages: ContigPages, pool: Arc<Pool>) -> Self {
        Self {
            mem: ScopeGuard::new_with_data((Held::Fresh(pages), pool), give_back),
        }
    }

    /// A buffer [`Pool::take`] returned (zeroed and cleaned by the worker); `cached` marks
    /// it for the cached heap ([`ContigPages::set_cached`]).
    pub(crate) fn reused(mut node: KBox<Node>, cached: bool, pool: Arc<Pool>) -> Self {
        if cached {
            node.pages.set_cached();
        }
        Self {
            mem: ScopeGuard::new_with_data((Held::Node(node), pool), give_back),
        }
    }

    /// Whether the pages came from the pool (zeroed and cleaned by the worker).
    pub(crate) fn is_reused(&self) -> bool {
        matches!(self.mem.0, Held::Node(_))
    }

    pub(crate) fn pool(&self) -> &Pool {
        &self.mem.1
    }
}

impl core::ops::Deref for PooledPages {
    type Target = ContigPages;

    fn deref(&self) -> &ContigPages {
        match &self.mem.0 {
            Held::Node(n) => &n.pages,
            Held::Fresh(p) => p,
        }
    }
}
