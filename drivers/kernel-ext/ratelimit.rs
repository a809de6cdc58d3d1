// SPDX-License-Identifier: GPL-2.0

//! Rate-limited kernel log lines, one limit per message site (6.12's Rust has no
//! `pr_*_ratelimited`).
//!
//! Every line that userspace can trigger goes through [`pr_limited!`]: at most [`BURST`] lines
//! per [`INTERVAL_MS`] from one call site; when a new interval starts, one line says how many
//! were suppressed in the last one (as the C `printk_ratelimited` does).

use super::bindings as ext;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Lines per interval and site.
pub(crate) const BURST: u32 = 10;
/// Length of an interval, in milliseconds (the kernel's `DEFAULT_RATELIMIT_INTERVAL`).
pub(crate) const INTERVAL_MS: u64 = 5000;

/// Whether the current task has been killed: a request that failed because of that needs no
/// log line (the kernel's own allocators give up on a fatal signal).
pub(crate) fn current_killed() -> bool {
    // SAFETY: Reads the current task's pending signals; always safe.
    unsafe { ext::kext_fatal_signal_pending() }
}

/// The state of one message site.
pub(crate) struct RateLimit {
    /// Start of the current interval (ms since boot); 0 before the first line.
    start: AtomicU64,
    /// Lines printed in the current interval.
    printed: AtomicU32,
    /// Lines suppressed in the current interval.
    missed: AtomicU32,
}

impl RateLimit {
    pub(crate) const fn new() -> Self {
        Self {
            start: AtomicU64::new(0),
            printed: AtomicU32::new(0),
            missed: AtomicU32::new(0),
        }
    }

    /// Whether a line may be printed now. `Some(n)`: print it, after saying that `n` lines
    /// were suppressed before it (if `n > 0`); `None`: suppress it.
    ///
    /// Lock-free; concurrent callers at an interval boundary may print a line or two more
    /// than the burst, never unboundedly many.
    pub(crate) fn check(&self) -> Option<u32> {
        // SAFETY: A plain read of the jiffies counter.
        let now = unsafe { ext::kext_now_ms() }.max(1);
        let start = self.start.load(Ordering::Relaxed);
        let mut missed = 0;
        if start == 0 || now.saturating_sub(start) >= INTERVAL_MS {
            // One caller starts the new interval and reports the old one's suppressions.
            if self
                .start
                .compare_exchange(start, now, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
            {
                self.printed.store(0, Ordering::Relaxed);
                missed = self.missed.swap(0, Ordering::Relaxed);
            }
        }
        if self.printed.fetch_add(1, Ordering::Relaxed) < BURST {
            Some(missed)
        } else {
            self.missed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

/// `pr_limited!(pr_err, "format", args...)`: logs with the given `kernel` print macro, at most
/// [`BURST`] lines per [`INTERVAL_MS`] from this call site.
// Shared by every module's copy of kernel-ext; not all of them log.
#[allow(unused_macros)]
macro_rules! pr_limited {
    ($pr:ident, $($arg:tt)*) => {{
        static RL: $crate::kext::ratelimit::RateLimit = $crate::kext::ratelimit::RateLimit::new();
        if let Some(missed) = RL.check() {
            if missed > 0 {
                kernel::$pr!("{} similar lines suppressed\n", missed);
            }
            kernel::$pr!($($arg)*);
        }
    }};
}
#[allow(unused_imports)]
pub(crate) use pr_limited;
