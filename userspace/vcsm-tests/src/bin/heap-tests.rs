//! Functional tests of dma-heaps, run in the guest:
//!
//! ```text
//! heap-tests --heap vcsm-uncached --heap vcsm-cached [--region-mib 128] [--exhaust]
//! ```
//!
//! Prints `@@VCSM RUN|PASS|FAIL heap/<heap>/<test>` lines (see the `vcsm_tests` crate docs);
//! exits 1 if any test failed.
//!
//! Helpers for the pool tests of `tests/guest/heap.sh` (they print one line and exit 0, or 1
//! with the reason):
//!
//! ```text
//! heap-tests --pool-loop HEAP --size BYTES --iters N   # alloc, check every byte is 0, write, free
//! heap-tests --pool-fill HEAP --size BYTES --count N   # N live buffers written, then all freed
//! heap-tests --hog-mib N                               # touch N MiB of anonymous memory, free it
//! ```

use std::process::ExitCode;
use std::thread;
use std::time::{Duration, Instant};

use clap::Parser;
use dmabuf::uapi::DmaHeapAllocationData;
use dmabuf::{
    align_up, format_size, page_size, DmaBuf, Heap, Prot, DEFAULT_FD_FLAGS, DMA_BUF_SYNC_READ,
    DMA_BUF_SYNC_RW,
};
use vcsm_tests::{expect_errno, info, pattern, pattern_at, with_cpu_access, Context, Reporter};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Sizes of the basic allocate/map/verify test.
const SIZES: [u64; 6] = [4 * KIB, 64 * KIB, MIB, 8 * MIB, 32 * MIB, 64 * MIB];

#[derive(Parser, Debug)]
#[command(about = "Functional tests of Linux dma-heaps (@@VCSM line protocol)")]
struct Args {
    /// Heap to test (a name under /dev/dma_heap); repeat for several.
    #[arg(long = "heap", value_name = "NAME", required_unless_present_any = ["hold", "pool_loop", "pool_fill", "hog_mib"])]
    heaps: Vec<String>,

    /// Size of the heap's memory region in MiB: allocation sizes above half of it are skipped,
    /// and it bounds the exhaustion test.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    region_mib: Option<u64>,

    /// Also run the exhaustion test (allocates the heap's whole memory area, which the in-kernel
    /// CMA heaps share with other users).
    #[arg(long)]
    exhaust: bool,

    /// The heap's CMA area (its reserved-memory node name). With it, the exhaustion test checks
    /// that the area's own allocation count (`/sys/kernel/debug/cma/NAME/used`, needs
    /// CONFIG_CMA_DEBUGFS) is back to its exact start value, instead of the system-wide CmaFree
    /// (which also moves when the kernel migrates pages out of the area to make room).
    #[arg(long, value_name = "NAME", requires = "exhaust")]
    cma_area: Option<String>,

    /// Only run tests whose id contains this text (repeatable).
    #[arg(long, value_name = "TEXT")]
    only: Vec<String>,

    /// Leave out tests whose id contains this text (repeatable), e.g. `/alloc-64M` on a pool
    /// that cannot hold 64 MiB. Left-out tests print nothing (a skip would count as a failure).
    #[arg(long, value_name = "TEXT")]
    skip: Vec<String>,

    /// Instead of testing: allocate one 1 MiB buffer from this heap, print a line starting with
    /// `HOLDING`, and keep the buffer until killed or --hold-secs have passed.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["heaps", "exhaust", "only", "skip", "region_mib", "cma_area"])]
    hold: Option<String>,

    /// Upper bound on how long --hold keeps the buffer.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, requires = "hold")]
    hold_secs: u64,

    /// Instead of testing: --iters times allocate --size bytes from this heap, check that every
    /// byte reads zero, fill it with a pattern and free it (the pool's never-un-zeroed check).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["heaps", "hold", "pool_fill", "hog_mib"])]
    pool_loop: Option<String>,

    /// Instead of testing: allocate --count buffers of --size bytes from this heap, write each,
    /// then free them all (fills the pool).
    #[arg(long, value_name = "NAME", conflicts_with_all = ["heaps", "hold", "pool_loop", "hog_mib"])]
    pool_fill: Option<String>,

    /// Buffer size for --pool-loop and --pool-fill.
    #[arg(long, value_name = "BYTES", default_value_t = MIB)]
    size: u64,

    /// Rounds of --pool-loop.
    #[arg(long, value_name = "N", default_value_t = 1)]
    iters: u64,

    /// Buffers of --pool-fill.
    #[arg(long, value_name = "N", default_value_t = 8)]
    count: usize,

    /// Instead of testing: touch this many MiB of anonymous memory (one write per page), then
    /// free it: memory pressure for the pool's shrinker.
    #[arg(long, value_name = "MIB", conflicts_with_all = ["heaps", "hold", "pool_loop", "pool_fill"])]
    hog_mib: Option<usize>,
}

/// Everything a test needs to know besides the heap.
struct Ctx<'a> {
    heap: &'a Heap,
    page: usize,
    region_mib: Option<u64>,
    cma_area: Option<&'a str>,
}

impl Ctx<'_> {
    fn page64(&self) -> u64 {
        self.page as u64
    }

    /// Allocate with the default flags; the error names the size.
    fn alloc(&self, len: u64) -> Result<DmaBuf, String> {
        self.heap.allocate(len).with_ctx(|| format!("alloc {}", format_size(len)))
    }
}

fn to_usize(n: u64) -> Result<usize, String> {
    usize::try_from(n).map_err(|_| format!("{n} does not fit in usize"))
}

/// Allocate, check size and zeroing, write a pattern, re-map and verify it, then check windows
/// at nonzero offsets.
fn test_alloc_size(c: &Ctx, size: u64) -> Result<(), String> {
    let buf = c.alloc(size)?;
    let got = buf.size().ctx("size (lseek SEEK_END)")?;
    if got != size {
        return Err(format!("dma-buf size is {got}, requested {size}"));
    }
    let len = to_usize(size)?;
    // Different for every size, so stale data of an earlier test never matches.
    let seed = 0xA5C3_0000 ^ (size as u32).rotate_left(7) ^ (size >> 20) as u32;

    {
        let mut map = buf.mmap(0, len, Prot::READ_WRITE).ctx("mmap whole buffer RW")?;
        with_cpu_access(&buf, DMA_BUF_SYNC_RW, || {
            if let Some(m) = map.find_byte_mismatch(0).ctx("read")? {
                return Err(format!(
                    "new buffer not zeroed: byte at offset {:#x} is {:#04x}",
                    m.offset, m.found
                ));
            }
            map.fill_u32_with(pattern(seed)).ctx("write pattern")
        })?;
    } // munmap

    {
        let map = buf.mmap(0, len, Prot::READ).ctx("re-mmap whole buffer RO")?;
        with_cpu_access(&buf, DMA_BUF_SYNC_READ, || {
            match map.find_u32_mismatch(pattern(seed)).ctx("read back")? {
                None => Ok(()),
                Some(m) => Err(format!(
                    "pattern lost after munmap/mmap: offset {:#x} expected {:#010x} found {:#010x}",
                    m.offset, m.expected, m.found
                )),
            }
        })?;
    }

    // Windows at nonzero offsets: from page 1 to the end, one page in the middle, the last page.
    let page = c.page;
    if len >= 2 * page {
        let mid = (len / 2) / page * page;
        let windows = [(page, len - page), (mid, page), (len - page, page)];
        for (off, wlen) in windows {
            let map = buf
                .mmap(off as u64, wlen, Prot::READ)
                .with_ctx(|| format!("mmap window offset {off:#x} len {wlen:#x}"))?;
            with_cpu_access(&buf, DMA_BUF_SYNC_READ, || {
                match map.find_u32_mismatch(pattern_at(seed, off)).ctx("read window")? {
                    None => Ok(()),
                    Some(m) => Err(format!(
                        "mmap at offset {off:#x} shows wrong data: window offset {:#x} expected \
                         {:#010x} found {:#010x} (offset not honoured?)",
                        m.offset, m.expected, m.found
                    )),
                }
            })?;
        }
    }
    Ok(())
}

/// Freed memory handed out again must be zeroed again.
fn test_zero_reuse(c: &Ctx) -> Result<(), String> {
    const ROUNDS: usize = 9; // the first allocation plus 8 re-allocations
    let len = MIB;
    for round in 0..ROUNDS {
        let buf = c.alloc(len).map_err(|e| format!("round {round}: {e}"))?;
        let mut map = buf.mmap(0, to_usize(len)?, Prot::READ_WRITE).ctx("mmap")?;
        with_cpu_access(&buf, DMA_BUF_SYNC_RW, || {
            if let Some(m) = map.find_byte_mismatch(0).ctx("read")? {
                return Err(format!(
                    "round {round}: buffer not zeroed: byte at offset {:#x} is {:#04x} \
                     (previous contents leaked)",
                    m.offset, m.found
                ));
            }
            map.fill_bytes(0xff).ctx("fill 0xff")
        })?;
    }
    Ok(())
}

/// The statistics file of vcsm-cma-heap.ko.
const VCSM_HEAP_STATS: &str = "/sys/kernel/debug/vcsm-cma-heap/stats";

/// `allocs` and `cleans` of one of our heaps, from [`VCSM_HEAP_STATS`] (`cleans` is 0 for the
/// cached heap, which never cleans).
fn vcsm_heap_counts(heap: &str) -> Result<(u64, u64), String> {
    let text = std::fs::read_to_string(VCSM_HEAP_STATS).with_ctx(|| format!("read {VCSM_HEAP_STATS}"))?;
    let line = text
        .lines()
        .find(|l| l.split_whitespace().next() == Some(heap))
        .ok_or_else(|| format!("{VCSM_HEAP_STATS} has no line for {heap}:\n{text}"))?;
    let field = |key: &str| -> Result<u64, String> {
        match line.split_whitespace().find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')) {
            Some(v) => v.parse().map_err(|e| format!("{key}={v} in {line:?}: {e}")),
            None if key == "cleans" => Ok(0),
            None => Err(format!("no {key}= in {line:?}")),
        }
    };
    Ok((field("allocs")?, field("cleans")?))
}

/// vcsm-uncached cleans a buffer's zeroes to memory exactly once, on its first mapping (a
/// buffer never mapped is never cleaned); vcsm-cached never does. The QEMU test bed models no
/// caches, so these counters are how a missing clean shows up here.
fn test_clean_on_first_map(c: &Ctx, heap: &str) -> Result<(), String> {
    let uncached = heap == "vcsm-uncached";
    let len = MIB;
    let (a0, c0) = vcsm_heap_counts(heap)?;
    drop(c.alloc(len)?);
    let (a1, c1) = vcsm_heap_counts(heap)?;
    if a1 != a0 + 1 {
        return Err(format!("one allocation moved allocs from {a0} to {a1}"));
    }
    if c1 != c0 {
        return Err(format!("a buffer that was never mapped was cleaned ({c0} -> {c1} cleans)"));
    }
    let buf = c.alloc(len)?;
    for round in 1..=2 {
        let map = buf.mmap(0, to_usize(len)?, Prot::READ).ctx("mmap")?;
        let (_, cn) = vcsm_heap_counts(heap)?;
        let want = if uncached { c0 + 1 } else { c0 };
        if cn != want {
            return Err(format!(
                "after mmap number {round} of one buffer: {} cleans, expected {} ({})",
                cn - c0,
                want - c0,
                if uncached { "exactly one, on the first mapping" } else { "the cached heap never cleans" }
            ));
        }
        if let Some(m) = map.find_byte_mismatch(0).ctx("read")? {
            return Err(format!(
                "mmap number {round}: byte at {:#x} is {:#04x}, not zero",
                m.offset, m.found
            ));
        }
    }
    Ok(())
}

fn test_len_zero(c: &Ctx) -> Result<(), String> {
    expect_errno(c.heap.allocate(0), &[libc::EINVAL], "alloc len 0").map(drop)
}

fn test_len_rounds_up(c: &Ctx) -> Result<(), String> {
    let buf = c.heap.allocate(4097).ctx("alloc len 4097")?;
    let want = align_up(4097, c.page64()).ok_or("page size overflow")?;
    let got = buf.size().ctx("size")?;
    if got != want {
        return Err(format!("alloc len 4097 gave a {got}-byte buffer, expected {want}"));
    }
    // The whole rounded-up buffer must be mappable.
    let map = buf.mmap(0, to_usize(want)?, Prot::READ).ctx("mmap rounded-up size")?;
    with_cpu_access(&buf, DMA_BUF_SYNC_READ, || match map.find_byte_mismatch(0).ctx("read")? {
        None => Ok(()),
        Some(m) => Err(format!("not zeroed at offset {:#x}", m.offset)),
    })
}

/// A length no heap here can satisfy: beyond the region, 1 GiB and twice the guest's RAM.
fn huge_len(c: &Ctx) -> u64 {
    let ram = dmabuf::mem_total_kib().map(|k| k.saturating_mul(KIB).saturating_mul(2)).unwrap_or(0);
    let region = c.region_mib.map_or(0, |m| m.saturating_mul(MIB).saturating_mul(2));
    let len = GIB.max(ram).max(region);
    align_up(len, c.page64()).unwrap_or(len)
}

fn test_len_huge(c: &Ctx, id: &str, len: u64) -> Result<(), String> {
    let errno = expect_errno(
        c.heap.allocate(len),
        &[libc::ENOMEM, libc::EINVAL],
        format_args!("alloc len {len} ({})", format_size(len)),
    )?;
    info(id, &format!("alloc len {len} failed with {}", dmabuf::describe_errno(errno)));
    Ok(())
}

fn test_fd_field(c: &Ctx) -> Result<(), String> {
    let mut data =
        DmaHeapAllocationData { len: c.page64(), fd: 1, fd_flags: DEFAULT_FD_FLAGS, heap_flags: 0 };
    expect_errno(c.heap.alloc_raw(&mut data), &[libc::EINVAL], "alloc with fd field 1").map(drop)
}

fn test_fd_flags(c: &Ctx) -> Result<(), String> {
    let valid = (libc::O_ACCMODE | libc::O_CLOEXEC) as u32;
    for extra in [libc::O_NONBLOCK as u32, libc::O_APPEND as u32, 1 << 31] {
        debug_assert_eq!(extra & valid, 0);
        expect_errno(
            c.heap.alloc(c.page64(), DEFAULT_FD_FLAGS | extra, 0),
            &[libc::EINVAL],
            format_args!("alloc with fd_flags {:#x}", DEFAULT_FD_FLAGS | extra),
        )?;
    }
    Ok(())
}

fn test_heap_flags(c: &Ctx) -> Result<(), String> {
    for flags in [1u64, 1 << 63] {
        expect_errno(
            c.heap.alloc(c.page64(), DEFAULT_FD_FLAGS, flags),
            &[libc::EINVAL],
            format_args!("alloc with heap_flags {flags:#x}"),
        )?;
    }
    Ok(())
}

const MMAP_ERRNOS: [i32; 2] = [libc::EINVAL, libc::ENXIO];

fn test_mmap_too_large(c: &Ctx) -> Result<(), String> {
    let len = 64 * KIB as usize;
    let buf = c.alloc(len as u64)?;
    for wlen in [len + c.page, 2 * len] {
        expect_errno(
            buf.mmap(0, wlen, Prot::READ),
            &MMAP_ERRNOS,
            format_args!("mmap {wlen:#x} bytes of a {len:#x}-byte buffer"),
        )?;
    }
    buf.mmap(0, len, Prot::READ).ctx("control: mmap of the exact size")?;
    Ok(())
}

fn test_mmap_beyond_end(c: &Ctx) -> Result<(), String> {
    let len = 64 * KIB as usize;
    let page = c.page;
    let buf = c.alloc(len as u64)?;
    for (off, wlen) in [(len, page), (2 * len, page), (len - page, 2 * page)] {
        expect_errno(
            buf.mmap(off as u64, wlen, Prot::READ),
            &MMAP_ERRNOS,
            format_args!("mmap offset {off:#x} len {wlen:#x} of a {len:#x}-byte buffer"),
        )?;
    }
    buf.mmap((len - page) as u64, page, Prot::READ).ctx("control: mmap of the last page")?;
    Ok(())
}

/// Allocate 4 MiB buffers until ENOMEM; returns how many succeeded. The buffers are freed
/// before returning.
fn fill_heap(c: &Ctx, cap: usize) -> Result<usize, String> {
    let chunk = 4 * MIB;
    let mut bufs = Vec::new();
    let outcome = loop {
        if bufs.len() >= cap {
            break Err(format!(
                "{cap} allocations of 4M succeeded without ENOMEM (more than the region holds; \
                 not a CMA-backed heap?)"
            ));
        }
        match c.heap.allocate(chunk) {
            Ok(b) => bufs.push(b),
            Err(e) if e.raw_os_error() == Some(libc::ENOMEM) => break Ok(bufs.len()),
            Err(e) => {
                break Err(format!(
                    "allocation #{} failed with {}, expected ENOMEM",
                    bufs.len() + 1,
                    dmabuf::describe_io_error(&e)
                ))
            }
        }
    };
    drop(bufs);
    let n = outcome?;
    if n == 0 {
        return Err("not even one 4M allocation succeeded".into());
    }
    Ok(n)
}

/// CmaFree after asking the kernel to flush its per-CPU free lists.
///
/// Since Linux 6.7 the per-CPU page lists grow to up to 1/8 of a zone per CPU while many pages
/// are freed in a row (PCP high auto-tuning), and are trimmed only by about 1/8 per second.
/// Pages freed by `cma_release` wait there, outside CmaFree, so a burst of frees shows up in
/// CmaFree only seconds later. `alloc_contig_range` (every `cma_alloc`) drains all those lists
/// first, so one small allocation from the CMA heap under test makes CmaFree accurate; its own
/// page goes back to the lists, well inside the tolerance. A page that was really leaked is not
/// on any free list and stays missing.
fn settled_cma_free(c: &Ctx) -> Result<u64, String> {
    // The nudge's result is irrelevant: even a failed cma_alloc has drained the lists.
    drop(c.heap.allocate(c.page64()));
    dmabuf::cma_free_kib().ctx("CmaFree")
}

/// Wait (at most `timeout`) until CmaFree is no more than `slack_kib` below `target_kib`.
fn wait_cma_free(c: &Ctx, target_kib: u64, slack_kib: u64, timeout: Duration) -> Result<u64, String> {
    let start = Instant::now();
    loop {
        let now = settled_cma_free(c)?;
        if now.saturating_add(slack_kib) >= target_kib {
            return Ok(now);
        }
        if start.elapsed() >= timeout {
            return Err(format!(
                "CmaFree is {now} kB {timeout:?} after freeing everything, was {target_kib} kB \
                 before (leak of {} kB?)",
                target_kib - now
            ));
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// Heaps backed by the page allocator rather than a region: a huge or exhausting allocation
/// there does not fail with ENOMEM, it wakes the OOM killer (the system heap has no size check).
fn is_unbounded_heap(name: &str) -> bool {
    name == "system" || name.starts_with("system-") || name.starts_with("system_")
}

/// Pages allocated from a CMA area, from its debugfs `used` file.
fn cma_area_used(area: &str) -> Result<u64, String> {
    let path = format!("/sys/kernel/debug/cma/{area}/used");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    text.trim().parse().map_err(|e| format!("{path}: {e} in {:?}", text.trim()))
}

/// Bytes the vcsm heaps' pool of freed buffers holds (the `pool ... bytes=` of
/// [`VCSM_HEAP_STATS`]); 0 without the module or its pool.
fn vcsm_pool_bytes() -> u64 {
    let Ok(text) = std::fs::read_to_string(VCSM_HEAP_STATS) else { return 0 };
    text.lines()
        .find(|l| l.split_whitespace().next() == Some("pool"))
        .and_then(|l| l.split_whitespace().find_map(|kv| kv.strip_prefix("bytes=")?.parse().ok()))
        .unwrap_or(0)
}

/// A CMA area's used pages less the pages the vcsm pool keeps for reuse (pooled buffers are
/// not leaked: the pool gives them back to CMA when the region runs out, under memory
/// pressure, when idle, and at unload). Read until the pool did not change around the read.
fn cma_area_used_unpooled(c: &Ctx, area: &str) -> Result<u64, String> {
    for _ in 0..50 {
        let p1 = vcsm_pool_bytes();
        let used = cma_area_used(area)?;
        if vcsm_pool_bytes() == p1 {
            return Ok(used.saturating_sub(p1 / c.page64()));
        }
        thread::sleep(Duration::from_millis(20));
    }
    Err(format!("the vcsm pool kept changing while {area}'s used pages were read"))
}

fn test_exhaust(c: &Ctx, id: &str) -> Result<(), String> {
    if let Some(area) = c.cma_area {
        return test_exhaust_area(c, id, area);
    }
    let region_kib = match c.region_mib {
        Some(m) => m.saturating_mul(KIB),
        None => dmabuf::cma_total_kib().ctx("CmaTotal")?,
    };
    // Upper bound on the loop: everything the region (or all CMA) can hold, plus slack.
    let cap = to_usize(region_kib / (4 * KIB) + 8)?;
    let timeout = Duration::from_secs(2);
    let before = settled_cma_free(c)?;

    let first = fill_heap(c, cap).map_err(|e| format!("round 1: {e}"))?;
    let after1 = wait_cma_free(c, before, KIB, timeout).map_err(|e| format!("round 1: {e}"))?;
    let second = fill_heap(c, cap).map_err(|e| format!("round 2: {e}"))?;
    let after2 = wait_cma_free(c, before, KIB, timeout).map_err(|e| format!("round 2: {e}"))?;
    info(
        id,
        &format!(
            "4M buffers: round1={first} round2={second}; CmaFree kB before={before} \
             after1={after1} after2={after2}"
        ),
    );
    if first.abs_diff(second) > 1 {
        return Err(format!(
            "round 1 allocated {first} 4M buffers, round 2 {second}: memory leaked or fragmented"
        ));
    }
    Ok(())
}

/// Exhaustion judged by the heap's own CMA area: after each round its allocated page count
/// must be exactly what it was before, and both rounds must fit the same number of buffers.
fn test_exhaust_area(c: &Ctx, id: &str, area: &str) -> Result<(), String> {
    let total_kib = match c.region_mib {
        Some(m) => m.saturating_mul(KIB),
        None => {
            let path = format!("/sys/kernel/debug/cma/{area}/count");
            let text = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
            let pages: u64 = text.trim().parse().map_err(|e| format!("{path}: {e}"))?;
            pages.saturating_mul(c.page64()) / KIB
        }
    };
    let cap = to_usize(total_kib / (4 * KIB) + 8)?;
    // Pages in the vcsm pool are counted as free: they are the pool's, not leaked.
    let before = cma_area_used_unpooled(c, area)?;
    let first = fill_heap(c, cap).map_err(|e| format!("round 1: {e}"))?;
    let after1 = cma_area_used_unpooled(c, area)?;
    let second = fill_heap(c, cap).map_err(|e| format!("round 2: {e}"))?;
    let after2 = cma_area_used_unpooled(c, area)?;
    info(
        id,
        &format!(
            "4M buffers: round1={first} round2={second}; {area} pages used (less the vcsm \
             pool's {} pages) before={before} after1={after1} after2={after2}",
            vcsm_pool_bytes() / c.page64()
        ),
    );
    if after1 != before || after2 != before {
        return Err(format!(
            "CMA area {area}: {before} pages used before, {after1} after round 1, {after2} \
             after round 2: pages leaked"
        ));
    }
    if first.abs_diff(second) > 1 {
        return Err(format!(
            "round 1 allocated {first} 4M buffers, round 2 {second}: memory leaked or fragmented"
        ));
    }
    Ok(())
}

fn test_cycles(c: &Ctx, len: u64, cycles: usize) -> Result<(), String> {
    let ulen = to_usize(len)?;
    let words_per_page = c.page / 4;
    for i in 0..cycles {
        let fail = |e: String| format!("cycle {i}: {e}");
        let buf = c.alloc(len).map_err(fail)?;
        let mut map = buf.mmap(0, ulen, Prot::READ_WRITE).ctx("mmap").map_err(fail)?;
        with_cpu_access(&buf, DMA_BUF_SYNC_RW, || {
            // Touch every page: one word each, then read them back.
            let value = |w: usize| (w as u32) ^ (i as u32).wrapping_mul(0x9E37_79B9);
            for w in (0..map.words()).step_by(words_per_page) {
                map.write_u32(w, value(w)).ctx("write")?;
            }
            for w in (0..map.words()).step_by(words_per_page) {
                let got = map.read_u32(w).ok_or("read out of range")?;
                if got != value(w) {
                    return Err(format!("word {w} reads {got:#010x}, wrote {:#010x}", value(w)));
                }
            }
            Ok(())
        })
        .map_err(fail)?;
    }
    Ok(())
}

fn test_many_live(c: &Ctx) -> Result<(), String> {
    const COUNT: usize = 256;
    let len = 64 * KIB;
    let ulen = to_usize(len)?;
    let seed = |k: usize| 0x5EED_0000u32 ^ ((k as u32) << 20) ^ k as u32;
    let mut bufs = Vec::with_capacity(COUNT);
    for k in 0..COUNT {
        let buf = c.alloc(len).map_err(|e| format!("buffer {k} of {COUNT}: {e}"))?;
        {
            let mut map = buf.mmap(0, ulen, Prot::READ_WRITE).with_ctx(|| format!("buffer {k}: mmap"))?;
            with_cpu_access(&buf, DMA_BUF_SYNC_RW, || {
                if let Some(m) = map.find_byte_mismatch(0).ctx("read")? {
                    return Err(format!("not zeroed at offset {:#x}", m.offset));
                }
                map.fill_u32_with(pattern(seed(k))).ctx("write")
            })
            .map_err(|e| format!("buffer {k}: {e}"))?;
        }
        bufs.push(buf);
    }
    for (k, buf) in bufs.iter().enumerate() {
        let map = buf.mmap(0, ulen, Prot::READ).with_ctx(|| format!("buffer {k}: re-mmap"))?;
        with_cpu_access(buf, DMA_BUF_SYNC_READ, || {
            match map.find_u32_mismatch(pattern(seed(k))).ctx("read")? {
                None => Ok(()),
                Some(m) => {
                    let owner = (0..COUNT).find(|&j| pattern(seed(j))(m.offset / 4) == m.found);
                    Err(format!(
                        "offset {:#x}: expected {:#010x} found {:#010x}{}",
                        m.offset,
                        m.expected,
                        m.found,
                        owner.map_or(String::new(), |j| format!(" (buffer {j}'s data: buffers alias)"))
                    ))
                }
            }
        })
        .map_err(|e| format!("buffer {k}: {e}"))?;
    }
    Ok(())
}

/// A test of the list in `run_heap`: its name, why it is skipped (if it is) and its body.
type TestFn<'a> = Box<dyn Fn(&Ctx, &str) -> Result<(), String> + 'a>;

fn run_heap(r: &mut Reporter, args: &Args, name: &str) {
    let selected = |id: &str| {
        (args.only.is_empty() || args.only.iter().any(|o| id.contains(o.as_str())))
            && !args.skip.iter().any(|o| id.contains(o.as_str()))
    };
    let id = |test: &str| format!("heap/{name}/{test}");

    let mut heap = None;
    r.run(&id("open"), || {
        heap = Some(Heap::open(name).map_err(|e| e.to_string())?);
        Ok(())
    });
    let Some(heap) = heap else { return };
    let c = Ctx {
        heap: &heap,
        page: page_size(),
        region_mib: args.region_mib,
        cma_area: args.cma_area.as_deref(),
    };
    let unbounded = is_unbounded_heap(name);

    let mut tests: Vec<(String, Option<String>, TestFn)> = Vec::new();
    for size in SIZES {
        let skip = match args.region_mib {
            Some(m) if size > m.saturating_mul(MIB) / 2 => {
                Some(format!("larger than half of the {m} MiB region"))
            }
            _ => None,
        };
        tests.push((
            format!("alloc-{}", format_size(size)),
            skip,
            Box::new(move |c, _| test_alloc_size(c, size)),
        ));
    }
    let oom = |what: &str| unbounded.then(|| format!("page-allocator heap: {what} invokes the OOM killer"));
    let mut add =
        |test: &str, skip: Option<String>, f: TestFn<'static>| tests.push((test.to_owned(), skip, f));
    add("zero-on-reuse", None, Box::new(|c, _| test_zero_reuse(c)));
    add("bad-len-0", None, Box::new(|c, _| test_len_zero(c)));
    add("len-4097-rounds-up", None, Box::new(|c, _| test_len_rounds_up(c)));
    add("bad-len-huge", oom("a huge allocation"), Box::new(|c, id| test_len_huge(c, id, huge_len(c))));
    add("bad-len-u64max", None, Box::new(|c, id| test_len_huge(c, id, u64::MAX)));
    add("bad-fd-field", None, Box::new(|c, _| test_fd_field(c)));
    add("bad-fd-flags", None, Box::new(|c, _| test_fd_flags(c)));
    add("bad-heap-flags", None, Box::new(|c, _| test_heap_flags(c)));
    add("mmap-too-large", None, Box::new(|c, _| test_mmap_too_large(c)));
    add("mmap-beyond-end", None, Box::new(|c, _| test_mmap_beyond_end(c)));
    if args.exhaust {
        add("exhaust", oom("exhausting it"), Box::new(test_exhaust));
    }
    add("cycles-64K", None, Box::new(|c, _| test_cycles(c, 64 * KIB, 1000)));
    add("cycles-1M", None, Box::new(|c, _| test_cycles(c, MIB, 100)));
    add("many-live-256x64K", None, Box::new(|c, _| test_many_live(c)));
    if name == "vcsm-uncached" || name == "vcsm-cached" {
        let heap = name.to_owned();
        add("clean-on-first-map", None, Box::new(move |c, _| test_clean_on_first_map(c, &heap)));
    }

    for (test, skip, f) in tests {
        let tid = id(&test);
        if !selected(&tid) {
            continue;
        }
        match skip {
            Some(reason) => r.skip(&tid, &reason),
            None => {
                r.run(&tid, || f(&c, &tid));
            }
        }
    }
}

/// `--hold`: keep a live buffer for a module-unload test running alongside.
fn hold(name: &str, secs: u64) -> ExitCode {
    const LEN: u64 = MIB;
    let buf = match Heap::open(name)
        .map_err(|e| e.to_string())
        .and_then(|heap| heap.allocate(LEN).with_ctx(|| format!("alloc {} from {name}", format_size(LEN))))
    {
        Ok(buf) => buf,
        Err(e) => {
            vcsm_tests::emit(&format!("heap-tests --hold: {}", vcsm_tests::one_line(&e)));
            return ExitCode::FAILURE;
        }
    };
    vcsm_tests::emit(&format!("HOLDING heap={name} size={LEN} pid={}", std::process::id()));
    thread::sleep(Duration::from_secs(secs));
    drop(buf);
    ExitCode::SUCCESS
}

/// One round of `--pool-loop`: a new buffer must read zero everywhere; then it is written.
fn pool_round(heap: &Heap, size: u64, round: u64) -> Result<(), String> {
    let buf = heap.allocate(size).with_ctx(|| format!("round {round}: alloc {}", format_size(size)))?;
    let len = to_usize(size)?;
    let mut map = buf.mmap(0, len, Prot::READ_WRITE).with_ctx(|| format!("round {round}: mmap"))?;
    with_cpu_access(&buf, DMA_BUF_SYNC_RW, || {
        if let Some(m) = map.find_byte_mismatch(0).ctx("read")? {
            return Err(format!(
                "round {round}: new buffer not zeroed: byte at offset {:#x} is {:#04x} (a freed \
                 buffer's contents handed out)",
                m.offset, m.found
            ));
        }
        let seed = 0xB00C_0000u32 ^ (std::process::id() << 8) ^ round as u32;
        map.fill_u32_with(pattern(seed)).ctx("write pattern")
    })
}

/// `--pool-loop`.
fn pool_loop(name: &str, size: u64, iters: u64) -> ExitCode {
    let result = Heap::open(name).map_err(|e| e.to_string()).and_then(|heap| {
        for round in 0..iters {
            pool_round(&heap, size, round)?;
        }
        Ok(())
    });
    match result {
        Ok(()) => {
            vcsm_tests::emit(&format!("POOL-LOOP heap={name} size={size} iters={iters} zeroed=all"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            vcsm_tests::emit(&format!("POOL-LOOP heap={name} FAILED: {}", vcsm_tests::one_line(&e)));
            ExitCode::FAILURE
        }
    }
}

/// `--pool-fill`.
fn pool_fill(name: &str, size: u64, count: usize) -> ExitCode {
    let result = Heap::open(name).map_err(|e| e.to_string()).and_then(|heap| {
        let len = to_usize(size)?;
        let mut bufs = Vec::with_capacity(count);
        for k in 0..count {
            let buf = heap.allocate(size).with_ctx(|| format!("buffer {k}: alloc"))?;
            let mut map = buf.mmap(0, len, Prot::READ_WRITE).with_ctx(|| format!("buffer {k}: mmap"))?;
            with_cpu_access(&buf, DMA_BUF_SYNC_RW, || map.fill_bytes(0x5a).ctx("write"))?;
            drop(map);
            bufs.push(buf);
        }
        Ok(bufs.len())
    });
    match result {
        Ok(n) => {
            vcsm_tests::emit(&format!("POOL-FILL heap={name} size={size} freed={n}"));
            ExitCode::SUCCESS
        }
        Err(e) => {
            vcsm_tests::emit(&format!("POOL-FILL heap={name} FAILED: {}", vcsm_tests::one_line(&e)));
            ExitCode::FAILURE
        }
    }
}

/// `--hog-mib`: one write per page of an anonymous mapping, so every page is really allocated
/// (and only once: no memset of the whole range on top of the kernel's zeroing).
fn hog(mib: usize) -> ExitCode {
    let len = mib << 20;
    let page = page_size();
    let start = Instant::now();
    let mut map = match memmap2::MmapMut::map_anon(len) {
        Ok(map) => map,
        Err(e) => {
            vcsm_tests::emit(&format!("HOG FAILED: mmap {mib} MiB: {e}"));
            return ExitCode::FAILURE;
        }
    };
    let mut sum = 0u64;
    for i in (0..len).step_by(page) {
        map[i] = (i / page) as u8 | 1;
        sum += u64::from(std::hint::black_box(map[i]));
    }
    drop(map);
    vcsm_tests::emit(&format!("HOG touched={mib}MiB in {} ms (check {sum})", start.elapsed().as_millis()));
    ExitCode::SUCCESS
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Some(name) = &args.hold {
        return hold(name, args.hold_secs);
    }
    if let Some(name) = &args.pool_loop {
        return pool_loop(name, args.size, args.iters);
    }
    if let Some(name) = &args.pool_fill {
        return pool_fill(name, args.size, args.count);
    }
    if let Some(mib) = args.hog_mib {
        return hog(mib);
    }
    let mut r = Reporter::new("heap-tests");
    for name in &args.heaps {
        run_heap(&mut r, &args, name);
    }
    r.finish();
    if r.failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
