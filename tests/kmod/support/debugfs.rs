// SPDX-License-Identifier: GPL-2.0

//! Debugfs control files: every file of a [`Dir`] is read and written through one [`Control`]
//! object, with the file's id. Reads write text to the `seq_file` ([`SeqFile`]); writes get
//! the written text, trimmed. Built on kernel-ext's debugfs ([`crate::kext::debugfs`]), whose
//! [`Store`] files these are; removing the directory waits for running reads and writes.

pub(crate) use crate::kext::debugfs::SeqFile;
use crate::kext::debugfs::{self, Show, ShowFile, Store, StoreFops};
use kernel::{prelude::*, str::CStr, sync::Arc};

/// Serves the files of a [`Dir`].
pub(crate) trait Control: Send + Sync + 'static {
    /// Writes the contents of file `file` into `out`.
    fn show(&self, file: usize, out: &mut SeqFile<'_>) -> Result;

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

/// One file of a [`Dir`] as kernel-ext's debugfs sees it: the shared [`Control`] and the id.
///
/// Each module has the `file_operations` of its control files as a `static`:
/// `static FOPS: StoreFops = StoreFops::new::<FileOf<MyControl>>(this_module!());`.
pub(crate) struct FileOf<T: Control> {
    ctx: Arc<T>,
    id: usize,
}

impl<T: Control> Show for FileOf<T> {
    fn show(&self, m: &mut SeqFile<'_>) -> Result {
        self.ctx.show(self.id, m)
    }
}

impl<T: Control> Store for FileOf<T> {
    fn store(&self, input: &str) -> Result {
        self.ctx.store(self.id, input)
    }
}

/// A debugfs directory of control files, removed (after its files) on drop.
pub(crate) struct Dir<T: Control> {
    _files: KVec<ShowFile<FileOf<T>>>,
    _dir: debugfs::Dir,
}

impl<T: Control> Dir<T> {
    /// Creates top-level directory `name` with `files`, served by `ctx` through `fops`.
    pub(crate) fn new(
        name: &'static CStr,
        ctx: Arc<T>,
        files: &[File],
        fops: &'static StoreFops,
    ) -> Result<Self> {
        let dir = debugfs::Dir::new(name)?;
        let mut made = KVec::with_capacity(files.len(), GFP_KERNEL)?;
        for f in files {
            let file = Arc::new(
                FileOf {
                    ctx: ctx.clone(),
                    id: f.id,
                },
                GFP_KERNEL,
            )?;
            made.push(dir.store_file(f.name, f.mode, file, fops)?, GFP_KERNEL)?;
        }
        Ok(Self {
            _files: made,
            _dir: dir,
        })
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
