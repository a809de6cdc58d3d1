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
    map: dmabuf::Mapping,
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
        if u64::from(imp.size) < length {
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
        // vivid is done with the buffer until it is queued again.
        let cpu = map_checksum(&slot.map);
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
///
/// The last reference to a frame's dma-buf can go after the driver's registry is empty (the
/// buffer leaves it before its memory is released outside the lock, and a reference dropped by
/// a kernel worker is put by the deferred `fput`), so the frames get the same grace as the
/// driver. A frame still allocated after it is a leak.
fn all_freed(vivid: Vivid, when: &str) -> Result<(), String> {
    wait_idle(3000)?;
    wait_for(3000, || Ok(vivid_allocations()? == 0))?;
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
        let cpu = map_checksum(&s.map);
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
    slots: &[(dmabuf::Mapping, OwnedFd)],
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
        let cpu = map_checksum(map);
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
fn mapped_and_exported(vid: &v4l2::Device, n: u32) -> Result<Vec<(dmabuf::Mapping, OwnedFd)>, String> {
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
    let pid = vcsm_tests::spawn(|| {
        let code = (|| -> Result<(), String> {
            let vid = v4l2::Device::open(&node).ctx(&node)?;
            let n = vid.request_buffers(BUFFERS, MEMORY_MMAP).ctx("VIDIOC_REQBUFS")?;
            let slots = mapped_and_exported(&vid, n)?;
            let mut port = Port::open()?;
            vid.stream_on().ctx("VIDIOC_STREAMON")?;
            stream_through_port(&vid, &slots, &mut port, 6)?;
            // Kills this process, with everything open and streaming.
            let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
            Ok(())
        })();
        if let Err(e) = code {
            eprintln!("child: {e}");
        }
        1
    })?;
    let status = vcsm_tests::wait_child(pid)?;
    if status != nix::sys::wait::WaitStatus::Signaled(pid, nix::sys::signal::Signal::SIGKILL, false) {
        return Err(format!("the child did not die by SIGKILL mid-stream ({status:?})"));
    }
    all_freed(vivid, "the killed process's cleanup")?;
    info(
        "vcsm/v4l2-kernel-port",
        &format!("{frames} frames through a zero-copy port from {node}: {n} imports (one per buffer), the VPU read every frame through the MMAL header's handle; a process killed mid-stream left nothing"),
    );
    Ok(())
}

/// vicodec's nodes: its stateful encoder and decoder (`/sys/class/video4linux/*/name`).
fn vicodec_nodes() -> Result<(String, String), String> {
    let dir = "/sys/class/video4linux";
    let (mut enc, mut dec) = (None, None);
    for e in fs::read_dir(dir).ctx(dir)?.flatten() {
        let node = format!("/dev/{}", e.file_name().to_string_lossy());
        match fs::read_to_string(e.path().join("name")).unwrap_or_default().trim() {
            "stateful-encoder" => enc = Some(node),
            "stateful-decoder" => dec = Some(node),
            _ => {}
        }
    }
    match (enc, dec) {
        (Some(e), Some(d)) => Ok((e, d)),
        _ => Err("vicodec registered no stateful-encoder/stateful-decoder nodes".into()),
    }
}

/// Loads vicodec (single-planar queues, as our V4L2 wrapper speaks) and unloads it on drop.
struct Vicodec;

impl Vicodec {
    fn load() -> Result<Vicodec, String> {
        let out = std::process::Command::new("modprobe")
            .args(["vicodec", "multiplanar=0"])
            .output()
            .ctx("run modprobe")?;
        if !out.status.success() {
            return Err(format!("modprobe vicodec failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Vicodec)
    }
}

impl Drop for Vicodec {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rmmod").arg("vicodec").status();
    }
}

/// One heap buffer of a pipeline stage: allocated, mapped for the CPU, imported into the VPU.
struct StageBuf {
    buf: DmaBuf,
    map: dmabuf::Mapping,
    imp: Imported,
    len: u32,
}

fn stage_bufs(t: &T, heap: &Heap, n: u32, len: u32) -> Result<Vec<StageBuf>, String> {
    let len = len.next_multiple_of(4096);
    (0..n)
        .map(|_| {
            let buf = heap
                .allocate(u64::from(len))
                .with_ctx(|| format!("allocate {len} bytes from {}", heap.name()))?;
            let map = buf.mmap(0, len as usize, Prot::READ).ctx("mmap a heap buffer")?;
            let imp = t.dev.import(&buf).ctx("import a heap buffer")?;
            Ok(StageBuf { buf, map, imp, len })
        })
        .collect()
}

/// DQBUF of queue `type_` of `dev` once a buffer is ready, within 10 s (a codec that stops
/// answering fails the test instead of hanging the suite).
fn dq(dev: &v4l2::Device, type_: u32, what: &str) -> Result<v4l2::Buffer, String> {
    dev.wait_buffer(type_, 10_000).with_ctx(|| format!("wait for {what}"))?;
    dev.dequeue_of(type_, v4l2::MEMORY_DMABUF).with_ctx(|| format!("VIDIOC_DQBUF from {what}"))
}

/// Checks that `f` (what the driver chose for `what` of `node`) is `want`'s size and format.
fn format_is(node: &str, what: &str, f: PixFormat, want: PixFormat) -> Result<PixFormat, String> {
    if (f.width, f.height, f.pixelformat) != (want.width, want.height, want.pixelformat) || f.sizeimage == 0 {
        return Err(format!("{node} {what}: asked for {want:?}, got {f:?}"));
    }
    Ok(f)
}

/// `n` DMABUF buffers on queue `type_` of `node`.
fn request_dmabufs(dev: &v4l2::Device, node: &str, type_: u32, n: u32) -> Result<(), String> {
    let got = dev
        .request_buffers_of(type_, n, v4l2::MEMORY_DMABUF)
        .with_ctx(|| format!("VIDIOC_REQBUFS DMABUF of {node}"))?;
    if got != n {
        return Err(format!("{node} took {got} DMABUF buffers, not {n}"));
    }
    Ok(())
}

/// A vicodec node opened as a streaming single-planar mem2mem device, its OUTPUT queue
/// formatted as `from` (returned as the driver chose it).
fn open_codec(node: &str, from: PixFormat) -> Result<(v4l2::Device, PixFormat), String> {
    use v4l2::{BUF_TYPE_VIDEO_OUTPUT as OUT, CAP_VIDEO_M2M};
    let dev = v4l2::Device::open(node).ctx(node)?;
    let cap = dev.querycap().ctx("VIDIOC_QUERYCAP")?;
    if cap.device_caps & (CAP_VIDEO_M2M | CAP_STREAMING) != CAP_VIDEO_M2M | CAP_STREAMING {
        return Err(format!(
            "{node} is not a streaming single-planar mem2mem device (caps {:#x})",
            cap.device_caps
        ));
    }
    dev.set_format_of(OUT, from).with_ctx(|| format!("VIDIOC_S_FMT OUTPUT of {node}"))?;
    let out = format_is(node, "OUTPUT", dev.format_of(OUT).ctx("VIDIOC_G_FMT OUTPUT")?, from)?;
    Ok((dev, out))
}

/// The stateful decoder's start (the V4L2 stateful decoder interface): its OUTPUT queue
/// streaming, the first bitstream buffer `index` (`buf`, `bytesused` of it) queued, the driver
/// parses the header and signals SOURCE_CHANGE; the CAPTURE queue is then formatted as `want`
/// (same size and subsampling as the stream), given `out`'s buffers and started.
fn start_decoder(
    dec: &v4l2::Device,
    node: &str,
    first: (u32, &StageBuf, u32),
    want: PixFormat,
    out: &[StageBuf],
) -> Result<PixFormat, String> {
    use v4l2::{BUF_TYPE_VIDEO_CAPTURE as CAP, EVENT_SOURCE_CHANGE, EVENT_SRC_CH_RESOLUTION};
    let (index, buf, bytesused) = first;
    dec.queue_dmabuf_of(v4l2::BUF_TYPE_VIDEO_OUTPUT, index, &buf.buf, buf.len, bytesused)
        .ctx("VIDIOC_QBUF to the decoder's OUTPUT")?;
    dec.wait_event(10_000).ctx("wait for the decoder's SOURCE_CHANGE event")?;
    let ev = dec.dequeue_event().ctx("VIDIOC_DQEVENT of the decoder")?;
    if ev.type_ != EVENT_SOURCE_CHANGE || ev.src_changes() & EVENT_SRC_CH_RESOLUTION == 0 {
        return Err(format!(
            "the decoder's first event is type {} changes {:#x}, not a resolution change",
            ev.type_,
            ev.src_changes()
        ));
    }
    let found = dec.format_of(CAP).ctx("VIDIOC_G_FMT CAPTURE of the decoder")?;
    if (found.width, found.height) != (want.width, want.height) {
        return Err(format!(
            "the decoder found a {}x{} stream, the encoder was given {}x{}",
            found.width, found.height, want.width, want.height
        ));
    }
    let fmt =
        format_is(node, "CAPTURE", dec.set_format(want).ctx("VIDIOC_S_FMT CAPTURE of the decoder")?, want)?;
    request_dmabufs(dec, node, CAP, out.len() as u32)?;
    for (i, d) in out.iter().enumerate() {
        dec.queue_dmabuf(i as u32, &d.buf, d.len).ctx("VIDIOC_QBUF DMABUF to the decoder's CAPTURE")?;
    }
    dec.stream_on().ctx("VIDIOC_STREAMON CAPTURE of the decoder")?;
    Ok(fmt)
}

/// Peak signal-to-noise ratio of `b` against `a` in dB (8-bit samples; infinite when equal).
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let se: u64 = a.iter().zip(b).map(|(x, y)| (i64::from(*x) - i64::from(*y)).pow(2) as u64).sum();
    if se == 0 {
        return f64::INFINITY;
    }
    let mse = se as f64 / a.len().min(b.len()) as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// The FWHT stream's frame header starts with its two magic words, 0x4f4f4f4f and 0xffffffff.
const FWHT_MAGIC: [u8; 8] = [0x4f, 0x4f, 0x4f, 0x4f, 0xff, 0xff, 0xff, 0xff];
/// Decoded frames must come back at least this close to vivid's (FWHT is lossy; at vicodec's
/// default quantisation vivid's test pattern decodes at about 40 dB, and a frame decoded from
/// the wrong buffer, or not decoded at all, is far below 20).
const MIN_PSNR_DB: f64 = 30.0;

/// A mem2mem stage as bcm2835-codec sees it, with vicodec (a real V4L2 stateful codec) in its
/// place: vivid captures into vcsm-uncached buffers (DMABUF), the VPU checksums each frame,
/// the same buffer is queued to vicodec's encoder (DMABUF OUTPUT), the encoder writes the FWHT
/// bitstream into another vcsm-uncached buffer (DMABUF CAPTURE) that the VPU checksums too, that
/// buffer goes as it is into vicodec's decoder (DMABUF OUTPUT), which decodes into a
/// vcsm-cached buffer (DMABUF CAPTURE, read by the CPU inside DMA_BUF_IOCTL_SYNC); the decoded
/// frame is compared with vivid's. No byte is copied between the stages.
pub(super) fn t_v4l2_codec(t: &T) -> Result<(), String> {
    use v4l2::{BUF_TYPE_VIDEO_OUTPUT as OUT, MEMORY_DMABUF as DMABUF, PIX_FMT_FWHT};
    let frames = (t.args.v4l2_frames / 4).max(12);
    let cached = t.cached.as_ref().unwrap_or(&t.heap);
    let (vivid, node, vid, raw) = open_vivid(DMA_CONTIG)?;
    let _vicodec = Vicodec::load()?;
    let (enc_node, dec_node) = vicodec_nodes()?;
    let fwht = PixFormat { pixelformat: PIX_FMT_FWHT, ..raw };
    let raw_in = PixFormat { bytesperline: 0, sizeimage: 0, ..raw };
    // The encoder: raw frames in (OUTPUT), the bitstream out (CAPTURE).
    let (enc, _) = open_codec(&enc_node, raw_in)?;
    let coded = format_is(
        &enc_node,
        "CAPTURE",
        enc.set_format(PixFormat { sizeimage: 0, bytesperline: 0, ..fwht }).ctx("VIDIOC_S_FMT CAPTURE")?,
        fwht,
    )?;
    request_dmabufs(&enc, &enc_node, OUT, BUFFERS)?;
    request_dmabufs(&enc, &enc_node, v4l2::BUF_TYPE_VIDEO_CAPTURE, 2)?;
    // The decoder: the bitstream in; its CAPTURE queue is set up from the stream's header.
    let (dec, dec_in) =
        open_codec(&dec_node, PixFormat { sizeimage: coded.sizeimage, bytesperline: 0, ..fwht })?;
    request_dmabufs(&dec, &dec_node, OUT, 2)?;
    dec.subscribe_event(v4l2::EVENT_SOURCE_CHANGE).ctx("VIDIOC_SUBSCRIBE_EVENT SOURCE_CHANGE")?;
    let n = vid.request_buffers(BUFFERS, DMABUF).ctx("VIDIOC_REQBUFS DMABUF")?;
    let frames_in = stage_bufs(t, &t.heap, n, raw.sizeimage)?;
    let bitstream = stage_bufs(t, &t.heap, 2, coded.sizeimage.max(dec_in.sizeimage))?;
    let out = stage_bufs(t, cached, 2, raw.sizeimage)?;
    for (i, b) in frames_in.iter().enumerate() {
        vid.queue_dmabuf(i as u32, &b.buf, b.len).ctx("VIDIOC_QBUF DMABUF to vivid")?;
    }
    for (i, c) in bitstream.iter().enumerate() {
        enc.queue_dmabuf(i as u32, &c.buf, c.len).ctx("VIDIOC_QBUF DMABUF to the encoder's CAPTURE")?;
    }
    let imports = DrvState::read()?.bufs.len();
    enc.stream_on_of(OUT).ctx("VIDIOC_STREAMON OUTPUT of the encoder")?;
    enc.stream_on().ctx("VIDIOC_STREAMON CAPTURE of the encoder")?;
    dec.stream_on_of(OUT).ctx("VIDIOC_STREAMON OUTPUT of the decoder")?;
    let mut decoding = false;
    vid.stream_on().ctx("VIDIOC_STREAMON of vivid")?;
    let start = Instant::now();
    let (mut coded_bytes, mut worst, mut best) = (0u64, f64::INFINITY, 0.0f64);
    for f in 0..frames {
        // The camera's frame, as the VPU sees it.
        let b = dq(&vid, v4l2::BUF_TYPE_VIDEO_CAPTURE, "vivid")?;
        let a = frames_in.get(b.index as usize).ok_or_else(|| format!("vivid gave index {}", b.index))?;
        let cpu = with_cpu_access(&a.buf, DMA_BUF_SYNC_READ, || Ok(map_checksum(&a.map)))?;
        let vpu = vpu_checksum(a.imp.vc_handle)?;
        if cpu != vpu {
            return Err(format!("frame {f}: the VPU read {vpu:#x} of vivid's frame, the CPU {cpu:#x}"));
        }
        // Encode it where it lies.
        enc.queue_dmabuf_of(OUT, b.index, &a.buf, a.len, b.bytesused)
            .ctx("VIDIOC_QBUF to the encoder's OUTPUT")?;
        let c = dq(&enc, v4l2::BUF_TYPE_VIDEO_CAPTURE, "the encoder's CAPTURE")?;
        let done = dq(&enc, OUT, "the encoder's OUTPUT")?;
        if done.index != b.index {
            return Err(format!(
                "frame {f}: the encoder gave back OUTPUT buffer {}, not {}",
                done.index, b.index
            ));
        }
        let cb =
            bitstream.get(c.index as usize).ok_or_else(|| format!("the encoder gave index {}", c.index))?;
        // The encoder is done with the bitstream buffer and it is queued nowhere.
        let head: Vec<u8> = (0..8).map_while(|i| cb.map.read_u8(i)).collect();
        if c.bytesused == 0 || c.bytesused >= raw.sizeimage || head != FWHT_MAGIC {
            return Err(format!(
                "frame {f}: the encoder wrote {} bytes starting {head:02x?}, not an FWHT frame",
                c.bytesused
            ));
        }
        coded_bytes += u64::from(c.bytesused);
        // The VPU reads the bitstream as bcm2835-codec's output port would hand it on.
        let cpu = map_checksum(&cb.map);
        let vpu = vpu_checksum(cb.imp.vc_handle)?;
        if cpu != vpu {
            return Err(format!("frame {f}: the VPU read {vpu:#x} of the bitstream, the CPU {cpu:#x}"));
        }
        // Decode the bitstream buffer as it is.
        if decoding {
            dec.queue_dmabuf_of(OUT, c.index, &cb.buf, cb.len, c.bytesused)
                .ctx("VIDIOC_QBUF to the decoder's OUTPUT")?;
        } else {
            start_decoder(&dec, &dec_node, (c.index, cb, c.bytesused), raw_in, &out)?;
            decoding = true;
        }
        let d = dq(&dec, v4l2::BUF_TYPE_VIDEO_CAPTURE, "the decoder's CAPTURE")?;
        dq(&dec, OUT, "the decoder's OUTPUT")?;
        let db = out.get(d.index as usize).ok_or_else(|| format!("the decoder gave index {}", d.index))?;
        if d.bytesused != raw.sizeimage {
            return Err(format!("frame {f}: decoded {} bytes, a frame is {}", d.bytesused, raw.sizeimage));
        }
        let len = raw.sizeimage as usize;
        let q = with_cpu_access(&db.buf, DMA_BUF_SYNC_READ, || {
            with_cpu_access(&a.buf, DMA_BUF_SYNC_READ, || {
                // Neither buffer is queued to any device while they are copied.
                match (a.map.to_vec(), db.map.to_vec()) {
                    (Ok(x), Ok(y)) if x.len() >= len && y.len() >= len => Ok(psnr(&x[..len], &y[..len])),
                    _ => Err("a heap mapping is not readable or shorter than a frame".to_string()),
                }
            })
        })?;
        if q < MIN_PSNR_DB {
            return Err(format!(
                "frame {f}: decoded at {q:.1} dB against vivid's frame (need {MIN_PSNR_DB} dB)"
            ));
        }
        (worst, best) = (worst.min(q), best.max(q));
        // Recycle: the raw frame back to vivid, the bitstream to the encoder, the picture to
        // the decoder.
        vid.queue_dmabuf(b.index, &a.buf, a.len).ctx("VIDIOC_QBUF DMABUF to vivid")?;
        enc.queue_dmabuf(c.index, &cb.buf, cb.len).ctx("VIDIOC_QBUF to the encoder's CAPTURE")?;
        dec.queue_dmabuf(d.index, &db.buf, db.len).ctx("VIDIOC_QBUF to the decoder's CAPTURE")?;
    }
    let secs = start.elapsed().as_secs_f64();
    vid.stream_off().ctx("VIDIOC_STREAMOFF of vivid")?;
    for d in [&enc, &dec] {
        d.stream_off_of(OUT).ctx("VIDIOC_STREAMOFF OUTPUT")?;
        d.stream_off().ctx("VIDIOC_STREAMOFF CAPTURE")?;
    }
    let now = DrvState::read()?.bufs.len();
    let total = frames_in.len() + bitstream.len() + out.len();
    if imports != total || now != total {
        return Err(format!("{total} buffers, {imports} imports before streaming, {now} after"));
    }
    for (d, what) in [(&vid, "vivid"), (&enc, "the encoder"), (&dec, "the decoder")] {
        d.request_buffers(0, DMABUF).with_ctx(|| format!("VIDIOC_REQBUFS 0 of {what}"))?;
    }
    for d in [&enc, &dec] {
        d.request_buffers_of(OUT, 0, DMABUF).ctx("VIDIOC_REQBUFS 0 OUTPUT")?;
    }
    drop((frames_in, bitstream, out, enc, dec, vid));
    all_freed(vivid, "the codec stage stopped")?;
    info(
        "vcsm/v4l2-codec",
        &format!(
            "{frames} frames {}x{} YUYV from {node} -> VPU -> vicodec encoder {enc_node} -> VPU -> decoder {dec_node} in {secs:.1} s ({:.1} fps), DMABUF on both queues of both, no copy; \
             FWHT {:.1} KiB/frame ({:.1}:1), decoded PSNR {worst:.1}..{best:.1} dB, every VPU checksum = CPU's; {total} buffers imported once each",
            raw.width,
            raw.height,
            f64::from(frames) / secs,
            coded_bytes as f64 / f64::from(frames) / 1024.0,
            f64::from(raw.sizeimage) * f64::from(frames) / coded_bytes as f64,
        ),
    );
    Ok(())
}

const FAR_FRAME: &str = "/sys/kernel/debug/vcsm-kapi-test/far-frame";

/// A camera buffer the VPU cannot reach: vivid captures into a contiguous 2 MiB buffer above the
/// VPU's window (the test module's `far-frame`, as a DMABUF buffer) next to a vcsm-uncached
/// buffer. vivid fills both for every frame; the import of the far one is refused (the VPU would
/// read someone else's memory at that bus address): EINVAL from the driver's window check where
/// the DMA layer maps the buffer directly (the window boot's split range map), EIO where the DMA
/// layer cannot map it for the VPU at all (one dma-ranges entry, as on a Pi 4: 2 MiB is too big
/// to bounce). The other buffer is imported once and the VPU reads every frame in it; nothing is
/// left afterwards.
pub(super) fn t_v4l2_outside_window(t: &T) -> Result<(), String> {
    use v4l2::MEMORY_DMABUF as DMABUF;
    let (vivid, node, vid, fmt) = open_vivid(DMA_CONTIG)?;
    let far = super::test_buf(FAR_FRAME)?;
    let far_len = far.size().ctx("size of the far buffer")?;
    let near = stage_bufs(t, &t.heap, 1, fmt.sizeimage)?.pop().ok_or("no heap buffer")?;
    if far_len < u64::from(fmt.sizeimage) {
        return Err(format!("the far buffer has {far_len} bytes, a frame {}", fmt.sizeimage));
    }
    if vid.request_buffers(2, DMABUF).ctx("VIDIOC_REQBUFS DMABUF")? != 2 {
        return Err("vivid took fewer than 2 DMABUF buffers".into());
    }
    let refused_before = DrvState::read()?.num("refused_outside");
    // The pipeline imports each buffer once, before streaming, as MMAL does.
    let errno = match t.dev.import(&far) {
        Ok(_) => return Err("a V4L2 buffer above the VPU's window was imported".into()),
        Err(e) => e.raw_os_error().unwrap_or(0),
    };
    let refused = DrvState::read()?.num("refused_outside");
    let how = match errno {
        libc::EINVAL if refused == refused_before.wrapping_add(1) => "EINVAL from the driver's window check (refused_outside +1)",
        libc::EIO if refused == refused_before => "EIO: the DMA layer has no address for it that the VPU can use (too big to bounce)",
        _ => {
            return Err(format!(
                "import of a V4L2 buffer above the VPU's window: errno {errno}, refused_outside {refused_before} -> {refused}; want EINVAL by the window check or EIO from the DMA layer"
            ))
        }
    };
    vid.queue_dmabuf(0, &far, far_len as u32).ctx("VIDIOC_QBUF the far buffer")?;
    vid.queue_dmabuf(1, &near.buf, near.len).ctx("VIDIOC_QBUF the heap buffer")?;
    vid.stream_on().ctx("VIDIOC_STREAMON")?;
    let (mut far_frames, mut near_frames) = (0, 0);
    for f in 0..12 {
        let b = vid.dequeue(DMABUF).ctx("VIDIOC_DQBUF")?;
        if b.bytesused != fmt.sizeimage {
            return Err(format!("frame {f}: {} bytes used, format says {}", b.bytesused, fmt.sizeimage));
        }
        if b.index == 0 {
            far_frames += 1;
            vid.queue_dmabuf(0, &far, far_len as u32).ctx("VIDIOC_QBUF the far buffer")?;
        } else {
            let cpu = with_cpu_access(&near.buf, DMA_BUF_SYNC_READ, || Ok(map_checksum(&near.map)))?;
            let vpu = vpu_checksum(near.imp.vc_handle)?;
            if cpu != vpu {
                return Err(format!("frame {f}: VPU checksum {vpu:#x} of the heap buffer, CPU {cpu:#x}"));
            }
            near_frames += 1;
            vid.queue_dmabuf(1, &near.buf, near.len).ctx("VIDIOC_QBUF the heap buffer")?;
        }
    }
    vid.stream_off().ctx("VIDIOC_STREAMOFF")?;
    vid.request_buffers(0, DMABUF).ctx("VIDIOC_REQBUFS 0")?;
    if far_frames == 0 || near_frames == 0 {
        return Err(format!(
            "vivid filled the far buffer {far_frames} times and the heap buffer {near_frames} times"
        ));
    }
    let st = DrvState::read()?;
    if st.bufs.len() != 1 {
        return Err(format!(
            "the driver lists {} buffers, want only the heap buffer's import",
            st.bufs.len()
        ));
    }
    drop((near, far, vid));
    all_freed(vivid, "the stream with a far buffer")?;
    if bufinfo_count("vcsm-kapi-test-far-frame")? != 0 {
        return Err("the far buffer is still alive".into());
    }
    info(
        "vcsm/v4l2-outside-window",
        &format!("{node}: a 640x480 frame buffer above the VPU's window: import refused, {how}; vivid filled it {far_frames} times and the in-window heap buffer {near_frames} times, every one of those checked by the VPU; nothing left"),
    );
    Ok(())
}
