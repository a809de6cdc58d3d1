// SPDX-License-Identifier: GPL-2.0

//! [`kext_impl_plain_data!`]: `FromBytes` and `AsBytes` for the generated uapi structs, with
//! the layout checked at compile time instead of asserted in a SAFETY comment.

/// Implements `FromBytes` and `AsBytes` (as `compat.rs` re-exports them) for a `repr(C)` struct
/// (a uapi argument struct from the generated bindings), after checking at compile time that it
/// is plain data: the fields, listed in declaration order, must each be `FromBytes + AsBytes`
/// themselves, and together cover the struct's bytes without a gap (no padding, so every byte is
/// initialised and every bit pattern is a valid value). A field left out of the list, or one
/// out of order, fails the build.
///
/// ```ignore
/// kext_impl_plain_data!(bindings::vc_sm_cma_ioctl_alloc { size, num, cached, pad, name, handle,
///     vc_handle, dma_addr });
/// ```
macro_rules! kext_impl_plain_data {
    ($t:ty { $($f:ident),+ $(,)? }) => {
        const _: () = {
            const fn size_of_target<F>(_: *const F) -> usize {
                ::core::mem::size_of::<F>()
            }
            let value = ::core::mem::MaybeUninit::<$t>::uninit();
            let base = value.as_ptr();
            let mut end = 0;
            $(
                ::core::assert!(
                    ::core::mem::offset_of!($t, $f) == end,
                    ::core::concat!(
                        "padding (or a field left out) before `",
                        ::core::stringify!($f),
                        "`"
                    )
                );
                // SAFETY: `base` points to an (uninitialised) allocation of `$t`; this takes the
                // address of one of its fields and reads nothing.
                end += size_of_target(unsafe { ::core::ptr::addr_of!((*base).$f) });
            )+
            ::core::assert!(end == ::core::mem::size_of::<$t>(), "padding after the last field");
        };
        const _: () = {
            // Never called: it only compiles if every field is plain data itself.
            #[allow(dead_code)]
            fn fields_are_plain_data(value: &$t) {
                fn plain<F>(_: &F)
                where
                    F: $crate::kext::compat::FromBytes + $crate::kext::compat::AsBytes,
                {
                }
                $(plain(&value.$f);)+
            }
        };
        // SAFETY: `$t` is `repr(C)` (bindgen's structs are) and, as checked above, its fields are
        // plain data and leave no byte uncovered, so it has no padding: every byte is initialised
        // and every bit pattern is a valid value.
        unsafe impl $crate::kext::compat::FromBytes for $t {}
        // SAFETY: As for `FromBytes`.
        unsafe impl $crate::kext::compat::AsBytes for $t {}
    };
}
pub(crate) use kext_impl_plain_data;
