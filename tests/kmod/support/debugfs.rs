// SPDX-License-Identifier: GPL-2.0

//! Debugfs control files: every file of a [`Dir`] is read and written through one [`Control`]
//! object, with the file's id. Reads produce text ([`Text`]); writes get the written text,
//! trimmed. Removing the directory waits for running reads and writes.

use super::ffi;
use core::{
    ffi::{c_char, c_int, c_void},
    fmt,
    ptr::NonNull,
};
use kernel::{error::from_err_ptr, prelude::*, str::CStr, sync::Arc};

/// Serves the files of a [`Dir`].
pub(crate) trait Control: Send + Sync + 'static {
    /// Writes the contents of file `file` into `out`.
    fn show(&self, file: usize, out: &mut Text) -> Result;

    /// Handles a write of `input` (surrounding whitespace removed) to file `file`.
    ///
    /// Bad input must be logged (what was wrong) and answered with `EINVAL`.
    fn store(&self, file: usize, input: &str) -> Result;
}

/// One file of a [`Dir`].
pub(crate) struct File {
    /// The file name.
    pub(crate) name: &'static CStr,
    /// Permissions, e.g. `0o644`.
    pub(crate) mode: u16,
    /// The id passed to [`Control`].
    pub(crate) id: usize,
}

/// The output of a read.
pub(crate) struct Text {
    buf: KVec<u8>,
}

impl Text {
    /// Appends formatted text, e.g. `out.fmt(format_args!("x {}\n", x))?`.
    pub(crate) fn fmt(&mut self, args: fmt::Arguments<'_>) -> Result {
        fmt::Write::write_fmt(self, args).map_err(|_| ENOMEM)
    }
}

impl fmt::Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.buf
            .extend_from_slice(s.as_bytes(), GFP_KERNEL)
            .map_err(|_| fmt::Error)
    }
}

/// What the C side gets as a file's private data.
struct Entry {
    ctx: *const c_void,
    id: usize,
    show: unsafe fn(*const c_void, usize, &mut Text) -> Result,
    store: unsafe fn(*const c_void, usize, &str) -> Result,
}

/// # Safety
///
/// `ctx` must point to a live `T`.
unsafe fn show_thunk<T: Control>(ctx: *const c_void, id: usize, out: &mut Text) -> Result {
    // SAFETY: The caller guarantees `ctx` is a live `T`.
    unsafe { &*ctx.cast::<T>() }.show(id, out)
}

/// # Safety
///
/// `ctx` must point to a live `T`.
unsafe fn store_thunk<T: Control>(ctx: *const c_void, id: usize, input: &str) -> Result {
    // SAFETY: The caller guarantees `ctx` is a live `T`.
    unsafe { &*ctx.cast::<T>() }.store(id, input)
}

/// A debugfs directory of control files, removed on drop.
///
/// # Invariants
///
/// `dentry` is the directory made by `vt_debugfs_dir`; each of its files has one of `entries`
/// as private data, and `entries[i].ctx` is `ctx`. Both outlive the directory.
pub(crate) struct Dir<T: Control> {
    dentry: NonNull<c_void>,
    entries: KVec<KBox<Entry>>,
    ctx: Arc<T>,
}

// SAFETY: The raw pointers are owned by the directory; `T` is `Send + Sync`.
unsafe impl<T: Control> Send for Dir<T> {}
// SAFETY: `&Dir` gives access to nothing.
unsafe impl<T: Control> Sync for Dir<T> {}

impl<T: Control> Dir<T> {
    /// Creates top-level directory `name` with `files`, served by `ctx`.
    pub(crate) fn new(name: &'static CStr, ctx: Arc<T>, files: &[File]) -> Result<Self> {
        // SAFETY: `name` is a valid C string.
        let dentry = from_err_ptr(unsafe { ffi::vt_debugfs_dir(name.as_char_ptr()) })?;
        let mut dir = Self {
            dentry: NonNull::new(dentry).ok_or(ENOMEM)?,
            entries: KVec::with_capacity(files.len(), GFP_KERNEL)?,
            ctx,
        };
        for f in files {
            let entry = KBox::new(
                Entry {
                    ctx: core::ptr::from_ref::<T>(&*dir.ctx).cast(),
                    id: f.id,
                    show: show_thunk::<T>,
                    store: store_thunk::<T>,
                },
                GFP_KERNEL,
            )?;
            let data = core::ptr::from_ref::<Entry>(&*entry)
                .cast_mut()
                .cast::<c_void>();
            dir.entries.push(entry, GFP_KERNEL)?;
            // SAFETY: The directory is live; `data` points into `dir.entries`, which lives
            // until the directory is removed (on error, by `dir`'s drop).
            let ret = unsafe {
                ffi::vt_debugfs_file(dir.dentry.as_ptr(), f.name.as_char_ptr(), f.mode, data)
            };
            if ret != 0 {
                return Err(Error::from_errno(ret));
            }
        }
        Ok(dir)
    }
}

impl<T: Control> Drop for Dir<T> {
    fn drop(&mut self) {
        // SAFETY: The directory is live; `debugfs_remove` returns only once no file operation
        // runs, so `entries` and `ctx` may go after this.
        unsafe { ffi::vt_debugfs_remove(self.dentry.as_ptr()) };
    }
}

/// Read of a control file (called by `support_shim.c`).
///
/// # Safety
///
/// `data` must be the private data `Dir::new` gave the file, `m` its seq_file, during a read.
#[no_mangle]
unsafe extern "C" fn vt_debugfs_rust_show(data: *mut c_void, m: *mut c_void) -> c_int {
    // SAFETY: `data` is an `Entry` of a live `Dir` (files are removed before entries go).
    let entry = unsafe { &*data.cast::<Entry>() };
    let mut out = Text { buf: KVec::new() };
    // SAFETY: `entry.ctx` is the directory's live context, as `show` requires.
    if let Err(e) = unsafe { (entry.show)(entry.ctx, entry.id, &mut out) } {
        return e.to_errno();
    }
    // SAFETY: `m` is the read's seq_file; `out.buf` is valid for its length. An overflow is
    // handled by the seq_file core (it calls the read again with a larger buffer).
    unsafe { ffi::vt_seq_put(m, out.buf.as_ptr().cast(), out.buf.len()) };
    0
}

/// Write to a control file (called by `support_shim.c`).
///
/// # Safety
///
/// `data` must be the private data `Dir::new` gave the file; `buf` must hold `len` bytes.
#[no_mangle]
unsafe extern "C" fn vt_debugfs_rust_store(
    data: *mut c_void,
    buf: *const c_char,
    len: usize,
) -> c_int {
    // SAFETY: `data` is an `Entry` of a live `Dir`.
    let entry = unsafe { &*data.cast::<Entry>() };
    // SAFETY: The caller guarantees `buf` holds `len` bytes.
    let bytes = unsafe { core::slice::from_raw_parts(buf.cast::<u8>(), len) };
    let Ok(text) = core::str::from_utf8(bytes) else {
        pr_err!("control file write is not UTF-8 text\n");
        return EINVAL.to_errno();
    };
    // SAFETY: `entry.ctx` is the directory's live context, as `store` requires.
    match unsafe { (entry.store)(entry.ctx, entry.id, text.trim()) } {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// Parses a number, decimal or `0x` hexadecimal.
pub(crate) fn parse_u64(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Parses a 32-bit number, decimal or `0x` hexadecimal.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    parse_u64(s).and_then(|v| u32::try_from(v).ok())
}

/// Parses `on`/`off` (or `1`/`0`).
pub(crate) fn parse_on_off(s: &str) -> Option<bool> {
    match s {
        "on" | "1" => Some(true),
        "off" | "0" => Some(false),
        _ => None,
    }
}

/// `on` or `off`.
pub(crate) fn on_off(v: bool) -> &'static str {
    if v {
        "on"
    } else {
        "off"
    }
}
