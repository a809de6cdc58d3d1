//! Regression tests of the holes a hostile local user found in the driver (issue 9): nested
//! imports, MEM_ALLOC outside CMA and without limit, many imports of one buffer, log floods.
//! Each fails on the driver before the fixes (a kernel report, a missing field, or a count).

use super::*;

const PARAMS: &str = "/sys/module/vc_sm_cma/parameters";
const DMA_API_DUMP: &str = "/sys/kernel/debug/dma-api/dump";

/// Sets a vc-sm-cma module parameter; returns the previous value.
fn set_param(name: &str, value: &str) -> Result<String, String> {
    let path = format!("{PARAMS}/{name}");
    let old = fs::read_to_string(&path).ctx(&path)?.trim().to_owned();
    fs::write(&path, value).with_ctx(|| format!("write {value} to {path}"))?;
    Ok(old)
}

/// The pin caps (MiB) for the length of a test; restored on drop.
struct Caps {
    old: Vec<(&'static str, String)>,
}

impl Caps {
    fn set(process_mb: u32, total_mb: u32) -> Result<Caps, String> {
        // Built first, so that a failure on the second parameter still restores the first.
        let mut caps = Caps { old: Vec::new() };
        for (name, mb) in [("pin_cap_process_mb", process_mb), ("pin_cap_total_mb", total_mb)] {
            let old = set_param(name, &mb.to_string())?;
            caps.old.push((name, old));
        }
        Ok(caps)
    }
}

impl Drop for Caps {
    fn drop(&mut self) {
        for (name, value) in &self.old {
            let _ = set_param(name, value);
        }
    }
}

/// The state line of the buffer behind `imp`.
fn line_of(imp: &Imported) -> Result<BufLine, String> {
    let st = DrvState::read()?;
    st.by_handle(imp.vc_handle)
        .cloned()
        .ok_or_else(|| format!("handle {:#x} not in state:\n{}", imp.vc_handle, st.text))
}

/// The last wrapper of a chain still shows and shares the memory: the CPU writes through it,
/// the VPU reads the same bytes.
fn chain_end_works(imp: &Imported, len: usize, seed: u32) -> Result<(), String> {
    let mut map = imp.buf.mmap(0, len, Prot::READ | Prot::WRITE).ctx("mmap the last wrapper")?;
    with_cpu_access(&imp.buf, DMA_BUF_SYNC_WRITE, || {
        map_fill(&mut map, seed);
        Ok(())
    })?;
    let vpu = vpu_checksum(imp.vc_handle)?;
    let want = pattern_checksum(len, seed);
    if vpu != want {
        return Err(format!("VPU checksum {vpu:#x} of the last wrapper, CPU wrote {want:#x}"));
    }
    Ok(())
}

/// Hole 1: importing a wrapper, then the wrapper of that wrapper, and so on, nested one more
/// call through the dma-buf core per level until the kernel stack overflowed (about 70 levels
/// on a 32 KiB stack). An import of a wrapper must import what it wraps.
pub(super) fn t_nested(t: &T) -> Result<(), String> {
    const DEPTH: usize = 1000;
    let len = MIB as usize;
    let src = t.src(MIB)?;
    let first = t.dev.import(&src).ctx("import the source")?;
    drop(src);
    let mut cur = first;
    let dma = cur.dma_addr;
    for level in 2..=DEPTH {
        let next =
            t.dev.import(&cur.buf).with_ctx(|| format!("import of the level {} wrapper", level - 1))?;
        if next.dma_addr != dma || u64::from(next.size) != MIB {
            return Err(format!(
                "level {level}: dma {:#x} size {}, the source is at {dma:#x}",
                next.dma_addr, next.size
            ));
        }
        if level % 250 == 0 {
            let b = line_of(&next)?;
            // What was imported is the heap's buffer, not the wrapper passed in.
            if b.get("exporter") != t.heap.name() || b.get("origin") != "import" {
                return Err(format!("level {level} imported {b:?}, not the {} buffer", t.heap.name()));
            }
        }
        // The previous wrapper is closed here: its FREE and RELEASED run under the next import.
        cur = next;
    }
    chain_end_works(&cur, len, 0xdeb7)?;
    drop(cur);
    wait_idle(5000)?;

    // An allocation's wrapper has no source to resolve to: it is imported as it is, and the
    // wrappers of that import resolve to it.
    let alloc = t.dev.alloc(64 * 1024, b"nest-alloc").ctx("MEM_ALLOC")?;
    let mut cur = t.dev.import(&alloc.buf).ctx("import of the allocation's wrapper")?;
    for level in 2..=100 {
        let next =
            t.dev.import(&cur.buf).with_ctx(|| format!("import of alloc chain level {}", level - 1))?;
        if next.dma_addr != alloc.dma_addr {
            return Err(format!(
                "alloc chain level {level}: dma {:#x}, the allocation is at {:#x}",
                next.dma_addr, alloc.dma_addr
            ));
        }
        cur = next;
    }
    let b = line_of(&cur)?;
    if b.get("exporter") != "vc-sm-cma" {
        return Err(format!("the alloc chain imported {b:?}"));
    }
    chain_end_works(&cur, 64 * 1024, 0xa110)?;
    drop((cur, alloc));
    wait_idle(5000)
}

/// Hole 1 from the kernel API: `vc_sm_cma_import_dmabuf` of its own handles, 1000 deep.
pub(super) fn t_nested_kapi(t: &T) -> Result<(), String> {
    let src = t.src(MIB)?;
    let cmd = format!("{} 1000", src.as_raw_fd());
    fs::write(NEST, &cmd).with_ctx(|| format!("write '{cmd}' to {NEST}"))?;
    let out = fs::read_to_string(NEST).ctx(NEST)?;
    info("vcsm/nested-imports-kernel-api", out.trim());
    if !out.starts_with("ok ") {
        return Err(out);
    }
    wait_idle(5000)
}

/// Entries of the DMA-API debug table for the vchiq device.
fn dma_api_entries() -> Result<Vec<String>, String> {
    let text = fs::read_to_string(DMA_API_DUMP)
        .with_ctx(|| format!("{DMA_API_DUMP} (a kernel without DMA_API_DEBUG?)"))?;
    Ok(text
        .lines()
        .filter(|l| l.split_ascii_whitespace().nth(1) == Some("vcsm-cma"))
        .map(str::to_owned)
        .collect())
}

/// Hole 3: every import mapped the source again for the same device; the 8th live import of
/// one buffer tripped DMA-API debug ("exceeded 7 overlapping mappings"). Imports of one
/// source share one mapping.
pub(super) fn t_many_imports_one_buffer(t: &T) -> Result<(), String> {
    let before = dma_api_entries()?;
    for heap in [Some(&t.heap), t.cached.as_ref()] {
        let heap = heap.ok_or_else(|| format!("no heap {}", t.args.cached_heap))?;
        let src = heap.allocate(MIB).with_ctx(|| format!("allocate from {}", heap.name()))?;
        let mut imps = Vec::new();
        for i in 0..64 {
            imps.push(t.dev.import(&src).with_ctx(|| format!("{} import #{i}", heap.name()))?);
        }
        let mut handles: Vec<u32> = imps.iter().map(|i| i.vc_handle).collect();
        handles.sort_unstable();
        handles.dedup();
        if handles.len() != 64 || imps.iter().any(|i| i.dma_addr != imps[0].dma_addr) {
            return Err("64 imports of one buffer: handles not distinct or addresses differ".into());
        }
        let st = DrvState::read()?;
        if st.num("vpu_mappings") != 1 || st.num("vpu_mapping_users") != 64 {
            return Err(format!("expected 1 VPU mapping with 64 users:\n{}", st.text));
        }
        let now = dma_api_entries()?;
        if now.len() != before.len() + 1 {
            return Err(format!(
                "DMA-API debug lists {} mappings for vcsm-cma, {} before:\n{}",
                now.len(),
                before.len(),
                now.join("\n")
            ));
        }
        drop(imps);
        drop(src);
        wait_idle(5000)?;
        if DrvState::read()?.num("vpu_mappings") != 0 || dma_api_entries()?.len() != before.len() {
            return Err("the shared mapping outlived its imports".into());
        }
    }
    Ok(())
}

fn page_size() -> u64 {
    dmabuf::page_size() as u64
}

/// CMA pages in use now, per the CMA debugfs of the pool the driver allocates from.
fn cma_used_pages() -> Result<u64, String> {
    let st = DrvState::read()?;
    let base = st.num("cma_base");
    // The area whose base_pfn matches the driver's pool.
    for dir in fs::read_dir("/sys/kernel/debug/cma").ctx("/sys/kernel/debug/cma")? {
        let dir = dir.ctx("cma debugfs")?.path();
        let pfn = fs::read_to_string(dir.join("base_pfn")).ctx("base_pfn")?;
        if parse_u64(pfn.trim()).map(|p| p * page_size()) == Some(base) {
            let used = fs::read_to_string(dir.join("used")).ctx("used")?;
            return used.trim().parse().map_err(|_| format!("bad used count {used}"));
        }
    }
    Err(format!("no CMA area at the driver's pool base {base:#x}"))
}

/// Hole 2: once the vchiq device's CMA area was exhausted, MEM_ALLOC kept taking memory from
/// the page allocator, without limit. Now: every MEM_ALLOC byte is CMA (the pool's used count
/// grows by exactly what was allocated), and exhaustion is ENOMEM.
pub(super) fn t_mem_alloc_cma_only(t: &T) -> Result<(), String> {
    let _caps = Caps::set(0, 0)?;
    let st = DrvState::read()?;
    let pool = st.num("cma_size");
    if pool == 0 || pool == u64::MAX {
        return Err(format!("the driver reports no CMA pool:\n{}", st.text));
    }
    let used0 = cma_used_pages()?;
    // One page comes from the pool too (dma-direct gives single pages from the page
    // allocator unless the device has a CMA area of its own).
    let one = t.dev.alloc(4096, b"one-page").ctx("MEM_ALLOC of one page")?;
    if cma_used_pages()? != used0 + 1 {
        return Err("a one-page MEM_ALLOC did not come from the CMA pool".into());
    }
    drop(one);
    wait_idle(2000)?;
    // The pages go back just after the buffer leaves the driver's list.
    if !wait_for(3000, || Ok(cma_used_pages()? == used0))? {
        return Err("the one-page MEM_ALLOC did not go back to the pool".into());
    }
    const CHUNK: u32 = 4 << 20;
    let max = (pool / u64::from(CHUNK)) as usize + 2;
    let mut bufs = Vec::new();
    let err = loop {
        match t.dev.alloc(CHUNK, b"exhaust") {
            Ok(b) => bufs.push(b),
            Err(e) => break e,
        }
        if bufs.len() > max {
            return Err(format!(
                "{} MEM_ALLOCs of 4 MiB succeeded from a {} MiB pool: memory from outside CMA",
                bufs.len(),
                pool >> 20
            ));
        }
    };
    if err.raw_os_error() != Some(libc::ENOMEM) {
        return Err(format!("exhaustion gave {err}, not ENOMEM"));
    }
    let used = cma_used_pages()?;
    let got = bufs.len() as u64 * u64::from(CHUNK);
    info(
        "vcsm/mem-alloc-cma-only",
        &format!("{} x 4 MiB from a {} MiB pool, then ENOMEM", bufs.len(), pool >> 20),
    );
    if (used - used0) * page_size() != got {
        return Err(format!("{got} bytes allocated, the pool's used count grew by {} pages", used - used0));
    }
    if DrvState::read()?.num("cma_fallbacks") == 0 {
        return Err("the refused page-allocator fallback is not counted".into());
    }
    drop(bufs);
    wait_idle(5000)?;
    if !wait_for(5000, || Ok(cma_used_pages()? == used0))? {
        return Err(format!(
            "the pool's used count did not come back: {} pages, {used0} before",
            cma_used_pages()?
        ));
    }
    Ok(())
}

/// New kernel log records since `kmsg` was opened (at the end); `None` if they overflowed.
fn kmsg_new(kmsg: &mut File) -> Result<Option<Vec<String>>, String> {
    use std::io::Read;
    let mut lines = Vec::new();
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => lines.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) => break,
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => return Ok(None),
            Err(e) => return Err(format!("read /dev/kmsg: {e}")),
        }
    }
    Ok(Some(lines))
}

fn kmsg_at_end() -> Result<File, String> {
    use std::io::{Seek, SeekFrom};
    use std::os::unix::fs::OpenOptionsExt;
    let mut f =
        OpenOptions::new().read(true).custom_flags(libc::O_NONBLOCK).open("/dev/kmsg").ctx("/dev/kmsg")?;
    f.seek(SeekFrom::End(0)).ctx("seek /dev/kmsg")?;
    Ok(f)
}

/// Hole 2: the pin caps. One process may not pin more than `pin_cap_process_mb` through the
/// driver (MEM_ALLOC memory, and imports the VPU still holds after the process let go), all
/// together not more than `pin_cap_total_mb`: EDQUOT and one line naming the process and cap.
pub(super) fn t_pin_caps(t: &T) -> Result<(), String> {
    let me = std::process::id();
    let pinned = || -> Result<u64, String> { Ok(DrvState::read()?.num("pinned")) };
    let refused0 = DrvState::read()?.num("refused");
    let mut kmsg = kmsg_at_end()?;
    {
        let _caps = Caps::set(8, 0)?;
        let a = t.dev.alloc(4 << 20, b"cap-a").ctx("first 4 MiB under an 8 MiB cap")?;
        let b = t.dev.alloc(4 << 20, b"cap-b").ctx("second 4 MiB under an 8 MiB cap")?;
        expect_errno(
            t.dev.alloc(4 << 20, b"cap-c"),
            &[libc::EDQUOT],
            "a third 4 MiB MEM_ALLOC over an 8 MiB cap",
        )?;
        expect_errno(t.dev.alloc(4096, b"cap-d"), &[libc::EDQUOT], "one more page over the cap")?;
        let src = t.src(MIB)?;
        expect_errno(t.dev.import(&src), &[libc::EDQUOT], "an import at the cap")?;
        let st = DrvState::read()?;
        if st.num("pinned") != 8 << 20 || !st.text.contains(&format!("pin tgid={me} pin_bytes={}", 8 << 20)) {
            return Err(format!("state does not show 8 MiB pinned by pid {me}:\n{}", st.text));
        }
        drop((a, b));
        wait_idle(3000)?;
        if pinned()? != 0 {
            return Err("pinned bytes not back to 0".into());
        }
        // Imports the VPU keeps after the process closed them count too.
        for _ in 0..2 {
            let src = t.src(4 * MIB)?;
            let imp = t.dev.import(&src).ctx("import under the cap")?;
            sim_write("hold", &format!("{:#x}", imp.vc_handle))?;
        }
        if pinned()? != 8 << 20 {
            return Err(format!(
                "two closed imports the VPU holds should pin 8 MiB:\n{}",
                DrvState::read()?.text
            ));
        }
        expect_errno(
            t.dev.import(&src),
            &[libc::EDQUOT],
            "an import while 8 MiB of closed imports are held",
        )?;
        for h in SimState::read()?.handles.keys() {
            sim_write("drop", &format!("{h:#x}"))?;
        }
        wait_idle(3000)?;
        drop(t.dev.import(&src).ctx("an import once the VPU released them")?);
        wait_idle(3000)?;
    }
    {
        let _caps = Caps::set(0, 8)?;
        let a = t.dev.alloc(8 << 20, b"total-a").ctx("8 MiB under an 8 MiB total cap")?;
        expect_errno(t.dev.alloc(4096, b"total-b"), &[libc::EDQUOT], "a page over the total cap")?;
        drop(a);
        wait_idle(3000)?;
    }
    let lines = kmsg_new(&mut kmsg)?.ok_or("kernel log overflowed")?.join("");
    for want in [
        format!("(pid {me}) refused: the process would pin more than pin_cap_process_mb=8 MiB"),
        "all processes would pin more than pin_cap_total_mb=8 MiB".to_owned(),
    ] {
        if !lines.contains(&want) {
            return Err(format!("no kernel log line with '{want}':\n{lines}"));
        }
    }
    if DrvState::read()?.num("refused") < refused0 + 5 {
        return Err("refusals not counted".into());
    }
    Ok(())
}

/// Hole 4: every failing request logged a line: 2,000 failing MEM_ALLOCs gave 2,000 lines.
/// Now 10,000 failing requests of each kind add at most a few dozen: each message site prints
/// at most 10 lines per 5 s, plus one line per 5 s saying how many it suppressed. The bound is
/// that rate over the time the flood took (on a loaded host 10,000 requests can take 100 s).
pub(super) fn t_log_flood(t: &T) -> Result<(), String> {
    const N: usize = 10_000;
    const BURST: u64 = 10;
    const INTERVAL_S: f64 = 5.0;
    let scattered = test_buf(SCATTERED)?;
    let far = test_buf(FAR)?;
    let buf = std::cell::RefCell::new([0u8; 64]);
    type Flood<'a> = (&'a str, Box<dyn Fn() -> io::Result<()> + 'a>);
    let floods: Vec<Flood> = vec![
        ("MEM_ALLOC over the pin cap", Box::new(|| t.dev.alloc(4 << 20, b"flood").map(drop))),
        ("MEM_ALLOC larger than CMA", Box::new(|| t.dev.alloc(0xffff_f000, b"flood").map(drop))),
        ("import of a two-segment buffer", Box::new(|| t.dev.import(&scattered).map(drop))),
        ("import of a buffer outside the VPU's window", Box::new(|| t.dev.import(&far).map(drop))),
        (
            "CLEAN_INVALID2",
            Box::new(|| {
                ioctl(t.dev.fd(), VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2, Arg::Buf(&mut buf.borrow_mut()))
                    .map(drop)
            }),
        ),
        ("heap ALLOC larger than the region", Box::new(|| t.heap.allocate(1 << 30).map(drop))),
    ];
    for (i, (what, f)) in floods.iter().enumerate() {
        // The first flood runs under a 1 MiB cap, the second without caps.
        let _caps = match i {
            0 => Some(Caps::set(1, 0)?),
            1 => Some(Caps::set(0, 0)?),
            _ => None,
        };
        let mut kmsg = kmsg_at_end()?;
        let t0 = Instant::now();
        for k in 0..N {
            if f().is_ok() {
                return Err(format!("{what} #{k} succeeded"));
            }
        }
        let lines = kmsg_new(&mut kmsg)?.ok_or_else(|| format!("{N} x {what}: the kernel log overflowed"))?;
        let secs = t0.elapsed().as_secs_f64();
        info("vcsm/log-flood", &format!("{N} x {what}: {} kernel log lines in {secs:.1} s", lines.len()));
        // Intervals the flood touched, each worth a burst and a "suppressed" line.
        let windows = (secs / INTERVAL_S).ceil() as u64 + 1;
        let max = ((BURST + 1) * windows) as usize;
        if lines.len() > max {
            return Err(format!(
                "{N} x {what} added {} kernel log lines in {secs:.1} s (at most {max}); the first:\n{}",
                lines.len(),
                lines[..5].join("")
            ));
        }
        if lines.is_empty() {
            return Err(format!("{N} x {what} logged nothing: the failure must be explained once"));
        }
    }
    drop(floods);
    drop((scattered, far));
    wait_idle(3000)
}
