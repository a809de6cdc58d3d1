//! `/dev/vcsm-cma`: the MMAL-era userspace ABI of vc-sm-cma (`linux/vc_sm_cma_ioctl.h`, mirrored
//! by the `vcsm-uapi` crate).

use std::io;
use std::os::fd::BorrowedFd;
use std::path::{Path, PathBuf};

use crate::error::{op_error, open_error, Error, Op, Result};
use crate::paths::{Paths, VCSM_MODULE};

/// An open `/dev/vcsm-cma`.
#[derive(Debug)]
pub struct Vcsm {
    dev: dmabuf::vcsm::Vcsm,
    path: PathBuf,
}

/// A buffer shared with the VPU (imported or allocated) and what the driver reported: the
/// guest tests' type too.
pub use dmabuf::vcsm::VcsmBuf;

/// Why `/dev/vcsm-cma` is missing, as precisely as the system tells.
fn why_missing(paths: &Paths) -> String {
    if paths.module_loaded(VCSM_MODULE) {
        "vc-sm-cma.ko is loaded, but the device appears only once the driver has connected to \
         the VPU over VCHIQ: see dmesg | grep vc_sm_cma"
            .to_owned()
    } else {
        "is vc-sm-cma.ko loaded? (modprobe vc_sm_cma; it binds to the vchiq device \"vcsm-cma\")".to_owned()
    }
}

impl Vcsm {
    /// Open `/dev/vcsm-cma` read-write. A missing node is an [`Error::missing`] ("no
    /// /dev/vcsm-cma: is vc-sm-cma.ko loaded?").
    pub fn open(paths: &Paths) -> Result<Vcsm> {
        let path = paths.vcsm_dev();
        Vcsm::open_path(&path).map_err(|e| match e.raw_os_error() {
            Some(libc::ENOENT) => Error::missing(format!("no {}: {}", path.display(), why_missing(paths))),
            _ => open_error(
                &path.display().to_string(),
                &e,
                &why_missing(paths),
                "add the user to group video (udev/99-vcsm.rules) or run as root",
            ),
        })
    }

    fn open_path(path: &Path) -> io::Result<Vcsm> {
        Ok(Vcsm { dev: dmabuf::vcsm::Vcsm::open(path)?, path: path.to_owned() })
    }

    /// The device path, for messages.
    pub fn path(&self) -> String {
        self.path.display().to_string()
    }

    /// An ioctl error: the errno worded for `op`, or (no errno) the driver's broken answer.
    fn ioctl_error(&self, op: Op, e: &io::Error) -> Error {
        match e.raw_os_error() {
            Some(_) => op_error(&self.path(), op, e),
            None => Error::failed(format!("{}: {e}", self.path())),
        }
    }

    /// `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF`: share the (physically contiguous) dma-buf `src`
    /// with the VPU.
    /// The result's `buf` is the wrapper of `src`: closing it tells the VPU to let go.
    pub fn import(&self, src: BorrowedFd<'_>) -> Result<VcsmBuf> {
        self.dev.import(src, b"vcsm-tool").map_err(|e| self.ioctl_error(Op::VcsmImport, &e))
    }

    /// `VC_SM_CMA_IOCTL_MEM_ALLOC`: a new contiguous buffer of `size` bytes (rounded up to
    /// pages), shared with the VPU, named `name` (at most 31 bytes are kept).
    pub fn alloc(&self, size: u32, name: &str) -> Result<VcsmBuf> {
        self.dev.alloc(size, name.as_bytes()).map_err(|e| self.ioctl_error(Op::VcsmAlloc, &e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::TempDir;
    use std::mem::{offset_of, size_of};
    use std::os::fd::AsFd;
    use vcsm_uapi::{
        VcSmCmaIoctlAlloc, VcSmCmaIoctlImportDmabuf, VC_SM_CMA_IOCTL_MEM_ALLOC,
        VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF,
    };

    #[test]
    fn uapi_layouts_are_the_drivers() {
        // The numbers and layouts drivers/vc-sm-cma/ioctl.rs accepts (and downstream uses).
        assert_eq!(VC_SM_CMA_IOCTL_MEM_ALLOC, 0x8040_4a5a);
        assert_eq!(VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF, 0x8040_4a5b);
        assert_eq!(size_of::<VcSmCmaIoctlAlloc>(), 64);
        assert_eq!(offset_of!(VcSmCmaIoctlAlloc, handle), 48);
        assert_eq!(offset_of!(VcSmCmaIoctlAlloc, vc_handle), 52);
        assert_eq!(offset_of!(VcSmCmaIoctlAlloc, dma_addr), 56);
        assert_eq!(size_of::<VcSmCmaIoctlImportDmabuf>(), 64);
        assert_eq!(offset_of!(VcSmCmaIoctlImportDmabuf, handle), 40);
        assert_eq!(offset_of!(VcSmCmaIoctlImportDmabuf, vc_handle), 44);
        assert_eq!(offset_of!(VcSmCmaIoctlImportDmabuf, size), 48);
        assert_eq!(offset_of!(VcSmCmaIoctlImportDmabuf, dma_addr), 56);
        // What vcsm-tool sends.
        let a = VcSmCmaIoctlAlloc::new(4096, b"vcsm-tool");
        assert_eq!((a.size, a.num, a.cached), (4096, 1, 0));
        assert_eq!(&a.name[..10], b"vcsm-tool\0");
        let i = VcSmCmaIoctlImportDmabuf::new(7, b"vcsm-tool");
        assert_eq!((i.dmabuf_fd, i.handle), (7, 0));
    }

    #[test]
    fn missing_device_says_what_to_load() {
        let t = TempDir::new("vcsm-missing");
        let paths = Paths::new(t.path());
        let e = Vcsm::open(&paths).unwrap_err();
        assert_eq!(e.exit_code(), 3);
        let m = e.to_string();
        assert!(m.starts_with("no ") && m.contains("dev/vcsm-cma: is vc-sm-cma.ko loaded?"), "{m}");

        // The module is loaded but the node is not there: not connected yet.
        t.mkdir("sys/module/vc_sm_cma");
        let m = Vcsm::open(&paths).unwrap_err().to_string();
        assert!(m.contains("connected to the VPU"), "{m}");
    }

    #[test]
    fn a_non_device_rejects_the_ioctls_with_enotty() {
        // A regular file stands in for the node: the ioctls fail, and the errors name the
        // file, the ioctl and the errno.
        let t = TempDir::new("vcsm-file");
        t.write("dev/vcsm-cma", "");
        let paths = Paths::new(t.path());
        let dev = Vcsm::open(&paths).unwrap();
        let stdin = std::io::stdin();
        let e = dev.import(stdin.as_fd()).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("dev/vcsm-cma: VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF failed: ENOTTY"), "{m}");
        assert_eq!(e.exit_code(), 3);
        let m = dev.alloc(4096, "x").unwrap_err().to_string();
        assert!(m.contains("VC_SM_CMA_IOCTL_MEM_ALLOC failed: ENOTTY"), "{m}");
    }
}
