//! A dma-buf file descriptor: size, mmap, CPU-access sync, name.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use crate::mapping::{Mapping, Prot};
use crate::uapi::{DmaBufSync, BUF_SET_NAME, BUF_SYNC, DMA_BUF_NAME_LEN};

/// How often `sync` retries a sync interrupted by a signal (EINTR/EAGAIN) before giving up.
const SYNC_RETRIES: usize = 100;

/// An owned dma-buf; closed (and, if it held the last reference, freed) on drop.
#[derive(Debug)]
pub struct DmaBuf {
    fd: OwnedFd,
}

impl DmaBuf {
    /// Take ownership of a dma-buf fd (from a heap, or received from elsewhere).
    pub fn from_fd(fd: OwnedFd) -> DmaBuf {
        DmaBuf { fd }
    }

    /// Give up the wrapper and return the fd.
    pub fn into_fd(self) -> OwnedFd {
        self.fd
    }

    /// The buffer size in bytes, via `lseek(fd, 0, SEEK_END)` (the only size query dma-buf
    /// supports). Leaves the file position at the end, which no dma-buf operation uses.
    pub fn size(&self) -> io::Result<u64> {
        let off = nix::unistd::lseek(&self.fd, 0, nix::unistd::Whence::SeekEnd)?;
        // lseek does not return a negative offset on success.
        Ok(u64::try_from(off).unwrap_or(0))
    }

    /// Map `len` bytes starting at byte `offset` (a multiple of the page size) with `prot`,
    /// `MAP_SHARED`.
    pub fn mmap(&self, offset: u64, len: usize, prot: Prot) -> io::Result<Mapping> {
        Mapping::new(self.fd.as_fd(), offset, len, prot)
    }

    /// `DMA_BUF_IOCTL_SYNC` with `flags` (`DMA_BUF_SYNC_START`/`END` | `READ`/`WRITE`/`RW`).
    /// Retries (a bounded number of times) when interrupted by a signal.
    pub fn sync(&self, flags: u64) -> io::Result<()> {
        let mut arg = DmaBufSync { flags };
        let mut last = None;
        for _ in 0..SYNC_RETRIES {
            let err = match BUF_SYNC.call(self.fd.as_fd(), &mut arg) {
                Ok(_) => return Ok(()),
                Err(err) => err,
            };
            match err.raw_os_error() {
                Some(libc::EINTR) | Some(libc::EAGAIN) => last = Some(err),
                _ => return Err(err),
            }
        }
        Err(last.unwrap_or_else(|| io::Error::from_raw_os_error(libc::EINTR)))
    }

    /// `DMA_BUF_SET_NAME`: name the buffer (shown in `/sys/kernel/debug/dma_buf/bufinfo` and
    /// fdinfo). At most 31 bytes, no NUL.
    pub fn set_name(&self, name: &str) -> io::Result<()> {
        if name.len() >= DMA_BUF_NAME_LEN {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("dma-buf name longer than {} bytes", DMA_BUF_NAME_LEN - 1),
            ));
        }
        let cname = CString::new(name)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "dma-buf name contains a NUL byte"))?;
        BUF_SET_NAME.call(self.fd.as_fd(), &cname)?;
        Ok(())
    }
}

impl AsFd for DmaBuf {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for DmaBuf {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl From<OwnedFd> for DmaBuf {
    fn from(fd: OwnedFd) -> DmaBuf {
        DmaBuf::from_fd(fd)
    }
}

#[cfg(test)]
mod tests {
    //! dma-buf needs a heap, which the host may not have; exercise the generic fd paths with
    //! a memfd, which supports lseek/mmap (and rejects the dma-buf ioctls with ENOTTY).
    use super::*;
    use crate::uapi::{DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START};

    fn memfd(len: u64) -> DmaBuf {
        DmaBuf::from_fd(crate::sys::memfd("dmabuf-test", len).unwrap())
    }

    #[test]
    fn size_via_lseek() {
        let b = memfd(3 * 4096);
        assert_eq!(b.size().unwrap(), 3 * 4096);
    }

    #[test]
    fn dma_buf_ioctls_on_non_dmabuf_fail_cleanly() {
        let b = memfd(4096);
        assert_eq!(
            b.sync(DMA_BUF_SYNC_START | DMA_BUF_SYNC_RW).unwrap_err().raw_os_error(),
            Some(libc::ENOTTY)
        );
        assert_eq!(b.set_name("x").unwrap_err().raw_os_error(), Some(libc::ENOTTY));
        assert_eq!(b.set_name(&"x".repeat(32)).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(b.set_name("a\0b").unwrap_err().kind(), io::ErrorKind::InvalidInput);
    }
}
