// SPDX-License-Identifier: GPL-2.0

//! Integer module parameters, which the 6.12 `module!` cannot declare: the module's C shim
//! declares each with `KEXT_PARAM_UINT` or `KEXT_PARAM_INT` (`kext_module.h`), and
//! [`kext_param!`] gives Rust a safe function that reads its current value.

/// Defines `fn NAME() -> u32` (or `i32`): the current value of the module parameter `NAME` that
/// the module's C shim declares with `KEXT_PARAM_UINT(NAME, ..)` (or `KEXT_PARAM_INT`).
///
/// ```ignore
/// kext_param! {
///     /// The module parameter `timeout_ms`.
///     pub(crate) fn timeout_ms: u32;
/// }
/// ```
///
/// The accessor the C macro defines carries the C type in its name (`kext_param_uint_NAME`),
/// so a parameter read with the wrong type, or one the shim does not declare, fails to link.
macro_rules! kext_param {
    ($(#[$meta:meta])* $vis:vis fn $name:ident: u32;) => {
        $crate::kext::param::kext_param!(@def $(#[$meta])* $vis fn $name: u32, uint_, c_uint);
    };
    ($(#[$meta:meta])* $vis:vis fn $name:ident: i32;) => {
        $crate::kext::param::kext_param!(@def $(#[$meta])* $vis fn $name: i32, int_, c_int);
    };
    (@def $(#[$meta:meta])* $vis:vis fn $name:ident: $ty:ty, $c:ident, $cty:ident) => {
        $(#[$meta])*
        $vis fn $name() -> $ty {
            ::kernel::macros::paste! {
                extern "C" {
                    fn [<kext_param_ $c $name>]() -> ::core::ffi::$cty;
                }
                // SAFETY: `KEXT_PARAM_UINT`/`KEXT_PARAM_INT` define this accessor with this
                // prototype (no arguments, the C type its name spells); it only reads the
                // parameter (`READ_ONCE`), which is safe from any context.
                unsafe { [<kext_param_ $c $name>]() }
            }
        }
    };
}
pub(crate) use kext_param;
