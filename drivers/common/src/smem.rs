// SPDX-License-Identifier: GPL-2.0

//! SMEM wire protocol: the messages exchanged with the VideoCore over the VCHIQ service `SMEM`.
//!
//! Every message is a sequence of little-endian 32-bit words, at most [`MAX_MSG_LEN`] bytes
//! long.
//!
//! - Host to VPU ([`HostMsg`]): an 8-byte header `{type, trans_id}` followed by a body whose
//!   length depends on the type.
//! - VPU to host ([`VpuMsg`]): there is no type word. Word 0 is either the `trans_id` of the host
//!   request being answered (bit 31 clear, [`Reply`]) or [`ASYNC_BIT`] ORed with a [`MsgType`]
//!   for an event started by the VPU ([`Released`], [`VcMemRequest`], the CLIENT_VERSION
//!   acknowledgement).
//!
//! Decoders check the length exactly and never read past the input; encoders write into a
//! `[u8; MAX_MSG_LEN]` and return the number of bytes used. Nothing here allocates or panics.
//!
//! This file is shared: the `vcsm-common` crate tests it on the host, and the kernel modules
//! include it with `#[path = "../common/src/smem.rs"] mod smem;`. It therefore uses `core`
//! only. A module that includes it privately should add
//! `#[allow(dead_code, unreachable_pub)]` to the `mod` item, or declare it `pub mod`.

#![forbid(unsafe_code)]
#![deny(
    clippy::arithmetic_side_effects,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

/// Builds a VCHIQ service fourcc, as `VCHIQ_MAKE_FOURCC(a, b, c, d)` does.
pub const fn make_fourcc(a: u8, b: u8, c: u8, d: u8) -> u32 {
    u32::from_be_bytes([a, b, c, d])
}

/// The VCHIQ service fourcc, `VCHIQ_MAKE_FOURCC('S', 'M', 'E', 'M')`.
pub const SERVICE_FOURCC: u32 = make_fourcc(b'S', b'M', b'E', b'M');

/// The service version passed to `vchiq_open_service` (a `short` in
/// `struct vchiq_service_params_kernel`).
pub const SERVICE_VERSION: i16 = 1;

/// The minimum service version passed to `vchiq_open_service`.
pub const SERVICE_VERSION_MIN: i16 = 0;

/// The protocol version the host announces with CLIENT_VERSION.
///
/// Version 2 means the host handles RELEASED and VC_MEM_REQUEST.
pub const PROTOCOL_VERSION: u32 = 2;

/// The largest message in either direction, in bytes (header plus the largest body).
pub const MAX_MSG_LEN: usize = 60;

/// The length of the host-to-VPU header `{type, trans_id}`, in bytes.
pub const HDR_LEN: usize = 8;

/// Bit 31 of word 0 of a VPU-to-host message: set for an async VPU event, clear for a reply.
pub const ASYNC_BIT: u32 = 0x8000_0000;

/// Transaction ids are 31 bits wide so that they never collide with [`ASYNC_BIT`].
pub const TRANS_ID_MASK: u32 = 0x7fff_ffff;

/// The length of the fixed name fields, in bytes. A name is NUL-terminated only if it is
/// shorter than this.
pub const NAME_LEN: usize = 32;

/// The name the host gives to imported dma-bufs.
pub const HOST_RESOURCE_NAME: &[u8] = b"sm-host-resource";

/// The length of a word on the wire, in bytes.
const WORD_LEN: usize = 4;

/// The total length of an IMPORT message (header plus 52-byte body).
pub const IMPORT_LEN: usize = 60;

/// The total length of a FREE message (header plus 8-byte body).
pub const FREE_LEN: usize = 16;

/// The total length of a CLIENT_VERSION message (header plus 4-byte body).
pub const CLIENT_VERSION_LEN: usize = 12;

/// The total length of a VC_MEM_REQUEST_REPLY message (header plus 12-byte body).
pub const VC_MEM_REQUEST_REPLY_LEN: usize = 20;

/// The total length of a RELEASED event, including its command word.
pub const RELEASED_LEN: usize = 20;

/// The total length of a VC_MEM_REQUEST event, including its command word.
pub const VC_MEM_REQUEST_LEN: usize = 52;

/// The minimum length of a CLIENT_VERSION acknowledgement: just the command word.
pub const CLIENT_VERSION_ACK_MIN_LEN: usize = 4;

/// The length of an IMPORT reply (`trans_id`, `res_handle`).
pub const IMPORT_RESULT_LEN: usize = 8;

/// The length of a generic reply (`trans_id`, `success`).
pub const GENERIC_RESULT_LEN: usize = 8;

/// The largest reply payload: everything after the `trans_id` word.
pub const MAX_REPLY_PAYLOAD: usize = 56;

const _: () = assert!(IMPORT_LEN == HDR_LEN + 52 && IMPORT_LEN <= MAX_MSG_LEN);
const _: () = assert!(FREE_LEN == HDR_LEN + 8);
const _: () = assert!(CLIENT_VERSION_LEN == HDR_LEN + 4);
const _: () = assert!(VC_MEM_REQUEST_REPLY_LEN == HDR_LEN + 12);
const _: () = assert!(VC_MEM_REQUEST_LEN == 5 * WORD_LEN + NAME_LEN);
const _: () = assert!(MAX_REPLY_PAYLOAD == MAX_MSG_LEN - WORD_LEN);

/// Errors found while decoding a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// The message is shorter than its header (8 bytes host to VPU, 4 bytes VPU to host).
    TooShort,
    /// The message is longer than [`MAX_MSG_LEN`].
    TooLong,
    /// The type is not a [`MsgType`] value. For VPU events this is word 0 without
    /// [`ASYNC_BIT`].
    UnknownType(u32),
    /// The type is known but not valid in this direction (legacy, VPU-to-host sent by the
    /// host, host-to-VPU sent by the VPU, or [`MsgType::Max`]).
    UnsupportedType(MsgType),
    /// The total length does not match the message type.
    BadLength {
        /// The length the message type requires, in bytes.
        expected: usize,
        /// The length received, in bytes.
        actual: usize,
    },
    /// A host transaction id has [`ASYNC_BIT`] set, so a reply to it would look like an event.
    BadTransId(u32),
    /// The allocation type of an IMPORT is not an [`AllocType`] value.
    BadAllocType(u32),
}

/// Message types (`enum vc_sm_msg_type`), sent as a 32-bit word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum MsgType {
    /// Legacy allocation, unused.
    Alloc = 0,
    /// Legacy lock, unused.
    Lock = 1,
    /// Legacy unlock, unused.
    Unlock = 2,
    /// Legacy unlock without answer, unused.
    UnlockNoAns = 3,
    /// Host to VPU: drop the VPU handle of an imported buffer.
    Free = 4,
    /// Legacy resize, unused.
    Resize = 5,
    /// Legacy allocation walk, unused.
    WalkAlloc = 6,
    /// Cache clean action: defined, never sent.
    ActionClean = 7,
    /// Host to VPU: wrap a buffer in a VPU memory handle.
    Import = 8,
    /// Host to VPU: announce [`PROTOCOL_VERSION`]; the VPU acknowledges asynchronously.
    ClientVersion = 9,
    /// Host to VPU: answer a [`MsgType::VcMemRequest`].
    VcMemRequestReply = 10,
    /// VPU to host, async: the VPU has let go of a buffer.
    Released = 11,
    /// VPU to host, async: the VPU asks the host for memory.
    VcMemRequest = 12,
    /// The end marker; never valid on the wire.
    Max = 13,
}

impl MsgType {
    /// Converts a wire value, returning `None` if it is not a message type.
    pub const fn from_u32(value: u32) -> Option<Self> {
        Some(match value {
            0 => Self::Alloc,
            1 => Self::Lock,
            2 => Self::Unlock,
            3 => Self::UnlockNoAns,
            4 => Self::Free,
            5 => Self::Resize,
            6 => Self::WalkAlloc,
            7 => Self::ActionClean,
            8 => Self::Import,
            9 => Self::ClientVersion,
            10 => Self::VcMemRequestReply,
            11 => Self::Released,
            12 => Self::VcMemRequest,
            13 => Self::Max,
            _ => return None,
        })
    }

    /// Returns the wire value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }
}

impl TryFrom<u32> for MsgType {
    type Error = DecodeError;

    fn try_from(value: u32) -> Result<Self, DecodeError> {
        Self::from_u32(value).ok_or(DecodeError::UnknownType(value))
    }
}

/// Allocation types (`enum vc_sm_alloc_type_t`) carried by IMPORT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[repr(u32)]
pub enum AllocType {
    /// Cached on the VPU side.
    Cached = 0,
    /// Not cached on the VPU side; the driver always uses this.
    #[default]
    NonCached = 1,
}

impl AllocType {
    /// Converts a wire value, returning `None` if it is not an allocation type.
    pub const fn from_u32(value: u32) -> Option<Self> {
        match value {
            0 => Some(Self::Cached),
            1 => Some(Self::NonCached),
            _ => None,
        }
    }

    /// Returns the wire value.
    pub const fn as_u32(self) -> u32 {
        self as u32
    }
}

impl TryFrom<u32> for AllocType {
    type Error = DecodeError;

    fn try_from(value: u32) -> Result<Self, DecodeError> {
        Self::from_u32(value).ok_or(DecodeError::BadAllocType(value))
    }
}

/// Returns the transaction id that follows `prev`.
///
/// Ids stay within [`TRANS_ID_MASK`] (31 bits) and skip 0, so the result is always in
/// `1..=0x7fff_ffff`; after `0x7fff_ffff` comes 1. Bit 31 of `prev` is ignored.
pub const fn next_trans_id(prev: u32) -> u32 {
    let next = prev.wrapping_add(1) & TRANS_ID_MASK;
    if next == 0 {
        1
    } else {
        next
    }
}

/// Returns the bytes of a fixed-size name up to its first NUL, or all [`NAME_LEN`] bytes if it
/// has none.
pub fn name_bytes(name: &[u8; NAME_LEN]) -> &[u8] {
    let len = name.iter().position(|&b| b == 0).unwrap_or(NAME_LEN);
    name.get(..len).unwrap_or(name)
}

/// Builds a fixed-size name from `src`.
///
/// Copies `src` up to its first NUL, at most `NAME_LEN - 1` (31) bytes, and zero-fills the
/// rest, so the result is always NUL-terminated.
pub fn name_from_bytes(src: &[u8]) -> [u8; NAME_LEN] {
    let mut name = [0u8; NAME_LEN];
    let src = src.split(|&b| b == 0).next().unwrap_or(&[]);
    for (dst, &b) in name.iter_mut().take(NAME_LEN - 1).zip(src) {
        *dst = b;
    }
    name
}

/// Reads little-endian words from the front of a message.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self { rest: data }
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let (head, rest) = self
            .rest
            .split_first_chunk::<N>()
            .ok_or(DecodeError::TooShort)?;
        self.rest = rest;
        Ok(*head)
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_le_bytes)
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        self.array().map(i32::from_le_bytes)
    }
}

/// Writes little-endian words into an output buffer.
struct Writer<'a> {
    rest: &'a mut [u8],
    len: usize,
}

impl<'a> Writer<'a> {
    fn new(out: &'a mut [u8; MAX_MSG_LEN]) -> Self {
        Self { rest: out, len: 0 }
    }

    /// Appends `src`. All messages fit in [`MAX_MSG_LEN`] (checked at compile time above), so
    /// running out of room cannot happen; if it did, the bytes would be dropped.
    fn array<const N: usize>(&mut self, src: &[u8; N]) {
        let rest = core::mem::take(&mut self.rest);
        if let Some((head, rest)) = rest.split_first_chunk_mut::<N>() {
            *head = *src;
            self.rest = rest;
            self.len = self.len.saturating_add(N);
        }
    }

    fn u32(&mut self, value: u32) {
        self.array(&value.to_le_bytes());
    }

    fn i32(&mut self, value: i32) {
        self.array(&value.to_le_bytes());
    }

    fn bytes(&mut self, src: &[u8]) {
        for &b in src {
            self.array(&[b]);
        }
    }

    fn finish(self) -> usize {
        self.len
    }
}

/// Checks that a message of `actual` bytes has exactly `expected` bytes.
fn check_len(actual: usize, expected: usize) -> Result<(), DecodeError> {
    if actual == expected {
        Ok(())
    } else {
        Err(DecodeError::BadLength { expected, actual })
    }
}

/// Checks the length bounds shared by every message: at least `min`, at most [`MAX_MSG_LEN`].
fn check_bounds(actual: usize, min: usize) -> Result<(), DecodeError> {
    if actual < min {
        Err(DecodeError::TooShort)
    } else if actual > MAX_MSG_LEN {
        Err(DecodeError::TooLong)
    } else {
        Ok(())
    }
}

/// Body of IMPORT (`vc_sm_import`, 52 bytes): wrap host memory in a VPU memory handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Import {
    /// VPU-side caching.
    pub alloc_type: AllocType,
    /// VPU bus address of the (contiguous) buffer.
    pub addr: u32,
    /// Size of the buffer, in bytes.
    pub size: u32,
    /// Opaque host id that the VPU echoes in RELEASED.
    pub kernel_id: u32,
    /// Id of the allocating process (tgid).
    pub allocator: u32,
    /// Resource name; NUL-terminated if shorter than [`NAME_LEN`].
    pub name: [u8; NAME_LEN],
}

/// Body of FREE (`vc_sm_free_t`, 8 bytes): drop a VPU memory handle. It gets no reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Free {
    /// The VPU handle returned by IMPORT.
    pub res_handle: u32,
    /// Legacy field, always 0.
    pub res_mem: u32,
}

/// Body of VC_MEM_REQUEST_REPLY (`vc_sm_vc_mem_request_result`, 12 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcMemRequestReply {
    /// The VPU's transaction id from the [`VcMemRequest`], echoed.
    pub trans_id: u32,
    /// VPU bus address of the new buffer, or 0 on failure.
    pub addr: u32,
    /// Host id the VPU will echo in RELEASED, or 0 on failure.
    pub kernel_id: u32,
}

/// The body of a host-to-VPU message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostBody {
    /// IMPORT; the host waits for an [`ImportResult`].
    Import(Import),
    /// FREE; not answered.
    Free(Free),
    /// CLIENT_VERSION with the host's protocol version; acknowledged asynchronously.
    ClientVersion {
        /// The protocol version, [`PROTOCOL_VERSION`].
        version: u32,
    },
    /// VC_MEM_REQUEST_REPLY; not answered.
    VcMemRequestReply(VcMemRequestReply),
}

impl HostBody {
    /// Returns the message type written into the header.
    pub const fn msg_type(&self) -> MsgType {
        match self {
            Self::Import(_) => MsgType::Import,
            Self::Free(_) => MsgType::Free,
            Self::ClientVersion { .. } => MsgType::ClientVersion,
            Self::VcMemRequestReply(_) => MsgType::VcMemRequestReply,
        }
    }

    /// Returns the total length of the message (header included), in bytes.
    pub const fn msg_len(&self) -> usize {
        match self {
            Self::Import(_) => IMPORT_LEN,
            Self::Free(_) => FREE_LEN,
            Self::ClientVersion { .. } => CLIENT_VERSION_LEN,
            Self::VcMemRequestReply(_) => VC_MEM_REQUEST_REPLY_LEN,
        }
    }
}

/// A host-to-VPU message: header (`vc_sm_msg_hdr_t`) plus body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostMsg {
    /// The host transaction id (31 bits, see [`next_trans_id`]); a reply echoes it.
    pub trans_id: u32,
    /// The message type and body.
    pub body: HostBody,
}

impl HostMsg {
    /// Creates a message.
    pub const fn new(trans_id: u32, body: HostBody) -> Self {
        Self { trans_id, body }
    }

    /// Encodes the message into `out` and returns its length in bytes.
    ///
    /// `trans_id` is written as given; keep it within [`TRANS_ID_MASK`].
    pub fn encode(&self, out: &mut [u8; MAX_MSG_LEN]) -> usize {
        let mut w = Writer::new(out);
        w.u32(self.body.msg_type().as_u32());
        w.u32(self.trans_id);
        match &self.body {
            HostBody::Import(import) => {
                w.u32(import.alloc_type.as_u32());
                w.u32(import.addr);
                w.u32(import.size);
                w.u32(import.kernel_id);
                w.u32(import.allocator);
                w.array(&import.name);
            }
            HostBody::Free(free) => {
                w.u32(free.res_handle);
                w.u32(free.res_mem);
            }
            HostBody::ClientVersion { version } => w.u32(*version),
            HostBody::VcMemRequestReply(reply) => {
                w.u32(reply.trans_id);
                w.u32(reply.addr);
                w.u32(reply.kernel_id);
            }
        }
        w.finish()
    }

    /// Decodes a host-to-VPU message, as the VPU receives it.
    ///
    /// Accepts only IMPORT, FREE, CLIENT_VERSION and VC_MEM_REQUEST_REPLY, each with its exact
    /// length, and a `trans_id` without [`ASYNC_BIT`].
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_bounds(data.len(), HDR_LEN)?;
        let mut r = Reader::new(data);
        let raw_type = r.u32()?;
        let trans_id = r.u32()?;
        let body = match MsgType::try_from(raw_type)? {
            MsgType::Import => {
                check_len(data.len(), IMPORT_LEN)?;
                HostBody::Import(Import {
                    alloc_type: AllocType::try_from(r.u32()?)?,
                    addr: r.u32()?,
                    size: r.u32()?,
                    kernel_id: r.u32()?,
                    allocator: r.u32()?,
                    name: r.array()?,
                })
            }
            MsgType::Free => {
                check_len(data.len(), FREE_LEN)?;
                HostBody::Free(Free {
                    res_handle: r.u32()?,
                    res_mem: r.u32()?,
                })
            }
            MsgType::ClientVersion => {
                check_len(data.len(), CLIENT_VERSION_LEN)?;
                HostBody::ClientVersion { version: r.u32()? }
            }
            MsgType::VcMemRequestReply => {
                check_len(data.len(), VC_MEM_REQUEST_REPLY_LEN)?;
                HostBody::VcMemRequestReply(VcMemRequestReply {
                    trans_id: r.u32()?,
                    addr: r.u32()?,
                    kernel_id: r.u32()?,
                })
            }
            other => return Err(DecodeError::UnsupportedType(other)),
        };
        if trans_id & ASYNC_BIT != 0 {
            return Err(DecodeError::BadTransId(trans_id));
        }
        Ok(Self { trans_id, body })
    }
}

/// A VPU reply to a host request: the echoed `trans_id` and the rest of the message.
///
/// The payload is interpreted by the request's waiter, for example with
/// [`Reply::import_result`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    trans_id: u32,
    len: usize,
    payload: [u8; MAX_REPLY_PAYLOAD],
}

impl Reply {
    /// Creates a reply, or returns `None` if `trans_id` has [`ASYNC_BIT`] set or `payload` is
    /// longer than [`MAX_REPLY_PAYLOAD`].
    pub fn new(trans_id: u32, payload: &[u8]) -> Option<Self> {
        if trans_id & ASYNC_BIT != 0 || payload.len() > MAX_REPLY_PAYLOAD {
            return None;
        }
        let mut reply = Self {
            trans_id,
            len: payload.len(),
            payload: [0; MAX_REPLY_PAYLOAD],
        };
        for (dst, &b) in reply.payload.iter_mut().zip(payload) {
            *dst = b;
        }
        Some(reply)
    }

    /// Returns the transaction id of the request this reply answers.
    pub const fn trans_id(&self) -> u32 {
        self.trans_id
    }

    /// Returns the bytes after the `trans_id` word.
    pub fn payload(&self) -> &[u8] {
        self.payload.get(..self.len).unwrap_or(&[])
    }

    /// Returns the total length of the reply on the wire, in bytes.
    pub fn msg_len(&self) -> usize {
        self.payload().len().saturating_add(WORD_LEN)
    }

    /// Interprets the reply as the answer to IMPORT.
    pub fn import_result(&self) -> Result<ImportResult, DecodeError> {
        let mut r = self.payload_reader(IMPORT_RESULT_LEN)?;
        Ok(ImportResult {
            trans_id: self.trans_id,
            res_handle: r.u32()?,
        })
    }

    /// Interprets the reply as a generic result (`vc_sm_result_t`).
    pub fn generic_result(&self) -> Result<GenericResult, DecodeError> {
        let mut r = self.payload_reader(GENERIC_RESULT_LEN)?;
        Ok(GenericResult {
            trans_id: self.trans_id,
            success: r.i32()?,
        })
    }

    /// Checks that the whole reply is `expected` bytes long and returns a reader for its
    /// payload.
    fn payload_reader(&self, expected: usize) -> Result<Reader<'_>, DecodeError> {
        check_len(self.msg_len(), expected)?;
        Ok(Reader::new(self.payload()))
    }

    fn encode_into(&self, w: &mut Writer<'_>) {
        w.u32(self.trans_id);
        w.bytes(self.payload());
    }
}

/// Reads the `trans_id` word of a reply of exactly `expected` bytes.
fn decode_reply_word(data: &[u8], expected: usize) -> Result<(u32, Reader<'_>), DecodeError> {
    check_bounds(data.len(), WORD_LEN)?;
    check_len(data.len(), expected)?;
    let mut r = Reader::new(data);
    let trans_id = r.u32()?;
    if trans_id & ASYNC_BIT != 0 {
        return Err(DecodeError::BadTransId(trans_id));
    }
    Ok((trans_id, r))
}

/// The reply to IMPORT (`vc_sm_import_result`, 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImportResult {
    /// The IMPORT's transaction id, echoed.
    pub trans_id: u32,
    /// The new VPU memory handle, or 0 on failure.
    pub res_handle: u32,
}

impl ImportResult {
    /// Decodes a whole 8-byte reply; word 0 must not have [`ASYNC_BIT`] set.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let (trans_id, mut r) = decode_reply_word(data, IMPORT_RESULT_LEN)?;
        Ok(Self {
            trans_id,
            res_handle: r.u32()?,
        })
    }

    /// Encodes the reply into `out` and returns its length in bytes.
    pub fn encode(&self, out: &mut [u8; MAX_MSG_LEN]) -> usize {
        let mut w = Writer::new(out);
        w.u32(self.trans_id);
        w.u32(self.res_handle);
        w.finish()
    }
}

/// A generic reply (`vc_sm_result_t`, 8 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GenericResult {
    /// The request's transaction id, echoed.
    pub trans_id: u32,
    /// 0 on success.
    pub success: i32,
}

impl GenericResult {
    /// Decodes a whole 8-byte reply; word 0 must not have [`ASYNC_BIT`] set.
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        let (trans_id, mut r) = decode_reply_word(data, GENERIC_RESULT_LEN)?;
        Ok(Self {
            trans_id,
            success: r.i32()?,
        })
    }

    /// Encodes the reply into `out` and returns its length in bytes.
    pub fn encode(&self, out: &mut [u8; MAX_MSG_LEN]) -> usize {
        let mut w = Writer::new(out);
        w.u32(self.trans_id);
        w.i32(self.success);
        w.finish()
    }
}

/// RELEASED (`vc_sm_released`, 20 bytes): the VPU has let go of a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Released {
    /// VPU bus address of the buffer.
    pub addr: u32,
    /// Size of the buffer, in bytes.
    pub size: u32,
    /// The host id given in IMPORT or VC_MEM_REQUEST_REPLY.
    pub kernel_id: u32,
    /// The VPU memory handle that is now gone.
    pub vc_handle: u32,
}

/// VC_MEM_REQUEST (`vc_sm_vc_mem_request`, 52 bytes): the VPU asks for host memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VcMemRequest {
    /// The VPU's transaction id, to be echoed in [`VcMemRequestReply`].
    pub trans_id: u32,
    /// Requested size, in bytes.
    pub size: u32,
    /// Requested alignment, in bytes.
    pub align: u32,
    /// Resource name; it may lack a NUL, so read it with [`name_bytes`].
    pub name: [u8; NAME_LEN],
    /// The VPU memory handle that will refer to the buffer.
    pub vc_handle: u32,
}

/// A VPU-to-host message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VpuMsg {
    /// A reply to a host request (bit 31 of word 0 clear).
    Reply(Reply),
    /// The VPU acknowledged CLIENT_VERSION, so it will send RELEASED after FREE.
    ///
    /// Any bytes after the command word are ignored; the encoder sends the command word only.
    ClientVersionAck,
    /// The VPU has let go of a buffer.
    Released(Released),
    /// The VPU asks for memory.
    VcMemRequest(VcMemRequest),
}

/// Returns word 0 of an async event of type `msg_type`.
const fn async_word(msg_type: MsgType) -> u32 {
    ASYNC_BIT | msg_type.as_u32()
}

impl VpuMsg {
    /// Decodes a VPU-to-host message, as the host receives it.
    ///
    /// Replies of any length from 4 to [`MAX_MSG_LEN`] bytes are accepted. Events must be
    /// exactly [`ASYNC_BIT`] ORed with CLIENT_VERSION (at least 4 bytes), RELEASED (20 bytes)
    /// or VC_MEM_REQUEST (52 bytes).
    pub fn decode(data: &[u8]) -> Result<Self, DecodeError> {
        check_bounds(data.len(), WORD_LEN)?;
        let mut r = Reader::new(data);
        let word0 = r.u32()?;
        if word0 & ASYNC_BIT == 0 {
            return Reply::new(word0, r.rest)
                .map(Self::Reply)
                .ok_or(DecodeError::TooLong);
        }
        let raw_type = word0 & TRANS_ID_MASK;
        match MsgType::try_from(raw_type)? {
            MsgType::ClientVersion => Ok(Self::ClientVersionAck),
            MsgType::Released => {
                check_len(data.len(), RELEASED_LEN)?;
                Ok(Self::Released(Released {
                    addr: r.u32()?,
                    size: r.u32()?,
                    kernel_id: r.u32()?,
                    vc_handle: r.u32()?,
                }))
            }
            MsgType::VcMemRequest => {
                check_len(data.len(), VC_MEM_REQUEST_LEN)?;
                Ok(Self::VcMemRequest(VcMemRequest {
                    trans_id: r.u32()?,
                    size: r.u32()?,
                    align: r.u32()?,
                    name: r.array()?,
                    vc_handle: r.u32()?,
                }))
            }
            other => Err(DecodeError::UnsupportedType(other)),
        }
    }

    /// Encodes the message into `out` and returns its length in bytes.
    pub fn encode(&self, out: &mut [u8; MAX_MSG_LEN]) -> usize {
        let mut w = Writer::new(out);
        match self {
            Self::Reply(reply) => reply.encode_into(&mut w),
            Self::ClientVersionAck => w.u32(async_word(MsgType::ClientVersion)),
            Self::Released(rel) => {
                w.u32(async_word(MsgType::Released));
                w.u32(rel.addr);
                w.u32(rel.size);
                w.u32(rel.kernel_id);
                w.u32(rel.vc_handle);
            }
            Self::VcMemRequest(req) => {
                w.u32(async_word(MsgType::VcMemRequest));
                w.u32(req.trans_id);
                w.u32(req.size);
                w.u32(req.align);
                w.array(&req.name);
                w.u32(req.vc_handle);
            }
        }
        w.finish()
    }
}
