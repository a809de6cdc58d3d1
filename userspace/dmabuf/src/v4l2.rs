//! The few V4L2 calls zero-copy pipelines make (vcsm-tool stream, the guest tests): single-planar
//! queues, capture with MMAP buffers exported as dma-bufs (`VIDIOC_EXPBUF`) or DMABUF buffers from
//! a heap, and a mem2mem codec's two queues (OUTPUT takes the frames, CAPTURE gives the result).
//!
//! The ioctls are [`crate::sys::Ioctl`]s (numbers from `nix`'s request-code macros) over
//! `#[repr(C)]` mirrors of `linux/videodev2.h`
//! (64-bit layouts; sizes checked below, and the kernel checks them again: an ioctl number
//! encodes its argument's size, so a wrong layout gets `ENOTTY`). The maintained V4L2 crates
//! (`v4l`, `v4l2r`) generate their bindings with bindgen at build time, which would need
//! libclang and the target's kernel headers when cross-building the static aarch64 guest
//! programs; nine ioctls do not justify that.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;

use crate::mapping::{Mapping, Prot};

/// `V4L2_BUF_TYPE_VIDEO_CAPTURE`.
pub const BUF_TYPE_VIDEO_CAPTURE: u32 = 1;
/// `V4L2_BUF_TYPE_VIDEO_OUTPUT` (a mem2mem device's input queue).
pub const BUF_TYPE_VIDEO_OUTPUT: u32 = 2;
/// `V4L2_MEMORY_MMAP`.
pub const MEMORY_MMAP: u32 = 1;
/// `V4L2_MEMORY_DMABUF`.
pub const MEMORY_DMABUF: u32 = 4;
/// `V4L2_FIELD_NONE`.
pub const FIELD_NONE: u32 = 1;
/// `V4L2_CAP_VIDEO_CAPTURE`.
pub const CAP_VIDEO_CAPTURE: u32 = 0x0000_0001;
/// `V4L2_CAP_VIDEO_M2M` (single-planar memory-to-memory).
pub const CAP_VIDEO_M2M: u32 = 0x0000_8000;
/// `V4L2_CAP_STREAMING`.
pub const CAP_STREAMING: u32 = 0x0400_0000;

/// A V4L2 four-character code.
pub const fn fourcc(c: &[u8; 4]) -> u32 {
    (c[0] as u32) | (c[1] as u32) << 8 | (c[2] as u32) << 16 | (c[3] as u32) << 24
}

/// `V4L2_PIX_FMT_YUYV`.
pub const PIX_FMT_YUYV: u32 = fourcc(b"YUYV");
/// `V4L2_PIX_FMT_FWHT`: vicodec's compressed format (a fast Walsh-Hadamard transform codec).
pub const PIX_FMT_FWHT: u32 = fourcc(b"FWHT");

/// `struct v4l2_capability`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Capability {
    pub driver: [u8; 16],
    pub card: [u8; 32],
    pub bus_info: [u8; 32],
    pub version: u32,
    pub capabilities: u32,
    pub device_caps: u32,
    pub reserved: [u32; 3],
}

/// The number of `u32` fields of [`PixFormat`].
const PIX_WORDS: usize = 12;
const _: () = assert!(std::mem::size_of::<PixFormat>() == PIX_WORDS * 4);

/// `struct v4l2_pix_format`.
#[repr(C)]
#[derive(Clone, Copy, Default, Debug)]
pub struct PixFormat {
    pub width: u32,
    pub height: u32,
    pub pixelformat: u32,
    pub field: u32,
    pub bytesperline: u32,
    pub sizeimage: u32,
    pub colorspace: u32,
    pub priv_: u32,
    pub flags: u32,
    pub ycbcr_enc: u32,
    pub quantization: u32,
    pub xfer_func: u32,
}

/// The union of `struct v4l2_format` (200 bytes, 8-aligned: some members hold pointers).
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct FormatUnion {
    pub raw: [u8; 200],
}

/// `struct v4l2_format`.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Format {
    pub type_: u32,
    pub fmt: FormatUnion,
}

impl Format {
    /// A capture format with `pix` in the union.
    pub fn capture(pix: PixFormat) -> Self {
        Format::of(BUF_TYPE_VIDEO_CAPTURE, pix)
    }

    /// A format of queue `type_` with `pix` in the union.
    pub fn of(type_: u32, pix: PixFormat) -> Self {
        let mut f = Format { type_, fmt: FormatUnion { raw: [0; 200] } };
        f.set_pix(pix);
        f
    }

    /// The union as a `struct v4l2_pix_format` (its first 48 bytes: twelve native-endian
    /// `u32`s).
    pub fn pix(&self) -> PixFormat {
        let mut w = [0u32; PIX_WORDS];
        for (word, bytes) in w.iter_mut().zip(self.fmt.raw.chunks_exact(4)) {
            *word = u32::from_ne_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        }
        let [width, height, pixelformat, field, bytesperline, sizeimage, colorspace, priv_, flags, ycbcr_enc, quantization, xfer_func] =
            w;
        PixFormat {
            width,
            height,
            pixelformat,
            field,
            bytesperline,
            sizeimage,
            colorspace,
            priv_,
            flags,
            ycbcr_enc,
            quantization,
            xfer_func,
        }
    }

    fn set_pix(&mut self, p: PixFormat) {
        let w = [
            p.width,
            p.height,
            p.pixelformat,
            p.field,
            p.bytesperline,
            p.sizeimage,
            p.colorspace,
            p.priv_,
            p.flags,
            p.ycbcr_enc,
            p.quantization,
            p.xfer_func,
        ];
        for (word, bytes) in w.iter().zip(self.fmt.raw.chunks_exact_mut(4)) {
            bytes.copy_from_slice(&word.to_ne_bytes());
        }
    }
}

/// `struct v4l2_requestbuffers`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct RequestBuffers {
    pub count: u32,
    pub type_: u32,
    pub memory: u32,
    pub capabilities: u32,
    pub flags: u8,
    pub reserved: [u8; 3],
}

/// `struct v4l2_timecode`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct Timecode {
    pub type_: u32,
    pub flags: u32,
    pub frames: u8,
    pub seconds: u8,
    pub minutes: u8,
    pub hours: u8,
    pub userbits: [u8; 4],
}

/// `struct v4l2_buffer` (single-planar: `m` is the MMAP offset or the DMABUF fd).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Buffer {
    pub index: u32,
    pub type_: u32,
    pub bytesused: u32,
    pub flags: u32,
    pub field: u32,
    pub timestamp: libc::timeval,
    pub timecode: Timecode,
    pub sequence: u32,
    pub memory: u32,
    /// `m.offset` (MMAP), `m.fd` (DMABUF) in the low 32 bits; 8 bytes for `m.userptr`.
    pub m: u64,
    pub length: u32,
    pub reserved2: u32,
    pub request_fd: i32,
}

impl Buffer {
    /// A capture buffer description for `memory`.
    pub fn new(index: u32, memory: u32) -> Self {
        Buffer::of(BUF_TYPE_VIDEO_CAPTURE, index, memory)
    }

    /// A buffer description of queue `type_` for `memory`.
    pub fn of(type_: u32, index: u32, memory: u32) -> Self {
        Buffer {
            index,
            type_,
            bytesused: 0,
            flags: 0,
            field: 0,
            timestamp: libc::timeval { tv_sec: 0, tv_usec: 0 },
            timecode: Timecode::default(),
            sequence: 0,
            memory,
            m: 0,
            length: 0,
            reserved2: 0,
            request_fd: 0,
        }
    }
}

/// `struct v4l2_exportbuffer`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct ExportBuffer {
    pub type_: u32,
    pub index: u32,
    pub plane: u32,
    pub flags: u32,
    pub fd: i32,
    pub reserved: [u32; 11],
}

/// `V4L2_EVENT_SOURCE_CHANGE`: a decoder found the stream's format (or a change of it).
pub const EVENT_SOURCE_CHANGE: u32 = 5;
/// `V4L2_EVENT_SRC_CH_RESOLUTION`.
pub const EVENT_SRC_CH_RESOLUTION: u32 = 1;

/// `struct v4l2_event_subscription`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub struct EventSubscription {
    pub type_: u32,
    pub id: u32,
    pub flags: u32,
    pub reserved: [u32; 5],
}

/// `struct v4l2_event` (the union as raw bytes; 8-aligned, it holds 64-bit members).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event {
    pub type_: u32,
    pub u: EventUnion,
    pub pending: u32,
    pub sequence: u32,
    pub timestamp: libc::timespec,
    pub id: u32,
    pub reserved: [u32; 8],
}

/// The union of `struct v4l2_event`.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
pub struct EventUnion {
    pub data: [u8; 64],
}

impl Event {
    /// `u.src_change.changes` of a source-change event.
    pub fn src_changes(&self) -> u32 {
        u32::from_ne_bytes([self.u.data[0], self.u.data[1], self.u.data[2], self.u.data[3]])
    }
}

const _: () = assert!(std::mem::size_of::<Capability>() == 104);
const _: () = assert!(std::mem::size_of::<EventSubscription>() == 32);
const _: () = assert!(std::mem::size_of::<Event>() == 136);
const _: () = assert!(std::mem::size_of::<PixFormat>() == 48);
const _: () = assert!(std::mem::size_of::<Format>() == 208);
const _: () = assert!(std::mem::size_of::<RequestBuffers>() == 20);
const _: () = assert!(std::mem::size_of::<Buffer>() == 88);
const _: () = assert!(std::mem::offset_of!(Buffer, timestamp) == 24);
const _: () = assert!(std::mem::offset_of!(Buffer, m) == 64);
const _: () = assert!(std::mem::size_of::<ExportBuffer>() == 64);

/// The ioctls, each with its argument type (see [`crate::sys::Ioctl`]).
mod ioctls {
    use super::*;
    use crate::sys::Ioctl;
    use std::mem::size_of;
    const fn r<T: Copy>(nr: u8) -> Ioctl<T> {
        Ioctl::new(nix::request_code_read!(b'V', nr, size_of::<T>()) as u32)
    }
    const fn w<T: Copy>(nr: u8) -> Ioctl<T> {
        Ioctl::new(nix::request_code_write!(b'V', nr, size_of::<T>()) as u32)
    }
    const fn rw<T: Copy>(nr: u8) -> Ioctl<T> {
        Ioctl::new(nix::request_code_readwrite!(b'V', nr, size_of::<T>()) as u32)
    }
    pub const QUERYCAP: Ioctl<Capability> = r(0);
    pub const G_FMT: Ioctl<Format> = rw(4);
    pub const S_FMT: Ioctl<Format> = rw(5);
    pub const REQBUFS: Ioctl<RequestBuffers> = rw(8);
    pub const QUERYBUF: Ioctl<Buffer> = rw(9);
    pub const QBUF: Ioctl<Buffer> = rw(15);
    pub const EXPBUF: Ioctl<ExportBuffer> = rw(16);
    pub const DQBUF: Ioctl<Buffer> = rw(17);
    pub const STREAMON: Ioctl<libc::c_int> = w(18);
    pub const STREAMOFF: Ioctl<libc::c_int> = w(19);
    pub const DQEVENT: Ioctl<Event> = r(89);
    pub const SUBSCRIBE_EVENT: Ioctl<EventSubscription> = w(90);
}

fn errno(e: nix::Error) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// An open V4L2 video device.
pub struct Device {
    file: File,
}

impl Device {
    /// Opens `path` read-write, non-blocking off.
    pub fn open(path: &str) -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).custom_flags(libc::O_CLOEXEC).open(path)?;
        Ok(Device { file })
    }

    /// `VIDIOC_QUERYCAP`.
    pub fn querycap(&self) -> io::Result<Capability> {
        let mut cap = Capability {
            driver: [0; 16],
            card: [0; 32],
            bus_info: [0; 32],
            version: 0,
            capabilities: 0,
            device_caps: 0,
            reserved: [0; 3],
        };
        ioctls::QUERYCAP.call(self.file.as_fd(), &mut cap)?;
        Ok(cap)
    }

    /// `VIDIOC_S_FMT` of a capture format; returns what the driver chose.
    pub fn set_format(&self, pix: PixFormat) -> io::Result<PixFormat> {
        self.set_format_of(BUF_TYPE_VIDEO_CAPTURE, pix)
    }

    /// `VIDIOC_S_FMT` of queue `type_`; returns what the driver chose.
    pub fn set_format_of(&self, type_: u32, pix: PixFormat) -> io::Result<PixFormat> {
        let mut f = Format::of(type_, pix);
        ioctls::S_FMT.call(self.file.as_fd(), &mut f)?;
        Ok(f.pix())
    }

    /// `VIDIOC_G_FMT` of the capture format.
    pub fn format(&self) -> io::Result<PixFormat> {
        self.format_of(BUF_TYPE_VIDEO_CAPTURE)
    }

    /// `VIDIOC_G_FMT` of queue `type_`.
    pub fn format_of(&self, type_: u32) -> io::Result<PixFormat> {
        let mut f = Format::of(type_, PixFormat::default());
        ioctls::G_FMT.call(self.file.as_fd(), &mut f)?;
        Ok(f.pix())
    }

    /// `VIDIOC_REQBUFS`: `count` capture buffers of `memory` (0 frees them); returns how many
    /// the driver gave.
    pub fn request_buffers(&self, count: u32, memory: u32) -> io::Result<u32> {
        self.request_buffers_of(BUF_TYPE_VIDEO_CAPTURE, count, memory)
    }

    /// `VIDIOC_REQBUFS` of queue `type_`.
    pub fn request_buffers_of(&self, type_: u32, count: u32, memory: u32) -> io::Result<u32> {
        let mut r = RequestBuffers { count, type_, memory, ..Default::default() };
        ioctls::REQBUFS.call(self.file.as_fd(), &mut r)?;
        Ok(r.count)
    }

    /// `VIDIOC_QUERYBUF` of MMAP buffer `index`.
    pub fn query_buffer(&self, index: u32) -> io::Result<Buffer> {
        let mut b = Buffer::new(index, MEMORY_MMAP);
        ioctls::QUERYBUF.call(self.file.as_fd(), &mut b)?;
        Ok(b)
    }

    /// `VIDIOC_EXPBUF` of MMAP buffer `index`: a dma-buf of it, read-write.
    pub fn export(&self, index: u32) -> io::Result<OwnedFd> {
        let mut e = ExportBuffer {
            type_: BUF_TYPE_VIDEO_CAPTURE,
            index,
            flags: (libc::O_RDWR | libc::O_CLOEXEC) as u32,
            ..Default::default()
        };
        ioctls::EXPBUF
            .call_for_fd(self.file.as_fd(), &mut e, |e| i64::from(e.fd))?
            .map_err(|n| io::Error::new(io::ErrorKind::InvalidData, format!("VIDIOC_EXPBUF returned fd {n}")))
    }

    /// `VIDIOC_QBUF` of MMAP buffer `index`.
    pub fn queue_mmap(&self, index: u32) -> io::Result<()> {
        let mut b = Buffer::new(index, MEMORY_MMAP);
        ioctls::QBUF.call(self.file.as_fd(), &mut b)?;
        Ok(())
    }

    /// `VIDIOC_QBUF` of DMABUF capture buffer `index`, backed by `buf` (`length` bytes).
    pub fn queue_dmabuf(&self, index: u32, buf: impl AsFd, length: u32) -> io::Result<()> {
        self.queue_dmabuf_of(BUF_TYPE_VIDEO_CAPTURE, index, buf, length, 0)
    }

    /// `VIDIOC_QBUF` of DMABUF buffer `index` of queue `type_`, backed by `buf` (`length`
    /// bytes), of which `bytesused` hold data (an OUTPUT queue's payload; 0 for CAPTURE).
    pub fn queue_dmabuf_of(
        &self,
        type_: u32,
        index: u32,
        buf: impl AsFd,
        length: u32,
        bytesused: u32,
    ) -> io::Result<()> {
        let mut b = Buffer::of(type_, index, MEMORY_DMABUF);
        b.m = buf.as_fd().as_raw_fd() as u32 as u64;
        b.length = length;
        b.bytesused = bytesused;
        b.field = FIELD_NONE;
        ioctls::QBUF.call(self.file.as_fd(), &mut b)?;
        Ok(())
    }

    /// `VIDIOC_DQBUF`: the next filled capture buffer of `memory` (blocks).
    pub fn dequeue(&self, memory: u32) -> io::Result<Buffer> {
        self.dequeue_of(BUF_TYPE_VIDEO_CAPTURE, memory)
    }

    /// Waits up to `ms` milliseconds for a buffer to dequeue on queue `type_` (`poll`: POLLIN
    /// for CAPTURE, POLLOUT for OUTPUT); `ETIMEDOUT` if none came.
    pub fn wait_buffer(&self, type_: u32, ms: u16) -> io::Result<()> {
        use nix::poll::{poll, PollFd, PollFlags};
        let want = if type_ == BUF_TYPE_VIDEO_OUTPUT { PollFlags::POLLOUT } else { PollFlags::POLLIN };
        let mut fds = [PollFd::new(self.file.as_fd(), want)];
        if poll(&mut fds, ms).map_err(errno)? == 0 {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        Ok(())
    }

    /// `VIDIOC_DQBUF` of queue `type_` (blocks): a filled CAPTURE buffer, or an OUTPUT buffer
    /// the device is done with.
    pub fn dequeue_of(&self, type_: u32, memory: u32) -> io::Result<Buffer> {
        let mut b = Buffer::of(type_, 0, memory);
        ioctls::DQBUF.call(self.file.as_fd(), &mut b)?;
        Ok(b)
    }

    /// `VIDIOC_STREAMON` of the capture queue.
    pub fn stream_on(&self) -> io::Result<()> {
        self.stream_on_of(BUF_TYPE_VIDEO_CAPTURE)
    }

    /// `VIDIOC_STREAMON` of queue `type_`.
    pub fn stream_on_of(&self, type_: u32) -> io::Result<()> {
        let mut t = type_ as libc::c_int;
        ioctls::STREAMON.call(self.file.as_fd(), &mut t)?;
        Ok(())
    }

    /// `VIDIOC_STREAMOFF` of the capture queue (returns every buffer to userspace).
    pub fn stream_off(&self) -> io::Result<()> {
        self.stream_off_of(BUF_TYPE_VIDEO_CAPTURE)
    }

    /// `VIDIOC_STREAMOFF` of queue `type_`.
    pub fn stream_off_of(&self, type_: u32) -> io::Result<()> {
        let mut t = type_ as libc::c_int;
        ioctls::STREAMOFF.call(self.file.as_fd(), &mut t)?;
        Ok(())
    }

    /// `VIDIOC_SUBSCRIBE_EVENT` to events of `type_`.
    pub fn subscribe_event(&self, type_: u32) -> io::Result<()> {
        let mut sub = EventSubscription { type_, ..Default::default() };
        ioctls::SUBSCRIBE_EVENT.call(self.file.as_fd(), &mut sub)?;
        Ok(())
    }

    /// Waits up to `ms` milliseconds for an event (`poll`: POLLPRI); `ETIMEDOUT` if none came.
    pub fn wait_event(&self, ms: u16) -> io::Result<()> {
        use nix::poll::{poll, PollFd, PollFlags};
        let mut fds = [PollFd::new(self.file.as_fd(), PollFlags::POLLPRI)];
        if poll(&mut fds, ms).map_err(errno)? == 0 {
            return Err(io::Error::from_raw_os_error(libc::ETIMEDOUT));
        }
        Ok(())
    }

    /// `VIDIOC_DQEVENT`: the next pending event (blocks until there is one).
    pub fn dequeue_event(&self) -> io::Result<Event> {
        let mut ev = Event {
            type_: 0,
            u: EventUnion { data: [0; 64] },
            pending: 0,
            sequence: 0,
            timestamp: libc::timespec { tv_sec: 0, tv_nsec: 0 },
            id: 0,
            reserved: [0; 8],
        };
        ioctls::DQEVENT.call(self.file.as_fd(), &mut ev)?;
        Ok(ev)
    }

    /// Maps MMAP buffer `b` (from `query_buffer`) read-only.
    pub fn map(&self, b: &Buffer) -> io::Result<Mapping> {
        if b.length == 0 {
            return Err(io::Error::from_raw_os_error(libc::EINVAL));
        }
        // For MMAP buffers `m` holds the offset to pass to mmap (`m.offset`, a u32).
        Mapping::new(self.file.as_fd(), u64::from(b.m as u32), b.length as usize, Prot::READ)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ioctl_numbers_match_videodev2() {
        // The numbers of linux/videodev2.h on a 64-bit kernel (size in bits 16-29).
        assert_eq!(nix::request_code_read!(b'V', 0, std::mem::size_of::<Capability>()) as u32, 0x8068_5600);
        assert_eq!(nix::request_code_readwrite!(b'V', 5, std::mem::size_of::<Format>()) as u32, 0xc0d0_5605);
        assert_eq!(
            nix::request_code_readwrite!(b'V', 8, std::mem::size_of::<RequestBuffers>()) as u32,
            0xc014_5608
        );
        assert_eq!(nix::request_code_readwrite!(b'V', 9, std::mem::size_of::<Buffer>()) as u32, 0xc058_5609);
        assert_eq!(
            nix::request_code_readwrite!(b'V', 16, std::mem::size_of::<ExportBuffer>()) as u32,
            0xc040_5610
        );
        assert_eq!(
            nix::request_code_write!(b'V', 18, std::mem::size_of::<libc::c_int>()) as u32,
            0x4004_5612
        );
        assert_eq!(PIX_FMT_YUYV, 0x5659_5559);
        assert_eq!(PIX_FMT_FWHT, 0x5448_5746);
        assert_eq!(nix::request_code_read!(b'V', 89, std::mem::size_of::<Event>()) as u32, 0x8088_5659);
        assert_eq!(
            nix::request_code_write!(b'V', 90, std::mem::size_of::<EventSubscription>()) as u32,
            0x4020_565a
        );
    }

    #[test]
    fn pix_format_round_trips_through_the_union() {
        let pix = PixFormat {
            width: 640,
            height: 480,
            pixelformat: PIX_FMT_YUYV,
            field: FIELD_NONE,
            ..Default::default()
        };
        let f = Format::capture(pix);
        let back = f.pix();
        assert_eq!(
            (back.width, back.height, back.pixelformat, back.field),
            (640, 480, PIX_FMT_YUYV, FIELD_NONE)
        );
        assert_eq!(f.type_, BUF_TYPE_VIDEO_CAPTURE);
    }
}
