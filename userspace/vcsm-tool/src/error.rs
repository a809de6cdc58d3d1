//! Errors that say which file, which operation (ioctl) and what the errno means, and how the
//! process exits because of them.

use std::fmt;
use std::io;

use dmabuf::describe_errno;

/// What kind of failure an error is; decides the exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The operation was tried and failed (exit status 1).
    Failed,
    /// The command line is wrong (exit status 2).
    Usage,
    /// A device node, heap, debugfs file or the driver is missing or not ready (exit status 3).
    Missing,
}

impl Kind {
    /// The process exit status for this kind of failure.
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Failed => 1,
            Kind::Usage => 2,
            Kind::Missing => 3,
        }
    }
}

/// A failure with a complete, human-readable message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    kind: Kind,
    message: String,
}

/// Result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// An operation that failed (exit status 1).
    pub fn failed(message: impl Into<String>) -> Error {
        Error { kind: Kind::Failed, message: message.into() }
    }

    /// A bad command line (exit status 2).
    pub fn usage(message: impl Into<String>) -> Error {
        Error { kind: Kind::Usage, message: message.into() }
    }

    /// Something the operation needs is not there (exit status 3).
    pub fn missing(message: impl Into<String>) -> Error {
        Error { kind: Kind::Missing, message: message.into() }
    }

    /// The kind of failure.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// The message, without a program name prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The process exit status.
    pub fn exit_code(&self) -> u8 {
        self.kind.exit_code()
    }

    /// The same error with `prefix: ` in front of the message.
    pub fn context(self, prefix: impl fmt::Display) -> Error {
        Error { kind: self.kind, message: format!("{prefix}: {}", self.message) }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// A kernel operation that can fail with an errno; each knows what its errnos usually mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF` on `/dev/vcsm-cma`.
    VcsmImport,
    /// `VC_SM_CMA_IOCTL_MEM_ALLOC` on `/dev/vcsm-cma`.
    VcsmAlloc,
    /// `DMA_HEAP_IOCTL_ALLOC` on a heap.
    HeapAlloc,
    /// `DMA_BUF_IOCTL_SYNC` on a dma-buf.
    DmaBufSync,
    /// `DMA_BUF_SET_NAME` on a dma-buf.
    DmaBufSetName,
    /// `mmap` of a dma-buf.
    Mmap,
    /// `lseek(SEEK_END)`, the size query of a dma-buf.
    Size,
    /// `pidfd_open` + `pidfd_getfd`: taking a file descriptor from another process.
    PidfdGetfd,
    /// `fcntl(F_DUPFD_CLOEXEC)` of one of our own file descriptors.
    Dup,
}

impl Op {
    /// The name used in messages: the ioctl's or system call's own name.
    pub fn name(self) -> &'static str {
        match self {
            Op::VcsmImport => "VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF",
            Op::VcsmAlloc => "VC_SM_CMA_IOCTL_MEM_ALLOC",
            Op::HeapAlloc => "DMA_HEAP_IOCTL_ALLOC",
            Op::DmaBufSync => "DMA_BUF_IOCTL_SYNC",
            Op::DmaBufSetName => "DMA_BUF_SET_NAME",
            Op::Mmap => "mmap",
            Op::Size => "lseek(SEEK_END)",
            Op::PidfdGetfd => "pidfd_getfd",
            Op::Dup => "fcntl(F_DUPFD_CLOEXEC)",
        }
    }

    /// What `errno` most likely means for this operation.
    pub fn hint(self, errno: i32) -> Option<&'static str> {
        let vcsm = matches!(self, Op::VcsmImport | Op::VcsmAlloc);
        let hint = match (self, errno) {
            (Op::VcsmImport, libc::EBADF) => "the source fd is not open",
            (Op::VcsmImport, libc::EINVAL) => {
                "the fd is not a dma-buf, or the buffer is not physically contiguous: the VPU needs \
                 one DMA segment (allocate from a CMA heap such as vcsm-uncached)"
            }
            (Op::VcsmImport, libc::ENOMEM) => {
                "the VPU refused the buffer (no handle) or the kernel is out of memory; see dmesg"
            }
            (Op::VcsmAlloc, libc::EINVAL) => "the size is 0 or too large",
            (Op::VcsmAlloc, libc::ENOMEM) => {
                "no contiguous memory of that size is left (see `vcsm-tool heaps`), or the VPU \
                 refused the buffer; see dmesg"
            }
            (_, libc::ETIMEDOUT) if vcsm => {
                "the VPU did not answer in time (module parameter vc_sm_cma.timeout_ms); see dmesg"
            }
            (_, libc::EPERM) if vcsm => "vc-sm-cma is not connected to the VPU (yet); see dmesg",
            (_, libc::ENODEV) if vcsm => "vc-sm-cma is being removed",
            (_, libc::EINTR) if vcsm => "interrupted by a signal",
            (_, libc::ENOTTY) if vcsm => {
                "the device does not know this ioctl: is /dev/vcsm-cma the vc-sm-cma driver?"
            }
            (_, libc::EFAULT) if vcsm => "bad argument pointer (a vcsm-tool bug)",
            (Op::HeapAlloc, libc::ENOMEM) => {
                "the heap has no contiguous memory of that size left (see `vcsm-tool heaps`)"
            }
            (Op::HeapAlloc, libc::EINVAL) => "invalid size or flags for this heap",
            (Op::DmaBufSync, libc::ENOTTY) | (Op::DmaBufSetName, libc::ENOTTY) => "the fd is not a dma-buf",
            (Op::DmaBufSync, libc::EINVAL) => "invalid sync flags",
            (Op::Mmap, libc::EINVAL) => "the buffer cannot be mapped at that size or offset",
            (Op::Mmap, libc::ENODEV) => "the exporter does not support mmap",
            (Op::Mmap, libc::EACCES) => "the fd is not open for the access the mapping needs",
            (Op::Size, libc::ESPIPE) => "the fd is not a dma-buf (it cannot seek)",
            (Op::PidfdGetfd, libc::EPERM) => {
                "no permission to take fds from that process (needs ptrace access: same user and \
                 kernel.yama.ptrace_scope 0, or root)"
            }
            (Op::PidfdGetfd, libc::EBADF) => "that process has no such fd",
            (Op::PidfdGetfd, libc::ESRCH) => "no such process",
            (Op::PidfdGetfd, libc::ENOSYS) => "the kernel has no pidfd_getfd (Linux 5.6 or newer needed)",
            (Op::Dup, libc::EBADF) => {
                "the fd is not open: a dma-buf fd must be inherited from the parent process, or \
                 taken from another one with PID:FD"
            }
            (_, libc::EMFILE) => "too many open files (see ulimit -n)",
            _ => return None,
        };
        Some(hint)
    }

    /// Which kind of failure `errno` is for this operation.
    pub fn kind(self, errno: i32) -> Kind {
        match (self, errno) {
            (Op::VcsmImport | Op::VcsmAlloc, libc::EPERM | libc::ENODEV | libc::ENOTTY) => Kind::Missing,
            (Op::PidfdGetfd, libc::ENOSYS) => Kind::Missing,
            _ => Kind::Failed,
        }
    }
}

/// `"FILE: OP failed: ERRNO (text): hint"`: the error of `op` on `file`.
pub fn op_error(file: &str, op: Op, err: &io::Error) -> Error {
    let (detail, kind, hint) = match err.raw_os_error() {
        Some(errno) => (describe_errno(errno), op.kind(errno), op.hint(errno)),
        None => (err.to_string(), Kind::Failed, None),
    };
    let mut message = format!("{file}: {} failed: {detail}", op.name());
    if let Some(hint) = hint {
        message.push_str(": ");
        message.push_str(hint);
    }
    Error { kind, message }
}

/// The error for opening `file` (`open(2)`), with `missing` as the explanation when it does not
/// exist (exit status 3) and `denied` when permission is refused.
pub fn open_error(file: &str, err: &io::Error, missing: &str, denied: &str) -> Error {
    match err.raw_os_error() {
        Some(errno @ (libc::ENOENT | libc::ENXIO | libc::ENODEV)) => {
            Error::missing(format!("{file}: {}: {missing}", describe_errno(errno)))
        }
        Some(errno @ (libc::EACCES | libc::EPERM)) => {
            Error::failed(format!("{file}: {}: {denied}", describe_errno(errno)))
        }
        Some(errno) => Error::failed(format!("{file}: open failed: {}", describe_errno(errno))),
        None => Error::failed(format!("{file}: open failed: {err}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes() {
        assert_eq!(Error::failed("x").exit_code(), 1);
        assert_eq!(Error::usage("x").exit_code(), 2);
        assert_eq!(Error::missing("x").exit_code(), 3);
        let e = Error::missing("gone").context("status");
        assert_eq!(e.to_string(), "status: gone");
        assert_eq!(e.kind(), Kind::Missing);
    }

    #[test]
    fn op_errors_name_file_ioctl_and_errno() {
        let e = op_error("/dev/vcsm-cma", Op::VcsmImport, &io::Error::from_raw_os_error(libc::EINVAL));
        assert_eq!(e.kind(), Kind::Failed);
        let m = e.to_string();
        assert!(m.starts_with(
            "/dev/vcsm-cma: VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF failed: EINVAL (Invalid argument): "
        ));
        assert!(m.contains("physically contiguous"), "{m}");

        let e = op_error("/dev/vcsm-cma", Op::VcsmAlloc, &io::Error::from_raw_os_error(libc::EPERM));
        assert_eq!(e.kind(), Kind::Missing);
        assert!(e.to_string().contains("not connected to the VPU"));

        let e = op_error("/dev/vcsm-cma", Op::VcsmImport, &io::Error::from_raw_os_error(libc::ETIMEDOUT));
        assert_eq!(e.kind(), Kind::Failed);
        assert!(e.to_string().contains("ETIMEDOUT"));
        assert!(e.to_string().contains("timeout_ms"));

        let e =
            op_error("/dev/dma_heap/vcsm-cached", Op::HeapAlloc, &io::Error::from_raw_os_error(libc::ENOMEM));
        assert!(e.to_string().starts_with("/dev/dma_heap/vcsm-cached: DMA_HEAP_IOCTL_ALLOC failed: ENOMEM"));
        assert!(e.to_string().contains("vcsm-tool heaps"));

        // No hint: just the errno.
        let e = op_error("f", Op::Mmap, &io::Error::from_raw_os_error(libc::EIO));
        assert_eq!(e.to_string(), "f: mmap failed: EIO (Input/output error)");

        // Not an OS error.
        let e = op_error("f", Op::Size, &io::Error::other("odd"));
        assert_eq!(e.to_string(), "f: lseek(SEEK_END) failed: odd");
    }

    #[test]
    fn every_op_has_a_name() {
        for op in [
            Op::VcsmImport,
            Op::VcsmAlloc,
            Op::HeapAlloc,
            Op::DmaBufSync,
            Op::DmaBufSetName,
            Op::Mmap,
            Op::Size,
            Op::PidfdGetfd,
            Op::Dup,
        ] {
            assert!(!op.name().is_empty());
        }
        // Hints are specific to the operation.
        assert!(Op::HeapAlloc.hint(libc::EPERM).is_none());
        assert!(Op::Dup.hint(libc::EBADF).is_some_and(|h| h.contains("PID:FD")));
    }

    #[test]
    fn open_errors() {
        let e = open_error(
            "/dev/vcsm-cma",
            &io::Error::from_raw_os_error(libc::ENOENT),
            "is vc-sm-cma.ko loaded?",
            "x",
        );
        assert_eq!(e.kind(), Kind::Missing);
        assert_eq!(
            e.to_string(),
            "/dev/vcsm-cma: ENOENT (No such file or directory): is vc-sm-cma.ko loaded?"
        );
        let e =
            open_error("/dev/vcsm-cma", &io::Error::from_raw_os_error(libc::EACCES), "m", "join group video");
        assert_eq!(e.kind(), Kind::Failed);
        assert!(e.to_string().ends_with("EACCES (Permission denied): join group video"));
        let e = open_error("f", &io::Error::from_raw_os_error(libc::EIO), "m", "d");
        assert_eq!(e.to_string(), "f: open failed: EIO (Input/output error)");
    }
}
