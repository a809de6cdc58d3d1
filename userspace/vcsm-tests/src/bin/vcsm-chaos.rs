//! The hostile-user phase "process death at random points" and the unload/unbind races, run in
//! the guest against `vc-sm-cma.ko` and the simulated VideoCore (`vpu-sim.ko`):
//!
//! ```text
//! vcsm-chaos [--seed N] [--as-user UID:GID[:GROUPS]] MODE
//!   kill           children doing random buffer work are SIGKILLed at random moments
//!   fork           wrapper fds (and a mapping) inherited across fork, closed on one side
//!   mmap-race      threads map a wrapper while another thread closes it and its source
//!   after-release  a CPU mapping used after the VPU released the buffer
//!   unload         unbind/bind and rmmod/insmod while other processes allocate and import
//! ```
//!
//! The program starts as root. The root process (the controller) drives the simulator
//! (`/sys/kernel/debug/vpu-sim`), the driver's parameters, the bus and the module, and reads
//! debugfs. Everything that opens a device node runs in forked processes that first drop to
//! `--as-user` (`setgroups`, `setgid`, `setuid`); those that need the VPU to read or write a
//! buffer ask the controller over a socket.
//!
//! Every mode ends with the settled check: the driver holds no buffer and no request, the
//! simulator no handle, and the CMA areas' used counts, the live dma-bufs of our exporters,
//! the heaps' buffer count and the module's reference count are back where they were; no
//! protocol error counter moved. The seed is printed first; the same seed replays the same
//! random choices (sizes, operation sequences, delays), though not the same timing.
//!
//! Prints `@@VCSM RUN|INFO|PASS|FAIL chaos/<test>` lines (see the `vcsm_tests` crate) and exits
//! 1 if a test failed.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::CString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{mpsc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::{Parser, Subcommand, ValueEnum};
use dmabuf::vcsm::VcsmBuf as Imported;
use dmabuf::{
    errno_name, DmaBuf, Heap, Mapping, Prot, DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW,
    DMA_BUF_SYNC_START, DMA_BUF_SYNC_WRITE,
};
use nix::errno::Errno;
use nix::kmod::{delete_module, finit_module, DeleteModuleFlags, ModuleInitFlags};
use nix::poll::{PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::{Gid, Pid, Uid};
use vcsm_tests::{
    emit, info, kv_pairs, map_checksum, map_fill, one_line, parse_u64, pattern_checksum, sim_knobs_default,
    sim_read, sim_write, Context, Reporter, SIM_DIR, TIMEOUT_PARAM,
};

const DEV: &str = "/dev/vcsm-cma";
const STATE: &str = dmabuf::state::STATE_FILE;
const SIM: &str = SIM_DIR;
const MODULE_DIR: &str = "/sys/module/vc_sm_cma";
const REFCNT: &str = "/sys/module/vc_sm_cma/refcnt";
const BUFINFO: &str = "/sys/kernel/debug/dma_buf/bufinfo";
const HEAP_STATS: &str = "/sys/kernel/debug/vcsm-cma-heap/stats";
const DRIVER_DIR: &str = "/sys/bus/vchiq-bus/drivers/vcsm-cma";
const DEVICE: &str = "vcsm-cma";
const MODULE: &str = "vc_sm_cma";
/// The exporters whose live dma-bufs the settled check counts.
const EXPORTERS: [&str; 3] = ["vc-sm-cma", "vcsm-uncached", "vcsm-cached"];
/// The driver's default `timeout_ms`, restored after every mode.
const DEFAULT_TIMEOUT_MS: &str = "3000";

#[derive(Parser, Debug)]
#[command(about = "Process death and unload/unbind races against /dev/vcsm-cma (@@VCSM line protocol)")]
struct Args {
    /// Seed of every random choice (default: from the clock); printed first.
    #[arg(long)]
    seed: Option<u64>,

    /// Run everything that opens a device node as this user: `UID:GID[:GROUP,GROUP...]`
    /// (the supplementary groups default to GID). Without it those processes stay root.
    #[arg(long, value_name = "UID:GID[:GROUPS]", value_parser = parse_user)]
    as_user: Option<User>,

    /// Heap the source buffers come from.
    #[arg(long, default_value = "vcsm-uncached")]
    heap: String,

    /// The group the udev rule gives /dev/vcsm-cma (re-applied after every bind and insmod).
    #[arg(long, default_value_t = 44)]
    video_gid: u32,

    /// The driver module, for insmod.
    #[arg(long, default_value = "/lib/modules/vc-sm-cma.ko")]
    ko: PathBuf,

    #[command(subcommand)]
    mode: Mode,
}

#[derive(Subcommand, Debug, Clone)]
enum Mode {
    /// Children doing random heap ALLOC, MEM_IMPORT_DMABUF, MEM_ALLOC, mmap, SYNC and close in
    /// several threads are SIGKILLed at random moments: while the VPU delays its IMPORT
    /// replies, while it answers at once, and while it hangs.
    Kill {
        #[arg(long, default_value_t = 60)]
        children: u32,
        /// Threads per child.
        #[arg(long, default_value_t = 3)]
        threads: u32,
        /// Children alive at the same time.
        #[arg(long, default_value_t = 3)]
        parallel: u32,
        /// Latest kill after the fork, in ms.
        #[arg(long, default_value_t = 50)]
        max_delay_ms: u64,
    },
    /// Wrappers inherited across fork and closed by one side, used by the other, checksummed by
    /// the VPU; a mapping inherited without any fd.
    Fork {
        #[arg(long, default_value_t = 8)]
        rounds: u32,
    },
    /// Threads mmap/munmap and touch a wrapper while another thread closes the wrapper and the
    /// source fd; the mappings keep working until munmap.
    MmapRace {
        #[arg(long, default_value_t = 12)]
        rounds: u32,
        #[arg(long, default_value_t = 3)]
        threads: u32,
    },
    /// A CPU mapping used after the wrapper was closed and the VPU released the buffer (and
    /// while the VPU still holds it).
    AfterRelease {
        #[arg(long, default_value_t = 8)]
        rounds: u32,
    },
    /// unbind/bind of the device and rmmod/insmod of the module while user processes allocate,
    /// import and map.
    Unload {
        #[arg(long, value_enum, default_value = "both")]
        how: How,
        /// unbind/bind or rmmod/insmod cycles.
        #[arg(long, default_value_t = 10)]
        cycles: u32,
        /// Processes allocating and importing meanwhile.
        #[arg(long, default_value_t = 3)]
        workers: u32,
    },
}

#[derive(ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
enum How {
    Bind,
    Module,
    Both,
}

// ---- random choices ----

/// splitmix64: a small generator whose sequence depends on nothing but the seed, so a printed
/// seed replays the same choices.
#[derive(Clone, Debug)]
struct Rng(u64);

impl Rng {
    /// The generator of stream `index` of `what` under `seed`; streams are independent.
    fn stream(seed: u64, what: &str, index: u64) -> Rng {
        // FNV-1a of the name keeps streams of different modes apart.
        let tag = what
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
        let mut r = Rng(seed ^ tag);
        let a = r.next();
        Rng(a ^ index.wrapping_mul(0xd6e8_feb8_6659_fd93))
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn ms(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(self.range(lo, hi))
    }

    /// A size of `lo..=hi` pages, in bytes.
    fn pages(&mut self, lo: u64, hi: u64) -> usize {
        (self.range(lo, hi) as usize) * dmabuf::page_size()
    }

    fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// A pattern seed (never 0, which the pattern maps to a fixed one anyway).
    fn seed32(&mut self) -> u32 {
        (self.next() as u32) | 1
    }

    /// An independent generator derived from this one.
    fn fork(&mut self) -> Rng {
        Rng(self.next())
    }
}

// ---- the user the processes that open nodes run as ----

#[derive(Clone, Debug, PartialEq, Eq)]
struct User {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

fn parse_user(s: &str) -> Result<User, String> {
    let mut parts = s.splitn(3, ':');
    let num = |v: Option<&str>, what: &str| -> Result<u32, String> {
        v.filter(|v| !v.is_empty())
            .ok_or_else(|| format!("no {what} in '{s}' (UID:GID[:GROUPS])"))?
            .parse()
            .map_err(|_| format!("bad {what} in '{s}'"))
    };
    let uid = num(parts.next(), "uid")?;
    let gid = num(parts.next(), "gid")?;
    let groups = match parts.next() {
        None => vec![gid],
        Some("") => Vec::new(),
        Some(g) => g
            .split(',')
            .map(|x| x.parse().map_err(|_| format!("bad group '{x}' in '{s}'")))
            .collect::<Result<_, _>>()?,
    };
    Ok(User { uid, gid, groups })
}

impl User {
    /// Drops to this user for good: supplementary groups, then gid, then uid (real, effective
    /// and saved).
    fn become_user(&self) -> Result<(), String> {
        let groups: Vec<Gid> = self.groups.iter().map(|&g| Gid::from_raw(g)).collect();
        nix::unistd::setgroups(&groups).map_err(|e| format!("setgroups {:?}: {e}", self.groups))?;
        nix::unistd::setgid(Gid::from_raw(self.gid)).map_err(|e| format!("setgid {}: {e}", self.gid))?;
        nix::unistd::setuid(Uid::from_raw(self.uid)).map_err(|e| format!("setuid {}: {e}", self.uid))?;
        if nix::unistd::geteuid().as_raw() != self.uid || nix::unistd::getegid().as_raw() != self.gid {
            return Err("the ids did not change".into());
        }
        if self.uid != 0 && nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
            return Err("could become root again after dropping privileges".into());
        }
        Ok(())
    }
}

/// What every mode needs.
struct Ctx {
    seed: u64,
    user: Option<User>,
    heap: String,
    video_gid: u32,
    ko: PathBuf,
}

impl Ctx {
    fn rng(&self, what: &str) -> Rng {
        Rng::stream(self.seed, what, 0)
    }

    /// First thing in a process that opens nodes: drop privileges, die with the parent.
    fn enter_worker(&self) -> Result<(), String> {
        if let Some(u) = &self.user {
            u.become_user()?;
        }
        // After the credential change, which clears it.
        nix::sys::prctl::set_pdeathsig(Signal::SIGKILL).map_err(|e| format!("PR_SET_PDEATHSIG: {e}"))
    }
}

// ---- errors ----

fn errno_of(e: &io::Error) -> i32 {
    e.raw_os_error().unwrap_or(0)
}

fn ename(errno: i32) -> String {
    errno_name(errno).unwrap_or_else(|| format!("errno {errno}"))
}

fn describe(e: &io::Error) -> String {
    dmabuf::describe_io_error(e)
}

// ---- processes ----

/// Forks; the child runs `body` and ends with `_exit(status)` ([`vcsm_tests::spawn`]).
fn spawn(body: impl FnOnce() -> i32) -> Result<Pid, String> {
    vcsm_tests::spawn(body)
}

/// Closes an fd a forked child inherited, without the parent's owner of it (the child never
/// drops that owner: it ends with `_exit`).
fn close_inherited(fd: RawFd) {
    // Only called in a forked child for an fd whose owning value belongs to the parent's copy
    // of the program, which the child never drops or uses again.
    let _ = nix::unistd::close(fd);
}

/// The threads of `pid` with their kernel stacks (for a process that does not finish).
fn stacks(pid: i32) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(dir) = fs::read_dir(format!("/proc/{pid}/task")) else {
        return vec![format!("pid {pid}: gone")];
    };
    for t in dir.flatten() {
        let p = t.path();
        let rd = |f: &str| fs::read_to_string(p.join(f)).unwrap_or_default();
        let stat = rd("stat");
        let st = stat.rsplit(')').next().and_then(|r| r.split_whitespace().next()).unwrap_or("?").to_owned();
        out.push(format!(
            "pid {pid} task {} ({}) state {st} wchan {}: {}",
            t.file_name().to_string_lossy(),
            rd("comm").trim(),
            rd("wchan").trim(),
            rd("stack")
                .lines()
                .map(|l| l.split_whitespace().nth(1).unwrap_or(l))
                .collect::<Vec<_>>()
                .join(" < ")
        ));
    }
    out
}

/// `pid` and all its descendants.
fn descendants(pid: i32) -> Vec<i32> {
    let mut parent_of = Vec::new();
    for e in fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<i32>() else { continue };
        let stat = fs::read_to_string(e.path().join("stat")).unwrap_or_default();
        // The fields after the command: state ppid ...
        let ppid = stat
            .rsplit(')')
            .next()
            .and_then(|r| r.split_whitespace().nth(1))
            .and_then(|v| v.parse::<i32>().ok());
        if let Some(pp) = ppid {
            parent_of.push((p, pp));
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let cur = out[i];
        out.extend(parent_of.iter().filter(|(_, pp)| *pp == cur).map(|(p, _)| *p));
        i += 1;
    }
    out
}

/// Reports a process (and its descendants) that did not finish: kernel stacks as INFO lines,
/// then SIGKILL.
fn hang_report(test: &str, pid: Pid, what: &str) -> String {
    let pids = descendants(pid.as_raw());
    for p in &pids {
        for l in stacks(*p) {
            info(test, &l);
        }
    }
    for p in &pids {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    let gone = reap_quiet(pid, Duration::from_secs(5)).is_some();
    format!(
        "{what}: pid {pid} did not finish (kernel stacks above){}",
        if gone { "" } else { "; it does not die on SIGKILL either (stuck in the kernel)" }
    )
}

fn reap_quiet(pid: Pid, within: Duration) -> Option<WaitStatus> {
    let end = Instant::now() + within;
    loop {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) | Err(Errno::EINTR) => {}
            Ok(st) => return Some(st),
            Err(_) => return None,
        }
        if Instant::now() >= end {
            return None;
        }
        thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for child `pid`, at most `within`; a child still running then is a hang.
fn reap(test: &str, pid: Pid, within: Duration, what: &str) -> Result<WaitStatus, String> {
    match reap_quiet(pid, within) {
        Some(st) => Ok(st),
        None => Err(hang_report(test, pid, what)),
    }
}

/// A forked child whose result comes back through a pipe.
struct Child {
    pid: Pid,
    out: File,
}

/// Forks a child that runs `body`; its `Ok(text)` or `Err(reason)` comes back on [`Child::join`].
fn start_child(body: impl FnOnce() -> Result<String, String>) -> Result<Child, String> {
    let (rx, tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let rx_raw = rx.as_raw_fd();
    let pid = spawn(|| {
        close_inherited(rx_raw);
        let res =
            panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or_else(|_| Err("the child panicked".into()));
        let (code, text) = match res {
            Ok(t) => (0, format!("ok {}", t.replace('\n', " "))),
            Err(e) => (1, format!("fail {}", one_line(&e))),
        };
        // Through a duplicate of the write end inherited from the parent (whose owner `tx`
        // this process never drops).
        if let Ok(fd) = tx.try_clone() {
            let _ = File::from(fd).write_all(text.as_bytes());
        }
        code
    })?;
    drop(tx);
    Ok(Child { pid, out: File::from(rx) })
}

impl Child {
    /// Waits (at most `within`) and returns the child's result.
    fn join(mut self, test: &str, within: Duration, what: &str) -> Result<String, String> {
        let st = reap(test, self.pid, within, what)?;
        let mut text = String::new();
        let _ = self.out.read_to_string(&mut text);
        match (st, text.split_once(' ')) {
            (WaitStatus::Exited(_, 0), Some(("ok", t))) => Ok(t.to_owned()),
            (_, Some(("fail", why))) => Err(format!("{what}: {why}")),
            (st, _) => Err(format!("{what}: ended with {st:?} without a result")),
        }
    }
}

/// Lines from children that never return (they are killed): one `write` each, below PIPE_BUF,
/// so lines of different processes never mix.
struct Reports {
    rx: File,
    tx: OwnedFd,
}

impl Reports {
    fn new() -> Result<Reports, String> {
        let (rx, tx) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC | nix::fcntl::OFlag::O_NONBLOCK)
            .map_err(|e| format!("pipe: {e}"))?;
        Ok(Reports { rx: File::from(rx), tx })
    }

    fn send(&self, line: &str) {
        let mut l = one_line(line);
        l.truncate(1000);
        l.push('\n');
        let _ = nix::unistd::write(&self.tx, l.as_bytes());
    }

    fn drain(&mut self) -> Vec<String> {
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            match self.rx.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        String::from_utf8_lossy(&buf).lines().map(str::to_owned).collect()
    }
}

/// Runs `f` on a thread and waits at most `limit` for it (a write to sysfs, a module call):
/// a call that does not return is a hang, reported with the kernel stacks of this process.
fn timed<T: Send + 'static>(
    test: &str,
    what: &str,
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<(T, Duration), String> {
    let (tx, rx) = mpsc::channel();
    let t0 = Instant::now();
    let h = thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => {
            let _ = h.join();
            Ok((v, t0.elapsed()))
        }
        Err(_) => {
            for l in stacks(std::process::id() as i32) {
                info(test, &l);
            }
            Err(format!("{what} did not return within {limit:?} (kernel stacks above)"))
        }
    }
}

// ---- the device ----

/// `/dev/vcsm-cma`.
struct Dev {
    dev: dmabuf::vcsm::Vcsm,
}

impl Dev {
    fn open() -> io::Result<Dev> {
        Ok(Dev { dev: dmabuf::vcsm::Vcsm::open(DEV)? })
    }

    fn import(&self, fd: RawFd) -> io::Result<Imported> {
        self.dev.import_raw(fd, b"chaos")
    }

    fn alloc(&self, size: usize) -> io::Result<Imported> {
        let size = u32::try_from(size).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
        self.dev.alloc(size, b"chaos")
    }
}

/// Writes `stamp ^ page` into word `slot` of every page and reads it back.
fn touch(map: &mut Mapping, slot: usize, stamp: u32) -> Result<(), String> {
    let wpp = dmabuf::page_size() / 4;
    let pages = map.len() / dmabuf::page_size();
    for p in 0..pages {
        map.write_u32(p * wpp + slot, stamp ^ p as u32).map_err(|e| e.to_string())?;
    }
    for p in 0..pages {
        let got = map.read_u32(p * wpp + slot);
        if got != Some(stamp ^ p as u32) {
            return Err(format!("page {p} word {slot} reads {got:x?} after writing {:#x}", stamp ^ p as u32));
        }
    }
    Ok(())
}

// ---- debugfs and sysfs (root) ----

/// The driver's state file.
struct Drv {
    bufs: Vec<BTreeMap<String, String>>,
    kv: BTreeMap<String, String>,
    text: String,
}

impl Drv {
    /// `None` while no driver is bound (the file exists only then).
    fn read() -> Result<Option<Drv>, String> {
        let text = match fs::read_to_string(STATE) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{STATE}: {}", describe(&e))),
        };
        let state = dmabuf::state::parse(&text);
        let bufs = state.buffers.iter().map(|pairs| pairs.iter().cloned().collect()).collect();
        // The per-process pin lines repeat their keys: not part of the summary.
        let kv = state.pairs_except(&["pin"]).collect();
        Ok(Some(Drv { bufs, kv, text }))
    }

    fn bound() -> Result<Drv, String> {
        Drv::read()?.ok_or_else(|| format!("no {STATE}: the driver is not bound"))
    }

    fn num(&self, key: &str) -> u64 {
        self.kv.get(key).and_then(|v| parse_u64(v)).unwrap_or(u64::MAX)
    }

    fn by_handle(&self, h: u32) -> Option<&BTreeMap<String, String>> {
        let want = format!("{h:#x}");
        self.bufs.iter().find(|b| b.get("vc_handle") == Some(&want))
    }

    fn by_id(&self, id: u64) -> Option<&BTreeMap<String, String>> {
        let want = id.to_string();
        self.bufs.iter().find(|b| b.get("id") == Some(&want))
    }
}

/// The simulator's state file.
struct Sim {
    text: String,
}

impl Sim {
    fn read() -> Result<Sim, String> {
        let path = format!("{SIM}/state");
        Ok(Sim { text: fs::read_to_string(&path).ctx(&path)? })
    }

    /// The second word of the first line starting with `key`.
    fn first(&self, key: &str) -> Option<u64> {
        self.text.lines().find_map(|l| {
            let mut w = l.split_ascii_whitespace();
            (w.next() == Some(key)).then(|| w.next().and_then(parse_u64)).flatten()
        })
    }

    /// The VPU handles the simulator holds.
    fn handle_ids(&self) -> BTreeSet<u32> {
        self.text
            .lines()
            .filter_map(|l| {
                let mut w = l.split_ascii_whitespace();
                (w.next() == Some("handle")).then(|| w.next().and_then(parse_u64)).flatten()
            })
            .map(|h| h as u32)
            .collect()
    }

    fn has_handle(&self, h: u32) -> bool {
        self.text.lines().any(|l| {
            let mut w = l.split_ascii_whitespace();
            w.next() == Some("handle") && w.next().and_then(parse_u64) == Some(u64::from(h))
        })
    }

    /// The counters of the `errors` line.
    fn errors(&self) -> BTreeMap<String, String> {
        self.text.lines().find(|l| l.starts_with("errors ")).map(kv_pairs).unwrap_or_default()
    }
}

/// Puts the simulator's knobs and the driver's timeout back to their defaults.
fn sim_defaults() {
    let _ = sim_knobs_default();
    if Path::new(TIMEOUT_PARAM).exists() {
        let _ = fs::write(TIMEOUT_PARAM, DEFAULT_TIMEOUT_MS);
    }
}

/// Restores the simulator's defaults when dropped (also on an early return).
struct SimDefaults;

impl Drop for SimDefaults {
    fn drop(&mut self) {
        sim_defaults();
    }
}

fn vpu_checksum(h: u32) -> Result<u32, String> {
    sim_write("checksum", &format!("{h:#x}"))?;
    let text = sim_read("checksum")?;
    let w: Vec<&str> = text.split_ascii_whitespace().collect();
    w.iter()
        .position(|x| *x == "checksum")
        .and_then(|p| w.get(p + 1))
        .and_then(|v| parse_u64(v))
        .map(|v| v as u32)
        .ok_or_else(|| format!("bad checksum answer '{}'", text.trim()))
}

/// Used pages per CMA area, not counting the heap pool's (see `cma_used_not_pooled`).
fn cma_used() -> Result<BTreeMap<String, u64>, String> {
    vcsm_tests::cma_used_not_pooled()
}

/// Live dma-bufs of each of our exporters.
fn dmabufs() -> Result<BTreeMap<String, usize>, String> {
    let text = fs::read_to_string(BUFINFO).ctx(BUFINFO)?;
    Ok(EXPORTERS
        .iter()
        .map(|x| {
            (x.to_string(), text.lines().filter(|l| l.split_ascii_whitespace().any(|w| w == *x)).count())
        })
        .collect())
}

/// `buffers=` of the heaps' stats.
fn heap_buffers() -> Option<u64> {
    let text = fs::read_to_string(HEAP_STATS).ok()?;
    text.lines()
        .find_map(|l| kv_pairs::<BTreeMap<String, String>>(l).get("buffers").and_then(|v| parse_u64(v)))
}

fn module_refcnt() -> Option<String> {
    fs::read_to_string(REFCNT).ok().map(|s| s.trim().to_owned())
}

/// What must come back to where it was after each mode.
#[derive(Debug, Clone, PartialEq)]
struct Levels {
    cma: BTreeMap<String, u64>,
    dmabufs: BTreeMap<String, usize>,
    heap_buffers: Option<u64>,
    refcnt: Option<String>,
}

impl Levels {
    fn read() -> Result<Levels, String> {
        Ok(Levels {
            cma: cma_used()?,
            dmabufs: dmabufs()?,
            heap_buffers: heap_buffers(),
            refcnt: module_refcnt(),
        })
    }
}

/// Protocol error counters of the driver that must not move.
const DRV_ERRORS: [&str; 4] = ["unexpected_replies", "bad_messages", "released_unknown", "free_failures"];

struct Baseline {
    levels: Levels,
    sim_errors: BTreeMap<String, String>,
    drv_errors: Vec<u64>,
    /// Handles the VPU held before the test (none, unless an earlier test leaked them).
    sim_handles: BTreeSet<u32>,
}

impl Baseline {
    fn take(test: &str) -> Result<Baseline, String> {
        let drv = Drv::bound()?;
        if drv.num("buffers") != 0 {
            return Err(format!("the driver holds buffers before the test:\n{}", drv.text));
        }
        let sim = Sim::read()?;
        let sim_handles = sim.handle_ids();
        if !sim_handles.is_empty() {
            info(
                test,
                &format!("the VPU holds handles {sim_handles:x?} from before this test: judged against them"),
            );
        }
        Ok(Baseline {
            levels: Levels::read()?,
            sim_errors: sim.errors(),
            drv_errors: DRV_ERRORS.iter().map(|k| drv.num(k)).collect(),
            sim_handles,
        })
    }
}

/// Whether everything is released now; `Err` says what is not.
fn settled_now(base: &Baseline) -> Result<(), String> {
    let mut why = Vec::new();
    match Drv::read()? {
        Some(d) => {
            if d.num("buffers") != 0 || d.num("pending") != 0 || d.num("abandoned") != 0 {
                why.push(format!("driver: {}", d.text.trim()));
            }
        }
        None => why.push("the driver is not bound".into()),
    }
    let sim = Sim::read()?;
    if sim.handle_ids() != base.sim_handles {
        why.push(format!(
            "simulator: {}",
            sim.text.lines().filter(|l| l.starts_with("handle")).collect::<Vec<_>>().join("; ")
        ));
    }
    let now = Levels::read()?;
    if now != base.levels {
        why.push(format!("levels now {now:?}, at the start {:?}", base.levels));
    }
    if why.is_empty() {
        Ok(())
    } else {
        Err(why.join("; "))
    }
}

/// Waits up to `ms` until everything is released, then checks the error counters (the
/// driver's only if it is the same instance as at the start).
fn settle(base: &Baseline, ms: u64, same_driver: bool) -> Result<(), String> {
    let end = Instant::now() + Duration::from_millis(ms);
    loop {
        match settled_now(base) {
            Ok(()) => break,
            Err(e) if Instant::now() >= end => return Err(format!("not settled after {ms} ms: {e}")),
            Err(_) => thread::sleep(Duration::from_millis(50)),
        }
    }
    let sim = Sim::read()?.errors();
    for (k, v) in &sim {
        // Handles the VPU drops silently are protocol 1 behaviour, not an error.
        if k != "released_silently" && base.sim_errors.get(k) != Some(v) {
            return Err(format!("simulator counter {k} went from {:?} to {v}", base.sim_errors.get(k)));
        }
    }
    if same_driver {
        let d = Drv::bound()?;
        for (k, before) in DRV_ERRORS.iter().zip(&base.drv_errors) {
            if d.num(k) != *before {
                return Err(format!("driver counter {k} went from {before} to {}", d.num(k)));
            }
        }
    }
    Ok(())
}

/// Polls `cond` every 10 ms for up to `ms`.
fn wait_for(ms: u64, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_millis(ms);
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn driver_ready() -> bool {
    Path::new(DEV).exists()
        && Drv::read().ok().flatten().is_some_and(|d| d.kv.get("phase").map(String::as_str) == Some("Ready"))
}

/// What udev does for a new /dev/vcsm-cma: group video, mode 0660.
fn apply_udev_mode(gid: u32) -> Result<(), String> {
    nix::unistd::chown(DEV, None, Some(Gid::from_raw(gid))).map_err(|e| format!("chgrp {DEV}: {e}"))?;
    fs::set_permissions(DEV, fs::Permissions::from_mode(0o660)).ctx(DEV)
}

// ---- the VPU, for processes that dropped privileges ----

/// Whether `file` has something to read (or its writers are gone) within `timeout`.
fn wait_readable(file: &File, timeout: Duration) -> bool {
    let mut pfd = [PollFd::new(file.as_fd(), PollFlags::POLLIN)];
    let ms = PollTimeout::try_from(timeout).unwrap_or(PollTimeout::MAX);
    nix::poll::poll(&mut pfd, ms).is_ok_and(|n| n > 0)
}

/// Lines from a pipe, with an optional timeout (the guest kernel has no AF_UNIX, so the
/// worker and the controller talk over two pipes).
struct LineReader {
    file: File,
    buf: Vec<u8>,
}

impl LineReader {
    fn new(fd: OwnedFd) -> LineReader {
        LineReader { file: File::from(fd), buf: Vec::new() }
    }

    /// The next line without its newline; `Ok(None)` at the end of the input (every writer
    /// gone); `TimedOut` if none came within `timeout`.
    fn line(&mut self, timeout: Option<Duration>) -> io::Result<Option<String>> {
        let end = timeout.map(|t| Instant::now() + t);
        loop {
            if let Some(n) = self.buf.iter().position(|&b| b == b'\n') {
                let rest = self.buf.split_off(n + 1);
                let line = std::mem::replace(&mut self.buf, rest);
                return Ok(Some(String::from_utf8_lossy(&line[..n]).into_owned()));
            }
            if let Some(end) = end {
                let left = end.saturating_duration_since(Instant::now());
                let mut pfd = [PollFd::new(self.file.as_fd(), PollFlags::POLLIN)];
                let ms = PollTimeout::try_from(left).unwrap_or(PollTimeout::MAX);
                let n = match nix::poll::poll(&mut pfd, ms) {
                    Ok(n) => n,
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => return Err(e.into()),
                };
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::TimedOut));
                }
            }
            let mut chunk = [0u8; 4096];
            match self.file.read(&mut chunk) {
                Ok(0) => return Ok(None),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// A worker's line to the controller, which performs VPU actions and reads debugfs for it.
struct Vpu {
    io: Mutex<(LineReader, File)>,
}

/// A buffer line of the driver's state, as the controller sends it.
type BufFields = BTreeMap<String, String>;

impl Vpu {
    fn call(&self, req: &str) -> Result<String, String> {
        let mut g = self.io.lock().unwrap_or_else(|e| e.into_inner());
        g.1.write_all(format!("{req}\n").as_bytes()).map_err(|e| format!("{req}: controller: {e}"))?;
        let line = match g.0.line(None) {
            Ok(Some(l)) => l,
            Ok(None) => return Err(format!("{req}: the controller went away")),
            Err(e) => return Err(format!("{req}: controller: {e}")),
        };
        match line.split_once(' ').unwrap_or((&line, "")) {
            ("ok", rest) => Ok(rest.to_owned()),
            (_, why) => Err(format!("{req}: {why}")),
        }
    }

    fn checksum(&self, h: u32) -> Result<u32, String> {
        let v = self.call(&format!("checksum {h:#x}"))?;
        parse_u64(&v).map(|v| v as u32).ok_or_else(|| format!("bad checksum '{v}'"))
    }

    fn fill(&self, h: u32, seed: u32) -> Result<(), String> {
        self.call(&format!("fill {h:#x} {seed:#x}")).map(drop)
    }

    fn hold(&self, h: u32) -> Result<(), String> {
        self.call(&format!("hold {h:#x}")).map(drop)
    }

    fn release(&self, h: u32) -> Result<(), String> {
        self.call(&format!("drop {h:#x}")).map(drop)
    }

    fn fields(v: &str) -> Option<BufFields> {
        (v != "none").then(|| kv_pairs::<BTreeMap<String, String>>(v))
    }

    /// The driver's line for the buffer with VPU handle `h`.
    fn buffer(&self, h: u32) -> Result<Option<BufFields>, String> {
        Ok(Vpu::fields(&self.call(&format!("buffer {h:#x}"))?))
    }

    /// The driver's line for kernel id `id`.
    fn buffer_id(&self, id: u64) -> Result<Option<BufFields>, String> {
        Ok(Vpu::fields(&self.call(&format!("bufid {id}"))?))
    }

    /// The kernel id of the buffer with handle `h` (which must be listed).
    fn id_of(&self, h: u32) -> Result<u64, String> {
        self.buffer(h)?
            .and_then(|b| b.get("id").and_then(|v| parse_u64(v)))
            .ok_or_else(|| format!("handle {h:#x} is not in the driver's state"))
    }

    /// Waits until the driver forgot buffer `id` and the VPU handle `h`.
    fn gone(&self, id: u64, h: u32, ms: u64) -> Result<(), String> {
        self.call(&format!("gone {id} {h:#x} {ms}")).map(drop)
    }

    /// Pages used in all CMA areas together.
    fn cma(&self) -> Result<u64, String> {
        let v = self.call("cma")?;
        v.parse().map_err(|_| format!("bad cma answer '{v}'"))
    }

    /// Waits until the CMA areas use `pages` pages again.
    fn cma_back(&self, pages: u64, ms: u64) -> Result<(), String> {
        self.call(&format!("cma-back {pages} {ms}")).map(drop)
    }

    fn info(&self, text: &str) {
        let _ = self.call(&format!("info {}", one_line(text)));
    }
}

/// Expects the driver's line of a buffer to say `vpu` and `wrapped`.
fn expect_state(b: Option<BufFields>, vpu: &str, wrapped: &str, what: &str) -> Result<(), String> {
    match b {
        Some(b)
            if b.get("vpu").map(String::as_str) == Some(vpu)
                && b.get("wrapped").map(String::as_str) == Some(wrapped) =>
        {
            Ok(())
        }
        Some(b) => Err(format!("{what}: expected vpu={vpu} wrapped={wrapped}, the driver says {b:?}")),
        None => Err(format!("{what}: expected vpu={vpu} wrapped={wrapped}, the driver forgot the buffer")),
    }
}

fn cma_total() -> Result<u64, String> {
    Ok(cma_used()?.values().sum())
}

/// The controller's side of one request.
fn serve_one(test: &str, req: &str) -> Result<String, String> {
    let (cmd, rest) = req.split_once(' ').unwrap_or((req, ""));
    let args: Vec<&str> = rest.split_ascii_whitespace().collect();
    let num = |i: usize| args.get(i).and_then(|v| parse_u64(v)).ok_or_else(|| format!("bad request '{req}'"));
    let line_of = |b: Option<&BTreeMap<String, String>>| match b {
        Some(b) => b.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" "),
        None => "none".to_owned(),
    };
    match cmd {
        "checksum" => Ok(format!("{:#x}", vpu_checksum(num(0)? as u32)?)),
        "fill" => sim_write("fill", &format!("{:#x} {:#x}", num(0)?, num(1)?)).map(|()| String::new()),
        "hold" => sim_write("hold", &format!("{:#x}", num(0)?)).map(|()| String::new()),
        "drop" => sim_write("drop", &format!("{:#x}", num(0)?)).map(|()| String::new()),
        "buffer" => Ok(line_of(Drv::bound()?.by_handle(num(0)? as u32))),
        "bufid" => Ok(line_of(Drv::bound()?.by_id(num(0)?))),
        "gone" => {
            let (id, h, ms) = (num(0)?, num(1)? as u32, num(2)?);
            let gone = || -> Result<bool, String> {
                Ok(Drv::bound()?.by_id(id).is_none() && !Sim::read()?.has_handle(h))
            };
            let end = Instant::now() + Duration::from_millis(ms);
            while !gone()? {
                if Instant::now() >= end {
                    let d = Drv::bound()?;
                    return Err(format!(
                        "buffer {id} (handle {h:#x}) still there after {ms} ms: driver {}; VPU has the handle: {}",
                        line_of(d.by_id(id)),
                        Sim::read()?.has_handle(h)
                    ));
                }
                thread::sleep(Duration::from_millis(10));
            }
            Ok(String::new())
        }
        "cma" => Ok(cma_total()?.to_string()),
        "cma-back" => {
            let (pages, ms) = (num(0)?, num(1)?);
            let mut now = 0;
            let ok = wait_for(ms, || {
                now = cma_total().unwrap_or(u64::MAX);
                now == pages
            });
            if ok {
                Ok(String::new())
            } else {
                Err(format!("CMA uses {now} pages after {ms} ms, expected {pages} again"))
            }
        }
        "info" => {
            info(test, rest);
            Ok(String::new())
        }
        _ => Err(format!("unknown request '{req}'")),
    }
}

/// Runs `body` in a child that drops privileges, serving its requests; the child's result is
/// the test's. A child not done within `limit` is a hang.
fn run_worker(
    ctx: &Ctx,
    test: &str,
    limit: Duration,
    body: impl FnOnce(&Vpu) -> Result<(), String>,
) -> Result<(), String> {
    // Requests go up one pipe, answers down the other.
    let (req_rx, req_tx) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (ans_rx, ans_tx) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).map_err(|e| format!("pipe: {e}"))?;
    let (req_rx_raw, ans_tx_raw) = (req_rx.as_raw_fd(), ans_tx.as_raw_fd());
    // The worker's ends move into the child's closure: the child owns them, and the parent's
    // copy of the closure, dropped when `spawn` returns there, closes them in the parent.
    let pid = spawn(|| {
        close_inherited(req_rx_raw);
        close_inherited(ans_tx_raw);
        let (rx, tx) = (ans_rx, File::from(req_tx));
        let vpu = Vpu { io: Mutex::new((LineReader::new(rx), tx)) };
        let res = ctx.enter_worker().and_then(|()| {
            panic::catch_unwind(AssertUnwindSafe(|| body(&vpu)))
                .unwrap_or_else(|_| Err("the worker panicked".into()))
        });
        let _ = vpu.call(&match &res {
            Ok(()) => "result ok".to_owned(),
            Err(e) => format!("result fail {}", one_line(e)),
        });
        i32::from(res.is_err())
    })?;
    let end = Instant::now() + limit;
    let mut reader = LineReader::new(req_rx);
    let mut writer = File::from(ans_tx);
    let mut result: Option<Result<(), String>> = None;
    loop {
        let left = end.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(hang_report(test, pid, "the worker"));
        }
        match reader.line(Some(left)) {
            Ok(None) => break,
            Ok(Some(req)) => {
                let reply = if let Some(r) = req.strip_prefix("result ") {
                    result = Some(match r.split_once(' ').unwrap_or((r, "")) {
                        ("ok", _) => Ok(()),
                        (_, why) => Err(why.to_owned()),
                    });
                    Ok(String::new())
                } else {
                    serve_one(test, &req)
                };
                let text = match reply {
                    Ok(v) => format!("ok {v}\n"),
                    Err(e) => format!("err {}\n", one_line(&e)),
                };
                if writer.write_all(text.as_bytes()).is_err() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::TimedOut => {}
            Err(e) => return Err(format!("reading the worker's requests: {e}")),
        }
    }
    let st = reap(test, pid, Duration::from_secs(10), "the worker")?;
    match result {
        Some(r) => r,
        None => Err(format!("the worker ended with {st:?} without a result")),
    }
}

// ---- mode: kill ----

/// One item a kill-mode thread holds.
enum Kind {
    Source,
    Wrapper,
}

struct Item {
    buf: DmaBuf,
    kind: Kind,
    size: usize,
    map: Option<Mapping>,
}

/// Errors a kill-mode child may see from MEM_IMPORT_DMABUF and MEM_ALLOC (the VPU hangs or is
/// slow: ETIMEDOUT; pools and pin caps: ENOMEM, EDQUOT).
const KILL_VPU_ERRNOS: [i32; 3] = [libc::ETIMEDOUT, libc::ENOMEM, libc::EDQUOT];

/// A child's report line (at most a few per process, so the pipe never fills).
struct ChildReport<'a> {
    reports: &'a Reports,
    who: String,
    left: AtomicU32,
}

impl ChildReport<'_> {
    fn send(&self, msg: &str) {
        if self.left.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok() {
            self.reports.send(&format!("{}: {msg}", self.who));
        }
    }
}

/// Random buffer work until the process is killed.
fn kill_thread(heap: &Heap, dev: &Dev, mut rng: Rng, rep: &ChildReport, t: usize) -> ! {
    let mut items: Vec<Item> = Vec::new();
    let mut step = 0u64;
    loop {
        let sources: Vec<usize> = items
            .iter()
            .enumerate()
            .filter(|(_, i)| matches!(i.kind, Kind::Source))
            .map(|(n, _)| n)
            .collect();
        // Every thread starts with an allocation and its import, where the kills should land.
        let op = match step {
            0 => 0,
            1 => 20,
            _ => rng.below(100),
        };
        step += 1;
        match op {
            0..=14 => {
                let size = rng.pages(1, 256);
                match heap.allocate(size as u64) {
                    Ok(buf) => items.push(Item { buf, kind: Kind::Source, size, map: None }),
                    Err(e) if errno_of(&e) == libc::ENOMEM => {}
                    Err(e) => rep.send(&format!("heap ALLOC of {size} bytes: {}", describe(&e))),
                }
            }
            15..=44 if !sources.is_empty() => {
                let s = &items[sources[rng.index(sources.len())]];
                let size = s.size;
                match dev.import(s.buf.as_raw_fd()) {
                    Ok(imp) => items.push(Item { buf: imp.buf, kind: Kind::Wrapper, size, map: None }),
                    Err(e) if KILL_VPU_ERRNOS.contains(&errno_of(&e)) => {}
                    Err(e) => rep.send(&format!("MEM_IMPORT_DMABUF: {}", describe(&e))),
                }
            }
            45..=59 => {
                let size = rng.pages(1, 64);
                match dev.alloc(size) {
                    Ok(imp) => items.push(Item { buf: imp.buf, kind: Kind::Wrapper, size, map: None }),
                    Err(e) if KILL_VPU_ERRNOS.contains(&errno_of(&e)) => {}
                    Err(e) => rep.send(&format!("MEM_ALLOC of {size} bytes: {}", describe(&e))),
                }
            }
            60..=74 if !items.is_empty() => {
                let n = rng.index(items.len());
                let stamp = rng.seed32();
                let it = &mut items[n];
                if it.map.is_none() {
                    match it.buf.mmap(0, it.size, Prot::READ_WRITE) {
                        Ok(m) => it.map = Some(m),
                        Err(e) => rep.send(&format!("mmap of {} bytes: {}", it.size, describe(&e))),
                    }
                }
                if let Some(m) = &mut it.map {
                    if let Err(e) = touch(m, t, stamp) {
                        rep.send(&format!("mapping: {e}"));
                    }
                }
            }
            75..=84 if !items.is_empty() => {
                let it = &items[rng.index(items.len())];
                for flags in [DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW] {
                    if let Err(e) = it.buf.sync(flags) {
                        rep.send(&format!("DMA_BUF_IOCTL_SYNC {flags:#x}: {}", describe(&e)));
                    }
                }
            }
            _ if !items.is_empty() => {
                items.swap_remove(rng.index(items.len()));
            }
            _ => {}
        }
        while items.len() > 6 {
            items.swap_remove(rng.index(items.len()));
        }
    }
}

/// A kill-mode child: drops privileges, opens the nodes, works in `threads` threads.
/// Tells the parent it may start the clock (the nodes are open, the work starts now).
fn kill_child(ctx: &Ctx, index: u32, threads: u32, reports: &Reports, ready: &OwnedFd) -> i32 {
    let rep = ChildReport { reports, who: format!("child {index}"), left: AtomicU32::new(4) };
    if let Err(e) = ctx.enter_worker() {
        rep.send(&format!("dropping privileges: {e}"));
        return 2;
    }
    let opened =
        Heap::open(&ctx.heap).map_err(|e| e.to_string()).and_then(|h| Dev::open().map(|d| (h, d)).ctx(DEV));
    let (heap, dev) = match opened {
        Ok(v) => v,
        Err(e) => {
            rep.send(&format!("opening the nodes: {e}"));
            return 2;
        }
    };
    let mut rng = Rng::stream(ctx.seed, "kill-child", u64::from(index));
    send_ready(ready);
    let rep = &rep;
    let (heap, dev) = (&heap, &dev);
    thread::scope(|s| {
        for t in 1..threads.max(1) as usize {
            let r = rng.fork();
            s.spawn(move || kill_thread(heap, dev, r, rep, t));
        }
        kill_thread(heap, dev, rng.fork(), rep, 0)
    })
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum KillPhase {
    /// The VPU delays its replies by 200 ms: kills land inside the IMPORT wait.
    Delayed,
    /// The VPU answers at once.
    Prompt,
    /// The VPU delivers nothing (first half) and then everything it queued (second half).
    Hang,
}

fn mode_kill(
    ctx: &Ctx,
    test: &str,
    children: u32,
    threads: u32,
    parallel: u32,
    max_delay_ms: u64,
) -> Result<(), String> {
    let _restore = SimDefaults;
    fs::write(TIMEOUT_PARAM, "300").ctx(TIMEOUT_PARAM)?;
    let mut rng = ctx.rng("kill");
    let mut reports = Reports::new()?;
    let n = children.max(4);
    let phase_of = |i: u32| {
        if i < n / 2 {
            KillPhase::Delayed
        } else if i < 3 * n / 4 {
            KillPhase::Prompt
        } else {
            KillPhase::Hang
        }
    };
    let hang_end = 3 * n / 4 + (n - 3 * n / 4) / 2;
    let mut problems: Vec<String> = Vec::new();
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    let mut phase = None;
    let mut hanging = false;
    let mut interrupted_at: BTreeMap<&str, u64> = BTreeMap::new();
    let interrupted = || Drv::bound().map(|d| d.num("interrupted"));
    let start_interrupted = interrupted()?;
    let start = Drv::bound()?;
    let mut i = 0;
    while i < n {
        let p = phase_of(i);
        if phase != Some(p) {
            match p {
                KillPhase::Delayed => sim_write("reply_delay_ms", "200")?,
                KillPhase::Prompt => {
                    interrupted_at.insert("delayed", interrupted()? - start_interrupted);
                    sim_write("reply_delay_ms", "0")?
                }
                KillPhase::Hang => {
                    sim_write("hang", "on")?;
                    hanging = true;
                }
            }
            phase = Some(p);
        }
        if hanging && i >= hang_end {
            sim_write("hang", "off")?;
            hanging = false;
        }
        // A batch stays inside one phase and one half of the hang.
        let mut end = (i + parallel.max(1)).min(n);
        while end > i + 1 && (phase_of(end - 1) != p || (hanging && end > hang_end)) {
            end -= 1;
        }
        let mut kids = Vec::new();
        for idx in i..end {
            // In the hang phase some kills come after the driver's 300 ms timeout, or race it.
            let delay = if p == KillPhase::Hang && rng.chance(30) {
                rng.ms(280, 500)
            } else {
                rng.ms(0, max_delay_ms)
            };
            let (ready_rx, ready_tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
            let rx_raw = ready_rx.as_raw_fd();
            let pid = spawn(|| {
                close_inherited(rx_raw);
                kill_child(ctx, idx, threads, &reports, &ready_tx)
            })?;
            drop(ready_tx);
            kids.push((delay, pid, idx, LineReader::new(ready_rx)));
        }
        // The clock of each child starts when it has opened the nodes.
        let mut kids: Vec<(Instant, Pid, u32)> = kids
            .into_iter()
            .map(|(delay, pid, idx, mut ready)| {
                let mut b = [0u8; 1];
                if !wait_readable(&ready.file, Duration::from_secs(10))
                    || ready.file.read(&mut b).unwrap_or(0) != 1
                {
                    problems.push(format!("child {idx} did not get ready (it reports why)"));
                }
                (Instant::now() + delay, pid, idx)
            })
            .collect();
        kids.sort_by_key(|k| k.0);
        for (at, pid, _) in &kids {
            thread::sleep(at.saturating_duration_since(Instant::now()));
            let _ = kill(*pid, Signal::SIGKILL);
        }
        for (_, pid, idx) in &kids {
            match reap(test, *pid, Duration::from_secs(20), &format!("child {idx} after SIGKILL"))? {
                WaitStatus::Signaled(_, Signal::SIGKILL, _) => *counts.entry("killed").or_default() += 1,
                st => problems.push(format!("child {idx} ended by itself ({st:?}) before it was killed")),
            }
        }
        problems.extend(reports.drain());
        i = end;
    }
    if hanging {
        sim_write("hang", "off")?;
    }
    let d = Drv::bound()?;
    info(
        test,
        &format!(
            "{} children killed ({} threads each); interrupted IMPORT waits: {} while the VPU was slow, {} in all; timeouts {}, late replies undone {}",
            counts.get("killed").copied().unwrap_or(0),
            threads,
            interrupted_at.get("delayed").copied().unwrap_or(0),
            d.num("interrupted") - start_interrupted,
            d.num("timeouts") - start.num("timeouts"),
            d.num("late_replies") - start.num("late_replies"),
        ),
    );
    if !problems.is_empty() {
        return Err(format!("{} problems: {}", problems.len(), problems.join("; ")));
    }
    if interrupted_at.get("delayed").copied().unwrap_or(0) == 0 {
        return Err("no kill landed inside an IMPORT wait while the VPU delayed its replies".into());
    }
    Ok(())
}

// ---- mode: fork ----

/// Blocks until the other side writes a byte or closes its end.
fn wait_go(fd: &OwnedFd) {
    let mut b = [0u8; 1];
    let _ = nix::unistd::read(fd, &mut b);
}

/// Writes one byte (a "ready" signal) to a pipe's write end.
fn send_ready(fd: &OwnedFd) {
    let _ = nix::unistd::write(fd, &[1u8]);
}

fn fork_round(
    test: &str,
    vpu: &Vpu,
    dev: &Dev,
    heap: &Heap,
    mut rng: Rng,
    variant: u32,
) -> Result<String, String> {
    let size = rng.pages(1, 256);
    let alloc = match variant {
        1 | 3 => true,
        2 => rng.chance(50),
        _ => false,
    };
    let (imp, src) = if alloc {
        (dev.alloc(size).ctx("MEM_ALLOC")?, None)
    } else {
        let src = heap.allocate(size as u64).ctx("heap ALLOC")?;
        (dev.import(src.as_raw_fd()).ctx("MEM_IMPORT_DMABUF")?, Some(src))
    };
    // The import holds its own reference to the source: close it now, or keep it throughout.
    let src = src.filter(|_| rng.chance(50));
    let h = imp.vc_handle;
    let id = vpu.id_of(h)?;
    let (seed, seed2) = (rng.seed32(), rng.seed32());
    let (go_rx, go_tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let (go_rx_raw, go_tx_raw) = (go_rx.as_raw_fd(), go_tx.as_raw_fd());
    let kind = if alloc { "alloc" } else { "import" };
    let what = match variant {
        0 | 1 => {
            // The child inherits the wrapper; the parent closes its copy; the child uses it.
            let child = start_child(|| {
                close_inherited(go_tx_raw);
                wait_go(&go_rx);
                expect_state(vpu.buffer_id(id)?, "mapped", "yes", "after the parent closed its copy")?;
                // Sometimes through a dup of the inherited fd, the inherited one closed.
                if rng.chance(50) {
                    let d = nix::unistd::dup(&imp.buf).map_err(|e| format!("dup: {e}"))?;
                    close_inherited(imp.buf.as_raw_fd());
                    let fd = DmaBuf::from_fd(d);
                    use_buffer(vpu, &fd, h, size, seed, seed2)?;
                    // Exit with the fd open, or close it first.
                    if rng.chance(50) {
                        drop(fd);
                    } else {
                        std::mem::forget(fd);
                    }
                } else {
                    // The inherited wrapper fd itself, through the parent's owner of it (which
                    // the child never drops: it ends with `_exit`).
                    use_buffer(vpu, &imp.buf, h, size, seed, seed2)?;
                    if rng.chance(50) {
                        close_inherited(imp.buf.as_raw_fd());
                    }
                }
                Ok(String::new())
            })?;
            drop(go_rx);
            drop(imp);
            drop(go_tx);
            child.join(test, Duration::from_secs(30), "the child using the inherited wrapper")?;
            format!("child used the inherited {kind} wrapper")
        }
        2 => {
            // The reverse: the child closes its copy (maybe after mapping it) and exits.
            let child = start_child(|| {
                close_inherited(go_tx_raw);
                close_inherited(go_rx_raw);
                if rng.chance(50) {
                    let mut m = imp.buf.mmap(0, size, Prot::READ_WRITE).ctx("mmap in the child")?;
                    touch(&mut m, 1, seed)?;
                    std::mem::forget(m);
                }
                close_inherited(imp.buf.as_raw_fd());
                Ok(String::new())
            })?;
            drop((go_rx, go_tx));
            child.join(test, Duration::from_secs(30), "the child closing its copy")?;
            expect_state(vpu.buffer_id(id)?, "mapped", "yes", "after the child closed its copy and exited")?;
            use_buffer(vpu, &imp.buf, h, size, seed, seed2)?;
            drop(imp);
            format!("parent used the {kind} wrapper the child closed")
        }
        _ => {
            // A mapping inherited without any fd: the parent maps and fills, forks, unmaps and
            // closes; the child closes its fd too and uses the mapping alone.
            let mut map = imp.buf.mmap(0, size, Prot::READ_WRITE).ctx("mmap")?;
            map_fill(&mut map, seed);
            let child = start_child(|| {
                close_inherited(go_tx_raw);
                close_inherited(imp.buf.as_raw_fd());
                wait_go(&go_rx);
                // The mapping holds the wrapper: the VPU still has the buffer.
                expect_state(vpu.buffer_id(id)?, "mapped", "yes", "with only the child's mapping left")?;
                let sum = vpu.checksum(h)?;
                if sum != pattern_checksum(size, seed) {
                    return Err(format!("VPU reads {sum:#x}, not what the parent wrote before the fork"));
                }
                map_fill(&mut map, seed2);
                let sum = vpu.checksum(h)?;
                if sum != pattern_checksum(size, seed2) {
                    return Err(format!(
                        "VPU reads {sum:#x}, not what the child wrote through the inherited mapping"
                    ));
                }
                Ok(String::new())
            })?;
            drop(go_rx);
            drop(map);
            drop(imp);
            drop(go_tx);
            child.join(test, Duration::from_secs(30), "the child using the inherited mapping")?;
            "child used an inherited mapping of an alloc wrapper without any fd".to_owned()
        }
    };
    drop(src);
    vpu.gone(id, h, 5000).map_err(|e| format!("{what}: {e}"))?;
    Ok(what)
}

/// Maps the buffer, writes `seed` for the VPU to checksum, has the VPU write `seed2` and reads
/// it back, with DMA_BUF_IOCTL_SYNC around the CPU's accesses.
fn use_buffer(vpu: &Vpu, buf: &DmaBuf, h: u32, size: usize, seed: u32, seed2: u32) -> Result<(), String> {
    let mut map = buf.mmap(0, size, Prot::READ_WRITE).ctx("mmap")?;
    buf.sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_WRITE).ctx("SYNC START")?;
    map_fill(&mut map, seed);
    buf.sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_WRITE).ctx("SYNC END")?;
    let sum = vpu.checksum(h)?;
    if sum != pattern_checksum(size, seed) {
        return Err(format!("VPU reads {sum:#x}, not what the CPU wrote"));
    }
    vpu.fill(h, seed2)?;
    buf.sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ).ctx("SYNC START")?;
    let cpu = map_checksum(&map);
    buf.sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ).ctx("SYNC END")?;
    if cpu != pattern_checksum(size, seed2) {
        return Err(format!("CPU reads {cpu:#x}, not what the VPU wrote"));
    }
    Ok(())
}

fn mode_fork(ctx: &Ctx, test: &str, rounds: u32) -> Result<(), String> {
    run_worker(ctx, test, Duration::from_secs(120), |vpu| {
        let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
        let dev = Dev::open().ctx(DEV)?;
        let mut rng = ctx.rng("fork");
        let mut done = BTreeMap::new();
        for r in 0..rounds.max(4) {
            let what = fork_round(test, vpu, &dev, &heap, rng.fork(), r % 4)
                .map_err(|e| format!("round {r}: {e}"))?;
            *done.entry(what).or_insert(0) += 1;
        }
        vpu.info(&format!("{done:?}"));
        Ok(())
    })
}

// ---- mode: mmap-race ----

/// A shared read-write mapping of a descriptor number (the race maps fds another thread
/// closes, which no owned-fd type can express: `Mapping::map_fd_number`); unmapped on drop.
struct RawMap(Mapping);

impl RawMap {
    fn new(fd: RawFd, len: usize) -> io::Result<RawMap> {
        // The kernel checks the fd, which may have been closed by another thread: then EBADF.
        Mapping::map_fd_number(fd, 0, len, Prot::READ_WRITE).map(RawMap)
    }

    fn write(&mut self, i: usize, v: u32) {
        if let Err(e) = self.0.write_u32(i, v) {
            panic!("stamp of word {i}: {e}");
        }
    }

    fn read(&self, i: usize) -> u32 {
        match self.0.read_u32(i) {
            Some(v) => v,
            None => panic!("word {i} beyond a mapping of {} bytes", self.0.len()),
        }
    }

    /// Writes `stamp ^ page` into word `slot` of every page.
    fn stamp(&mut self, slot: usize, stamp: u32) {
        let wpp = dmabuf::page_size() / 4;
        for p in 0..self.0.len() / dmabuf::page_size() {
            self.write(p * wpp + slot, stamp ^ p as u32);
        }
    }

    /// Checks word `slot` of every page holds `stamp ^ page`.
    fn check(&self, slot: usize, stamp: u32) -> Result<(), String> {
        let wpp = dmabuf::page_size() / 4;
        for p in 0..self.0.len() / dmabuf::page_size() {
            let got = self.read(p * wpp + slot);
            if got != stamp ^ p as u32 {
                return Err(format!("page {p} word {slot} reads {got:#x}, expected {:#x}", stamp ^ p as u32));
            }
        }
        Ok(())
    }

    fn checksum(&self) -> u32 {
        map_checksum(&self.0)
    }
}

/// One mapper thread: maps, stamps and checks until the fds are closed and some rounds after.
/// All mappings of the buffer alias the same memory: whatever is written through one (in this
/// thread's word of each page) must read back through every other. Returns the mappings it
/// kept and the stamp they hold.
fn race_mapper(
    fd: RawFd,
    size: usize,
    slot: usize,
    closing: &AtomicBool,
    mut rng: Rng,
) -> Result<(Vec<RawMap>, u32), String> {
    let mut kept: Vec<RawMap> = Vec::new();
    let mut stamp = 0;
    let mut after = 0;
    for _ in 0..5000 {
        let closed = closing.load(Ordering::Acquire);
        match RawMap::new(fd, size) {
            Ok(m) => {
                if !kept.is_empty() {
                    m.check(slot, stamp).map_err(|e| format!("new mapping, against the kept ones: {e}"))?;
                }
                kept.push(m);
                if kept.len() > 3 {
                    // munmap one, maybe the newest.
                    kept.swap_remove(rng.index(kept.len()));
                }
            }
            Err(e) if errno_of(&e) == libc::EBADF && closing.load(Ordering::Acquire) => {}
            Err(e) => {
                return Err(format!(
                    "mmap of the wrapper: {} (closing={})",
                    describe(&e),
                    closing.load(Ordering::Acquire)
                ))
            }
        }
        if !kept.is_empty() {
            stamp = rng.seed32();
            let i = rng.index(kept.len());
            kept[i].stamp(slot, stamp);
            for m in &kept {
                m.check(slot, stamp).map_err(|e| format!("kept mapping (fds closed: {closed}): {e}"))?;
            }
        }
        if closed {
            after += 1;
            if after >= 20 {
                break;
            }
        }
    }
    Ok((kept, stamp))
}

fn race_round(
    vpu: &Vpu,
    dev: &Dev,
    heap: &Heap,
    mut rng: Rng,
    threads: u32,
    survived: &mut u32,
) -> Result<(), String> {
    let size = rng.pages(4, 128);
    let pages = (size / dmabuf::page_size()) as u64;
    let alloc = rng.chance(33);
    let cma0 = vpu.cma()?;
    let (imp, src) = if alloc {
        (dev.alloc(size).ctx("MEM_ALLOC")?, None)
    } else {
        let src = heap.allocate(size as u64).ctx("heap ALLOC")?;
        (dev.import(src.as_raw_fd()).ctx("MEM_IMPORT_DMABUF")?, Some(src))
    };
    let h = imp.vc_handle;
    let id = vpu.id_of(h)?;
    // From here the fds are raw numbers: the closer thread closes them under the mappers.
    let wfd = imp.buf.into_fd().into_raw_fd();
    let sfd = src.map(|s| s.into_fd().into_raw_fd());
    let closing = AtomicBool::new(false);
    let close_after = rng.ms(0, 15);
    let source_first = rng.chance(50);
    let mut rngs: Vec<Rng> = (0..threads.max(1)).map(|_| rng.fork()).collect();
    let results: Vec<Result<(Vec<RawMap>, u32), String>> = thread::scope(|s| {
        let closing = &closing;
        let mappers: Vec<_> = rngs
            .drain(..)
            .enumerate()
            .map(|(t, r)| s.spawn(move || race_mapper(wfd, size, t + 1, closing, r)))
            .collect();
        s.spawn(move || {
            thread::sleep(close_after);
            closing.store(true, Ordering::Release);
            let mut order = vec![Some(wfd), sfd];
            if source_first {
                order.reverse();
            }
            for fd in order.into_iter().flatten() {
                // The round's own fds, given up by their owners above; closed once.
                let _ = nix::unistd::close(fd);
            }
        });
        mappers.into_iter().map(|m| m.join().unwrap_or_else(|_| Err("a mapper panicked".into()))).collect()
    });
    let mut maps = Vec::new();
    for (t, r) in results.into_iter().enumerate() {
        let (kept, stamp) = r.map_err(|e| format!("mapper {}: {e}", t + 1))?;
        for m in kept {
            maps.push((m, stamp, t + 1));
        }
    }
    let kind = if alloc { "alloc" } else { "import" };
    if maps.is_empty() {
        vpu.gone(id, h, 5000)?;
    } else {
        *survived += 1;
        if alloc {
            // The mappings hold the wrapper: the buffer stays shared with the VPU, and the VPU
            // sees what the CPU sees.
            expect_state(
                vpu.buffer_id(id)?,
                "mapped",
                "yes",
                "alloc wrapper with both fds closed and mappings left",
            )?;
            let cpu = maps[0].0.checksum();
            let sum = vpu.checksum(h)?;
            if sum != cpu {
                return Err(format!("VPU checksum {sum:#x}, CPU {cpu:#x} through a surviving mapping"));
            }
        } else {
            // The mappings hold the source: the wrapper is gone and the VPU let go, the pages
            // stay.
            vpu.gone(id, h, 5000).map_err(|e| format!("import wrapper closed with mappings left: {e}"))?;
            let now = vpu.cma()?;
            if now < cma0 + pages {
                return Err(format!("CMA uses {now} pages with {size} bytes still mapped, {cma0} before the round: the pages were freed under the mapping"));
            }
        }
        for (m, stamp, slot) in &maps {
            m.check(*slot, *stamp).map_err(|e| format!("surviving mapping of the {kind}: {e}"))?;
        }
        // Write through each in turn; every mapping (they alias) reads the last write.
        for n in 0..maps.len() {
            let (m, stamp, slot) = &mut maps[n];
            let (again, slot) = (stamp.rotate_left(7) ^ n as u32, *slot);
            m.stamp(slot, again);
            for (other, _, s2) in &maps {
                if *s2 == slot {
                    other
                        .check(slot, again)
                        .map_err(|e| format!("surviving mappings of the {kind}, rewritten: {e}"))?;
                }
            }
        }
        drop(maps);
        vpu.gone(id, h, 5000)?;
    }
    vpu.cma_back(cma0, 5000)?;
    Ok(())
}

fn mode_mmap_race(ctx: &Ctx, test: &str, rounds: u32, threads: u32) -> Result<(), String> {
    run_worker(ctx, test, Duration::from_secs(120), |vpu| {
        let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
        let dev = Dev::open().ctx(DEV)?;
        let mut rng = ctx.rng("mmap-race");
        let mut survived = 0;
        for r in 0..rounds.max(1) {
            race_round(vpu, &dev, &heap, rng.fork(), threads, &mut survived)
                .map_err(|e| format!("round {r}: {e}"))?;
        }
        vpu.info(&format!("{rounds} rounds, {survived} with mappings that outlived both fds"));
        if survived == 0 {
            return Err("no mapping outlived the close in any round: the race was never run".into());
        }
        Ok(())
    })
}

// ---- mode: after-release ----

fn release_round(
    vpu: &Vpu,
    dev: &Dev,
    heap: &Heap,
    mut rng: Rng,
    variant: u32,
) -> Result<&'static str, String> {
    let size = rng.pages(1, 256);
    let pages = (size / dmabuf::page_size()) as u64;
    let cma0 = vpu.cma()?;
    let alloc = variant >= 2;
    let hold = variant % 2 == 1;
    let (imp, src) = if alloc {
        (dev.alloc(size).ctx("MEM_ALLOC")?, None)
    } else {
        let src = heap.allocate(size as u64).ctx("heap ALLOC")?;
        (dev.import(src.as_raw_fd()).ctx("MEM_IMPORT_DMABUF")?, Some(src))
    };
    let src = src.filter(|_| rng.chance(50));
    let h = imp.vc_handle;
    let id = vpu.id_of(h)?;
    let mut map = imp.buf.mmap(0, size, Prot::READ_WRITE).ctx("mmap")?;
    let (s1, s2, s3) = (rng.seed32(), rng.seed32(), rng.seed32());
    map_fill(&mut map, s1);
    if vpu.checksum(h)? != pattern_checksum(size, s1) {
        return Err("the VPU does not see what the CPU wrote".into());
    }
    if hold {
        vpu.hold(h)?;
    }
    drop(imp);
    let what = match (alloc, hold) {
        (false, false) => {
            // FREE, RELEASED: the driver lets go of the source; the mapping keeps it.
            vpu.gone(id, h, 5000).map_err(|e| format!("wrapper closed: {e}"))?;
            "import: mapping used after RELEASED"
        }
        (false, true) => {
            // FREE sent, the VPU still holds the buffer: CPU and VPU still share the memory.
            expect_state(vpu.buffer_id(id)?, "unmapping", "no", "wrapper closed while the VPU holds it")?;
            map_fill(&mut map, s2);
            if vpu.checksum(h)? != pattern_checksum(size, s2) {
                return Err("after FREE the VPU no longer sees what the CPU writes".into());
            }
            vpu.fill(h, s3)?;
            if map_checksum(&map) != pattern_checksum(size, s3) {
                return Err("after FREE the CPU no longer sees what the VPU writes".into());
            }
            vpu.release(h)?;
            vpu.gone(id, h, 5000).map_err(|e| format!("VPU dropped its hold: {e}"))?;
            "import: mapping used while the VPU held it after FREE, and after RELEASED"
        }
        (true, false) => {
            // The mapping holds the wrapper: nothing is sent until munmap.
            expect_state(vpu.buffer_id(id)?, "mapped", "yes", "alloc fd closed, mapping left")?;
            map_fill(&mut map, s2);
            if vpu.checksum(h)? != pattern_checksum(size, s2) {
                return Err("with only the mapping left the VPU does not see what the CPU writes".into());
            }
            "alloc: mapping used after close"
        }
        (true, true) => {
            expect_state(vpu.buffer_id(id)?, "mapped", "yes", "alloc fd closed, mapping left, VPU holds it")?;
            "alloc: mapping and VPU hold outlive the fd"
        }
    };
    // The pages are still there under the mapping (also after RELEASED).
    let now = vpu.cma()?;
    if now < cma0 + pages {
        return Err(format!("{what}: CMA uses {now} pages with {size} bytes mapped, {cma0} before: the pages were freed under the mapping"));
    }
    let seed = s3 ^ 0x5a5a_5a5a;
    map_fill(&mut map, seed);
    if map_checksum(&map) != pattern_checksum(size, seed) {
        return Err(format!("{what}: the mapping does not keep what the CPU wrote"));
    }
    drop(map);
    if alloc {
        if hold {
            // munmap dropped the wrapper: FREE; the VPU holds the memory, which stays.
            if !wait_for_state(vpu, id, "unmapping")? {
                return Err(format!(
                    "{what}: after munmap the buffer is not waiting for RELEASED: {:?}",
                    vpu.buffer_id(id)?
                ));
            }
            vpu.fill(h, s1)?;
            if vpu.checksum(h)? != pattern_checksum(size, s1) {
                return Err(format!("{what}: the VPU's memory changed under it after munmap"));
            }
            vpu.release(h)?;
        }
        vpu.gone(id, h, 5000).map_err(|e| format!("{what}: after munmap: {e}"))?;
    }
    drop(src);
    vpu.cma_back(cma0, 5000).map_err(|e| format!("{what}: {e}"))?;
    Ok(what)
}

fn wait_for_state(vpu: &Vpu, id: u64, state: &str) -> Result<bool, String> {
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        if vpu.buffer_id(id)?.and_then(|b| b.get("vpu").cloned()).as_deref() == Some(state) {
            return Ok(true);
        }
        if Instant::now() >= end {
            return Ok(false);
        }
        thread::sleep(Duration::from_millis(10));
    }
}

fn mode_after_release(ctx: &Ctx, test: &str, rounds: u32) -> Result<(), String> {
    run_worker(ctx, test, Duration::from_secs(120), |vpu| {
        let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
        let dev = Dev::open().ctx(DEV)?;
        let mut rng = ctx.rng("after-release");
        let mut done = BTreeMap::new();
        for r in 0..rounds.max(4) {
            let what =
                release_round(vpu, &dev, &heap, rng.fork(), r % 4).map_err(|e| format!("round {r}: {e}"))?;
            *done.entry(what).or_insert(0) += 1;
        }
        vpu.info(&format!("{done:?}"));
        Ok(())
    })
}

// ---- mode: unload ----

/// Errnos of opening /dev/vcsm-cma while the driver comes and goes: no node (ENOENT), a node
/// whose device is gone or going (ENODEV, ENXIO), a new node udev has not given to the group
/// yet (EACCES; this program plays udev right after each bind or insmod).
const OPEN_ERRNOS: [i32; 4] = [libc::ENOENT, libc::ENODEV, libc::ENXIO, libc::EACCES];
/// Errnos of the ioctls then: the driver is being removed or lost the VPU (ENODEV), or not
/// connected yet (EPERM).
const IOCTL_ERRNOS: [i32; 2] = [libc::ENODEV, libc::EPERM];

fn stop_requested(fd: &OwnedFd) -> bool {
    let mut b = [0u8; 1];
    // A non-blocking read; 0 means the controller closed its end.
    nix::unistd::read(fd, &mut b) == Ok(0)
}

/// A process that allocates, imports, maps and closes until the controller closes the stop
/// pipe, seeing the driver come and go; returns its counts.
fn unload_worker(ctx: &Ctx, index: u32, stop: &OwnedFd) -> Result<String, String> {
    ctx.enter_worker()?;
    let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
    let mut rng = Rng::stream(ctx.seed, "unload-worker", u64::from(index));
    let mut dev: Option<Dev> = None;
    let mut held: Vec<(DmaBuf, Option<Mapping>, usize)> = Vec::new();
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    let mut problems: Vec<String> = Vec::new();
    let mut count = |k: String| *counts.entry(k).or_default() += 1;
    // Busy stretches with idle gaps between, in which the worker holds nothing (no buffer, no
    // open device): the moments when nothing holds the module.
    let mut busy_until = Instant::now() + rng.ms(50, 250);
    while !stop_requested(stop) && problems.len() < 5 {
        if Instant::now() >= busy_until {
            held.clear();
            dev = None;
            thread::sleep(rng.ms(30, 120));
            busy_until = Instant::now() + rng.ms(50, 250);
            count("idle".into());
            continue;
        }
        let Some(d) = &dev else {
            match Dev::open() {
                Ok(d) => {
                    dev = Some(d);
                    count("opens".into());
                }
                Err(e) if OPEN_ERRNOS.contains(&errno_of(&e)) => {
                    count(format!("open:{}", ename(errno_of(&e))));
                    thread::sleep(rng.ms(2, 10));
                }
                Err(e) => problems.push(format!("open {DEV}: {}", describe(&e))),
            }
            continue;
        };
        let op = rng.below(100);
        let res = match op {
            0..=34 => {
                let size = rng.pages(1, 64);
                let src = heap.allocate(size as u64).ctx("heap ALLOC")?;
                d.import(src.as_raw_fd()).map(|imp| (imp, size)).map_err(|e| ("MEM_IMPORT_DMABUF", e))
            }
            35..=54 => {
                let size = rng.pages(1, 32);
                d.alloc(size).map(|imp| (imp, size)).map_err(|e| ("MEM_ALLOC", e))
            }
            55..=69 if !held.is_empty() => {
                let n = rng.index(held.len());
                let stamp = rng.seed32();
                let (buf, map, size) = &mut held[n];
                if map.is_none() {
                    match buf.mmap(0, *size, Prot::READ_WRITE) {
                        Ok(m) => *map = Some(m),
                        Err(e) => problems.push(format!("mmap of a held wrapper: {}", describe(&e))),
                    }
                }
                if let Some(m) = map {
                    if let Err(e) = touch(m, 0, stamp) {
                        problems.push(format!("held wrapper's mapping: {e}"));
                    }
                    count("touches".into());
                }
                continue;
            }
            70..=79 if !held.is_empty() => {
                let (buf, _, _) = &held[rng.index(held.len())];
                for flags in [DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW, DMA_BUF_SYNC_END | DMA_BUF_SYNC_RW] {
                    if let Err(e) = buf.sync(flags) {
                        problems.push(format!("SYNC on a held wrapper: {}", describe(&e)));
                    }
                }
                continue;
            }
            80..=91 if !held.is_empty() => {
                held.swap_remove(rng.index(held.len()));
                continue;
            }
            92..=99 => {
                dev = None;
                continue;
            }
            _ => continue,
        };
        match res {
            Ok((imp, size)) => {
                count("shared".into());
                held.push((imp.buf, None, size));
                while held.len() > 3 {
                    held.swap_remove(rng.index(held.len()));
                }
            }
            Err((what, e)) if IOCTL_ERRNOS.contains(&errno_of(&e)) => {
                count(format!("{what}:{}", ename(errno_of(&e))));
                if errno_of(&e) == libc::ENODEV {
                    // This open file belongs to a driver instance that is gone.
                    dev = None;
                }
            }
            Err((what, e)) => problems.push(format!("{what}: {}", describe(&e))),
        }
    }
    if !problems.is_empty() {
        return Err(format!("worker {index}: {}", problems.join("; ")));
    }
    Ok(format!("worker {index}: {counts:?}"))
}

/// Starts the unload workers; the returned fd stops them when closed.
fn start_unload_workers(ctx: &Ctx, n: u32) -> Result<(Vec<Child>, OwnedFd), String> {
    let (stop_rx, stop_tx) =
        nix::unistd::pipe2(nix::fcntl::OFlag::O_NONBLOCK).map_err(|e| format!("pipe: {e}"))?;
    let tx_raw = stop_tx.as_raw_fd();
    let mut kids = Vec::new();
    for i in 0..n.max(1) {
        kids.push(start_child(|| {
            close_inherited(tx_raw);
            unload_worker(ctx, i, &stop_rx)
        })?);
    }
    drop(stop_rx);
    Ok((kids, stop_tx))
}

/// Stops and joins the workers: their counts as INFO, their problems as the error.
fn stop_unload_workers(test: &str, kids: Vec<Child>, stop: OwnedFd) -> Result<(), String> {
    drop(stop);
    let mut problems = Vec::new();
    for (i, k) in kids.into_iter().enumerate() {
        match k.join(test, Duration::from_secs(30), &format!("unload worker {i}")) {
            Ok(t) => info(test, &t),
            Err(e) => problems.push(e),
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// After the driver went (unbind or rmmod): no node, no state file, no service or instance,
/// and no VPU handle beyond `known` (handles leaked earlier, already reported).
fn check_gone(after: &str, known: &mut BTreeSet<u32>) -> Result<(), String> {
    if Path::new(DEV).exists() || Path::new(STATE).exists() {
        return Err(format!("{after}: {DEV} or {STATE} still there"));
    }
    let sim = Sim::read()?;
    let (h, s, i) = (sim.handle_ids(), sim.first("services"), sim.first("instances"));
    if h != *known || s != Some(0) || i != Some(0) {
        let lines: Vec<&str> = sim.text.lines().filter(|l| l.starts_with("handle ")).collect();
        let expected = std::mem::replace(known, h.clone());
        // What follows is judged against what is left now.
        return Err(format!(
            "{after}: the VPU still has handles {h:x?} (expected {expected:x?}), services {s:?}, instances {i:?}: {}",
            lines.join("; ")
        ));
    }
    Ok(())
}

fn wait_ready_and_mode(ctx: &Ctx, after: &str) -> Result<(), String> {
    if !wait_for(10_000, driver_ready) {
        return Err(format!(
            "{after}: the driver is not ready after 10 s: {:?}",
            Drv::read()?.map(|d| d.text)
        ));
    }
    apply_udev_mode(ctx.video_gid)
}

fn write_sysfs(test: &str, file: &'static str, value: &'static str) -> Result<Duration, String> {
    let path = format!("{DRIVER_DIR}/{file}");
    let p = path.clone();
    let (res, took) =
        timed(test, &format!("echo {value} > {path}"), Duration::from_secs(30), move || fs::write(p, value))?;
    res.with_ctx(|| format!("echo {value} > {path}"))?;
    Ok(took)
}

/// After a bind or insmod: a MEM_ALLOC and an import by root get DMA addresses in the VPU's
/// 0xC alias, i.e. probe restored the device's DMA set-up (the driver would otherwise force the
/// alias on a plain physical address, with a warning).
fn check_dma_alias(ctx: &Ctx, after: &str) -> Result<(), String> {
    let dev = Dev::open().ctx(DEV)?;
    let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
    let src = heap.allocate(4096).ctx("heap ALLOC")?;
    let imp = dev.import(src.as_raw_fd()).ctx("MEM_IMPORT_DMABUF")?;
    let alloc = dev.alloc(4096).ctx("MEM_ALLOC")?;
    let d = Drv::bound()?;
    let mut bad = Vec::new();
    for (what, h) in [("import", imp.vc_handle), ("MEM_ALLOC", alloc.vc_handle)] {
        let b = d.by_handle(h).ok_or_else(|| format!("{after}: handle {h:#x} not listed"))?;
        let dma = b.get("dma").and_then(|v| parse_u64(v)).unwrap_or(0);
        if dma & 0xc000_0000 != 0xc000_0000 {
            bad.push(format!(
                "{what} dma={dma:#x} vpu_addr={}",
                b.get("vpu_addr").map(String::as_str).unwrap_or("?")
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{after}: DMA addresses without the VPU alias (the device's DMA set-up was not restored): {}",
            bad.join(", ")
        ))
    }
}

/// Several problems: each in full as an INFO line, the failure reason a short list.
fn summarize(test: &str, problems: Vec<String>) -> Result<(), String> {
    if problems.is_empty() {
        return Ok(());
    }
    for p in &problems {
        info(test, &format!("problem: {p}"));
    }
    let short: Vec<String> = problems
        .iter()
        .map(|p| {
            let mut cut = p.len().min(150);
            while !p.is_char_boundary(cut) {
                cut -= 1;
            }
            format!("{}{}", &p[..cut], if cut < p.len() { "..." } else { "" })
        })
        .collect();
    Err(format!("{} problems (in full above): {}", problems.len(), short.join(" | ")))
}

/// Binds the driver again if it is not bound (after a failure in the middle of a cycle).
fn ensure_bound(ctx: &Ctx, test: &str) {
    if !Path::new(&format!("/sys/bus/vchiq-bus/devices/{DEVICE}/driver")).exists() {
        let _ = write_sysfs(test, "bind", DEVICE);
    }
    let _ = wait_ready_and_mode(ctx, "binding again");
}

/// New kernel log records, from `/dev/kmsg` (root).
struct Kmsg {
    file: File,
}

/// What the driver logs when it gets a DMA address without the VPU's bus alias: the vchiq
/// device's DMA set-up is gone (shown once per module load).
const NO_ALIAS: &str = "expecting an uncached (0xC) or coherent (0x8) VPU alias";

impl Kmsg {
    /// Starts after the records logged so far.
    fn new() -> Result<Kmsg, String> {
        let mut file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK)
            .open("/dev/kmsg")
            .ctx("/dev/kmsg")?;
        std::io::Seek::seek(&mut file, io::SeekFrom::End(0)).ctx("seek /dev/kmsg")?;
        Ok(Kmsg { file })
    }

    /// The messages logged since the last call.
    fn new_lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rec = [0u8; 8192];
        loop {
            match self.file.read(&mut rec) {
                Ok(0) => break,
                // One record per read: "prio,seq,time,flags;message\n".
                Ok(n) => {
                    let text = String::from_utf8_lossy(&rec[..n]);
                    if let Some((_, msg)) = text.split_once(';') {
                        out.push(msg.lines().next().unwrap_or("").to_owned());
                    }
                }
                // EPIPE: records were overwritten; go on with the next.
                Err(e) if errno_of(&e) == libc::EPIPE => {}
                Err(_) => break,
            }
        }
        out
    }
}

/// Unbind while a process is inside MEM_ALLOC (of 32 MiB, which takes a while): the ioctl
/// must fail with ENODEV or give a working wrapper, the VPU must hold nothing afterwards, and
/// the memory must not come from a device whose DMA set-up unbind already tore down (which
/// the driver's alias warning shows). A few attempts, the unbind a little later each time.
fn unbind_during_alloc(
    ctx: &Ctx,
    test: &str,
    known: &mut BTreeSet<u32>,
    kmsg: &mut Kmsg,
) -> Result<(), String> {
    let size = 32 << 20;
    let mut outcomes = Vec::new();
    let mut problems = Vec::new();
    for attempt in 0..4u64 {
        let (go_rx, go_tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (ready_rx, ready_tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
        let (go_tx_raw, ready_rx_raw) = (go_tx.as_raw_fd(), ready_rx.as_raw_fd());
        let child = start_child(|| {
            close_inherited(go_tx_raw);
            close_inherited(ready_rx_raw);
            ctx.enter_worker()?;
            let dev = Dev::open().ctx(DEV)?;
            send_ready(&ready_tx);
            let res = dev.alloc(size);
            wait_go(&go_rx);
            match res {
                Ok(imp) => {
                    let mut m =
                        imp.buf.mmap(0, size, Prot::READ_WRITE).ctx("mmap of the wrapper after unbind")?;
                    touch(&mut m, 0, 0xa11c)?;
                    Ok("a wrapper".into())
                }
                Err(e) if errno_of(&e) == libc::ENODEV => Ok("ENODEV".into()),
                Err(e) => Err(format!(
                    "MEM_ALLOC during unbind failed with {}, expected ENODEV or a wrapper",
                    describe(&e)
                )),
            }
        })?;
        drop((go_rx, ready_tx));
        let ready = File::from(ready_rx);
        wait_readable(&ready, Duration::from_secs(10));
        thread::sleep(Duration::from_millis(5 + 10 * attempt));
        let unbound = write_sysfs(test, "unbind", DEVICE)
            .and_then(|_| check_gone(&format!("unbind during MEM_ALLOC #{attempt}"), known));
        drop(go_tx);
        let got = child.join(test, Duration::from_secs(30), "the allocator");
        ensure_bound(ctx, test);
        let logged: Vec<String> = kmsg.new_lines().into_iter().filter(|l| l.contains(NO_ALIAS)).collect();
        outcomes.push(got.clone().unwrap_or_else(|e| e));
        problems.extend(unbound.err());
        problems.extend(got.err());
        if let Some(l) = logged.first() {
            problems.push(format!(
                "MEM_ALLOC #{attempt}, racing unbind, allocated through the unbound device: \"{l}\""
            ));
            break;
        }
    }
    info(test, &format!("unbind during a 32 MiB MEM_ALLOC: {}", outcomes.join(", ")));
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("; "))
    }
}

/// Unbind while a process waits for the reply to its IMPORT (the VPU delays it by 1 s): the
/// import must fail with ENODEV or give a wrapper that keeps working, and the VPU must hold
/// nothing afterwards.
fn unbind_during_import(ctx: &Ctx, test: &str, known: &mut BTreeSet<u32>) -> Result<(), String> {
    let _restore = SimDefaults;
    let size = 64 * 1024;
    sim_write("reply_delay_ms", "1000")?;
    let (go_rx, go_tx) = nix::unistd::pipe().map_err(|e| format!("pipe: {e}"))?;
    let go_tx_raw = go_tx.as_raw_fd();
    let child = start_child(|| {
        close_inherited(go_tx_raw);
        ctx.enter_worker()?;
        let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
        let dev = Dev::open().ctx(DEV)?;
        let src = heap.allocate(size as u64).ctx("heap ALLOC")?;
        let res = dev.import(src.as_raw_fd());
        // Keep whatever came back until the controller has looked at the VPU.
        wait_go(&go_rx);
        match res {
            Ok(imp) => {
                let mut m =
                    imp.buf.mmap(0, size, Prot::READ_WRITE).ctx("mmap of the wrapper after unbind")?;
                touch(&mut m, 0, 0x5eed)?;
                Ok(format!("the import returned a wrapper (handle {:#x}), which still maps", imp.vc_handle))
            }
            Err(e) if errno_of(&e) == libc::ENODEV => Ok("the import failed with ENODEV".into()),
            Err(e) => Err(format!("the import failed with {}, expected ENODEV or a wrapper", describe(&e))),
        }
    })?;
    drop(go_rx);
    let pending = wait_for(5000, || Drv::read().ok().flatten().is_some_and(|d| d.num("importing") == 1));
    let res = (|| -> Result<String, String> {
        if !pending {
            return Err("the IMPORT never showed as pending in the driver's state".into());
        }
        let took = write_sysfs(test, "unbind", DEVICE)?;
        let gone = check_gone("unbind while an IMPORT waits for its reply", known);
        Ok(format!("unbind took {took:?}; {}", gone.err().unwrap_or_else(|| "the VPU holds nothing".into())))
    })();
    drop(go_tx);
    let importer = child.join(test, Duration::from_secs(30), "the importer");
    sim_defaults();
    ensure_bound(ctx, test);
    let res = res?;
    info(test, &format!("unbind during a pending IMPORT: {res}; {}", importer.clone().unwrap_or_else(|e| e)));
    if !res.ends_with("the VPU holds nothing") {
        return Err(format!(
            "unbind during a pending IMPORT: {res}; importer: {}",
            importer.unwrap_or_else(|e| e)
        ));
    }
    importer.map(drop)
}

fn mode_unbind(ctx: &Ctx, test: &str, cycles: u32, workers: u32) -> Result<(), String> {
    let mut rng = ctx.rng("unbind");
    let mut known = Sim::read()?.handle_ids();
    let mut problems = Vec::new();
    let mut kmsg = Kmsg::new()?;
    if let Err(e) = unbind_during_import(ctx, test, &mut known) {
        problems.push(e);
    }
    if let Err(e) = unbind_during_alloc(ctx, test, &mut known, &mut kmsg) {
        problems.push(e);
    }
    let (kids, stop) = start_unload_workers(ctx, workers)?;
    let mut leaks = Vec::new();
    let mut dma_problems = Vec::new();
    let res = (|| -> Result<(), String> {
        let mut slowest = Duration::ZERO;
        for c in 0..cycles {
            thread::sleep(rng.ms(30, 200));
            let took = write_sysfs(test, "unbind", DEVICE)?;
            slowest = slowest.max(took);
            if let Err(e) = check_gone(&format!("unbind #{c} (after {took:?})"), &mut known) {
                leaks.push(e);
            }
            thread::sleep(rng.ms(0, 80));
            write_sysfs(test, "bind", DEVICE)?;
            wait_ready_and_mode(ctx, &format!("bind #{c}"))?;
            if let Err(e) = check_dma_alias(ctx, &format!("bind #{c}")) {
                if dma_problems.is_empty() {
                    dma_problems.push(e);
                }
            }
        }
        info(
            test,
            &format!(
                "{cycles} unbind/bind cycles with workers, slowest unbind {slowest:?}; {} left VPU handles behind",
                leaks.len()
            ),
        );
        Ok(())
    })();
    let stopped = stop_unload_workers(test, kids, stop);
    ensure_bound(ctx, test);
    if !leaks.is_empty() {
        problems.push(format!(
            "{} of {cycles} unbinds with workers left VPU handles: {}",
            leaks.len(),
            leaks.join("; ")
        ));
    }
    problems.extend(res.err());
    problems.extend(dma_problems);
    if let Some(l) = kmsg.new_lines().into_iter().find(|l| l.contains(NO_ALIAS)) {
        problems.push(format!("during the unbind/bind cycles with workers: \"{l}\" (a MEM_ALLOC or import used the device after unbind)"));
    }
    problems.extend(stopped.err());
    summarize(test, problems)
}

/// rmmod: `Ok(true)` unloaded, `Ok(false)` refused because something holds the module.
fn rmmod(test: &str) -> Result<bool, String> {
    let (res, _) = timed(test, "rmmod vc_sm_cma", Duration::from_secs(30), || {
        let name = CString::new(MODULE).expect("no NUL in the module name");
        delete_module(&name, DeleteModuleFlags::O_NONBLOCK)
    })?;
    match res {
        Ok(()) => Ok(true),
        Err(Errno::EAGAIN | Errno::EBUSY) => Ok(false),
        Err(e) => Err(format!("rmmod vc_sm_cma failed with {e}, expected success, EAGAIN or EBUSY")),
    }
}

fn insmod(ctx: &Ctx, test: &str) -> Result<(), String> {
    let ko = File::open(&ctx.ko).with_ctx(|| ctx.ko.display().to_string())?;
    let (res, _) = timed(test, "insmod vc-sm-cma.ko", Duration::from_secs(60), move || {
        finit_module(&ko, c"", ModuleInitFlags::empty())
    })?;
    res.map_err(|e| format!("insmod {}: {e}", ctx.ko.display()))?;
    wait_ready_and_mode(ctx, "insmod")
}

/// rmmod must be refused (with EAGAIN or EBUSY) and leave the driver working.
fn expect_refused(test: &str, while_: &str) -> Result<(), String> {
    if rmmod(test)? {
        return Err(format!("rmmod succeeded {while_}"));
    }
    if !driver_ready() {
        return Err(format!("a refused rmmod {while_} left the driver not ready"));
    }
    Ok(())
}

fn mode_rmmod(ctx: &Ctx, test: &str, cycles: u32, workers: u32) -> Result<(), String> {
    if !ctx.ko.exists() {
        return Err(format!("no module file {}", ctx.ko.display()));
    }
    let res = rmmod_cycles(ctx, test, cycles, workers);
    // Whatever happened: the module loaded and ready at the end.
    if !Path::new(MODULE_DIR).exists() {
        let _ = insmod(ctx, test);
    }
    let _ = wait_ready_and_mode(ctx, "the end of chaos/rmmod");
    res
}

fn rmmod_cycles(ctx: &Ctx, test: &str, cycles: u32, workers: u32) -> Result<(), String> {
    let mut rng = ctx.rng("rmmod");
    let mut known = Sim::read()?.handle_ids();
    let mut kmsg = Kmsg::new()?;
    // Refusals that do not depend on timing (as root, before the workers start).
    {
        let dev = Dev::open().ctx(DEV)?;
        expect_refused(test, "while /dev/vcsm-cma is open")?;
        let heap = Heap::open(&ctx.heap).map_err(|e| e.to_string())?;
        let src = heap.allocate(64 * 1024).ctx("heap ALLOC")?;
        let imp = dev.import(src.as_raw_fd()).ctx("MEM_IMPORT_DMABUF")?;
        drop((dev, src));
        expect_refused(test, "while a wrapper is open")?;
        let h = imp.vc_handle;
        sim_write("hold", &format!("{h:#x}"))?;
        drop(imp);
        expect_refused(test, "while the VPU holds a buffer")?;
        sim_write("drop", &format!("{h:#x}"))?;
        if !wait_for(5000, || Drv::read().ok().flatten().is_some_and(|d| d.num("buffers") == 0)) {
            return Err("the held buffer was not released after RELEASED".into());
        }
    }
    if !wait_for(5000, || rmmod(test).unwrap_or(false)) {
        return Err("rmmod refused with nothing held".into());
    }
    check_gone("rmmod with nothing held", &mut known)?;
    insmod(ctx, test)?;

    let (kids, stop) = start_unload_workers(ctx, workers)?;
    let mut leaks = Vec::new();
    let res = (|| -> Result<(), String> {
        let (mut removed, mut refused) = (0, 0);
        for c in 0..cycles {
            let end = Instant::now() + Duration::from_millis(1500);
            let mut gone = false;
            while Instant::now() < end {
                if rmmod(test)? {
                    gone = true;
                    break;
                }
                refused += 1;
                thread::sleep(rng.ms(5, 30));
            }
            if gone {
                removed += 1;
                if let Err(e) = check_gone(&format!("rmmod #{c}"), &mut known) {
                    leaks.push(e);
                }
                if Path::new(MODULE_DIR).exists() {
                    return Err(format!("rmmod #{c}: {MODULE_DIR} still there"));
                }
                thread::sleep(rng.ms(0, 80));
                insmod(ctx, test)?;
            } else if !driver_ready() {
                return Err(format!("cycle {c}: refused rmmods left the driver not ready"));
            }
        }
        info(
            test,
            &format!(
                "{cycles} cycles with workers: {removed} unloads ({} left VPU handles), {refused} refusals (EAGAIN/EBUSY)",
                leaks.len()
            ),
        );
        Ok(())
    })();
    let stopped = stop_unload_workers(test, kids, stop);
    res?;
    stopped?;
    if !leaks.is_empty() {
        return Err(format!("{} unloads with workers left VPU handles: {}", leaks.len(), leaks.join("; ")));
    }
    if let Some(l) = kmsg.new_lines().into_iter().find(|l| l.contains(NO_ALIAS)) {
        return Err(format!(
            "during the rmmod/insmod cycles: \"{l}\" (a MEM_ALLOC or import used the device after unbind)"
        ));
    }
    // Nothing holds the module any more: it must go, and come back.
    if !wait_for(5000, || rmmod(test).unwrap_or(false)) {
        return Err(format!(
            "rmmod refused after the workers ended (refcnt {:?}): a reference leaked",
            module_refcnt()
        ));
    }
    check_gone("the final rmmod", &mut known)?;
    insmod(ctx, test)
}

// ---- main ----

fn run_test(
    r: &mut Reporter,
    ctx: &Ctx,
    mode: &str,
    test: &str,
    same_driver: bool,
    body: impl FnOnce() -> Result<(), String>,
) {
    r.run(test, || {
        info(test, &format!("seed {} (replay: vcsm-chaos --seed {} ... {mode})", ctx.seed, ctx.seed));
        let base = Baseline::take(test)?;
        let t0 = Instant::now();
        let res = body();
        sim_defaults();
        let settled = settle(&base, 10_000, same_driver);
        info(test, &format!("took {:.1} s", t0.elapsed().as_secs_f64()));
        match (res, settled) {
            (Ok(()), s) => s,
            (Err(e), Ok(())) => Err(e),
            (Err(e), Err(s)) => Err(format!("{e}; and afterwards: {s}")),
        }
    });
}

fn main() -> ExitCode {
    let args = Args::parse();
    let seed = args.seed.unwrap_or_else(|| {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
            ^ u64::from(std::process::id())
    });
    emit(&format!("vcsm-chaos: seed {seed}"));
    let ctx = Ctx {
        seed,
        user: args.as_user.clone(),
        heap: args.heap.clone(),
        video_gid: args.video_gid,
        ko: args.ko.clone(),
    };
    let mut r = Reporter::new("vcsm-chaos");
    if !nix::unistd::geteuid().is_root() {
        r.run("chaos/setup", || Err("vcsm-chaos must start as root (it drives the simulator and the module; --as-user drops privileges for the rest)".into()));
        r.finish();
        return ExitCode::FAILURE;
    }
    match args.mode {
        Mode::Kill { children, threads, parallel, max_delay_ms } => {
            run_test(&mut r, &ctx, "kill", "chaos/kill", true, || {
                mode_kill(&ctx, "chaos/kill", children, threads, parallel, max_delay_ms)
            })
        }
        Mode::Fork { rounds } => {
            run_test(&mut r, &ctx, "fork", "chaos/fork", true, || mode_fork(&ctx, "chaos/fork", rounds))
        }
        Mode::MmapRace { rounds, threads } => {
            run_test(&mut r, &ctx, "mmap-race", "chaos/mmap-race", true, || {
                mode_mmap_race(&ctx, "chaos/mmap-race", rounds, threads)
            })
        }
        Mode::AfterRelease { rounds } => {
            run_test(&mut r, &ctx, "after-release", "chaos/after-release", true, || {
                mode_after_release(&ctx, "chaos/after-release", rounds)
            })
        }
        Mode::Unload { how, cycles, workers } => {
            if how != How::Module {
                run_test(&mut r, &ctx, "unload --how bind", "chaos/unbind", false, || {
                    mode_unbind(&ctx, "chaos/unbind", cycles, workers)
                });
            }
            if how != How::Bind {
                run_test(&mut r, &ctx, "unload --how module", "chaos/rmmod", false, || {
                    mode_rmmod(&ctx, "chaos/rmmod", cycles, workers)
                });
            }
        }
    }
    r.finish();
    if r.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_replayable_and_streams_differ() {
        let a: Vec<u64> = (0..8).scan(Rng::stream(42, "kill", 0), |r, _| Some(r.next())).collect();
        let b: Vec<u64> = (0..8).scan(Rng::stream(42, "kill", 0), |r, _| Some(r.next())).collect();
        let c: Vec<u64> = (0..8).scan(Rng::stream(42, "fork", 0), |r, _| Some(r.next())).collect();
        let d: Vec<u64> = (0..8).scan(Rng::stream(42, "kill", 1), |r, _| Some(r.next())).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(a, d);
    }

    #[test]
    fn rng_ranges() {
        let mut r = Rng::stream(7, "t", 0);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = r.range(3, 7);
            assert!((3..=7).contains(&v));
            seen[(v - 3) as usize] = true;
            assert!(r.below(10) < 10);
            assert_eq!(r.pages(2, 2), 2 * dmabuf::page_size());
            assert_ne!(r.seed32(), 0);
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(r.below(0), 0);
        assert_eq!(r.range(5, 5), 5);
    }

    #[test]
    fn user_parsing() {
        assert_eq!(parse_user("1000:44"), Ok(User { uid: 1000, gid: 44, groups: vec![44] }));
        assert_eq!(parse_user("1000:44:44,27"), Ok(User { uid: 1000, gid: 44, groups: vec![44, 27] }));
        assert_eq!(parse_user("1000:1000:"), Ok(User { uid: 1000, gid: 1000, groups: vec![] }));
        assert!(parse_user("1000").is_err());
        assert!(parse_user(":44").is_err());
        assert!(parse_user("x:44").is_err());
        assert!(parse_user("1000:44:a").is_err());
    }

    #[test]
    fn state_parsing() {
        let kv = kv_pairs::<BTreeMap<String, String>>(
            "buffer id=3 origin=import vc_handle=0x1001 vpu=mapped wrapped=yes",
        );
        assert_eq!(kv.get("id").map(String::as_str), Some("3"));
        assert_eq!(parse_u64("0x1001"), Some(0x1001));
        assert_eq!(parse_u64("12"), Some(12));
        assert_eq!(parse_u64("x"), None);
        let sim = Sim { text: "instances 1\nservices 1\nhandles 2\nhandle 0x5 addr 0xc0000000 size 0x1000 kernel_id 1 refs 1\nerrors client_errors=0 free_invalid=1\n".into() };
        assert_eq!(sim.handle_ids(), BTreeSet::from([5]));
        assert_eq!(sim.first("services"), Some(1));
        assert!(sim.has_handle(5));
        assert!(!sim.has_handle(6));
        assert_eq!(sim.errors().get("free_invalid").map(String::as_str), Some("1"));
    }

    #[test]
    fn expected_states() {
        let b = kv_pairs::<BTreeMap<String, String>>("id=1 vpu=mapped wrapped=yes");
        assert!(expect_state(Some(b.clone()), "mapped", "yes", "x").is_ok());
        assert!(expect_state(Some(b), "unmapping", "no", "x").is_err());
        assert!(expect_state(None, "mapped", "yes", "x").is_err());
    }
}
