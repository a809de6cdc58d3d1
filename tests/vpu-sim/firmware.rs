// SPDX-License-Identifier: GPL-2.0

//! The VideoCore firmware's SMEM service, as far as the host can observe it.
//!
//! - IMPORT: a bus address in the uncached alias (0xC0000000) of RAM, page aligned, with a
//!   non-zero page-aligned size, gets a fresh non-zero handle; anything else gets handle 0.
//! - Every handle counts references: the importer's (dropped by FREE) and "VPU" references
//!   (taken and dropped from debugfs, or while the simulated VPU DMA runs). When the last goes,
//!   RELEASED `{addr, size, kernel_id, vc_handle}` is sent asynchronously, after
//!   `release_delay_ms`, to a host that announced protocol 2.
//! - CLIENT_VERSION 2 is acknowledged by the asynchronous CLIENT_VERSION message.
//! - VC_MEM_REQUEST is sent on request (debugfs) and its reply checked: the address must be
//!   memory the host allocated for that request (see [`Firmware::mem_request_reply`]).
//! - `protocol 1` firmware sends no CLIENT_VERSION acknowledgement and no RELEASED (and cannot
//!   request memory).
//!
//! All encoding and decoding is `smem.rs`. This module is plain state, used under the
//! simulator's lock; messages go out through [`Post`].

use crate::{
    smem::{self, HostBody, HostMsg, Import, VcMemRequest, VcMemRequestReply, VpuMsg},
    support::debugfs::{on_off, SeqFile},
    vpu_mem,
};
use core::fmt;
use kernel::{bindings, prelude::*, rbtree::RBTree};

/// The C side (`vpu_sim_shim.h`).
mod shim {
    extern "C" {
        pub(super) fn vpu_sim_log_ratelimit() -> bool;
    }
}

/// Whether a log line about a bad host reply may be printed now.
fn log_ratelimit() -> bool {
    // SAFETY: No preconditions; the C side keeps its own rate-limit state.
    unsafe { shim::vpu_sim_log_ratelimit() }
}

/// Bits 31:30 of a bus address: the VPU cache alias. 0b11 is "direct, uncached".
pub(crate) const ALIAS_MASK: u32 = 0xc000_0000;
/// The uncached alias every buffer shared with the host must use.
pub(crate) const ALIAS_UNCACHED: u32 = 0xc000_0000;
/// The first handle the simulated firmware gives out.
const FIRST_HANDLE: u32 = 0x0000_1001;
const PAGE_SIZE: u32 = bindings::PAGE_SIZE as u32;

/// Where the firmware's messages go (the simulator's outbox).
pub(crate) trait Post {
    /// Queues `msg` for `service`, to be delivered after `delay_ms`. `reply` marks answers to
    /// host requests (subject to `reorder` and `duplicate`).
    fn post(&mut self, service: u32, msg: &VpuMsg, delay_ms: u32, reply: bool) -> Result;
}

/// Knobs set from debugfs.
pub(crate) struct Settings {
    /// Delay before each reply (and the CLIENT_VERSION acknowledgement) is delivered.
    pub(crate) reply_delay_ms: u32,
    /// Delay between the last reference going and RELEASED being delivered.
    pub(crate) release_delay_ms: u32,
    /// Deliver pending replies newest first.
    pub(crate) reorder: bool,
    /// Deliver every reply twice.
    pub(crate) duplicate: bool,
    /// Fail the sending (`vchiq_queue_kernel_message`) of the next N IMPORTs.
    pub(crate) fail_next: u32,
    /// Answer the next N (otherwise valid) IMPORTs with handle 0.
    pub(crate) zero_handle_next: u32,
    /// Deliver nothing until switched off.
    pub(crate) hang: bool,
    /// Firmware protocol: 2 (RELEASED, VC_MEM_REQUEST) or 1 (neither).
    pub(crate) protocol: u32,
}

/// A live VPU memory handle.
struct Handle {
    addr: u32,
    /// Where `addr` is in the host's physical memory (through the VPU's dma-ranges).
    phys: u64,
    size: u32,
    kernel_id: u32,
    name: [u8; smem::NAME_LEN],
    /// The importer's reference (IMPORT; dropped by FREE). VPU-requested memory has none.
    importer: bool,
    /// References the VPU holds.
    vpu_refs: u32,
    /// Allocated by the host for a VC_MEM_REQUEST.
    vpu_allocated: bool,
    /// The service RELEASED goes to.
    service: u32,
}

impl Handle {
    fn refs(&self) -> u32 {
        self.vpu_refs + u32::from(self.importer)
    }
}

/// A VC_MEM_REQUEST waiting for its reply.
struct MemRequest {
    size: u32,
    align: u32,
    vc_handle: u32,
    service: u32,
    name: [u8; smem::NAME_LEN],
}

/// Message counters (host to VPU: `rx_*`; VPU to host: `tx_*`) and error counts.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) rx_import: u64,
    pub(crate) rx_free: u64,
    pub(crate) rx_client_version: u64,
    pub(crate) rx_mem_request_reply: u64,
    pub(crate) rx_invalid: u64,
    pub(crate) tx_import_reply: u64,
    pub(crate) tx_client_version_ack: u64,
    pub(crate) tx_released: u64,
    pub(crate) tx_mem_request: u64,
    pub(crate) tx_duplicate: u64,
    pub(crate) import_rejected: u64,
    pub(crate) import_zero_handle: u64,
    pub(crate) send_failed: u64,
    pub(crate) free_invalid: u64,
    pub(crate) released_silently: u64,
    pub(crate) mem_request_reply_invalid: u64,
    /// VC_MEM_REQUEST_REPLYs refused because the address is not memory the host allocated
    /// for the request.
    pub(crate) mem_request_bad_addr: u64,
    /// Misuse of the VCHIQ API by a client (bad handles, double releases, ...).
    pub(crate) client_errors: u64,
}

/// Why a VC_MEM_REQUEST_REPLY is refused: a text, with the offset of the offending page or the
/// live handle it collides with.
#[derive(Clone, Copy)]
struct Reason {
    text: &'static str,
    page: Option<u64>,
    handle: Option<u32>,
}

impl Reason {
    fn new(text: &'static str) -> Self {
        Self {
            text,
            page: None,
            handle: None,
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text)?;
        if let Some(off) = self.page {
            write!(f, " at +{:#x}", off)?;
        }
        if let Some(h) = self.handle {
            write!(f, " (handle {:#x})", h)?;
        }
        Ok(())
    }
}
crate::kext::compat::kext_impl_display!(Reason);

/// The outcome of the last VC_MEM_REQUEST.
enum MemResult {
    None,
    Pending {
        trans_id: u32,
    },
    Ok {
        trans_id: u32,
        addr: u32,
        kernel_id: u32,
        vc_handle: u32,
    },
    HostFailed {
        trans_id: u32,
    },
    Invalid {
        trans_id: u32,
        why: Reason,
    },
    /// The reply's address is not memory the host allocated for the request.
    HostBadAddr {
        trans_id: u32,
        addr: u32,
        why: Reason,
    },
}

/// The SMEM service state.
pub(crate) struct Firmware {
    pub(crate) settings: Settings,
    pub(crate) counters: Counters,
    handles: RBTree<u32, Handle>,
    next_handle: u32,
    next_vpu_trans_id: u32,
    mem_requests: RBTree<u32, MemRequest>,
    last_mem_request: MemResult,
    /// The protocol version the host announced (0: none yet).
    client_version: u32,
    /// Fill/checksum results, for reading back.
    pub(crate) last_fill: Option<(u32, u32)>,
    pub(crate) last_checksum: Option<(u32, u32, u32)>,
}

impl Firmware {
    pub(crate) fn new() -> Self {
        Self {
            settings: Settings {
                reply_delay_ms: 0,
                release_delay_ms: 0,
                reorder: false,
                duplicate: false,
                fail_next: 0,
                zero_handle_next: 0,
                hang: false,
                protocol: 2,
            },
            counters: Counters::default(),
            handles: RBTree::new(),
            next_handle: FIRST_HANDLE,
            next_vpu_trans_id: 1,
            mem_requests: RBTree::new(),
            last_mem_request: MemResult::None,
            client_version: 0,
            last_fill: None,
            last_checksum: None,
        }
    }

    /// Whether the VPU sends RELEASED: firmware and host both speak protocol 2.
    fn sends_released(&self) -> bool {
        self.settings.protocol >= 2 && self.client_version >= 2
    }

    /// A new handle number: non-zero, not in use.
    fn new_handle(&mut self) -> u32 {
        loop {
            let h = self.next_handle;
            self.next_handle = match self.next_handle.wrapping_add(1) {
                0 => FIRST_HANDLE,
                n => n,
            };
            if self.handles.get(&h).is_none()
                && !self.mem_requests.values().any(|r| r.vc_handle == h)
            {
                return h;
            }
        }
    }

    /// Decides whether sending `data` fails at the VCHIQ level (`fail_next` for IMPORT).
    pub(crate) fn send_fails(&mut self, data: &[u8]) -> bool {
        if self.settings.fail_next == 0 {
            return false;
        }
        match HostMsg::decode(data) {
            Ok(HostMsg {
                body: HostBody::Import(_),
                ..
            }) => {
                self.settings.fail_next -= 1;
                self.counters.send_failed += 1;
                true
            }
            _ => false,
        }
    }

    /// Handles one host message received on SMEM service `service`.
    pub(crate) fn receive(
        &mut self,
        out: &mut impl Post,
        pdev: &vpu_mem::Bus,
        service: u32,
        data: &[u8],
    ) {
        let msg = match HostMsg::decode(data) {
            Ok(msg) => msg,
            Err(e) => {
                self.counters.rx_invalid += 1;
                pr_err!(
                    "SMEM: undecodable host message ({} bytes): {:?}\n",
                    data.len(),
                    e
                );
                return;
            }
        };
        match msg.body {
            HostBody::Import(import) => self.import(out, pdev, service, msg.trans_id, &import),
            HostBody::Free(free) => {
                self.counters.rx_free += 1;
                self.free(out, free.res_handle);
            }
            HostBody::ClientVersion { version } => {
                self.counters.rx_client_version += 1;
                if self.settings.protocol < 2 {
                    // Protocol 1 firmware does not know the message.
                    return;
                }
                self.client_version = version;
                let delay = self.settings.reply_delay_ms;
                self.send(out, service, &VpuMsg::ClientVersionAck, delay, false);
                self.counters.tx_client_version_ack += 1;
            }
            HostBody::VcMemRequestReply(reply) => {
                self.counters.rx_mem_request_reply += 1;
                self.mem_request_reply(pdev, service, &reply);
            }
        }
    }

    fn send(
        &mut self,
        out: &mut impl Post,
        service: u32,
        msg: &VpuMsg,
        delay_ms: u32,
        reply: bool,
    ) {
        if out.post(service, msg, delay_ms, reply).is_err() {
            pr_err!("SMEM: out of memory, message to the host lost\n");
        }
    }

    fn import(
        &mut self,
        out: &mut impl Post,
        bus: &vpu_mem::Bus,
        service: u32,
        trans_id: u32,
        import: &Import,
    ) {
        self.counters.rx_import += 1;
        let handle = match check_buffer(bus, import.addr, import.size) {
            Err(why) => {
                self.counters.import_rejected += 1;
                pr_err!(
                    "SMEM: IMPORT trans_id {} rejected: addr {:#010x} size {:#x}: {}\n",
                    trans_id,
                    import.addr,
                    import.size,
                    why
                );
                0
            }
            Ok(_) if self.settings.zero_handle_next > 0 => {
                self.settings.zero_handle_next -= 1;
                self.counters.import_zero_handle += 1;
                pr_info!(
                    "SMEM: IMPORT trans_id {} refused (zero_handle_next)\n",
                    trans_id
                );
                0
            }
            Ok(phys) => {
                let h = self.new_handle();
                let entry = Handle {
                    addr: import.addr,
                    phys,
                    size: import.size,
                    kernel_id: import.kernel_id,
                    name: import.name,
                    importer: true,
                    vpu_refs: 0,
                    vpu_allocated: false,
                    service,
                };
                match self.handles.try_create_and_insert(h, entry, GFP_KERNEL) {
                    Ok(_) => h,
                    Err(_) => {
                        pr_err!("SMEM: out of memory for a handle, IMPORT refused\n");
                        0
                    }
                }
            }
        };
        // `vc_sm_import_result`: the echoed trans_id, then res_handle.
        let Some(msg) = smem::Reply::new(trans_id, &handle.to_le_bytes()) else {
            // A host trans_id with bit 31 set cannot be answered (`HostMsg::decode` refuses it).
            return;
        };
        let delay = self.settings.reply_delay_ms;
        self.send(out, service, &VpuMsg::Reply(msg), delay, true);
        self.counters.tx_import_reply += 1;
    }

    fn free(&mut self, out: &mut impl Post, vc_handle: u32) {
        let Some(h) = self.handles.get_mut(&vc_handle) else {
            self.counters.free_invalid += 1;
            pr_err!("SMEM: FREE of unknown handle {:#x}\n", vc_handle);
            return;
        };
        if !h.importer {
            self.counters.free_invalid += 1;
            pr_err!(
                "SMEM: FREE of handle {:#x}, which holds no importer reference\n",
                vc_handle
            );
            return;
        }
        h.importer = false;
        self.put_if_unused(out, vc_handle);
    }

    /// Releases `vc_handle` if it has no references left.
    fn put_if_unused(&mut self, out: &mut impl Post, vc_handle: u32) {
        let held = match self.handles.get(&vc_handle) {
            Some(h) => h.refs() > 0,
            None => true,
        };
        if held {
            return;
        }
        let Some(h) = self.handles.remove(&vc_handle) else {
            return;
        };
        if !self.sends_released() {
            self.counters.released_silently += 1;
            return;
        }
        let msg = VpuMsg::Released(smem::Released {
            addr: h.addr,
            size: h.size,
            kernel_id: h.kernel_id,
            vc_handle,
        });
        let delay = self.settings.release_delay_ms;
        self.send(out, h.service, &msg, delay, false);
        self.counters.tx_released += 1;
    }

    /// `hold HANDLE`: the VPU takes a reference.
    pub(crate) fn hold(&mut self, vc_handle: u32) -> Result {
        let Some(h) = self.handles.get_mut(&vc_handle) else {
            pr_err!("hold: no live handle {:#x}\n", vc_handle);
            return Err(EINVAL);
        };
        h.vpu_refs = h.vpu_refs.checked_add(1).ok_or_else(|| {
            pr_err!("hold: too many VPU references to handle {:#x}\n", vc_handle);
            EINVAL
        })?;
        Ok(())
    }

    /// `drop HANDLE`: the VPU drops a reference.
    pub(crate) fn drop_ref(&mut self, out: &mut impl Post, vc_handle: u32) -> Result {
        let Some(h) = self.handles.get_mut(&vc_handle) else {
            pr_err!("drop: no live handle {:#x}\n", vc_handle);
            return Err(EINVAL);
        };
        if h.vpu_refs == 0 {
            pr_err!(
                "drop: the VPU holds no reference to handle {:#x}\n",
                vc_handle
            );
            return Err(EINVAL);
        }
        h.vpu_refs -= 1;
        self.put_if_unused(out, vc_handle);
        Ok(())
    }

    /// The bus range of a live handle, for the simulated VPU DMA.
    pub(crate) fn buffer(&self, vc_handle: u32) -> Option<(u32, u32)> {
        self.handles.get(&vc_handle).map(|h| (h.addr, h.size))
    }

    /// `mem_request SIZE ALIGN NAME`: the VPU asks the host (on `service`) for memory.
    ///
    /// A NAME of 32 bytes or more fills the whole field with no NUL, as firmware may send it
    /// (downstream's `strlen` on it read past the message).
    pub(crate) fn mem_request(
        &mut self,
        out: &mut impl Post,
        service: u32,
        size: u32,
        align: u32,
        name: &[u8],
    ) -> Result {
        if self.settings.protocol < 2 {
            pr_err!("mem_request: protocol 1 firmware has no VC_MEM_REQUEST\n");
            return Err(EINVAL);
        }
        if self.client_version < 2 {
            pr_err!("mem_request: the host has not announced protocol 2 (CLIENT_VERSION)\n");
            return Err(EINVAL);
        }
        let trans_id = self.next_vpu_trans_id;
        self.next_vpu_trans_id = smem::next_trans_id(trans_id);
        let vc_handle = self.new_handle();
        let req = VcMemRequest {
            trans_id,
            size,
            align,
            name: wire_name(name),
            vc_handle,
        };
        self.mem_requests.try_create_and_insert(
            trans_id,
            MemRequest {
                size,
                align,
                vc_handle,
                service,
                name: req.name,
            },
            GFP_KERNEL,
        )?;
        self.send(out, service, &VpuMsg::VcMemRequest(req), 0, false);
        self.counters.tx_mem_request += 1;
        self.last_mem_request = MemResult::Pending { trans_id };
        Ok(())
    }

    /// A VC_MEM_REQUEST_REPLY received on `service`.
    ///
    /// A success reply must name memory the host allocated for that request and nothing else:
    /// - protocol: the VPU's trans_id, on the request's service, a kernel_id that is non-zero
    ///   and names no live handle (the host tells its buffers apart by it in RELEASED);
    /// - address: the uncached alias, page aligned and aligned as requested, the whole
    ///   `ALIGN(size, align)` (whole pages) in the VPU's dma-ranges and System RAM, overlapping
    ///   no live handle (an import or an earlier VPU allocation), and pages that the host holds
    ///   as the DMA API leaves them (`Bus::check_host_pages`: not free, not slab, compound,
    ///   reserved or user memory; referenced as CMA or the page allocator do).
    ///
    /// A refused reply creates no handle; it is counted (`mem_request_reply_invalid`,
    /// `mem_request_bad_addr`), logged (rate-limited) and shown by `mem_request`.
    fn mem_request_reply(&mut self, bus: &vpu_mem::Bus, service: u32, reply: &VcMemRequestReply) {
        let trans_id = reply.trans_id;
        let Some(req) = self.mem_requests.remove(&trans_id) else {
            self.counters.mem_request_reply_invalid += 1;
            if log_ratelimit() {
                pr_err!(
                    "SMEM: VC_MEM_REQUEST_REPLY for unknown trans_id {}\n",
                    trans_id
                );
            }
            self.last_mem_request = MemResult::Invalid {
                trans_id,
                why: Reason::new("reply to no pending request (trans_id not echoed?)"),
            };
            return;
        };
        if reply.addr == 0 {
            self.last_mem_request = if reply.kernel_id == 0 {
                MemResult::HostFailed { trans_id }
            } else {
                self.counters.mem_request_reply_invalid += 1;
                MemResult::Invalid {
                    trans_id,
                    why: Reason::new("failure reply (addr 0) with a non-zero kernel_id"),
                }
            };
            return;
        }
        let size = aligned_size(req.size, req.align);
        let invalid = if service != req.service {
            Some(Reason::new("reply on another service than the request's"))
        } else if reply.kernel_id == 0 {
            Some(Reason::new("kernel_id 0 for a successful allocation"))
        } else if let Some((h, _)) = self
            .handles
            .iter()
            .find(|(_, h)| h.service == req.service && h.kernel_id == reply.kernel_id)
        {
            Some(Reason {
                handle: Some(*h),
                ..Reason::new("kernel_id already names a live handle")
            })
        } else if size.is_none() {
            Some(Reason::new("requested size overflows"))
        } else {
            None
        };
        if let Some(why) = invalid {
            self.counters.mem_request_reply_invalid += 1;
            if log_ratelimit() {
                pr_err!(
                    "SMEM: VC_MEM_REQUEST_REPLY trans_id {} addr {:#010x} kernel_id {} invalid: {}\n",
                    trans_id,
                    reply.addr,
                    reply.kernel_id,
                    why
                );
            }
            self.last_mem_request = MemResult::Invalid { trans_id, why };
            return;
        }
        let size = size.unwrap_or(0);
        let phys = match self.check_host_memory(bus, reply.addr, size, req.align) {
            Ok(phys) => phys,
            Err(why) => {
                self.counters.mem_request_bad_addr += 1;
                if log_ratelimit() {
                    pr_err!(
                        "SMEM: VC_MEM_REQUEST_REPLY trans_id {} addr {:#010x} size {:#x} refused, not memory the host allocated for the request: {}\n",
                        trans_id,
                        reply.addr,
                        size,
                        why
                    );
                }
                self.last_mem_request = MemResult::HostBadAddr {
                    trans_id,
                    addr: reply.addr,
                    why,
                };
                return;
            }
        };
        let entry = Handle {
            addr: reply.addr,
            phys,
            size,
            kernel_id: reply.kernel_id,
            name: req.name,
            importer: false,
            vpu_refs: 1,
            vpu_allocated: true,
            service: req.service,
        };
        if self
            .handles
            .try_create_and_insert(req.vc_handle, entry, GFP_KERNEL)
            .is_err()
        {
            pr_err!(
                "SMEM: out of memory recording VPU allocation {:#x}\n",
                req.vc_handle
            );
        }
        self.last_mem_request = MemResult::Ok {
            trans_id,
            addr: reply.addr,
            kernel_id: reply.kernel_id,
            vc_handle: req.vc_handle,
        };
    }

    /// Checks that bus range `[addr, addr + size)` is memory the host allocated for a
    /// VC_MEM_REQUEST aligned to `align`; returns its physical address.
    fn check_host_memory(
        &self,
        bus: &vpu_mem::Bus,
        addr: u32,
        size: u32,
        align: u32,
    ) -> core::result::Result<u64, Reason> {
        if addr & ALIAS_MASK != ALIAS_UNCACHED {
            return Err(Reason::new(
                "not a 0xC0000000-aliased (uncached) bus address",
            ));
        }
        if addr % PAGE_SIZE != 0 {
            return Err(Reason::new("address not page aligned"));
        }
        if align > 1 && addr % align != 0 {
            return Err(Reason::new(
                "address not aligned to the requested alignment",
            ));
        }
        let phys = bus.to_phys(addr, size).map_err(Reason::new)?;
        let end = phys + u64::from(size);
        if let Some((h, _)) = self
            .handles
            .iter()
            .find(|(_, h)| phys < h.phys + u64::from(h.size) && h.phys < end)
        {
            return Err(Reason {
                handle: Some(*h),
                ..Reason::new("overlaps a live handle")
            });
        }
        bus.check_host_pages(phys, size)
            .map_err(|(text, off)| Reason {
                page: Some(off),
                ..Reason::new(text)
            })?;
        Ok(phys)
    }

    /// Forgets everything tied to `service` that cannot be delivered any more, and the
    /// protocol version its client announced (a new connection announces again).
    pub(crate) fn service_closed(&mut self, service: u32) {
        self.client_version = 0;
        let stale: KVec<u32> = {
            let mut v = KVec::new();
            for (k, r) in self.mem_requests.iter() {
                if r.service == service && v.push(*k, GFP_KERNEL).is_err() {
                    break;
                }
            }
            v
        };
        for k in stale.iter() {
            self.mem_requests.remove(k);
        }
    }

    /// Writes the `state` file's firmware part.
    pub(crate) fn show(&self, out: &mut SeqFile<'_>, pending_releases: usize) -> Result {
        let s = &self.settings;
        out.fmt(format_args!(
            "protocol {}\nclient_version {}\n",
            s.protocol, self.client_version
        ))?;
        out.fmt(format_args!(
            "settings reply_delay_ms={} release_delay_ms={} reorder={} duplicate={} hang={} fail_next={} zero_handle_next={}\n",
            s.reply_delay_ms,
            s.release_delay_ms,
            on_off(s.reorder),
            on_off(s.duplicate),
            on_off(s.hang),
            s.fail_next,
            s.zero_handle_next
        ))?;
        out.fmt(format_args!("handles {}\n", self.handles.iter().count()))?;
        for (vc_handle, h) in self.handles.iter() {
            out.fmt(format_args!(
                "handle {:#x} addr {:#010x} size {:#x} kernel_id {} refs {} importer {} vpu {} {} name {}\n",
                vc_handle,
                h.addr,
                h.size,
                h.kernel_id,
                h.refs(),
                u32::from(h.importer),
                h.vpu_refs,
                if h.vpu_allocated { "vpu-alloc" } else { "import" },
                Name(&h.name),
            ))?;
        }
        out.fmt(format_args!("pending_releases {}\n", pending_releases))?;
        let c = &self.counters;
        out.fmt(format_args!(
            "rx import={} free={} client_version={} mem_request_reply={} invalid={}\n",
            c.rx_import, c.rx_free, c.rx_client_version, c.rx_mem_request_reply, c.rx_invalid
        ))?;
        out.fmt(format_args!(
            "tx import_reply={} client_version_ack={} released={} mem_request={} duplicate={}\n",
            c.tx_import_reply,
            c.tx_client_version_ack,
            c.tx_released,
            c.tx_mem_request,
            c.tx_duplicate
        ))?;
        out.fmt(format_args!(
            "errors import_rejected={} import_zero_handle={} send_failed={} free_invalid={} released_silently={} mem_request_reply_invalid={} mem_request_bad_addr={} client_errors={}\n",
            c.import_rejected,
            c.import_zero_handle,
            c.send_failed,
            c.free_invalid,
            c.released_silently,
            c.mem_request_reply_invalid,
            c.mem_request_bad_addr,
            c.client_errors
        ))?;
        for (trans_id, r) in self.mem_requests.iter() {
            out.fmt(format_args!(
                "mem_request_pending trans_id {} size {:#x} align {:#x} vc_handle {:#x} name {}\n",
                trans_id,
                r.size,
                r.align,
                r.vc_handle,
                Name(&r.name)
            ))?;
        }
        self.show_mem_request(out)
    }

    /// The last VC_MEM_REQUEST outcome, one line.
    pub(crate) fn show_mem_request(&self, out: &mut SeqFile<'_>) -> Result {
        match self.last_mem_request {
            MemResult::None => out.fmt(format_args!("mem_request none\n")),
            MemResult::Pending { trans_id } => {
                out.fmt(format_args!("mem_request pending trans_id {}\n", trans_id))
            }
            MemResult::Ok {
                trans_id,
                addr,
                kernel_id,
                vc_handle,
            } => out.fmt(format_args!(
                "mem_request ok trans_id {} addr {:#010x} kernel_id {} vc_handle {:#x}\n",
                trans_id, addr, kernel_id, vc_handle
            )),
            MemResult::HostFailed { trans_id } => out.fmt(format_args!(
                "mem_request host-failed trans_id {}\n",
                trans_id
            )),
            MemResult::Invalid { trans_id, why } => out.fmt(format_args!(
                "mem_request invalid trans_id {}: {}\n",
                trans_id, why
            )),
            MemResult::HostBadAddr {
                trans_id,
                addr,
                why,
            } => out.fmt(format_args!(
                "mem_request host-bad-addr trans_id {} addr {:#010x}: {}\n",
                trans_id, addr, why
            )),
        }
    }
}

/// `ALIGN(size, align)` then page aligned, as the host allocates for a VC_MEM_REQUEST.
fn aligned_size(size: u32, align: u32) -> Option<u32> {
    let round = |v: u32, a: u32| -> Option<u32> {
        if a <= 1 {
            return Some(v);
        }
        v.checked_add(a - 1).map(|x| x / a * a)
    };
    round(size, align).and_then(|s| round(s, PAGE_SIZE))
}

/// Checks that `[addr, addr + size)` is a buffer the VPU can use: uncached alias, page aligned,
/// non-empty, and RAM through the VPU's dma-ranges. Returns its physical address.
fn check_buffer(
    bus: &vpu_mem::Bus,
    addr: u32,
    size: u32,
) -> core::result::Result<u64, &'static str> {
    if addr & ALIAS_MASK != ALIAS_UNCACHED {
        return Err("not a 0xC0000000-aliased (uncached) bus address");
    }
    if size == 0 {
        return Err("size 0");
    }
    if size % PAGE_SIZE != 0 {
        return Err("size not page aligned");
    }
    if addr % PAGE_SIZE != 0 {
        return Err("address not page aligned");
    }
    bus.to_phys(addr, size)
}

/// Displays a fixed-size name up to its first NUL, non-printable bytes as `?`.
struct Name<'a>(&'a [u8; smem::NAME_LEN]);

impl core::fmt::Display for Name<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let bytes = smem::name_bytes(self.0);
        if bytes.is_empty() {
            return f.write_str("-");
        }
        for &b in bytes {
            let c = if b.is_ascii_graphic() { b as char } else { '?' };
            core::fmt::Write::write_char(f, c)?;
        }
        Ok(())
    }
}
crate::kext::compat::kext_impl_display!(Name<'_>);

/// The 32-byte name field of a VC_MEM_REQUEST as the firmware fills it: NUL-terminated when
/// `name` is shorter than the field, otherwise its first 32 bytes with no terminator.
fn wire_name(name: &[u8]) -> [u8; smem::NAME_LEN] {
    match name.get(..smem::NAME_LEN) {
        Some(full) if !full.contains(&0) => {
            let mut out = [0u8; smem::NAME_LEN];
            out.copy_from_slice(full);
            out
        }
        _ => smem::name_from_bytes(name),
    }
}
