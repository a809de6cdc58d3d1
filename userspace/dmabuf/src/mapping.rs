//! A CPU mapping of a dma-buf, unmapped on drop.
//!
//! Everything reachable without `unsafe` uses bounds-checked volatile loads and stores: the
//! buffer is shared memory that another mapping, process or device may write at any time, so
//! handing out plain `&[u8]` is only sound under conditions the caller must promise
//! ([`Mapping::as_slice`], [`Mapping::as_mut_slice`]).

use std::io;
use std::ops::BitOr;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::{self, NonNull};

/// Memory protection of a mapping (`PROT_*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prot(i32);

impl Prot {
    pub const NONE: Prot = Prot(libc::PROT_NONE);
    pub const READ: Prot = Prot(libc::PROT_READ);
    pub const WRITE: Prot = Prot(libc::PROT_WRITE);
    pub const READ_WRITE: Prot = Prot(libc::PROT_READ | libc::PROT_WRITE);

    /// The raw `PROT_*` bits.
    pub fn bits(self) -> i32 {
        self.0
    }

    /// Whether every bit of `other` is set in `self`.
    pub fn contains(self, other: Prot) -> bool {
        self.0 & other.0 == other.0
    }
}

impl BitOr for Prot {
    type Output = Prot;
    fn bitor(self, rhs: Prot) -> Prot {
        Prot(self.0 | rhs.0)
    }
}

/// The first place where a mapping's contents differ from what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mismatch {
    /// Byte offset into the mapping.
    pub offset: usize,
    pub expected: u32,
    pub found: u32,
}

/// `len` bytes of a dma-buf mapped `MAP_SHARED` at byte `offset` of the buffer.
///
/// The mapping holds its own reference to the buffer, so it stays valid after the `DmaBuf` is
/// dropped; the memory is released when both are gone.
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    offset: u64,
    prot: Prot,
}

fn not_readable() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "mapping is not readable (no PROT_READ)")
}

fn not_writable() -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, "mapping is not writable (no PROT_WRITE)")
}

impl Mapping {
    pub(crate) fn new(fd: BorrowedFd<'_>, offset: u64, len: usize, prot: Prot) -> io::Result<Mapping> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: a fresh MAP_SHARED mapping at an address of the kernel's choosing (addr NULL,
        // no MAP_FIXED) cannot overlap any memory Rust already uses; fd is a live descriptor.
        let p =
            unsafe { libc::mmap(ptr::null_mut(), len, prot.bits(), libc::MAP_SHARED, fd.as_raw_fd(), off) };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let ptr = NonNull::new(p.cast::<u8>()).ok_or_else(|| io::Error::other("mmap returned NULL"))?;
        Ok(Mapping { ptr, len, offset, prot })
    }

    /// Length of the mapping in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true for a successful mmap).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Byte offset of the mapping within the dma-buf.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The protection the mapping was created with.
    pub fn prot(&self) -> Prot {
        self.prot
    }

    /// Start address of the mapping.
    pub fn as_ptr(&self) -> *const u8 {
        self.ptr.as_ptr()
    }

    /// Start address of the mapping, for writing.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Number of whole `u32` words in the mapping.
    pub fn words(&self) -> usize {
        self.len / 4
    }

    /// The mapping as a byte slice; `None` without `PROT_READ`.
    ///
    /// # Safety
    ///
    /// While the slice lives, nothing else may write the mapped memory: no other mapping of
    /// the same dma-buf in this or another process, and no device.
    pub unsafe fn as_slice(&self) -> Option<&[u8]> {
        if !self.prot.contains(Prot::READ) {
            return None;
        }
        // SAFETY: ptr..ptr+len is a live readable mapping owned by self (unmapped only in
        // Drop, which the borrow prevents); the caller promises there are no concurrent writers.
        Some(unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) })
    }

    /// The mapping as a mutable byte slice; `None` unless mapped `PROT_READ | PROT_WRITE`.
    ///
    /// # Safety
    ///
    /// While the slice lives, nothing else may read or write the mapped memory: no other
    /// mapping of the same dma-buf in this or another process, and no device.
    pub unsafe fn as_mut_slice(&mut self) -> Option<&mut [u8]> {
        if !self.prot.contains(Prot::READ_WRITE) {
            return None;
        }
        // SAFETY: ptr..ptr+len is a live read-write mapping owned by self, borrowed mutably;
        // the caller promises nobody else accesses it meanwhile.
        Some(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) })
    }

    /// Volatile read of the `index`-th `u32`; `None` if out of range or not readable.
    pub fn read_u32(&self, index: usize) -> Option<u32> {
        if !self.prot.contains(Prot::READ) || index >= self.words() {
            return None;
        }
        Some(self.load::<u32>(index))
    }

    /// Volatile read of the byte at `offset`; `None` if out of range or not readable.
    pub fn read_u8(&self, offset: usize) -> Option<u8> {
        if !self.prot.contains(Prot::READ) || offset >= self.len {
            return None;
        }
        Some(self.load::<u8>(offset))
    }

    /// Volatile write of the `index`-th `u32`.
    pub fn write_u32(&mut self, index: usize, value: u32) -> io::Result<()> {
        if !self.prot.contains(Prot::WRITE) {
            return Err(not_writable());
        }
        if index >= self.words() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("u32 index {index} beyond mapping of {} bytes", self.len),
            ));
        }
        self.store::<u32>(index, value);
        Ok(())
    }

    /// Write `f(i)` to every whole `u32` word `i` (volatile). Trailing bytes of a length that
    /// is not a multiple of 4 are left alone.
    pub fn fill_u32_with(&mut self, mut f: impl FnMut(usize) -> u32) -> io::Result<()> {
        if !self.prot.contains(Prot::WRITE) {
            return Err(not_writable());
        }
        for i in 0..self.words() {
            self.store::<u32>(i, f(i));
        }
        Ok(())
    }

    /// Set every byte to `byte` (volatile, 8 bytes at a time).
    pub fn fill_bytes(&mut self, byte: u8) -> io::Result<()> {
        if !self.prot.contains(Prot::WRITE) {
            return Err(not_writable());
        }
        let word = u64::from_ne_bytes([byte; 8]);
        let words = self.len / 8;
        for i in 0..words {
            self.store::<u64>(i, word);
        }
        for off in words * 8..self.len {
            self.store::<u8>(off, byte);
        }
        Ok(())
    }

    /// The first whole `u32` word `i` whose value is not `f(i)` (volatile reads).
    pub fn find_u32_mismatch(&self, mut f: impl FnMut(usize) -> u32) -> io::Result<Option<Mismatch>> {
        if !self.prot.contains(Prot::READ) {
            return Err(not_readable());
        }
        for i in 0..self.words() {
            let found = self.load::<u32>(i);
            let expected = f(i);
            if found != expected {
                return Ok(Some(Mismatch { offset: i * 4, expected, found }));
            }
        }
        Ok(None)
    }

    /// The first byte that is not `byte` (volatile reads, 8 bytes at a time).
    pub fn find_byte_mismatch(&self, byte: u8) -> io::Result<Option<Mismatch>> {
        if !self.prot.contains(Prot::READ) {
            return Err(not_readable());
        }
        let word = u64::from_ne_bytes([byte; 8]);
        let words = self.len / 8;
        let mut start = words * 8;
        for i in 0..words {
            if self.load::<u64>(i) != word {
                start = i * 8;
                break;
            }
        }
        for off in start..self.len {
            let found = self.load::<u8>(off);
            if found != byte {
                return Ok(Some(Mismatch { offset: off, expected: byte.into(), found: found.into() }));
            }
        }
        Ok(None)
    }
}

/// The element types [`Mapping::load`] and [`Mapping::store`] access: any bit pattern is
/// valid, and their alignment divides the page size.
trait Word: Copy {}
impl Word for u8 {}
impl Word for u32 {}
impl Word for u64 {}

impl Mapping {
    /// Volatile load of the `index`-th `T` (callers check `PROT_READ`). Panics beyond the end.
    fn load<T: Word>(&self, index: usize) -> T {
        assert!(index < self.len / std::mem::size_of::<T>(), "load beyond the mapping");
        // SAFETY: the element lies inside the live mapping self owns (checked above); the
        // mapping is page-aligned, so it is aligned; every bit pattern is a valid T. Volatile,
        // because other mappings and devices may write the memory concurrently.
        unsafe { ptr::read_volatile(self.ptr.as_ptr().cast::<T>().add(index)) }
    }

    /// Volatile store of the `index`-th `T` (callers check `PROT_WRITE`). Panics beyond the end.
    fn store<T: Word>(&mut self, index: usize, value: T) {
        assert!(index < self.len / std::mem::size_of::<T>(), "store beyond the mapping");
        // SAFETY: as for `load`; `&mut self` rules out references into the mapping meanwhile.
        unsafe { ptr::write_volatile(self.ptr.as_ptr().cast::<T>().add(index), value) }
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: ptr/len describe exactly the mapping created in `new`, unmapped only here;
        // no borrow of it can outlive self. A failure cannot be reported from drop, and leaves
        // at worst a leaked mapping.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, OwnedFd};

    fn memfd(len: u64) -> OwnedFd {
        crate::sys::memfd("mapping-test", len).unwrap()
    }

    #[test]
    fn prot_bits() {
        assert_eq!((Prot::READ | Prot::WRITE), Prot::READ_WRITE);
        assert!(Prot::READ_WRITE.contains(Prot::READ));
        assert!(!Prot::READ.contains(Prot::WRITE));
        assert!(Prot::READ.contains(Prot::NONE));
    }

    #[test]
    fn fill_and_verify_through_two_mappings() {
        let fd = memfd(4 * 4096);
        let mut w = Mapping::new(fd.as_fd(), 0, 4 * 4096, Prot::READ_WRITE).unwrap();
        assert_eq!(w.find_byte_mismatch(0).unwrap(), None);
        w.fill_u32_with(|i| i as u32 ^ 0xdead_beef).unwrap();
        drop(w);

        let r = Mapping::new(fd.as_fd(), 4096, 2 * 4096, Prot::READ).unwrap();
        assert_eq!(r.offset(), 4096);
        assert_eq!(r.find_u32_mismatch(|i| (i + 1024) as u32 ^ 0xdead_beef).unwrap(), None);
        let m = r.find_u32_mismatch(|i| i as u32).unwrap().unwrap();
        assert_eq!(m.offset, 0);
        assert_eq!(m.found, 1024 ^ 0xdead_beef);
        assert_eq!(r.read_u32(0), Some(1024 ^ 0xdead_beef));
        assert_eq!(r.read_u32(r.words()), None);
        // SAFETY: no other mapping of the memfd is live.
        let s = unsafe { r.as_slice() }.unwrap();
        assert_eq!(s.len(), 8192);
        assert_eq!(&s[..4], &(1024u32 ^ 0xdead_beef).to_ne_bytes());
    }

    #[test]
    fn byte_fill_and_mismatch() {
        let fd = memfd(4096);
        let mut m = Mapping::new(fd.as_fd(), 0, 4096, Prot::READ_WRITE).unwrap();
        m.fill_bytes(0xff).unwrap();
        assert_eq!(m.find_byte_mismatch(0xff).unwrap(), None);
        m.write_u32(1000, 0x00ff_ffff).unwrap();
        let mm = m.find_byte_mismatch(0xff).unwrap().unwrap();
        // little-endian on every target we build for: the zero byte is the highest one
        assert_eq!(mm.offset, if cfg!(target_endian = "little") { 4003 } else { 4000 });
        assert_eq!(mm.found, 0);
        assert!(m.write_u32(1024, 0).is_err());
        // SAFETY: only this mapping of the memfd exists.
        let s = unsafe { m.as_mut_slice() }.unwrap();
        s[4095] = 1;
        assert_eq!(m.find_byte_mismatch(0xff).unwrap().unwrap().offset, mm.offset);
    }

    #[test]
    fn permissions_are_enforced() {
        let fd = memfd(4096);
        let mut r = Mapping::new(fd.as_fd(), 0, 4096, Prot::READ).unwrap();
        assert!(r.write_u32(0, 1).is_err());
        assert!(r.fill_bytes(1).is_err());
        assert!(r.fill_u32_with(|_| 1).is_err());
        // SAFETY: returns None without touching memory.
        assert!(unsafe { r.as_mut_slice() }.is_none());
    }

    #[test]
    fn bad_offsets() {
        let fd = memfd(4096);
        let e = Mapping::new(fd.as_fd(), 1, 4096, Prot::READ).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
        let e = Mapping::new(fd.as_fd(), !4095, 4096, Prot::READ).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EOVERFLOW));
        let e = Mapping::new(fd.as_fd(), 0, 0, Prot::READ).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EINVAL));
    }
}
