#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Feature probes of the kernel the modules are built against (Linux 6.12 or 7.3): one
# `--cfg kext_*` per difference of its `kernel` crate that kernel-ext/compat.rs bridges, found in
# the kernel's own sources, never guessed from a version number. Called by the Kbuild:
#
#   probe.sh SRCTREE      prints the rustc flags
set -eu
src=${1:?usage: probe.sh SRCTREE}
r="$src/rust"
cfg() { printf -- '--cfg %s ' "$1"; }
has() { grep -qs -e "$1" "$2"; }

# Without the kernel crate's sources the answers below would be guesses: say so (compat.rs
# turns this cfg into a compile error naming the directory).
if [ ! -f "$r/kernel/lib.rs" ] || [ ! -f "$r/kernel/types.rs" ]; then
	cfg kext_probe_no_sources
	exit 0
fi

# kernel::types::ARef/AlwaysRefCounted moved to kernel::sync::aref (7.3).
has 'pub struct ARef' "$r/kernel/types.rs" || cfg kext_aref_in_sync
# kernel::types::{AsBytes, FromBytes} moved to kernel::transmute (7.3).
[ -f "$r/kernel/transmute.rs" ] && cfg kext_transmute
# No crate-root THIS_MODULE static; module::this_module::<LocalModule>() instead (7.3).
has 'fn this_module' "$r/kernel/module.rs" && cfg kext_local_module
# pr_*! arguments need kernel::fmt::Display, not core::fmt::Display (7.3).
has 'pub trait Display' "$r/kernel/fmt.rs" && cfg kext_kernel_fmt
# kernel::str::CStr is core::ffi::CStr with the CStrExt trait (7.3).
has 'pub trait CStrExt' "$r/kernel/str.rs" && cfg kext_core_cstr
# enum dma_data_direction is a bindgen newtype, DMA_* its associated constants (7.3).
has 'newtype-enum dma_data_direction' "$r/bindgen_parameters" && cfg kext_dma_dir_newtype
# UserSlice::new takes a UserPtr, not a usize (7.3).
has 'pub struct UserPtr' "$r/kernel/uaccess.rs" && cfg kext_user_ptr
# kernel::time::Ktime is gone (7.3: Instant/Delta); ktime_get() through the bindings on both.
has 'pub struct Ktime' "$r/kernel/time.rs" || cfg kext_no_ktime
# ForeignOwnable::{into,from}_foreign use *mut c_void, not *const (7.3).
has 'fn into_foreign(self) -> \*mut' "$r/kernel/types.rs" && cfg kext_foreign_mut
# RBTree's mutable cursors are CursorMut from cursor_*_mut() (7.3).
has 'fn cursor_front_mut' "$r/kernel/rbtree.rs" && cfg kext_rbtree_cursor_mut
# Device::as_ref(ptr) became Device::from_raw(ptr) (7.3).
has 'pub unsafe fn from_raw<.a>(ptr: \*mut bindings::device)' "$r/kernel/device.rs" &&
	cfg kext_device_from_raw
true
