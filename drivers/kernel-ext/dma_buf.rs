// SPDX-License-Identifier: GPL-2.0

//! dma-buf exporting: a Rust type implementing [`Exporter`] becomes the private data of a
//! `struct dma_buf`, and the dma-buf core calls it through a generated `dma_buf_ops` table.

use super::{
    bindings as ext,
    dma::{DataDirection, MappedSgt, Vma, VmapAddr},
};
use crate::kext::compat::{ARef, AlwaysRefCounted};
use core::{ffi::c_int, marker::PhantomData, ptr::NonNull};
use kernel::{
    bindings, device::Device, error::from_err_ptr, prelude::*, str::CStr, types::Opaque, ThisModule,
};

/// A dma-buf exporter: the object behind one exported buffer.
///
/// The dma-buf core serialises nothing for us: every method may run concurrently with the
/// others, except that `release` (drop) runs once, after the last reference is gone.
pub(crate) trait Exporter: Sized + Send + Sync {
    /// Per-attachment state, created by [`Exporter::attach`] and dropped on detach.
    type Attachment: Send + Sync;

    /// A device attaches to the buffer.
    fn attach(&self, dev: &Device) -> Result<KBox<Self::Attachment>>;

    /// A device detaches; `att` came from `attach` and its mappings are gone.
    fn detach(&self, att: KBox<Self::Attachment>) {
        drop(att);
    }

    /// Maps the buffer for the attached device; the table stays valid until `unmap`. The core
    /// holds the buffer's reservation lock (`held`).
    fn map(
        &self,
        att: &Self::Attachment,
        held: &ResvLocked<'_>,
        dir: DataDirection,
    ) -> Result<MappedSgt>;

    /// Undoes `map`: `sgt` is the table `map` returned for `att`.
    fn unmap(
        &self,
        att: &Self::Attachment,
        held: &ResvLocked<'_>,
        sgt: MappedSgt,
        dir: DataDirection,
    );

    /// The CPU is about to access the buffer.
    fn begin_cpu_access(&self, _dir: DataDirection) -> Result {
        Ok(())
    }

    /// The CPU is done accessing the buffer.
    fn end_cpu_access(&self, _dir: DataDirection) -> Result {
        Ok(())
    }

    /// Maps the buffer into a user VMA (its page offset selects the start in the buffer).
    fn mmap(&self, vma: &mut Vma) -> Result;

    /// Maps the buffer into the kernel. The core counts nested calls and holds the buffer's
    /// reservation lock (`held`).
    fn vmap(&self, held: &ResvLocked<'_>) -> Result<VmapAddr>;

    /// Undoes `vmap`: `vaddr` is the address it returned.
    fn vunmap(&self, held: &ResvLocked<'_>, vaddr: VmapAddr);
}

/// Proof that a dma-buf's reservation lock is held: the dma-buf core holds it around an
/// exporter's `map`, `unmap`, `vmap` and `vunmap`, and the callbacks below hand this to the
/// [`Exporter`], which may then use the locked variants of the dma-buf calls on any buffer that
/// shares the reservation object (they check that it does).
///
/// # Invariants
///
/// `resv` is the reservation object of a live dma-buf, locked for at least `'a`.
pub(crate) struct ResvLocked<'a> {
    resv: NonNull<ext::dma_resv>,
    _lock: PhantomData<&'a ext::dma_resv>,
}

impl ResvLocked<'_> {
    /// # Safety
    ///
    /// `dmabuf` is live and its reservation lock is held while the result exists.
    unsafe fn of(dmabuf: *mut ext::dma_buf) -> Option<Self> {
        // SAFETY: `dmabuf` is live; `resv` is set at export and never changes.
        let resv = NonNull::new(unsafe { (*dmabuf).resv })?;
        // INVARIANT: Guaranteed by the caller.
        Some(Self {
            resv,
            _lock: PhantomData,
        })
    }

    /// Whether the lock held is that of `buf`'s reservation object.
    pub(in crate::kext) fn covers(&self, buf: &DmaBuf) -> bool {
        // SAFETY: `buf` is live; `resv` is set at export and never changes.
        let resv = unsafe { (*buf.as_raw()).resv };
        resv == self.resv.as_ptr()
    }
}

/// Holder of the `dma_buf_ops` table for an exporter type.
struct Ops<T: Exporter>(PhantomData<T>);

impl<T: Exporter> Ops<T> {
    // On 7.3 every field is named, so the zeroed rest is empty.
    #[allow(clippy::needless_update)]
    const TABLE: ext::dma_buf_ops = ext::dma_buf_ops {
        attach: Some(attach_cb::<T>),
        detach: Some(detach_cb::<T>),
        pin: None,
        unpin: None,
        map_dma_buf: Some(map_cb::<T>),
        unmap_dma_buf: Some(unmap_cb::<T>),
        release: Some(release_cb::<T>),
        begin_cpu_access: Some(begin_cpu_access_cb::<T>),
        end_cpu_access: Some(end_cpu_access_cb::<T>),
        mmap: Some(mmap_cb::<T>),
        vmap: Some(vmap_cb::<T>),
        vunmap: Some(vunmap_cb::<T>),
        // The rest stays zero: in 6.12 that is `cache_sgt_mapping: false` (7.3 dropped it).
        // SAFETY: An all-zero `dma_buf_ops` is valid: NULL callbacks and false flags.
        ..unsafe { core::mem::zeroed() }
    };
}

/// Returns the exporter behind `dmabuf`.
///
/// # Safety
///
/// `dmabuf` must have been exported by [`export::<T>`] and not yet released.
unsafe fn exporter<'a, T: Exporter>(dmabuf: *mut ext::dma_buf) -> &'a T {
    // SAFETY: `export` stored a leaked `KBox<T>` in `priv`, freed only in `release_cb`.
    unsafe { &*((*dmabuf).priv_.cast::<T>()) }
}

/// Returns the per-attachment state of `att`.
///
/// # Safety
///
/// `att` must be an attachment of a buffer exported by [`export::<T>`] for which
/// `attach_cb::<T>` succeeded and `detach_cb::<T>` has not run.
unsafe fn attachment<'a, T: Exporter>(att: *mut ext::dma_buf_attachment) -> &'a T::Attachment {
    // SAFETY: `attach_cb` stored a leaked `KBox<T::Attachment>` in `priv`.
    unsafe { &*((*att).priv_.cast::<T::Attachment>()) }
}

/// # Safety
///
/// Only called by the dma-buf core on a buffer exported by [`export::<T>`].
unsafe extern "C" fn attach_cb<T: Exporter>(
    dmabuf: *mut ext::dma_buf,
    att: *mut ext::dma_buf_attachment,
) -> c_int {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    // SAFETY: The attaching device is valid for the whole life of the attachment.
    let dev = unsafe { crate::kext::compat::device_from_raw((*att).dev.cast()) };
    match this.attach(dev) {
        Ok(state) => {
            // SAFETY: `att` is valid; `priv` belongs to the exporter.
            unsafe { (*att).priv_ = KBox::into_raw(state).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the dma-buf core, once per successful `attach_cb`.
unsafe extern "C" fn detach_cb<T: Exporter>(
    dmabuf: *mut ext::dma_buf,
    att: *mut ext::dma_buf_attachment,
) {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    // SAFETY: `attach_cb` stored a leaked box here; the core detaches once.
    let state = unsafe { KBox::from_raw((*att).priv_.cast::<T::Attachment>()) };
    // SAFETY: `att` is valid.
    unsafe { (*att).priv_ = core::ptr::null_mut() };
    this.detach(state);
}

/// # Safety
///
/// Only called by the dma-buf core on an attachment made by `attach_cb::<T>`.
unsafe extern "C" fn map_cb<T: Exporter>(
    att: *mut ext::dma_buf_attachment,
    dir: bindings::dma_data_direction,
) -> *mut bindings::sg_table {
    // SAFETY: `att` is a live attachment of a buffer exported by `export::<T>`.
    let (this, state) = unsafe { (exporter::<T>((*att).dmabuf), attachment::<T>(att)) };
    // SAFETY: The core maps with the buffer's reservation lock held.
    let Some(held) = (unsafe { ResvLocked::of((*att).dmabuf) }) else {
        return EINVAL.to_ptr();
    };
    let res = DataDirection::from_raw(dir).and_then(|dir| this.map(state, &held, dir));
    match res {
        Ok(sgt) => sgt.as_ptr().cast(),
        Err(e) => e.to_ptr(),
    }
}

/// # Safety
///
/// Only called by the dma-buf core with a table returned by `map_cb::<T>`.
unsafe extern "C" fn unmap_cb<T: Exporter>(
    att: *mut ext::dma_buf_attachment,
    sgt: *mut bindings::sg_table,
    dir: bindings::dma_data_direction,
) {
    // SAFETY: `att` is a live attachment of a buffer exported by `export::<T>`.
    let (this, state) = unsafe { (exporter::<T>((*att).dmabuf), attachment::<T>(att)) };
    // SAFETY: The core unmaps with the buffer's reservation lock held.
    let Some(held) = (unsafe { ResvLocked::of((*att).dmabuf) }) else {
        return;
    };
    if let (Some(sgt), Ok(dir)) = (NonNull::new(sgt.cast()), DataDirection::from_raw(dir)) {
        this.unmap(state, &held, MappedSgt::from_raw(sgt), dir);
    }
}

/// # Safety
///
/// Only called by the dma-buf core, once, when the last reference to the buffer is gone.
unsafe extern "C" fn release_cb<T: Exporter>(dmabuf: *mut ext::dma_buf) {
    // SAFETY: `export` stored a pinned, leaked `KBox<T>` in `priv`; this is its last use and it
    // is dropped in place.
    drop(unsafe { Pin::new_unchecked(KBox::from_raw((*dmabuf).priv_.cast::<T>())) });
}

/// # Safety
///
/// Only called by the dma-buf core on a buffer exported by `export::<T>`.
unsafe extern "C" fn begin_cpu_access_cb<T: Exporter>(
    dmabuf: *mut ext::dma_buf,
    dir: bindings::dma_data_direction,
) -> c_int {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    match DataDirection::from_raw(dir).and_then(|dir| this.begin_cpu_access(dir)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the dma-buf core on a buffer exported by `export::<T>`.
unsafe extern "C" fn end_cpu_access_cb<T: Exporter>(
    dmabuf: *mut ext::dma_buf,
    dir: bindings::dma_data_direction,
) -> c_int {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    match DataDirection::from_raw(dir).and_then(|dir| this.end_cpu_access(dir)) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the dma-buf core during `mmap` of a buffer exported by `export::<T>`.
unsafe extern "C" fn mmap_cb<T: Exporter>(
    dmabuf: *mut ext::dma_buf,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    let Some(vma) = NonNull::new(vma.cast()) else {
        return EINVAL.to_errno();
    };
    // SAFETY: `vma` is the VMA of this `mmap` call; the `Vma` ends with the call.
    match this.mmap(&mut unsafe { Vma::from_raw(vma) }) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the dma-buf core on a buffer exported by `export::<T>`; `map` is valid.
unsafe extern "C" fn vmap_cb<T: Exporter>(
    dmabuf: *mut ext::dma_buf,
    map: *mut ext::iosys_map,
) -> c_int {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    // SAFETY: The core vmaps with the buffer's reservation lock held.
    let Some(held) = (unsafe { ResvLocked::of(dmabuf) }) else {
        return EINVAL.to_errno();
    };
    match this.vmap(&held) {
        Ok(vaddr) => {
            // SAFETY: `map` is valid for writes; a system-memory mapping.
            unsafe {
                (*map).__bindgen_anon_1.vaddr = vaddr.as_ptr();
                (*map).is_iomem = false;
            }
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the dma-buf core with a mapping returned by `vmap_cb::<T>`.
unsafe extern "C" fn vunmap_cb<T: Exporter>(dmabuf: *mut ext::dma_buf, map: *mut ext::iosys_map) {
    // SAFETY: The core passes a live buffer exported by `export::<T>`.
    let this = unsafe { exporter::<T>(dmabuf) };
    // SAFETY: The core vunmaps with the buffer's reservation lock held.
    let Some(held) = (unsafe { ResvLocked::of(dmabuf) }) else {
        return;
    };
    // SAFETY: `map` holds the system-memory address set by `vmap_cb`.
    let vaddr = unsafe { (*map).__bindgen_anon_1.vaddr };
    if let Some(vaddr) = NonNull::new(vaddr) {
        this.vunmap(&held, VmapAddr::from_raw(vaddr));
    }
}

/// A dma-buf (`struct dma_buf`), only ever used by reference: an [`ARef<DmaBuf>`] holds one
/// reference to it (a reference to its file), `&DmaBuf` borrows one somebody holds.
///
/// # Invariants
///
/// The object is a live dma-buf for as long as a reference to this value exists.
#[repr(transparent)]
pub(crate) struct DmaBuf(Opaque<ext::dma_buf>);

// SAFETY: dma-buf references may be taken and dropped from any thread.
unsafe impl Send for DmaBuf {}
// SAFETY: The methods only use the core's thread-safe API.
unsafe impl Sync for DmaBuf {}

// SAFETY: `get_dma_buf` and `dma_buf_put` take and drop a reference to the buffer's file, which
// keeps the buffer alive while any is held.
unsafe impl AlwaysRefCounted for DmaBuf {
    fn inc_ref(&self) {
        // SAFETY: The buffer is live (type invariant), so its file can take another reference.
        unsafe { ext::kext_get_dma_buf(self.as_raw()) };
    }

    unsafe fn dec_ref(obj: NonNull<Self>) {
        // SAFETY: The caller gives up one reference it owns.
        unsafe { ext::dma_buf_put(obj.cast().as_ptr()) };
    }
}

impl DmaBuf {
    /// The dma-buf at `ptr`, borrowed.
    ///
    /// # Safety
    ///
    /// `ptr` is a live dma-buf on which somebody holds a reference for all of `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut ext::dma_buf) -> &'a Self {
        // SAFETY: `DmaBuf` is a transparent wrapper of the C object, live for `'a` (caller).
        unsafe { &*ptr.cast::<Self>() }
    }

    /// The C object.
    pub(crate) fn as_raw(&self) -> *mut ext::dma_buf {
        self.0.get()
    }

    /// Size in bytes.
    pub(crate) fn size(&self) -> usize {
        // SAFETY: The buffer is live by the type invariant; `size` never changes.
        unsafe { (*self.as_raw()).size }
    }
}

/// Gives `buf`'s reference away, for returning it to C (a heap's `allocate`, the kernel API's
/// handles, an fd).
pub(crate) fn into_raw(buf: ARef<DmaBuf>) -> *mut ext::dma_buf {
    let buf = core::mem::ManuallyDrop::new(buf);
    buf.as_raw()
}

/// Takes over one reference to a dma-buf.
///
/// # Safety
///
/// `ptr` is a live dma-buf on which the caller owns one reference; that reference passes to the
/// result.
pub(crate) unsafe fn from_owned_raw(ptr: NonNull<ext::dma_buf>) -> ARef<DmaBuf> {
    // SAFETY: Guaranteed by the caller; `DmaBuf` is a transparent wrapper of the C object.
    unsafe { ARef::from_raw(ptr.cast()) }
}

/// Exports `data` as a new dma-buf of `size` bytes, owned by `module` (the buffer pins it).
///
/// `name` is the exporter name userspace sees in `/sys/kernel/debug/dma_buf/bufinfo`.
pub(crate) fn export<T: Exporter>(
    data: Pin<KBox<T>>,
    size: usize,
    flags: u32,
    name: &'static CStr,
    module: &'static ThisModule,
) -> Result<ARef<DmaBuf>> {
    // SAFETY: A NULL `resv` makes the core embed a reservation object of its own.
    unsafe { export_with_resv(data, size, flags, name, module, core::ptr::null_mut()) }
}

/// Like [`export`], but the new buffer shares the reservation object (its lock and fences) of
/// `resv_of` instead of having one of its own.
///
/// This is what a buffer that re-exports another one needs: the dma-buf core calls
/// `map_dma_buf` and `vmap` with the buffer's reservation lock held, so with a shared object the
/// exporter can forward them to `resv_of` with the locked `dma_buf_map_attachment` and
/// `dma_buf_vmap` (taking a second reservation lock there would nest two locks of one class),
/// and implicit fences of `resv_of` apply to the new buffer as well.
///
/// # Safety
///
/// `data` must keep a reference to `resv_of` until it is dropped (the core drops it on the
/// new buffer's release), so that the shared reservation object outlives the new buffer.
pub(crate) unsafe fn export_sharing_resv<T: Exporter>(
    data: Pin<KBox<T>>,
    size: usize,
    flags: u32,
    name: &'static CStr,
    module: &'static ThisModule,
    resv_of: &DmaBuf,
) -> Result<ARef<DmaBuf>> {
    // SAFETY: `resv_of` is live; its reservation object lives as long as it does, which the
    // caller guarantees is as long as the new buffer.
    unsafe {
        let resv = (*resv_of.as_raw()).resv;
        export_with_resv(data, size, flags, name, module, resv)
    }
}

/// # Safety
///
/// `resv` is NULL, or a reservation object that outlives the new buffer.
unsafe fn export_with_resv<T: Exporter>(
    data: Pin<KBox<T>>,
    size: usize,
    flags: u32,
    name: &'static CStr,
    module: &'static ThisModule,
    resv: *mut ext::dma_resv,
) -> Result<ARef<DmaBuf>> {
    // SAFETY: The box is leaked and only ever freed in place (`release_cb` or below), so the
    // pinned value never moves.
    let raw = KBox::into_raw(unsafe { Pin::into_inner_unchecked(data) });
    let info = ext::dma_buf_export_info {
        exp_name: name.as_char_ptr(),
        owner: module.as_ptr().cast(),
        ops: &Ops::<T>::TABLE,
        size,
        flags: flags as c_int,
        resv,
        priv_: raw.cast(),
    };
    // SAFETY: `info` is fully initialised; `ops` is a static table for `T` and `priv` a leaked
    // box that `release_cb::<T>` frees.
    let res = from_err_ptr(unsafe { ext::dma_buf_export(&info) });
    match res {
        // SAFETY: A successful export returns a buffer with one reference, ours.
        Ok(ptr) => Ok(unsafe { from_owned_raw(NonNull::new(ptr).ok_or(ENOMEM)?) }),
        Err(e) => {
            // SAFETY: The export failed, so the core never saw `raw`; drop it in place.
            drop(unsafe { Pin::new_unchecked(KBox::from_raw(raw)) });
            Err(e)
        }
    }
}
