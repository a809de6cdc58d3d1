// SPDX-License-Identifier: GPL-2.0

//! debugfs `vcsm-cma/state`: every buffer the driver knows, the VPU's view of it, and totals.
//!
//! One line per buffer, `key=value` pairs, then summary lines:
//!
//! ```text
//! buffer id=1 origin=import name=sm-host-resource size=1048576 exporter=vcsm-uncached
//!        dma=0x... vpu_addr=0x... vc_handle=0x... vpu=mapped pid=123 wrapped=yes
//! buffers=1 bytes=1048576 mapped=1 unmapping=0 released=0 importing=0 wrapped=1
//! protocol=2 timeout_ms=3000
//! firmware present=no
//! vpu_window cpu_base=0x40000000 cpu_end=0x80000000 bus_base=0xc0000000 size=1073741824 source=dma-ranges refused_outside=0
//! transactions last_id=2 pending=0 abandoned=0 timeouts=0 interrupted=0 late_replies=0 ...
//! ```

use crate::{
    alloc::NameFmt,
    buffer::Vpu,
    kext::{
        debugfs::{Dir, SeqFile, Show, ShowFile, ShowFops},
        miscdev::this_module,
    },
    params,
    vcsm::Vcsm,
    NAME,
};
use core::{fmt::Write, sync::atomic::Ordering};
use kernel::{c_str, prelude::*, sync::Arc};

static FOPS: ShowFops = ShowFops::new::<Vcsm>(this_module!());

/// The debugfs directory and its files; removed on drop.
pub(crate) struct DebugFiles {
    // Dropped in order: the file, then (with the last reference) the directory.
    _state: ShowFile<Vcsm>,
    _dir: Dir,
}

impl DebugFiles {
    pub(crate) fn new(vcsm: Arc<Vcsm>) -> Result<Self> {
        let dir = Dir::new(NAME)?;
        let state = dir.show_file(c_str!("state"), vcsm, &FOPS)?;
        Ok(Self {
            _state: state,
            _dir: dir,
        })
    }
}

impl Show for Vcsm {
    fn show(&self, m: &mut SeqFile<'_>) -> Result {
        let (
            mut count,
            mut bytes,
            mut mapped,
            mut unmapping,
            mut released,
            mut importing,
            mut wrapped,
        ) = (0usize, 0usize, 0u32, 0u32, 0u32, 0u32, 0u32);
        let (pinned, per_process) = {
            let reg = self.bufs.lock();
            for (id, e) in reg.by_id.iter() {
                let b = &e.buf;
                let exporter = crate::smem::name_from_bytes(&b.exporter);
                let _ = writeln!(
                    m,
                    "buffer id={} origin={} name={} size={} exporter={} dma={:#x} vpu_addr={:#x} vc_handle={:#x} vpu={} pid={} wrapped={}",
                    id,
                    b.origin.as_str(),
                    NameFmt(&b.name),
                    b.size,
                    NameFmt(&exporter),
                    b.dma_addr,
                    b.vpu_addr,
                    e.handle(),
                    e.vpu.as_str(),
                    b.pid,
                    if e.wrapped() { "yes" } else { "no" }
                );
                count += 1;
                bytes += b.size;
                match e.vpu {
                    Vpu::Importing => importing += 1,
                    Vpu::Mapped(_) => mapped += 1,
                    Vpu::Unmapping(_) => unmapping += 1,
                    Vpu::Released => released += 1,
                }
                if e.wrapped() {
                    wrapped += 1;
                }
            }
            (reg.pinned(0).total, reg.pinned_by_process())
        };
        let _ = writeln!(
            m,
            "buffers={} bytes={} mapped={} unmapping={} released={} importing={} wrapped={}",
            count, bytes, mapped, unmapping, released, importing, wrapped
        );
        let _ = writeln!(
            m,
            "phase={:?} protocol={} timeout_ms={}",
            self.phase(),
            if self.protocol_v2.load(Ordering::Acquire) {
                2
            } else {
                1
            },
            params::timeout_ms()
        );
        let s = &self.stats;
        let _ = writeln!(
            m,
            "pins pinned={} cap_process={} cap_total={} refused={} cma_fallbacks={}",
            pinned,
            params::pin_cap_process(),
            params::pin_cap_total(),
            s.pin_refused.load(Ordering::Relaxed),
            s.cma_fallbacks.load(Ordering::Relaxed),
        );
        if let Ok(per_process) = per_process {
            for (pid, b) in per_process.iter() {
                let _ = writeln!(m, "pin tgid={} pin_bytes={}", pid, b);
            }
        }
        let (cma_base, cma_size) = self.cma.unwrap_or((0, 0));
        let (sources, users, mapped_total, shared_total) = self.maps.stats();
        let _ = writeln!(
            m,
            "memory cma_base={:#x} cma_size={} vpu_mappings={} vpu_mapping_users={} vpu_mappings_made={} vpu_mappings_shared={}",
            cma_base, cma_size, sources, users, mapped_total, shared_total
        );
        let _ = self.firmware.write_line(m);
        let _ = writeln!(
            m,
            "vpu_window {} refused_outside={}",
            self.window,
            s.window_refused.load(Ordering::Relaxed)
        );
        let (pending, abandoned, last_id) = self.trans.lock().counts();
        let _ = writeln!(
            m,
            "transactions last_id={} pending={} abandoned={} timeouts={} interrupted={} late_replies={} unexpected_replies={} bad_messages={} released_unknown={} mem_requests={} mem_request_failures={} free_failures={}",
            last_id,
            pending,
            abandoned,
            s.timeouts.load(Ordering::Relaxed),
            s.interrupted.load(Ordering::Relaxed),
            s.late_replies.load(Ordering::Relaxed),
            s.unexpected_replies.load(Ordering::Relaxed),
            s.bad_messages.load(Ordering::Relaxed),
            s.released_unknown.load(Ordering::Relaxed),
            s.mem_requests.load(Ordering::Relaxed),
            s.mem_request_failures.load(Ordering::Relaxed),
            s.free_failures.load(Ordering::Relaxed),
        );
        Ok(())
    }
}
