//! Helpers for unit tests: a temporary directory holding a fake `/dev` and `/sys` tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A directory under the system temp dir, removed with everything in it on drop.
pub struct TempDir {
    path: PathBuf,
}

impl TempDir {
    /// A new, empty directory whose name starts with `prefix`.
    pub fn new(prefix: &str) -> TempDir {
        static N: AtomicUsize = AtomicUsize::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("vcsm-tool-{prefix}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&path);
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir { path }
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Write `content` to `rel` (creating parent directories).
    pub fn write(&self, rel: &str, content: &str) {
        let p = self.path.join(rel);
        fs::create_dir_all(p.parent().expect("file has a parent")).expect("mkdir");
        fs::write(&p, content).expect("write");
    }

    /// Create directory `rel`.
    pub fn mkdir(&self, rel: &str) {
        fs::create_dir_all(self.path.join(rel)).expect("mkdir");
    }

    /// Create a symlink at `rel` pointing to `target`.
    pub fn symlink(&self, target: &str, rel: &str) {
        let p = self.path.join(rel);
        fs::create_dir_all(p.parent().expect("link has a parent")).expect("mkdir");
        std::os::unix::fs::symlink(target, p).expect("symlink");
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
    }
}
