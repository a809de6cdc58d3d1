//! Safe wrappers over the generic Linux dma-heap / dma-buf uapi.
//!
//! * [`Heap`] opens `/dev/dma_heap/NAME` and allocates buffers with `DMA_HEAP_IOCTL_ALLOC`.
//! * [`DmaBuf`] owns the returned dma-buf file descriptor: size, `mmap`, `DMA_BUF_IOCTL_SYNC`,
//!   `DMA_BUF_SET_NAME`.
//! * [`Mapping`] is a CPU mapping of (part of) a dma-buf, unmapped on drop, with bounds-checked
//!   volatile access; the crate's only `mmap`.
//! * [`pattern`] is the simulated VPU's data pattern and checksum, over slices and mappings.
//! * [`vcsm::Vcsm`] is `/dev/vcsm-cma` (`MEM_ALLOC`, `MEM_IMPORT_DMABUF`), shared by vcsm-tool
//!   and the guest tests; [`v4l2`] the few V4L2 calls they make.
//! * [`sys::Ioctl`] is the one place the crate's ioctls become raw calls: each request number
//!   is paired with its argument type where the uapi mirror is defined.
//!
//! Helpers that do not touch the kernel ([`size`], [`stats`], [`meminfo`], [`errno`], [`uapi`],
//! [`state`]: the vc-sm-cma debugfs state parser)
//! are pure and unit-tested on the host.

pub mod buf;
pub mod errno;
pub mod heap;
pub mod mapping;
pub mod meminfo;
pub mod pattern;
pub mod size;
pub mod state;
pub mod stats;
pub mod sys;
pub mod uapi;
pub mod v4l2;
pub mod vcsm;

pub use buf::DmaBuf;
pub use errno::{describe_errno, describe_io_error, errno_name};
pub use heap::{Heap, OpenError, DEFAULT_FD_FLAGS, HEAP_DIR};
pub use mapping::{Mapping, Mismatch, Prot};
pub use meminfo::{cma_free_kib, cma_total_kib, mem_total_kib, meminfo_kib};
pub use size::{format_size, parse_size, ParseSizeError};
pub use stats::{percentile, Summary};
pub use uapi::{
    DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_RW, DMA_BUF_SYNC_START, DMA_BUF_SYNC_WRITE,
};

/// The CPU page size (`sysconf(_SC_PAGESIZE)`), 4096 if the query fails.
pub fn page_size() -> usize {
    let ps = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok().flatten();
    ps.and_then(|p| usize::try_from(p).ok()).filter(|&p| p > 0).unwrap_or(4096)
}

/// Round `n` up to a multiple of `align` (a power of two); `None` on overflow.
pub fn align_up(n: u64, align: u64) -> Option<u64> {
    debug_assert!(align.is_power_of_two());
    n.checked_add(align - 1).map(|v| v & !(align - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_sane() {
        let ps = page_size();
        assert!(ps.is_power_of_two() && ps >= 4096);
    }

    #[test]
    fn align_up_works() {
        assert_eq!(align_up(0, 4096), Some(0));
        assert_eq!(align_up(1, 4096), Some(4096));
        assert_eq!(align_up(4096, 4096), Some(4096));
        assert_eq!(align_up(4097, 4096), Some(8192));
        assert_eq!(align_up(u64::MAX, 4096), None);
        assert_eq!(align_up(u64::MAX - 4095, 4096), Some(u64::MAX - 4095));
    }
}
