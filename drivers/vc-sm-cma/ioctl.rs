// SPDX-License-Identifier: GPL-2.0

//! `/dev/vcsm-cma`: the downstream userspace ABI (`linux/vc_sm_cma_ioctl.h`).
//!
//! The full command value is checked (not only `_IOC_NR`); the whole 64-byte argument is read
//! at once and written back at once. The new dma-buf fd is reserved, the result copied to
//! userspace, and only then is the dma-buf installed in the fd, so a failed copy leaves no fd
//! behind; dropping the unused wrapper then frees the VPU handle.

use crate::kext::{compat::AsBytes, plain_data::kext_impl_plain_data};
use crate::{
    buffer::{source_from_fd, Shared},
    kext::{
        bindings as ext,
        fd::FdReservation,
        miscdev::{self, this_module, FileOps, MiscDevice},
        ratelimit::pr_limited,
        task,
    },
    vcsm::Vcsm,
    NAME,
};
use kernel::{bindings, ioctl::_IOR, prelude::*, sync::Arc, uaccess::UserSlice};

/// `struct vc_sm_cma_ioctl_alloc` (64 bytes), generated from `uapi/linux/vc_sm_cma_ioctl.h`.
type AllocArgs = ext::vc_sm_cma_ioctl_alloc;

/// `struct vc_sm_cma_ioctl_import_dmabuf` (64 bytes), generated from the same header.
type ImportArgs = ext::vc_sm_cma_ioctl_import_dmabuf;

// The downstream ABI, which the header must keep: sizes, the offsets of the output fields.

const _: () = assert!(core::mem::size_of::<AllocArgs>() == 64);
const _: () = assert!(core::mem::offset_of!(AllocArgs, handle) == 48);
const _: () = assert!(core::mem::offset_of!(AllocArgs, dma_addr) == 56);
const _: () = assert!(core::mem::size_of::<ImportArgs>() == 64);
const _: () = assert!(core::mem::offset_of!(ImportArgs, handle) == 40);
const _: () = assert!(core::mem::offset_of!(ImportArgs, dma_addr) == 56);

kext_impl_plain_data!(AllocArgs {
    size,
    num,
    cached,
    pad,
    name,
    handle,
    vc_handle,
    dma_addr
});
kext_impl_plain_data!(ImportArgs {
    dmabuf_fd,
    cached,
    name,
    handle,
    vc_handle,
    size,
    pad,
    dma_addr
});

/// `VC_SM_CMA_IOCTL_MEM_ALLOC`, 0x80404A5A.
const MEM_ALLOC: u32 = _IOR::<AllocArgs>(b'J' as u32, 0x5a);
/// `VC_SM_CMA_IOCTL_MEM_IMPORT_DMABUF`, 0x80404A5B.
const MEM_IMPORT_DMABUF: u32 = _IOR::<ImportArgs>(b'J' as u32, 0x5b);
/// `VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2`, 0x80084A5C (8-byte header).
const MEM_CLEAN_INVALID2: u32 = _IOR::<[u32; 2]>(b'J' as u32, 0x5c);
/// The 32-bit compat spelling of it, 0x80044A5C.
const MEM_CLEAN_INVALID2_COMPAT: u32 = _IOR::<u32>(b'J' as u32, 0x5c);

const _: () = assert!(MEM_ALLOC == 0x8040_4a5a);
const _: () = assert!(MEM_IMPORT_DMABUF == 0x8040_4a5b);
const _: () = assert!(MEM_CLEAN_INVALID2 == 0x8008_4a5c);
const _: () = assert!(MEM_CLEAN_INVALID2_COMPAT == 0x8004_4a5c);

/// The misc device.
pub(crate) struct VcsmMisc;

/// An open `/dev/vcsm-cma`.
pub(crate) struct OpenFile {
    vcsm: Arc<Vcsm>,
}

static FOPS: FileOps = FileOps::new::<VcsmMisc>(this_module!());

/// Registers `/dev/vcsm-cma` (mode 0660) for `vcsm`.
pub(crate) fn register(vcsm: Arc<Vcsm>) -> Result<miscdev::Registration<VcsmMisc>> {
    miscdev::Registration::new(NAME, 0o660, &FOPS, vcsm)
        .inspect_err(|e| pr_err!("cannot register /dev/{}: {:?}\n", NAME, e))
}

impl MiscDevice for VcsmMisc {
    type Ctx = Arc<Vcsm>;
    type Data = OpenFile;

    fn open(ctx: &Arc<Vcsm>) -> Result<KBox<OpenFile>> {
        Ok(KBox::new(OpenFile { vcsm: ctx.clone() }, GFP_KERNEL)?)
    }

    fn ioctl(file: &OpenFile, cmd: u32, arg: usize) -> Result<isize> {
        match cmd {
            MEM_ALLOC => mem_alloc(&file.vcsm, arg),
            MEM_IMPORT_DMABUF => mem_import(&file.vcsm, arg),
            MEM_CLEAN_INVALID2 | MEM_CLEAN_INVALID2_COMPAT => {
                pr_limited!(
                    pr_warn,
                    "VC_SM_CMA_IOCTL_MEM_CLEAN_INVALID2 is not supported: use DMA_BUF_IOCTL_SYNC on the dma-buf fd\n"
                );
                Err(EINVAL)
            }
            _ => Err(ENOTTY),
        }
    }
}

/// Reserves an fd, writes `args` back to userspace and installs the wrapper: in that order,
/// so that no fd exists if the copy fails (the wrapper is then dropped: FREE).
fn finish<T: AsBytes>(
    writer: kernel::uaccess::UserSliceWriter,
    shared: Shared,
    args: &mut T,
    set_fd: impl FnOnce(&mut T, i32),
) -> Result<isize> {
    let fd = FdReservation::new(bindings::O_CLOEXEC)?;
    set_fd(args, fd.fd());
    let mut writer = writer;
    writer.write(args)?;
    fd.install(shared.wrapper);
    Ok(0)
}

fn mem_import(vcsm: &Arc<Vcsm>, arg: usize) -> Result<isize> {
    let (mut reader, writer) = UserSlice::new(
        crate::kext::compat::user_ptr(arg),
        core::mem::size_of::<ImportArgs>(),
    )
    .reader_writer();
    let mut args: ImportArgs = reader.read()?;
    let src = source_from_fd(args.dmabuf_fd)?;
    let shared = vcsm.import_dmabuf(src, task::current_tgid(), true)?;
    args.vc_handle = shared.vc_handle;
    args.size = shared.buf.map_len;
    args.dma_addr = shared.buf.dma_addr;
    finish(writer, shared, &mut args, |a, fd| a.handle = fd)
}

fn mem_alloc(vcsm: &Arc<Vcsm>, arg: usize) -> Result<isize> {
    let (mut reader, writer) = UserSlice::new(
        crate::kext::compat::user_ptr(arg),
        core::mem::size_of::<AllocArgs>(),
    )
    .reader_writer();
    let mut args: AllocArgs = reader.read()?;
    let shared = vcsm.alloc_shared(args.size, &args.name, task::current_tgid())?;
    args.vc_handle = shared.vc_handle;
    args.dma_addr = shared.buf.dma_addr;
    finish(writer, shared, &mut args, |a, fd| a.handle = fd)
}
