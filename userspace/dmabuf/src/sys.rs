//! The raw primitives every ioctl wrapper of this crate needs, wrapped once: an ioctl whose
//! argument is one `#[repr(C)]` struct ([`Ioctl::call`]), one whose argument is a C string
//! ([`StrIoctl::call`]), and taking ownership of the file descriptor such an ioctl installed
//! ([`Ioctl::call_for_fd`]).
//!
//! An [`Ioctl<T>`] pairs a request number with the type of its argument. Values are made only
//! inside this crate, next to the mirrored uapi structures, so the pairing (the number encodes
//! `size_of::<T>()`, and `T` reproduces the kernel's layout) is checked where both are
//! defined; callers outside get safe calls.

use std::ffi::CStr;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// An ioctl taking a pointer to one `T`, which the kernel reads and/or writes during the call.
pub struct Ioctl<T> {
    code: u32,
    _arg: PhantomData<fn(&mut T)>,
}

impl<T: Copy> Ioctl<T> {
    /// The ioctl `code` whose argument is one `T`. Crate-private: only for `T` that are plain
    /// `#[repr(C)]` integers and arrays mirroring the kernel's structure (any bit pattern the
    /// kernel writes is a valid `T`) and codes the kernel reads and writes at most
    /// `size_of::<T>()` bytes through.
    pub(crate) const fn new(code: u32) -> Ioctl<T> {
        Ioctl { code, _arg: PhantomData }
    }

    /// The request number.
    pub fn code(&self) -> u32 {
        self.code
    }

    /// `ioctl(fd, code, arg)`; the ioctl's return value, or the errno.
    pub fn call(&self, fd: BorrowedFd<'_>, arg: &mut T) -> io::Result<i32> {
        // SAFETY: `arg` is a live, exclusive `T` for the duration of the call; by the pairing
        // `new` documents, the kernel accesses only that `T` through the pointer and leaves a
        // valid `T` behind. `fd` is borrowed, so it stays open across the call.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), self.code as _, arg as *mut T) };
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    /// [`call`](Self::call) an ioctl that, on success, installs a new file descriptor and
    /// reports its number in the field `new_fd` reads. `Ok(Err(n))` if the ioctl succeeded but
    /// reported `n`, which is no file descriptor (a kernel bug the caller words).
    pub fn call_for_fd(
        &self,
        fd: BorrowedFd<'_>,
        arg: &mut T,
        new_fd: impl FnOnce(&T) -> i64,
    ) -> io::Result<Result<OwnedFd, i64>> {
        self.call(fd, arg)?;
        let n = new_fd(arg);
        match i32::try_from(n) {
            Ok(raw) if raw >= 0 => {
                // SAFETY: the ioctl succeeded, so the kernel installed `raw` in this process's
                // table for us and handed us its only reference; nothing else owns it.
                Ok(Ok(unsafe { OwnedFd::from_raw_fd(raw) }))
            }
            _ => Ok(Err(n)),
        }
    }
}

/// An ioctl taking a pointer to a NUL-terminated string, which the kernel copies during the
/// call.
pub struct StrIoctl {
    code: u32,
}

impl StrIoctl {
    /// The ioctl `code` whose argument is a C string. Crate-private: only for codes the kernel
    /// only reads a string through (`strndup_user` and the like).
    pub(crate) const fn new(code: u32) -> StrIoctl {
        StrIoctl { code }
    }

    /// `ioctl(fd, code, arg)`; the ioctl's return value, or the errno.
    pub fn call(&self, fd: BorrowedFd<'_>, arg: &CStr) -> io::Result<i32> {
        // SAFETY: `arg` is a live NUL-terminated string for the duration of the call, which the
        // kernel only reads (by the pairing `new` documents); `fd` is borrowed.
        let ret = unsafe { libc::ioctl(fd.as_raw_fd(), self.code as _, arg.as_ptr()) };
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }
}

/// A memfd of `len` bytes (close-on-exec), for tests that need an mmap-able fd without a heap.
pub fn memfd(name: &str, len: u64) -> io::Result<OwnedFd> {
    use nix::sys::memfd::{memfd_create, MFdFlags};
    let cname = std::ffi::CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let fd = memfd_create(cname.as_c_str(), MFdFlags::MFD_CLOEXEC)?;
    let len = libc::off_t::try_from(len).map_err(|_| io::Error::from_raw_os_error(libc::EFBIG))?;
    nix::unistd::ftruncate(&fd, len)?;
    Ok(fd)
}
