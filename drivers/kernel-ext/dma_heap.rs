// SPDX-License-Identifier: GPL-2.0

//! dma-heap exporting (needs the kernel patch in `patches/linux-<version>/` that lets a module
//! add (6.12), own and remove (6.12 and 7.3) a heap).

use super::{
    bindings as ext,
    compat::ARef,
    dma_buf::{self, DmaBuf},
};
use core::{marker::PhantomData, ptr::NonNull};
use kernel::{error::from_err_ptr, prelude::*, str::CStr, ThisModule};

/// A heap's allocator.
pub(crate) trait HeapOps: Sized + Send + Sync {
    /// Allocates a buffer of `len` bytes (page aligned and non-zero, checked by the core),
    /// exported with `fd_flags`. `heap_flags` has been checked to be zero by the core.
    fn allocate(&self, len: usize, fd_flags: u32, heap_flags: u64) -> Result<ARef<DmaBuf>>;
}

struct Ops<T: HeapOps>(PhantomData<T>);

impl<T: HeapOps> Ops<T> {
    const TABLE: ext::dma_heap_ops = ext::dma_heap_ops {
        allocate: Some(allocate_cb::<T>),
    };
}

/// # Safety
///
/// Only called by the dma-heap core for a heap registered by [`Registration::<T>::new`].
unsafe extern "C" fn allocate_cb<T: HeapOps>(
    heap: *mut ext::dma_heap,
    len: usize,
    fd_flags: u32,
    heap_flags: u64,
) -> *mut ext::dma_buf {
    // SAFETY: `Registration::new` set the private data to a `T` that outlives the heap.
    let this = unsafe { &*(ext::dma_heap_get_drvdata(heap).cast::<T>()) };
    match this.allocate(len, fd_flags, heap_flags) {
        Ok(buf) => dma_buf::into_raw(buf),
        Err(e) => e.to_ptr(),
    }
}

/// A registered heap, `/dev/dma_heap/<name>`; removed on drop.
///
/// # Invariants
///
/// `heap` was returned by `dma_heap_add` with `data` as its private data; `data` is pinned in
/// memory for the heap's whole life.
pub(crate) struct Registration<T: HeapOps> {
    heap: NonNull<ext::dma_heap>,
    data: Pin<KBox<T>>,
}

// SAFETY: The heap handle may be dropped from any thread; `T` is `Send`.
unsafe impl<T: HeapOps> Send for Registration<T> {}
// SAFETY: Shared access only reads `data`, which is `Sync`.
unsafe impl<T: HeapOps> Sync for Registration<T> {}

impl<T: HeapOps> Registration<T> {
    /// Registers a heap named `name` served by `data`; open heap files pin `module`.
    pub(crate) fn new(
        name: &'static CStr,
        data: Pin<KBox<T>>,
        module: &'static ThisModule,
    ) -> Result<Self> {
        let info = ext::dma_heap_export_info {
            name: name.as_char_ptr(),
            ops: &Ops::<T>::TABLE,
            priv_: core::ptr::from_ref::<T>(&*data).cast_mut().cast(),
            owner: module.as_ptr().cast(),
        };
        // SAFETY: `info` is fully initialised; `name` and `ops` are static; `priv` points to
        // `data`, which the registration keeps pinned until `dma_heap_remove`.
        let heap = from_err_ptr(unsafe { ext::dma_heap_add(&info) })?;
        Ok(Self {
            heap: NonNull::new(heap).ok_or(EINVAL)?,
            data,
        })
    }

    /// The allocator.
    pub(crate) fn data(&self) -> &T {
        &self.data
    }
}

impl<T: HeapOps> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: The heap was added by `new`. Removal happens on module exit only, when no
        // heap file is open and no buffer is alive (both pin the module), as the patch's
        // `dma_heap_remove` requires.
        unsafe { ext::dma_heap_remove(self.heap.as_ptr()) };
    }
}
