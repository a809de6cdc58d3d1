//! Numbers and structures of the dma-heap and dma-buf uapi (`linux/dma-heap.h`,
//! `linux/dma-buf.h`). The request numbers come from nix's `request_code_*` macros; [`ioc`] is
//! the same generic `_IOC` encoding (arm64, x86) for numbers built at run time (the fuzzer's),
//! checked against nix's below.

use std::mem::size_of;

use crate::sys::{Ioctl, StrIoctl};

const IOC_NRBITS: u32 = 8;
const IOC_TYPEBITS: u32 = 8;
const IOC_SIZEBITS: u32 = 14;
const IOC_NRSHIFT: u32 = 0;
const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// `_IOC_NONE`
pub const IOC_NONE: u32 = 0;
/// `_IOC_WRITE`: userspace writes, the kernel reads.
pub const IOC_WRITE: u32 = 1;
/// `_IOC_READ`: the kernel writes, userspace reads.
pub const IOC_READ: u32 = 2;

/// `_IOC(dir, type, nr, size)`.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(size < (1 << IOC_SIZEBITS), "ioctl argument too large");
    (dir << IOC_DIRSHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// `_IOW(type, nr, T)`
pub const fn iow<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_WRITE, ty, nr, size_of::<T>())
}

/// `_IOR(type, nr, T)`
pub const fn ior<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_READ, ty, nr, size_of::<T>())
}

/// `_IOWR(type, nr, T)`
pub const fn iowr<T>(ty: u8, nr: u8) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size_of::<T>())
}

/// `struct dma_heap_allocation_data`
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DmaHeapAllocationData {
    /// Size of the allocation in bytes (the kernel rounds it up to pages).
    pub len: u64,
    /// Output: the new dma-buf fd. Must be 0 on input.
    pub fd: u32,
    /// Flags for the new fd: only `O_CLOEXEC` and `O_ACCMODE` bits are valid.
    pub fd_flags: u32,
    /// Heap-specific flags; no heap defines any, so it must be 0.
    pub heap_flags: u64,
}

/// `struct dma_buf_sync`
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct DmaBufSync {
    pub flags: u64,
}

/// `DMA_HEAP_IOC_MAGIC`
pub const DMA_HEAP_IOC_MAGIC: u8 = b'H';
/// `DMA_BUF_BASE`
pub const DMA_BUF_BASE: u8 = b'b';

/// `DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0x0, struct dma_heap_allocation_data)`
pub const DMA_HEAP_IOCTL_ALLOC: u32 =
    nix::request_code_readwrite!(DMA_HEAP_IOC_MAGIC, 0, size_of::<DmaHeapAllocationData>()) as u32;
/// `DMA_BUF_IOCTL_SYNC = _IOW('b', 0, struct dma_buf_sync)`
pub const DMA_BUF_IOCTL_SYNC: u32 = nix::request_code_write!(DMA_BUF_BASE, 0, size_of::<DmaBufSync>()) as u32;
/// [`DMA_HEAP_IOCTL_ALLOC`] with its argument type.
pub const HEAP_ALLOC: Ioctl<DmaHeapAllocationData> = Ioctl::new(DMA_HEAP_IOCTL_ALLOC);
/// [`DMA_BUF_IOCTL_SYNC`] with its argument type.
pub const BUF_SYNC: Ioctl<DmaBufSync> = Ioctl::new(DMA_BUF_IOCTL_SYNC);
/// `DMA_BUF_SET_NAME = _IOW('b', 1, const char *)`
pub const DMA_BUF_SET_NAME: u32 =
    nix::request_code_write!(DMA_BUF_BASE, 1, size_of::<*const libc::c_char>()) as u32;
/// [`DMA_BUF_SET_NAME`]: the kernel copies the name (`strndup_user`).
pub const BUF_SET_NAME: StrIoctl = StrIoctl::new(DMA_BUF_SET_NAME);

/// `DMA_BUF_SYNC_READ`
pub const DMA_BUF_SYNC_READ: u64 = 1;
/// `DMA_BUF_SYNC_WRITE`
pub const DMA_BUF_SYNC_WRITE: u64 = 2;
/// `DMA_BUF_SYNC_RW`
pub const DMA_BUF_SYNC_RW: u64 = DMA_BUF_SYNC_READ | DMA_BUF_SYNC_WRITE;
/// `DMA_BUF_SYNC_START`
pub const DMA_BUF_SYNC_START: u64 = 0 << 2;
/// `DMA_BUF_SYNC_END`
pub const DMA_BUF_SYNC_END: u64 = 1 << 2;
/// `DMA_BUF_SYNC_VALID_FLAGS_MASK`
pub const DMA_BUF_SYNC_VALID_FLAGS_MASK: u64 = DMA_BUF_SYNC_RW | DMA_BUF_SYNC_END;

/// `DMA_BUF_NAME_LEN`, including the terminating NUL.
pub const DMA_BUF_NAME_LEN: usize = 32;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn struct_layouts_match_the_kernel() {
        assert_eq!(size_of::<DmaHeapAllocationData>(), 24);
        assert_eq!(std::mem::offset_of!(DmaHeapAllocationData, len), 0);
        assert_eq!(std::mem::offset_of!(DmaHeapAllocationData, fd), 8);
        assert_eq!(std::mem::offset_of!(DmaHeapAllocationData, fd_flags), 12);
        assert_eq!(std::mem::offset_of!(DmaHeapAllocationData, heap_flags), 16);
        assert_eq!(size_of::<DmaBufSync>(), 8);
    }

    #[test]
    fn ioctl_numbers_match_the_kernel_headers() {
        assert_eq!(DMA_HEAP_IOCTL_ALLOC, 0xC018_4800);
        assert_eq!(DMA_BUF_IOCTL_SYNC, 0x4008_6200);
        #[cfg(target_pointer_width = "64")]
        assert_eq!(DMA_BUF_SET_NAME, 0x4008_6201);
    }

    #[test]
    fn ioc_encoding() {
        assert_eq!(ioc(IOC_NONE, b'T', 1, 0), 0x5401);
        // _IOR('T', 0x30, unsigned int) == TIOCGPTN on arm64/x86
        assert_eq!(ior::<u32>(b'T', 0x30), 0x8004_5430);
        // _IOW('T', 0x31, int) == TIOCSPTLCK
        assert_eq!(iow::<i32>(b'T', 0x31), 0x4004_5431);
        assert_eq!(iowr::<[u8; 0x3fff]>(0xff, 0xff), 0xFFFF_FFFF);
        // The same encoding as nix's, for every direction.
        for (ty, nr, size) in [(b'H', 0u8, 24usize), (b'b', 1, 8), (b'J', 0x5b, 64), (0xff, 0xff, 0x3fff)] {
            assert_eq!(
                ioc(IOC_NONE, ty, nr, size),
                nix::request_code_none!(ty, nr) as u32 | ((size as u32) << 16)
            );
            assert_eq!(ioc(IOC_READ, ty, nr, size), nix::request_code_read!(ty, nr, size) as u32);
            assert_eq!(ioc(IOC_WRITE, ty, nr, size), nix::request_code_write!(ty, nr, size) as u32);
            assert_eq!(
                ioc(IOC_READ | IOC_WRITE, ty, nr, size),
                nix::request_code_readwrite!(ty, nr, size) as u32
            );
        }
    }

    #[test]
    fn sync_flags() {
        assert_eq!(DMA_BUF_SYNC_READ, 1);
        assert_eq!(DMA_BUF_SYNC_WRITE, 2);
        assert_eq!(DMA_BUF_SYNC_RW, 3);
        assert_eq!(DMA_BUF_SYNC_START, 0);
        assert_eq!(DMA_BUF_SYNC_END, 4);
        assert_eq!(DMA_BUF_SYNC_VALID_FLAGS_MASK, 7);
    }
}
