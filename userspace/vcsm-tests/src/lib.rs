//! Shared pieces of the guest test programs: result reporting in the `@@VCSM` line protocol,
//! error context, data patterns.
//!
//! Line protocol (stdout, one line per write, so kernel messages on the same console can only
//! interleave between whole lines):
//!
//! ```text
//! @@VCSM RUN  <id>
//! @@VCSM PASS <id>
//! @@VCSM FAIL <id>: <reason>
//! @@VCSM SKIP <id>: <reason>         (no RUN line precedes a SKIP)
//! @@VCSM INFO <id>: <detail>         (extra detail, between RUN and PASS/FAIL)
//! @@VCSM DONE <program> passed=N failed=N skipped=N
//! ```

use std::fmt::Display;
use std::io::{self, Write};
use std::panic::{self, AssertUnwindSafe};

use dmabuf::{describe_io_error, DmaBuf};

pub mod hostile;

/// Longest reason printed on one line; longer ones are cut (kernel consoles wrap badly).
const MAX_REASON: usize = 512;

/// Write one whole line to stdout with a single `write_all`, ignoring stdout errors (a closed
/// console must not turn into a panic).
pub fn emit(line: &str) {
    let mut buf = String::with_capacity(line.len() + 1);
    buf.push_str(line);
    buf.push('\n');
    let mut out = io::stdout().lock();
    let _ = out.write_all(buf.as_bytes());
    let _ = out.flush();
}

/// Make `text` safe for a single protocol line: no newlines or control characters, bounded.
pub fn one_line(text: &str) -> String {
    let mut s: String =
        text.chars().map(|c| if c.is_control() { ' ' } else { c }).collect::<String>().trim().to_owned();
    if s.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push_str("...");
    }
    if s.is_empty() {
        s.push_str("(no reason given)");
    }
    s
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic payload".to_owned()
    }
}

/// Runs tests and prints their results; counts outcomes.
#[derive(Debug)]
pub struct Reporter {
    program: &'static str,
    /// `Some`: keep the lines instead of printing them (unit tests).
    captured: Option<Vec<String>>,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
}

impl Reporter {
    pub fn new(program: &'static str) -> Reporter {
        Reporter { program, captured: None, passed: 0, failed: 0, skipped: 0 }
    }

    /// A reporter that records its lines (see [`Reporter::lines`]) instead of printing them.
    pub fn capturing(program: &'static str) -> Reporter {
        Reporter { captured: Some(Vec::new()), ..Reporter::new(program) }
    }

    /// The lines recorded by a [`Reporter::capturing`] reporter.
    pub fn lines(&self) -> &[String] {
        self.captured.as_deref().unwrap_or(&[])
    }

    fn line(&mut self, line: String) {
        match &mut self.captured {
            Some(lines) => lines.push(line),
            None => emit(&line),
        }
    }

    /// Print `RUN id`, run `test`, print `PASS id` or `FAIL id: reason`. A panic inside the
    /// test is caught and reported as a failure. Returns whether the test passed.
    pub fn run(&mut self, id: &str, test: impl FnOnce() -> Result<(), String>) -> bool {
        self.line(format!("@@VCSM RUN {id}"));
        let result = panic::catch_unwind(AssertUnwindSafe(test))
            .unwrap_or_else(|payload| Err(format!("panic: {}", panic_message(payload.as_ref()))));
        match result {
            Ok(()) => {
                self.passed += 1;
                self.line(format!("@@VCSM PASS {id}"));
                true
            }
            Err(reason) => {
                self.failed += 1;
                self.line(format!("@@VCSM FAIL {id}: {}", one_line(&reason)));
                false
            }
        }
    }

    /// Report a test that was not run.
    pub fn skip(&mut self, id: &str, reason: &str) {
        self.skipped += 1;
        self.line(format!("@@VCSM SKIP {id}: {}", one_line(reason)));
    }

    /// Print the closing summary line.
    pub fn finish(&mut self) {
        let line = format!(
            "@@VCSM DONE {} passed={} failed={} skipped={}",
            self.program, self.passed, self.failed, self.skipped
        );
        self.line(line);
    }
}

/// Extra detail for a running test.
pub fn info(id: &str, detail: &str) {
    emit(&format!("@@VCSM INFO {id}: {}", one_line(detail)));
}

/// Turn an `io::Result` into a test result with context: `"mmap: EINVAL (Invalid argument)"`.
pub trait Context<T> {
    fn ctx(self, what: &str) -> Result<T, String>;
    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T, String>;
}

impl<T> Context<T> for io::Result<T> {
    fn ctx(self, what: &str) -> Result<T, String> {
        self.map_err(|e| format!("{what}: {}", describe_io_error(&e)))
    }

    fn with_ctx(self, what: impl FnOnce() -> String) -> Result<T, String> {
        self.map_err(|e| format!("{}: {}", what(), describe_io_error(&e)))
    }
}

/// The test pattern: word `i` of a buffer holds `i ^ seed`.
pub fn pattern(seed: u32) -> impl Fn(usize) -> u32 {
    // Buffers are far below 16 GiB, so the word index fits in u32; wrapping is harmless anyway.
    move |i| (i as u32) ^ seed
}

/// The pattern as seen through a window starting at byte `offset` of the buffer.
pub fn pattern_at(seed: u32, offset: usize) -> impl Fn(usize) -> u32 {
    let first = offset / 4;
    move |i| ((first + i) as u32) ^ seed
}

/// Run `body` between `DMA_BUF_IOCTL_SYNC` START and END with direction `dir`. END is issued
/// even when `body` fails; the first error wins.
pub fn with_cpu_access<T>(
    buf: &DmaBuf,
    dir: u64,
    body: impl FnOnce() -> Result<T, String>,
) -> Result<T, String> {
    buf.sync(dmabuf::DMA_BUF_SYNC_START | dir).with_ctx(|| format!("SYNC START|{}", dir_name(dir)))?;
    let result = body();
    let end = buf.sync(dmabuf::DMA_BUF_SYNC_END | dir).with_ctx(|| format!("SYNC END|{}", dir_name(dir)));
    let value = result?;
    end?;
    Ok(value)
}

fn dir_name(dir: u64) -> &'static str {
    match dir {
        dmabuf::DMA_BUF_SYNC_READ => "READ",
        dmabuf::DMA_BUF_SYNC_WRITE => "WRITE",
        dmabuf::DMA_BUF_SYNC_RW => "RW",
        _ => "?",
    }
}

/// Expect `result` to fail with one of `allowed`; returns the errno it failed with.
pub fn expect_errno<T>(result: io::Result<T>, allowed: &[i32], what: impl Display) -> Result<i32, String> {
    let names = allowed
        .iter()
        .map(|&e| dmabuf::errno_name(e).unwrap_or_else(|| "?".to_owned()))
        .collect::<Vec<_>>()
        .join(" or ");
    match result {
        Ok(_) => Err(format!("{what} succeeded, expected {names}")),
        Err(e) => match e.raw_os_error() {
            Some(errno) if allowed.contains(&errno) => Ok(errno),
            _ => Err(format!("{what} failed with {}, expected {names}", describe_io_error(&e))),
        },
    }
}

// ---- the simulated VPU's debugfs (tests/vpu-sim) ----

/// The simulated VPU's debugfs directory.
pub const SIM_DIR: &str = "/sys/kernel/debug/vpu-sim";

/// vc-sm-cma's `timeout_ms` module parameter.
pub const TIMEOUT_PARAM: &str = "/sys/module/vc_sm_cma/parameters/timeout_ms";

/// The simulator's fault knobs and their defaults (no delays, no injected VPU errors).
pub const SIM_KNOB_DEFAULTS: [(&str, &str); 7] = [
    ("reply_delay_ms", "0"),
    ("release_delay_ms", "0"),
    ("reorder", "off"),
    ("duplicate", "off"),
    ("hang", "off"),
    ("fail_next", "0"),
    ("zero_handle_next", "0"),
];

/// Writes `value` to the simulator's debugfs file `file`.
pub fn sim_write(file: &str, value: &str) -> Result<(), String> {
    let path = format!("{SIM_DIR}/{file}");
    std::fs::write(&path, value).with_ctx(|| format!("write '{value}' to {path}"))
}

/// The contents of the simulator's debugfs file `file`.
pub fn sim_read(file: &str) -> Result<String, String> {
    let path = format!("{SIM_DIR}/{file}");
    std::fs::read_to_string(&path).ctx(&path)
}

/// Puts the simulator's fault knobs back to their defaults; stops at the first that fails.
pub fn sim_knobs_default() -> Result<(), String> {
    SIM_KNOB_DEFAULTS.iter().try_for_each(|(f, v)| sim_write(f, v))
}

// ---- the simulated VPU's test pattern (dmabuf::pattern, the simulator's own source) ----

/// Writes the pattern of `seed` over the whole of a mapping, which must be writable (a
/// read-only one is a bug of the calling test, which the panic reports as its failure).
pub fn map_fill(map: &mut dmabuf::Mapping, seed: u32) {
    if let Err(e) = map.fill_pattern(seed) {
        panic!("pattern fill of a {}-byte mapping: {e}", map.len());
    }
}

/// The checksum of the whole of a mapping, which must be readable (see [`map_fill`]).
pub fn map_checksum(map: &dmabuf::Mapping) -> u32 {
    match map.pattern_checksum() {
        Ok(sum) => sum,
        Err(e) => panic!("checksum of a {}-byte mapping: {e}", map.len()),
    }
}

/// The checksum of the pattern of `seed` over `len` bytes, computed in memory.
pub fn pattern_checksum(len: usize, seed: u32) -> u32 {
    dmabuf::pattern::pattern_checksum(len, seed)
}

// ---- key=value state files (the driver's and the simulator's debugfs) ----

/// The `key=value` words of a state-file line, into any map.
pub fn kv_pairs<M: FromIterator<(String, String)>>(line: &str) -> M {
    line.split_ascii_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// A decimal or `0x` hexadecimal number from a state file.
pub fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// The CMA areas' debugfs directory.
pub const CMA_DEBUGFS: &str = "/sys/kernel/debug/cma";
/// vcsm-cma-heap's statistics (its region and its buffer pool).
pub const HEAP_STATS: &str = "/sys/kernel/debug/vcsm-cma-heap/stats";

/// The heap's region base (physical address) and the bytes its buffer pool holds, from its
/// `stats` (`None` without the heap; a pool of 0 without a `pool` line).
pub fn heap_pool() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(HEAP_STATS).ok()?;
    let field = |line: &str, key: &str| {
        line.split_ascii_whitespace().find_map(|w| w.strip_prefix(key)).and_then(parse_u64)
    };
    let base = text.lines().find(|l| l.starts_with("region "))?;
    let base = field(base, "base=")?;
    let pooled = text.lines().find(|l| l.starts_with("pool ")).and_then(|l| field(l, "bytes=")).unwrap_or(0);
    Some((base, pooled))
}

/// Pages in use per CMA area (`/sys/kernel/debug/cma/*/used`), not counting in the heap's area
/// the pages its buffer pool holds: pooled buffers are free to hand out and go back to CMA on
/// pressure, idle or unload, so what a leak check compares is what is neither live nor pooled.
/// The pool is read before and after the areas, and again while it changed meanwhile.
pub fn cma_used_not_pooled() -> Result<std::collections::BTreeMap<String, u64>, String> {
    for _ in 0..5 {
        let before = heap_pool();
        let mut out = std::collections::BTreeMap::new();
        let dir = std::fs::read_dir(CMA_DEBUGFS).map_err(|e| format!("{CMA_DEBUGFS}: {e}"))?;
        for e in dir.flatten() {
            let Ok(v) = std::fs::read_to_string(e.path().join("used")) else { continue };
            let mut used: u64 =
                v.trim().parse().map_err(|_| format!("{}/used: '{}'", e.path().display(), v.trim()))?;
            let base_pfn = std::fs::read_to_string(e.path().join("base_pfn"))
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let (Some((base, pooled)), Some(pfn)) = (before, base_pfn) {
                if pfn == base / 4096 {
                    used = used.saturating_sub(pooled / 4096);
                }
            }
            out.insert(e.file_name().to_string_lossy().into_owned(), used);
        }
        if out.is_empty() {
            return Err(format!("no CMA areas in {CMA_DEBUGFS}"));
        }
        if heap_pool() == before {
            return Ok(out);
        }
    }
    Err("the heap's pool kept changing while the CMA areas were read".into())
}

// ---- processes ----

/// Whether this process has one thread, waiting up to 2 s for threads just joined to leave
/// `/proc/self/task`.
pub fn single_threaded() -> bool {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        if std::fs::read_dir("/proc/self/task").map(|d| d.count() == 1).unwrap_or(false) {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Forks; the child runs `body` (a panic is status 101), flushes stdout and ends with
/// `_exit(status)`, never returning into the caller's frames. Refuses unless the process has
/// one thread (fork is only safe then). The parent gets the child's pid.
pub fn spawn(body: impl FnOnce() -> i32) -> Result<nix::unistd::Pid, String> {
    use nix::unistd::{fork, ForkResult};
    if !single_threaded() {
        return Err("refusing to fork a multi-threaded process (a thread is still running)".into());
    }
    let _ = io::stdout().flush();
    // SAFETY: The process has one thread (checked above), so the child starts with every lock
    // free and may run ordinary Rust code. It never returns into the caller's frames: it leaves
    // with `_exit`, without running destructors of values it shares with the parent.
    match unsafe { fork() } {
        Ok(ForkResult::Parent { child }) => Ok(child),
        Ok(ForkResult::Child) => {
            let code = panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(101);
            let _ = io::stdout().flush();
            exit_now(code)
        }
        Err(e) => Err(format!("fork: {e}")),
    }
}

/// `_exit(code)`: ends the process at once, without exit handlers or destructors (for forked
/// children: the kernel closes their fds and unmaps their memory).
pub fn exit_now(code: i32) -> ! {
    // SAFETY: _exit has no preconditions (and is async-signal-safe); it does not return.
    unsafe { libc::_exit(code) }
}

/// Waits for child `pid` to end.
pub fn wait_child(pid: nix::unistd::Pid) -> Result<nix::sys::wait::WaitStatus, String> {
    nix::sys::wait::waitpid(pid, None).map_err(|e| format!("waitpid: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sanitises() {
        assert_eq!(one_line("a\nb\tc"), "a b c");
        assert_eq!(one_line("  "), "(no reason given)");
        let long = "é".repeat(400);
        let s = one_line(&long);
        assert!(s.ends_with("..."));
        assert!(s.len() <= MAX_REASON + 3);
    }

    #[test]
    fn patterns() {
        let p = pattern(0xff);
        assert_eq!(p(0), 0xff);
        assert_eq!(p(1), 0xfe);
        let w = pattern_at(0xff, 4096);
        assert_eq!(w(0), p(1024));
        assert_eq!(w(5), p(1029));
    }

    #[test]
    fn errno_expectations() {
        let r: io::Result<()> = Err(io::Error::from_raw_os_error(libc::ENOMEM));
        assert_eq!(expect_errno(r, &[libc::EINVAL, libc::ENOMEM], "alloc"), Ok(libc::ENOMEM));
        let r: io::Result<()> = Err(io::Error::from_raw_os_error(libc::EFAULT));
        let e = expect_errno(r, &[libc::EINVAL], "alloc").unwrap_err();
        assert_eq!(e, "alloc failed with EFAULT (Bad address), expected EINVAL");
        let e = expect_errno(Ok(()), &[libc::EINVAL, libc::ENXIO], "mmap").unwrap_err();
        assert_eq!(e, "mmap succeeded, expected EINVAL or ENXIO");
    }

    #[test]
    fn context() {
        let r: io::Result<()> = Err(io::Error::from_raw_os_error(libc::EINVAL));
        assert_eq!(r.ctx("mmap").unwrap_err(), "mmap: EINVAL (Invalid argument)");
    }

    #[test]
    fn reporter_counts_and_catches_panics() {
        let mut r = Reporter::capturing("unit");
        assert!(r.run("t/pass", || Ok(())));
        assert!(!r.run("t/fail", || Err("no\npe".into())));
        assert!(!r.run("t/panic", || panic!("boom {}", 1)));
        r.skip("t/skip", "why");
        r.finish();
        assert_eq!((r.passed, r.failed, r.skipped), (1, 2, 1));
        assert_eq!(
            r.lines(),
            [
                "@@VCSM RUN t/pass",
                "@@VCSM PASS t/pass",
                "@@VCSM RUN t/fail",
                "@@VCSM FAIL t/fail: no pe",
                "@@VCSM RUN t/panic",
                "@@VCSM FAIL t/panic: panic: boom 1",
                "@@VCSM SKIP t/skip: why",
                "@@VCSM DONE unit passed=1 failed=2 skipped=1",
            ]
        );
    }
}
