//! A CPU mapping of a dma-buf, unmapped on drop.
//!
//! Every access is a bounds-checked volatile load or store: the buffer is shared memory that
//! another mapping, process or device may write at any time, so no `&[u8]` into it is handed
//! out; [`Mapping::to_vec`] copies it instead.
//!
//! This module is the crate's one owner of `mmap`/`munmap`; the test programs map dma-bufs,
//! V4L2 buffers and even raw descriptor numbers through it.

use std::io;
use std::ops::BitOr;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};
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
    /// Map `len` bytes of `fd` at byte `offset` (a multiple of the page size) with `prot`,
    /// `MAP_SHARED`.
    pub fn new(fd: BorrowedFd<'_>, offset: u64, len: usize, prot: Prot) -> io::Result<Mapping> {
        Mapping::map_fd_number(fd.as_raw_fd(), offset, len, prot)
    }

    /// [`new`](Self::new) of a descriptor number that may be closed, or closed by another
    /// thread meanwhile (the races of the hostile tests): the kernel looks the number up once
    /// and fails with `EBADF` if it is not open. The mapping holds its own reference to the
    /// file, so it outlives the descriptor.
    pub fn map_fd_number(fd: RawFd, offset: u64, len: usize, prot: Prot) -> io::Result<Mapping> {
        let off = libc::off_t::try_from(offset).map_err(|_| io::Error::from_raw_os_error(libc::EOVERFLOW))?;
        // SAFETY: a fresh MAP_SHARED mapping at an address of the kernel's choosing (addr NULL,
        // no MAP_FIXED) cannot overlap any memory Rust already uses; mmap only looks the
        // descriptor number up, so any number is fine.
        let p = unsafe { libc::mmap(ptr::null_mut(), len, prot.bits(), libc::MAP_SHARED, fd, off) };
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

    /// The start and length, for the simulator's pattern code; `PROT_READ` required.
    pub(crate) fn raw_parts(&self) -> io::Result<(*const u8, usize)> {
        if !self.prot.contains(Prot::READ) {
            return Err(not_readable());
        }
        Ok((self.ptr.as_ptr(), self.len))
    }

    /// As [`raw_parts`](Self::raw_parts), for writing; `PROT_WRITE` required.
    pub(crate) fn raw_parts_mut(&mut self) -> io::Result<(*mut u8, usize)> {
        if !self.prot.contains(Prot::WRITE) {
            return Err(not_writable());
        }
        Ok((self.ptr.as_ptr(), self.len))
    }

    /// A copy of the whole mapping (volatile reads, 8 bytes at a time).
    pub fn to_vec(&self) -> io::Result<Vec<u8>> {
        if !self.prot.contains(Prot::READ) {
            return Err(not_readable());
        }
        let words = self.len / 8;
        let mut v = Vec::with_capacity(self.len);
        for i in 0..words {
            v.extend_from_slice(&self.load::<u64>(i).to_ne_bytes());
        }
        for off in words * 8..self.len {
            v.push(self.load::<u8>(off));
        }
        Ok(v)
    }

    /// Volatile copy of `bytes` to byte `offset`; an error beyond the end or without
    /// `PROT_WRITE`.
    pub fn write_bytes(&mut self, offset: usize, bytes: &[u8]) -> io::Result<()> {
        if !self.prot.contains(Prot::WRITE) {
            return Err(not_writable());
        }
        if offset.checked_add(bytes.len()).is_none_or(|end| end > self.len) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} bytes at {offset} beyond mapping of {} bytes", bytes.len(), self.len),
            ));
        }
        for (i, &b) in bytes.iter().enumerate() {
            self.store::<u8>(offset + i, b);
        }
        Ok(())
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

// SAFETY: the mapping is process memory, not tied to the thread that made it; every access
// through `&self` is a volatile load (no reference into the memory is handed out), and stores
// need `&mut self`.
unsafe impl Send for Mapping {}
// SAFETY: as for Send: shared access only loads.
unsafe impl Sync for Mapping {}

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
        let s = r.to_vec().unwrap();
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
        m.write_bytes(4095, &[1]).unwrap();
        assert!(m.write_bytes(4095, &[1, 2]).is_err());
        assert_eq!(m.find_byte_mismatch(0xff).unwrap().unwrap().offset, mm.offset);
    }

    #[test]
    fn permissions_are_enforced() {
        let fd = memfd(4096);
        let mut r = Mapping::new(fd.as_fd(), 0, 4096, Prot::READ).unwrap();
        assert!(r.write_u32(0, 1).is_err());
        assert!(r.fill_bytes(1).is_err());
        assert!(r.fill_u32_with(|_| 1).is_err());
        assert!(r.write_bytes(0, &[1]).is_err());
        assert!(Mapping::new(fd.as_fd(), 0, 4096, Prot::WRITE).unwrap().to_vec().is_err());
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
