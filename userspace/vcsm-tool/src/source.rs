//! Where a command's buffer comes from: a dma-heap allocation (`HEAP:SIZE`), a file descriptor
//! this process inherited (`FD`) or one taken from another process (`PID:FD`, with
//! `pidfd_getfd(2)`).

use std::fmt;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::str::FromStr;

use dmabuf::{parse_size, DmaBuf, Heap};

use crate::error::{op_error, Error, Op, Result};
use crate::paths::Paths;

/// `HEAP:SIZE`, e.g. `vcsm-uncached:8M`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeapSize {
    pub heap: String,
    pub size: u64,
}

impl FromStr for HeapSize {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<HeapSize, String> {
        let (heap, size) =
            s.rsplit_once(':').ok_or_else(|| format!("{s:?} is not HEAP:SIZE (e.g. vcsm-uncached:8M)"))?;
        if heap.is_empty() || heap.contains('/') {
            return Err(format!("{heap:?} is not a heap name (a file name under /dev/dma_heap)"));
        }
        let size = parse_size(size).map_err(|e| e.to_string())?;
        if size == 0 {
            return Err("size 0: a buffer needs at least one byte".to_owned());
        }
        Ok(HeapSize { heap: heap.to_owned(), size })
    }
}

impl fmt::Display for HeapSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.heap, dmabuf::format_size(self.size))
    }
}

/// A size argument: `4096`, `64K`, `8M`, `1G` (binary units), not 0.
pub fn parse_nonzero_size(s: &str) -> std::result::Result<u64, String> {
    match parse_size(s) {
        Ok(0) => Err("size 0: a buffer needs at least one byte".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// A size for `VC_SM_CMA_IOCTL_MEM_ALLOC`, whose size field is 32 bits.
pub fn parse_u32_size(s: &str) -> std::result::Result<u32, String> {
    let n = parse_nonzero_size(s)?;
    u32::try_from(n).map_err(|_| format!("{s}: VC_SM_CMA_IOCTL_MEM_ALLOC sizes are 32-bit (at most 4G - 1)"))
}

/// `FD` (one of ours) or `PID:FD` (another process's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdSpec {
    pub pid: Option<i32>,
    pub fd: RawFd,
}

impl FromStr for FdSpec {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<FdSpec, String> {
        let num = |t: &str, what: &str| -> std::result::Result<i32, String> {
            t.parse::<i32>().ok().filter(|n| *n >= 0).ok_or_else(|| format!("{t:?} is not a {what}"))
        };
        match s.split_once(':') {
            Some((pid, fd)) => {
                let pid = num(pid, "process id")?;
                if pid == 0 {
                    return Err("process id 0".to_owned());
                }
                Ok(FdSpec { pid: Some(pid), fd: num(fd, "file descriptor number")? })
            }
            None => Ok(FdSpec { pid: None, fd: num(s, "file descriptor number (FD or PID:FD)")? }),
        }
    }
}

impl fmt::Display for FdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "{pid}:{}", self.fd),
            None => write!(f, "{}", self.fd),
        }
    }
}

/// A copy of the file descriptor `spec` names, owned by us (close-on-exec).
pub fn take_fd(spec: FdSpec) -> Result<DmaBuf> {
    let owned = match spec.pid {
        None => dup_own_fd(spec.fd).map_err(|e| op_error(&format!("fd {}", spec.fd), Op::Dup, &e))?,
        Some(pid) => pidfd_getfd(pid, spec.fd)
            .map_err(|e| op_error(&format!("process {pid} fd {}", spec.fd), Op::PidfdGetfd, &e))?,
    };
    Ok(DmaBuf::from_fd(owned))
}

/// A close-on-exec duplicate of this process's fd number `fd` (one it inherited).
fn dup_own_fd(fd: RawFd) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::from_raw_os_error(libc::EBADF));
    }
    // SAFETY: the borrow lasts only for the fcntl, during which nothing in this single-threaded
    // tool closes descriptors; a number that is not open makes fcntl fail with EBADF.
    let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
    Ok(rustix::io::fcntl_dupfd_cloexec(borrowed, 0)?)
}

/// `pidfd_getfd(pidfd_open(pid), fd)`: a duplicate of another process's fd (needs ptrace
/// access to it).
fn pidfd_getfd(pid: i32, fd: RawFd) -> io::Result<OwnedFd> {
    use rustix::process::{pidfd_getfd, pidfd_open, Pid, PidfdFlags, PidfdGetfdFlags};
    // pidfd_open refuses pid 0 and negative ones with EINVAL.
    let pid = Some(pid).filter(|&p| p > 0).and_then(Pid::from_raw);
    let pid = pid.ok_or_else(|| io::Error::from_raw_os_error(libc::EINVAL))?;
    let pidfd = pidfd_open(pid, PidfdFlags::empty())?;
    Ok(pidfd_getfd(&pidfd, fd, PidfdGetfdFlags::empty())?)
}

/// The exporter of a dma-buf (`exp_name` in `/proc/self/fdinfo/FD`), if `/proc` says.
pub fn exporter(buf: &DmaBuf) -> Option<String> {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", buf.as_raw_fd())).ok()?;
    info.lines().find_map(|l| l.strip_prefix("exp_name:")).map(|v| v.trim().to_owned())
}

/// Fail unless `buf` is a dma-buf (its `/proc/self/fd` link reads `/dmabuf:...`). Without
/// `/proc` nothing is checked: the first dma-buf operation will fail instead.
pub fn check_dmabuf(buf: &DmaBuf, what: &str) -> Result<()> {
    match std::fs::read_link(format!("/proc/self/fd/{}", buf.as_raw_fd())) {
        Ok(target) => {
            let t = target.to_string_lossy();
            if t.starts_with("/dmabuf:") || t.starts_with("anon_inode:dmabuf") {
                Ok(())
            } else {
                Err(Error::failed(format!("{what} is not a dma-buf (it is {t})")))
            }
        }
        Err(_) => Ok(()),
    }
}

/// Open heap `name`; a missing heap is an [`Error::missing`] that lists the heaps there are.
pub fn open_heap(paths: &Paths, name: &str) -> Result<Heap> {
    let path = paths.heap(name);
    Heap::open_path(&path).map_err(|e| {
        let file = path.display().to_string();
        match e.errno() {
            Some(libc::ENOENT) => {
                let available = match std::fs::read_dir(paths.heap_dir()) {
                    Ok(entries) => {
                        let mut names: Vec<String> =
                            entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
                        names.sort();
                        if names.is_empty() {
                            "none: load vcsm-cma-heap.ko".to_owned()
                        } else {
                            names.join(", ")
                        }
                    }
                    Err(_) => format!("none, no {}: load vcsm-cma-heap.ko", paths.heap_dir().display()),
                };
                Error::missing(format!("{file}: no such heap (available: {available})"))
            }
            Some(errno @ (libc::EACCES | libc::EPERM)) => Error::failed(format!(
                "{file}: {}: add the user to group video (udev/99-vcsm.rules) or run as root",
                dmabuf::describe_errno(errno)
            )),
            _ => Error::failed(e.to_string()),
        }
    })
}

/// Allocate `size` bytes from heap `name`.
pub fn alloc_from_heap(paths: &Paths, name: &str, size: u64) -> Result<DmaBuf> {
    let heap = open_heap(paths, name)?;
    heap.allocate(size).map_err(|e| op_error(&heap.path().display().to_string(), Op::HeapAlloc, &e))
}

/// The size of a dma-buf.
pub fn buf_size(buf: &DmaBuf, what: &str) -> Result<u64> {
    buf.size().map_err(|e| op_error(what, Op::Size, &e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;

    #[test]
    fn heap_size() {
        assert_eq!("vcsm-uncached:8M".parse(), Ok(HeapSize { heap: "vcsm-uncached".into(), size: 8 << 20 }));
        // Heap names may contain ':' (the in-kernel CMA heap can be "linux,cma"); the size is
        // after the last one.
        assert_eq!("a:b:4K".parse(), Ok(HeapSize { heap: "a:b".into(), size: 4096 }));
        assert!("vcsm-uncached".parse::<HeapSize>().unwrap_err().contains("HEAP:SIZE"));
        assert!(":4K".parse::<HeapSize>().is_err());
        assert!("../x:4K".parse::<HeapSize>().is_err());
        assert!("h:0".parse::<HeapSize>().unwrap_err().contains("size 0"));
        assert!("h:4Q".parse::<HeapSize>().unwrap_err().contains("unknown unit"));
        assert_eq!(HeapSize { heap: "h".into(), size: 65536 }.to_string(), "h:64K");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_nonzero_size("8M"), Ok(8 << 20));
        assert!(parse_nonzero_size("0").is_err());
        assert!(parse_nonzero_size("x").is_err());
        assert_eq!(parse_u32_size("4095M"), Ok(4095 << 20));
        assert!(parse_u32_size("4G").unwrap_err().contains("32-bit"));
    }

    #[test]
    fn fd_spec() {
        assert_eq!("5".parse(), Ok(FdSpec { pid: None, fd: 5 }));
        assert_eq!("1234:7".parse(), Ok(FdSpec { pid: Some(1234), fd: 7 }));
        for bad in ["", "-1", "x", "1:", ":3", "0:3", "1:-2", "1:2:3"] {
            assert!(bad.parse::<FdSpec>().is_err(), "{bad:?}");
        }
        assert_eq!(FdSpec { pid: Some(9), fd: 3 }.to_string(), "9:3");
        assert_eq!(FdSpec { pid: None, fd: 3 }.to_string(), "3");
    }

    #[test]
    fn taking_fds() {
        // Our own stdin-like fd: a pipe end.
        let (r, w) = nix::unistd::pipe().unwrap();
        let copy = take_fd(FdSpec { pid: None, fd: r.as_raw_fd() }).unwrap();
        assert_ne!(copy.as_raw_fd(), r.as_raw_fd());
        // A pipe is not a dma-buf: its size query fails and names the operation.
        let e = buf_size(&copy, "fd 3").unwrap_err().to_string();
        assert!(e.starts_with("fd 3: lseek(SEEK_END) failed: ESPIPE"), "{e}");
        drop(w);

        // Not a dma-buf.
        let e = check_dmabuf(&copy, "fd 3").unwrap_err().to_string();
        assert!(e.starts_with("fd 3 is not a dma-buf (it is pipe:["), "{e}");
        assert_eq!(exporter(&copy), None);

        // An fd that is not open.
        let e = take_fd(FdSpec { pid: None, fd: 999_999 }).unwrap_err().to_string();
        assert!(e.contains("fcntl(F_DUPFD_CLOEXEC) failed: EBADF") && e.contains("PID:FD"), "{e}");

        // Our own process by pid: pidfd_getfd works on ourselves (unless the kernel is older
        // than 5.6 or a sandbox forbids it, which the message then says).
        let me = std::process::id() as i32;
        match take_fd(FdSpec { pid: Some(me), fd: r.as_raw_fd() }) {
            Ok(buf) => assert_ne!(buf.as_raw_fd(), r.as_raw_fd()),
            Err(e) => assert!(e.to_string().contains("pidfd_getfd failed"), "{e}"),
        }
        let e = take_fd(FdSpec { pid: Some(me), fd: 999_999 }).unwrap_err().to_string();
        assert!(e.contains(&format!("process {me} fd 999999: pidfd_getfd failed")), "{e}");
    }

    #[test]
    fn missing_heap_lists_the_others() {
        let t = TempDir::new("source-heaps");
        t.write("dev/dma_heap/vcsm-cached", "");
        t.write("dev/dma_heap/system", "");
        let paths = Paths::new(t.path());
        let e = open_heap(&paths, "foo").unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert!(
            e.to_string().ends_with("dev/dma_heap/foo: no such heap (available: system, vcsm-cached)"),
            "{e}"
        );
        let e = alloc_from_heap(&Paths::new(t.path().join("nowhere")), "foo", 4096).unwrap_err();
        assert!(e.to_string().contains("no such heap (available: none, no "), "{e}");
        // A file that is not a heap: the allocation ioctl fails and says so.
        let e = alloc_from_heap(&paths, "system", 4096).unwrap_err();
        assert!(e.to_string().contains("DMA_HEAP_IOCTL_ALLOC failed: ENOTTY"), "{e}");
    }
}
