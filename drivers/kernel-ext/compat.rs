// SPDX-License-Identifier: GPL-2.0

//! What differs between the `kernel` crates of Linux 6.12 and 7.3, in one place.
//!
//! The drivers name these items and never a `cfg`: every `kext_*` cfg is a feature probe of
//! the kernel being built against (`probe.sh`, run by the Kbuild), used only in this file. The C
//! side's counterpart is `kext_compat.h`.

use kernel::{bindings, device::Device, prelude::*, ThisModule};

#[cfg(kext_probe_no_sources)]
compile_error!(
    "drivers/kernel-ext/probe.sh found no rust/kernel/ sources in the kernel tree (KDIR): build \
     against a kernel build or headers directory that has them"
);

#[cfg(kext_aref_in_sync)]
pub(crate) use kernel::sync::aref::ARef;
#[cfg(not(kext_aref_in_sync))]
pub(crate) use kernel::types::ARef;
// Only the crates that count references to C objects of their own use it.
#[cfg(kext_aref_in_sync)]
#[allow(unused_imports)]
pub(crate) use kernel::sync::aref::AlwaysRefCounted;
#[cfg(not(kext_aref_in_sync))]
#[allow(unused_imports)]
pub(crate) use kernel::types::AlwaysRefCounted;

// Only the crates with ioctls use these.
#[cfg(kext_transmute)]
#[allow(unused_imports)]
pub(crate) use kernel::transmute::{AsBytes, FromBytes};
#[cfg(not(kext_transmute))]
#[allow(unused_imports)]
pub(crate) use kernel::types::{AsBytes, FromBytes};

/// The `struct module` of the crate this is compiled into (`THIS_MODULE` in C).
pub(crate) fn this_module() -> &'static ThisModule {
    #[cfg(not(kext_local_module))]
    {
        &crate::THIS_MODULE
    }
    #[cfg(kext_local_module)]
    {
        kernel::module::this_module::<crate::LocalModule>()
    }
}

/// Implements the `Display` that the `pr_*!` macros take (on 7.3 `kernel::fmt::Display`, on
/// 6.12 `core::fmt::Display` itself) for types that implement `core::fmt::Display`.
macro_rules! kext_impl_display {
    ($($t:ty),* $(,)?) => {
        $(
            #[cfg(kext_kernel_fmt)]
            impl ::kernel::fmt::Display for $t {
                fn fmt(&self, f: &mut ::core::fmt::Formatter<'_>) -> ::core::fmt::Result {
                    ::core::fmt::Display::fmt(self, f)
                }
            }
        )*
    };
}
pub(crate) use kext_impl_display;

/// A C string for `pr_*!` (6.12's `CStr` is `Display`, 7.3's `core::ffi::CStr` is not; `str` is
/// on both): its bytes as UTF-8, or `?` for a string that is not.
pub(crate) fn cstr_display(s: &CStr) -> &str {
    core::str::from_utf8(cstr_bytes(s)).unwrap_or("?")
}

/// `enum dma_data_direction` (a bindgen newtype in 7.3, plain constants in 6.12).
#[cfg(not(kext_dma_dir_newtype))]
mod dma_dir {
    use kernel::bindings;
    pub(crate) const BIDIRECTIONAL: bindings::dma_data_direction =
        bindings::dma_data_direction_DMA_BIDIRECTIONAL;
    pub(crate) const TO_DEVICE: bindings::dma_data_direction =
        bindings::dma_data_direction_DMA_TO_DEVICE;
    pub(crate) const FROM_DEVICE: bindings::dma_data_direction =
        bindings::dma_data_direction_DMA_FROM_DEVICE;
}
#[cfg(kext_dma_dir_newtype)]
mod dma_dir {
    use kernel::bindings;
    pub(crate) const BIDIRECTIONAL: bindings::dma_data_direction =
        bindings::dma_data_direction::DMA_BIDIRECTIONAL;
    pub(crate) const TO_DEVICE: bindings::dma_data_direction =
        bindings::dma_data_direction::DMA_TO_DEVICE;
    pub(crate) const FROM_DEVICE: bindings::dma_data_direction =
        bindings::dma_data_direction::DMA_FROM_DEVICE;
}
pub(crate) use dma_dir::TO_DEVICE as DMA_TO_DEVICE;
pub(crate) use dma_dir::{BIDIRECTIONAL as DMA_BIDIRECTIONAL, FROM_DEVICE as DMA_FROM_DEVICE};

/// A userspace address for [`kernel::uaccess::UserSlice::new`].
#[cfg(not(kext_user_ptr))]
pub(crate) fn user_ptr(addr: usize) -> kernel::uaccess::UserPtr {
    addr
}
/// A userspace address for [`kernel::uaccess::UserSlice::new`].
#[cfg(kext_user_ptr)]
pub(crate) fn user_ptr(addr: usize) -> kernel::uaccess::UserPtr {
    kernel::uaccess::UserPtr::from_addr(addr)
}

/// `ktime_get()` in nanoseconds (CLOCK_MONOTONIC).
pub(crate) fn ktime_get_ns() -> i64 {
    // SAFETY: `ktime_get` has no preconditions.
    unsafe { bindings::ktime_get() }
}

/// `ktime_get()` in milliseconds.
pub(crate) fn ktime_get_ms() -> i64 {
    ktime_get_ns() / 1_000_000
}

/// The `*mut c_void` [`ForeignOwnable`] hands out and takes back (`*const` in 6.12).
#[cfg(not(kext_foreign_mut))]
pub(crate) type ForeignPtr = *const core::ffi::c_void;
/// The `*mut c_void` [`ForeignOwnable`] hands out and takes back (`*const` in 6.12).
#[cfg(kext_foreign_mut)]
pub(crate) type ForeignPtr = *mut core::ffi::c_void;

/// The pointer [`ForeignOwnable::into_foreign`] gave, as the `*mut c_void` C stores.
pub(crate) fn foreign_as_mut(ptr: ForeignPtr) -> *mut core::ffi::c_void {
    #[cfg(not(kext_foreign_mut))]
    {
        ptr.cast_mut()
    }
    #[cfg(kext_foreign_mut)]
    {
        ptr
    }
}

/// The bytes of a C string, without the NUL (6.12's `CStr::as_bytes`, core's `to_bytes`).
pub(crate) fn cstr_bytes(s: &CStr) -> &[u8] {
    #[cfg(not(kext_core_cstr))]
    {
        s.as_bytes()
    }
    #[cfg(kext_core_cstr)]
    {
        s.to_bytes()
    }
}

/// Borrows the `struct device` at `ptr` as a [`Device`].
///
/// # Safety
///
/// `ptr` is a valid `struct device` whose reference count is not zero for `'a`.
pub(crate) unsafe fn device_from_raw<'a>(ptr: *mut bindings::device) -> &'a Device {
    #[cfg(not(kext_device_from_raw))]
    // SAFETY: The caller's guarantee is `Device::as_ref`'s.
    unsafe {
        Device::as_ref(ptr)
    }
    #[cfg(kext_device_from_raw)]
    // SAFETY: The caller's guarantee is `Device::from_raw`'s.
    unsafe {
        Device::from_raw(ptr)
    }
}

/// A mutable cursor on the first entry of `tree`.
#[cfg(not(kext_rbtree_cursor_mut))]
pub(crate) fn cursor_front_mut<K, V>(
    tree: &mut kernel::rbtree::RBTree<K, V>,
) -> Option<kernel::rbtree::Cursor<'_, K, V>> {
    tree.cursor_front()
}
/// A mutable cursor on the first entry of `tree`.
#[cfg(kext_rbtree_cursor_mut)]
pub(crate) fn cursor_front_mut<K, V>(
    tree: &mut kernel::rbtree::RBTree<K, V>,
) -> Option<kernel::rbtree::CursorMut<'_, K, V>> {
    tree.cursor_front_mut()
}
