//! `/dev/dma_heap/NAME` and `DMA_HEAP_IOCTL_ALLOC`.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use crate::buf::DmaBuf;
use crate::errno::describe_io_error;
use crate::uapi::{DmaHeapAllocationData, HEAP_ALLOC};

/// Where the kernel creates heap device nodes.
pub const HEAP_DIR: &str = "/dev/dma_heap";

/// The usual `fd_flags` for a new dma-buf: `O_RDWR | O_CLOEXEC`.
pub const DEFAULT_FD_FLAGS: u32 = (libc::O_RDWR | libc::O_CLOEXEC) as u32;

/// Opening a heap failed; says which file and why.
#[derive(Debug)]
pub struct OpenError {
    path: PathBuf,
    source: io::Error,
}

impl OpenError {
    /// The heap device path that could not be opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The raw errno, if the failure came from the kernel.
    pub fn errno(&self) -> Option<i32> {
        self.source.raw_os_error()
    }

    /// The underlying I/O error.
    pub fn io_error(&self) -> &io::Error {
        &self.source
    }
}

impl fmt::Display for OpenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot open {}: {}", self.path.display(), describe_io_error(&self.source))?;
        if self.source.kind() == io::ErrorKind::NotFound {
            match Heap::list() {
                Ok(names) if names.is_empty() => write!(f, "; {HEAP_DIR} has no heaps")?,
                Ok(names) => write!(f, "; available heaps: {}", names.join(", "))?,
                Err(e) => write!(f, "; cannot list {HEAP_DIR}: {}", describe_io_error(&e))?,
            }
        }
        Ok(())
    }
}

impl std::error::Error for OpenError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

impl From<OpenError> for io::Error {
    fn from(e: OpenError) -> io::Error {
        let msg = e.to_string();
        io::Error::new(e.source.kind(), msg)
    }
}

/// An open dma-heap device.
#[derive(Debug)]
pub struct Heap {
    fd: OwnedFd,
    name: String,
    path: PathBuf,
}

impl Heap {
    /// Open `/dev/dma_heap/NAME` read-only (all the allocation ioctl needs).
    pub fn open(name: &str) -> Result<Heap, OpenError> {
        let path = Path::new(HEAP_DIR).join(name);
        let mut heap = Heap::open_path(&path)?;
        heap.name = name.to_owned();
        Ok(heap)
    }

    /// Open a heap device node by path.
    pub fn open_path(path: &Path) -> Result<Heap, OpenError> {
        let err = |source| OpenError { path: path.to_owned(), source };
        // std opens with O_CLOEXEC; read-only is all DMA_HEAP_IOCTL_ALLOC needs.
        let fd = OwnedFd::from(std::fs::File::open(path).map_err(err)?);
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(Heap { fd, name, path: path.to_owned() })
    }

    /// The names of the heaps in `/dev/dma_heap`, sorted.
    pub fn list() -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(HEAP_DIR)? {
            names.push(entry?.file_name().to_string_lossy().into_owned());
        }
        names.sort();
        Ok(names)
    }

    /// The heap's name (the file name under `/dev/dma_heap`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The device node this heap was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Allocate a buffer of `len` bytes (`O_RDWR | O_CLOEXEC`, no heap flags).
    pub fn allocate(&self, len: u64) -> io::Result<DmaBuf> {
        self.alloc(len, DEFAULT_FD_FLAGS, 0)
    }

    /// `DMA_HEAP_IOCTL_ALLOC` with the given length and flags.
    pub fn alloc(&self, len: u64, fd_flags: u32, heap_flags: u64) -> io::Result<DmaBuf> {
        let mut data = DmaHeapAllocationData { len, fd: 0, fd_flags, heap_flags };
        self.alloc_raw(&mut data)
    }

    /// `DMA_HEAP_IOCTL_ALLOC` with every field under the caller's control, including invalid
    /// ones (a nonzero `fd`, unknown flags). On success the kernel's new fd, written back into
    /// `data.fd`, is owned by the returned [`DmaBuf`].
    pub fn alloc_raw(&self, data: &mut DmaHeapAllocationData) -> io::Result<DmaBuf> {
        let fd = HEAP_ALLOC
            .call_for_fd(self.fd.as_fd(), data, |d| i64::from(d.fd))?
            .map_err(|n| io::Error::new(io::ErrorKind::InvalidData, format!("kernel returned fd {n}")))?;
        Ok(DmaBuf::from_fd(fd))
    }
}

impl AsFd for Heap {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl AsRawFd for Heap {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_flags() {
        assert_eq!(DEFAULT_FD_FLAGS, (libc::O_RDWR | libc::O_CLOEXEC) as u32);
        assert_eq!(DEFAULT_FD_FLAGS & !((libc::O_ACCMODE | libc::O_CLOEXEC) as u32), 0);
    }

    #[test]
    fn open_missing_heap_names_the_file() {
        let e = Heap::open("vcsm-no-such-heap-for-tests").unwrap_err();
        assert_eq!(e.path(), Path::new("/dev/dma_heap/vcsm-no-such-heap-for-tests"));
        assert_eq!(e.errno(), Some(libc::ENOENT));
        let msg = e.to_string();
        assert!(msg.starts_with("cannot open /dev/dma_heap/vcsm-no-such-heap-for-tests: ENOENT"));
        let io: io::Error = e.into();
        assert_eq!(io.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn open_path_with_nul_is_rejected() {
        let e = Heap::open("a\0b").unwrap_err();
        assert_eq!(e.errno(), None);
        assert!(e.to_string().contains("NUL"));
    }
}
