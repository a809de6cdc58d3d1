// SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note OR BSD-3-Clause

//! Host tests: layouts against the offsets of the downstream ABI, and the ioctl numbers.

use super::*;
use core::mem::align_of;

#[test]
fn alloc_layout() {
    assert_eq!(size_of::<VcSmCmaIoctlAlloc>(), 64);
    assert_eq!(align_of::<VcSmCmaIoctlAlloc>(), align_of::<u64>());
    let offsets = [
        ("size", offset_of!(VcSmCmaIoctlAlloc, size), 0),
        ("num", offset_of!(VcSmCmaIoctlAlloc, num), 4),
        ("cached", offset_of!(VcSmCmaIoctlAlloc, cached), 8),
        ("pad", offset_of!(VcSmCmaIoctlAlloc, pad), 12),
        ("name", offset_of!(VcSmCmaIoctlAlloc, name), 16),
        ("handle", offset_of!(VcSmCmaIoctlAlloc, handle), 48),
        ("vc_handle", offset_of!(VcSmCmaIoctlAlloc, vc_handle), 52),
        ("dma_addr", offset_of!(VcSmCmaIoctlAlloc, dma_addr), 56),
    ];
    for (field, got, want) in offsets {
        assert_eq!(got, want, "alloc.{field}");
    }
}

#[test]
fn import_layout() {
    assert_eq!(size_of::<VcSmCmaIoctlImportDmabuf>(), 64);
    let offsets = [
        (
            "dmabuf_fd",
            offset_of!(VcSmCmaIoctlImportDmabuf, dmabuf_fd),
            0,
        ),
        ("cached", offset_of!(VcSmCmaIoctlImportDmabuf, cached), 4),
        ("name", offset_of!(VcSmCmaIoctlImportDmabuf, name), 8),
        ("handle", offset_of!(VcSmCmaIoctlImportDmabuf, handle), 40),
        (
            "vc_handle",
            offset_of!(VcSmCmaIoctlImportDmabuf, vc_handle),
            44,
        ),
        ("size", offset_of!(VcSmCmaIoctlImportDmabuf, size), 48),
        ("pad", offset_of!(VcSmCmaIoctlImportDmabuf, pad), 52),
        (
            "dma_addr",
            offset_of!(VcSmCmaIoctlImportDmabuf, dma_addr),
            56,
        ),
    ];
    for (field, got, want) in offsets {
        assert_eq!(got, want, "import_dmabuf.{field}");
    }
}

#[test]
fn clean_invalid_layout() {
    assert_eq!(size_of::<VcSmCmaIoctlCleanInvalid2>(), 8);
    assert_eq!(offset_of!(VcSmCmaIoctlCleanInvalid2, s), 8);
    assert_eq!(
        align_of::<VcSmCmaIoctlCleanInvalid2>(),
        align_of::<VcSmCmaIoctlCleanInvalidBlock>()
    );
    let ptr = size_of::<usize>();
    assert_eq!(size_of::<usize>(), size_of::<*mut u8>());
    assert_eq!(size_of::<VcSmCmaIoctlCleanInvalidBlock>(), 16 + ptr);
    assert_eq!(
        offset_of!(VcSmCmaIoctlCleanInvalidBlock, invalidate_mode),
        0
    );
    assert_eq!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, block_count), 4);
    assert_eq!(offset_of!(VcSmCmaIoctlCleanInvalidBlock, start_address), 8);
    assert_eq!(
        offset_of!(VcSmCmaIoctlCleanInvalidBlock, block_size),
        8 + ptr
    );
    assert_eq!(
        offset_of!(VcSmCmaIoctlCleanInvalidBlock, inter_block_stride),
        12 + ptr
    );
}

#[test]
fn ioctl_numbers() {
    assert_eq!(VC_SM_CMA_IOCTL_MEM_ALLOC, 0x8040_4A5A);
    assert_eq!(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, 0x8040_4A5B);
    assert_eq!(VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2, 0x8008_4A5C);
    // The 32-bit compat request the driver rejects: `_IOR('J', 0x5C, 4)`.
    assert_eq!(ior(b'J', 0x5C, 4), 0x8004_4A5C);
}

#[test]
fn ioctl_fields_decode() {
    for (cmd, nr, size) in [
        (VC_SM_CMA_IOCTL_MEM_ALLOC, 0x5A, 64),
        (VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, 0x5B, 64),
        (VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2, 0x5C, 8),
    ] {
        assert_eq!(ioc_dir(cmd), IOC_READ);
        assert_eq!(ioc_type(cmd), b'J');
        assert_eq!(ioc_nr(cmd), nr);
        assert_eq!(ioc_size(cmd), size);
    }
}

#[test]
fn ioc_matches_linux_encoding() {
    // Values from the Linux headers: DMA_BUF_IOCTL_SYNC = _IOW('b', 0, 8),
    // DMA_HEAP_IOCTL_ALLOC = _IOWR('H', 0, 24), and a plain _IO.
    assert_eq!(iow(b'b', 0, 8), 0x4008_6200);
    assert_eq!(iowr(b'H', 0, 24), 0xC018_4800);
    assert_eq!(io(b'T', 0x01), 0x0000_5401);
    assert_eq!(ioc(IOC_NONE, 0, 0, 0), 0);
    assert_eq!(
        ioc(IOC_READ | IOC_WRITE, 0xff, 0xff, (1 << 14) - 1),
        0xFFFF_FFFF
    );
    assert_eq!(IOC_NRSHIFT, 0);
    assert_eq!(IOC_TYPESHIFT, 8);
    assert_eq!(IOC_SIZESHIFT, 16);
    assert_eq!(IOC_DIRSHIFT, 30);
}

#[test]
#[should_panic(expected = "ioctl size out of range")]
fn ioc_rejects_oversized_argument() {
    let size = std::hint::black_box(1usize << 14);
    let _ = ior(b'J', 0, size);
}

#[test]
fn constants() {
    assert_eq!(VC_SM_CMA_RESOURCE_NAME, 32);
    assert_eq!(VC_SM_CMA_MAGIC_TYPE, 0x4A);
    assert_eq!(VC_SM_CMA_CMD_ALLOC, 0x5A);
    assert_eq!(VC_SM_CMA_CMD_IMPORT_DMABUF, 0x5B);
    assert_eq!(VC_SM_CMA_CMD_CLEAN_INVALID2, 0x5C);
    assert_eq!(VC_SM_CMA_RESOURCE_NAME_DEFAULT, b"sm-host-resource");
}

#[test]
fn cache_enums() {
    for (v, c) in [
        (0, CacheType::None),
        (1, CacheType::Host),
        (2, CacheType::Vc),
        (3, CacheType::Both),
    ] {
        assert_eq!(c as u32, v);
        assert_eq!(CacheType::from_u32(v), Some(c));
    }
    assert_eq!(CacheType::from_u32(4), None);
    for (v, op) in [
        (0, CacheOp::Nop),
        (1, CacheOp::Inv),
        (2, CacheOp::Clean),
        (3, CacheOp::Flush),
    ] {
        assert_eq!(op as u32, v);
        assert_eq!(CacheOp::from_u32(v), Some(op));
    }
    assert_eq!(CacheOp::from_u32(4), None);
}

#[test]
fn defaults_are_zero() {
    let a = VcSmCmaIoctlAlloc::default();
    assert_eq!((a.size, a.num, a.cached, a.pad, a.handle), (0, 0, 0, 0, 0));
    assert_eq!((a.vc_handle, a.dma_addr, a.name), (0, 0, [0; 32]));
    let i = VcSmCmaIoctlImportDmabuf::default();
    assert_eq!((i.dmabuf_fd, i.handle, i.size, i.dma_addr), (0, 0, 0, 0));
    let h = VcSmCmaIoctlCleanInvalid2::default();
    assert_eq!((h.op_count, h.pad), (0, 0));
    assert_eq!(VcSmCmaIoctlCleanInvalid2::new(3).op_count, 3);
    assert_eq!(
        VcSmCmaIoctlCleanInvalidBlock::default().invalidate_mode,
        CacheOp::Nop as u32
    );
}

#[test]
fn alloc_new_sets_terminated_name() {
    let a = VcSmCmaIoctlAlloc::new(4096, b"frame");
    assert_eq!(a.size, 4096);
    assert_eq!(a.num, 1);
    assert_eq!(a.cached, CacheType::None as u32);
    assert_eq!(a.name(), b"frame");
    assert_eq!(&a.name[..6], b"frame\0");

    let long = VcSmCmaIoctlAlloc::new(1, &[b'x'; 50]);
    assert_eq!(long.name(), &[b'x'; 31][..]);
    assert_eq!(long.name[31], 0);
}

#[test]
fn import_new_sets_fd_and_name() {
    let i = VcSmCmaIoctlImportDmabuf::new(7, b"buf\0ignored");
    assert_eq!(i.dmabuf_fd, 7);
    assert_eq!(i.name(), b"buf");
    assert_eq!(i.name[3..], [0; 29]);
    assert_eq!((i.handle, i.vc_handle, i.size, i.dma_addr), (0, 0, 0, 0));
}

#[test]
fn name_helpers() {
    assert_eq!(name_from_bytes(b""), [0; 32]);
    assert_eq!(name_bytes(&[b'z'; 32]), &[b'z'; 32][..]);
    assert_eq!(name_bytes(&name_from_bytes(&[b'q'; 31])), &[b'q'; 31][..]);
    assert_eq!(name_bytes(&name_from_bytes(&[b'q'; 32])).len(), 31);
}

#[test]
fn to_ne_bytes_puts_each_field_at_its_offset() {
    let mut a = VcSmCmaIoctlAlloc::new(0x1234_5678, b"frame");
    a.handle = -2;
    a.vc_handle = 0xdead_beef;
    a.dma_addr = 0x0102_0304_0506_0708;
    let b = a.to_ne_bytes();
    assert_eq!(b[0..4], 0x1234_5678u32.to_ne_bytes());
    assert_eq!(b[4..8], 1u32.to_ne_bytes());
    assert_eq!(&b[16..21], b"frame");
    assert_eq!(b[21], 0);
    assert_eq!(b[48..52], (-2i32).to_ne_bytes());
    assert_eq!(b[52..56], 0xdead_beefu32.to_ne_bytes());
    assert_eq!(b[56..64], 0x0102_0304_0506_0708u64.to_ne_bytes());

    let mut i = VcSmCmaIoctlImportDmabuf::new(7, b"ro");
    i.size = 4096;
    i.dma_addr = 0xc000_0000;
    let b = i.to_ne_bytes();
    assert_eq!(b[0..4], 7i32.to_ne_bytes());
    assert_eq!(&b[8..10], b"ro");
    assert_eq!(b[48..52], 4096u32.to_ne_bytes());
    assert_eq!(b[52..56], [0; 4]);
    assert_eq!(b[56..64], 0xc000_0000u64.to_ne_bytes());
}
