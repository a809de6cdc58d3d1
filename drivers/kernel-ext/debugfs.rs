// SPDX-License-Identifier: GPL-2.0

//! debugfs directories and `seq_file` files whose contents a Rust object writes ([`Show`]),
//! and that may take writes as well ([`Store`]).
//!
//! As for [`miscdev`](super::miscdev), the `file_operations` are a `static` of the driver crate
//! so that open files pin the module: `static FOPS: ShowFops = ShowFops::new::<T>(this_module!())`
//! (or [`StoreFops`] for a writable file).

use super::{bindings as ext, compat, miscdev::Owner};
use core::{
    ffi::{c_char, c_int, c_void},
    fmt,
    ptr::NonNull,
};
use kernel::{bindings, error::from_err_ptr, prelude::*, str::CStr, sync::Arc, uaccess::UserSlice};

/// The longest write a [`Store`] file accepts, in bytes (commands are a few words).
pub(crate) const MAX_WRITE: usize = 256;

/// Writes the contents of a debugfs file.
pub(crate) trait Show: Send + Sync + 'static {
    /// Writes the whole file to `m`; may be called again (with a bigger buffer) if it did not
    /// fit.
    fn show(&self, m: &mut SeqFile<'_>) -> Result;
}

/// Handles writes to a debugfs file that reads like a [`Show`] one.
pub(crate) trait Store: Show {
    /// Handles a write of `input` (the written text, surrounding whitespace removed).
    ///
    /// Bad input must be logged (what was wrong) and answered with `EINVAL`.
    fn store(&self, input: &str) -> Result;
}

/// A `seq_file` being filled; write to it with `write!`/`writeln!` or [`SeqFile::fmt`].
pub(crate) struct SeqFile<'a> {
    m: NonNull<ext::seq_file>,
    _p: core::marker::PhantomData<&'a mut ext::seq_file>,
}

impl fmt::Write for SeqFile<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `m` is the live `seq_file` of the running `show`. An overflow is recorded in
        // the `seq_file` itself, which calls `show` again with a bigger buffer, so the result
        // is not needed here.
        unsafe { ext::seq_write(self.m.as_ptr(), s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

impl SeqFile<'_> {
    /// Appends formatted text, e.g. `m.fmt(format_args!("x {}\n", x))?`.
    pub(crate) fn fmt(&mut self, args: fmt::Arguments<'_>) -> Result {
        fmt::Write::write_fmt(self, args).map_err(|_| ENOMEM)
    }
}

/// The `file_operations` of a [`Show`] file.
#[repr(transparent)]
pub(crate) struct ShowFops(bindings::file_operations);

// SAFETY: The table is immutable; its raw pointers (the owner module) are only read by the VFS.
unsafe impl Sync for ShowFops {}

impl ShowFops {
    /// The table for `T`; open files pin `owner` (pass `miscdev::this_module!()`).
    pub(crate) const fn new<T: Show>(owner: Owner) -> Self {
        Self(bindings::file_operations {
            owner: owner.as_ptr(),
            open: Some(open_cb::<T>),
            read: Some(ext::seq_read),
            llseek: Some(ext::seq_lseek),
            release: Some(ext::single_release),
            // SAFETY: All-zeroes is a valid `file_operations` (NULL callbacks and flags).
            ..unsafe { core::mem::zeroed() }
        })
    }
}

/// The `file_operations` of a [`Store`] file: read as a [`Show`] file, written through
/// [`Store::store`].
#[repr(transparent)]
pub(crate) struct StoreFops(bindings::file_operations);

// SAFETY: As for `ShowFops`.
unsafe impl Sync for StoreFops {}

impl StoreFops {
    /// The table for `T`; open files pin `owner` (pass `miscdev::this_module!()`).
    pub(crate) const fn new<T: Store>(owner: Owner) -> Self {
        Self(bindings::file_operations {
            owner: owner.as_ptr(),
            open: Some(open_cb::<T>),
            read: Some(ext::seq_read),
            write: Some(write_cb::<T>),
            llseek: Some(ext::seq_lseek),
            release: Some(ext::single_release),
            // SAFETY: All-zeroes is a valid `file_operations` (NULL callbacks and flags).
            ..unsafe { core::mem::zeroed() }
        })
    }
}

/// # Safety
///
/// Only called by the VFS on a file opened by `open_cb::<T>` (so its private data is the
/// `seq_file` of `single_open`, whose private data is a live `T`), with `buf` a user address of
/// `count` bytes.
unsafe extern "C" fn write_cb<T: Store>(
    file: *mut bindings::file,
    buf: *const c_char,
    count: usize,
    _ppos: *mut bindings::loff_t,
) -> isize {
    let mut bytes = [0u8; MAX_WRITE];
    let Some(dst) = bytes.get_mut(..count) else {
        crate::kext::ratelimit::pr_limited!(
            pr_err,
            "debugfs: a write of {} bytes, at most {} accepted\n",
            count,
            MAX_WRITE
        );
        return EINVAL.to_errno() as isize;
    };
    if let Err(e) = UserSlice::new(compat::user_ptr(buf as usize), count)
        .reader()
        .read_slice(dst)
    {
        return e.to_errno() as isize;
    }
    // SAFETY: `file` is open; `single_open` made its private data the `seq_file`, whose
    // private data is the `T` given to `Dir::store_file`, alive while the file exists.
    let this = unsafe {
        let m = (*file).private_data.cast::<ext::seq_file>();
        &*ext::kext_seq_private(m).cast::<T>()
    };
    let Ok(text) = core::str::from_utf8(dst) else {
        crate::kext::ratelimit::pr_limited!(pr_err, "debugfs: a write that is not UTF-8 text\n");
        return EINVAL.to_errno() as isize;
    };
    match this.store(text.trim()) {
        Ok(()) => count as isize,
        Err(e) => e.to_errno() as isize,
    }
}

/// # Safety
///
/// Only called by the VFS (through the debugfs proxy) on a file created by
/// [`Dir::show_file::<T>`] or [`Dir::store_file::<T>`], whose `i_private` is a live `T`.
unsafe extern "C" fn open_cb<T: Show>(
    inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: `inode` and `file` are valid; `single_open` stores `i_private` in the
    // `seq_file` for `show_cb`.
    unsafe { ext::single_open(file.cast(), Some(show_cb::<T>), (*inode).i_private) }
}

/// # Safety
///
/// Only called by `seq_read` on a file opened by `open_cb::<T>`.
unsafe extern "C" fn show_cb<T: Show>(m: *mut ext::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: `m` is valid; its private data is the `T` given to `Dir::show_file`, which
    // outlives the file (debugfs blocks reads once the file is removed, before `T` is freed).
    let this = unsafe { &*ext::kext_seq_private(m).cast::<T>() };
    let Some(m) = NonNull::new(m) else {
        return EINVAL.to_errno();
    };
    let mut seq = SeqFile {
        m,
        _p: core::marker::PhantomData,
    };
    match this.show(&mut seq) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// A debugfs directory entry; removed (with anything left in it) when the last reference goes.
///
/// # Invariants
///
/// `dentry` was created by `debugfs_create_dir` and is not removed yet.
struct DirEntry {
    dentry: NonNull<bindings::dentry>,
}

// SAFETY: debugfs entries may be removed from any thread.
unsafe impl Send for DirEntry {}
// SAFETY: `&DirEntry` gives access to nothing but the pointer, used to create files, which
// debugfs serialises.
unsafe impl Sync for DirEntry {}

impl Drop for DirEntry {
    fn drop(&mut self) {
        // SAFETY: The directory is live by the type invariant; `debugfs_remove` removes it
        // recursively and waits for running file operations to finish.
        unsafe { ext::debugfs_remove(self.dentry.as_ptr().cast()) };
    }
}

/// A debugfs directory under the debugfs root.
///
/// It is removed once it and every [`ShowFile`] created in it are dropped, so a file is always
/// removed before its directory.
pub(crate) struct Dir {
    entry: Arc<DirEntry>,
}

impl Dir {
    /// Creates `/sys/kernel/debug/<name>`.
    pub(crate) fn new(name: &CStr) -> Result<Self> {
        // SAFETY: `name` is NUL-terminated; a NULL parent is the debugfs root.
        let dentry = from_err_ptr(unsafe {
            ext::debugfs_create_dir(name.as_char_ptr(), core::ptr::null_mut())
        })?;
        let dentry = NonNull::new(dentry.cast()).ok_or(ENOMEM)?;
        // INVARIANT: Created above. On allocation failure the new `DirEntry` is not built, so
        // the directory is removed here.
        match Arc::new(DirEntry { dentry }, GFP_KERNEL) {
            Ok(entry) => Ok(Self { entry }),
            Err(e) => {
                // SAFETY: Created above and not referenced anywhere else.
                unsafe { ext::debugfs_remove(dentry.as_ptr().cast()) };
                Err(e.into())
            }
        }
    }

    /// Creates a read-only file `name` in this directory whose contents `data` writes.
    pub(crate) fn show_file<T: Show>(
        &self,
        name: &CStr,
        data: Arc<T>,
        fops: &'static ShowFops,
    ) -> Result<ShowFile<T>> {
        // SAFETY: `fops` is `ShowFops::new::<T>`'s table.
        unsafe { self.create_file(name, 0o444, data, &fops.0) }
    }

    /// Creates file `name` (permissions `mode`) in this directory: `data` writes its contents
    /// and handles writes to it.
    pub(crate) fn store_file<T: Store>(
        &self,
        name: &CStr,
        mode: u16,
        data: Arc<T>,
        fops: &'static StoreFops,
    ) -> Result<ShowFile<T>> {
        // SAFETY: `fops` is `StoreFops::new::<T>`'s table.
        unsafe { self.create_file(name, mode, data, &fops.0) }
    }

    /// # Safety
    ///
    /// `fops` is a table whose callbacks take the file's private data for a `T`.
    unsafe fn create_file<T: Show>(
        &self,
        name: &CStr,
        mode: u16,
        data: Arc<T>,
        fops: &'static bindings::file_operations,
    ) -> Result<ShowFile<T>> {
        // SAFETY: The directory is live; `name` is NUL-terminated; `fops` is static and made
        // for `T` (guaranteed by the caller); `data` is kept alive by the returned `ShowFile`
        // until the file is removed.
        let dentry = from_err_ptr(unsafe {
            ext::kext_debugfs_create_file(
                name.as_char_ptr(),
                mode,
                self.entry.dentry.as_ptr().cast(),
                core::ptr::from_ref::<T>(&*data).cast_mut().cast(),
                fops,
            )
        })?;
        // INVARIANT: The file was created with `data` as its private data.
        Ok(ShowFile {
            dentry: NonNull::new(dentry.cast()).ok_or(ENOMEM)?,
            _data: data,
            _dir: self.entry.clone(),
        })
    }
}

/// A file created by [`Dir::show_file`] or [`Dir::store_file`]; removed on drop, before its
/// data is released and before its directory.
///
/// # Invariants
///
/// `dentry` is a live debugfs file in `_dir` whose private data is `_data`.
pub(crate) struct ShowFile<T: Show> {
    dentry: NonNull<bindings::dentry>,
    _data: Arc<T>,
    _dir: Arc<DirEntry>,
}

// SAFETY: debugfs entries may be removed from any thread; `T` is `Send + Sync`.
unsafe impl<T: Show> Send for ShowFile<T> {}
// SAFETY: `&ShowFile` gives access to nothing.
unsafe impl<T: Show> Sync for ShowFile<T> {}

impl<T: Show> Drop for ShowFile<T> {
    fn drop(&mut self) {
        // SAFETY: The file is live by the type invariant (its directory is kept by `_dir`).
        // `debugfs_remove` waits for running reads and makes later ones fail, so `_data`
        // (dropped after this) is no longer used.
        unsafe { ext::debugfs_remove(self.dentry.as_ptr().cast()) };
    }
}
