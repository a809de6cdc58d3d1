//! Systematic fault injection against every entry point of vc-sm-cma and the vcsm heaps, run
//! in the guest (`tests/guest/faults.sh`, debug kernel with CONFIG_FAULT_INJECTION, FAILSLAB,
//! FAIL_PAGE_ALLOC, FAULT_INJECTION_DEBUG_FS and FAULT_INJECTION_STACKTRACE_FILTER):
//!
//! ```text
//! vcsm-faults [--only TEXT]... [--max-steps 400] [--attr-max-steps 100]
//! ```
//!
//! For an entry point that runs in the calling thread, step N = 1, 2, ... writes N to
//! `/proc/thread-self/fail-nth`, performs the operation once, reads fail-nth back (0: the
//! N-th slab or page allocation of the operation was failed), turns fail-nth off again and
//! undoes what succeeded. Every step must end cleanly: success, or an errno documented for
//! that call (never EINTR), no kernel report (BUG, WARNING, KASAN, lockdep, ...), and nothing
//! left behind: within 2 s the driver's buffer count, the simulated VPU's handles and client
//! errors, every CMA area's `used` count and the number of live dma-bufs are back to what they
//! were before the entry point. The stepping ends with the first step whose operation
//! succeeds without a fault injected (the operation makes fewer than N allocations); an entry
//! point that needs more than `--max-steps` steps fails.
//!
//! VC_MEM_REQUEST and the reply to an IMPORT whose waiter gave up (a late reply) are handled
//! on the driver's workqueues, where fail-nth does not reach. They are stepped with the
//! `failslab` and `fail_page_alloc` attributes instead: probability 100 (only while the driver
//! handles them), `interval` N, `times` 1, and the stack-trace filter
//! `require-start`/`require-end` on vc-sm-cma's module text, so only allocations made by the
//! driver's own code fail. The attribute's hidden call counter is first brought to a multiple
//! of N by runs that take a fault anyway (each one checked like any other), so the next run
//! fails exactly its N-th allocation.
//!
//! The simulated VPU's own allocations are never failed (`reject-start`/`reject-end` on
//! vpu-sim's module text, for fail-nth too): it stands for firmware on another processor,
//! which the host's memory pressure cannot make lose a message. Neither are the kernel
//! checkers' own slab objects (failslab's `cache-filter`: every cache but `radix_tree_node`,
//! `kmemleak_object` and `kmemleak_scan_area` is marked): a failed radix-tree node in DMA-API
//! debugging's cacheline tracking turns DMA-API debugging off for the rest of the boot.
//!
//! The fault attributes (`/sys/kernel/debug/{failslab,fail_page_alloc}/*`, the caches'
//! `failslab` marks) are saved at the start and restored at the end; while it runs,
//! `ignore-gfp-wait` and `ignore-gfp-highmem` are N, `min-order` 0 and `verbose` 0 (no
//! message per injected fault).
//!
//! Each entry point prints `faults/<entry>: N steps, M distinct errnos {...}` and its
//! `@@VCSM PASS/FAIL faults/<entry>` line.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use dmabuf::uapi::{DmaBufSync, DmaHeapAllocationData, BUF_SYNC};
use dmabuf::vcsm::Vcsm;
use dmabuf::{errno_name, DmaBuf, Heap, Mapping, Prot, DEFAULT_FD_FLAGS, DMA_BUF_SYNC_END, DMA_BUF_SYNC_RW};
use vcsm_tests::{emit, info, sim_knobs_default, sim_write, Context, Reporter, SIM_DIR};

const DEV: &str = "/dev/vcsm-cma";
const STATE: &str = dmabuf::state::STATE_FILE;
const SIM: &str = SIM_DIR;
const BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
const CMA_DIR: &str = "/sys/kernel/debug/cma";
const HEAP_STATS: &str = "/sys/kernel/debug/vcsm-cma-heap/stats";
const KAPI: &str = "/sys/kernel/debug/vcsm-kapi-test/run";
const FAIL_NTH: &str = "/proc/thread-self/fail-nth";
const FAILSLAB: &str = "/sys/kernel/debug/failslab";
const FAIL_PAGE_ALLOC: &str = "/sys/kernel/debug/fail_page_alloc";
const DRIVER_MODULE: (&str, &str) = ("vc_sm_cma", "/lib/modules/vc-sm-cma.ko");
const SIM_MODULE: (&str, &str) = ("vpu_sim", "/lib/modules/vpu-sim.ko");
const MIB: u64 = 1 << 20;
/// How long a step may take to settle (RELEASED, deferred fput).
const SETTLE_MS: u64 = 2000;

/// Errnos documented for the /dev/vcsm-cma ioctls (Documentation/abi.rst), without EINTR: no
/// signal is sent here, so EINTR would be a lie.
const DRV_ERRNOS: &[i32] = &[
    libc::EPERM,
    libc::ENODEV,
    libc::EINVAL,
    libc::EBADF,
    libc::ENOMEM,
    libc::ETIMEDOUT,
    libc::EFAULT,
    libc::EMFILE,
    libc::EIO,
    libc::ENOTTY,
    libc::EDQUOT,
];
/// DMA_HEAP_IOCTL_ALLOC.
const HEAP_ERRNOS: &[i32] = &[libc::EINVAL, libc::ENOMEM, libc::EFAULT, libc::ENOTTY, libc::EMFILE];
/// mmap of a dma-buf.
const MMAP_ERRNOS: &[i32] = &[libc::EINVAL, libc::ENOMEM, libc::EACCES, libc::EPERM];
/// DMA_BUF_IOCTL_SYNC.
const SYNC_ERRNOS: &[i32] = &[libc::EINVAL, libc::EFAULT, libc::ENOTTY];

#[derive(Parser, Debug)]
#[command(
    about = "Systematic fault injection (fail-nth, failslab, fail_page_alloc) against vc-sm-cma and the vcsm heaps"
)]
struct Args {
    /// Only run entry points whose id contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,

    /// Most fail-nth steps per entry point before it counts as failed.
    #[arg(long, default_value_t = 400)]
    max_steps: u32,

    /// Most interval steps per attribute for VC_MEM_REQUEST.
    #[arg(long, default_value_t = 100)]
    attr_max_steps: u32,

    /// Size of the buffers allocated and imported.
    #[arg(long, default_value_t = MIB)]
    size: u64,
}

fn errno_str(e: i32) -> String {
    errno_name(e).unwrap_or_else(|| format!("errno{e}"))
}

// ---- fail-nth ----

/// `/proc/thread-self/fail-nth` of the main thread.
///
/// Between arming and reading back, nothing may allocate in this process's kernel context
/// except the operation itself: the file is read and written with `pread`/`pwrite` from stack
/// buffers, and the operations are raw system calls whose success paths do not allocate in
/// userspace either (a `malloc` that grows the heap would make a system call that takes the
/// fault itself).
struct FailNth {
    file: File,
}

/// Writes `n` in decimal into `buf`; returns the digits.
fn fmt_u32(mut n: u32, buf: &mut [u8; 12]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

fn parse_u32(bytes: &[u8]) -> Option<u32> {
    let mut n: u32 = 0;
    let mut any = false;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                n = n.checked_mul(10)?.checked_add(u32::from(b - b'0'))?;
                any = true;
            }
            b'\n' | b' ' => break,
            _ => return None,
        }
    }
    any.then_some(n)
}

impl FailNth {
    fn open() -> Result<FailNth, String> {
        let file = OpenOptions::new().read(true).write(true).open(FAIL_NTH).ctx(FAIL_NTH)?;
        Ok(FailNth { file })
    }

    /// Runs `op` with the `n`-th fault of this thread armed; returns its result and whether
    /// the fault was injected.
    fn inject<R>(&self, n: u32, op: impl FnOnce() -> R) -> Result<(R, bool), String> {
        let mut num = [0u8; 12];
        let digits = fmt_u32(n, &mut num);
        if let Err(e) = self.file.write_at(digits, 0) {
            return Err(format!("write {n} to {FAIL_NTH}: {e}"));
        }
        let r = op();
        let mut back = [0u8; 16];
        let got = self.file.read_at(&mut back, 0);
        // Off again, whether or not the fault was reached.
        let off = self.file.write_at(b"0", 0);
        let len = got.map_err(|e| format!("read {FAIL_NTH}: {e}"))?;
        off.map_err(|e| format!("write 0 to {FAIL_NTH}: {e}"))?;
        let left = parse_u32(&back[..len]).ok_or_else(|| format!("{FAIL_NTH} reads {:?}", &back[..len]))?;
        Ok((r, left == 0))
    }
}

// ---- fault attributes ----

/// Saves fault attributes and puts them back on drop.
struct SavedAttrs {
    saved: Vec<(String, String)>,
}

fn attr_path(dir: &str, name: &str) -> String {
    format!("{dir}/{name}")
}

fn write_attr(dir: &str, name: &str, value: &str) -> Result<(), String> {
    let p = attr_path(dir, name);
    fs::write(&p, value).with_ctx(|| format!("write '{value}' to {p}"))
}

fn read_attr(dir: &str, name: &str) -> Result<String, String> {
    let p = attr_path(dir, name);
    Ok(fs::read_to_string(&p).ctx(&p)?.trim().to_owned())
}

const COMMON_ATTRS: &[&str] = &[
    "probability",
    "interval",
    "times",
    "space",
    "verbose",
    "task-filter",
    "stacktrace-depth",
    "require-start",
    "require-end",
    "reject-start",
    "reject-end",
    "ignore-gfp-wait",
];

impl SavedAttrs {
    fn save() -> Result<SavedAttrs, String> {
        let mut saved = Vec::new();
        for dir in [FAILSLAB, FAIL_PAGE_ALLOC] {
            let extra: &[&str] =
                if dir == FAIL_PAGE_ALLOC { &["ignore-gfp-highmem", "min-order"] } else { &["cache-filter"] };
            for name in COMMON_ATTRS.iter().chain(extra) {
                saved.push((attr_path(dir, name), read_attr(dir, name)?));
            }
        }
        Ok(SavedAttrs { saved })
    }

    fn restore(&self) -> Result<(), String> {
        let mut errors = Vec::new();
        // Probability first: nothing is injected while the rest is put back.
        let order = self
            .saved
            .iter()
            .filter(|(p, _)| p.ends_with("/probability"))
            .chain(self.saved.iter().filter(|(p, _)| !p.ends_with("/probability")));
        for (p, v) in order {
            if let Err(e) = fs::write(p, v) {
                errors.push(format!("{p} <- {v}: {e}"));
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("cannot restore fault attributes: {}", errors.join("; ")))
        }
    }
}

impl Drop for SavedAttrs {
    fn drop(&mut self) {
        if let Err(e) = self.restore() {
            emit(&format!("vcsm-faults: {e}"));
        }
    }
}

/// Slab caches whose allocations are never failed: the kernel's checkers' own metadata. A
/// failed radix-tree node in DMA-API debugging's cacheline tracking switches DMA-API debugging
/// off for the rest of the boot ("cacheline tracking ENOMEM, dma-debug disabled"); a failed
/// kmemleak object only costs kmemleak a pool entry, and tests nothing of ours.
const SPARED_CACHES: &[&str] = &["radix_tree_node", "kmemleak_object", "kmemleak_scan_area"];
const SLAB_DIR: &str = "/sys/kernel/slab";

/// Marks every slab cache but [`SPARED_CACHES`] for failslab's cache filter (`failslab` in
/// `/sys/kernel/slab/CACHE/`), saving the old marks in `saved`; returns (marked, unmarkable)
/// counts. Caches that cannot be marked (merged ones) are spared too.
fn mark_slab_caches(saved: &mut SavedAttrs) -> Result<(usize, usize), String> {
    let (mut marked, mut unmarkable) = (0, 0);
    let mut spared_seen = 0;
    for entry in fs::read_dir(SLAB_DIR).ctx(SLAB_DIR)? {
        let entry = entry.ctx(SLAB_DIR)?;
        if entry.file_type().map(|t| t.is_symlink()).unwrap_or(true) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let p = entry.path().join("failslab");
        let Ok(old) = fs::read_to_string(&p) else { continue };
        let spared = SPARED_CACHES.contains(&name.as_str());
        let want = if spared { "0" } else { "1" };
        if old.trim() == want {
            marked += usize::from(!spared);
        } else if fs::write(&p, want).is_ok() {
            saved.saved.push((p.to_string_lossy().into_owned(), old.trim().to_owned()));
            marked += usize::from(!spared);
        } else if spared {
            return Err(format!("cannot clear {}", p.display()));
        } else {
            unmarkable += 1;
        }
        spared_seen += usize::from(spared);
    }
    if spared_seen == 0 {
        return Err(format!("none of {SPARED_CACHES:?} in {SLAB_DIR}"));
    }
    Ok((marked, unmarkable))
}

/// A range of kernel text addresses, `[start, end)`.
#[derive(Clone, Copy, Debug)]
struct TextRange {
    start: u64,
    end: u64,
}

impl TextRange {
    const ALL: TextRange = TextRange { start: 0, end: u64::MAX };
}

/// Configures one attribute directory for a phase: nothing injected by probability, the
/// stack-trace filter `require`, `reject`.
fn setup_attr(dir: &str, require: TextRange, reject: TextRange) -> Result<(), String> {
    write_attr(dir, "probability", "0")?;
    write_attr(dir, "times", "0")?;
    write_attr(dir, "interval", "1")?;
    write_attr(dir, "space", "0")?;
    write_attr(dir, "verbose", "0")?;
    write_attr(dir, "task-filter", "N")?;
    write_attr(dir, "stacktrace-depth", "32")?;
    write_attr(dir, "ignore-gfp-wait", "N")?;
    if dir == FAILSLAB {
        write_attr(dir, "cache-filter", "Y")?;
    }
    if dir == FAIL_PAGE_ALLOC {
        write_attr(dir, "ignore-gfp-highmem", "N")?;
        write_attr(dir, "min-order", "0")?;
    }
    write_attr(dir, "require-start", &format!("{:#x}", require.start))?;
    write_attr(dir, "require-end", &format!("{:#x}", require.end))?;
    write_attr(dir, "reject-start", &format!("{:#x}", reject.start))?;
    write_attr(dir, "reject-end", &format!("{:#x}", reject.end))?;
    Ok(())
}

/// The executable sections of a module's `.ko` (ELF64 little endian): `(name, size)`.
fn elf_exec_sections(path: &str) -> Result<Vec<(String, u64)>, String> {
    let data = fs::read(path).ctx(path)?;
    let u16_at = |o: usize| data.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]) as usize);
    let u32_at = |o: usize| data.get(o..o + 4).map(|b| u32::from_le_bytes(b.try_into().unwrap_or([0; 4])));
    let u64_at = |o: usize| data.get(o..o + 8).map(|b| u64::from_le_bytes(b.try_into().unwrap_or([0; 8])));
    let bad = || format!("{path}: not an ELF64 little-endian object");
    if data.get(..6) != Some(b"\x7fELF\x02\x01".as_slice()) {
        return Err(bad());
    }
    let shoff = u64_at(0x28).ok_or_else(bad)? as usize;
    let shentsize = u16_at(0x3a).ok_or_else(bad)?;
    let shnum = u16_at(0x3c).ok_or_else(bad)?;
    let shstrndx = u16_at(0x3e).ok_or_else(bad)?;
    let sh = |i: usize| shoff + i * shentsize;
    let strtab = u64_at(sh(shstrndx) + 24).ok_or_else(bad)? as usize;
    let mut out = Vec::new();
    for i in 0..shnum {
        let name_off = u32_at(sh(i)).ok_or_else(bad)? as usize;
        let flags = u64_at(sh(i) + 8).ok_or_else(bad)?;
        let size = u64_at(sh(i) + 32).ok_or_else(bad)?;
        // SHF_ALLOC | SHF_EXECINSTR
        if flags & 0x6 != 0x6 || size == 0 {
            continue;
        }
        let name_bytes = data.get(strtab + name_off..).ok_or_else(bad)?;
        let end = name_bytes.iter().position(|&b| b == 0).ok_or_else(bad)?;
        out.push((String::from_utf8_lossy(&name_bytes[..end]).into_owned(), size));
    }
    Ok(out)
}

fn parse_hex(s: &str) -> Option<u64> {
    let s = s.trim();
    u64::from_str_radix(s.strip_prefix("0x").unwrap_or(s), 16).ok()
}

/// The core text of a loaded module: its executable sections (without init text, freed after
/// loading) at their addresses in `/sys/module/NAME/sections`, sized from the `.ko`.
fn module_text((name, ko): (&str, &str)) -> Result<TextRange, String> {
    let mut start = u64::MAX;
    let mut end = 0u64;
    for (sect, size) in elf_exec_sections(ko)? {
        if sect.starts_with(".init") {
            continue;
        }
        let p = format!("/sys/module/{name}/sections/{sect}");
        let Ok(text) = fs::read_to_string(&p) else { continue };
        let addr = parse_hex(&text).ok_or_else(|| format!("{p}: '{}'", text.trim()))?;
        if addr == 0 {
            return Err(format!("{p} reads 0 (addresses hidden?)"));
        }
        start = start.min(addr);
        end = end.max(addr + size);
    }
    if start >= end || end - start > 64 * MIB {
        return Err(format!("no plausible text range for {name} ({start:#x}..{end:#x})"));
    }
    Ok(TextRange { start, end })
}

// ---- what must come back after every step ----

#[derive(Clone, Debug, PartialEq, Eq)]
struct Snapshot {
    drv_buffers: u64,
    sim_handles: u64,
    sim_client_errors: u64,
    cma_used: BTreeMap<String, u64>,
    dmabufs: u64,
}

fn kv_value(text: &str, key: &str, skip: &[&str]) -> Option<u64> {
    for line in text.lines() {
        if skip.iter().any(|s| line.starts_with(s)) {
            continue;
        }
        for w in line.split_ascii_whitespace() {
            if let Some(v) = w.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
                return v.parse().ok();
            }
        }
    }
    None
}

fn sim_handles_in(state: &str) -> Result<u64, String> {
    state
        .lines()
        .find_map(|l| l.strip_prefix("handles "))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| format!("no handles line in {SIM}/state"))
}

impl Snapshot {
    fn take() -> Result<Snapshot, String> {
        let st = fs::read_to_string(STATE).ctx(STATE)?;
        let drv_buffers = kv_value(&st, "buffers", &["buffer ", "pin "])
            .ok_or_else(|| format!("no buffers= in {STATE}"))?;
        let sim_path = format!("{SIM}/state");
        let sim = fs::read_to_string(&sim_path).ctx(&sim_path)?;
        let sim_handles = sim_handles_in(&sim)?;
        let sim_client_errors =
            kv_value(&sim, "client_errors", &[]).ok_or_else(|| format!("no client_errors in {sim_path}"))?;
        // Not counting the heap pool's pages (free to hand out, not left behind).
        let cma_used = vcsm_tests::cma_used_not_pooled()?;
        let bi = fs::read_to_string(BUFINFO).ctx(BUFINFO)?;
        let dmabufs = bi
            .lines()
            .find_map(|l| l.strip_prefix("Total ").and_then(|r| r.split_ascii_whitespace().next()))
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| format!("no Total line in {BUFINFO}"))?;
        Ok(Snapshot { drv_buffers, sim_handles, sim_client_errors, cma_used, dmabufs })
    }

    /// The simulated VPU's live handles.
    fn sim_handles() -> Result<u64, String> {
        let p = format!("{SIM}/state");
        sim_handles_in(&fs::read_to_string(&p).ctx(&p)?)
    }

    fn diff(&self, base: &Snapshot) -> String {
        let mut d = Vec::new();
        if self.drv_buffers != base.drv_buffers {
            d.push(format!("driver buffers {} (was {})", self.drv_buffers, base.drv_buffers));
        }
        if self.sim_handles != base.sim_handles {
            d.push(format!("VPU handles {} (was {})", self.sim_handles, base.sim_handles));
        }
        if self.sim_client_errors != base.sim_client_errors {
            d.push(format!("VPU client_errors {} (was {})", self.sim_client_errors, base.sim_client_errors));
        }
        for (area, used) in &self.cma_used {
            let was = base.cma_used.get(area).copied().unwrap_or(0);
            if *used != was {
                d.push(format!("CMA {area} used {used} pages (was {was})"));
            }
        }
        if self.dmabufs != base.dmabufs {
            d.push(format!("dma-bufs {} (was {})", self.dmabufs, base.dmabufs));
        }
        d.join(", ")
    }
}

/// Waits up to `SETTLE_MS` until the state is `base` again; describes what differs otherwise.
fn settle(base: &Snapshot) -> Result<(), String> {
    let end = Instant::now() + Duration::from_millis(SETTLE_MS);
    let mut delay = Duration::from_millis(1);
    loop {
        let now = Snapshot::take()?;
        if now == *base {
            return Ok(());
        }
        if Instant::now() >= end {
            return Err(format!("left behind after {SETTLE_MS} ms: {}", now.diff(base)));
        }
        thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(20));
    }
}

// ---- the kernel log ----

/// `/dev/kmsg`, read from where it was opened (or last drained) on.
struct Kmsg {
    file: File,
}

/// Text that the guest judge counts as a kernel report (tests/qemu/judge.py).
const REPORTS: &[&str] = &[
    "BUG:",
    "WARNING:",
    "Oops",
    "Internal error:",
    "KASAN",
    "lockdep",
    "circular locking",
    "recursive locking",
    "inconsistent lock state",
    "suspicious RCU usage",
    "unreferenced object",
    "Kernel panic",
    "blocked for more than",
    "DMA-API:",
    "Call trace:",
    "page allocation failure",
];

impl Kmsg {
    fn open() -> Result<Kmsg, String> {
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ctx("/dev/kmsg")?;
        // SEEK_END on /dev/kmsg skips to after the last record.
        let _ = io::Seek::seek(&mut (&file), io::SeekFrom::End(0));
        Ok(Kmsg { file })
    }

    /// The messages logged since the last call.
    fn drain(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 8192];
        loop {
            match self.file.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let rec = String::from_utf8_lossy(&buf[..n]);
                    // "prio,seq,usec,flags;text" then continuation lines (" KEY=value").
                    let first = rec.lines().next().unwrap_or("");
                    let text = first.split_once(';').map(|(_, t)| t).unwrap_or(first);
                    out.push(text.to_owned());
                }
                // EPIPE: records were overwritten meanwhile; the next read continues.
                Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
                Err(_) => break,
            }
        }
        out
    }
}

fn is_report(line: &str) -> bool {
    REPORTS.iter().any(|p| line.contains(p))
}

/// A log line with its numbers blanked, to count repeats of one message.
fn log_shape(line: &str) -> String {
    let mut s = String::with_capacity(line.len());
    let mut in_num = false;
    for c in line.chars() {
        if in_num && (c.is_ascii_hexdigit() || c == 'x') {
            continue;
        }
        in_num = c.is_ascii_digit();
        s.push(if in_num { '#' } else { c });
    }
    s
}

// ---- the device, the heaps ----

struct Ctx {
    args: Args,
    dev: Vcsm,
    uncached: Heap,
    cached: Heap,
    fail: FailNth,
    kmsg: Kmsg,
    page: usize,
}

/// MEM_IMPORT_DMABUF of `src`; the wrapper's fd. Does not allocate in userspace.
fn import_raw(dev: &Vcsm, src: RawFd) -> Result<OwnedFd, i32> {
    dev.import_raw(src, b"faults").map(|b| b.buf.into_fd()).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// MEM_ALLOC of `size` bytes; the wrapper's fd. Does not allocate in userspace.
fn alloc_raw(dev: &Vcsm, size: u32) -> Result<OwnedFd, i32> {
    dev.alloc(size, b"faults").map(|b| b.buf.into_fd()).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// DMA_HEAP_IOCTL_ALLOC. Does not allocate in userspace on either path.
fn heap_alloc_raw(heap: &Heap, len: u64) -> Result<DmaBuf, i32> {
    let mut data = DmaHeapAllocationData { len, fd: 0, fd_flags: DEFAULT_FD_FLAGS, heap_flags: 0 };
    heap.alloc_raw(&mut data).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// A shared read-write mapping of `len` bytes of `fd`, unmapped on drop. Does not allocate in
/// userspace.
fn mmap_raw(fd: RawFd, len: usize) -> Result<Mapping, i32> {
    Mapping::map_fd_number(fd, 0, len, Prot::READ_WRITE).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// DMA_BUF_IOCTL_SYNC. Does not allocate in userspace.
fn sync_raw(fd: BorrowedFd<'_>, flags: u64) -> Result<(), i32> {
    BUF_SYNC.call(fd, &mut DmaBufSync { flags }).map(drop).map_err(|e| e.raw_os_error().unwrap_or(0))
}

fn heap_cleans() -> Result<u64, String> {
    let text = fs::read_to_string(HEAP_STATS).ctx(HEAP_STATS)?;
    text.lines()
        .find(|l| l.starts_with("vcsm-uncached "))
        .and_then(|l| kv_value(l, "cleans", &[]))
        .ok_or_else(|| format!("no vcsm-uncached cleans= in {HEAP_STATS}"))
}

/// The simulator's debugfs file `file`, trimmed.
fn sim_read(file: &str) -> Result<String, String> {
    Ok(vcsm_tests::sim_read(file)?.trim().to_owned())
}

/// The simulated VPU's knobs at their defaults (no delays, no injected VPU errors).
fn sim_defaults() -> Result<(), String> {
    sim_knobs_default()
}

// ---- stepping ----

/// The outcome of one step: the operation's result (an errno, with what failed if known) and
/// whether the fault was injected.
struct Step {
    result: Result<(), (i32, Option<String>)>,
    injected: bool,
}

impl Step {
    fn of<T>(r: (Result<T, i32>, bool)) -> Step {
        Step { result: r.0.map(|_| ()).map_err(|e| (e, None)), injected: r.1 }
    }

    fn label(&self) -> String {
        match &self.result {
            Ok(()) if self.injected => "ok(recovered)".into(),
            Ok(()) => "ok".into(),
            Err((e, None)) => errno_str(*e),
            Err((e, Some(what))) => format!("{what}:{}", errno_str(*e)),
        }
    }
}

/// What an entry point's stepping found.
#[derive(Default)]
struct Tally {
    steps: u32,
    errnos: BTreeSet<i32>,
    /// Step outcomes, run-length encoded: (label, count).
    runs: Vec<(String, u32)>,
    log_lines: Vec<String>,
    /// Kernel reports (BUG, WARNING, ...), by step: the step goes on, the entry point fails.
    reports: Vec<(u32, Vec<String>)>,
    /// Extra runs (VC_MEM_REQUEST alignment requests).
    extra_runs: u32,
    /// The stepping reached a success without a fault.
    finished: bool,
}

impl Tally {
    fn record(&mut self, label: String) {
        match self.runs.last_mut() {
            Some((l, n)) if *l == label => *n += 1,
            _ => self.runs.push((label, 1)),
        }
    }

    fn errno_set(&self) -> String {
        self.errnos.iter().map(|&e| errno_str(e)).collect::<Vec<_>>().join(", ")
    }

    fn runs_text(&self) -> String {
        self.runs
            .iter()
            .map(|(l, n)| if *n > 1 { format!("{l} x{n}") } else { l.clone() })
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The most repeated kernel log messages, numbers blanked.
    fn log_summary(&self) -> String {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for l in &self.log_lines {
            *counts.entry(log_shape(l)).or_default() += 1;
        }
        let mut v: Vec<_> = counts.into_iter().collect();
        v.sort_by_key(|e| std::cmp::Reverse(e.1));
        v.iter().take(4).map(|(l, n)| format!("{n}x '{l}'")).collect::<Vec<_>>().join("; ")
    }
}

impl Tally {
    /// Takes in the kernel log lines of step `n`; kernel reports among them are recorded (and
    /// shown at once), and fail the entry point once it is done.
    fn log(&mut self, n: u32, lines: Vec<String>) {
        let reports: Vec<String> = lines.iter().filter(|l| is_report(l)).take(4).cloned().collect();
        if !reports.is_empty() {
            emit(&format!("step {n}: kernel report: {}", reports.join(" | ")));
            self.reports.push((n, reports));
        }
        self.log_lines.extend(lines);
    }

    /// Fails if any step caused a kernel report.
    fn reports_result(&self) -> Result<(), String> {
        if self.reports.is_empty() {
            return Ok(());
        }
        let steps: Vec<String> = self
            .reports
            .iter()
            .map(|(n, r)| format!("step {n}: {}", r.first().map(String::as_str).unwrap_or("")))
            .collect();
        Err(format!("kernel reports at {} steps: {}", self.reports.len(), steps.join("; ")))
    }
}

/// Steps fail-nth from 1 up over `step`, which performs the operation once with fail-nth
/// armed (through `ctx.fail.inject`) and undoes what succeeded.
fn systematic(
    ctx: &mut Ctx,
    id: &str,
    allowed: &[i32],
    tally: &mut Tally,
    mut step: impl FnMut(&mut Ctx, u32) -> Result<Step, String>,
) -> Result<(), String> {
    let base = Snapshot::take()?;
    ctx.kmsg.drain();
    for n in 1..=ctx.args.max_steps {
        tally.steps = n;
        let s = step(ctx, n).map_err(|e| format!("step {n}: {e}"))?;
        let lines = ctx.kmsg.drain();
        tally.log(n, lines);
        let label = s.label();
        if let Err((e, _)) = &s.result {
            if !allowed.contains(e) {
                let names = allowed.iter().map(|&a| errno_str(a)).collect::<Vec<_>>().join(" ");
                return Err(format!("step {n}: failed with {label}, not one of the documented {names}"));
            }
            if !s.injected {
                return Err(format!("step {n}: failed with {label} although no fault was injected"));
            }
            tally.errnos.insert(*e);
        }
        settle(&base).map_err(|e| format!("step {n} ({label}): {e}"))?;
        tally.record(label);
        if s.result.is_ok() && !s.injected {
            tally.finished = true;
            return tally.reports_result();
        }
    }
    Err(format!("{id}: no success without a fault within {} steps", ctx.args.max_steps))
}

// ---- the entry points ----

fn size_u32(ctx: &Ctx) -> Result<u32, String> {
    u32::try_from(ctx.args.size).map_err(|_| format!("--size {} does not fit MEM_ALLOC", ctx.args.size))
}

fn e_mem_alloc(ctx: &mut Ctx, t: &mut Tally) -> Result<(), String> {
    let size = size_u32(ctx)?;
    systematic(ctx, "mem-alloc", DRV_ERRNOS, t, |ctx, n| {
        let r = ctx.fail.inject(n, || alloc_raw(&ctx.dev, size))?;
        Ok(Step::of(r))
    })
}

fn e_import(ctx: &mut Ctx, t: &mut Tally, cached: bool) -> Result<(), String> {
    let heap = if cached { &ctx.cached } else { &ctx.uncached };
    let src = heap.allocate(ctx.args.size).ctx("allocate the source")?;
    // Mapped once, so the uncached heap's one-time clean is not part of this entry point.
    drop(src.mmap(0, ctx.page, Prot::READ_WRITE).ctx("mmap the source")?);
    let fd = src.as_raw_fd();
    systematic(ctx, "import", DRV_ERRNOS, t, |ctx, n| {
        let r = ctx.fail.inject(n, || import_raw(&ctx.dev, fd))?;
        Ok(Step::of(r))
    })
}

fn e_first_map(ctx: &mut Ctx, t: &mut Tally) -> Result<(), String> {
    let size = ctx.args.size;
    systematic(ctx, "first-map", DRV_ERRNOS, t, |ctx, n| {
        // A fresh uncached buffer that was never mapped: the import is its first mapping.
        let src = ctx.uncached.allocate(size).ctx("allocate the source")?;
        let before = heap_cleans()?;
        let fd = src.as_raw_fd();
        let r = ctx.fail.inject(n, || import_raw(&ctx.dev, fd))?;
        let step = Step::of(r);
        // Whatever the import did, the next mapping finds the buffer clean: exactly one clean
        // in the buffer's life.
        drop(src.mmap(0, ctx.page, Prot::READ_WRITE).ctx("mmap after the import")?);
        let cleans = heap_cleans()? - before;
        if cleans != 1 {
            return Err(format!("{}: the buffer was cleaned {cleans} times, expected once", step.label()));
        }
        Ok(step)
    })
}

fn e_heap_alloc(ctx: &mut Ctx, t: &mut Tally, cached: bool) -> Result<(), String> {
    let size = ctx.args.size;
    systematic(ctx, "heap-alloc", HEAP_ERRNOS, t, |ctx, n| {
        let heap = if cached { &ctx.cached } else { &ctx.uncached };
        let r = ctx.fail.inject(n, || heap_alloc_raw(heap, size))?;
        Ok(Step::of(r))
    })
}

fn mmap_steps(ctx: &mut Ctx, t: &mut Tally, fd: RawFd) -> Result<(), String> {
    let len = usize::try_from(ctx.args.size).map_err(|_| "size".to_string())?;
    systematic(ctx, "mmap", MMAP_ERRNOS, t, |ctx, n| {
        let r = ctx.fail.inject(n, || mmap_raw(fd, len))?;
        Ok(Step::of(r))
    })
}

fn e_mmap_heap(ctx: &mut Ctx, t: &mut Tally, cached: bool) -> Result<(), String> {
    let heap = if cached { &ctx.cached } else { &ctx.uncached };
    let src = heap.allocate(ctx.args.size).ctx("allocate")?;
    mmap_steps(ctx, t, src.as_raw_fd())
}

fn e_mmap_wrapper_import(ctx: &mut Ctx, t: &mut Tally) -> Result<(), String> {
    let src = ctx.uncached.allocate(ctx.args.size).ctx("allocate the source")?;
    let wrapper = import_raw(&ctx.dev, src.as_raw_fd()).map_err(|e| format!("import: {}", errno_str(e)))?;
    mmap_steps(ctx, t, wrapper.as_raw_fd())
}

fn e_mmap_wrapper_alloc(ctx: &mut Ctx, t: &mut Tally) -> Result<(), String> {
    let wrapper = alloc_raw(&ctx.dev, size_u32(ctx)?).map_err(|e| format!("MEM_ALLOC: {}", errno_str(e)))?;
    mmap_steps(ctx, t, wrapper.as_raw_fd())
}

fn e_sync(ctx: &mut Ctx, t: &mut Tally, end: bool) -> Result<(), String> {
    // A cached source: its CPU-access sync does maintenance for the VPU's attachment.
    let src = ctx.cached.allocate(ctx.args.size).ctx("allocate the source")?;
    let wrapper = import_raw(&ctx.dev, src.as_raw_fd()).map_err(|e| format!("import: {}", errno_str(e)))?;
    let fd = wrapper.as_fd();
    let start = DMA_BUF_SYNC_RW;
    let stop = DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW;
    systematic(ctx, "sync", SYNC_ERRNOS, t, |ctx, n| {
        if end {
            sync_raw(fd, start).map_err(|e| format!("SYNC START: {}", errno_str(e)))?;
            let r = ctx.fail.inject(n, || sync_raw(fd, stop))?;
            if r.0.is_err() {
                // The CPU access stays open otherwise.
                sync_raw(fd, stop).map_err(|e| format!("SYNC END after a failed one: {}", errno_str(e)))?;
            }
            Ok(Step::of(r))
        } else {
            let r = ctx.fail.inject(n, || sync_raw(fd, start))?;
            if r.0.is_ok() {
                sync_raw(fd, stop).map_err(|e| format!("SYNC END: {}", errno_str(e)))?;
            }
            Ok(Step::of(r))
        }
    })
}

/// The last close of a wrapper: the release (FREE to the VPU, RELEASED, the source's detach)
/// runs in the closing thread's task work, before `close` returns to userspace.
fn e_close_wrapper(ctx: &mut Ctx, t: &mut Tally) -> Result<(), String> {
    let src = ctx.uncached.allocate(ctx.args.size).ctx("allocate the source")?;
    let fd = src.as_raw_fd();
    systematic(ctx, "close", &[], t, |ctx, n| {
        let wrapper = import_raw(&ctx.dev, fd).map_err(|e| format!("import: {}", errno_str(e)))?;
        let r = ctx.fail.inject(n, || {
            // The wrapper's last close, with its error (drop would ignore it).
            nix::unistd::close(wrapper).map_err(|e| e as i32)
        })?;
        Ok(Step::of(r))
    })
}

/// Parses the kernel-API test's result: `ok ...`, or `FAIL: WHAT: -ERRNO` (an operation that
/// failed cleanly); any other `FAIL:` is a broken promise of the API.
fn kapi_outcome(text: &str) -> Result<Result<(), (i32, Option<String>)>, String> {
    let text = text.trim();
    if text.starts_with("ok ") {
        return Ok(Ok(()));
    }
    let Some(rest) = text.strip_prefix("FAIL: ") else {
        return Err(format!("unexpected result '{text}'"));
    };
    match rest.rsplit_once(": -") {
        Some((what, num)) => match num.trim().parse::<i32>() {
            Ok(e) if e > 0 => Ok(Err((e, Some(what.replace(' ', "-"))))),
            _ => Err(format!("kernel API: {text}")),
        },
        None => Err(format!("kernel API: {text}")),
    }
}

fn e_kapi(ctx: &mut Ctx, t: &mut Tally) -> Result<(), String> {
    let run = OpenOptions::new()
        .read(true)
        .write(true)
        .open(KAPI)
        .with_ctx(|| format!("{KAPI} (vcsm-kapi-test.ko loaded?)"))?;
    let src = ctx.uncached.allocate(ctx.args.size).ctx("allocate the source")?;
    let fd = u32::try_from(src.as_raw_fd()).map_err(|_| "fd".to_string())?;
    let mut num = [0u8; 12];
    let digits: Vec<u8> = fmt_u32(fd, &mut num).to_vec();
    systematic(ctx, "kernel-api", DRV_ERRNOS, t, |ctx, n| {
        let (w, injected) =
            ctx.fail.inject(n, || run.write_at(&digits, 0).map_err(|e| e.raw_os_error().unwrap_or(0)))?;
        if let Err(e) = w {
            return Ok(Step { result: Err((e, Some("write".into()))), injected });
        }
        let mut out = vec![0u8; 256];
        let len = run.read_at(&mut out, 0).ctx(KAPI)?;
        let result = kapi_outcome(&String::from_utf8_lossy(&out[..len]))?;
        Ok(Step { result, injected })
    })
}

/// One VC_MEM_REQUEST from the VPU, with `dir`'s probability at 100 while the driver serves
/// it. Returns the outcome's label ("ok", or the errno named by the driver's log line).
fn mem_request_once(
    ctx: &mut Ctx,
    dir: &str,
    base: &Snapshot,
    tally: &mut Tally,
    n: u32,
) -> Result<String, String> {
    let size = ctx.args.size;
    write_attr(dir, "probability", "100")?;
    let sent = sim_write("mem_request", &format!("{size:#x} 0x1000 faults-{n}"));
    let end = Instant::now() + Duration::from_millis(SETTLE_MS);
    let outcome = loop {
        let o = match &sent {
            Ok(()) => sim_read("mem_request"),
            Err(e) => Err(e.clone()),
        };
        match o {
            Ok(o) if o.starts_with("mem_request pending") && Instant::now() < end => {
                thread::sleep(Duration::from_millis(2))
            }
            other => break other,
        }
    };
    // Nothing counts or fails from here on.
    write_attr(dir, "probability", "0")?;
    let outcome = outcome?;
    let lines = ctx.kmsg.drain();
    // "VC_MEM_REQUEST 7 for ... failed: ENOMEM", "cannot queue VC_MEM_REQUEST 7: ENOMEM".
    let errno =
        lines.iter().filter(|l| l.contains("VC_MEM_REQUEST")).find_map(|l| errno_in_text(l)).map(errno_str);
    tally.log(n, lines);
    let w: Vec<&str> = outcome.split_ascii_whitespace().collect();
    let label = match w.get(1).copied() {
        Some("ok") => {
            let h = w
                .iter()
                .position(|x| *x == "vc_handle")
                .and_then(|i| w.get(i + 1))
                .ok_or_else(|| format!("no vc_handle in '{outcome}'"))?;
            sim_write("drop", h)?;
            "ok".to_owned()
        }
        Some("host-failed") => errno.unwrap_or_else(|| "host-failed".into()),
        _ => return Err(format!("step {n}: the VPU got no valid reply: '{outcome}'")),
    };
    settle(base).map_err(|e| format!("step {n} ({label}): {e}"))?;
    Ok(label)
}

/// VC_MEM_REQUEST, stepped with `dir`'s interval and times (see the module documentation).
/// One run of an operation the driver completes on its workqueue, with `dir`'s probability
/// at 100 while it does; the outcome's label ("ok", or the errno the driver logged).
type AttrRun = fn(&mut Ctx, &str, &Snapshot, &mut Tally, u32) -> Result<String, String>;

/// Steps `dir`'s interval over `once` (see the module documentation).
fn e_attr(
    ctx: &mut Ctx,
    t: &mut Tally,
    dir: &str,
    driver: TextRange,
    sim: TextRange,
    once: AttrRun,
) -> Result<(), String> {
    setup_attr(dir, driver, sim)?;
    let base = Snapshot::take()?;
    ctx.kmsg.drain();
    let times = || -> Result<i64, String> {
        read_attr(dir, "times")?.parse().map_err(|_| format!("{dir}/times unreadable"))
    };
    let result = (|| {
        for n in 1..=ctx.args.attr_max_steps {
            t.steps = n;
            write_attr(dir, "interval", &n.to_string())?;
            if n > 1 {
                // Bring the attribute's call counter to a multiple of n: requests until one
                // takes a fault (each is checked like a step).
                let mut aligned = false;
                for _ in 0..=n {
                    write_attr(dir, "times", "1")?;
                    let label = once(ctx, dir, &base, t, n)?;
                    t.extra_runs += 1;
                    let injected = times()? == 0;
                    if label != "ok" {
                        if !injected {
                            return Err(format!(
                                "step {n} (aligning): failed ({label}) although no fault was injected"
                            ));
                        }
                        t.errnos.extend(errno_of(&label));
                    }
                    if injected {
                        aligned = true;
                        break;
                    }
                }
                if !aligned {
                    return Err(format!("step {n}: no fault within {} runs at interval {n}", n + 1));
                }
            }
            write_attr(dir, "times", "1")?;
            let label = once(ctx, dir, &base, t, n)?;
            let injected = times()? == 0;
            write_attr(dir, "times", "0")?;
            if label != "ok" {
                if !injected {
                    return Err(format!("step {n}: failed ({label}) although no fault was injected"));
                }
                let errno = errno_of(&label);
                if errno.is_none() && label != "host-failed" {
                    return Err(format!("step {n}: unexpected outcome {label}"));
                }
                t.errnos.extend(errno);
            }
            t.record(if label == "ok" && injected { "ok(recovered)".into() } else { label.clone() });
            if label == "ok" && !injected {
                t.finished = true;
                return t.reports_result();
            }
        }
        Err(format!("no success without a fault within {} steps", ctx.args.attr_max_steps))
    })();
    let _ = write_attr(dir, "probability", "0");
    let _ = write_attr(dir, "times", "0");
    // Back to the fail-nth configuration.
    setup_attr(dir, TextRange::ALL, sim)?;
    result
}

/// IMPORT whose reply comes after the waiter gave up (`timeout_ms` 100, the VPU replying after
/// 400 ms): the receive work queues the late reply as an event (an allocation), whose work
/// frees the VPU handle; RELEASED then releases the buffer. The fault lands there.
fn late_import_once(
    ctx: &mut Ctx,
    dir: &str,
    base: &Snapshot,
    tally: &mut Tally,
    n: u32,
) -> Result<String, String> {
    let src = ctx.uncached.allocate(ctx.args.size).ctx("allocate the source")?;
    match import_raw(&ctx.dev, src.as_raw_fd()) {
        Err(libc::ETIMEDOUT) => {}
        Err(e) => return Err(format!("step {n}: import failed with {}, expected ETIMEDOUT", errno_str(e))),
        Ok(_) => return Err(format!("step {n}: the import did not time out (reply_delay_ms > timeout_ms)")),
    }
    // The driver keeps its own reference while the IMPORT is pending.
    drop(src);
    write_attr(dir, "probability", "100")?;
    // The late reply is handled once the VPU has the FREE for its handle.
    let end = Instant::now() + Duration::from_millis(LATE_REPLY_MS + SETTLE_MS);
    let handled = loop {
        match Snapshot::sim_handles() {
            Ok(h) if h == base.sim_handles => break Ok(()),
            Ok(_) if Instant::now() < end => thread::sleep(Duration::from_millis(5)),
            Ok(h) => break Err(format!("the VPU still has {h} handles (was {})", base.sim_handles)),
            Err(e) => break Err(e),
        }
    };
    write_attr(dir, "probability", "0")?;
    let lines = ctx.kmsg.drain();
    // "cannot queue the late IMPORT reply for buffer 5 (ENOMEM); it is released at teardown".
    let errno = lines.iter().filter(|l| l.contains("late IMPORT reply")).find_map(|l| errno_in_text(l));
    let label = errno.map(errno_str).unwrap_or_else(|| "ok".into());
    tally.log(n, lines);
    handled.and_then(|()| settle(base)).map_err(|e| format!("step {n} ({label}): {e}"))?;
    Ok(label)
}

/// The driver's timeout and the VPU's reply delay of [`late_import_once`].
const LATE_TIMEOUT_MS: u64 = 100;
const LATE_REPLY_MS: u64 = 400;
const TIMEOUT_PARAM: &str = "/sys/module/vc_sm_cma/parameters/timeout_ms";

fn e_late_import(ctx: &mut Ctx, t: &mut Tally, driver: TextRange, sim: TextRange) -> Result<(), String> {
    let old = fs::read_to_string(TIMEOUT_PARAM).ctx(TIMEOUT_PARAM)?;
    fs::write(TIMEOUT_PARAM, LATE_TIMEOUT_MS.to_string()).ctx(TIMEOUT_PARAM)?;
    let result = sim_write("reply_delay_ms", &LATE_REPLY_MS.to_string())
        .and_then(|()| e_attr(ctx, t, FAILSLAB, driver, sim, late_import_once));
    let restored =
        sim_write("reply_delay_ms", "0").and(fs::write(TIMEOUT_PARAM, old.trim()).ctx(TIMEOUT_PARAM));
    result.and(restored)
}

/// The first errno in a kernel log line: `Error(12)` (no CONFIG_SYMBOLIC_ERRNAME) or a name.
fn errno_in_text(line: &str) -> Option<i32> {
    if let Some(i) = line.find("Error(") {
        return errno_of(line[i..].split_inclusive(')').next()?);
    }
    line.split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| w.len() > 2 && w.starts_with('E') && w.chars().all(|c| c.is_ascii_uppercase()))
        .find_map(errno_of)
}

/// The errno value of an error as the kernel's Rust code logs it: `ENOMEM`, or `Error(12)`
/// without CONFIG_SYMBOLIC_ERRNAME.
fn errno_of(name: &str) -> Option<i32> {
    if let Some(n) = name.strip_prefix("Error(").and_then(|r| r.strip_suffix(')')) {
        return n.trim_start_matches('-').parse().ok();
    }
    (1..200).find(|&e| errno_str(e) == name)
}

// ---- main ----

fn run(args: Args) -> ExitCode {
    let mut r = Reporter::new("vcsm-faults");
    let setup = || -> Result<(Ctx, SavedAttrs, TextRange, TextRange, usize, usize), String> {
        for p in [FAIL_NTH, FAILSLAB, FAIL_PAGE_ALLOC, STATE, SIM, BUFINFO, CMA_DIR, HEAP_STATS] {
            if fs::metadata(p).is_err() {
                return Err(format!(
                    "{p} is missing (kernel without fault injection, or a module not loaded?)"
                ));
            }
        }
        let driver = module_text(DRIVER_MODULE)?;
        let sim = module_text(SIM_MODULE)?;
        let mut saved = SavedAttrs::save()?;
        let (marked, unmarkable) = mark_slab_caches(&mut saved)?;
        for dir in [FAILSLAB, FAIL_PAGE_ALLOC] {
            // fail-nth: every allocation of the thread counts, except the simulated VPU's.
            setup_attr(dir, TextRange::ALL, sim)?;
        }
        sim_defaults()?;
        let ctx = Ctx {
            dev: Vcsm::open(DEV).ctx(DEV)?,
            uncached: Heap::open("vcsm-uncached").map_err(|e| e.to_string())?,
            cached: Heap::open("vcsm-cached").map_err(|e| e.to_string())?,
            fail: FailNth::open()?,
            kmsg: Kmsg::open()?,
            page: dmabuf::page_size(),
            args,
        };
        Ok((ctx, saved, driver, sim, marked, unmarkable))
    };
    let (mut ctx, saved, driver, sim, marked, unmarkable) = match setup() {
        Ok(s) => s,
        Err(e) => {
            r.run("faults/setup", || Err(e));
            r.finish();
            return ExitCode::FAILURE;
        }
    };
    info(
        "faults/setup",
        &format!(
            "vc_sm_cma text {:#x}..{:#x}, vpu_sim text {:#x}..{:#x} (never failed); {marked} slab caches may fail, spared: {} and {unmarkable} unmarkable",
            driver.start,
            driver.end,
            sim.start,
            sim.end,
            SPARED_CACHES.join(" ")
        ),
    );

    type Entry = (&'static str, Box<dyn Fn(&mut Ctx, &mut Tally) -> Result<(), String>>);
    let entries: Vec<Entry> = vec![
        ("mem-alloc", Box::new(e_mem_alloc)),
        ("import-uncached", Box::new(|c: &mut Ctx, t: &mut Tally| e_import(c, t, false))),
        ("import-cached", Box::new(|c: &mut Ctx, t: &mut Tally| e_import(c, t, true))),
        ("first-map-uncached", Box::new(e_first_map)),
        ("heap-alloc-uncached", Box::new(|c: &mut Ctx, t: &mut Tally| e_heap_alloc(c, t, false))),
        ("heap-alloc-cached", Box::new(|c: &mut Ctx, t: &mut Tally| e_heap_alloc(c, t, true))),
        ("mmap-heap-uncached", Box::new(|c: &mut Ctx, t: &mut Tally| e_mmap_heap(c, t, false))),
        ("mmap-heap-cached", Box::new(|c: &mut Ctx, t: &mut Tally| e_mmap_heap(c, t, true))),
        ("mmap-wrapper-import", Box::new(e_mmap_wrapper_import)),
        ("mmap-wrapper-alloc", Box::new(e_mmap_wrapper_alloc)),
        ("sync-start-wrapper", Box::new(|c: &mut Ctx, t: &mut Tally| e_sync(c, t, false))),
        ("sync-end-wrapper", Box::new(|c: &mut Ctx, t: &mut Tally| e_sync(c, t, true))),
        ("close-wrapper", Box::new(e_close_wrapper)),
        ("kernel-api", Box::new(e_kapi)),
        (
            "mem-request-failslab",
            Box::new(move |c: &mut Ctx, t: &mut Tally| e_attr(c, t, FAILSLAB, driver, sim, mem_request_once)),
        ),
        (
            "mem-request-fail-page-alloc",
            Box::new(move |c: &mut Ctx, t: &mut Tally| {
                e_attr(c, t, FAIL_PAGE_ALLOC, driver, sim, mem_request_once)
            }),
        ),
        // Last: a leak here stays until the driver is unbound.
        ("late-import-reply", Box::new(move |c: &mut Ctx, t: &mut Tally| e_late_import(c, t, driver, sim))),
    ];
    for (name, f) in &entries {
        let id = format!("faults/{name}");
        if !ctx.args.only.is_empty() && !ctx.args.only.iter().any(|o| id.contains(o.as_str())) {
            continue;
        }
        r.run(&id, || {
            let before = Snapshot::take()?;
            let t0 = Instant::now();
            let mut tally = Tally::default();
            let result = f(&mut ctx, &mut tally);
            // The fixtures are gone: everything is back to before the entry point.
            let after = if result.is_ok() { settle(&before) } else { Ok(()) };
            let took = t0.elapsed();
            let extra = if tally.extra_runs > 0 {
                format!(" (+{} alignment requests)", tally.extra_runs)
            } else {
                String::new()
            };
            let unfinished =
                if tally.finished { String::new() } else { format!(" (stopped at step {})", tally.steps) };
            emit(&format!(
                "{id}: {} steps, {} distinct errnos {{{}}}{extra}{unfinished}",
                tally.steps,
                tally.errnos.len(),
                tally.errno_set()
            ));
            info(&id, &format!("outcomes by step: {}", tally.runs_text()));
            info(
                &id,
                &format!(
                    "{:.1} s; {} kernel log lines{}{}",
                    took.as_secs_f64(),
                    tally.log_lines.len(),
                    if tally.log_lines.is_empty() { "" } else { ": " },
                    tally.log_summary()
                ),
            );
            result?;
            after.map_err(|e| format!("after the entry point: {e}"))
        });
    }
    r.run("faults/attributes-restored", || saved.restore());
    drop(saved);
    r.finish();
    if r.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn main() -> ExitCode {
    run(Args::parse())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers() {
        let mut b = [0u8; 12];
        assert_eq!(fmt_u32(0, &mut b), b"0");
        assert_eq!(fmt_u32(407, &mut b), b"407");
        assert_eq!(fmt_u32(u32::MAX, &mut b), b"4294967295");
        assert_eq!(parse_u32(b"12\n"), Some(12));
        assert_eq!(parse_u32(b"0\n"), Some(0));
        assert_eq!(parse_u32(b"\n"), None);
        assert_eq!(parse_u32(b"x"), None);
    }

    #[test]
    fn kapi_results() {
        assert_eq!(kapi_outcome("ok handle 0x5 size 4096\n"), Ok(Ok(())));
        assert_eq!(kapi_outcome("FAIL: import: -12\n"), Ok(Err((12, Some("import".into())))));
        assert_eq!(
            kapi_outcome("FAIL: vmap of the wrapper: -12\n"),
            Ok(Err((12, Some("vmap-of-the-wrapper".into()))))
        );
        assert!(kapi_outcome("FAIL: second import got the same VPU handle\n").is_err());
        assert!(kapi_outcome("none\n").is_err());
    }

    #[test]
    fn state_values() {
        let st = "buffer id=1 buffers=9 size=4096\nbuffers=0 bytes=0 mapped=0\npin pid=1 bytes=5\n";
        assert_eq!(kv_value(st, "buffers", &["buffer ", "pin "]), Some(0));
        assert_eq!(kv_value(st, "bytes", &["buffer ", "pin "]), Some(0));
        assert_eq!(kv_value("errors a=1 client_errors=3\n", "client_errors", &[]), Some(3));
    }

    #[test]
    fn shapes_and_reports() {
        assert_eq!(log_shape("cannot allocate 1048576 bytes at 0x4800f000"), "cannot allocate # bytes at #");
        assert!(is_report("WARNING: CPU: 0 PID: 1 at mm/x.c"));
        assert!(!is_report("vcsm-uncached: cannot allocate 4096 bytes"));
        assert_eq!(errno_of("ENOMEM"), Some(libc::ENOMEM));
        assert_eq!(errno_of("EDQUOT"), Some(libc::EDQUOT));
        assert_eq!(errno_of("Error(12)"), Some(12));
        assert_eq!(errno_of("Error(-12)"), Some(12));
        assert_eq!(
            errno_in_text("cannot queue the late IMPORT reply for buffer 5 (Error(12)); it is"),
            Some(12)
        );
        assert_eq!(errno_in_text("VC_MEM_REQUEST 7 for 4096 bytes \"x\" failed: ENOMEM"), Some(libc::ENOMEM));
        assert_eq!(errno_in_text("cannot queue VC_MEM_REQUEST 7: EIO"), Some(libc::EIO));
        assert_eq!(errno_in_text("IMPORT of 4096 bytes"), None);
        assert_eq!(errno_of("host-failed"), None);
    }

    #[test]
    fn tally_runs() {
        let mut t = Tally::default();
        for l in ["ENOMEM", "ENOMEM", "ok(recovered)", "ENOMEM", "ok"] {
            t.record(l.into());
        }
        assert_eq!(t.runs_text(), "ENOMEM x2, ok(recovered), ENOMEM, ok");
    }
}
