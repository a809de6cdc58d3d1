//! `vcsm-tool stream`: a zero-copy capture pipeline. Frames stream from a V4L2 capture device
//! into dma-heap buffers (`V4L2_MEMORY_DMABUF`), each buffer imported into the VPU once, as a
//! libcamera/picamera2 pipeline hands its buffers to the codec. Where the simulated VPU is
//! there (the test bed), every frame is checked on the VPU side: its checksum through the
//! buffer's VPU handle equals the CPU's over the heap mapping. On a Pi the frames are counted.

use std::fs;
use std::io::Write;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use dmabuf::v4l2::{self, PixFormat, CAP_STREAMING, CAP_VIDEO_CAPTURE, FIELD_NONE, MEMORY_DMABUF};
use dmabuf::{describe_io_error, Prot, DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_START};

use crate::bench::progress_line;
use crate::error::{Error, Result};
use crate::json::{JsonExt, Value};
use crate::paths::Paths;
use crate::pattern::fnv1a32;
use crate::vcsm::{Vcsm, VcsmBuf};

/// The simulated VPU's checksum file (tests/vpu-sim): present only on the test bed.
pub const SIM_CHECKSUM: &str = "/sys/kernel/debug/vpu-sim/checksum";

/// What to stream.
pub struct Config {
    pub device: Option<String>,
    pub heap: String,
    pub frames: u32,
    pub width: u32,
    pub height: u32,
    pub fourcc: u32,
    pub buffers: u32,
}

/// What a stream did.
pub struct Report {
    pub device: String,
    pub card: String,
    pub heap: String,
    pub width: u32,
    pub height: u32,
    /// What was asked for (the driver may choose another size).
    pub requested: (u32, u32),
    pub fourcc: u32,
    pub frame_bytes: u32,
    pub buffers: u32,
    pub imports: u32,
    pub frames: u32,
    pub seconds: f64,
    /// Mean time from a frame's dequeue to its requeue (the pipeline's own cost per frame).
    pub per_frame: Duration,
    /// Frames checked on the VPU side, and how many differed.
    pub verified: u32,
    pub mismatches: u32,
}

fn fourcc_str(f: u32) -> String {
    f.to_le_bytes().iter().map(|&b| if b.is_ascii_graphic() { b as char } else { '?' }).collect()
}

/// The first V4L2 node that is a streaming capture device.
fn find_capture(paths: &Paths) -> Result<String> {
    let dir = paths.join("/sys/class/video4linux");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .map_err(|e| {
            Error::missing(format!("{}: {}: no V4L2 devices", dir.display(), describe_io_error(&e)))
        })?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("video"))
        .collect();
    names.sort();
    for n in names {
        let dev = paths.join(&format!("/dev/{n}")).display().to_string();
        if let Ok(d) = v4l2::Device::open(&dev) {
            if let Ok(cap) = d.querycap() {
                if cap.device_caps & (CAP_VIDEO_CAPTURE | CAP_STREAMING) == CAP_VIDEO_CAPTURE | CAP_STREAMING
                {
                    return Ok(dev);
                }
            }
        }
    }
    Err(Error::missing("no streaming V4L2 capture device; give one with --device"))
}

/// The simulated VPU's checksum of the buffer with handle `h`.
fn sim_checksum(paths: &Paths, h: u32) -> Result<u32> {
    let path = paths.join(SIM_CHECKSUM);
    fs::write(&path, format!("{h:#x}"))
        .map_err(|e| Error::failed(format!("{}: {}", path.display(), describe_io_error(&e))))?;
    let text = fs::read_to_string(&path)
        .map_err(|e| Error::failed(format!("{}: {}", path.display(), describe_io_error(&e))))?;
    let mut words = text.split_whitespace();
    while let Some(w) = words.next() {
        if w == "checksum" {
            if let Some(v) =
                words.next().and_then(|v| u32::from_str_radix(v.trim_start_matches("0x"), 16).ok())
            {
                return Ok(v);
            }
        }
    }
    Err(Error::failed(format!("{}: no checksum in '{}'", path.display(), text.trim())))
}

struct Slot {
    buf: dmabuf::DmaBuf,
    imp: VcsmBuf,
    /// The CPU's mapping, made once, where frames are checked.
    map: Option<dmabuf::Mapping>,
}

/// Runs the stream. `progress` shows a bar on stderr.
pub fn run(paths: &Paths, cfg: &Config, progress: bool) -> Result<Report> {
    let device = match &cfg.device {
        Some(d) => d.clone(),
        None => find_capture(paths)?,
    };
    let vid = v4l2::Device::open(&device)
        .map_err(|e| Error::missing(format!("{device}: {}", describe_io_error(&e))))?;
    let v4l2_err =
        |what: &str, e: std::io::Error| Error::failed(format!("{device}: {what}: {}", describe_io_error(&e)));
    let cap = vid.querycap().map_err(|e| v4l2_err("VIDIOC_QUERYCAP", e))?;
    if cap.device_caps & (CAP_VIDEO_CAPTURE | CAP_STREAMING) != CAP_VIDEO_CAPTURE | CAP_STREAMING {
        return Err(Error::usage(format!("{device} is not a streaming single-planar capture device")));
    }
    let card = String::from_utf8_lossy(&cap.card).trim_end_matches('\0').to_owned();
    let want = PixFormat {
        width: cfg.width,
        height: cfg.height,
        pixelformat: cfg.fourcc,
        field: FIELD_NONE,
        ..Default::default()
    };
    let fmt = vid.set_format(want).map_err(|e| v4l2_err("VIDIOC_S_FMT", e))?;
    if fmt.pixelformat != cfg.fourcc || fmt.sizeimage == 0 {
        return Err(Error::usage(format!("{device} cannot capture {}", fourcc_str(cfg.fourcc))));
    }
    let page = dmabuf::page_size() as u64;
    let len = u64::from(fmt.sizeimage).div_ceil(page) * page;
    let heap = crate::source::open_heap(paths, &cfg.heap)?;
    let vcsm = Vcsm::open(paths)?;
    let verify = paths.join(SIM_CHECKSUM).exists();
    let n = vid.request_buffers(cfg.buffers, MEMORY_DMABUF).map_err(|e| v4l2_err("VIDIOC_REQBUFS", e))?;
    let mut slots = Vec::new();
    for i in 0..n {
        let buf = heap.allocate(len).map_err(|e| {
            Error::failed(format!("{}: allocate {len} bytes: {}", cfg.heap, describe_io_error(&e)))
        })?;
        let imp = vcsm.import(buf.as_fd())?;
        let map = if verify {
            Some(
                buf.mmap(0, len as usize, Prot::READ)
                    .map_err(|e| Error::failed(format!("mmap: {}", describe_io_error(&e))))?,
            )
        } else {
            None
        };
        vid.queue_dmabuf(i, &buf, len as u32).map_err(|e| v4l2_err("VIDIOC_QBUF", e))?;
        slots.push(Slot { buf, imp, map });
    }
    vid.stream_on().map_err(|e| v4l2_err("VIDIOC_STREAMON", e))?;
    let start = Instant::now();
    let (mut verified, mut mismatches, mut busy) = (0u32, 0u32, Duration::ZERO);
    let mut err = std::io::stderr();
    for f in 0..cfg.frames {
        let b = vid.dequeue(MEMORY_DMABUF).map_err(|e| v4l2_err("VIDIOC_DQBUF", e))?;
        let t0 = Instant::now();
        let slot = slots
            .get(b.index as usize)
            .ok_or_else(|| Error::failed(format!("{device}: DQBUF gave buffer {}", b.index)))?;
        if let Some(map) = &slot.map {
            let sync = |flags| {
                slot.buf
                    .sync(flags)
                    .map_err(|e| Error::failed(format!("DMA_BUF_IOCTL_SYNC: {}", describe_io_error(&e))))
            };
            sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_READ)?;
            // The buffer is dequeued: the device does not write it until it is queued again.
            let bytes = map.to_vec().map_err(|e| Error::failed(format!("reading the frame: {e}")))?;
            let cpu = fnv1a32(&bytes);
            sync(DMA_BUF_SYNC_END | DMA_BUF_SYNC_READ)?;
            let vpu = sim_checksum(paths, slot.imp.vc_handle)?;
            verified += 1;
            if cpu != vpu {
                mismatches += 1;
            }
        }
        vid.queue_dmabuf(b.index, &slot.buf, len as u32).map_err(|e| v4l2_err("VIDIOC_QBUF", e))?;
        busy += t0.elapsed();
        if progress {
            let _ = write!(err, "\r{}", progress_line(f as usize + 1, cfg.frames as usize, 40));
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if progress {
        let _ = writeln!(err);
    }
    vid.stream_off().map_err(|e| v4l2_err("VIDIOC_STREAMOFF", e))?;
    vid.request_buffers(0, MEMORY_DMABUF).map_err(|e| v4l2_err("VIDIOC_REQBUFS 0", e))?;
    Ok(Report {
        device,
        card,
        heap: cfg.heap.clone(),
        width: fmt.width,
        height: fmt.height,
        requested: (cfg.width, cfg.height),
        fourcc: fmt.pixelformat,
        frame_bytes: fmt.sizeimage,
        buffers: n,
        imports: slots.len() as u32,
        frames: cfg.frames,
        seconds,
        per_frame: busy / cfg.frames.max(1),
        verified,
        mismatches,
    })
}

impl Report {
    /// Bytes the pipeline did not copy: every frame went from the device to the VPU in place.
    pub fn bytes_not_copied(&self) -> u64 {
        u64::from(self.frames) * u64::from(self.frame_bytes)
    }

    pub fn fps(&self) -> f64 {
        if self.seconds > 0.0 {
            f64::from(self.frames) / self.seconds
        } else {
            0.0
        }
    }

    pub fn render(&self) -> String {
        let verify = if self.verified > 0 {
            format!(
                "VPU-side check: {} of {} frames matched the CPU's checksum\n",
                self.verified - self.mismatches,
                self.verified
            )
        } else {
            "VPU-side check: none (no simulated VPU; frames were counted)\n".to_owned()
        };
        format!(
            "stream: {} ({}) -> {} -> VPU\nformat: {}x{}{} {}, {} bytes a frame, {} buffers imported into the VPU once each\nframes: {} in {:.2} s ({:.1} fps), {} us a frame in the pipeline\ncopies avoided: {} frames, {} bytes\n{}",
            self.device,
            self.card,
            self.heap,
            self.width,
            self.height,
            if self.requested != (self.width, self.height) {
                format!(" (the device's nearest to {}x{})", self.requested.0, self.requested.1)
            } else {
                String::new()
            },
            fourcc_str(self.fourcc),
            self.frame_bytes,
            self.imports,
            self.frames,
            self.seconds,
            self.fps(),
            self.per_frame.as_micros(),
            self.frames,
            self.bytes_not_copied(),
            verify
        )
    }

    pub fn to_json(&self) -> Value {
        Value::object()
            .with("device", self.device.as_str())
            .with("card", self.card.as_str())
            .with("heap", self.heap.as_str())
            .with("width", u64::from(self.width))
            .with("height", u64::from(self.height))
            .with("requested", format!("{}x{}", self.requested.0, self.requested.1))
            .with("fourcc", fourcc_str(self.fourcc))
            .with("frame_bytes", u64::from(self.frame_bytes))
            .with("buffers", u64::from(self.buffers))
            .with("imports", u64::from(self.imports))
            .with("frames", u64::from(self.frames))
            .with("seconds", self.seconds)
            .with("fps", self.fps())
            .with("per_frame_us", self.per_frame.as_micros() as u64)
            .with("bytes_not_copied", self.bytes_not_copied())
            .with("verified", u64::from(self.verified))
            .with("mismatches", u64::from(self.mismatches))
    }
}

/// `WxH` or `WxH:FOURCC` (default fourcc YUYV).
pub fn parse_format(s: &str) -> std::result::Result<(u32, u32, u32), String> {
    let (size, fourcc) = s.split_once(':').unwrap_or((s, "YUYV"));
    let (w, h) = size.split_once('x').ok_or_else(|| format!("'{s}': expected WIDTHxHEIGHT[:FOURCC]"))?;
    let w: u32 = w.parse().map_err(|_| format!("'{w}': not a width"))?;
    let h: u32 = h.parse().map_err(|_| format!("'{h}': not a height"))?;
    let b: [u8; 4] =
        fourcc.as_bytes().try_into().map_err(|_| format!("'{fourcc}': a FOURCC has four characters"))?;
    if w == 0 || h == 0 {
        return Err("width and height must not be 0".into());
    }
    Ok((w, h, v4l2::fourcc(&b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(parse_format("640x480"), Ok((640, 480, v4l2::PIX_FMT_YUYV)));
        assert_eq!(parse_format("1920x1080:NV12").map(|f| fourcc_str(f.2)), Ok("NV12".into()));
        assert!(parse_format("640").is_err());
        assert!(parse_format("0x480").is_err());
        assert!(parse_format("640x480:YU").is_err());
    }

    #[test]
    fn report_text_and_json() {
        let r = Report {
            device: "/dev/video0".into(),
            card: "vivid".into(),
            heap: "vcsm-uncached".into(),
            width: 640,
            height: 480,
            requested: (640, 480),
            fourcc: v4l2::PIX_FMT_YUYV,
            frame_bytes: 614_400,
            buffers: 4,
            imports: 4,
            frames: 30,
            seconds: 2.0,
            per_frame: Duration::from_micros(1500),
            verified: 30,
            mismatches: 0,
        };
        let t = r.render();
        assert!(t.contains("15.0 fps") && t.contains("1500 us") && t.contains("18432000 bytes"), "{t}");
        assert!(t.contains("30 of 30 frames matched"), "{t}");
        let j = r.to_json().to_json();
        assert!(
            j.contains(r#""fourcc":"YUYV""#)
                && j.contains(r#""mismatches":0"#)
                && j.contains(r#""imports":4"#),
            "{j}"
        );
    }
}
