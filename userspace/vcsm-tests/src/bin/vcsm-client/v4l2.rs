//! Zero copy from a real V4L2 driver into the VPU (issue 11): vivid's capture buffers,
//! allocated by videobuf2-dma-contig (`allocators=1`, physically contiguous like unicam's),
//! exported with `VIDIOC_EXPBUF` and imported into the VPU once per buffer, as MMAL does with
//! a zero-copy port; then streamed, every frame checksummed by the simulated VPU through its bus
//! address and compared with the CPU's checksum over the V4L2 mapping.

use super::*;
use dmabuf::v4l2::{
    self, PixFormat, CAP_STREAMING, CAP_VIDEO_CAPTURE, FIELD_NONE, MEMORY_MMAP, PIX_FMT_YUYV,
};

/// vivid with one capture node (module options); `allocators=1` gives dma-contig buffers,
/// `allocators=0` vmalloc ones.
const VIVID_OPTS: [&str; 3] = ["n_devs=1", "node_types=0x1", "num_inputs=1"];
const DMA_CONTIG: &str = "allocators=1";
const VMALLOC: &str = "allocators=0";
const BUFFERS: u32 = 4;

/// Loads vivid for the test and unloads it on drop.
struct Vivid;

impl Vivid {
    fn load(allocator: &str) -> Result<Vivid, String> {
        let out = std::process::Command::new("modprobe")
            .arg("vivid")
            .args(VIVID_OPTS)
            .arg(allocator)
            .output()
            .ctx("run modprobe")?;
        if !out.status.success() {
            return Err(format!("modprobe vivid failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Vivid)
    }

    /// The capture node vivid registered (`/sys/class/video4linux/*/name`).
    fn capture_node() -> Result<String, String> {
        let dir = "/sys/class/video4linux";
        for e in fs::read_dir(dir).ctx(dir)?.flatten() {
            let name = fs::read_to_string(e.path().join("name")).unwrap_or_default();
            if name.trim() == "vivid-000-vid-cap" {
                return Ok(format!("/dev/{}", e.file_name().to_string_lossy()));
            }
        }
        Err("vivid registered no vivid-000-vid-cap node".into())
    }
}

impl Drop for Vivid {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rmmod").arg("vivid").status();
    }
}

/// The VPU's bus address of ARM physical `phys`, from the driver's `vpu_window` line.
fn bus_of(phys: u64) -> Result<u64, String> {
    let st = DrvState::read()?;
    let (cpu, bus) = (st.num("cpu_base"), st.num("bus_base"));
    if cpu == u64::MAX || bus == u64::MAX {
        return Err(format!("no vpu_window in the driver's state:\n{}", st.text));
    }
    Ok(phys - cpu + bus)
}

/// vivid loaded, its capture node open and set to 640x480 YUYV.
fn open_vivid(allocator: &str) -> Result<(Vivid, String, v4l2::Device, PixFormat), String> {
    let vivid = Vivid::load(allocator)?;
    let node = Vivid::capture_node()?;
    let vid = v4l2::Device::open(&node).ctx(&node)?;
    let cap = vid.querycap().ctx("VIDIOC_QUERYCAP")?;
    if cap.device_caps & (CAP_VIDEO_CAPTURE | CAP_STREAMING) != CAP_VIDEO_CAPTURE | CAP_STREAMING {
        return Err(format!("{node} is not a streaming capture device (caps {:#x})", cap.device_caps));
    }
    let want = PixFormat {
        width: 640,
        height: 480,
        pixelformat: PIX_FMT_YUYV,
        field: FIELD_NONE,
        ..Default::default()
    };
    let fmt = vid.set_format(want).ctx("VIDIOC_S_FMT")?;
    if (fmt.width, fmt.height, fmt.pixelformat) != (640, 480, PIX_FMT_YUYV) || fmt.sizeimage == 0 {
        return Err(format!("vivid chose {fmt:?}"));
    }
    Ok((vivid, node, vid, fmt))
}

/// One mapping in the DMA-API debug table (`/sys/kernel/debug/dma-api/dump`).
struct DmaEntry {
    dev: String,
    kind: String,
    phys: u64,
    dma: u64,
    len: u64,
}

/// The DMA-API debug table: every live DMA mapping and coherent allocation, by device.
fn dma_api_entries() -> Result<Vec<DmaEntry>, String> {
    const DUMP: &str = "/sys/kernel/debug/dma-api/dump";
    let text = fs::read_to_string(DUMP).ctx(DUMP)?;
    let hex = |w: &str, key: &str| {
        w.strip_prefix(key).and_then(|v| u64::from_str_radix(v.trim_start_matches("0x"), 16).ok())
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            let field = |key: &str| w.iter().find_map(|t| hex(t, key));
            Some(DmaEntry {
                dev: w.get(1)?.to_string(),
                kind: w.get(2)?.to_string(),
                phys: field("P=")?,
                dma: field("D=")?,
                len: field("L=")?,
            })
        })
        .collect())
}

/// Where the VPU's import of a vivid buffer points: the ARM memory behind vcsm-cma's mapping
/// at `dma`, which must be the start of a buffer vivid allocated for its own device.
fn check_same_memory(dma: u64, length: u64) -> Result<u64, String> {
    let entries = dma_api_entries()?;
    let ours = entries
        .iter()
        .find(|e| e.dev == "vcsm-cma" && e.dma == dma)
        .ok_or_else(|| format!("no vcsm-cma mapping at {dma:#x} in the DMA-API table"))?;
    let vivid = entries
        .iter()
        .find(|e| {
            e.dev.starts_with("vivid")
                && (e.kind == "coherent" || e.kind == "noncoherent")
                && e.phys == ours.phys
        })
        .ok_or_else(|| {
            format!("vcsm-cma's mapping at {dma:#x} is ARM {:#x}, where vivid allocated nothing", ours.phys)
        })?;
    if vivid.len < length || ours.len < length {
        return Err(format!(
            "vivid's allocation ({} bytes) or the VPU mapping ({} bytes) is shorter than the frame",
            vivid.len, ours.len
        ));
    }
    Ok(ours.phys)
}

/// One capture buffer: its mapping and its VPU import.
struct Slot {
    map: v4l2::Mapping,
    imp: Imported,
}

pub(super) fn t_v4l2_capture_to_vpu(t: &T) -> Result<(), String> {
    let frames = t.args.v4l2_frames;
    let (_vivid, node, vid, fmt) = open_vivid(DMA_CONTIG)?;
    let n = vid.request_buffers(BUFFERS, MEMORY_MMAP).ctx("VIDIOC_REQBUFS")?;
    if n < 2 {
        return Err(format!("vivid gave {n} buffers"));
    }
    // Each buffer: mapped, exported, imported once; the VPU's address must be the very memory
    // vivid allocated (no bounce buffer, no copy).
    let slots = import_all(t, &vid, n)?;
    for (i, slot) in slots.iter().enumerate() {
        let (imp, length) = (&slot.imp, slot.map.len() as u64);
        let phys = check_same_memory(imp.dma_addr, length)?;
        let bus = bus_of(phys)?;
        if imp.dma_addr != bus {
            return Err(format!(
                "buffer {i}: the VPU got {:#x}, vivid's memory is ARM {phys:#x} = bus {bus:#x}",
                imp.dma_addr
            ));
        }
        if imp.size < length {
            return Err(format!("buffer {i}: import of {} bytes, V4L2 buffer {length}", imp.size));
        }
        let st = DrvState::read()?;
        let exporter = st.by_handle(imp.vc_handle).map(|l| l.get("exporter").to_owned()).unwrap_or_default();
        if exporter != "videobuf2_dma_contig" && exporter != "vb2_dma_contig" {
            return Err(format!("buffer {i}: exporter '{exporter}', not videobuf2-dma-contig"));
        }
    }
    let imports = DrvState::read()?.bufs.len();
    vid.stream_on().ctx("VIDIOC_STREAMON")?;
    let start = Instant::now();
    let mut distinct = std::collections::HashSet::new();
    let mut last_seq = None;
    for f in 0..frames {
        let b = vid.dequeue(MEMORY_MMAP).ctx("VIDIOC_DQBUF")?;
        let slot = slots.get(b.index as usize).ok_or_else(|| format!("DQBUF gave index {}", b.index))?;
        if b.bytesused != fmt.sizeimage {
            return Err(format!("frame {f}: {} bytes used, format says {}", b.bytesused, fmt.sizeimage));
        }
        // SAFETY: The mapping is live for `map.len()` bytes and vivid is done with the buffer
        // until it is queued again.
        let cpu = unsafe { vcsm_tests::pattern_checksum_raw(slot.map.as_ptr(), slot.map.len()) };
        let vpu = vpu_checksum(slot.imp.vc_handle)?;
        if cpu != vpu {
            return Err(format!("frame {f} (buffer {}): VPU checksum {vpu:#x}, CPU {cpu:#x}", b.index));
        }
        distinct.insert(cpu);
        if let Some(prev) = last_seq {
            if b.sequence <= prev {
                return Err(format!("frame {f}: sequence {} after {prev}", b.sequence));
            }
        }
        last_seq = Some(b.sequence);
        vid.queue_mmap(b.index).ctx("VIDIOC_QBUF")?;
    }
    let secs = start.elapsed().as_secs_f64();
    vid.stream_off().ctx("VIDIOC_STREAMOFF")?;
    // The imports were made once per buffer and reused for every frame.
    let now = DrvState::read()?.bufs.len();
    if imports != slots.len() || now != slots.len() {
        return Err(format!("{} buffers, {imports} imports before streaming, {now} after", slots.len()));
    }
    info(
        "vcsm/v4l2-capture-to-vpu",
        &format!(
            "{frames} frames of 640x480 YUYV from {node} in {secs:.1} s ({:.1} fps) through {} buffers imported once each; every VPU checksum matched the CPU's ({} distinct frames); bus addresses = vivid's memory",
            f64::from(frames) / secs,
            slots.len(),
            distinct.len()
        ),
    );
    drop(slots);
    vid.request_buffers(0, MEMORY_MMAP).ctx("VIDIOC_REQBUFS 0")?;
    drop(vid);
    wait_idle(3000)
}

/// Our heaps' buffers as V4L2 DMABUF capture buffers: vivid writes each frame into a
/// vcsm-uncached (then vcsm-cached) buffer it imported, the VPU reads it through its own import
/// of the same buffer, and the CPU reads it through the heap's mapping inside
/// DMA_BUF_IOCTL_SYNC (the cached heap's maintenance makes vivid's writes visible). The
/// buffers are recycled for every frame; nothing is left afterwards.
pub(super) fn t_v4l2_heap_buffers_into_vivid(t: &T) -> Result<(), String> {
    let mut heaps = vec![&t.heap];
    heaps.extend(t.cached.as_ref());
    let frames = (t.args.v4l2_frames / heaps.len() as u32).max(1);
    let mut report = Vec::new();
    for heap in heaps {
        let (vivid, node, vid, fmt) = open_vivid(DMA_CONTIG)?;
        let len = u64::from(fmt.sizeimage).next_multiple_of(4096);
        let n = vid.request_buffers(BUFFERS, v4l2::MEMORY_DMABUF).ctx("VIDIOC_REQBUFS DMABUF")?;
        if n < 2 {
            return Err(format!("vivid took {n} DMABUF buffers"));
        }
        struct Slot {
            buf: DmaBuf,
            map: dmabuf::Mapping,
            imp: Imported,
        }
        let mut slots = Vec::new();
        for i in 0..n {
            let buf = heap.allocate(len).with_ctx(|| format!("allocate {len} bytes from {}", heap.name()))?;
            let map = buf.mmap(0, len as usize, Prot::READ).ctx("mmap a heap buffer")?;
            let imp = t.dev.import(&buf).ctx("import a heap buffer")?;
            vid.queue_dmabuf(i, &buf, len as u32).ctx("VIDIOC_QBUF DMABUF")?;
            slots.push(Slot { buf, map, imp });
        }
        vid.stream_on().ctx("VIDIOC_STREAMON")?;
        let start = Instant::now();
        let mut distinct = std::collections::HashSet::new();
        for f in 0..frames {
            let b = vid.dequeue(v4l2::MEMORY_DMABUF).ctx("VIDIOC_DQBUF")?;
            let slot = slots.get(b.index as usize).ok_or_else(|| format!("DQBUF gave index {}", b.index))?;
            if b.bytesused != fmt.sizeimage {
                return Err(format!("frame {f}: {} bytes used, format says {}", b.bytesused, fmt.sizeimage));
            }
            let cpu = with_cpu_access(&slot.buf, DMA_BUF_SYNC_READ, || Ok(map_checksum(&slot.map)))?;
            let vpu = vpu_checksum(slot.imp.vc_handle)?;
            if cpu != vpu {
                return Err(format!(
                    "{} frame {f} (buffer {}): VPU checksum {vpu:#x}, CPU {cpu:#x}",
                    heap.name(),
                    b.index
                ));
            }
            distinct.insert(cpu);
            vid.queue_dmabuf(b.index, &slot.buf, len as u32).ctx("VIDIOC_QBUF DMABUF")?;
        }
        let secs = start.elapsed().as_secs_f64();
        vid.stream_off().ctx("VIDIOC_STREAMOFF")?;
        // The buffers start zeroed: a single checksum means vivid's frames never reached them.
        if distinct.len() < 2 {
            return Err(format!(
                "{}: {} distinct frames in {frames}: vivid's frames did not reach the buffers",
                heap.name(),
                distinct.len()
            ));
        }
        vid.request_buffers(0, v4l2::MEMORY_DMABUF).ctx("VIDIOC_REQBUFS 0")?;
        drop(slots);
        drop(vid);
        drop(vivid);
        wait_idle(3000)?;
        report.push(format!(
            "{}: {frames} frames from {node} in {secs:.1} s, {} distinct, VPU = CPU for every one",
            heap.name(),
            distinct.len()
        ));
    }
    info("vcsm/v4l2-heap-buffers-into-vivid", &report.join("; "));
    Ok(())
}

/// vivid's buffers are exported, imported, and checksummed once each (returns the slots and
/// each buffer's checksum); the buffers are left queued.
fn import_all(t: &T, vid: &v4l2::Device, n: u32) -> Result<Vec<Slot>, String> {
    let mut slots = Vec::new();
    for i in 0..n {
        let b = vid.query_buffer(i).ctx("VIDIOC_QUERYBUF")?;
        let map = vid.map(&b).ctx("mmap a V4L2 buffer")?;
        let dmabuf = DmaBuf::from_fd(vid.export(i).ctx("VIDIOC_EXPBUF")?);
        let imp = t.dev.import(&dmabuf).ctx("import a vivid buffer")?;
        vid.queue_mmap(i).ctx("VIDIOC_QBUF")?;
        slots.push(Slot { map, imp });
    }
    Ok(slots)
}

/// vivid's coherent allocations in the DMA-API table (its live frame memory).
fn vivid_allocations() -> Result<usize, String> {
    Ok(dma_api_entries()?
        .iter()
        .filter(|e| e.dev.starts_with("vivid") && (e.kind == "coherent" || e.kind == "noncoherent"))
        .count())
}

/// The driver and the VPU hold nothing any more and vivid has freed every frame (`when`
/// says after what); unloads vivid.
fn all_freed(vivid: Vivid, when: &str) -> Result<(), String> {
    wait_idle(3000)?;
    let left = vivid_allocations()?;
    drop(vivid);
    if left != 0 {
        return Err(format!("{left} vivid allocations left after {when}"));
    }
    Ok(())
}

/// The stream stops while the VPU holds every frame: STREAMOFF, REQBUFS 0, the V4L2 file and
/// the imports closed, all with RELEASED pending. vivid's memory must stay allocated and intact
/// (the VPU still reads each frame's checksum) until the VPU lets go, and then all be freed.
pub(super) fn t_v4l2_vpu_holds_frames(t: &T) -> Result<(), String> {
    let (vivid, _node, vid, _fmt) = open_vivid(DMA_CONTIG)?;
    let n = vid.request_buffers(BUFFERS, MEMORY_MMAP).ctx("VIDIOC_REQBUFS")?;
    let slots = import_all(t, &vid, n)?;
    vid.stream_on().ctx("VIDIOC_STREAMON")?;
    for _ in 0..2 * n {
        let b = vid.dequeue(MEMORY_MMAP).ctx("VIDIOC_DQBUF")?;
        vid.queue_mmap(b.index).ctx("VIDIOC_QBUF")?;
    }
    vid.stream_off().ctx("VIDIOC_STREAMOFF")?;
    // What each buffer holds now, and the VPU takes a reference to every one.
    let mut held = Vec::new();
    for s in &slots {
        // SAFETY: The mapping is live; the stream is off, so nothing writes the buffer.
        let cpu = unsafe { vcsm_tests::pattern_checksum_raw(s.map.as_ptr(), s.map.len()) };
        sim_write("hold", &format!("{:#x}", s.imp.vc_handle))?;
        held.push((s.imp.vc_handle, cpu));
    }
    let before = vivid_allocations()?;
    drop(slots);
    vid.request_buffers(0, MEMORY_MMAP).ctx("VIDIOC_REQBUFS 0")?;
    drop(vid);
    // Everything on the Linux side is closed; the VPU still holds the frames.
    let st = DrvState::read()?;
    let still = vivid_allocations()?;
    let result = (|| {
        if st.bufs.len() != held.len() || still != before || still < held.len() {
            return Err(format!(
                "with the VPU holding {} frames: the driver lists {} buffers, vivid has {still} allocations (had {before})",
                held.len(),
                st.bufs.len()
            ));
        }
        for (h, cpu) in &held {
            let vpu = vpu_checksum(*h)?;
            if vpu != *cpu {
                return Err(format!(
                    "held frame {h:#x}: VPU reads {vpu:#x}, it held {cpu:#x}: the memory changed"
                ));
            }
        }
        Ok(())
    })();
    for (h, _) in &held {
        let _ = sim_write("drop", &format!("{h:#x}"));
    }
    result?;
    all_freed(vivid, "the VPU released every frame")?;
    info(
        "vcsm/v4l2-vpu-holds-frames",
        &format!("{} frames held by the VPU across STREAMOFF, REQBUFS 0 and close: memory kept and intact, freed after RELEASED", held.len()),
    );
    Ok(())
}

/// A V4L2 buffer that is not physically contiguous (vivid with vmalloc buffers) is refused.
pub(super) fn t_v4l2_vmalloc_refused(t: &T) -> Result<(), String> {
    let (_vivid, _node, vid, _fmt) = open_vivid(VMALLOC)?;
    vid.request_buffers(2, MEMORY_MMAP).ctx("VIDIOC_REQBUFS")?;
    let dmabuf = DmaBuf::from_fd(vid.export(0).ctx("VIDIOC_EXPBUF of a vmalloc buffer")?);
    expect_errno(t.dev.import(&dmabuf), &[libc::EINVAL], "import of a vmalloc V4L2 buffer")?;
    drop(dmabuf);
    vid.request_buffers(0, MEMORY_MMAP).ctx("VIDIOC_REQBUFS 0")?;
    wait_idle(1000)
}

const PORT: &str = "/sys/kernel/debug/vcsm-kapi-test/port";

/// A zero-copy MMAL port of the test module (`vcsm-kapi-test/port`): buffers are submitted by
/// dma-buf fd, imported by the module through `vc_sm_cma_import_dmabuf` on first submission,
/// and freed with `vc_sm_cma_free` when the port is closed.
struct Port {
    file: File,
}

impl Port {
    fn open() -> Result<Port, String> {
        Ok(Port { file: OpenOptions::new().read(true).write(true).open(PORT).ctx(PORT)? })
    }

    /// Submits the buffer of `fd`; returns the MMAL header's `data` (the VPU handle) and the
    /// module's import and submission counts.
    fn submit(&mut self, fd: RawFd) -> Result<(u32, u64, u64), String> {
        use std::os::unix::fs::FileExt;
        self.file.write_all(format!("submit {fd}").as_bytes()).ctx("submit to the port")?;
        let mut buf = [0u8; 128];
        let n = self.file.read_at(&mut buf, 0).ctx("read the port")?;
        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
        let kv: HashMap<String, String> = kv_pairs(text.trim());
        let get = |k: &str| kv.get(k).and_then(|v| parse_u64(v));
        match (text.starts_with("header "), get("data"), get("imports"), get("submits")) {
            (true, Some(data), Some(imports), Some(submits)) => Ok((data as u32, imports, submits)),
            _ => Err(format!("port: {}", text.trim())),
        }
    }
}

/// Streams `frames` frames of `vid` through `port` as bcm2835-codec's zero-copy input would:
/// each dequeued buffer is submitted by its exported dma-buf, and the VPU checksums the frame
/// through the handle in the MMAL header. Returns the port's import count.
fn stream_through_port(
    vid: &v4l2::Device,
    slots: &[(v4l2::Mapping, OwnedFd)],
    port: &mut Port,
    frames: u32,
) -> Result<u64, String> {
    let mut imports = 0;
    for f in 0..frames {
        let b = vid.dequeue(MEMORY_MMAP).ctx("VIDIOC_DQBUF")?;
        let (map, fd) = slots.get(b.index as usize).ok_or_else(|| format!("DQBUF gave index {}", b.index))?;
        let (handle, n, submits) = port.submit(fd.as_raw_fd())?;
        if submits != u64::from(f) + 1 {
            return Err(format!("frame {f}: the port counted {submits} submissions"));
        }
        // SAFETY: The mapping is live; vivid does not write the buffer until it is queued again.
        let cpu = unsafe { vcsm_tests::pattern_checksum_raw(map.as_ptr(), map.len()) };
        let vpu = vpu_checksum(handle)?;
        if cpu != vpu {
            return Err(format!("frame {f}: the VPU read {vpu:#x} through the MMAL header's handle {handle:#x}, the CPU {cpu:#x}"));
        }
        imports = n;
        vid.queue_mmap(b.index).ctx("VIDIOC_QBUF")?;
    }
    Ok(imports)
}

/// vivid's MMAP buffers, mapped and exported, all queued.
fn mapped_and_exported(vid: &v4l2::Device, n: u32) -> Result<Vec<(v4l2::Mapping, OwnedFd)>, String> {
    let mut slots = Vec::new();
    for i in 0..n {
        let b = vid.query_buffer(i).ctx("VIDIOC_QUERYBUF")?;
        let map = vid.map(&b).ctx("mmap a V4L2 buffer")?;
        let fd = vid.export(i).ctx("VIDIOC_EXPBUF")?;
        vid.queue_mmap(i).ctx("VIDIOC_QBUF")?;
        slots.push((map, fd));
    }
    Ok(slots)
}

/// The kernel path of bcm2835-mmal-vchiq's zero-copy ports, driven by vivid's vb2 queue:
/// one `vc_sm_cma_import_dmabuf` per buffer at its first submission, `vc_sm_cma_int_handle` in
/// every MMAL header, `vc_sm_cma_free` at buffer cleanup; then a process that dies with
/// SIGKILL mid-stream, its port and V4L2 queue open: its cleanup frees everything.
pub(super) fn t_v4l2_kernel_port(t: &T) -> Result<(), String> {
    let frames = (t.args.v4l2_frames / 2).max(8);
    let (vivid, node, vid, _fmt) = open_vivid(DMA_CONTIG)?;
    let n = vid.request_buffers(BUFFERS, MEMORY_MMAP).ctx("VIDIOC_REQBUFS")?;
    let slots = mapped_and_exported(&vid, n)?;
    let mut port = Port::open()?;
    vid.stream_on().ctx("VIDIOC_STREAMON")?;
    let imports = stream_through_port(&vid, &slots, &mut port, frames)?;
    if imports != u64::from(n) || DrvState::read()?.bufs.len() != n as usize {
        return Err(format!(
            "{n} buffers: the port made {imports} imports, the driver lists {}",
            DrvState::read()?.bufs.len()
        ));
    }
    vid.stream_off().ctx("VIDIOC_STREAMOFF")?;
    // Buffer cleanup: the port's imports are freed.
    drop(port);
    drop(slots);
    vid.request_buffers(0, MEMORY_MMAP).ctx("VIDIOC_REQBUFS 0")?;
    drop(vid);
    wait_idle(3000)?;

    // A process killed mid-stream.
    // SAFETY: fork in a test program; the child only makes system calls and exits.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err("fork".into());
    }
    if pid == 0 {
        let code = (|| -> Result<(), String> {
            let vid = v4l2::Device::open(&node).ctx(&node)?;
            let n = vid.request_buffers(BUFFERS, MEMORY_MMAP).ctx("VIDIOC_REQBUFS")?;
            let slots = mapped_and_exported(&vid, n)?;
            let mut port = Port::open()?;
            vid.stream_on().ctx("VIDIOC_STREAMON")?;
            stream_through_port(&vid, &slots, &mut port, 6)?;
            // SAFETY: Kills this process, with everything open and streaming.
            unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            Ok(())
        })();
        if let Err(e) = code {
            eprintln!("child: {e}");
        }
        // SAFETY: Ends the child without running the parent's destructors.
        unsafe { libc::_exit(1) };
    }
    let mut status = 0;
    // SAFETY: Waits for our child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if !(libc::WIFSIGNALED(status) && libc::WTERMSIG(status) == libc::SIGKILL) {
        return Err(format!("the child did not die by SIGKILL mid-stream (status {status:#x})"));
    }
    all_freed(vivid, "the killed process's cleanup")?;
    info(
        "vcsm/v4l2-kernel-port",
        &format!("{frames} frames through a zero-copy port from {node}: {n} imports (one per buffer), the VPU read every frame through the MMAL header's handle; a process killed mid-stream left nothing"),
    );
    Ok(())
}
