//! Guest tests of the vc-sm-cma driver (`/dev/vcsm-cma`) against the simulated VideoCore
//! (`vpu-sim.ko`), run in the guest:
//!
//! ```text
//! vcsm-client [--heap vcsm-uncached] [--only TEXT]...
//! vcsm-client --hold-exit      (import, let the VPU hold it, exit; for the unload test)
//! ```
//!
//! Prints `@@VCSM RUN|PASS|FAIL vcsm/<test>` lines (see the `vcsm_tests` crate docs); exits 1
//! if any test failed. The tests read the driver's debugfs `vcsm-cma/state` and drive the
//! simulator through debugfs `vpu-sim/` (fill, checksum, hold, drop, delays, hang).

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use dmabuf::vcsm::VcsmBuf as Imported;
use dmabuf::{DmaBuf, Heap, Prot, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_WRITE};
use nix::sys::signal::{kill, sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
use nix::sys::wait::WaitStatus;
use vcsm_tests::{
    expect_errno, info, kv_pairs, map_checksum, map_fill, parse_u64, pattern_checksum, sim_knobs_default,
    sim_read, sim_write, with_cpu_access, Context, Reporter, SIM_DIR, TIMEOUT_PARAM,
};
use vcsm_uapi::{
    VcSmCmaIoctlAlloc, VcSmCmaIoctlImportDmabuf, VC_SM_CMA_IOCTL_MEM_ALLOC,
    VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2, VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF,
};

const DEV: &str = "/dev/vcsm-cma";
const STATE: &str = dmabuf::state::STATE_FILE;
const SIM: &str = SIM_DIR;
const BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
const KAPI: &str = "/sys/kernel/debug/vcsm-kapi-test/run";
const SCATTERED: &str = "/sys/kernel/debug/vcsm-kapi-test/scattered";
const FAR: &str = "/sys/kernel/debug/vcsm-kapi-test/far";
const NEST: &str = "/sys/kernel/debug/vcsm-kapi-test/nest";
const MIB: u64 = 1 << 20;

#[derive(Parser, Debug)]
#[command(about = "Guest tests of /dev/vcsm-cma against the simulated VPU (@@VCSM line protocol)")]
struct Args {
    /// Heap the source buffers come from (physically contiguous).
    #[arg(long, default_value = "vcsm-uncached")]
    heap: String,

    /// A second contiguous heap whose buffers are imported too.
    #[arg(long, default_value = "vcsm-cached")]
    cached_heap: String,

    /// A heap whose buffers are not contiguous (importing them must fail).
    #[arg(long, default_value = "system")]
    scattered_heap: String,

    /// Only run tests whose id contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,

    /// Most import-and-close cycles of the transaction-id test (each cycle uses two ids); it
    /// stops once the driver's ids are 4000 past 65536 (load the driver with `first_trans_id`
    /// to get there sooner).
    #[arg(long, default_value_t = 40_000)]
    cycles: u32,

    /// Frames the V4L2 test streams from vivid into the VPU.
    #[arg(long, default_value_t = 200)]
    v4l2_frames: u32,

    /// Threads and imports per thread of the concurrency test.
    #[arg(long, default_value_t = 8)]
    threads: u32,
    #[arg(long, default_value_t = 1000)]
    per_thread: u32,

    /// Instead of testing: import a buffer, have the VPU hold it, print `HELD <handle>` and exit.
    #[arg(long)]
    hold_exit: bool,

    /// Instead of testing: import a buffer, print `HOLDING <handle>` and keep it until killed.
    #[arg(long)]
    hold: bool,

    /// Instead of testing: time N import/close cycles (and N bare dma-buf syncs as a baseline).
    #[arg(long, value_name = "N")]
    bench: Option<u32>,
}

// ---- the device ----

/// `/dev/vcsm-cma`.
struct Dev {
    dev: dmabuf::vcsm::Vcsm,
}

/// The argument of a raw [`ioctl`]: one the kernel cannot write to, or a buffer that holds
/// whatever size a command encodes (`_IOC_SIZE` is at most 64 bytes here).
enum Arg<'a> {
    /// NULL.
    Null,
    /// A read-only page (the kernel's copy back faults: `EFAULT`).
    ReadOnly(&'a memmap2::Mmap),
    /// A buffer of ours.
    Buf(&'a mut [u8; 64]),
}

/// An ioctl with a deliberately odd argument, which the kernel checks
/// ([`vcsm_tests::hostile::ioctl`]). A command whose size exceeds an [`Arg::Buf`] is refused
/// (`EINVAL`) without the call.
fn ioctl(fd: RawFd, cmd: u32, arg: Arg<'_>) -> io::Result<i32> {
    let size = ((cmd >> 16) & 0x3fff) as usize;
    let addr = match arg {
        Arg::Null => 0,
        Arg::ReadOnly(page) => page.as_ptr() as usize,
        Arg::Buf(buf) if size <= buf.len() => buf.as_mut_ptr() as usize,
        Arg::Buf(_) => return Err(io::Error::from_raw_os_error(libc::EINVAL)),
    };
    // SAFETY: the kernel can write nothing through NULL or a read-only page, and at most
    // `size` bytes, which the exclusively borrowed buffer holds.
    unsafe { vcsm_tests::hostile::ioctl(fd, cmd, addr) }
        .map(|r| r as i32)
        .map_err(io::Error::from_raw_os_error)
}

impl Dev {
    fn open() -> Result<Dev, String> {
        Ok(Dev { dev: dmabuf::vcsm::Vcsm::open(DEV).ctx(DEV)? })
    }

    fn fd(&self) -> RawFd {
        self.dev.as_raw_fd()
    }

    fn import_fd(&self, fd: RawFd) -> io::Result<Imported> {
        self.dev.import_raw(fd, b"test")
    }

    fn import(&self, src: &DmaBuf) -> io::Result<Imported> {
        self.import_fd(src.as_raw_fd())
    }

    fn alloc(&self, size: u32, name: &[u8]) -> io::Result<Imported> {
        self.dev.alloc(size, name)
    }
}

// ---- the driver's and the simulator's state ----

/// One `buffer ...` line of the driver's state file.
#[derive(Debug, Clone)]
struct BufLine {
    id: u32,
    fields: HashMap<String, String>,
}

impl BufLine {
    fn get(&self, key: &str) -> &str {
        self.fields.get(key).map(String::as_str).unwrap_or("")
    }
}

#[derive(Debug)]
struct DrvState {
    bufs: Vec<BufLine>,
    kv: HashMap<String, String>,
    text: String,
}

impl DrvState {
    fn read() -> Result<DrvState, String> {
        let text = fs::read_to_string(STATE).ctx(STATE)?;
        let state = dmabuf::state::parse(&text);
        let bufs = state
            .buffers
            .iter()
            .map(|pairs| {
                let fields: HashMap<String, String> = pairs.iter().cloned().collect();
                let id = fields.get("id").and_then(|v| v.parse().ok()).unwrap_or(0);
                BufLine { id, fields }
            })
            .collect();
        let kv = state.pairs_except(&[]).collect();
        Ok(DrvState { bufs, kv, text })
    }

    fn num(&self, key: &str) -> u64 {
        self.kv.get(key).and_then(|v| parse_u64(v)).unwrap_or(u64::MAX)
    }

    fn by_handle(&self, vc_handle: u32) -> Option<&BufLine> {
        let h = format!("{vc_handle:#x}");
        self.bufs.iter().find(|b| b.get("vc_handle") == h)
    }
}

/// A `handle ...` line of the simulator's state file.
#[derive(Debug)]
struct SimHandle {
    addr: u64,
    size: u64,
    kernel_id: u64,
    refs: u64,
}

struct SimState {
    handles: HashMap<u32, SimHandle>,
    text: String,
}

impl SimState {
    fn read() -> Result<SimState, String> {
        let path = format!("{SIM}/state");
        let text = fs::read_to_string(&path).ctx(&path)?;
        let mut handles = HashMap::new();
        for line in text.lines() {
            let w: Vec<&str> = line.split_ascii_whitespace().collect();
            if w.first() != Some(&"handle") || w.len() < 11 {
                continue;
            }
            let field = |name: &str| {
                w.iter()
                    .position(|x| *x == name)
                    .and_then(|i| w.get(i + 1))
                    .and_then(|v| parse_u64(v))
                    .unwrap_or(0)
            };
            let h = parse_u64(w[1]).unwrap_or(0) as u32;
            handles.insert(
                h,
                SimHandle {
                    addr: field("addr"),
                    size: field("size"),
                    kernel_id: field("kernel_id"),
                    refs: field("refs"),
                },
            );
        }
        Ok(SimState { handles, text })
    }
}

/// Puts the simulator's knobs back to their defaults and the driver's timeout to 3 s.
fn sim_defaults() {
    let _ = sim_knobs_default();
    let _ = fs::write(TIMEOUT_PARAM, "3000");
}

/// The VPU checksums the buffer of `vc_handle`.
fn vpu_checksum(vc_handle: u32) -> Result<u32, String> {
    sim_write("checksum", &format!("{vc_handle:#x}"))?;
    let text = sim_read("checksum")?;
    let w: Vec<&str> = text.split_ascii_whitespace().collect();
    let pos = w.iter().position(|x| *x == "checksum").ok_or_else(|| format!("no checksum in '{text}'"))?;
    w.get(pos + 1)
        .and_then(|v| parse_u64(v))
        .map(|v| v as u32)
        .ok_or_else(|| format!("bad checksum line '{text}'"))
}

/// The VPU writes the pattern of `seed` into the buffer of `vc_handle`.
fn vpu_fill(vc_handle: u32, seed: u32) -> Result<(), String> {
    sim_write("fill", &format!("{vc_handle:#x} {seed:#x}"))
}

/// Polls `cond` every 20 ms for up to `ms`; returns its last result.
fn wait_for(ms: u64, mut cond: impl FnMut() -> Result<bool, String>) -> Result<bool, String> {
    let end = Instant::now() + Duration::from_millis(ms);
    loop {
        if cond()? {
            return Ok(true);
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the driver knows no buffer and the simulator holds no handle.
fn wait_idle(ms: u64) -> Result<(), String> {
    let ok = wait_for(ms, || Ok(DrvState::read()?.bufs.is_empty() && SimState::read()?.handles.is_empty()))?;
    if ok {
        Ok(())
    } else {
        Err(format!(
            "not idle after {ms} ms: driver:\n{}\nsimulator:\n{}",
            DrvState::read().map(|s| s.text).unwrap_or_default(),
            SimState::read().map(|s| s.text).unwrap_or_default()
        ))
    }
}

/// dma-bufs alive whose exporter is `exp_name` (from the dma-buf core's own list).
fn bufinfo_count(exp_name: &str) -> Result<usize, String> {
    let text = fs::read_to_string(BUFINFO).ctx(BUFINFO)?;
    Ok(text.lines().filter(|l| l.split_ascii_whitespace().any(|w| w == exp_name)).count())
}

// ---- tests ----

#[path = "vcsm-client/holes.rs"]
mod holes;
#[path = "vcsm-client/v4l2.rs"]
mod v4l2;

struct T<'a> {
    args: &'a Args,
    dev: Dev,
    heap: Heap,
    /// The second contiguous heap (`--cached-heap`), if it exists.
    cached: Option<Heap>,
}

impl T<'_> {
    fn src(&self, size: u64) -> Result<DmaBuf, String> {
        self.heap.allocate(size).with_ctx(|| format!("allocate {size} bytes from {}", self.heap.name()))
    }
}

/// Checks a fresh import against the driver's and the simulator's state.
fn check_listed(imp: &Imported, origin: &str, exporter: &str, size: u64) -> Result<BufLine, String> {
    if imp.vc_handle == 0 {
        return Err("vc_handle 0".into());
    }
    let st = DrvState::read()?;
    let b = st
        .by_handle(imp.vc_handle)
        .ok_or_else(|| format!("handle {:#x} not in state:\n{}", imp.vc_handle, st.text))?;
    let want = [
        ("origin", origin.to_owned()),
        ("exporter", exporter.to_owned()),
        ("vpu", "mapped".to_owned()),
        ("wrapped", "yes".to_owned()),
        ("size", size.to_string()),
        ("dma", format!("{:#x}", imp.dma_addr)),
        ("pid", std::process::id().to_string()),
    ];
    for (k, v) in want {
        if b.get(k) != v {
            return Err(format!("state {k}={} expected {v}: {b:?}", b.get(k)));
        }
    }
    let vpu_addr = parse_u64(b.get("vpu_addr")).unwrap_or(0);
    if vpu_addr & 0xc000_0000 != 0xc000_0000 {
        return Err(format!("VPU address {vpu_addr:#x} lacks the 0xC0000000 alias"));
    }
    let sim = SimState::read()?;
    let h = sim
        .handles
        .get(&imp.vc_handle)
        .ok_or_else(|| format!("simulator has no handle {:#x}", imp.vc_handle))?;
    if h.kernel_id != u64::from(b.id) || h.addr != vpu_addr || h.size != size {
        return Err(format!("simulator handle {h:?} differs from {b:?}"));
    }
    Ok(b.clone())
}

fn fdinfo(fd: RawFd) -> Result<HashMap<String, String>, String> {
    let path = format!("/proc/self/fdinfo/{fd}");
    let text = fs::read_to_string(&path).ctx(&path)?;
    Ok(text
        .lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect())
}

fn t_import_basic(t: &T, heap: &Heap, size: u64) -> Result<(), String> {
    let src = heap.allocate(size).with_ctx(|| format!("allocate from {}", heap.name()))?;
    let imp = t.dev.import(&src).ctx("MEM_IMPORT_DMABUF")?;
    if u64::from(imp.size) != size || imp.dma_addr == 0 {
        return Err(format!("size {} dma_addr {:#x}", imp.size, imp.dma_addr));
    }
    let fi = fdinfo(imp.buf.as_raw_fd())?;
    if fi.get("exp_name").map(String::as_str) != Some("vc-sm-cma") {
        return Err(format!("wrapper fdinfo {fi:?}"));
    }
    if imp.buf.size().ctx("wrapper size")? != size {
        return Err("wrapper size differs from the source".into());
    }
    // The wrapper is close-on-exec, as dma_buf_fd(O_CLOEXEC) makes it.
    let flags =
        nix::fcntl::fcntl(&imp.buf, nix::fcntl::FcntlArg::F_GETFD).map_err(|e| format!("F_GETFD: {e}"))?;
    if flags & libc::FD_CLOEXEC == 0 {
        return Err("wrapper fd is not close-on-exec".into());
    }
    check_listed(&imp, "import", heap.name(), size)?;
    drop(imp);
    wait_idle(2000)?;
    drop(src);
    Ok(())
}

fn t_zero_copy(t: &T) -> Result<(), String> {
    let size = MIB;
    let len = size as usize;
    let src = t.src(size)?;
    let imp = t.dev.import(&src).ctx("import")?;
    let mut map = imp.buf.mmap(0, len, Prot::READ | Prot::WRITE).ctx("mmap wrapper")?;
    // The CPU writes through the wrapper; the VPU reads the same bytes.
    with_cpu_access(&imp.buf, DMA_BUF_SYNC_WRITE, || {
        map_fill(&mut map, 0x1234);
        Ok(())
    })?;
    let want = pattern_checksum(len, 0x1234);
    let vpu = vpu_checksum(imp.vc_handle)?;
    if vpu != want {
        return Err(format!("VPU checksum {vpu:#x}, CPU wrote {want:#x}"));
    }
    // The VPU writes; the CPU reads it through the wrapper and through the source.
    vpu_fill(imp.vc_handle, 0x5678)?;
    let vpu = vpu_checksum(imp.vc_handle)?;
    let cpu = with_cpu_access(&imp.buf, DMA_BUF_SYNC_READ, || Ok(map_checksum(&map)))?;
    let smap = src.mmap(0, len, Prot::READ).ctx("mmap source")?;
    let cpu_src = map_checksum(&smap);
    let want = pattern_checksum(len, 0x5678);
    if vpu != want || cpu != want || cpu_src != want {
        return Err(format!("VPU {vpu:#x}, wrapper {cpu:#x}, source {cpu_src:#x}, pattern {want:#x}"));
    }
    // A mapping at an offset (the VMA's page offset is forwarded to the source).
    let off = 64 * 1024;
    let part = imp.buf.mmap(off as u64, 4096, Prot::READ).ctx("mmap wrapper at an offset")?;
    let (a, b) = (part.read_u8(0), smap.read_u8(off));
    if a.is_none() || a != b {
        return Err("offset mapping shows other bytes".into());
    }
    drop((map, part, smap));
    drop(imp);
    wait_idle(2000)
}

fn t_alloc(t: &T) -> Result<(), String> {
    // Not page aligned: rounded up.
    let mut imp = t.dev.alloc(100_000, b"test-alloc").ctx("MEM_ALLOC")?;
    let size = imp.buf.size().ctx("size")?;
    if size != 102_400 {
        return Err(format!("allocated {size} bytes, expected 102400"));
    }
    // MEM_ALLOC reports the size asked for; the listing has the rounded one (checked above).
    imp.size = 102_400;
    let b = check_listed(&imp, "alloc", "vc-sm-cma", size)?;
    if b.get("name") != "test-alloc" {
        return Err(format!("name {}", b.get("name")));
    }
    let len = size as usize;
    let mut map = imp.buf.mmap(0, len, Prot::READ | Prot::WRITE).ctx("mmap")?;
    map_fill(&mut map, 0x42);
    let vpu = vpu_checksum(imp.vc_handle)?;
    if vpu != pattern_checksum(len, 0x42) {
        return Err("VPU sees other data than the CPU wrote".into());
    }
    vpu_fill(imp.vc_handle, 0x43)?;
    if map_checksum(&map) != pattern_checksum(len, 0x43) {
        return Err("CPU sees other data than the VPU wrote".into());
    }
    drop(map);
    drop(imp);
    wait_idle(2000)?;
    expect_errno(t.dev.alloc(0, b"zero"), &[libc::EINVAL], "MEM_ALLOC of 0 bytes")?;
    // Over the default per-process pin cap (128 MiB) before it is larger than any CMA pool.
    expect_errno(
        t.dev.alloc(0xffff_ffff, b"huge"),
        &[libc::EDQUOT, libc::ENOMEM, libc::EINVAL],
        "MEM_ALLOC of 4 GiB",
    )?;
    wait_idle(2000)
}

fn t_bad_fds(t: &T) -> Result<(), String> {
    let null = File::open("/dev/null").ctx("/dev/null")?;
    expect_errno(t.dev.import_fd(null.as_raw_fd()), &[libc::EINVAL], "import of /dev/null")?;
    expect_errno(t.dev.import_fd(-1), &[libc::EBADF], "import of fd -1")?;
    expect_errno(t.dev.import_fd(999_999), &[libc::EBADF], "import of fd 999999")?;
    let closed = t.src(4096)?.into_fd().as_raw_fd();
    expect_errno(t.dev.import_fd(closed), &[libc::EBADF], "import of a closed fd")?;
    // The device itself is no dma-buf either.
    expect_errno(t.dev.import_fd(t.dev.fd()), &[libc::EINVAL], "import of /dev/vcsm-cma")?;
    wait_idle(1000)
}

/// A dma-buf the kernel-API test module exports (reading `path` installs it as an fd).
fn test_buf(path: &str) -> Result<DmaBuf, String> {
    let text = fs::read_to_string(path).ctx(path)?;
    let fd: RawFd = text
        .trim()
        .strip_prefix("fd ")
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| format!("bad answer '{text}' from {path}"))?;
    // SAFETY: The module installed a new fd for us.
    Ok(DmaBuf::from_fd(unsafe { OwnedFd::from_raw_fd(fd) }))
}

fn t_not_contiguous(t: &T) -> Result<(), String> {
    // Two separate pages: two DMA segments.
    let src = test_buf(SCATTERED)?;
    expect_errno(t.dev.import(&src), &[libc::EINVAL], "import of a two-segment buffer")?;
    drop(src);
    // A system-heap buffer is scattered too (or out of the VPU's reach): refused either way.
    if let Ok(heap) = Heap::open(&t.args.scattered_heap) {
        let src = heap.allocate(4 * MIB).ctx("allocate from the system heap")?;
        expect_errno(t.dev.import(&src), &[libc::EINVAL, libc::EIO], "import of a system-heap buffer")?;
    }
    wait_idle(1000)
}

/// A page the VPU cannot reach: mapping it for the VPU gives a swiotlb bounce buffer, whose
/// address the VPU must never get.
fn t_out_of_reach(t: &T) -> Result<(), String> {
    let src = test_buf(FAR)?;
    expect_errno(t.dev.import(&src), &[libc::EINVAL], "import of a page outside the VPU's window")?;
    wait_idle(1000)
}

/// The lowest fd number not in use.
fn lowest_free_fd() -> Result<RawFd, String> {
    // dup of stdin returns the lowest free number; it is closed at once.
    let fd = nix::unistd::dup(io::stdin()).map_err(|_| "dup failed".to_owned())?;
    Ok(fd.as_raw_fd())
}

fn fd_open(fd: RawFd) -> bool {
    // Is the number in the descriptor table?
    fs::symlink_metadata(format!("/proc/self/fd/{fd}")).is_ok()
}

/// A page mapped read-only holding `bytes`: the driver can read its argument but not write the
/// result back.
fn read_only_page(bytes: &[u8]) -> Result<memmap2::Mmap, String> {
    let mut page = memmap2::MmapMut::map_anon(4096).map_err(|e| format!("mmap: {e}"))?;
    page.get_mut(..bytes.len()).ok_or("argument larger than a page")?.copy_from_slice(bytes);
    page.make_read_only().map_err(|e| format!("mprotect: {e}"))
}

fn t_bad_pointer(t: &T) -> Result<(), String> {
    expect_errno(
        ioctl(t.dev.fd(), VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, Arg::Null),
        &[libc::EFAULT],
        "import with a NULL argument",
    )?;
    expect_errno(
        ioctl(t.dev.fd(), VC_SM_CMA_IOCTL_MEM_ALLOC, Arg::Null),
        &[libc::EFAULT],
        "alloc with a NULL argument",
    )?;
    let src = t.src(MIB)?;
    let sim_before = SimState::read()?.text;
    // Import: everything succeeds until the result is copied back.
    let arg = VcSmCmaIoctlImportDmabuf::new(src.as_raw_fd(), b"ro");
    let page = read_only_page(&arg.to_ne_bytes())?;
    let free = lowest_free_fd()?;
    expect_errno(
        ioctl(t.dev.fd(), VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, Arg::ReadOnly(&page)),
        &[libc::EFAULT],
        "import into a read-only argument",
    )?;
    if fd_open(free) {
        return Err(format!("fd {free} was left open by the failed import"));
    }
    // No VPU handle stays behind either (FREE, then RELEASED).
    wait_idle(2000).map_err(|e| format!("after the failed import: {e}; before: {sim_before}"))?;
    // The same for an allocation.
    let arg = VcSmCmaIoctlAlloc::new(8192, b"ro");
    let page2 = read_only_page(&arg.to_ne_bytes())?;
    expect_errno(
        ioctl(t.dev.fd(), VC_SM_CMA_IOCTL_MEM_ALLOC, Arg::ReadOnly(&page2)),
        &[libc::EFAULT],
        "alloc into a read-only argument",
    )?;
    if fd_open(free) {
        return Err(format!("fd {free} was left open by the failed allocation"));
    }
    wait_idle(2000)?;
    drop((page, page2));
    Ok(())
}

fn t_ioctl_numbers(t: &T) -> Result<(), String> {
    let mut buf = [0u8; 64];
    // Same _IOC_NR as the real commands, other direction or size: unknown.
    for cmd in [0xc040_4a5b_u32, 0x4040_4a5b, 0x8020_4a5b, 0x8040_4a5d, 0x8040_4b5b, 0x0000_4a5a, 0] {
        expect_errno(ioctl(t.dev.fd(), cmd, Arg::Buf(&mut buf)), &[libc::ENOTTY], format!("ioctl {cmd:#x}"))?;
    }
    // CLEAN_INVALID2 (and its 32-bit size) are refused with a hint to DMA_BUF_IOCTL_SYNC.
    expect_errno(
        ioctl(t.dev.fd(), VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2, Arg::Buf(&mut buf)),
        &[libc::EINVAL],
        "CLEAN_INVALID2",
    )?;
    expect_errno(
        ioctl(t.dev.fd(), 0x8004_4a5c, Arg::Buf(&mut buf)),
        &[libc::EINVAL],
        "CLEAN_INVALID2 (compat size)",
    )?;
    Ok(())
}

/// The driver's count of transaction ids used so far.
fn last_trans_id() -> Result<u64, String> {
    Ok(DrvState::read()?.num("last_id"))
}

fn t_many(t: &T) -> Result<(), String> {
    let src = t.src(64 * 1024)?;
    let errors_before = error_counters()?;
    let start_id = last_trans_id()?;
    let t0 = Instant::now();
    let mut done = 0;
    for i in 0..t.args.cycles {
        if i % 500 == 0 && last_trans_id()? > 69_536 {
            break;
        }
        let imp = t.dev.import(&src).with_ctx(|| format!("import #{i}"))?;
        if imp.vc_handle == 0 {
            return Err(format!("import #{i}: handle 0"));
        }
        done += 1;
    }
    wait_idle(5000)?;
    let st = DrvState::read()?;
    let end_id = st.num("last_id");
    info(
        "vcsm/transactions-65536",
        &format!(
            "{} imports in {:.1} s, transaction ids {} -> {}",
            done,
            t0.elapsed().as_secs_f64(),
            start_id,
            end_id
        ),
    );
    if end_id <= 65_536 {
        return Err(format!("only reached transaction id {end_id}; raise --cycles"));
    }
    if error_counters()? != errors_before {
        return Err(format!("replies lost or unmatched: {}", st.text));
    }
    Ok(())
}

/// Counters of lost, unmatched or duplicated messages.
fn error_counters() -> Result<[u64; 3], String> {
    let st = DrvState::read()?;
    Ok([st.num("unexpected_replies"), st.num("timeouts"), st.num("released_unknown")])
}

fn t_concurrent(t: &T) -> Result<(), String> {
    let errors_before = error_counters()?;
    let failed = Arc::new(AtomicBool::new(false));
    let mut workers = Vec::new();
    let t0 = Instant::now();
    for n in 0..t.args.threads {
        let heap = Heap::open(&t.args.heap).map_err(|e| e.to_string())?;
        let per = t.args.per_thread;
        let failed = failed.clone();
        workers.push(thread::spawn(move || -> Result<(), String> {
            let dev = Dev::open()?;
            let src = heap.allocate(16 * 1024).ctx("allocate")?;
            let mut held = Vec::new();
            for i in 0..per {
                if failed.load(Ordering::Relaxed) {
                    return Ok(());
                }
                let imp = dev.import(&src).with_ctx(|| format!("thread {n} import #{i}"))?;
                if imp.vc_handle == 0 {
                    return Err(format!("thread {n} import #{i}: handle 0"));
                }
                // Keep a few alive at a time, release them in another order.
                held.push(imp);
                if held.len() > 4 {
                    held.swap_remove((i as usize * 7) % held.len());
                }
            }
            Ok(())
        }));
    }
    let mut errors = Vec::new();
    for w in workers {
        match w.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed.store(true, Ordering::Relaxed);
                errors.push(e);
            }
            Err(_) => errors.push("a thread panicked".into()),
        }
    }
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    wait_idle(10_000)?;
    info(
        "vcsm/concurrent",
        &format!(
            "{} threads x {} imports in {:.1} s",
            t.args.threads,
            t.args.per_thread,
            t0.elapsed().as_secs_f64()
        ),
    );
    if error_counters()? != errors_before {
        return Err(format!("protocol errors: {}", DrvState::read()?.text));
    }
    Ok(())
}

/// The source stays alive after the process exits while the VPU holds a reference; it is
/// released only after RELEASED.
fn t_source_outlives_process(t: &T) -> Result<(), String> {
    let before = bufinfo_count(t.heap.name())?;
    // The program is single-threaded here (spawn checks).
    let pid = vcsm_tests::spawn(|| match hold_and_exit(&t.args.heap, 0x77) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("child: {e}");
            1
        }
    })?;
    let status = vcsm_tests::wait_child(pid)?;
    if status != WaitStatus::Exited(pid, 0) {
        return Err(format!("child failed ({status:?})"));
    }
    // The process is gone; its wrapper and source fds are closed.
    let st = DrvState::read()?;
    let b = st.bufs.first().ok_or_else(|| format!("no buffer after the process exited:\n{}", st.text))?;
    if st.bufs.len() != 1 || b.get("vpu") != "unmapping" || b.get("wrapped") != "no" {
        return Err(format!("expected one unmapping buffer:\n{}", st.text));
    }
    let h = parse_u64(b.get("vc_handle")).unwrap_or(0) as u32;
    if bufinfo_count(t.heap.name())? != before + 1 {
        return Err("the source dma-buf was freed while the VPU holds it".into());
    }
    // The memory is intact and still the source's: the VPU reads what the child wrote.
    let refs = SimState::read()?.handles.get(&h).map(|s| s.refs).unwrap_or(0);
    if refs != 1 {
        return Err(format!("the VPU has {refs} references to handle {h:#x}, expected its 1 hold"));
    }
    let sum = vpu_checksum(h)?;
    if sum != pattern_checksum(MIB as usize, 0x77) {
        return Err(format!("VPU reads {sum:#x}, not what the process wrote"));
    }
    sim_write("drop", &format!("{h:#x}"))?;
    wait_idle(2000)?;
    // The last reference is dropped on the driver's work queue; a kernel thread's final fput is
    // deferred a little.
    if !wait_for(2000, || Ok(bufinfo_count(t.heap.name())? == before))? {
        return Err("the source dma-buf is still alive after RELEASED".into());
    }
    Ok(())
}

/// Imports a 1 MiB buffer, fills it with the pattern of `seed`, has the VPU hold it, and
/// returns (the caller exits, closing everything).
fn hold_and_exit(heap: &str, seed: u32) -> Result<(), String> {
    let heap = Heap::open(heap).map_err(|e| e.to_string())?;
    let dev = Dev::open()?;
    let src = heap.allocate(MIB).ctx("allocate")?;
    let imp = dev.import(&src).ctx("import")?;
    let mut map = src.mmap(0, MIB as usize, Prot::READ | Prot::WRITE).ctx("mmap")?;
    map_fill(&mut map, seed);
    sim_write("hold", &format!("{:#x}", imp.vc_handle))?;
    println!("HELD {:#x}", imp.vc_handle);
    Ok(())
}

/// An IMPORT interrupted by a signal while the VPU delays its reply: the source is kept until
/// the late reply's handle is freed and released, so the VPU never maps freed memory.
fn t_interrupted(t: &T) -> Result<(), String> {
    let before = bufinfo_count(t.heap.name())?;
    sim_write("reply_delay_ms", "1500")?;
    sim_write("release_delay_ms", "800")?;
    let result = interrupted_inner(t, before);
    sim_defaults();
    result?;
    wait_idle(3000)
}

extern "C" fn on_signal(_: libc::c_int) {}

fn interrupted_inner(t: &T, before: usize) -> Result<(), String> {
    let pid = vcsm_tests::spawn(|| {
        // No SA_RESTART: the interrupted ioctl returns EINTR.
        let sa = SigAction::new(SigHandler::Handler(on_signal), SaFlags::empty(), SigSet::empty());
        // SAFETY: The handler does nothing, so it is async-signal-safe.
        if let Err(e) = unsafe { sigaction(Signal::SIGUSR1, &sa) } {
            eprintln!("child: sigaction: {e}");
            return 1;
        }
        let code = (|| -> Result<i32, String> {
            let heap = Heap::open(&t.args.heap).map_err(|e| e.to_string())?;
            let dev = Dev::open()?;
            let src = heap.allocate(MIB).ctx("allocate")?;
            match dev.import(&src) {
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => Ok(0),
                Err(e) => Err(format!("import failed with {e}, expected EINTR")),
                Ok(_) => Err("import was not interrupted".into()),
            }
        })();
        match code {
            Ok(c) => c,
            Err(e) => {
                eprintln!("child: {e}");
                1
            }
        }
    })?;
    thread::sleep(Duration::from_millis(400));
    let _ = kill(pid, Signal::SIGUSR1);
    let status = vcsm_tests::wait_child(pid)?;
    if status != WaitStatus::Exited(pid, 0) {
        return Err(format!("child failed ({status:?})"));
    }
    // The reply is still delayed: the driver keeps the source while the IMPORT is pending.
    let st = DrvState::read()?;
    if st.bufs.len() != 1 || st.bufs[0].get("vpu") != "importing" || st.num("abandoned") != 1 {
        return Err(format!("expected one abandoned import:\n{}", st.text));
    }
    if bufinfo_count(t.heap.name())? != before + 1 {
        return Err("the source was freed while its IMPORT was pending".into());
    }
    // The late reply: the driver frees the handle; the source stays until RELEASED.
    let unmapping = wait_for(3000, || {
        let st = DrvState::read()?;
        Ok(st.bufs.first().is_some_and(|b| b.get("vpu") == "unmapping"))
    })?;
    if !unmapping {
        return Err(format!("late reply not answered with FREE:\n{}", DrvState::read()?.text));
    }
    // The VPU has dropped the handle but not sent RELEASED yet (release_delay_ms).
    let sim = SimState::read()?;
    if !sim.text.lines().any(|l| l == "pending_releases 1") {
        return Err(format!("no RELEASED pending on the VPU:\n{}", sim.text));
    }
    if bufinfo_count(t.heap.name())? != before + 1 {
        return Err("the source was freed while the VPU still maps it".into());
    }
    wait_idle(3000)?;
    if !wait_for(2000, || Ok(bufinfo_count(t.heap.name())? == before))? {
        return Err("the source was not freed after RELEASED".into());
    }
    if DrvState::read()?.num("late_replies") < 1 {
        return Err("late reply not counted".into());
    }
    Ok(())
}

/// A VPU that stops answering: the import fails after `timeout_ms`, without hanging; once the
/// VPU answers again the late reply is undone.
fn t_timeout(t: &T) -> Result<(), String> {
    fs::write(TIMEOUT_PARAM, "400").ctx(TIMEOUT_PARAM)?;
    sim_write("hang", "on")?;
    let result = (|| -> Result<(), String> {
        let src = t.src(MIB)?;
        let t0 = Instant::now();
        let res = t.dev.import(&src);
        let took = t0.elapsed();
        expect_errno(res, &[libc::ETIMEDOUT], "import while the VPU hangs")?;
        if took > Duration::from_millis(2000) || took < Duration::from_millis(350) {
            return Err(format!("timed out after {took:?}, expected about 400 ms"));
        }
        drop(src);
        let st = DrvState::read()?;
        if st.num("abandoned") != 1 || st.num("timeouts") < 1 {
            return Err(format!("timeout not recorded:\n{}", st.text));
        }
        Ok(())
    })();
    let _ = sim_write("hang", "off");
    let _ = fs::write(TIMEOUT_PARAM, "3000");
    result?;
    wait_idle(3000)?;
    let st = DrvState::read()?;
    if st.num("abandoned") != 0 {
        return Err(format!("abandoned transaction left:\n{}", st.text));
    }
    Ok(())
}

fn t_vpu_errors(t: &T) -> Result<(), String> {
    let src = t.src(MIB)?;
    // The VPU refuses (handle 0): ENOMEM, nothing left behind.
    sim_write("zero_handle_next", "1")?;
    expect_errno(t.dev.import(&src), &[libc::ENOMEM], "import refused by the VPU")?;
    wait_idle(1000)?;
    // VCHIQ fails to send: the error comes back, nothing left behind.
    sim_write("fail_next", "1")?;
    expect_errno(t.dev.import(&src), &[libc::EIO], "import whose send fails")?;
    wait_idle(1000)?;
    // Replies out of order and duplicated are matched by id.
    sim_write("reply_delay_ms", "100")?;
    sim_write("reorder", "on")?;
    sim_write("duplicate", "on")?;
    let result = (|| -> Result<(), String> {
        let mut workers = Vec::new();
        for _ in 0..4 {
            let heap = Heap::open(&t.args.heap).map_err(|e| e.to_string())?;
            workers.push(thread::spawn(move || -> Result<u32, String> {
                let dev = Dev::open()?;
                let src = heap.allocate(8192).ctx("allocate")?;
                let imp = dev.import(&src).ctx("import")?;
                let h = imp.vc_handle;
                let b = DrvState::read()?.by_handle(h).cloned().ok_or("not listed")?;
                let sim = SimState::read()?;
                match sim.handles.get(&h) {
                    Some(s) if s.kernel_id == u64::from(b.id) => Ok(h),
                    _ => Err(format!("handle {h:#x} belongs to another buffer")),
                }
            }));
        }
        for w in workers {
            w.join().map_err(|_| "panic".to_string())??;
        }
        Ok(())
    })();
    sim_defaults();
    result?;
    wait_idle(2000)?;
    let st = DrvState::read()?;
    if st.num("unexpected_replies") < 4 {
        return Err(format!("duplicates not seen as unexpected replies:\n{}", st.text));
    }
    Ok(())
}

fn t_mem_request(_t: &T) -> Result<(), String> {
    // A name of 32 bytes or more: the VPU's field may have no NUL; the driver keeps 31.
    let name = "N".repeat(40);
    sim_write("mem_request", &format!("0x3000 0x1000 {name}"))?;
    let ok = wait_for(2000, || Ok(sim_read("mem_request")?.starts_with("mem_request ok")))?;
    if !ok {
        return Err(format!("no VC_MEM_REQUEST_REPLY: {}", sim_read("mem_request")?));
    }
    let line = sim_read("mem_request")?;
    let w: Vec<&str> = line.split_ascii_whitespace().collect();
    let get = |k: &str| {
        w.iter().position(|x| *x == k).and_then(|i| w.get(i + 1)).and_then(|v| parse_u64(v)).unwrap_or(0)
    };
    let (h, kid) = (get("vc_handle") as u32, get("kernel_id"));
    let st = DrvState::read()?;
    let b = st.by_handle(h).ok_or_else(|| format!("VPU buffer {h:#x} not listed:\n{}", st.text))?;
    if u64::from(b.id) != kid
        || b.get("origin") != "vpu-request"
        || b.get("vpu") != "mapped"
        || b.get("size") != "12288"
    {
        return Err(format!("unexpected {b:?}"));
    }
    if b.get("name") != "N".repeat(31) {
        return Err(format!("name {}", b.get("name")));
    }
    vpu_fill(h, 0x99)?;
    if vpu_checksum(h)? != pattern_checksum(0x3000, 0x99) {
        return Err("VPU memory does not hold what the VPU wrote".into());
    }
    sim_write("drop", &format!("{h:#x}"))?;
    wait_idle(2000)?;
    // A request the host cannot serve is answered with address 0.
    sim_write("mem_request", "0x40000000 0x1000 too-big")?;
    let failed = wait_for(2000, || Ok(sim_read("mem_request")?.starts_with("mem_request host-failed")))?;
    if !failed {
        return Err(format!("expected a failure reply: {}", sim_read("mem_request")?));
    }
    if DrvState::read()?.num("mem_request_failures") < 1 {
        return Err("failure not counted".into());
    }
    wait_idle(1000)
}

fn t_kapi(t: &T) -> Result<(), String> {
    let src = t.src(MIB)?;
    fs::write(KAPI, src.as_raw_fd().to_string()).ctx(KAPI)?;
    let out = fs::read_to_string(KAPI).ctx(KAPI)?;
    info("vcsm/kernel-api", out.trim());
    if !out.starts_with("ok ") {
        return Err(out);
    }
    wait_idle(2000)
}

fn run(args: &Args) -> ExitCode {
    let mut r = Reporter::new("vcsm-client");
    let setup = (|| -> Result<T, String> {
        Ok(T {
            args,
            dev: Dev::open()?,
            heap: Heap::open(&args.heap).map_err(|e| e.to_string())?,
            cached: Heap::open(&args.cached_heap).ok(),
        })
    })();
    let t = match setup {
        Ok(t) => t,
        Err(e) => {
            r.run("vcsm/client-setup", || Err(e));
            r.finish();
            return ExitCode::FAILURE;
        }
    };
    sim_defaults();
    type Test<'a> = (&'a str, Box<dyn Fn(&T) -> Result<(), String> + 'a>);
    let tests: Vec<Test> = vec![
        ("vcsm/import-uncached", Box::new(|t: &T| t_import_basic(t, &t.heap, MIB))),
        (
            "vcsm/import-cached",
            Box::new(|t: &T| match &t.cached {
                Some(h) => t_import_basic(t, h, 4 * MIB),
                None => Err(format!("no heap {}", t.args.cached_heap)),
            }),
        ),
        ("vcsm/zero-copy", Box::new(t_zero_copy)),
        ("vcsm/mem-alloc", Box::new(t_alloc)),
        ("vcsm/bad-fds", Box::new(t_bad_fds)),
        ("vcsm/not-contiguous", Box::new(t_not_contiguous)),
        ("vcsm/out-of-vpu-reach", Box::new(t_out_of_reach)),
        ("vcsm/copy-to-user-fails", Box::new(t_bad_pointer)),
        ("vcsm/ioctl-numbers", Box::new(t_ioctl_numbers)),
        ("vcsm/vpu-errors", Box::new(t_vpu_errors)),
        ("vcsm/source-outlives-process", Box::new(t_source_outlives_process)),
        ("vcsm/interrupted-import", Box::new(t_interrupted)),
        ("vcsm/vpu-hangs", Box::new(t_timeout)),
        ("vcsm/vc-mem-request", Box::new(t_mem_request)),
        ("vcsm/concurrent", Box::new(t_concurrent)),
        ("vcsm/transactions-65536", Box::new(t_many)),
        ("vcsm/kernel-api", Box::new(t_kapi)),
        ("vcsm/nested-imports", Box::new(holes::t_nested)),
        ("vcsm/nested-imports-kernel-api", Box::new(holes::t_nested_kapi)),
        ("vcsm/many-imports-one-buffer", Box::new(holes::t_many_imports_one_buffer)),
        ("vcsm/mem-alloc-cma-only", Box::new(holes::t_mem_alloc_cma_only)),
        ("vcsm/pin-caps", Box::new(holes::t_pin_caps)),
        ("vcsm/log-flood", Box::new(holes::t_log_flood)),
        ("vcsm/v4l2-capture-to-vpu", Box::new(v4l2::t_v4l2_capture_to_vpu)),
        ("vcsm/v4l2-heap-buffers-into-vivid", Box::new(v4l2::t_v4l2_heap_buffers_into_vivid)),
        ("vcsm/v4l2-vpu-holds-frames", Box::new(v4l2::t_v4l2_vpu_holds_frames)),
        ("vcsm/v4l2-vmalloc-refused", Box::new(v4l2::t_v4l2_vmalloc_refused)),
        ("vcsm/v4l2-kernel-port", Box::new(v4l2::t_v4l2_kernel_port)),
        ("vcsm/v4l2-codec", Box::new(v4l2::t_v4l2_codec)),
        ("vcsm/v4l2-outside-window", Box::new(v4l2::t_v4l2_outside_window)),
    ];
    for (id, f) in &tests {
        if !args.only.is_empty() && !args.only.iter().any(|o| id.contains(o.as_str())) {
            continue;
        }
        if !r.run(id, || f(&t)) {
            // Leave a clean slate for the next test.
            sim_defaults();
            let _ = wait_idle(3000);
        }
    }
    r.finish();
    if r.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn bench(args: &Args, n: u32) -> Result<(), String> {
    let heap = Heap::open(&args.heap).map_err(|e| e.to_string())?;
    let dev = Dev::open()?;
    let src = heap.allocate(64 * 1024).ctx("allocate")?;
    let t0 = Instant::now();
    for _ in 0..n {
        src.sync(dmabuf::DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ).ctx("sync")?;
    }
    let sync = t0.elapsed() / n;
    let (mut import, mut close) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..n {
        let t = Instant::now();
        let imp = dev.import(&src).ctx("import")?;
        import += t.elapsed();
        let t = Instant::now();
        drop(imp);
        close += t.elapsed();
    }
    let t = Instant::now();
    wait_idle(10_000)?;
    println!(
        "bench: sync {:?}, import {:?}, close {:?} per cycle; idle after {:?}",
        sync,
        import / n,
        close / n,
        t.elapsed()
    );
    Ok(())
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(n) = args.bench {
        return match bench(&args, n.max(1)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.hold_exit {
        return match hold_and_exit(&args.heap, 1) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    if args.hold {
        let res = (|| -> Result<(), String> {
            let heap = Heap::open(&args.heap).map_err(|e| e.to_string())?;
            let dev = Dev::open()?;
            let src = heap.allocate(MIB).ctx("allocate")?;
            let imp = dev.import(&src).ctx("import")?;
            println!("HOLDING {:#x}", imp.vc_handle);
            let _ = io::stdout().flush();
            thread::sleep(Duration::from_secs(300));
            Ok(())
        })();
        return match res {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{e}");
                ExitCode::FAILURE
            }
        };
    }
    run(&args)
}
