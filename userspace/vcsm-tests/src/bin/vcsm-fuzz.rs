//! A seeded, replayable ioctl fuzzer for `/dev/vcsm-cma` and the dma-buf and dma-heap file
//! descriptors around it. Runs in the guest (`tests/guest/fuzz.sh`):
//!
//! ```text
//! vcsm-fuzz [--seed N] [--calls N] [--threads N] [--as-user UID:GID[:G1,G2..]] [--phase NAME]
//!           [--max-wrap-depth N] [--max-imports-per-buffer N] [--no-chaos]
//!           [--only-thread K] [--trace]
//! vcsm-fuzz --as-user UID:GID --expect-no-access
//! ```
//!
//! The first line printed is always `vcsm-fuzz: seed <N> threads <T> calls <C>`; run again with
//! `--seed N` (same thread count) to replay. Every worker thread has its own generator, seeded
//! from the seed and the thread's index, so its sequence of decisions is the same whenever the
//! calls it makes have the same outcomes (`--only-thread K --no-chaos` replays worker K alone,
//! without the interleaving; `--trace` prints every call).
//!
//! Each worker throws, with weights that keep most calls cheap failures:
//! * every `'J'` command number with random direction and size bits at `/dev/vcsm-cma`
//!   (a full sweep first, then random ones);
//! * MEM_ALLOC, MEM_IMPORT_DMABUF, CLEAN_INVALID2 (and its compat number) with garbage fields,
//!   sizes at every edge, names without NUL, source fds of every kind (closed, negative, huge,
//!   `/dev/null`, pipe ends, eventfd, the device itself, heap nodes, buffers of every heap,
//!   wrappers, wrappers of wrappers up to `--max-wrap-depth`, fds the chaos thread juggles),
//!   and now and then a whole chain of wrappers of one buffer, used and closed in some order;
//! * argument pointers that are NULL, unmapped, kernel addresses, misaligned, in a read-only
//!   page, or straddling into a PROT_NONE page;
//! * DMA_HEAP_IOCTL_ALLOC with garbage len/fd/fd_flags/heap_flags on every heap, and random
//!   ioctl numbers on the heap nodes;
//! * DMA_BUF_IOCTL_SYNC with garbage flags, DMA_BUF_SET_NAME with garbage, mmap with garbage
//!   offsets, lengths, prot and flags (shared and private), touches of the pages a mapping
//!   allows, munmap (whole and split).
//!
//! One more thread closes, dup2()s and reopens file descriptors under the workers: it dup2()s
//! its own files over the workers' buffer fds, and keeps a set of fds of its own that the
//! workers pass around while it closes and replaces them.
//!
//! Every outcome is checked against the errnos the code of that call can return (derived from
//! Documentation/abi.rst, the driver, and 6.12's drivers/dma-buf/dma-buf.c, dma-heap.c and
//! mm/mmap.c; see the `expect_*` functions). An errno outside the set, EINTR (no signal is
//! ever sent), or a success where none is possible fails the run with the call printed.
//! Resources stay bounded: at most 64 live fds and 24 MiB of buffers per worker.
//!
//! Test ids: `fuzz/<phase>` (the run), `fuzz/<phase>/fds` (no fd left behind), and with
//! `--expect-no-access` `fuzz/no-access/<node>`.

use std::collections::{BTreeMap, VecDeque};
use std::ffi::CString;
use std::os::fd::{AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Barrier, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use dmabuf::uapi::{DMA_BUF_IOCTL_SYNC, DMA_BUF_SET_NAME, DMA_HEAP_IOCTL_ALLOC};
use libc::{
    EACCES, EAGAIN, EBADF, EDQUOT, EEXIST, EFAULT, EINTR, EINVAL, EIO, EMFILE, ENODEV, ENOMEM, ENOTTY,
    EOPNOTSUPP, EOVERFLOW, EPERM, ETIMEDOUT,
};
use nix::fcntl::OFlag;
use nix::sys::eventfd::{EfdFlags, EventFd};
use rand::rngs::SmallRng;
use rand::{RngExt, SeedableRng};
use vcsm_tests::{emit, info, Reporter};
use vcsm_uapi::{
    ioc, ioc_dir, ioc_nr, ioc_size, IOC_READ, IOC_WRITE, VC_SM_CMA_IOCTL_MEM_ALLOC,
    VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2, VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF,
};

const DEV: &str = "/dev/vcsm-cma";
const HEAP_DIR: &str = "/dev/dma_heap";
/// The 32-bit compat spelling of CLEAN_INVALID2 (`_IOR('J', 0x5C, u32)`).
const CLEAN_INVALID2_COMPAT: u32 = 0x8004_4a5c;
/// `DMA_BUF_SET_NAME_A` (`_IOW('b', 1, u32)`); `DMA_BUF_SET_NAME` is the `_B` (u64) spelling.
const DMA_BUF_SET_NAME_A: u32 = 0x4004_6201;
/// `DMA_HEAP_VALID_FD_FLAGS`.
const HEAP_VALID_FD_FLAGS: u32 = (libc::O_CLOEXEC | libc::O_ACCMODE) as u32;
/// Live file descriptors a worker keeps at most (buffers and wrappers).
const POOL: usize = 64;
/// Bytes of buffers a worker keeps at most; a larger success is closed at once.
const HELD_BUDGET: u64 = 24 << 20;
/// Live mappings a worker keeps at most.
const MAPS: usize = 8;
/// Pages of a mapping that are touched one by one; larger mappings are touched at this many
/// pages spread over them.
const TOUCH_PAGES: usize = 32;
/// Slots of fds the chaos thread closes, replaces and reopens while workers use them.
const CHAOS_SLOTS: usize = 8;
const MAX_THREADS: usize = 32;
/// How long a gone import still counts against --max-imports-per-buffer.
const IMPORT_LINGER: Duration = Duration::from_secs(1);

#[derive(Parser, Debug)]
#[command(about = "Seeded ioctl fuzzer for /dev/vcsm-cma, dma-heaps and dma-bufs (@@VCSM lines)")]
struct Args {
    /// Seed of the run (default: from the clock). Printed first; pass it again to replay.
    #[arg(long)]
    seed: Option<u64>,

    /// Calls in total, over all workers.
    #[arg(long, default_value_t = 200_000)]
    calls: u64,

    /// Worker threads (plus one thread that closes, dup2()s and reopens fds under them).
    #[arg(long, default_value_t = 3)]
    threads: usize,

    /// Drop privileges to UID:GID with the supplementary groups G1,G2,... (none if omitted)
    /// before opening anything.
    #[arg(long, value_name = "UID:GID[:GROUPS]")]
    as_user: Option<String>,

    /// Only check that /dev/vcsm-cma and every /dev/dma_heap/* node refuse to open (EACCES),
    /// as they must for a user outside their group; then exit.
    #[arg(long)]
    expect_no_access: bool,

    /// Longest chain of wrappers of wrappers built by importing the driver's own dma-bufs.
    #[arg(long, default_value_t = 16)]
    max_wrap_depth: u32,

    /// Most imports of one buffer alive at once (0: no limit). Imports of fds the chaos
    /// thread may have replaced are left out when set (their buffer is unknown).
    #[arg(long, default_value_t = 0)]
    max_imports_per_buffer: u32,

    /// Name of the run in the test ids (`fuzz/<phase>`).
    #[arg(long, default_value = "ioctls")]
    phase: String,

    /// Leave out the thread that juggles fds under the workers (for a deterministic replay).
    #[arg(long)]
    no_chaos: bool,

    /// Run only worker K of a --threads run (its generator and share of the calls), to replay
    /// one thread's sequence (with --no-chaos, without any interleaving).
    #[arg(long, value_name = "K")]
    only_thread: Option<usize>,

    /// Print every call (slow; for replaying a finding).
    #[arg(long)]
    trace: bool,

    /// Most failing calls printed (all are counted).
    #[arg(long, default_value_t = 20)]
    max_reports: usize,
}

// ---- errno sets and expectations ----

/// A set of errno values (all below 128).
#[derive(Clone, Copy, Default, PartialEq, Eq, Debug)]
struct ErrSet(u128);

impl ErrSet {
    const fn of(errs: &[i32]) -> ErrSet {
        let mut m = 0u128;
        let mut i = 0;
        while i < errs.len() {
            m |= 1u128 << errs[i];
            i += 1;
        }
        ErrSet(m)
    }
    const fn with(self, e: i32) -> ErrSet {
        ErrSet(self.0 | 1u128 << e)
    }
    const fn union(self, o: ErrSet) -> ErrSet {
        ErrSet(self.0 | o.0)
    }
    fn has(self, e: i32) -> bool {
        (0..128).contains(&e) && (self.0 >> e) & 1 == 1
    }
    fn names(self) -> Vec<String> {
        (0..128).filter(|&e| self.has(e)).map(ename).collect()
    }
}

fn ename(e: i32) -> String {
    dmabuf::errno_name(e).unwrap_or_else(|| format!("errno{e}"))
}

/// What a call may do: succeed (`ok`) and/or fail with one of `errs`.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
struct Expect {
    ok: bool,
    errs: ErrSet,
}

impl Expect {
    const fn err(e: i32) -> Expect {
        Expect { ok: false, errs: ErrSet::of(&[e]) }
    }
    const fn set(errs: ErrSet) -> Expect {
        Expect { ok: false, errs }
    }
    const fn ok() -> Expect {
        Expect { ok: true, errs: ErrSet(0) }
    }
    const fn or_ok(self) -> Expect {
        Expect { ok: true, errs: self.errs }
    }
    const fn or(self, e: i32) -> Expect {
        Expect { ok: self.ok, errs: self.errs.with(e) }
    }
    fn allows(&self, r: &Result<i64, i32>) -> bool {
        match r {
            Ok(_) => self.ok,
            Err(e) => self.errs.has(*e),
        }
    }
    fn describe(&self) -> String {
        let mut v = Vec::new();
        if self.ok {
            v.push("success".to_owned());
        }
        v.extend(self.errs.names());
        v.join("|")
    }
}

/// What a connected driver may answer to a well-formed MEM_ALLOC or an import of a contiguous
/// dma-buf (Documentation/abi.rst): out of memory or refused by the VPU, the VPU's timeout, no
/// free fd, over the pin cap. EPERM and ENODEV (not connected, being removed) cannot happen in
/// a run against a connected driver, EINTR not without signals: all three are findings.
const VCSM_RUNTIME: ErrSet = ErrSet::of(&[ENOMEM, ETIMEDOUT, EMFILE, EDQUOT]);
/// An import of a buffer that may be scattered or outside the VPU's window (system heap, heaps
/// we do not know): also "more than one DMA segment" / "bounced" (EINVAL) and a failed DMA
/// mapping (EIO).
const IMPORT_LENIENT: ErrSet = VCSM_RUNTIME.with(EINVAL).with(EIO);
/// An import of an fd of unknown kind (the chaos thread may have replaced it).
const IMPORT_ANY: ErrSet = IMPORT_LENIENT.with(EBADF);
/// DMA_HEAP_IOCTL_ALLOC with valid arguments (dma-heap.c, the heaps' allocate, get_unused_fd).
const HEAP_RUNTIME: ErrSet = ErrSet::of(&[ENOMEM, EMFILE]);

/// What kind of file a number refers to, as far as the errno of a call is concerned.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    /// Not an open fd (closed, negative, huge).
    Closed,
    /// An open file that is not a dma-buf and has no ioctls or mmap we call
    /// (`/dev/null`, pipe ends, eventfd, `/dev/vcsm-cma`).
    NotDmaBuf,
    /// A `/dev/dma_heap/*` node (its ioctl treats every command number 0 as ALLOC).
    HeapNode,
    /// A dma-buf.
    DmaBuf,
    /// Any of the above except a heap node: an fd the chaos thread may have replaced.
    Unknown,
}

/// MEM_IMPORT_DMABUF: the argument is read first (EFAULT), then the source fd is looked up
/// (`dma_buf_get`: EBADF for no file, EINVAL for a file that is not a dma-buf), then imported.
/// The result is written back last; a pointer that cannot be written turns a success into
/// EFAULT (and the driver undoes the import).
fn expect_import(arg_readable: bool, arg_writable: bool, src: Target, strict: bool) -> Expect {
    if !arg_readable {
        return Expect::err(EFAULT);
    }
    let e = match src {
        Target::Closed => return Expect::err(EBADF),
        Target::NotDmaBuf | Target::HeapNode => return Expect::err(EINVAL),
        Target::DmaBuf if strict => Expect::set(VCSM_RUNTIME),
        Target::DmaBuf => Expect::set(IMPORT_LENIENT),
        Target::Unknown => Expect::set(IMPORT_ANY),
    };
    if arg_writable {
        e.or_ok()
    } else {
        e.or(EFAULT)
    }
}

/// MEM_ALLOC: read (EFAULT), size 0 is EINVAL, then the allocation and the VPU; sizes whose
/// page-rounded length does not fit the VPU's u32 are EINVAL if the allocation got that far.
fn expect_alloc(arg_readable: bool, arg_writable: bool, size: u32) -> Expect {
    if !arg_readable {
        return Expect::err(EFAULT);
    }
    if size == 0 {
        return Expect::err(EINVAL);
    }
    let mut e = Expect::set(VCSM_RUNTIME);
    if size > 0xffff_f000 {
        e = e.or(EINVAL);
    }
    if arg_writable {
        e.or_ok()
    } else {
        e.or(EFAULT)
    }
}

/// `struct dma_heap_allocation_data` as the kernel sees it.
#[derive(Clone, Copy, Default, Debug)]
struct HeapData {
    len: u64,
    fd: u32,
    fd_flags: u32,
    heap_flags: u64,
}

impl HeapData {
    fn bytes(&self) -> [u8; 24] {
        let mut b = [0u8; 24];
        b[0..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..12].copy_from_slice(&self.fd.to_le_bytes());
        b[12..16].copy_from_slice(&self.fd_flags.to_le_bytes());
        b[16..24].copy_from_slice(&self.heap_flags.to_le_bytes());
        b
    }
    fn from_prefix(user: &[u8], in_size: usize) -> HeapData {
        // dma_heap_ioctl copies in_size bytes and zeroes the rest of its buffer.
        let mut b = [0u8; 24];
        let n = in_size.min(24).min(user.len());
        b[..n].copy_from_slice(&user[..n]);
        HeapData {
            len: u64::from_le_bytes(b[0..8].try_into().unwrap_or_default()),
            fd: u32::from_le_bytes(b[8..12].try_into().unwrap_or_default()),
            fd_flags: u32::from_le_bytes(b[12..16].try_into().unwrap_or_default()),
            heap_flags: u64::from_le_bytes(b[16..24].try_into().unwrap_or_default()),
        }
    }
    /// `dma_heap_ioctl_allocate`'s checks: fd must be 0, only O_CLOEXEC and O_ACCMODE in
    /// fd_flags, no heap flags, and a length that is not 0 once page-aligned (with wrap-around).
    fn valid(&self, page: u64) -> bool {
        self.fd == 0
            && self.fd_flags & !HEAP_VALID_FD_FLAGS == 0
            && self.heap_flags == 0
            && self.len.wrapping_add(page - 1) & !(page - 1) != 0
    }
}

/// Any ioctl on a dma-heap node (dma-heap.c `dma_heap_ioctl`): only the command number is
/// looked at (number >= 1: EINVAL, whatever the type); for number 0 the size and direction bits
/// of the command decide how much is copied in (IOC_WRITE) and out (IOC_READ), a buffer larger
/// than 128 bytes is kmalloc'ed (ENOMEM), a failed copy-in is EFAULT, then ALLOC runs on what
/// was copied, and a failed copy-out is EFAULT (the fd is dropped).
fn expect_heap_ioctl(cmd: u32, user: &[u8], readable: usize, writable: usize, page: u64) -> Expect {
    if ioc_nr(cmd) != 0 {
        return Expect::err(EINVAL);
    }
    let size = ioc_size(cmd);
    let in_size = if ioc_dir(cmd) & IOC_WRITE != 0 { size } else { 0 };
    let out_size = if ioc_dir(cmd) & IOC_READ != 0 { size } else { 0 };
    let extra = if in_size.max(out_size) > 128 { ErrSet::of(&[ENOMEM]) } else { ErrSet(0) };
    if in_size > readable {
        return Expect::set(extra.with(EFAULT));
    }
    if !HeapData::from_prefix(user, in_size).valid(page) {
        return Expect::set(extra.with(EINVAL));
    }
    let e = Expect::set(extra.union(HEAP_RUNTIME));
    if out_size > writable {
        e.or(EFAULT)
    } else {
        e.or_ok()
    }
}

/// DMA_BUF_IOCTL_SYNC (dma-buf.c `dma_buf_ioctl`): EFAULT, EINVAL for flags outside
/// READ|WRITE|END or with neither READ nor WRITE, else the exporter's begin/end_cpu_access
/// (0 for every exporter here: system, cma, the vcsm heaps, the driver's wrappers).
fn expect_sync(target: Target, readable: usize, flags: u64) -> Expect {
    match target {
        Target::Closed => Expect::err(EBADF),
        // No ioctl, or one that knows no 'b' command: ENOTTY.
        Target::NotDmaBuf => Expect::err(ENOTTY),
        Target::HeapNode => {
            // SYNC is _IOW('b', 0, 8 bytes): number 0, so the heap runs ALLOC on `flags` as
            // the length with nothing copied out. The fuzzer only sends flags 0 here.
            if readable < 8 {
                Expect::err(EFAULT)
            } else {
                Expect::err(EINVAL)
            }
        }
        Target::DmaBuf => {
            if readable < 8 {
                Expect::err(EFAULT)
            } else if flags & !7 != 0 || flags & 3 == 0 {
                Expect::err(EINVAL)
            } else {
                Expect::ok()
            }
        }
        Target::Unknown => Expect::set(ErrSet::of(&[EBADF, EFAULT, EINVAL, ENOTTY])).or_ok(),
    }
}

/// DMA_BUF_SET_NAME: `strndup_user(arg, 32)`: EFAULT if the string cannot be read up to its
/// NUL, EINVAL without a NUL in the first 32 bytes, ENOMEM; 0 otherwise. `bytes` are the bytes
/// at the pointer (at least 33 are written), `readable` how many of them the kernel can read.
fn expect_set_name(target: Target, bytes: &[u8], readable: usize) -> Expect {
    match target {
        Target::Closed => Expect::err(EBADF),
        Target::NotDmaBuf => Expect::err(ENOTTY),
        // _IOW('b', 1, ..): number 1.
        Target::HeapNode => Expect::err(EINVAL),
        Target::DmaBuf => {
            let nul = bytes.iter().take(32).position(|&b| b == 0);
            let e = match nul {
                Some(i) if i < readable => Expect::ok(),
                Some(_) => Expect::err(EFAULT),
                None if readable >= 32 => Expect::err(EINVAL),
                None => Expect::err(EFAULT),
            };
            e.or(ENOMEM)
        }
        Target::Unknown => Expect::set(ErrSet::of(&[EBADF, EFAULT, EINVAL, ENOTTY, ENOMEM])).or_ok(),
    }
}

/// mmap of a file (arch sys_mmap, ksys_mmap_pgoff, do_mmap, mmap_region, dma_buf_mmap_internal
/// and the exporters' mmap). MAP_ANONYMOUS and MAP_FIXED are never passed.
fn expect_mmap(t: Target, size: Option<u64>, off: u64, len: u64, prot: i32, flags: i32, page: u64) -> Expect {
    if !off.is_multiple_of(page) {
        return Expect::err(EINVAL);
    }
    if t == Target::Closed {
        return Expect::err(EBADF);
    }
    let base = if t == Target::Unknown { ErrSet::of(&[EBADF]) } else { ErrSet(0) };
    if flags & libc::MAP_HUGETLB != 0 || len == 0 {
        return Expect::set(base.with(EINVAL));
    }
    let mut errs = base.union(ErrSet::of(&[EINVAL, ENOMEM, EACCES]));
    if u128::from(off) + u128::from(len) > (1u128 << 63) - (1u128 << 20) {
        errs = errs.with(EOVERFLOW);
    }
    if flags & libc::MAP_FIXED_NOREPLACE != 0 {
        errs = errs.with(EEXIST).with(EPERM);
    }
    if flags & libc::MAP_LOCKED != 0 {
        errs = errs.with(EPERM).with(EAGAIN);
    }
    if prot & libc::PROT_EXEC != 0 {
        errs = errs.with(EPERM);
    }
    let ty = flags & 0x0f;
    if ty == libc::MAP_SHARED_VALIDATE {
        errs = errs.with(EOPNOTSUPP);
    }
    if t != Target::DmaBuf {
        errs = errs.with(ENODEV);
    }
    let mut ok = matches!(t, Target::DmaBuf | Target::Unknown)
        && matches!(ty, libc::MAP_SHARED | libc::MAP_PRIVATE | libc::MAP_SHARED_VALIDATE);
    if let (Target::DmaBuf, Some(size)) = (t, size) {
        // dma_buf_mmap_internal: the pages must lie inside the buffer.
        let pages = len.div_ceil(page);
        if (off / page).saturating_add(pages) > size / page {
            ok = false;
        }
    }
    Expect { ok, errs }
}

// ---- raw calls ----

use vcsm_tests::hostile::{self, errno, FdQuery};

fn sys_ioctl(fd: RawFd, cmd: u32, arg: usize) -> Result<i64, i32> {
    // SAFETY: every argument the fuzzer builds (`Arena::place`) is a pointer into this
    // thread's arena, memory only ever reached through volatile `peek`/`poke` (its pages after
    // the struct are ours or PROT_NONE), or a deliberately bad address (NULL, kernel space,
    // the arena's guard page) that maps nothing of this process.
    unsafe { hostile::ioctl(fd, cmd, arg) }
}

fn sys_close(fd: RawFd) -> Result<i64, i32> {
    // A descriptor of this thread's model; no Rust object owns it.
    nix::unistd::close(fd).map(|()| 0).map_err(|e| e as i32)
}

fn sys_open(path: &str, flags: i32) -> Result<RawFd, i32> {
    let c = CString::new(path).map_err(|_| EINVAL)?;
    new_fd(nix::fcntl::open(c.as_c_str(), OFlag::from_bits_retain(flags), nix::sys::stat::Mode::empty()))
}

/// A new eventfd (counter 0, close-on-exec).
fn eventfd() -> nix::Result<OwnedFd> {
    EventFd::from_value_and_flags(0, EfdFlags::EFD_CLOEXEC).map(OwnedFd::from)
}

/// A new descriptor handed to the raw-number model of this fuzzer (which closes it itself).
fn new_fd(r: nix::Result<OwnedFd>) -> Result<RawFd, i32> {
    r.map(IntoRawFd::into_raw_fd).map_err(|e| e as i32)
}

fn sys_dup2(src: RawFd, dst: RawFd) -> Result<i64, i32> {
    // SAFETY: `dst` is a number of the fuzzer's fd model, which no Rust value owns (the model
    // never hands its numbers to one).
    unsafe { hostile::dup3(src, dst) }
}

fn sys_dup(src: RawFd) -> Result<RawFd, i32> {
    hostile::fd_query(FdQuery::DupCloexec(src)).map(|fd| fd as RawFd)
}

fn sys_fcntl_getfd(fd: RawFd) -> Result<i64, i32> {
    hostile::fd_query(FdQuery::GetFd(fd))
}

fn sys_fcntl_getfl(fd: RawFd) -> Result<i64, i32> {
    hostile::fd_query(FdQuery::GetFl(fd))
}

fn sys_size(fd: RawFd) -> Result<i64, i32> {
    hostile::fd_query(FdQuery::SeekEnd(fd))
}

/// The last address-space changes (mmap successes and munmaps: kind, address, length, result),
/// for the fatal-signal handler: which of them covered a faulting address.
const RING: usize = 512;
static RING_EVENTS: [[AtomicU64; 3]; RING] = [const { [const { AtomicU64::new(0) }; 3] }; RING];
static RING_NEXT: AtomicU64 = AtomicU64::new(0);

fn ring(kind: u64, addr: usize, len: usize, ok: bool) {
    let i = (RING_NEXT.fetch_add(1, SeqCst) % RING as u64) as usize;
    RING_EVENTS[i][0].store(kind << 1 | u64::from(ok), SeqCst);
    RING_EVENTS[i][1].store(addr as u64, SeqCst);
    RING_EVENTS[i][2].store(len as u64, SeqCst);
}

fn sys_mmap(hint: usize, len: u64, prot: i32, flags: i32, fd: RawFd, off: u64) -> Result<i64, i32> {
    // MAP_FIXED is never passed (masked by the caller, refused by `hostile::mmap`); a new
    // mapping is only used through volatile accesses and unmapped by us.
    let p = hostile::mmap(hint, len as usize, prot, flags, fd, off)?;
    ring(1, p, len as usize, true);
    Ok(p as i64)
}

fn sys_munmap(addr: usize, len: usize) -> Result<i64, i32> {
    // SAFETY: only ranges of mappings this thread made itself through `sys_mmap`, reached only
    // by volatile accesses (or misaligned / empty ranges, which the kernel refuses without
    // unmapping anything).
    let r = unsafe { hostile::munmap(addr, len) };
    ring(2, addr, len, r.is_ok());
    r.map(|()| 0)
}

fn page_align(v: u64, page: u64) -> Option<u64> {
    v.checked_add(page - 1).map(|x| x & !(page - 1))
}

// ---- what we know about file descriptors ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum HeapKind {
    /// Physically contiguous, inside the VPU's window: vcsm-uncached, vcsm-cached, linux,cma.
    Contig,
    /// The system heap (scattered pages; see `Worker::tame_len`).
    System,
    /// A heap we know nothing about.
    Other,
}

#[derive(Clone, Debug)]
struct HeapInfo {
    name: String,
    kind: HeapKind,
}

static HEAP_NAMES: OnceLock<Vec<String>> = OnceLock::new();

fn heap_name(i: usize) -> &'static str {
    HEAP_NAMES.get().and_then(|v| v.get(i)).map(String::as_str).unwrap_or("?")
}

/// Where an fd came from (for the report) and what follows for the expectations.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Label {
    Closed,
    Negative,
    Huge,
    Null,
    PipeRead,
    PipeWrite,
    EventFd,
    Vcsm,
    HeapNode(usize),
    Buf(usize),
    /// A wrapper from MEM_IMPORT_DMABUF.
    Import,
    /// A wrapper from MEM_ALLOC.
    Alloc,
    /// Was a worker's buffer; the chaos thread dup2()ed one of its own files over it.
    Tainted,
    /// A slot of the chaos thread (closed and replaced under us).
    Chaos,
}

impl Label {
    /// A small number for the fatal-signal handler (see LABEL_CODES).
    fn code(self) -> u64 {
        match self {
            Label::Closed => 0,
            Label::Negative => 1,
            Label::Huge => 2,
            Label::Null => 3,
            Label::PipeRead => 4,
            Label::PipeWrite => 5,
            Label::EventFd => 6,
            Label::Vcsm => 7,
            Label::HeapNode(_) => 8,
            Label::Buf(h) => 100 + h as u64,
            Label::Import => 9,
            Label::Alloc => 10,
            Label::Tainted => 11,
            Label::Chaos => 12,
        }
    }

    fn target(self) -> Target {
        match self {
            Label::Closed | Label::Negative | Label::Huge => Target::Closed,
            Label::Null | Label::PipeRead | Label::PipeWrite | Label::EventFd | Label::Vcsm => {
                Target::NotDmaBuf
            }
            Label::HeapNode(_) => Target::HeapNode,
            Label::Buf(_) | Label::Import | Label::Alloc => Target::DmaBuf,
            Label::Tainted | Label::Chaos => Target::Unknown,
        }
    }
    fn name(self) -> String {
        match self {
            Label::Closed => "closed".into(),
            Label::Negative => "negative".into(),
            Label::Huge => "huge".into(),
            Label::Null => "/dev/null".into(),
            Label::PipeRead => "pipe-read".into(),
            Label::PipeWrite => "pipe-write".into(),
            Label::EventFd => "eventfd".into(),
            Label::Vcsm => "/dev/vcsm-cma".into(),
            Label::HeapNode(h) => format!("heap-node:{}", heap_name(h)),
            Label::Buf(h) => format!("buf:{}", heap_name(h)),
            Label::Import => "import-wrapper".into(),
            Label::Alloc => "alloc-wrapper".into(),
            Label::Tainted => "tainted".into(),
            Label::Chaos => "chaos-slot".into(),
        }
    }
}

/// A buffer fd a worker holds.
#[derive(Clone, Debug)]
struct Res {
    fd: RawFd,
    label: Label,
    size: u64,
    /// 0 for heap buffers, 1 for MEM_ALLOC wrappers and imports of heap buffers, n+1 for an
    /// import of a depth-n wrapper.
    depth: u32,
    /// Imports of it must succeed or fail with a runtime errno only (contiguous source).
    strict: bool,
    /// Bytes of memory it holds (heap buffers and MEM_ALLOC only).
    held: u64,
    /// The heap buffer at the root of a wrapper chain (for the report).
    root: Option<usize>,
    /// The inode of the dma-buf at the root of the chain (0: unknown).
    root_ino: u64,
    /// This wrapper's import token (0: not counted; see `Imports`).
    token: u64,
}

/// A worker's buffer slots as the chaos thread sees them: the fd number under a lock (held
/// while the worker closes or fills the slot, and while chaos dup2()s over it), and a flag the
/// chaos thread sets before it replaces the file.
struct SharedPool {
    fds: Vec<Mutex<RawFd>>,
    taint: Vec<AtomicBool>,
}

impl SharedPool {
    fn new() -> SharedPool {
        SharedPool {
            fds: (0..POOL).map(|_| Mutex::new(-1)).collect(),
            taint: (0..POOL).map(|_| AtomicBool::new(false)).collect(),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State shared by all threads of a run.
struct Shared {
    pools: Vec<Arc<SharedPool>>,
    chaos: Vec<AtomicI32>,
    stop: AtomicBool,
}

struct Config {
    seed: u64,
    threads: usize,
    calls: u64,
    max_depth: u32,
    max_imports: u32,
    heaps: Vec<HeapInfo>,
    page: usize,
    nofile: i32,
    trace: bool,
    chaos: bool,
    only: Option<usize>,
}

// ---- statistics ----

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
enum Op {
    SweepJ,
    RandomJ,
    MemAlloc,
    MemImport,
    CleanInvalid2,
    HeapAlloc,
    HeapRandom,
    Sync,
    SetName,
    Mmap,
    Touch,
    Munmap,
    Close,
    Open,
    Query,
    Chaos,
    Chain,
}

const OP_COUNT: usize = 17;
const OP_NAMES: [&str; OP_COUNT] = [
    "J-sweep",
    "J-random",
    "MEM_ALLOC",
    "MEM_IMPORT_DMABUF",
    "CLEAN_INVALID2",
    "DMA_HEAP_IOCTL_ALLOC",
    "heap-random-ioctl",
    "DMA_BUF_IOCTL_SYNC",
    "DMA_BUF_SET_NAME",
    "mmap",
    "touch",
    "munmap",
    "close",
    "open",
    "fcntl/lseek",
    "chaos",
    "wrapper-chain",
];

impl Op {
    fn name(self) -> &'static str {
        OP_NAMES[self as usize]
    }
}

#[derive(Clone, Default, Debug)]
struct OpStat {
    calls: u64,
    ok: u64,
    errs: BTreeMap<i32, u64>,
    /// Times the op was chosen, and the time spent in it (with its follow-up calls).
    picked: u64,
    nanos: u64,
}

#[derive(Clone, Default, Debug)]
struct Stats {
    ops: Vec<OpStat>,
    successes: BTreeMap<String, u64>,
    calls: u64,
    bad: u64,
    failures: Vec<String>,
}

impl Stats {
    fn new() -> Stats {
        Stats { ops: vec![OpStat::default(); OP_COUNT], ..Stats::default() }
    }
    fn merge(&mut self, o: &Stats) {
        for (a, b) in self.ops.iter_mut().zip(&o.ops) {
            a.calls += b.calls;
            a.ok += b.ok;
            a.picked += b.picked;
            a.nanos += b.nanos;
            for (e, n) in &b.errs {
                *a.errs.entry(*e).or_default() += n;
            }
        }
        for (k, n) in &o.successes {
            *self.successes.entry(k.clone()).or_default() += n;
        }
        self.calls += o.calls;
        self.bad += o.bad;
        self.failures.extend(o.failures.iter().cloned());
    }
}

/// The op each thread is in, for the fatal-signal handler.
static CURRENT: [AtomicU32; MAX_THREADS + 1] = [const { AtomicU32::new(u32::MAX) }; MAX_THREADS + 1];
static CURRENT_CALL: [AtomicU64; MAX_THREADS + 1] = [const { AtomicU64::new(0) }; MAX_THREADS + 1];
static SEED: AtomicU64 = AtomicU64::new(0);
static TEST_ID: OnceLock<String> = OnceLock::new();
/// The mapping each thread touches last (address, length, prot, flags, offset, label code),
/// for the fatal-signal handler.
static LAST_MAP: [[AtomicU64; 6]; MAX_THREADS + 1] =
    [const { [const { AtomicU64::new(0) }; 6] }; MAX_THREADS + 1];

// ---- the argument arena ----

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum PtrClass {
    Good,
    Misaligned,
    ReadOnly,
    Straddle,
    Null,
    Low,
    High,
    Kernel,
    Guard,
}

/// An argument placed for the kernel: its address and how many bytes from it the kernel can
/// read and write.
#[derive(Clone, Copy, Debug)]
struct Arg {
    addr: usize,
    class: PtrClass,
    readable: usize,
    writable: usize,
    /// Where the bytes can be read back by us (the RW view for read-only arguments).
    back: usize,
}

impl Arg {
    fn can_read(&self, n: usize) -> bool {
        n <= self.readable
    }
    fn can_write(&self, n: usize) -> bool {
        n <= self.writable
    }
    fn describe(&self, len: usize) -> String {
        format!("{:?}@{:#x}+{}", self.class, self.addr, len)
    }
}

/// Four pages: [RW scratch][PROT_NONE][read-only view of a memfd page][PROT_NONE], and a
/// writable view of the memfd page elsewhere. Arguments are placed in the scratch page (good,
/// misaligned), the read-only page (the kernel can read but not write back), or at the end of
/// the scratch page so that they run into the PROT_NONE page.
struct Arena {
    base: usize,
    rw_view: usize,
    page: usize,
}

impl Arena {
    fn new(page: usize) -> Result<Arena, String> {
        // Four pages of a memfd, mapped shared in one piece (the kernel picks the address) and
        // then given their protections: page 2 is the read-only view, and the writable view
        // maps the same memfd page elsewhere.
        let memfd = nix::sys::memfd::memfd_create(c"vcsm-fuzz-arg", nix::sys::memfd::MFdFlags::MFD_CLOEXEC)
            .map_err(|e| format!("memfd_create: {}", ename(e as i32)))?;
        nix::unistd::ftruncate(&memfd, 4 * page as libc::off_t)
            .map_err(|e| format!("ftruncate: {}", ename(e as i32)))?;
        let mfd = memfd.as_raw_fd();
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        let base = hostile::mmap(0, 4 * page, rw, libc::MAP_SHARED, mfd, 0)
            .map_err(|e| format!("arena mmap: {}", ename(e)))?;
        // Unmaps the arena on the error paths (and is completed on success).
        let mut arena = Arena { base, rw_view: 0, page };
        for (i, prot) in [(1, libc::PROT_NONE), (2, libc::PROT_READ), (3, libc::PROT_NONE)] {
            // SAFETY: our own arena's pages, which nothing references yet.
            unsafe { hostile::mprotect(base + i * page, page, prot) }
                .map_err(|e| format!("arena mprotect page {i}: {}", ename(e)))?;
        }
        arena.rw_view = hostile::mmap(0, page, rw, libc::MAP_SHARED, mfd, 2 * page as u64)
            .map_err(|e| format!("writable view: {}", ename(e)))?;
        Ok(arena)
    }

    fn scratch(&self) -> usize {
        self.base
    }
    fn guard(&self) -> usize {
        self.base + self.page
    }
    fn ro(&self) -> usize {
        self.base + 2 * self.page
    }

    /// Copies `bytes` to `dst` (inside one of our writable pages), at most `room` of them.
    fn write(dst: usize, bytes: &[u8], room: usize) {
        // SAFETY: `dst..dst+room` lies inside the scratch page or the writable memfd view
        // (callers compute `room` from the page end), which no Rust reference points into.
        unsafe { hostile::poke(dst, &bytes[..bytes.len().min(room)]) };
    }

    /// Places `bytes` as an argument of pointer class `class`.
    fn place(&self, rng: &mut SmallRng, class: PtrClass, bytes: &[u8]) -> Arg {
        let p = self.page;
        let n = bytes.len().clamp(1, p - 8);
        let bad = |addr: usize| Arg { addr, class, readable: 0, writable: 0, back: 0 };
        match class {
            PtrClass::Good | PtrClass::Misaligned => {
                let mut off = rng.random_range(0..=(p - n)) & !7;
                if class == PtrClass::Misaligned {
                    off = (off | rng.random_range(1..8usize)).min(p - n);
                    if off % 8 == 0 {
                        off = off.saturating_sub(1).max(1);
                    }
                }
                let addr = self.scratch() + off;
                Self::write(addr, bytes, p - off);
                Arg { addr, class, readable: p - off, writable: p - off, back: addr }
            }
            PtrClass::ReadOnly => {
                let off = rng.random_range(0..=(p - n)) & !3;
                Self::write(self.rw_view + off, bytes, p - off);
                Arg { addr: self.ro() + off, class, readable: p - off, writable: 0, back: self.rw_view + off }
            }
            PtrClass::Straddle => {
                let k = if bytes.len() > 1 { rng.random_range(1..bytes.len().min(p)) } else { 1 };
                let addr = self.guard() - k;
                Self::write(addr, bytes, k);
                Arg { addr, class, readable: k, writable: k, back: addr }
            }
            PtrClass::Null => bad(0),
            PtrClass::Low => bad(rng.random_range(1..0x8000usize)),
            PtrClass::High => {
                const HIGH: [usize; 6] = [
                    1 << 52,
                    (1 << 52) + 0x1234_5000,
                    1 << 55,
                    0x00ff_ffff_ffff_f000,
                    1 << 60,
                    0x7fff_ffff_ffff_f000,
                ];
                bad(HIGH[rng.random_range(0..HIGH.len())])
            }
            PtrClass::Kernel => {
                const KERNEL: [usize; 6] = [
                    0xffff_0000_0000_0000,
                    0xffff_8000_0000_0000,
                    0xffff_ffc0_0800_0000,
                    0xffff_8000_1000_0001,
                    0xffff_ffff_ffff_f000,
                    0xffff_ffff_ffff_fff8,
                ];
                bad(KERNEL[rng.random_range(0..KERNEL.len())])
            }
            PtrClass::Guard => bad(self.guard() + rng.random_range(0..p - 64)),
        }
    }

    /// Only called for arguments we placed (`back` points into our pages) at offsets inside
    /// the structure, which fits in the page by construction.
    fn read_u32(arg: &Arg, off: usize) -> u32 {
        u32::from_ne_bytes(Self::read(arg, off))
    }
    fn read_u64(arg: &Arg, off: usize) -> u64 {
        u64::from_ne_bytes(Self::read(arg, off))
    }
    fn read<const N: usize>(arg: &Arg, off: usize) -> [u8; N] {
        let mut b = [0; N];
        // SAFETY: `back + off..+N` is inside the structure we placed in our readable pages.
        unsafe { hostile::peek(arg.back + off, &mut b) };
        b
    }
}

impl Drop for Arena {
    fn drop(&mut self) {
        let _ = sys_munmap(self.base, 4 * self.page);
        if self.rw_view != 0 {
            let _ = sys_munmap(self.rw_view, self.page);
        }
    }
}

// ---- random choices ----

const EDGE_U32: [u32; 16] = [
    0,
    1,
    4095,
    4096,
    4097,
    8192,
    12288,
    16384,
    65536,
    1 << 20,
    64 << 20,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0xffff_f000,
    0xffff_f001,
];

const EDGE_U64: [u64; 9] = [
    1 << 32,
    (1 << 32) + 4096,
    1 << 40,
    1 << 63,
    u64::MAX,
    u64::MAX - 4095,
    u64::MAX - 4096,
    0x1_0000_1000,
    0x7fff_ffff_ffff_ffff,
];

fn weighted<T: Copy>(rng: &mut SmallRng, table: &[(u32, T)]) -> T {
    let total: u32 = table.iter().map(|(w, _)| w).sum();
    let mut x = rng.random_range(0..total);
    for &(w, v) in table {
        if x < w {
            return v;
        }
        x -= w;
    }
    table[table.len() - 1].1
}

/// A size for a real allocation: mostly a few pages, sometimes up to 1 MiB, sometimes an edge.
fn pick_size(rng: &mut SmallRng, page: u64) -> u64 {
    match rng.random_range(0..100) {
        0..70 => rng.random_range(1..=4u64) * page,
        70..80 => rng.random_range(1..=4u64) * page + if rng.random_bool(0.5) { 1 } else { page - 1 },
        80..88 => rng.random_range(8..=64u64) * page,
        88..98 => u64::from(EDGE_U32[rng.random_range(0..EDGE_U32.len())]),
        _ => EDGE_U64[rng.random_range(0..EDGE_U64.len())],
    }
}

fn pick_class(rng: &mut SmallRng) -> PtrClass {
    weighted(
        rng,
        &[
            (62, PtrClass::Good),
            (7, PtrClass::Misaligned),
            (8, PtrClass::ReadOnly),
            (8, PtrClass::Straddle),
            (4, PtrClass::Null),
            (3, PtrClass::Low),
            (3, PtrClass::High),
            (3, PtrClass::Kernel),
            (2, PtrClass::Guard),
        ],
    )
}

/// 32 name bytes: empty, a normal name, a full 32 bytes without NUL, or random bytes.
fn pick_name(rng: &mut SmallRng) -> [u8; 32] {
    let mut n = [0u8; 32];
    match rng.random_range(0..4) {
        0 => {}
        1 => n[..9].copy_from_slice(b"fuzz-name"),
        2 => n.fill(b'A' + rng.random_range(0..26u8)),
        _ => rng.fill(&mut n[..]),
    }
    n
}

/// Commands the VFS answers itself before the driver's ioctl (fs/ioctl.c do_vfs_ioctl); random
/// commands on the heap nodes avoid them.
const VFS_IOCTLS: [u32; 19] = [
    0x5451,
    0x5450,
    0x5421,
    0x5452,
    0x5460,
    0xc004_5877,
    0xc004_5878,
    0xc020_660b,
    0x2,
    0x4004_9409,
    0x4020_940d,
    0xc018_9436,
    0x541b,
    0x8008_6601,
    0x4008_6602,
    0x801c_581f,
    0x401c_5820,
    0x8011_1500,
    0x8081_1501,
];

// ---- a worker ----

struct Fd {
    fd: RawFd,
    label: Label,
    size: Option<u64>,
    depth: u32,
    strict: bool,
    pool: Option<usize>,
    root: Option<usize>,
    root_ino: u64,
    /// The import token of the fd (0 if it is not a counted import).
    token: u64,
}

/// With --max-imports-per-buffer: the driver's live mappings per root buffer (by inode), and
/// each import's references (its own fd, and the imports of it).
#[derive(Default)]
struct Imports {
    roots: BTreeMap<u64, u32>,
    tokens: BTreeMap<u64, ImportToken>,
    next: u64,
    lingering: VecDeque<(Instant, u64)>,
}

struct ImportToken {
    refs: u32,
    root: u64,
    parent: u64,
}

impl Imports {
    /// Live mappings of buffer `ino` by the driver (imports of it and of its wrappers).
    fn count(&self, ino: u64) -> u32 {
        self.roots.get(&ino).copied().unwrap_or(0)
    }

    /// Counts an import of the buffer `ino` that is about to be made, from a source whose own
    /// import is `parent` (0: the source is not an import); returns the new import's token.
    fn reserve(&mut self, ino: u64, parent: u64) -> u64 {
        if ino == 0 {
            return 0;
        }
        *self.roots.entry(ino).or_default() += 1;
        self.next += 1;
        let token = self.next;
        self.tokens.insert(token, ImportToken { refs: 1, root: ino, parent });
        if let Some(p) = self.tokens.get_mut(&parent) {
            p.refs += 1;
        }
        token
    }

    /// The fd of import `token` has gone (closed, replaced, or never installed). The import
    /// lives on while a wrapper of it does; once nothing refers to it, its mapping still counts
    /// until `until` (the driver keeps it until the VPU's RELEASED), and its source loses a
    /// reference.
    fn drop_token(&mut self, mut token: u64, until: Instant) {
        while token != 0 {
            let Some(t) = self.tokens.get_mut(&token) else { return };
            t.refs -= 1;
            if t.refs > 0 {
                return;
            }
            let Some(t) = self.tokens.remove(&token) else { return };
            self.lingering.push_back((until, t.root));
            token = t.parent;
        }
    }

    /// Forgets the mappings whose time is up at `now` (all of them with None).
    fn reap(&mut self, now: Option<Instant>) {
        while let Some(&(t, ino)) = self.lingering.front() {
            if now.is_some_and(|now| t > now) {
                break;
            }
            self.lingering.pop_front();
            if let Some(n) = self.roots.get_mut(&ino) {
                *n -= 1;
                if *n == 0 {
                    self.roots.remove(&ino);
                }
            }
        }
    }
}

struct Worker<'a> {
    id: usize,
    rng: SmallRng,
    cfg: &'a Config,
    shared: &'a Shared,
    mine: Arc<SharedPool>,
    arena: Arena,
    vcsm: RawFd,
    statics: Vec<(RawFd, Label)>,
    heaps: Vec<RawFd>,
    pool: Vec<Option<Res>>,
    maps: Vec<(usize, usize)>,
    held: u64,
    closed_fd: RawFd,
    budget: u64,
    imports: Imports,
    seq: u64,
    stats: Stats,
}

fn thread_seed(seed: u64, index: usize) -> u64 {
    // splitmix64 of seed and index: distinct, well-mixed streams per thread.
    let mut z = seed ^ (index as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl<'a> Worker<'a> {
    fn new(id: usize, cfg: &'a Config, shared: &'a Shared, budget: u64) -> Result<Worker<'a>, String> {
        let arena = Arena::new(cfg.page)?;
        let vcsm =
            sys_open(DEV, libc::O_RDWR | libc::O_CLOEXEC).map_err(|e| format!("open {DEV}: {}", ename(e)))?;
        let mut heaps = Vec::new();
        for h in &cfg.heaps {
            let path = format!("{HEAP_DIR}/{}", h.name);
            heaps.push(
                sys_open(&path, libc::O_RDONLY | libc::O_CLOEXEC)
                    .map_err(|e| format!("open {path}: {}", ename(e)))?,
            );
        }
        let null = sys_open("/dev/null", libc::O_RDWR | libc::O_CLOEXEC)
            .map_err(|e| format!("open /dev/null: {}", ename(e)))?;
        let (rx, tx) =
            nix::unistd::pipe2(OFlag::O_CLOEXEC).map_err(|e| format!("pipe2: {}", ename(e as i32)))?;
        let p = [rx.into_raw_fd(), tx.into_raw_fd()];
        let efd = new_fd(eventfd()).map_err(|e| format!("eventfd: {}", ename(e)))?;
        // A number far above any we hold: opened once (so the fd table covers it), then closed.
        let closed_fd = (cfg.nofile - 1 - id as i32).max(POOL as i32 * 8);
        let _ = sys_dup2(null, closed_fd);
        let _ = sys_close(closed_fd);
        Ok(Worker {
            id,
            rng: SmallRng::seed_from_u64(thread_seed(cfg.seed, id)),
            cfg,
            shared,
            mine: shared.pools[id].clone(),
            arena,
            vcsm,
            statics: vec![
                (null, Label::Null),
                (p[0], Label::PipeRead),
                (p[1], Label::PipeWrite),
                (efd, Label::EventFd),
            ],
            heaps,
            pool: vec![None; POOL],
            maps: Vec::new(),
            held: 0,
            closed_fd,
            budget,
            imports: Imports::default(),
            seq: 0,
            stats: Stats::new(),
        })
    }

    fn page(&self) -> u64 {
        self.cfg.page as u64
    }

    /// Counts and checks one call. `desc` is only evaluated for a report (or with --trace).
    fn check(
        &mut self,
        op: Op,
        r: Result<i64, i32>,
        exp: Expect,
        desc: impl FnOnce() -> String,
    ) -> Option<i64> {
        self.seq += 1;
        self.stats.calls += 1;
        let st = &mut self.stats.ops[op as usize];
        st.calls += 1;
        match r {
            Ok(_) => st.ok += 1,
            Err(e) => *st.errs.entry(e).or_default() += 1,
        }
        let fine = exp.allows(&r) && r != Err(EINTR);
        if !fine || self.cfg.trace {
            let got = match r {
                Ok(v) => format!("ok ({v:#x})"),
                Err(e) => ename(e),
            };
            let line = format!(
                "t{} call {}: {} {}: got {}, expected {}",
                self.id,
                self.seq,
                op.name(),
                desc(),
                got,
                exp.describe()
            );
            if self.cfg.trace {
                emit(&format!("vcsm-fuzz: {line}"));
            }
            if !fine {
                self.stats.bad += 1;
                if self.stats.failures.len() < 64 {
                    self.stats.failures.push(line);
                }
            }
        }
        r.ok()
    }

    /// Records a failed consistency check of a successful call.
    fn wrong(&mut self, what: String) {
        self.stats.bad += 1;
        if self.stats.failures.len() < 64 {
            self.stats.failures.push(format!("t{} call {}: {what}", self.id, self.seq));
        }
    }

    fn success(&mut self, kind: String) {
        *self.stats.successes.entry(kind).or_default() += 1;
    }

    fn enter(&self, op: Op) {
        CURRENT[self.id].store(op as u32, SeqCst);
        CURRENT_CALL[self.id].store(self.seq, SeqCst);
    }

    // ---- the pool ----

    /// Whether the chaos thread has replaced the file in slot `i` (and if so, forget its kind).
    fn tainted(&mut self, i: usize) -> bool {
        if self.mine.taint[i].load(SeqCst) {
            if let Some(r) = self.pool[i].as_mut() {
                if r.label != Label::Tainted {
                    r.label = Label::Tainted;
                    self.held -= r.held;
                    r.held = 0;
                    r.strict = false;
                    r.depth = self.cfg.max_depth;
                    r.root_ino = 0;
                    let token = std::mem::take(&mut r.token);
                    self.drop_token(token);
                }
            }
            true
        } else {
            false
        }
    }

    fn imports_of(&self, ino: u64) -> u32 {
        self.imports.count(ino)
    }

    fn reserve_import(&mut self, ino: u64, parent: u64) -> u64 {
        if self.cfg.max_imports == 0 {
            0
        } else {
            self.imports.reserve(ino, parent)
        }
    }

    fn drop_token(&mut self, token: u64) {
        self.imports.drop_token(token, Instant::now() + IMPORT_LINGER);
    }

    fn reap_imports(&mut self, all: bool) {
        self.imports.reap(if all { None } else { Some(Instant::now()) });
    }

    /// Puts a new fd into a free slot (closing a random one if none is free); returns its
    /// slot, or None if the held-bytes budget closed it at once.
    fn insert(&mut self, res: Res) -> Option<usize> {
        let fd = res.fd;
        let i = match self.pool.iter().position(Option::is_none) {
            Some(i) => i,
            None => {
                let victim = self.rng.random_range(0..POOL);
                self.close_slot(victim);
                victim
            }
        };
        {
            let mut g = lock(&self.mine.fds[i]);
            self.mine.taint[i].store(false, SeqCst);
            *g = res.fd;
        }
        self.held += res.held;
        self.pool[i] = Some(res);
        while self.held > HELD_BUDGET {
            let Some(j) = self.pool.iter().position(|r| r.as_ref().is_some_and(|r| r.held > 0)) else {
                break;
            };
            self.close_slot(j);
        }
        self.pool[i].as_ref().is_some_and(|r| r.fd == fd).then_some(i)
    }

    fn close_slot(&mut self, i: usize) {
        let Some(res) = self.pool[i].take() else { return };
        self.held -= res.held;
        self.drop_token(res.token);
        self.enter(Op::Close);
        let r = {
            let mut g = lock(&self.mine.fds[i]);
            let r = sys_close(res.fd);
            *g = -1;
            r
        };
        self.check(Op::Close, r, Expect::ok(), || format!("close fd {} ({})", res.fd, res.label.name()));
    }

    fn pool_indices(&self) -> Vec<usize> {
        (0..POOL).filter(|&i| self.pool[i].is_some()).collect()
    }

    /// An fd of some kind, for `purpose`: import sources avoid wrappers at the depth limit.
    fn pick_fd(&mut self, import: bool, heap_nodes: bool) -> Fd {
        let in_pool: Vec<usize> = self
            .pool_indices()
            .into_iter()
            .filter(|&i| !import || self.pool[i].as_ref().is_some_and(|r| r.depth < self.cfg.max_depth))
            .filter(|&i| {
                !import
                    || self.cfg.max_imports == 0
                    || self.pool[i].as_ref().is_some_and(|r| {
                        r.root_ino != 0 && self.imports_of(r.root_ino) < self.cfg.max_imports
                    })
            })
            .collect();
        let chaos = self.cfg.chaos && !(import && self.cfg.max_imports > 0);
        let kind = weighted(
            &mut self.rng,
            &[
                (
                    if in_pool.is_empty() {
                        0
                    } else if import {
                        20
                    } else {
                        50
                    },
                    0u8,
                ),
                (10, 1),
                (20, 2),
                (if heap_nodes { 5 } else { 0 }, 3),
                (if chaos { 10 } else { 0 }, 4),
                (5, 5),
            ],
        );
        let plain = |fd, label: Label| Fd {
            fd,
            label,
            size: None,
            depth: 0,
            strict: false,
            pool: None,
            root: None,
            root_ino: 0,
            token: 0,
        };
        match kind {
            0 => {
                let i = in_pool[self.rng.random_range(0..in_pool.len())];
                let r = self.pool[i].as_ref().cloned().unwrap_or_else(|| unreachable!());
                Fd {
                    fd: r.fd,
                    label: r.label,
                    size: Some(r.size),
                    depth: r.depth,
                    strict: r.strict,
                    pool: Some(i),
                    root: r.root,
                    root_ino: r.root_ino,
                    token: r.token,
                }
            }
            1 => {
                let (fd, l) = [
                    (self.closed_fd, Label::Closed),
                    (-1, Label::Negative),
                    (i32::MIN, Label::Negative),
                    (-100, Label::Negative),
                    (i32::MAX, Label::Huge),
                    (self.cfg.nofile, Label::Huge),
                    (1 << 20, Label::Huge),
                ][self.rng.random_range(0..7)];
                plain(fd, l)
            }
            2 => {
                let n = self.statics.len() + 1;
                let i = self.rng.random_range(0..n);
                if i == self.statics.len() {
                    plain(self.vcsm, Label::Vcsm)
                } else {
                    let (fd, l) = self.statics[i];
                    plain(fd, l)
                }
            }
            3 if !self.heaps.is_empty() => {
                let h = self.rng.random_range(0..self.heaps.len());
                plain(self.heaps[h], Label::HeapNode(h))
            }
            4 => {
                let s = self.rng.random_range(0..CHAOS_SLOTS);
                let fd = self.shared.chaos[s].load(SeqCst);
                plain(fd, Label::Chaos)
            }
            _ => plain(self.closed_fd, Label::Closed),
        }
    }

    /// The target after the call: a pool fd the chaos thread replaced meanwhile is Unknown.
    fn after(&mut self, f: &Fd) -> Target {
        match f.pool {
            Some(i) if self.tainted(i) => Target::Unknown,
            _ => f.label.target(),
        }
    }

    // ---- the ops ----

    fn run(&mut self) {
        self.sweep_j();
        while self.stats.calls < self.budget {
            self.reap_imports(false);
            let op = weighted(
                &mut self.rng,
                &[
                    (3500, Op::RandomJ),
                    (30, Op::MemAlloc),
                    (500, Op::MemImport),
                    (500, Op::CleanInvalid2),
                    (200, Op::HeapAlloc),
                    (500, Op::HeapRandom),
                    (1400, Op::Sync),
                    (700, Op::SetName),
                    (500, Op::Mmap),
                    (120, Op::Munmap),
                    (120, Op::Close),
                    (30, Op::Open),
                    (3, Op::Chain),
                ],
            );
            self.enter(op);
            let t0 = Instant::now();
            match op {
                Op::RandomJ => self.random_j(),
                Op::MemAlloc => {
                    let class = pick_class(&mut self.rng);
                    self.mem_alloc(VC_SM_CMA_IOCTL_MEM_ALLOC, class)
                }
                Op::MemImport => {
                    let class = pick_class(&mut self.rng);
                    self.mem_import(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, class)
                }
                Op::CleanInvalid2 => self.clean_invalid2(None),
                Op::HeapAlloc => self.heap_alloc(),
                Op::HeapRandom => self.heap_random(),
                Op::Sync => self.sync(),
                Op::SetName => self.set_name(),
                Op::Mmap => self.mmap(),
                Op::Munmap => self.munmap(),
                Op::Close => {
                    let idx = self.pool_indices();
                    if !idx.is_empty() {
                        let i = idx[self.rng.random_range(0..idx.len())];
                        self.close_slot(i);
                    }
                }
                Op::Open => self.reopen_vcsm(),
                Op::Chain => self.chain(),
                _ => {}
            }
            let st = &mut self.stats.ops[op as usize];
            st.picked += 1;
            st.nanos += t0.elapsed().as_nanos() as u64;
        }
        CURRENT[self.id].store(u32::MAX, SeqCst);
    }

    /// Every 'J' number in every direction, with a random size.
    fn sweep_j(&mut self) {
        for nr in 0..=255u8 {
            for dir in 0..4u32 {
                self.enter(Op::SweepJ);
                let size = [0usize, 4, 8, 64, self.rng.random_range(0..0x4000)][self.rng.random_range(0..5)];
                self.j_command(Op::SweepJ, ioc(dir, b'J', nr, size));
            }
        }
    }

    fn random_j(&mut self) {
        let nr =
            if self.rng.random_bool(0.2) { self.rng.random_range(0x58..=0x5eu8) } else { self.rng.random() };
        let dir = self.rng.random_range(0..4u32);
        let size = match self.rng.random_range(0..6) {
            0 => 0,
            1 => 4,
            2 => 8,
            3 => 64,
            4 => self.rng.random_range(0..256),
            _ => self.rng.random_range(0..0x4000),
        };
        self.j_command(Op::RandomJ, ioc(dir, b'J', nr, size));
    }

    fn j_command(&mut self, op: Op, cmd: u32) {
        let class = pick_class(&mut self.rng);
        match cmd {
            VC_SM_CMA_IOCTL_MEM_ALLOC => self.mem_alloc(cmd, class),
            VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF => self.mem_import(cmd, class),
            VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2 | CLEAN_INVALID2_COMPAT => self.clean_invalid2(Some(cmd)),
            _ => {
                let mut junk = [0u8; 64];
                self.rng.fill(&mut junk[..]);
                let arg = self.arena.place(&mut self.rng, class, &junk);
                let r = sys_ioctl(self.vcsm, cmd, arg.addr);
                self.check(op, r, Expect::err(ENOTTY), || {
                    format!("cmd {cmd:#010x} on /dev/vcsm-cma arg {}", arg.describe(64))
                });
            }
        }
    }

    fn clean_invalid2(&mut self, cmd: Option<u32>) {
        let cmd = cmd.unwrap_or(if self.rng.random_bool(0.5) {
            VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2
        } else {
            CLEAN_INVALID2_COMPAT
        });
        let mut junk = [0u8; 64];
        self.rng.fill(&mut junk[..]);
        let class = pick_class(&mut self.rng);
        let arg = self.arena.place(&mut self.rng, class, &junk);
        let r = sys_ioctl(self.vcsm, cmd, arg.addr);
        // Not supported: EINVAL whatever the argument (the driver does not read it).
        self.check(Op::CleanInvalid2, r, Expect::err(EINVAL), || {
            format!("cmd {cmd:#010x} arg {}", arg.describe(8))
        });
    }

    fn mem_alloc(&mut self, cmd: u32, class: PtrClass) {
        let page = self.page();
        let size = if self.rng.random_bool(0.7) {
            pick_size(&mut self.rng, page).min(u64::from(u32::MAX)) as u32
        } else {
            EDGE_U32[self.rng.random_range(0..EDGE_U32.len())]
        };
        let mut b = [0u8; 64];
        self.rng.fill(&mut b[..]);
        b[0..4].copy_from_slice(&size.to_le_bytes());
        b[16..48].copy_from_slice(&pick_name(&mut self.rng));
        let arg = self.arena.place(&mut self.rng, class, &b);
        let exp = expect_alloc(arg.can_read(64), arg.can_write(64), size);
        let r = sys_ioctl(self.vcsm, cmd, arg.addr);
        let name_desc = describe_name(&b[16..48]);
        let ok = self.check(Op::MemAlloc, r, exp, || {
            format!(
                "size {size:#x} num {:#x} cached {:#x} name {name_desc} arg {}",
                u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
                arg.describe(64)
            )
        });
        if ok.is_none() || !exp.ok {
            return;
        }
        let fd = Arena::read_u32(&arg, 48) as i32;
        let vc_handle = Arena::read_u32(&arg, 52);
        let dma_addr = Arena::read_u64(&arg, 56);
        let len = page_align(u64::from(size), page).unwrap_or(0);
        self.success("MEM_ALLOC".into());
        if !self.new_fd_sane(fd, len, true, "MEM_ALLOC") {
            return;
        }
        if vc_handle == 0 || dma_addr > u64::from(u32::MAX) {
            self.wrong(format!("MEM_ALLOC of {size:#x}: vc_handle {vc_handle:#x} dma_addr {dma_addr:#x}"));
        }
        let held = if len > HELD_BUDGET { 0 } else { len };
        if held == 0 {
            self.close_raw(fd, Label::Alloc);
            return;
        }
        let root_ino = inode(fd);
        let slot = self.insert(Res {
            fd,
            label: Label::Alloc,
            size: len,
            depth: 1,
            strict: true,
            held,
            root: None,
            root_ino,
            token: 0,
        });
        self.follow_up(slot, len);
    }

    fn mem_import(&mut self, cmd: u32, class: PtrClass) {
        let src = self.pick_fd(true, true);
        self.import_from(cmd, class, src, true);
    }

    /// Imports `src`; returns the wrapper's slot. With `follow`, sometimes closes the source
    /// first and sometimes maps or syncs the wrapper.
    fn import_from(&mut self, cmd: u32, class: PtrClass, src: Fd, follow: bool) -> Option<usize> {
        let mut b = [0u8; 64];
        self.rng.fill(&mut b[..]);
        b[0..4].copy_from_slice(&src.fd.to_le_bytes());
        b[8..40].copy_from_slice(&pick_name(&mut self.rng));
        let arg = self.arena.place(&mut self.rng, class, &b);
        let token = self.reserve_import(src.root_ino, src.token);
        let r = sys_ioctl(self.vcsm, cmd, arg.addr);
        if r.is_err() {
            self.drop_token(token);
        }
        let target = self.after(&src);
        let exp = expect_import(arg.can_read(64), arg.can_write(64), target, src.strict);
        let label =
            if target == Target::Unknown && src.label != Label::Chaos { Label::Tainted } else { src.label };
        let ok = self.check(Op::MemImport, r, exp, || {
            format!(
                "dmabuf_fd {} ({}{}) cached {:#x} arg {}",
                src.fd,
                label.name(),
                src.size.map(|s| format!(" size {s:#x} depth {}", src.depth)).unwrap_or_default(),
                u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
                arg.describe(64)
            )
        });
        if ok.is_none() || !exp.ok {
            // No wrapper we know of (an unexpected success was reported).
            if ok.is_some() {
                self.drop_token(token);
            }
            return None;
        }
        let fd = Arena::read_u32(&arg, 40) as i32;
        let vc_handle = Arena::read_u32(&arg, 44);
        let map_len = Arena::read_u32(&arg, 48);
        let dma_addr = Arena::read_u64(&arg, 56);
        let known = target == Target::DmaBuf;
        let kind = match (label, src.root) {
            (Label::Buf(h), _) => format!("import<-{}", heap_name(h)),
            (Label::Import, Some(h)) => format!("import<-wrapper(depth {})<-{}", src.depth, heap_name(h)),
            (Label::Import, None) => format!("import<-wrapper(depth {})<-alloc", src.depth),
            (Label::Alloc, _) => "import<-alloc-wrapper".to_owned(),
            (l, _) => format!("import<-{}", l.name()),
        };
        self.success(kind);
        let size = if known { src.size.unwrap_or(0) } else { 0 };
        if !self.new_fd_sane(fd, size, true, "MEM_IMPORT_DMABUF") {
            self.drop_token(token);
            return None;
        }
        if vc_handle == 0 || dma_addr > u64::from(u32::MAX) || (known && u64::from(map_len) != size) {
            self.wrong(format!(
                "import of {} (size {size:#x}): vc_handle {vc_handle:#x} size {map_len:#x} dma_addr {dma_addr:#x}",
                label.name()
            ));
        }
        let size = if known { size } else { sys_size(fd).unwrap_or(0) as u64 };
        let depth = if known { src.depth + 1 } else { self.cfg.max_depth };
        let root = match label {
            Label::Buf(h) => Some(h),
            _ => src.root,
        };
        // Sometimes close the source first, then use the wrapper.
        if let (true, Some(i)) = (follow && self.rng.random_bool(0.3), src.pool) {
            self.close_slot(i);
        }
        let root_ino = if known { src.root_ino } else { 0 };
        let slot = self.insert(Res {
            fd,
            label: Label::Import,
            size,
            depth,
            strict: known,
            held: 0,
            root,
            root_ino,
            token,
        });
        if follow {
            self.follow_up(slot, size);
        }
        slot
    }

    /// A chain of wrappers of wrappers: a fresh contiguous buffer is imported, its wrapper
    /// imported, and so on up to a random depth (at most --max-wrap-depth); the deepest is
    /// mapped, touched and synced; then the chain is closed root first, deepest first or in a
    /// random order, or left in the pool for the other ops.
    fn chain(&mut self) {
        let contig: Vec<usize> =
            (0..self.heaps.len()).filter(|&h| self.cfg.heaps[h].kind == HeapKind::Contig).collect();
        if contig.is_empty() || self.cfg.max_depth < 2 {
            return;
        }
        let target = self.rng.random_range(2..=self.cfg.max_depth) as usize;
        while self.pool.iter().filter(|r| r.is_none()).count() < target + 1 {
            let idx = self.pool_indices();
            let i = idx[self.rng.random_range(0..idx.len())];
            self.close_slot(i);
        }
        let page = self.page();
        let h = contig[self.rng.random_range(0..contig.len())];
        let d = HeapData {
            len: self.rng.random_range(1..=4u64) * page,
            fd: 0,
            fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            heap_flags: 0,
        };
        let arg = self.arena.place(&mut self.rng, PtrClass::Good, &d.bytes());
        self.enter(Op::HeapAlloc);
        let r = sys_ioctl(self.heaps[h], DMA_HEAP_IOCTL_ALLOC, arg.addr);
        if self
            .check(Op::HeapAlloc, r, Expect::set(HEAP_RUNTIME).or_ok(), || {
                format!("chain root from {} {d:x?}", heap_name(h))
            })
            .is_none()
        {
            return;
        }
        let fd = Arena::read_u32(&arg, 8) as i32;
        let Some(mut cur) = self.adopt_heap_buf(h, fd, d) else { return };
        let mut slots = vec![cur];
        for _ in 0..target {
            let Some(r) = self.pool[cur].clone() else { break };
            // Stop at the depth limit, and with a cap at an unknown buffer (the chaos thread
            // replaced a link of the chain) or one at the cap.
            if r.label == Label::Tainted
                || r.depth >= self.cfg.max_depth
                || (self.cfg.max_imports > 0
                    && (r.root_ino == 0 || self.imports_of(r.root_ino) >= self.cfg.max_imports))
            {
                break;
            }
            let src = Fd {
                fd: r.fd,
                label: r.label,
                size: Some(r.size),
                depth: r.depth,
                strict: r.strict,
                pool: Some(cur),
                root: r.root,
                root_ino: r.root_ino,
                token: r.token,
            };
            self.enter(Op::MemImport);
            match self.import_from(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, PtrClass::Good, src, false) {
                Some(s) => {
                    slots.push(s);
                    cur = s;
                }
                None => break,
            }
        }
        self.success(format!("chain:depth-{}", slots.len() - 1));
        let Some(deepest) = self.pool[cur].clone() else { return };
        self.enter(Op::Mmap);
        let r =
            sys_mmap(0, deepest.size, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, deepest.fd, 0);
        let exp = if self.tainted(cur) {
            expect_mmap(Target::Unknown, None, 0, deepest.size, 3, 1, page)
        } else {
            Expect::ok().or(ENOMEM)
        };
        let depth = slots.len() - 1;
        if let Some(addr) =
            self.check(Op::Mmap, r, exp, || format!("mmap of a depth-{depth} wrapper fd {}", deepest.fd))
        {
            LAST_MAP[self.id][2].store(3, SeqCst);
            LAST_MAP[self.id][3].store(1, SeqCst);
            LAST_MAP[self.id][4].store(0, SeqCst);
            LAST_MAP[self.id][5].store(3000 + depth as u64, SeqCst);
            self.touch(addr as usize, deepest.size as usize, true, true);
            self.unmap(addr as usize, deepest.size as usize);
        }
        for flags in [
            dmabuf::DMA_BUF_SYNC_START | dmabuf::DMA_BUF_SYNC_RW,
            dmabuf::DMA_BUF_SYNC_END | dmabuf::DMA_BUF_SYNC_RW,
        ] {
            self.enter(Op::Sync);
            let arg = self.arena.place(&mut self.rng, PtrClass::Good, &flags.to_le_bytes());
            let r = sys_ioctl(deepest.fd, DMA_BUF_IOCTL_SYNC, arg.addr);
            let t = if self.tainted(cur) { Target::Unknown } else { Target::DmaBuf };
            self.check(Op::Sync, r, expect_sync(t, 8, flags), || {
                format!("sync of a depth-{depth} wrapper flags {flags:#x}")
            });
        }
        match self.rng.random_range(0..4) {
            0 => slots.iter().for_each(|&i| self.close_slot(i)),
            1 => slots.iter().rev().for_each(|&i| self.close_slot(i)),
            2 => {
                while !slots.is_empty() {
                    let i = slots.swap_remove(self.rng.random_range(0..slots.len()));
                    self.close_slot(i);
                }
            }
            _ => {}
        }
    }

    /// After a new buffer: sometimes map and touch it, sometimes sync it.
    fn follow_up(&mut self, slot: Option<usize>, size: u64) {
        let Some(fd) = slot.and_then(|i| self.pool[i].as_ref()).map(|r| r.fd) else { return };
        if self.rng.random_bool(0.3) && size > 0 {
            let len = size.min(1 << 20);
            self.enter(Op::Mmap);
            let r = sys_mmap(0, len, libc::PROT_READ | libc::PROT_WRITE, libc::MAP_SHARED, fd, 0);
            LAST_MAP[self.id][2].store(3, SeqCst);
            LAST_MAP[self.id][3].store(1, SeqCst);
            LAST_MAP[self.id][4].store(0, SeqCst);
            LAST_MAP[self.id][5].store(2000, SeqCst);
            let tainted = slot.is_some_and(|i| self.tainted(i));
            let exp = if tainted {
                expect_mmap(Target::Unknown, None, 0, len, 3, 1, self.page())
            } else {
                Expect::ok().or(ENOMEM)
            };
            if let Some(addr) = self.check(Op::Mmap, r, exp, || {
                format!("follow-up mmap of new buffer fd {fd} len {len:#x} rw shared")
            }) {
                self.touch(addr as usize, len as usize, true, true);
                self.keep_map(addr as usize, len as usize);
            }
        }
        if self.rng.random_bool(0.3) {
            for flags in [
                dmabuf::DMA_BUF_SYNC_START | dmabuf::DMA_BUF_SYNC_RW,
                dmabuf::DMA_BUF_SYNC_END | dmabuf::DMA_BUF_SYNC_RW,
            ] {
                self.enter(Op::Sync);
                let arg = self.arena.place(&mut self.rng, PtrClass::Good, &flags.to_le_bytes());
                let r = sys_ioctl(fd, DMA_BUF_IOCTL_SYNC, arg.addr);
                let tainted = slot.is_some_and(|i| self.tainted(i));
                let exp =
                    expect_sync(if tainted { Target::Unknown } else { Target::DmaBuf }, arg.readable, flags);
                self.check(Op::Sync, r, exp, || {
                    format!("follow-up sync of new buffer fd {fd} flags {flags:#x}")
                });
            }
        }
    }

    /// A new fd from the kernel: open, close-on-exec as requested, of the expected size.
    fn new_fd_sane(&mut self, fd: RawFd, size: u64, cloexec: bool, what: &str) -> bool {
        self.enter(Op::Query);
        let r = sys_fcntl_getfd(fd);
        let Some(flags) =
            self.check(Op::Query, r, Expect::ok(), || format!("F_GETFD of the fd {fd} {what} returned"))
        else {
            return false;
        };
        if (flags & i64::from(libc::FD_CLOEXEC) != 0) != cloexec {
            self.wrong(format!("{what} returned fd {fd} with FD_CLOEXEC {}, expected {cloexec}", !cloexec));
        }
        if size != 0 {
            let r = sys_size(fd);
            if let Some(s) =
                self.check(Op::Query, r, Expect::ok(), || format!("lseek(SEEK_END) of fd {fd} from {what}"))
            {
                if s as u64 != size {
                    self.wrong(format!("{what}: the new dma-buf has {s:#x} bytes, expected {size:#x}"));
                }
            }
        }
        true
    }

    fn close_raw(&mut self, fd: RawFd, label: Label) {
        self.enter(Op::Close);
        let r = sys_close(fd);
        self.check(Op::Close, r, Expect::ok(), || format!("close fd {fd} ({})", label.name()));
    }

    fn heap_alloc(&mut self) {
        if self.heaps.is_empty() {
            return;
        }
        let page = self.page();
        let h = self.rng.random_range(0..self.heaps.len());
        let mut d = HeapData {
            len: pick_size(&mut self.rng, page),
            fd: 0,
            fd_flags: weighted(
                &mut self.rng,
                &[
                    (40, (libc::O_RDWR | libc::O_CLOEXEC) as u32),
                    (4, (libc::O_RDONLY | libc::O_CLOEXEC) as u32),
                    (4, (libc::O_WRONLY | libc::O_CLOEXEC) as u32),
                    (4, (libc::O_ACCMODE | libc::O_CLOEXEC) as u32),
                    (4, libc::O_RDWR as u32),
                    (4, u32::MAX),
                ],
            ),
            heap_flags: 0,
        };
        if d.fd_flags == u32::MAX {
            d.fd_flags = self.rng.random::<u32>() | libc::O_NONBLOCK as u32;
        }
        // Half of the calls get one field wrong (a cheap EINVAL).
        match self.rng.random_range(0..10) {
            0 => d.fd = self.rng.random_range(1..=u32::MAX),
            1 => d.heap_flags = self.rng.random_range(1..=u64::MAX),
            2 => d.heap_flags = 1,
            3 => d.fd_flags |= 1 << self.rng.random_range(2..32),
            4 => d.len = [0, u64::MAX, u64::MAX - page + 2][self.rng.random_range(0..3)],
            _ => {}
        }
        d.len = self.tame_len(h, d.len);
        let class = pick_class(&mut self.rng);
        let bytes = d.bytes();
        let arg = self.arena.place(&mut self.rng, class, &bytes);
        let exp = expect_heap_ioctl(DMA_HEAP_IOCTL_ALLOC, &bytes, arg.readable, arg.writable, page);
        let r = sys_ioctl(self.heaps[h], DMA_HEAP_IOCTL_ALLOC, arg.addr);
        let ok = self.check(Op::HeapAlloc, r, exp, || {
            format!("heap {} {d:x?} arg {}", heap_name(h), arg.describe(24))
        });
        if ok.is_some() && exp.ok {
            let fd = Arena::read_u32(&arg, 8) as i32;
            self.adopt_heap_buf(h, fd, d);
        }
    }

    /// The system heap (6.12) has no size check: it allocates page by page until the length is
    /// reached or the OOM killer ends the caller. Lengths above 64 MiB (that do not align to
    /// 0) go only to heaps that refuse them at once (the CMA heaps).
    fn tame_len(&self, h: usize, len: u64) -> u64 {
        let a = page_align(len, self.page()).unwrap_or(0);
        if self.cfg.heaps[h].kind != HeapKind::Contig && a > (64 << 20) {
            self.page()
        } else {
            len
        }
    }

    fn adopt_heap_buf(&mut self, h: usize, fd: RawFd, d: HeapData) -> Option<usize> {
        let page = self.page();
        let len = page_align(d.len, page).unwrap_or(0);
        self.success(format!("heap-alloc:{}", heap_name(h)));
        let cloexec = d.fd_flags & libc::O_CLOEXEC as u32 != 0;
        if !self.new_fd_sane(fd, len, cloexec, "DMA_HEAP_IOCTL_ALLOC") {
            return None;
        }
        let r = sys_fcntl_getfl(fd);
        if let Some(fl) = self.check(Op::Query, r, Expect::ok(), || format!("F_GETFL of heap buffer fd {fd}"))
        {
            if (fl as u32) & libc::O_ACCMODE as u32 != d.fd_flags & libc::O_ACCMODE as u32 {
                self.wrong(format!(
                    "heap buffer fd {fd}: access mode {:#x}, asked for {:#x}",
                    fl & 3,
                    d.fd_flags & 3
                ));
            }
        }
        if len > HELD_BUDGET / 2 {
            self.close_raw(fd, Label::Buf(h));
            return None;
        }
        let strict = self.cfg.heaps[h].kind == HeapKind::Contig;
        let root_ino = inode(fd);
        self.insert(Res {
            fd,
            label: Label::Buf(h),
            size: len,
            depth: 0,
            strict,
            held: len,
            root: Some(h),
            root_ino,
            token: 0,
        })
    }

    fn heap_random(&mut self) {
        if self.heaps.is_empty() {
            return;
        }
        let page = self.page();
        let h = self.rng.random_range(0..self.heaps.len());
        let cmd = loop {
            let ty = weighted(&mut self.rng, &[(6, b'H'), (1, b'J'), (1, b'b'), (2, 0)]);
            let ty = if ty == 0 { self.rng.random() } else { ty };
            let nr = if self.rng.random_bool(0.4) { 0 } else { self.rng.random() };
            let size = match self.rng.random_range(0..5) {
                0 => 24,
                1 => self.rng.random_range(0..32),
                2 => self.rng.random_range(0..200),
                _ => self.rng.random_range(0..0x4000),
            };
            let c = ioc(self.rng.random_range(0..4), ty, nr, size);
            if !VFS_IOCTLS.contains(&c) {
                break c;
            }
        };
        let mut d = HeapData {
            len: pick_size(&mut self.rng, page),
            fd: 0,
            fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            heap_flags: 0,
        };
        if self.rng.random_bool(0.3) {
            d.fd_flags = self.rng.random();
        }
        d.len = self.tame_len(h, d.len);
        let size = ioc_size(cmd);
        let out_size = if ioc_dir(cmd) & IOC_READ != 0 { size } else { 0 };
        let mut bytes = d.bytes();
        if out_size < 12 {
            // A buffer made here could not be told to us (no fd copied out): make sure none is.
            bytes[0..8].fill(0);
        }
        let class = pick_class(&mut self.rng);
        let arg = self.arena.place(&mut self.rng, class, &bytes);
        let exp = expect_heap_ioctl(cmd, &bytes, arg.readable, arg.writable, page);
        let r = sys_ioctl(self.heaps[h], cmd, arg.addr);
        let ok = self.check(Op::HeapRandom, r, exp, || {
            format!(
                "cmd {cmd:#010x} on heap {} data {:x?} arg {}",
                heap_name(h),
                HeapData::from_prefix(&bytes, 24),
                arg.describe(size)
            )
        });
        if ok.is_some() && exp.ok {
            let fd = Arena::read_u32(&arg, 8) as i32;
            let d = HeapData::from_prefix(&bytes, if ioc_dir(cmd) & IOC_WRITE != 0 { size } else { 0 });
            self.adopt_heap_buf(h, fd, d);
        }
    }

    /// A target for SYNC / SET_NAME / mmap: mostly buffers, sometimes anything.
    fn pick_target(&mut self) -> Fd {
        self.pick_fd(false, true)
    }

    fn sync(&mut self) {
        let t = self.pick_target();
        let mut flags = match self.rng.random_range(0..10) {
            0..5 => [1u64, 2, 3, 5, 6, 7][self.rng.random_range(0..6)],
            5 => 0,
            6 => 4,
            7 => 1 << self.rng.random_range(3..64),
            _ => self.rng.random(),
        };
        if t.label.target() == Target::HeapNode {
            flags = 0;
        }
        let class = pick_class(&mut self.rng);
        let arg = self.arena.place(&mut self.rng, class, &flags.to_le_bytes());
        let r = sys_ioctl(t.fd, DMA_BUF_IOCTL_SYNC, arg.addr);
        let target = self.after(&t);
        let exp = expect_sync(target, arg.readable, flags);
        if self
            .check(Op::Sync, r, exp, || {
                format!("fd {} ({}) flags {flags:#x} arg {}", t.fd, t.label.name(), arg.describe(8))
            })
            .is_some()
        {
            self.success(format!("sync:{}", kind_of(t.label)));
        }
    }

    fn set_name(&mut self) {
        let t = self.pick_target();
        let mut s = [0u8; 40];
        match self.rng.random_range(0..5) {
            0 => s[..5].copy_from_slice(b"fuzz\0"),
            1 => {
                let n = self.rng.random_range(0..40);
                s[..n].fill(b'n');
            }
            2 => s[..32].fill(b'x'),
            3 => s[..31].fill(b'y'),
            _ => self.rng.fill(&mut s[..]),
        }
        let cmd = if self.rng.random_bool(0.5) { DMA_BUF_SET_NAME } else { DMA_BUF_SET_NAME_A };
        let class = pick_class(&mut self.rng);
        let arg = self.arena.place(&mut self.rng, class, &s);
        let r = sys_ioctl(t.fd, cmd, arg.addr);
        let target = self.after(&t);
        let exp = expect_set_name(target, &s, arg.readable);
        if self
            .check(Op::SetName, r, exp, || {
                format!(
                    "cmd {cmd:#010x} fd {} ({}) name {} arg {}",
                    t.fd,
                    t.label.name(),
                    describe_name(&s),
                    arg.describe(33)
                )
            })
            .is_some()
        {
            self.success(format!("set-name:{}", kind_of(t.label)));
        }
    }

    fn mmap(&mut self) {
        let page = self.page();
        let t = self.pick_target();
        let size = t.size.unwrap_or(page);
        let off = match self.rng.random_range(0..20) {
            0..12 => 0,
            12..15 => self.rng.random_range(0..=size / page) * page,
            15 => size,
            16 => self.rng.random_range(1..page),
            17 => [1u64 << 63, !(page - 1), 1 << 52, (1 << 63) - page][self.rng.random_range(0..4)],
            _ => self.rng.random_range(1..=64u64) * page,
        };
        let len = match self.rng.random_range(0..20) {
            0..8 => size,
            8..12 => self.rng.random_range(1..=size.max(1)),
            12 => size + 1,
            13 => size + page,
            14 => 0,
            15 => 1,
            16 => [1u64 << 40, u64::MAX, u64::MAX - page, 1 << 47][self.rng.random_range(0..4)],
            _ => page,
        };
        let mut prot = 0;
        for (p, bit) in [
            (0.7, libc::PROT_READ),
            (0.5, libc::PROT_WRITE),
            (0.05, libc::PROT_EXEC),
            (0.03, 0x8),
            (0.03, 0x10),
            (0.03, 0x20),
            (0.02, libc::PROT_GROWSDOWN),
            (0.02, libc::PROT_GROWSUP),
        ] {
            if self.rng.random_bool(p) {
                prot |= bit;
            }
        }
        if self.rng.random_bool(0.02) {
            prot = self.rng.random();
        }
        let ty = weighted(
            &mut self.rng,
            &[
                (50, libc::MAP_SHARED),
                (25, libc::MAP_PRIVATE),
                (10, libc::MAP_SHARED_VALIDATE),
                (3, 0),
                (2, 8),
                (2, 0x0f),
            ],
        );
        let mut flags = ty;
        for (p, bit) in [
            (0.05, libc::MAP_POPULATE),
            (0.03, libc::MAP_LOCKED),
            (0.03, libc::MAP_NORESERVE),
            (0.02, libc::MAP_NONBLOCK),
            (0.02, libc::MAP_STACK),
            (0.02, libc::MAP_GROWSDOWN),
            (0.02, libc::MAP_HUGETLB),
            (0.02, libc::MAP_SYNC),
            (0.02, libc::MAP_DENYWRITE),
            (0.02, libc::MAP_EXECUTABLE),
            (0.03, libc::MAP_FIXED_NOREPLACE),
        ] {
            if self.rng.random_bool(p) {
                flags |= bit;
            }
        }
        if self.rng.random_bool(0.02) {
            flags |= self.rng.random::<i32>() & !0x0f;
        }
        // Never replace a mapping, never map anonymous memory.
        flags &= !(libc::MAP_FIXED | libc::MAP_ANONYMOUS);
        let hint = if flags & libc::MAP_FIXED_NOREPLACE != 0 {
            match self.rng.random_range(0..4) {
                0 => self.maps.first().map(|m| m.0).unwrap_or(self.arena.scratch()),
                1 => self.arena.guard(),
                2 => (self.rng.random_range(1u64 << 32..1u64 << 46) as usize) & !(self.cfg.page - 1),
                _ => [1usize << 52, self.arena.scratch() + 3, 0x7fff_ffff_f000][self.rng.random_range(0..3)],
            }
        } else if self.rng.random_bool(0.1) {
            self.rng.random_range(1u64 << 32..1u64 << 46) as usize
        } else {
            0
        };
        let r = sys_mmap(hint, len, prot, flags, t.fd, off);
        let target = self.after(&t);
        let exp = expect_mmap(
            target,
            if target == Target::DmaBuf { t.size } else { None },
            off,
            len,
            prot,
            flags,
            page,
        );
        LAST_MAP[self.id][2].store(prot as u64, SeqCst);
        LAST_MAP[self.id][3].store(flags as u64, SeqCst);
        LAST_MAP[self.id][4].store(off, SeqCst);
        LAST_MAP[self.id][5].store(t.label.code() + if target == Target::Unknown { 1000 } else { 0 }, SeqCst);
        let ok = self.check(Op::Mmap, r, exp, || {
            format!("fd {} ({} size {:?}) hint {hint:#x} len {len:#x} off {off:#x} prot {prot:#x} flags {flags:#x}", t.fd, t.label.name(), t.size)
        });
        if let Some(addr) = ok {
            let addr = addr as usize;
            let mlen = page_align(len, page).unwrap_or(0) as usize;
            self.success(format!("mmap:{}", kind_of(t.label)));
            if exp.ok {
                self.touch(addr, mlen, prot & libc::PROT_READ != 0, prot & libc::PROT_WRITE != 0);
            }
            self.keep_map(addr, mlen);
        }
    }

    /// Reads and/or writes one byte per page (up to TOUCH_PAGES pages, spread over the rest).
    fn touch(&mut self, addr: usize, len: usize, read: bool, write: bool) {
        if !read && !write {
            return;
        }
        self.enter(Op::Touch);
        LAST_MAP[self.id][0].store(addr as u64, SeqCst);
        LAST_MAP[self.id][1].store(len as u64, SeqCst);
        let pages = len.div_ceil(self.cfg.page);
        let step = pages.div_ceil(TOUCH_PAGES).max(1);
        let mut sum = 0u8;
        for i in (0..pages).step_by(step) {
            // `p` lies inside a mapping the kernel just gave us with these permissions and
            // whose pages are all backed (the dma-buf core checked the range); a fault here is
            // a finding and ends the run through the signal handler.
            let p = addr + i * self.cfg.page + (i % 61);
            if read {
                let mut b = [0];
                // SAFETY: as above; the mapping is readable.
                unsafe { hostile::peek(p, &mut b) };
                sum = sum.wrapping_add(b[0]);
            }
            if write {
                // SAFETY: as above; the mapping is writable and no Rust reference covers it.
                unsafe { hostile::poke(p, &[sum ^ 0x5a]) };
            }
        }
        std::hint::black_box(sum);
        self.stats.ops[Op::Touch as usize].calls += 1;
        self.stats.ops[Op::Touch as usize].ok += 1;
    }

    fn keep_map(&mut self, addr: usize, len: usize) {
        if len == 0 {
            return;
        }
        if self.maps.len() >= MAPS || self.rng.random_bool(0.5) {
            self.unmap(addr, len);
        } else {
            self.maps.push((addr, len));
        }
    }

    fn unmap(&mut self, addr: usize, len: usize) {
        let page = self.cfg.page;
        self.enter(Op::Munmap);
        let len = len.div_ceil(page) * page;
        if len >= 3 * page && self.rng.random_bool(0.3) {
            // Split the mapping first: a hole in the middle, then the two pieces. (Never the
            // whole range again: another thread's mmap may have landed in the hole.)
            let k = self.rng.random_range(1..len / page - 1);
            let hole = addr + k * page;
            let r = sys_munmap(hole, page);
            self.check(Op::Munmap, r, Expect::ok(), || {
                format!("munmap middle page {k} of {addr:#x}+{len:#x}")
            });
            let r = sys_munmap(hole + page, addr + len - hole - page);
            self.check(Op::Munmap, r, Expect::ok(), || {
                format!("munmap the upper piece of {addr:#x}+{len:#x}")
            });
            let r = sys_munmap(addr, hole - addr);
            self.check(Op::Munmap, r, Expect::ok(), || {
                format!("munmap the lower piece of {addr:#x}+{len:#x}")
            });
        } else {
            let r = sys_munmap(addr, len);
            self.check(Op::Munmap, r, Expect::ok(), || format!("munmap {addr:#x}+{len:#x}"));
        }
    }

    fn munmap(&mut self) {
        let page = self.cfg.page;
        match self.rng.random_range(0..4) {
            0 => {
                let r = sys_munmap(self.arena.scratch() + self.rng.random_range(1..page), page);
                self.check(Op::Munmap, r, Expect::err(EINVAL), || "munmap of a misaligned address".into());
            }
            1 => {
                let r = sys_munmap(self.arena.scratch(), 0);
                self.check(Op::Munmap, r, Expect::err(EINVAL), || "munmap of length 0".into());
            }
            _ => {
                if !self.maps.is_empty() {
                    let i = self.rng.random_range(0..self.maps.len());
                    let (a, l) = self.maps.swap_remove(i);
                    self.unmap(a, l);
                }
            }
        }
    }

    fn reopen_vcsm(&mut self) {
        let old = self.vcsm;
        self.close_raw(old, Label::Vcsm);
        self.enter(Op::Open);
        let r = sys_open(DEV, libc::O_RDWR | libc::O_CLOEXEC);
        match r {
            Ok(fd) => {
                self.check(Op::Open, Ok(i64::from(fd)), Expect::ok(), String::new);
                self.vcsm = fd;
            }
            Err(e) => {
                self.check(Op::Open, Err(e), Expect::ok(), || format!("reopen {DEV}"));
                // Keep going on a number that is certainly not open: every call then fails
                // with EBADF, which is reported as a failure of each of them.
                self.vcsm = self.closed_fd;
            }
        }
    }

    fn finish(mut self) -> Stats {
        for (a, l) in std::mem::take(&mut self.maps) {
            self.unmap(a, l);
        }
        for i in 0..POOL {
            self.close_slot(i);
        }
        for (fd, l) in std::mem::take(&mut self.statics) {
            self.close_raw(fd, l);
        }
        for (h, fd) in std::mem::take(&mut self.heaps).into_iter().enumerate() {
            self.close_raw(fd, Label::HeapNode(h));
        }
        if self.vcsm != self.closed_fd {
            self.close_raw(self.vcsm, Label::Vcsm);
        }
        self.reap_imports(true);
        std::mem::take(&mut self.stats)
    }
}

/// The inode of the file behind `fd` (each dma-buf has its own); 0 if it is not open. (A stat
/// of `/proc/self/fd/N` is an fstat of the number.)
fn inode(fd: RawFd) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/self/fd/{fd}")).map(|m| m.ino()).unwrap_or(0)
}

fn kind_of(l: Label) -> String {
    match l {
        Label::Buf(h) => heap_name(h).to_owned(),
        l => l.name(),
    }
}

fn describe_name(b: &[u8]) -> String {
    match b.iter().position(|&c| c == 0) {
        Some(0) => "<empty>".into(),
        Some(n) => format!("{:?}", String::from_utf8_lossy(&b[..n])),
        None => format!("<{} bytes, no NUL>", b.len()),
    }
}

// ---- the chaos thread ----

struct Chaos<'a> {
    rng: SmallRng,
    cfg: &'a Config,
    shared: &'a Shared,
    /// Files it dup2()s over the workers' fds and its own slots.
    sources: Vec<(RawFd, &'static str)>,
    heaps: Vec<RawFd>,
    vcsm: Option<RawFd>,
    stats: Stats,
    seq: u64,
    dup2_worker: u64,
    dup2_own: u64,
    closes: u64,
    reopens: u64,
}

impl<'a> Chaos<'a> {
    fn new(cfg: &'a Config, shared: &'a Shared) -> Result<Chaos<'a>, String> {
        let mut c = Chaos {
            rng: SmallRng::seed_from_u64(thread_seed(cfg.seed, MAX_THREADS)),
            cfg,
            shared,
            sources: Vec::new(),
            heaps: Vec::new(),
            vcsm: sys_open(DEV, libc::O_RDWR | libc::O_CLOEXEC).ok(),
            stats: Stats::new(),
            seq: 0,
            dup2_worker: 0,
            dup2_own: 0,
            closes: 0,
            reopens: 0,
        };
        let null = sys_open("/dev/null", libc::O_RDWR | libc::O_CLOEXEC)
            .map_err(|e| format!("chaos: /dev/null: {}", ename(e)))?;
        c.sources.push((null, "/dev/null"));
        if let Ok((rx, tx)) = nix::unistd::pipe2(OFlag::O_CLOEXEC) {
            c.sources.push((rx.into_raw_fd(), "pipe-read"));
            c.sources.push((tx.into_raw_fd(), "pipe-write"));
        }
        if let Ok(efd) = new_fd(eventfd()) {
            c.sources.push((efd, "eventfd"));
        }
        if let Some(v) = c.vcsm {
            c.sources.push((v, "/dev/vcsm-cma"));
        }
        for h in &cfg.heaps {
            if let Ok(fd) = sys_open(&format!("{HEAP_DIR}/{}", h.name), libc::O_RDONLY | libc::O_CLOEXEC) {
                c.heaps.push(fd);
            }
        }
        for h in 0..c.heaps.len() {
            c.new_buffer(Some(h));
        }
        for s in 0..CHAOS_SLOTS {
            let fd = c.fresh_fd();
            c.shared.chaos[s].store(fd, SeqCst);
        }
        Ok(c)
    }

    fn check(&mut self, r: Result<i64, i32>, exp: Expect, desc: impl FnOnce() -> String) -> Option<i64> {
        self.seq += 1;
        let st = &mut self.stats.ops[Op::Chaos as usize];
        st.calls += 1;
        match r {
            Ok(_) => st.ok += 1,
            Err(e) => *st.errs.entry(e).or_default() += 1,
        }
        if !exp.allows(&r) {
            self.stats.bad += 1;
            let got = match r {
                Ok(v) => format!("ok ({v})"),
                Err(e) => ename(e),
            };
            if self.stats.failures.len() < 64 {
                self.stats.failures.push(format!(
                    "chaos call {}: {}: got {got}, expected {}",
                    self.seq,
                    desc(),
                    exp.describe()
                ));
            }
        }
        r.ok()
    }

    /// A small buffer from heap `h` (or a random one), and sometimes a wrapper of it.
    fn new_buffer(&mut self, h: Option<usize>) {
        if self.heaps.is_empty() {
            return;
        }
        let h = h.unwrap_or_else(|| self.rng.random_range(0..self.heaps.len()));
        let d = HeapData {
            len: self.rng.random_range(1..=16u64) * self.cfg.page as u64,
            fd: 0,
            fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            heap_flags: 0,
        };
        let mut b = d.bytes();
        let r = sys_ioctl(self.heaps[h], DMA_HEAP_IOCTL_ALLOC, b.as_mut_ptr() as usize);
        let Some(_) =
            self.check(r, Expect::set(HEAP_RUNTIME).or_ok(), || format!("chaos alloc from {}", heap_name(h)))
        else {
            return;
        };
        let fd = i32::from_le_bytes([b[8], b[9], b[10], b[11]]);
        self.sources.push((fd, "chaos-buf"));
        if let (Some(v), HeapKind::Contig) =
            (self.vcsm, self.cfg.heaps.get(h).map(|x| x.kind).unwrap_or(HeapKind::Other))
        {
            let mut imp = [0u8; 64];
            imp[0..4].copy_from_slice(&fd.to_le_bytes());
            let r = sys_ioctl(v, VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, imp.as_mut_ptr() as usize);
            if self
                .check(r, Expect::set(VCSM_RUNTIME).or_ok(), || {
                    format!("chaos import of a {} buffer", heap_name(h))
                })
                .is_some()
            {
                let w = i32::from_le_bytes([imp[40], imp[41], imp[42], imp[43]]);
                self.sources.push((w, "chaos-wrapper"));
            }
        }
    }

    /// A new file for an empty slot: a dup of a source, or a newly opened file.
    fn fresh_fd(&mut self) -> RawFd {
        match self.rng.random_range(0..4) {
            0 => sys_open("/dev/null", libc::O_RDWR | libc::O_CLOEXEC).unwrap_or(-1),
            1 => new_fd(eventfd()).unwrap_or(-1),
            2 if self.vcsm.is_some() => sys_open(DEV, libc::O_RDWR | libc::O_CLOEXEC).unwrap_or(-1),
            _ => {
                let (src, _) = self.sources[self.rng.random_range(0..self.sources.len())];
                sys_dup(src).unwrap_or(-1)
            }
        }
    }

    fn run(&mut self) {
        while !self.shared.stop.load(SeqCst) {
            CURRENT[MAX_THREADS].store(Op::Chaos as u32, SeqCst);
            match self.rng.random_range(0..100) {
                // dup2 one of ours over a worker's buffer fd.
                0..30 => {
                    let w = self.rng.random_range(0..self.shared.pools.len());
                    let s = self.rng.random_range(0..POOL);
                    let (src, name) = self.sources[self.rng.random_range(0..self.sources.len())];
                    let pool = self.shared.pools[w].clone();
                    let g = lock(&pool.fds[s]);
                    if *g >= 0 {
                        pool.taint[s].store(true, SeqCst);
                        let fd = *g;
                        let r = sys_dup2(src, fd);
                        self.dup2_worker += 1;
                        self.check(r, Expect::ok(), || format!("dup2 {name} over worker {w}'s fd {fd}"));
                    }
                    drop(g);
                }
                // Close a slot of ours.
                30..50 => {
                    let s = self.rng.random_range(0..CHAOS_SLOTS);
                    let fd = self.shared.chaos[s].swap(-1, SeqCst);
                    if fd >= 0 {
                        let r = sys_close(fd);
                        self.closes += 1;
                        self.check(r, Expect::ok(), || format!("close chaos slot fd {fd}"));
                    }
                }
                // Reopen an empty slot.
                50..75 => {
                    let s = self.rng.random_range(0..CHAOS_SLOTS);
                    if self.shared.chaos[s].load(SeqCst) < 0 {
                        let fd = self.fresh_fd();
                        self.reopens += 1;
                        self.check(
                            if fd < 0 { Err(errno()) } else { Ok(i64::from(fd)) },
                            Expect::ok(),
                            || "reopen a chaos slot".into(),
                        );
                        self.shared.chaos[s].store(fd, SeqCst);
                    }
                }
                // dup2 a source over a slot of ours.
                75..95 => {
                    let s = self.rng.random_range(0..CHAOS_SLOTS);
                    let fd = self.shared.chaos[s].load(SeqCst);
                    if fd >= 0 {
                        let (src, name) = self.sources[self.rng.random_range(0..self.sources.len())];
                        let r = sys_dup2(src, fd);
                        self.dup2_own += 1;
                        self.check(r, Expect::ok(), || format!("dup2 {name} over chaos slot fd {fd}"));
                    }
                }
                // Replace the buffers (a buffer and maybe its wrapper): all of the old ones go,
                // so their number stays bounded however long the run.
                _ => {
                    while let Some(i) = (0..self.sources.len())
                        .find(|&i| self.sources[i].1 == "chaos-buf" || self.sources[i].1 == "chaos-wrapper")
                    {
                        let (fd, _) = self.sources.remove(i);
                        let r = sys_close(fd);
                        self.check(r, Expect::ok(), || format!("close chaos source {fd}"));
                    }
                    self.new_buffer(None);
                }
            }
            CURRENT[MAX_THREADS].store(u32::MAX, SeqCst);
            std::thread::sleep(Duration::from_micros(self.rng.random_range(20..400)));
        }
    }

    fn finish(mut self) -> Stats {
        for s in 0..CHAOS_SLOTS {
            let fd = self.shared.chaos[s].swap(-1, SeqCst);
            if fd >= 0 {
                let r = sys_close(fd);
                self.check(r, Expect::ok(), || format!("close chaos slot fd {fd}"));
            }
        }
        for (fd, name) in std::mem::take(&mut self.sources) {
            let r = sys_close(fd);
            self.check(r, Expect::ok(), || format!("close chaos source {fd} ({name})"));
        }
        for fd in std::mem::take(&mut self.heaps) {
            let _ = sys_close(fd);
        }
        let mut st = std::mem::take(&mut self.stats);
        st.successes.insert("chaos:dup2-over-worker-fd".into(), self.dup2_worker);
        st.successes.insert("chaos:dup2-over-own-slot".into(), self.dup2_own);
        st.successes.insert("chaos:close".into(), self.closes);
        st.successes.insert("chaos:reopen".into(), self.reopens);
        st
    }
}

// ---- the run ----

/// Open file descriptors of the process (F_GETFD on every number below the limit).
fn count_fds(limit: i32) -> usize {
    (0..limit.min(1 << 16)).filter(|&fd| sys_fcntl_getfd(fd).is_ok()).count()
}

/// Lowers the soft RLIMIT_NOFILE to `cur`: no new fd gets a number of `cur` or more.
fn lower_nofile(cur: i32) -> Result<(), String> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) =
        getrlimit(Resource::RLIMIT_NOFILE).map_err(|e| format!("getrlimit: {}", ename(e as i32)))?;
    let soft = libc::rlim_t::try_from(cur.max(POOL as i32 * 8)).unwrap_or(soft).min(soft);
    // Lowering the soft limit is always allowed.
    setrlimit(Resource::RLIMIT_NOFILE, soft, hard).map_err(|e| format!("setrlimit: {}", ename(e as i32)))
}

fn nofile_limit() -> i32 {
    match nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE) {
        Ok((soft, _)) => i32::try_from(soft).unwrap_or(1 << 16).min(1 << 16),
        Err(_) => 1024,
    }
}

fn heap_kind(name: &str) -> HeapKind {
    match name {
        "vcsm-uncached" | "vcsm-cached" | "linux,cma" => HeapKind::Contig,
        "system" => HeapKind::System,
        _ => HeapKind::Other,
    }
}

struct Outcome {
    stats: Stats,
    elapsed: Duration,
    errors: Vec<String>,
}

fn run_threads(cfg: &Config) -> Outcome {
    let shared = Shared {
        pools: (0..cfg.threads).map(|_| Arc::new(SharedPool::new())).collect(),
        chaos: (0..CHAOS_SLOTS).map(|_| AtomicI32::new(-1)).collect(),
        stop: AtomicBool::new(false),
    };
    let ids: Vec<usize> = (0..cfg.threads).filter(|&id| cfg.only.is_none_or(|k| k == id)).collect();
    let barrier = Barrier::new(ids.len() + 1 + usize::from(cfg.chaos));
    let per = cfg.calls / cfg.threads as u64;
    let mut stats = Stats::new();
    let mut errors = Vec::new();
    let mut elapsed = Duration::ZERO;
    std::thread::scope(|s| {
        let mut workers = Vec::new();
        for id in ids {
            let budget = if id == 0 { cfg.calls - per * (cfg.threads as u64 - 1) } else { per };
            let (cfg, shared, barrier) = (cfg, &shared, &barrier);
            workers.push((
                id,
                s.spawn(move || {
                    let w = Worker::new(id, cfg, shared, budget);
                    barrier.wait();
                    let mut w = w?;
                    w.run();
                    Ok::<Stats, String>(w.finish())
                }),
            ));
        }
        let chaos = cfg.chaos.then(|| {
            let (shared, barrier) = (&shared, &barrier);
            s.spawn(move || {
                let c = Chaos::new(cfg, shared);
                barrier.wait();
                let mut c = c?;
                c.run();
                Ok::<Stats, String>(c.finish())
            })
        });
        barrier.wait();
        let start = Instant::now();
        for (id, h) in workers {
            match h.join() {
                Ok(Ok(st)) => stats.merge(&st),
                Ok(Err(e)) => errors.push(format!("worker {id}: {e}")),
                Err(p) => errors.push(format!("worker {id} panicked: {}", panic_text(p.as_ref()))),
            }
        }
        elapsed = start.elapsed();
        shared.stop.store(true, SeqCst);
        if let Some(h) = chaos {
            match h.join() {
                Ok(Ok(st)) => stats.merge(&st),
                Ok(Err(e)) => errors.push(e),
                Err(p) => errors.push(format!("chaos thread panicked: {}", panic_text(p.as_ref()))),
            }
        }
    });
    Outcome { stats, elapsed, errors }
}

fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "?".into())
}

fn summarize(id: &str, cfg: &Config, o: &Outcome) {
    let secs = o.elapsed.as_secs_f64().max(1e-9);
    let chaos_calls = o.stats.ops[Op::Chaos as usize].calls;
    let calls = o.stats.calls;
    info(
        id,
        &format!(
            "{calls} calls in {secs:.1} s: {:.0} calls/s ({}; chaos thread: {chaos_calls} calls)",
            calls as f64 / secs,
            match cfg.only {
                Some(k) => format!("worker {k} of {} only", cfg.threads),
                None => format!("{} workers", cfg.threads),
            }
        ),
    );
    let ok: Vec<String> = o.stats.successes.iter().map(|(k, n)| format!("{k}={n}")).collect();
    for chunk in ok.chunks(8) {
        info(id, &format!("successes: {}", chunk.join(" ")));
    }
    let mut all: BTreeMap<i32, u64> = BTreeMap::new();
    for (i, st) in o.stats.ops.iter().enumerate() {
        if st.calls == 0 {
            continue;
        }
        let errs: Vec<String> = st.errs.iter().map(|(e, n)| format!("{}={n}", ename(*e))).collect();
        info(
            id,
            &format!(
                "{}: {} calls, {} ok, {}{}",
                OP_NAMES[i],
                st.calls,
                st.ok,
                if errs.is_empty() { "no errors".into() } else { errs.join(" ") },
                if st.picked > 0 {
                    format!(
                        " (picked {}, {:.0} us each)",
                        st.picked,
                        st.nanos as f64 / st.picked as f64 / 1000.0
                    )
                } else {
                    String::new()
                }
            ),
        );
        for (e, n) in &st.errs {
            *all.entry(*e).or_default() += n;
        }
    }
    let hist: Vec<String> = all.iter().map(|(e, n)| format!("{}={n}", ename(*e))).collect();
    info(id, &format!("errnos: {}", hist.join(" ")));
}

fn fuzz(id: &str, cfg: &Config, max_reports: usize) -> Result<(), String> {
    let o = run_threads(cfg);
    summarize(id, cfg, &o);
    let mut problems = o.errors.clone();
    for f in o.stats.failures.iter().take(max_reports) {
        info(id, f);
    }
    if o.stats.bad > 0 {
        problems.push(format!(
            "{} calls with an undocumented outcome (first: {})",
            o.stats.bad,
            o.stats.failures.first().map(String::as_str).unwrap_or("?")
        ));
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(format!("seed {}: {}", cfg.seed, problems.join("; ")))
    }
}

// ---- privileges and the no-access check ----

#[derive(Debug, PartialEq, Eq)]
struct User {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

fn parse_user(s: &str) -> Result<User, String> {
    let mut it = s.splitn(3, ':');
    let num = |v: Option<&str>, what: &str| -> Result<u32, String> {
        v.filter(|v| !v.is_empty())
            .ok_or_else(|| format!("--as-user {s}: no {what}"))?
            .parse()
            .map_err(|_| format!("--as-user {s}: bad {what}"))
    };
    let uid = num(it.next(), "uid")?;
    let gid = num(it.next(), "gid")?;
    let groups = match it.next() {
        None | Some("") => Vec::new(),
        Some(g) => g
            .split(',')
            .map(|x| x.parse().map_err(|_| format!("--as-user {s}: bad group {x}")))
            .collect::<Result<_, _>>()?,
    };
    Ok(User { uid, gid, groups })
}

fn drop_privileges(u: &User) -> Result<(), String> {
    use nix::unistd::{getegid, geteuid, getgid, getuid, setgid, setgroups, setuid, Gid, Uid};
    let groups: Vec<Gid> = u.groups.iter().map(|&g| Gid::from_raw(g)).collect();
    setgroups(&groups).map_err(|e| format!("setgroups: {e}"))?;
    setgid(Gid::from_raw(u.gid)).map_err(|e| format!("setgid: {e}"))?;
    setuid(Uid::from_raw(u.uid)).map_err(|e| format!("setuid: {e}"))?;
    if getuid().as_raw() != u.uid
        || geteuid().as_raw() != u.uid
        || getgid().as_raw() != u.gid
        || getegid().as_raw() != u.gid
    {
        return Err("the uid/gid did not change".into());
    }
    Ok(())
}

fn no_access(rep: &mut Reporter) {
    let mut nodes = vec![DEV.to_owned()];
    match std::fs::read_dir(HEAP_DIR) {
        Ok(d) => {
            let mut v: Vec<String> = d
                .filter_map(|e| e.ok())
                .map(|e| format!("{HEAP_DIR}/{}", e.file_name().to_string_lossy()))
                .collect();
            v.sort();
            nodes.extend(v);
        }
        Err(e) => {
            rep.run("fuzz/no-access/dma_heap", || Err(format!("cannot list {HEAP_DIR}: {e}")));
        }
    }
    let uid = nix::unistd::getuid().as_raw();
    let groups = nix::unistd::getgroups()
        .map(|g| g.iter().map(|g| g.as_raw()).collect::<Vec<_>>())
        .unwrap_or_default();
    let gid = nix::unistd::getgid().as_raw();
    for node in nodes {
        let name = node.trim_start_matches("/dev/").to_owned();
        rep.run(&format!("fuzz/no-access/{name}"), || {
            if uid == 0 {
                return Err("running as root: the check needs a user outside the nodes' group".into());
            }
            let meta = std::fs::metadata(&node).map_err(|e| format!("{node}: {e}"))?;
            let owner_gid = std::os::unix::fs::MetadataExt::gid(&meta);
            if owner_gid == gid || groups.contains(&owner_gid) {
                return Err(format!(
                    "uid {uid} is in the node's group {owner_gid}: the check is meaningless"
                ));
            }
            for (flags, what) in [(libc::O_RDWR, "O_RDWR"), (libc::O_RDONLY, "O_RDONLY")] {
                match sys_open(&node, flags | libc::O_CLOEXEC) {
                    Ok(fd) => {
                        let _ = sys_close(fd);
                        return Err(format!("uid {uid} opened {node} {what}"));
                    }
                    Err(e) if e == EACCES => {}
                    Err(e) => {
                        return Err(format!("open {node} {what} as uid {uid}: {}, expected EACCES", ename(e)))
                    }
                }
            }
            Ok(())
        });
    }
}

// ---- fatal signals ----

struct SigBuf {
    buf: [u8; 1024],
    len: usize,
}

impl SigBuf {
    /// Writes the text to stdout with one write(2), which is async-signal-safe.
    fn out(&self) {
        let _ = rustix::io::write(rustix::stdio::stdout(), &self.buf[..self.len]);
    }
    fn s(&mut self, s: &str) {
        for &b in s.as_bytes() {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
    fn n(&mut self, mut v: u64, base: u64) {
        let mut d = [0u8; 20];
        let mut i = d.len();
        loop {
            i -= 1;
            d[i] = b"0123456789abcdef"[(v % base) as usize];
            v /= base;
            if v == 0 {
                break;
            }
        }
        for &b in &d[i..] {
            if self.len < self.buf.len() {
                self.buf[self.len] = b;
                self.len += 1;
            }
        }
    }
}

extern "C" fn on_fatal(sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    let mut b = SigBuf { buf: [0; 1024], len: 0 };
    b.s("@@VCSM FAIL ");
    b.s(TEST_ID.get().map(String::as_str).unwrap_or("fuzz"));
    b.s(": fatal signal ");
    b.n(sig as u64, 10);
    b.s(" at 0x");
    // SAFETY: The kernel passes a valid siginfo to an SA_SIGINFO handler.
    let fault = unsafe { (*info).si_addr() } as u64;
    b.n(fault, 16);
    b.s(", seed ");
    b.n(SEED.load(SeqCst), 10);
    b.s("; threads in:");
    for (t, c) in CURRENT.iter().enumerate() {
        let op = c.load(SeqCst) as usize;
        if op < OP_COUNT {
            b.s(" t");
            b.n(t as u64, 10);
            b.s("=");
            b.s(OP_NAMES[op]);
            b.s("#");
            b.n(CURRENT_CALL[t].load(SeqCst), 10);
        }
    }
    b.s("\n");
    b.out();
    for (t, c) in CURRENT.iter().enumerate() {
        if c.load(SeqCst) == Op::Touch as u32 {
            let mut b = SigBuf { buf: [0; 1024], len: 0 };
            b.s("vcsm-fuzz: t");
            b.n(t as u64, 10);
            for (name, v) in ["addr", "len", "prot", "flags", "off", "label"].iter().zip(&LAST_MAP[t]) {
                b.s(" ");
                b.s(name);
                b.s("=0x");
                b.n(v.load(SeqCst), 16);
            }
            b.s("\n");
            b.out();
        }
    }
    // The recorded mmaps and munmaps that covered the faulting address.
    for ev in RING_EVENTS.iter() {
        let (k, a, l) = (ev[0].load(SeqCst), ev[1].load(SeqCst), ev[2].load(SeqCst));
        if k != 0 && a <= fault && fault < a.saturating_add(l.max(1)) {
            let mut b = SigBuf { buf: [0; 1024], len: 0 };
            b.s(if k >> 1 == 1 { "vcsm-fuzz: mmap at 0x" } else { "vcsm-fuzz: munmap 0x" });
            b.n(a, 16);
            b.s(" len 0x");
            b.n(l, 16);
            b.s(if k & 1 == 1 { " ok\n" } else { " failed\n" });
            b.out();
        }
    }
    // The process's mappings, with raw calls only (open, read, write are async-signal-safe).
    if let Ok(fd) =
        rustix::fs::open(c"/proc/self/maps", rustix::fs::OFlags::RDONLY, rustix::fs::Mode::empty())
    {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = rustix::io::read(&fd, &mut buf) {
            let _ = rustix::io::write(rustix::stdio::stdout(), &buf[..n]);
        }
    }
    vcsm_tests::exit_now(3);
}

fn install_fatal_handlers() {
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let sa = SigAction::new(SigHandler::SigAction(on_fatal), SaFlags::SA_SIGINFO, SigSet::empty());
    for sig in [Signal::SIGSEGV, Signal::SIGBUS] {
        // SAFETY: The handler only makes async-signal-safe calls (atomics, write, open, read,
        // _exit) and ends the process.
        let _ = unsafe { sigaction(sig, &sa) };
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0);
        thread_seed(t, std::process::id() as usize)
    });
    let threads = args.threads.clamp(1, MAX_THREADS);
    emit(&format!("vcsm-fuzz: seed {seed} threads {threads} calls {}", args.calls));
    SEED.store(seed, SeqCst);
    let mut rep = Reporter::new("vcsm-fuzz");
    let id = if args.expect_no_access { "fuzz/no-access".to_owned() } else { format!("fuzz/{}", args.phase) };
    let _ = TEST_ID.set(id.clone());
    install_fatal_handlers();

    if let Some(u) = &args.as_user {
        if let Err(e) = parse_user(u).and_then(|u| drop_privileges(&u)) {
            rep.run(&id, || Err(format!("cannot drop privileges to {u}: {e}")));
            rep.finish();
            return ExitCode::FAILURE;
        }
    }
    if args.expect_no_access {
        no_access(&mut rep);
        rep.finish();
        return if rep.failed == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE };
    }

    let nofile = nofile_limit();
    let base_fds = count_fds(nofile);
    // The workers' "closed" fd numbers are the top ones below the limit: lower the limit
    // under them, so that a full fd table (a legitimate EMFILE under the chaos thread) can
    // never hand one of them out and make a "closed" fd live.
    if let Err(e) = lower_nofile(nofile - threads as i32 - 2) {
        eprintln!("vcsm-fuzz: {e}");
        return ExitCode::FAILURE;
    }
    let heaps: Vec<HeapInfo> = dmabuf::Heap::list()
        .unwrap_or_default()
        .into_iter()
        .map(|name| HeapInfo { kind: heap_kind(&name), name })
        .collect();
    let _ = HEAP_NAMES.set(heaps.iter().map(|h| h.name.clone()).collect());
    let cfg = Config {
        seed,
        threads,
        calls: args.calls.max(threads as u64),
        max_depth: args.max_wrap_depth.max(1),
        max_imports: args.max_imports_per_buffer,
        heaps,
        page: dmabuf::page_size(),
        nofile,
        trace: args.trace,
        chaos: !args.no_chaos,
        only: args.only_thread.filter(|&k| k < threads),
    };
    rep.run(&id, || {
        info(
            &id,
            &format!(
                "seed {seed} threads {threads} calls {} max-wrap-depth {} max-imports-per-buffer {} chaos {} heaps {}",
                cfg.calls,
                cfg.max_depth,
                cfg.max_imports,
                cfg.chaos,
                cfg.heaps.iter().map(|h| h.name.as_str()).collect::<Vec<_>>().join(",")
            ),
        );
        info(&id, &format!("replay with: vcsm-fuzz --seed {seed} --threads {threads} --calls {}", cfg.calls));
        if cfg.heaps.is_empty() {
            return Err(format!("no heaps in {HEAP_DIR}"));
        }
        fuzz(&id, &cfg, args.max_reports)
    });
    rep.run(&format!("{id}/fds"), || {
        let now = count_fds(nofile);
        if now == base_fds {
            Ok(())
        } else {
            Err(format!("{now} fds open after the run, {base_fds} before: a call left an fd behind or closed one of ours"))
        }
    });
    rep.finish();
    if rep.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const P: u64 = 4096;

    #[test]
    fn errsets() {
        let s = ErrSet::of(&[EINVAL, EDQUOT]);
        assert!(s.has(EINVAL) && s.has(EDQUOT) && !s.has(EINTR) && !s.has(-1) && !s.has(500));
        assert_eq!(s.names(), ["EINVAL", "EDQUOT"]);
        assert_eq!(Expect::err(EBADF).or_ok().describe(), "success|EBADF");
        assert!(!Expect::set(VCSM_RUNTIME).allows(&Err(EINTR)));
        assert!(!Expect::set(IMPORT_ANY).allows(&Err(EPERM)));
    }

    #[test]
    fn import_expectations() {
        assert_eq!(expect_import(false, false, Target::DmaBuf, true), Expect::err(EFAULT));
        assert_eq!(expect_import(true, true, Target::Closed, true), Expect::err(EBADF));
        assert_eq!(expect_import(true, false, Target::NotDmaBuf, true), Expect::err(EINVAL));
        let e = expect_import(true, true, Target::DmaBuf, true);
        assert!(e.ok && e.errs.has(EDQUOT) && !e.errs.has(EINVAL) && !e.errs.has(EFAULT));
        let e = expect_import(true, false, Target::DmaBuf, false);
        assert!(!e.ok && e.errs.has(EFAULT) && e.errs.has(EINVAL));
        assert!(expect_import(true, true, Target::Unknown, true).errs.has(EBADF));
    }

    #[test]
    fn alloc_expectations() {
        assert_eq!(expect_alloc(true, true, 0), Expect::err(EINVAL));
        assert_eq!(expect_alloc(false, true, 0), Expect::err(EFAULT));
        assert!(expect_alloc(true, true, 4096).ok);
        assert!(!expect_alloc(true, false, 4096).ok);
        assert!(expect_alloc(true, true, 0xffff_ffff).errs.has(EINVAL));
    }

    #[test]
    fn heap_ioctl_expectations() {
        let good =
            HeapData { len: 4096, fd: 0, fd_flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32, heap_flags: 0 };
        let b = good.bytes();
        assert_eq!(DMA_HEAP_IOCTL_ALLOC, 0xc018_4800);
        let e = expect_heap_ioctl(DMA_HEAP_IOCTL_ALLOC, &b, 4096, 4096, P);
        assert!(e.ok && e.errs == HEAP_RUNTIME);
        assert_eq!(expect_heap_ioctl(DMA_HEAP_IOCTL_ALLOC, &b, 10, 10, P), Expect::err(EFAULT));
        // Read-only argument: no success, EFAULT on the copy-out.
        let e = expect_heap_ioctl(DMA_HEAP_IOCTL_ALLOC, &b, 4096, 0, P);
        assert!(!e.ok && e.errs.has(EFAULT));
        // Number 1 of any type: EINVAL.
        assert_eq!(expect_heap_ioctl(ioc(3, b'H', 1, 24), &b, 4096, 4096, P), Expect::err(EINVAL));
        // No IOC_WRITE: nothing copied in, length 0.
        assert_eq!(expect_heap_ioctl(ioc(IOC_READ, b'H', 0, 24), &b, 0, 0, P), Expect::err(EINVAL));
        // Size above 128 bytes: kmalloc may fail.
        let e = expect_heap_ioctl(ioc(3, b'x', 0, 200), &b, 4096, 4096, P);
        assert!(e.ok && e.errs.has(ENOMEM));
        for bad in [
            HeapData { fd: 1, ..good },
            HeapData { fd_flags: libc::O_NONBLOCK as u32, ..good },
            HeapData { heap_flags: 1, ..good },
            HeapData { len: 0, ..good },
            HeapData { len: u64::MAX, ..good },
        ] {
            assert_eq!(
                expect_heap_ioctl(DMA_HEAP_IOCTL_ALLOC, &bad.bytes(), 4096, 4096, P),
                Expect::err(EINVAL),
                "{bad:?}"
            );
        }
        // A short copy-in zeroes the rest: only the low length bytes count.
        assert!(!HeapData::from_prefix(&b, 1).valid(P));
        assert!(HeapData::from_prefix(&b, 8).valid(P));
    }

    #[test]
    fn sync_and_name_expectations() {
        assert_eq!(expect_sync(Target::DmaBuf, 8, 3), Expect::ok());
        assert_eq!(expect_sync(Target::DmaBuf, 8, 4), Expect::err(EINVAL));
        assert_eq!(expect_sync(Target::DmaBuf, 8, 8 | 1), Expect::err(EINVAL));
        assert_eq!(expect_sync(Target::DmaBuf, 7, 3), Expect::err(EFAULT));
        assert_eq!(expect_sync(Target::NotDmaBuf, 0, 3), Expect::err(ENOTTY));
        assert_eq!(expect_sync(Target::HeapNode, 8, 0), Expect::err(EINVAL));
        let mut s = [b'x'; 40];
        assert_eq!(expect_set_name(Target::DmaBuf, &s, 4096), Expect::err(EINVAL).or(ENOMEM));
        assert_eq!(expect_set_name(Target::DmaBuf, &s, 10), Expect::err(EFAULT).or(ENOMEM));
        s[31] = 0;
        assert_eq!(expect_set_name(Target::DmaBuf, &s, 4096), Expect::ok().or(ENOMEM));
        assert_eq!(expect_set_name(Target::DmaBuf, &s, 31), Expect::err(EFAULT).or(ENOMEM));
        assert_eq!(expect_set_name(Target::HeapNode, &s, 4096), Expect::err(EINVAL));
    }

    #[test]
    fn mmap_expectations() {
        let sh = libc::MAP_SHARED;
        let rw = libc::PROT_READ | libc::PROT_WRITE;
        assert_eq!(expect_mmap(Target::DmaBuf, Some(P), 1, P, rw, sh, P), Expect::err(EINVAL));
        assert_eq!(expect_mmap(Target::Closed, Some(P), 0, P, rw, sh, P), Expect::err(EBADF));
        assert_eq!(expect_mmap(Target::DmaBuf, Some(P), 0, 0, rw, sh, P), Expect::err(EINVAL));
        let e = expect_mmap(Target::DmaBuf, Some(2 * P), 0, 2 * P, rw, sh, P);
        assert!(e.ok && !e.errs.has(ENODEV) && !e.errs.has(EOVERFLOW) && !e.errs.has(EBADF));
        // Past the end of the buffer: never a success.
        assert!(!expect_mmap(Target::DmaBuf, Some(2 * P), P, 2 * P, rw, sh, P).ok);
        assert!(!expect_mmap(Target::DmaBuf, Some(2 * P), 0, 2 * P + 1, rw, sh, P).ok);
        let e = expect_mmap(Target::NotDmaBuf, None, 0, P, rw, sh, P);
        assert!(!e.ok && e.errs.has(ENODEV));
        assert!(expect_mmap(Target::DmaBuf, Some(P), 1 << 63, P, rw, sh, P).errs.has(EOVERFLOW));
        assert!(!expect_mmap(Target::DmaBuf, Some(P), 0, P, rw, 0, P).ok);
        assert!(expect_mmap(Target::DmaBuf, Some(P), 0, P, rw, libc::MAP_SHARED_VALIDATE, P)
            .errs
            .has(EOPNOTSUPP));
        assert!(expect_mmap(Target::Unknown, None, 0, P, rw, sh, P).errs.has(EBADF));
    }

    #[test]
    fn import_accounting_follows_wrapper_chains() {
        let mut im = Imports::default();
        let now = Instant::now();
        let w1 = im.reserve(7, 0);
        let w2 = im.reserve(7, w1);
        let w3 = im.reserve(7, w2);
        assert_eq!(im.count(7), 3);
        // Closing the middle and the first wrapper: both stay mapped while w3 lives.
        im.drop_token(w2, now);
        im.drop_token(w1, now);
        im.reap(None);
        assert_eq!(im.count(7), 3);
        // Closing w3 releases the whole chain, after the linger time.
        im.drop_token(w3, now + Duration::from_secs(5));
        im.reap(Some(now + Duration::from_secs(1)));
        assert_eq!(im.count(7), 3);
        im.reap(Some(now + Duration::from_secs(6)));
        assert_eq!(im.count(7), 0);
        assert!(im.tokens.is_empty());
        // A failed import gives its source's reference back.
        let a = im.reserve(9, 0);
        let b = im.reserve(9, a);
        im.drop_token(b, now);
        im.drop_token(a, now);
        im.reap(None);
        assert_eq!(im.count(9), 0);
        assert_eq!(im.reserve(0, 0), 0);
    }

    #[test]
    fn users() {
        assert_eq!(parse_user("1000:1000:44").unwrap(), User { uid: 1000, gid: 1000, groups: vec![44] });
        assert_eq!(parse_user("1001:1001").unwrap(), User { uid: 1001, gid: 1001, groups: vec![] });
        assert_eq!(parse_user("1:2:3,4").unwrap().groups, [3, 4]);
        assert!(parse_user("1000").is_err());
        assert!(parse_user("a:b").is_err());
        assert!(parse_user("1:2:x").is_err());
    }

    #[test]
    fn seeds_are_distinct_and_stable() {
        assert_ne!(thread_seed(1, 0), thread_seed(1, 1));
        assert_ne!(thread_seed(1, 0), thread_seed(2, 0));
        assert_eq!(thread_seed(42, 3), thread_seed(42, 3));
        let mut a = SmallRng::seed_from_u64(thread_seed(7, 0));
        let mut b = SmallRng::seed_from_u64(thread_seed(7, 0));
        assert_eq!(a.random::<u64>(), b.random::<u64>());
    }

    #[test]
    fn arena_places_arguments() {
        let page = dmabuf::page_size();
        let a = Arena::new(page).unwrap();
        let mut rng = SmallRng::seed_from_u64(1);
        let bytes = [7u8; 64];
        for _ in 0..200 {
            let g = a.place(&mut rng, PtrClass::Good, &bytes);
            assert!(g.can_read(64) && g.can_write(64) && g.addr.is_multiple_of(8));
            assert_eq!(Arena::read_u32(&g, 60), 0x0707_0707);
            let m = a.place(&mut rng, PtrClass::Misaligned, &bytes);
            assert!(!m.addr.is_multiple_of(8) && m.can_read(64));
            let r = a.place(&mut rng, PtrClass::ReadOnly, &bytes);
            assert!(r.can_read(64) && !r.can_write(1));
            assert_eq!(Arena::read_u32(&r, 0), 0x0707_0707);
            let mut b = [0];
            // SAFETY: `r` was placed in the arena's read-only page.
            unsafe { hostile::peek(r.addr, &mut b) };
            assert_eq!(b[0], 7);
            let s = a.place(&mut rng, PtrClass::Straddle, &bytes);
            assert!(!s.can_read(64) && s.addr + s.readable == a.guard());
        }
        // The kernel sees what we see: a write through the RO view fails, the guard faults.
        let r = a.place(&mut rng, PtrClass::ReadOnly, &bytes);
        let (rx, tx) = nix::unistd::pipe2(OFlag::O_CLOEXEC).unwrap();
        assert_eq!(nix::unistd::write(&tx, &bytes[..8]), Ok(8));
        // SAFETY: read(2) into a read-only page must fail with EFAULT rather than write.
        assert_eq!(unsafe { libc::read(rx.as_raw_fd(), r.addr as *mut libc::c_void, 8) }, -1);
        assert_eq!(errno(), EFAULT);
    }
}
