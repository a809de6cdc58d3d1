//! Where the kernel interfaces live. Everything is looked up under a root directory, `/` for
//! real use; tests (and `$VCSM_TOOL_SYSROOT`) point it at a captured or fake tree.

use std::path::{Path, PathBuf};

/// The device nodes, debugfs and sysfs files vcsm-tool uses, under one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Paths {
    root: PathBuf,
}

/// The environment variable that moves every path under another root.
pub const SYSROOT_ENV: &str = "VCSM_TOOL_SYSROOT";
/// The device node of vc-sm-cma.
pub const VCSM_DEV: &str = "/dev/vcsm-cma";
/// The dma-heap device directory.
pub const HEAP_DIR: &str = "/dev/dma_heap";
/// debugfs.
pub const DEBUGFS: &str = "/sys/kernel/debug";
/// The driver's state file in debugfs.
pub const VCSM_STATE: &str = "/sys/kernel/debug/vcsm-cma/state";
/// The CMA areas in debugfs (CONFIG_CMA_DEBUGFS).
pub const CMA_DEBUGFS: &str = "/sys/kernel/debug/cma";
/// The module name of vc-sm-cma.ko (as in `/sys/module` and `lsmod`).
pub const VCSM_MODULE: &str = "vc_sm_cma";
/// The module name of vcsm-cma-heap.ko.
pub const HEAP_MODULE: &str = "vcsm_cma_heap";

impl Paths {
    /// Paths under `root`.
    pub fn new(root: impl Into<PathBuf>) -> Paths {
        Paths { root: root.into() }
    }

    /// The paths under `$VCSM_TOOL_SYSROOT` if it is set and not empty (for inspecting a
    /// captured tree, and for tests), else the running system's.
    pub fn from_env() -> Paths {
        match std::env::var_os(SYSROOT_ENV) {
            Some(root) if !root.is_empty() => Paths::new(root),
            _ => Paths::system(),
        }
    }

    /// The running system's paths.
    pub fn system() -> Paths {
        Paths::new("/")
    }

    /// `abs` (an absolute path such as `/dev/vcsm-cma`) under the root.
    pub fn join(&self, abs: &str) -> PathBuf {
        if self.root == Path::new("/") {
            PathBuf::from(abs)
        } else {
            self.root.join(abs.trim_start_matches('/'))
        }
    }

    /// `/dev/vcsm-cma`.
    pub fn vcsm_dev(&self) -> PathBuf {
        self.join(VCSM_DEV)
    }

    /// `/dev/dma_heap`.
    pub fn heap_dir(&self) -> PathBuf {
        self.join(HEAP_DIR)
    }

    /// `/dev/dma_heap/NAME`.
    pub fn heap(&self, name: &str) -> PathBuf {
        self.heap_dir().join(name)
    }

    /// `/sys/kernel/debug`.
    pub fn debugfs(&self) -> PathBuf {
        self.join(DEBUGFS)
    }

    /// `/sys/kernel/debug/vcsm-cma/state`.
    pub fn vcsm_state(&self) -> PathBuf {
        self.join(VCSM_STATE)
    }

    /// `/sys/kernel/debug/cma`.
    pub fn cma_debugfs(&self) -> PathBuf {
        self.join(CMA_DEBUGFS)
    }

    /// `/sys/module/NAME`: exists while module NAME is loaded (or built in).
    pub fn module(&self, name: &str) -> PathBuf {
        self.join("/sys/module").join(name)
    }

    /// Whether module `name` is loaded.
    pub fn module_loaded(&self, name: &str) -> bool {
        self.module(name).exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_paths_are_absolute() {
        let p = Paths::system();
        assert_eq!(p.vcsm_dev(), Path::new("/dev/vcsm-cma"));
        assert_eq!(p.heap("vcsm-cached"), Path::new("/dev/dma_heap/vcsm-cached"));
        assert_eq!(p.vcsm_state(), Path::new("/sys/kernel/debug/vcsm-cma/state"));
        assert_eq!(p.cma_debugfs(), Path::new("/sys/kernel/debug/cma"));
        assert_eq!(p.module("vc_sm_cma"), Path::new("/sys/module/vc_sm_cma"));
    }

    #[test]
    fn rooted_paths() {
        let p = Paths::new("/tmp/root");
        assert_eq!(p.vcsm_dev(), Path::new("/tmp/root/dev/vcsm-cma"));
        assert_eq!(p.heap_dir(), Path::new("/tmp/root/dev/dma_heap"));
        assert_eq!(p.debugfs(), Path::new("/tmp/root/sys/kernel/debug"));
        assert!(!p.module_loaded("surely_not_a_module"));
    }
}
