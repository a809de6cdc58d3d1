// SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-3-Clause

//! Rust mirror of `linux/vc_sm_cma_ioctl.h`, the userspace ABI of `/dev/vcsm-cma`.
//!
//! The structures are `#[repr(C)]` copies of the C ones; their sizes, field offsets and the
//! ioctl numbers are checked at compile time against the downstream ABI. The ioctl numbers are
//! `u32`; cast them to the request type of the `ioctl()` binding in use (`c_ulong` on glibc,
//! `c_int` on musl).
//!
//! All commands are declared `_IOR` although the driver also writes results back into the
//! argument, so pass a mutable pointer.

#![cfg_attr(not(test), no_std)]

use core::mem::{offset_of, size_of};

/// Number of bits of the command number field of an ioctl request.
pub const IOC_NRBITS: u32 = 8;
/// Number of bits of the type ("magic") field of an ioctl request.
pub const IOC_TYPEBITS: u32 = 8;
/// Number of bits of the size field of an ioctl request (arm64, x86 and arm).
pub const IOC_SIZEBITS: u32 = 14;
/// Number of bits of the direction field of an ioctl request (arm64, x86 and arm).
pub const IOC_DIRBITS: u32 = 2;

/// Shift of the command number field.
pub const IOC_NRSHIFT: u32 = 0;
/// Shift of the type field.
pub const IOC_TYPESHIFT: u32 = IOC_NRSHIFT + IOC_NRBITS;
/// Shift of the size field.
pub const IOC_SIZESHIFT: u32 = IOC_TYPESHIFT + IOC_TYPEBITS;
/// Shift of the direction field.
pub const IOC_DIRSHIFT: u32 = IOC_SIZESHIFT + IOC_SIZEBITS;

/// Direction: no data.
pub const IOC_NONE: u32 = 0;
/// Direction: userspace writes, the kernel reads.
pub const IOC_WRITE: u32 = 1;
/// Direction: the kernel writes, userspace reads.
pub const IOC_READ: u32 = 2;

/// Builds an ioctl request number, as the generic Linux `_IOC(dir, type, nr, size)` does.
///
/// # Panics
///
/// Panics if a field does not fit; in a `const` this is a compile-time error.
pub const fn ioc(dir: u32, ty: u8, nr: u8, size: usize) -> u32 {
    assert!(dir < (1 << IOC_DIRBITS), "ioctl direction out of range");
    assert!(size < (1 << IOC_SIZEBITS), "ioctl size out of range");
    (dir << IOC_DIRSHIFT)
        | ((ty as u32) << IOC_TYPESHIFT)
        | ((nr as u32) << IOC_NRSHIFT)
        | ((size as u32) << IOC_SIZESHIFT)
}

/// `_IO(type, nr)`: a request without data.
pub const fn io(ty: u8, nr: u8) -> u32 {
    ioc(IOC_NONE, ty, nr, 0)
}

/// `_IOR(type, nr, T)`, with `size` = `size_of::<T>()`.
pub const fn ior(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ, ty, nr, size)
}

/// `_IOW(type, nr, T)`, with `size` = `size_of::<T>()`.
pub const fn iow(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_WRITE, ty, nr, size)
}

/// `_IOWR(type, nr, T)`, with `size` = `size_of::<T>()`.
pub const fn iowr(ty: u8, nr: u8, size: usize) -> u32 {
    ioc(IOC_READ | IOC_WRITE, ty, nr, size)
}

/// `_IOC_DIR(cmd)`: the direction field of a request.
pub const fn ioc_dir(cmd: u32) -> u32 {
    (cmd >> IOC_DIRSHIFT) & ((1 << IOC_DIRBITS) - 1)
}

/// `_IOC_TYPE(cmd)`: the type field of a request.
pub const fn ioc_type(cmd: u32) -> u8 {
    (cmd >> IOC_TYPESHIFT) as u8
}

/// `_IOC_NR(cmd)`: the command number of a request; the driver dispatches on this alone.
pub const fn ioc_nr(cmd: u32) -> u8 {
    (cmd >> IOC_NRSHIFT) as u8
}

/// `_IOC_SIZE(cmd)`: the argument size field of a request.
pub const fn ioc_size(cmd: u32) -> usize {
    ((cmd >> IOC_SIZESHIFT) & ((1 << IOC_SIZEBITS) - 1)) as usize
}

/// Length of the resource name fields, including the terminating NUL
/// (`VC_SM_CMA_RESOURCE_NAME`).
pub const VC_SM_CMA_RESOURCE_NAME: usize = 32;

/// Name given to buffers created without one (`VC_SM_CMA_RESOURCE_NAME_DEFAULT`).
pub const VC_SM_CMA_RESOURCE_NAME_DEFAULT: &[u8] = b"sm-host-resource";

/// The ioctl type ("magic") of the device, `'J'` (`VC_SM_CMA_MAGIC_TYPE`).
pub const VC_SM_CMA_MAGIC_TYPE: u8 = b'J';

/// Command number of the allocation ioctl (`VC_SM_CMA_CMD_ALLOC`).
pub const VC_SM_CMA_CMD_ALLOC: u8 = 0x5A;
/// Command number of the import ioctl (`VC_SM_CMA_CMD_IMPORT_DMABUF`).
pub const VC_SM_CMA_CMD_IMPORT_DMABUF: u8 = 0x5B;
/// Command number of the cache maintenance ioctl (`VC_SM_CMA_CMD_CLEAN_INVALID2`).
pub const VC_SM_CMA_CMD_CLEAN_INVALID2: u8 = 0x5C;

/// Cache type of an allocation (`enum vc_sm_cma_cache_e`). The driver ignores it: memory is
/// always uncached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum CacheType {
    /// No caching (`VC_SM_CMA_CACHE_NONE`).
    #[default]
    None = 0,
    /// Cached by the host (`VC_SM_CMA_CACHE_HOST`).
    Host = 1,
    /// Cached by the VideoCore (`VC_SM_CMA_CACHE_VC`).
    Vc = 2,
    /// Cached by both (`VC_SM_CMA_CACHE_BOTH`).
    Both = 3,
}

impl CacheType {
    /// Converts a raw value, returning `None` if it is not a cache type.
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::None),
            1 => Some(Self::Host),
            2 => Some(Self::Vc),
            3 => Some(Self::Both),
            _ => None,
        }
    }
}

/// Cache operation of a [`VcSmCmaIoctlCleanInvalidBlock`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum CacheOp {
    /// Do nothing (`VC_SM_CMA_CACHE_OP_NOP`).
    #[default]
    Nop = 0,
    /// Invalidate (`VC_SM_CMA_CACHE_OP_INV`).
    Inv = 1,
    /// Clean, that is write back (`VC_SM_CMA_CACHE_OP_CLEAN`).
    Clean = 2,
    /// Clean and invalidate (`VC_SM_CMA_CACHE_OP_FLUSH`).
    Flush = 3,
}

impl CacheOp {
    /// Converts a raw value, returning `None` if it is not a cache operation.
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Nop),
            1 => Some(Self::Inv),
            2 => Some(Self::Clean),
            3 => Some(Self::Flush),
            _ => None,
        }
    }
}

/// Builds a name field from `src`: copies it up to its first NUL, at most 31 bytes, and
/// zero-fills the rest, so the result is always NUL-terminated.
pub fn name_from_bytes(src: &[u8]) -> [u8; VC_SM_CMA_RESOURCE_NAME] {
    let mut name = [0u8; VC_SM_CMA_RESOURCE_NAME];
    let src = src.split(|&b| b == 0).next().unwrap_or(&[]);
    for (dst, &b) in name.iter_mut().take(VC_SM_CMA_RESOURCE_NAME - 1).zip(src) {
        *dst = b;
    }
    name
}

/// Returns the bytes of a name field up to its first NUL (all 32 if there is none).
pub fn name_bytes(name: &[u8; VC_SM_CMA_RESOURCE_NAME]) -> &[u8] {
    let len = name
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(VC_SM_CMA_RESOURCE_NAME);
    name.get(..len).unwrap_or(name)
}

/// Writes fields at their C offsets into a 64-byte argument (native endianness).
struct Bytes64([u8; 64]);

impl Bytes64 {
    fn put(&mut self, off: usize, bytes: &[u8]) -> &mut Self {
        if let Some(dst) = self.0.get_mut(off..off + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self
    }
}

/// Argument of [`VC_SM_CMA_IOCTL_MEM_ALLOC`] (`struct vc_sm_cma_ioctl_alloc`, 64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcSmCmaIoctlAlloc {
    /// In: size in bytes; the driver rounds it up to whole pages.
    pub size: u32,
    /// In: number of buffers; ignored.
    pub num: u32,
    /// In: a [`CacheType`] value; ignored, memory is always uncached.
    pub cached: u32,
    /// In: padding, set to 0.
    pub pad: u32,
    /// In: resource name, NUL-terminated.
    pub name: [u8; VC_SM_CMA_RESOURCE_NAME],
    /// Out: dma-buf fd of the new buffer.
    pub handle: i32,
    /// Out: VPU memory handle.
    pub vc_handle: u32,
    /// Out: bus address of the buffer.
    pub dma_addr: u64,
}

impl VcSmCmaIoctlAlloc {
    /// Creates a request for one uncached buffer of `size` bytes named `name` (truncated to
    /// 31 bytes and NUL-terminated).
    pub fn new(size: u32, name: &[u8]) -> Self {
        Self {
            size,
            num: 1,
            cached: CacheType::None as u32,
            name: name_from_bytes(name),
            ..Self::default()
        }
    }

    /// Returns the name up to its first NUL.
    pub fn name(&self) -> &[u8] {
        name_bytes(&self.name)
    }

    /// The structure's 64 bytes as the kernel reads them (native endianness, padding zero).
    pub fn to_ne_bytes(&self) -> [u8; 64] {
        let mut b = Bytes64([0; 64]);
        b.put(offset_of!(Self, size), &self.size.to_ne_bytes())
            .put(offset_of!(Self, num), &self.num.to_ne_bytes())
            .put(offset_of!(Self, cached), &self.cached.to_ne_bytes())
            .put(offset_of!(Self, pad), &self.pad.to_ne_bytes())
            .put(offset_of!(Self, name), &self.name)
            .put(offset_of!(Self, handle), &self.handle.to_ne_bytes())
            .put(offset_of!(Self, vc_handle), &self.vc_handle.to_ne_bytes())
            .put(offset_of!(Self, dma_addr), &self.dma_addr.to_ne_bytes());
        b.0
    }
}

/// Argument of [`VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF`] (`struct vc_sm_cma_ioctl_import_dmabuf`,
/// 64 bytes).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcSmCmaIoctlImportDmabuf {
    /// In: fd of the dma-buf to import; it must be physically contiguous.
    pub dmabuf_fd: i32,
    /// In: a [`CacheType`] value; ignored.
    pub cached: u32,
    /// In: resource name; ignored.
    pub name: [u8; VC_SM_CMA_RESOURCE_NAME],
    /// Out: fd of the new dma-buf that wraps the imported one.
    pub handle: i32,
    /// Out: VPU memory handle.
    pub vc_handle: u32,
    /// Out: size of the mapping in bytes.
    pub size: u32,
    /// Padding.
    pub pad: u32,
    /// Out: bus address, without the VPU cache alias bits.
    pub dma_addr: u64,
}

impl VcSmCmaIoctlImportDmabuf {
    /// Creates a request to import `dmabuf_fd`, named `name` (truncated to 31 bytes and
    /// NUL-terminated).
    pub fn new(dmabuf_fd: i32, name: &[u8]) -> Self {
        Self {
            dmabuf_fd,
            name: name_from_bytes(name),
            ..Self::default()
        }
    }

    /// Returns the name up to its first NUL.
    pub fn name(&self) -> &[u8] {
        name_bytes(&self.name)
    }

    /// The structure's 64 bytes as the kernel reads them (native endianness, padding zero).
    pub fn to_ne_bytes(&self) -> [u8; 64] {
        let mut b = Bytes64([0; 64]);
        b.put(offset_of!(Self, dmabuf_fd), &self.dmabuf_fd.to_ne_bytes())
            .put(offset_of!(Self, cached), &self.cached.to_ne_bytes())
            .put(offset_of!(Self, name), &self.name)
            .put(offset_of!(Self, handle), &self.handle.to_ne_bytes())
            .put(offset_of!(Self, vc_handle), &self.vc_handle.to_ne_bytes())
            .put(offset_of!(Self, size), &self.size.to_ne_bytes())
            .put(offset_of!(Self, pad), &self.pad.to_ne_bytes())
            .put(offset_of!(Self, dma_addr), &self.dma_addr.to_ne_bytes());
        b.0
    }
}

/// One cache operation of [`VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2`]
/// (`struct vc_sm_cma_ioctl_clean_invalid_block`; 24 bytes on 64-bit, 20 on 32-bit).
///
/// The operation is applied `block_count` times to `block_size` bytes, starting at
/// `start_address` and moving `inter_block_stride` bytes each time.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcSmCmaIoctlCleanInvalidBlock {
    /// In: a [`CacheOp`] value.
    pub invalidate_mode: u32,
    /// In: number of blocks.
    pub block_count: u32,
    /// In: user address of the first block (a `void *` in C; `usize` has the same size and
    /// alignment on every Linux target).
    pub start_address: usize,
    /// In: bytes per block.
    pub block_size: u32,
    /// In: bytes from the start of one block to the start of the next.
    pub inter_block_stride: u32,
}

/// Header of the argument of [`VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2`]
/// (`struct vc_sm_cma_ioctl_clean_invalid2`, 8 bytes).
///
/// In memory it is followed directly by `op_count` [`VcSmCmaIoctlCleanInvalidBlock`]s (the C
/// flexible array member `s[]`). Only old 32-bit kernels implement this ioctl; current
/// drivers return `EINVAL`, so use `DMA_BUF_IOCTL_SYNC` on the dma-buf instead.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VcSmCmaIoctlCleanInvalid2 {
    /// In: number of blocks that follow.
    pub op_count: u32,
    /// Padding.
    pub pad: u32,
    /// The flexible array member `s[]`: gives the header the blocks' alignment and marks
    /// where they start.
    pub s: [VcSmCmaIoctlCleanInvalidBlock; 0],
}

impl VcSmCmaIoctlCleanInvalid2 {
    /// Creates a header announcing `op_count` blocks.
    pub const fn new(op_count: u32) -> Self {
        Self {
            op_count,
            pad: 0,
            s: [],
        }
    }
}

/// Allocates a buffer and shares it with the VPU: `_IOR('J', 0x5A, struct
/// vc_sm_cma_ioctl_alloc)` = 0x80404A5A.
pub const VC_SM_CMA_IOCTL_MEM_ALLOC: u32 = ior(
    VC_SM_CMA_MAGIC_TYPE,
    VC_SM_CMA_CMD_ALLOC,
    size_of::<VcSmCmaIoctlAlloc>(),
);

/// Shares a dma-buf with the VPU: `_IOR('J', 0x5B, struct vc_sm_cma_ioctl_import_dmabuf)` =
/// 0x80404A5B.
pub const VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF: u32 = ior(
    VC_SM_CMA_MAGIC_TYPE,
    VC_SM_CMA_CMD_IMPORT_DMABUF,
    size_of::<VcSmCmaIoctlImportDmabuf>(),
);

/// Cache maintenance: `_IOR('J', 0x5C, struct vc_sm_cma_ioctl_clean_invalid2)` = 0x80084A5C.
pub const VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2: u32 = ior(
    VC_SM_CMA_MAGIC_TYPE,
    VC_SM_CMA_CMD_CLEAN_INVALID2,
    size_of::<VcSmCmaIoctlCleanInvalid2>(),
);

// Layout of `struct vc_sm_cma_ioctl_alloc`.
const _: () = assert!(size_of::<VcSmCmaIoctlAlloc>() == 64);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, size) == 0);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, num) == 4);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, cached) == 8);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, pad) == 12);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, name) == 16);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, handle) == 48);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, vc_handle) == 52);
const _: () = assert!(offset_of!(VcSmCmaIoctlAlloc, dma_addr) == 56);

// Layout of `struct vc_sm_cma_ioctl_import_dmabuf`.
const _: () = assert!(size_of::<VcSmCmaIoctlImportDmabuf>() == 64);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, dmabuf_fd) == 0);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, cached) == 4);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, name) == 8);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, handle) == 40);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, vc_handle) == 44);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, size) == 48);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, pad) == 52);
const _: () = assert!(offset_of!(VcSmCmaIoctlImportDmabuf, dma_addr) == 56);

// Layout of `struct vc_sm_cma_ioctl_clean_invalid2` and its blocks.
const _: () = assert!(size_of::<VcSmCmaIoctlCleanInvalid2>() == 8);
const _: () = assert!(offset_of!(VcSmCmaIoctlCleanInvalid2, op_count) == 0);
const _: () = assert!(offset_of!(VcSmCmaIoctlCleanInvalid2, pad) == 4);
const _: () = assert!(offset_of!(VcSmCmaIoctlCleanInvalid2, s) == 8);
const _: () = assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, invalidate_mode) == 0);
const _: () = assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, block_count) == 4);
const _: () = assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, start_address) == 8);
#[cfg(target_pointer_width = "64")]
const _: () = {
    assert!(size_of::<VcSmCmaIoctlCleanInvalidBlock>() == 24);
    assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, block_size) == 16);
    assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, inter_block_stride) == 20);
};
#[cfg(target_pointer_width = "32")]
const _: () = {
    assert!(size_of::<VcSmCmaIoctlCleanInvalidBlock>() == 20);
    assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, block_size) == 12);
    assert!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, inter_block_stride) == 16);
};

// The ioctl numbers of the downstream driver.
const _: () = assert!(VC_SM_CMA_IOCTL_MEM_ALLOC == 0x8040_4A5A);
const _: () = assert!(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF == 0x8040_4A5B);
const _: () = assert!(VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2 == 0x8008_4A5C);

#[cfg(test)]
mod tests;
