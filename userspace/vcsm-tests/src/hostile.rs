//! The raw system calls the hostile-user tests make on purpose, gathered in one audited place:
//! ioctls with deliberately bad argument pointers and unknown numbers, descriptor calls on bare
//! numbers that may be closed, stale or owned by nobody (the fuzzer's model of the fd table),
//! mappings at hinted addresses and `munmap`/`mprotect` of ranges the tests carve up
//! themselves, and volatile access to addresses the kernel handed out.
//!
//! The safe API elsewhere (`dmabuf`) cannot express these calls, which is their point. Every
//! function here trusts the kernel to check its arguments; what the kernel cannot check is the
//! caller's part, so the functions that take an address or replace a descriptor are `unsafe`
//! and say it under `# Safety`: the addresses and descriptor numbers must be the calling test's
//! own (scratch pages it mapped, numbers of its fd model that no Rust value owns). Errors are
//! the raw errno, `0` if there was none.

use std::os::fd::RawFd;

/// The errno of the last failed call on this thread.
pub fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn check(r: i64) -> Result<i64, i32> {
    if r < 0 {
        Err(errno())
    } else {
        Ok(r)
    }
}

/// `ioctl(fd, cmd, arg)` with `arg` an address: a buffer of the caller's (whose size need not
/// match the one `cmd` encodes) or a deliberately bad one (NULL, kernel space, a guard page, a
/// read-only page).
///
/// # Safety
///
/// Whatever the kernel may write at `arg` (up to the size `cmd` encodes) is memory nothing else
/// in this process uses.
pub unsafe fn ioctl(fd: RawFd, cmd: u32, arg: usize) -> Result<i64, i32> {
    // SAFETY: the kernel checks every user access through `arg` (a bad address is EFAULT, not
    // a fault in this process) and reads or writes at most the size `cmd` encodes, in memory
    // the caller vouches nothing else uses.
    check(i64::from(unsafe { libc::ioctl(fd, cmd as _, arg as *mut libc::c_void) }))
}

/// The descriptor queries on bare numbers ([`fd_query`]): none takes a pointer or replaces a
/// descriptor.
#[derive(Debug, Clone, Copy)]
pub enum FdQuery {
    /// `fcntl(src, F_DUPFD_CLOEXEC, 0)`: a new descriptor, the lowest free number.
    DupCloexec(RawFd),
    /// `fcntl(fd, F_GETFD)`.
    GetFd(RawFd),
    /// `fcntl(fd, F_GETFL)`.
    GetFl(RawFd),
    /// `lseek(fd, 0, SEEK_END)`: a dma-buf's size.
    SeekEnd(RawFd),
}

/// One [`FdQuery`] on a number that need not be open; the call's result. Closing a bare number
/// is `nix::unistd::close(fd)`.
pub fn fd_query(call: FdQuery) -> Result<i64, i32> {
    // SAFETY: none of these calls reads or writes memory of this process or replaces a
    // descriptor: their arguments are numbers, and one that is not open only fails with EBADF.
    let r = unsafe {
        match call {
            FdQuery::DupCloexec(src) => i64::from(libc::fcntl(src, libc::F_DUPFD_CLOEXEC, 0)),
            FdQuery::GetFd(fd) => i64::from(libc::fcntl(fd, libc::F_GETFD)),
            FdQuery::GetFl(fd) => i64::from(libc::fcntl(fd, libc::F_GETFL)),
            FdQuery::SeekEnd(fd) => libc::lseek(fd, 0, libc::SEEK_END),
        }
    };
    check(r)
}

/// `dup3(src, dst, O_CLOEXEC)` on numbers that need not be open: `dst` is replaced atomically.
///
/// # Safety
///
/// `dst` belongs to no Rust value (an `OwnedFd`, a `File`, a mapping's descriptor).
pub unsafe fn dup3(src: RawFd, dst: RawFd) -> Result<i64, i32> {
    // SAFETY: the arguments are numbers (a closed one fails with EBADF); the descriptor `dst`
    // replaces is nobody's (caller).
    check(i64::from(unsafe { libc::dup3(src, dst, libc::O_CLOEXEC) }))
}

/// `mmap(hint, len, prot, flags, fd, off)`; the new mapping's address. `MAP_FIXED` is refused
/// (`EINVAL`, without a call): it would replace whatever is mapped at `hint`.
pub fn mmap(hint: usize, len: usize, prot: i32, flags: i32, fd: RawFd, off: u64) -> Result<usize, i32> {
    if flags & libc::MAP_FIXED != 0 {
        return Err(libc::EINVAL);
    }
    // SAFETY: without MAP_FIXED the kernel never places a mapping over an existing one (a
    // hint is only a hint, MAP_FIXED_NOREPLACE fails with EEXIST), so no memory in use
    // changes; the new mapping is the caller's, reached only through this module.
    let p = unsafe { libc::mmap(hint as *mut libc::c_void, len, prot, flags, fd, off as libc::off_t) };
    if p == libc::MAP_FAILED {
        Err(errno())
    } else {
        Ok(p as usize)
    }
}

/// `munmap(addr, len)`.
///
/// # Safety
///
/// `addr..addr+len` holds only mappings the caller made with [`mmap`] (or is misaligned or
/// empty, which the kernel refuses without unmapping), and no reference into them is live.
pub unsafe fn munmap(addr: usize, len: usize) -> Result<(), i32> {
    // SAFETY: by the caller's part above, only memory this module handed out is unmapped, and
    // it is only ever accessed through `peek`/`poke`, which tolerate a missing page (SIGSEGV,
    // a finding of the test).
    check(i64::from(unsafe { libc::munmap(addr as *mut libc::c_void, len) })).map(drop)
}

/// `mprotect(addr, len, prot)`.
///
/// # Safety
///
/// As for [`munmap`].
pub unsafe fn mprotect(addr: usize, len: usize, prot: i32) -> Result<(), i32> {
    // SAFETY: as for `munmap`: only the caller's own mappings change protection, and they are
    // only accessed through `peek`/`poke`.
    check(i64::from(unsafe { libc::mprotect(addr as *mut libc::c_void, len, prot) })).map(drop)
}

/// Volatile read of `out.len()` bytes at `addr`.
///
/// # Safety
///
/// The range lies in a readable mapping the caller made (a page another thread unmapped
/// meanwhile is a SIGSEGV, which the tests report as a finding).
pub unsafe fn peek(addr: usize, out: &mut [u8]) {
    let src = addr as *const u8;
    for (i, b) in out.iter_mut().enumerate() {
        // SAFETY: by the caller's part, `addr + i` is inside one of its readable mappings,
        // memory no Rust reference points into; volatile, as the kernel or a device may
        // change it.
        *b = unsafe { src.add(i).read_volatile() };
    }
}

/// Volatile write of `bytes` at `addr`.
///
/// # Safety
///
/// The range lies in a writable mapping the caller made, which no Rust reference points into.
pub unsafe fn poke(addr: usize, bytes: &[u8]) {
    let dst = addr as *mut u8;
    for (i, &b) in bytes.iter().enumerate() {
        // SAFETY: by the caller's part, `addr + i` is inside one of its writable mappings that
        // nothing else in this process references.
        unsafe { dst.add(i).write_volatile(b) };
    }
}
