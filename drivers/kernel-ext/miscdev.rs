// SPDX-License-Identifier: GPL-2.0

//! Misc character devices (`misc_register`): a node under `/dev` whose open files carry
//! per-open data of a [`MiscDevice`] and whose ioctls go to it.
//!
//! The `file_operations` table must outlive every open file, and open files must pin the module
//! that implements them, so the table is a `static` of the driver crate, built with
//! [`FileOps::new`] and [`this_module!`](crate::kext::miscdev::this_module):
//!
//! ```ignore
//! static FOPS: FileOps = FileOps::new::<MyDev>(this_module!());
//! ```

use super::bindings as ext;
use core::{
    ffi::{c_int, c_uint},
    marker::PhantomPinned,
};
use kernel::{bindings, error::to_result, prelude::*, str::CStr, types::Opaque};

/// The `struct module` of the crate this is expanded in (`THIS_MODULE` in C), usable in the
/// initialiser of a `static`.
#[allow(unused_macros)] // Used by the driver crates that have misc devices or debugfs files.
macro_rules! this_module {
    () => {{
        // `struct module` contains zero-sized members the lint flags; only its address is used.
        #[allow(improper_ctypes)]
        extern "C" {
            static __this_module: ::kernel::types::Opaque<::kernel::bindings::module>;
        }
        // SAFETY: Only the address of the module's own `struct module`, which modpost defines
        // for every module, is taken, and it is that of the module this is expanded in.
        unsafe { $crate::kext::miscdev::Owner::from_raw(__this_module.get()) }
    }};
}
#[allow(unused_imports)]
pub(crate) use this_module;

/// The module a `file_operations` table belongs to (its `owner`, which open files pin): the
/// module's own `struct module`, as only [`this_module!`] makes it.
#[derive(Clone, Copy)]
pub(crate) struct Owner(*mut bindings::module);

impl Owner {
    /// # Safety
    ///
    /// `module` is the `struct module` of the module this code is compiled into.
    pub(crate) const unsafe fn from_raw(module: *mut bindings::module) -> Self {
        Self(module)
    }

    /// The `struct module`, for a `file_operations` table's `owner`.
    pub(crate) const fn as_ptr(self) -> *mut bindings::module {
        self.0
    }
}

/// `MISC_DYNAMIC_MINOR`: bindgen does not see the macro; `kext_shim.c` asserts the value.
const MISC_DYNAMIC_MINOR: c_int = 255;

/// A misc device implementation.
pub(crate) trait MiscDevice: Sized + 'static {
    /// Shared by all open files; lives as long as the [`Registration`].
    type Ctx: Send + Sync;
    /// The data of one open file.
    type Data: Send + Sync;

    /// The device node is opened.
    fn open(ctx: &Self::Ctx) -> Result<KBox<Self::Data>>;

    /// An ioctl on an open file (`unlocked_ioctl`, and `compat_ioctl`: the argument is passed
    /// zero-extended).
    fn ioctl(data: &Self::Data, cmd: u32, arg: usize) -> Result<isize>;
}

/// The `file_operations` of a [`MiscDevice`].
#[repr(transparent)]
pub(crate) struct FileOps(bindings::file_operations);

// SAFETY: The table is immutable; its raw pointers (the owner module) are only read by the VFS.
unsafe impl Sync for FileOps {}

impl FileOps {
    /// The table for `T`; open files pin `owner` (pass [`this_module!`]).
    pub(crate) const fn new<T: MiscDevice>(owner: Owner) -> Self {
        Self(bindings::file_operations {
            owner: owner.as_ptr(),
            open: Some(open_cb::<T>),
            release: Some(release_cb::<T>),
            unlocked_ioctl: Some(ioctl_cb::<T>),
            compat_ioctl: Some(ioctl_cb::<T>),
            // SAFETY: All-zeroes is a valid `file_operations` (NULL callbacks and flags).
            ..unsafe { core::mem::zeroed() }
        })
    }
}

/// The registration's memory: the `miscdevice` first, so the pointer `misc_open` stores in
/// `private_data` is also a pointer to this.
#[repr(C)]
struct Inner<T: MiscDevice> {
    misc: Opaque<ext::miscdevice>,
    ctx: T::Ctx,
    _pin: PhantomPinned,
}

/// A registered misc device; deregistered on drop.
///
/// # Invariants
///
/// `inner.misc` is registered with `misc_register`, with `fops` built for `T`.
pub(crate) struct Registration<T: MiscDevice> {
    inner: Pin<KBox<Inner<T>>>,
}

// SAFETY: Deregistration may happen on any thread; `T::Ctx` is `Send + Sync`.
unsafe impl<T: MiscDevice> Send for Registration<T> {}
// SAFETY: `&Registration` only gives access to `T::Ctx`, which is `Sync`.
unsafe impl<T: MiscDevice> Sync for Registration<T> {}

impl<T: MiscDevice> Registration<T> {
    /// Registers `/dev/<name>` with a dynamic minor and the given mode (e.g. `0o660`).
    pub(crate) fn new(
        name: &'static CStr,
        mode: u16,
        fops: &'static FileOps,
        ctx: T::Ctx,
    ) -> Result<Self> {
        let misc = ext::miscdevice {
            minor: MISC_DYNAMIC_MINOR,
            name: name.as_char_ptr(),
            fops: &fops.0,
            mode,
            ..Default::default()
        };
        let inner = KBox::pin(
            Inner {
                misc: Opaque::new(misc),
                ctx,
                _pin: PhantomPinned,
            },
            GFP_KERNEL,
        )?;
        // SAFETY: `inner.misc` is initialised and pinned; it stays registered until `drop`.
        // `name` and `fops` are static.
        to_result(unsafe { ext::misc_register(inner.misc.get()) })?;
        // INVARIANT: Registered above.
        Ok(Self { inner })
    }
}

impl<T: MiscDevice> Drop for Registration<T> {
    fn drop(&mut self) {
        // SAFETY: Registered by the type invariant. After this no `open` can see `inner`
        // (`misc_open` and `misc_deregister` serialise on the misc lock); files already open
        // only use their own data.
        unsafe { ext::misc_deregister(self.inner.misc.get()) };
    }
}

/// # Safety
///
/// Only called by `misc_open` for a device registered by [`Registration::<T>::new`], with
/// `private_data` pointing to its `miscdevice`.
unsafe extern "C" fn open_cb<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `misc_open` stored the registered `miscdevice`, the first field of a live
    // `Inner<T>` (`#[repr(C)]`), in `private_data`, and holds the misc lock, so the
    // registration cannot go away during this call.
    let inner = unsafe { &*(*file).private_data.cast::<Inner<T>>() };
    match T::open(&inner.ctx) {
        Ok(data) => {
            // SAFETY: `file` is being opened; `private_data` now belongs to the driver.
            unsafe { (*file).private_data = KBox::into_raw(data).cast() };
            0
        }
        Err(e) => e.to_errno(),
    }
}

/// # Safety
///
/// Only called by the VFS, once, for a file `open_cb::<T>` opened successfully.
unsafe extern "C" fn release_cb<T: MiscDevice>(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `open_cb` stored a leaked `KBox<T::Data>`; this is the last use of the file.
    drop(unsafe { KBox::from_raw((*file).private_data.cast::<T::Data>()) });
    0
}

/// # Safety
///
/// Only called by the VFS on a file `open_cb::<T>` opened successfully.
unsafe extern "C" fn ioctl_cb<T: MiscDevice>(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: usize,
) -> isize {
    // SAFETY: `open_cb` stored a `T::Data` that lives until `release_cb`, which cannot run
    // during an ioctl on the same file.
    let data = unsafe { &*(*file).private_data.cast::<T::Data>() };
    match T::ioctl(data, cmd, arg) {
        Ok(ret) => ret,
        Err(e) => e.to_errno() as isize,
    }
}
