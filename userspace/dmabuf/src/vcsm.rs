//! `/dev/vcsm-cma`, the MMAL-era userspace ABI of vc-sm-cma (`linux/vc_sm_cma_ioctl.h`, mirrored
//! by the `vcsm-uapi` crate): open, `VC_SM_CMA_IOCTL_MEM_ALLOC` and
//! `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF`. Shared by vcsm-tool and the guest tests.

use std::fs::OpenOptions;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd, RawFd};
use std::path::Path;

use vcsm_uapi::{
    VcSmCmaIoctlAlloc, VcSmCmaIoctlImportDmabuf, VC_SM_CMA_IOCTL_MEM_ALLOC, VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF,
};

use crate::sys::Ioctl;
use crate::DmaBuf;

/// The device node.
pub const DEV: &str = "/dev/vcsm-cma";

// The layouts are checked at compile time in vcsm-uapi; the numbers encode their sizes.
const MEM_ALLOC: Ioctl<VcSmCmaIoctlAlloc> = Ioctl::new(VC_SM_CMA_IOCTL_MEM_ALLOC);
const MEM_IMPORT_DMABUF: Ioctl<VcSmCmaIoctlImportDmabuf> = Ioctl::new(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF);

/// An open `/dev/vcsm-cma`.
#[derive(Debug)]
pub struct Vcsm {
    fd: OwnedFd,
}

/// A buffer the driver shared with the VPU (imported or allocated), with what it reported.
#[derive(Debug)]
pub struct VcsmBuf {
    /// The driver's dma-buf (for an import, the wrapper of the source); closing it tells the
    /// VPU to let go.
    pub buf: DmaBuf,
    /// The VPU's handle (`MEM_HANDLE_T`).
    pub vc_handle: u32,
    /// The bus address, without the VPU's cache alias bits.
    pub dma_addr: u64,
    /// Length of the VPU's mapping in bytes (import: as the driver reports it; alloc: the
    /// requested size).
    pub size: u32,
}

/// The ioctl succeeded but handed back no file descriptor: an error without an errno, whose
/// text names the ioctl.
fn bad_fd(ioctl: &str, n: i64) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{ioctl} succeeded but returned fd {n} (a driver bug)"),
    )
}

impl Vcsm {
    /// Opens `path` (normally [`DEV`]) read-write, close-on-exec.
    pub fn open(path: impl AsRef<Path>) -> io::Result<Vcsm> {
        let file = OpenOptions::new().read(true).write(true).open(path)?;
        Ok(Vcsm { fd: file.into() })
    }

    /// `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF` of file descriptor number `fd` (any number: the
    /// driver checks it), naming the VPU's resource `name` (at most 31 bytes are kept).
    pub fn import_raw(&self, fd: RawFd, name: &[u8]) -> io::Result<VcsmBuf> {
        let mut arg = VcSmCmaIoctlImportDmabuf::new(fd, name);
        let buf = MEM_IMPORT_DMABUF
            .call_for_fd(self.fd.as_fd(), &mut arg, |a| i64::from(a.handle))?
            .map_err(|n| bad_fd("VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF", n))?;
        Ok(VcsmBuf {
            buf: DmaBuf::from_fd(buf),
            vc_handle: arg.vc_handle,
            dma_addr: arg.dma_addr,
            size: arg.size,
        })
    }

    /// [`import_raw`](Self::import_raw) of an open dma-buf.
    pub fn import(&self, src: BorrowedFd<'_>, name: &[u8]) -> io::Result<VcsmBuf> {
        use std::os::fd::AsRawFd;
        self.import_raw(src.as_raw_fd(), name)
    }

    /// `VC_SM_CMA_IOCTL_MEM_ALLOC`: a new contiguous buffer of `size` bytes (rounded up to
    /// pages), shared with the VPU, named `name` (at most 31 bytes are kept).
    pub fn alloc(&self, size: u32, name: &[u8]) -> io::Result<VcsmBuf> {
        let mut arg = VcSmCmaIoctlAlloc::new(size, name);
        let buf = MEM_ALLOC
            .call_for_fd(self.fd.as_fd(), &mut arg, |a| i64::from(a.handle))?
            .map_err(|n| bad_fd("VC_SM_CMA_IOCTL_MEM_ALLOC", n))?;
        Ok(VcsmBuf { buf: DmaBuf::from_fd(buf), vc_handle: arg.vc_handle, dma_addr: arg.dma_addr, size })
    }
}

impl AsFd for Vcsm {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl std::os::fd::AsRawFd for Vcsm {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}
