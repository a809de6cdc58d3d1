// SPDX-License-Identifier: GPL-2.0

//! The Raspberry Pi firmware's property interface: typed property requests with their
//! byte-exact tag layouts, and the decoding of the board revision code.
//!
//! # The wire format
//!
//! The ARM asks the VideoCore firmware for properties through the mailbox's property channel.
//! A message is a buffer of little-endian 32-bit words (facts from the firmware's
//! "Mailbox property interface" description in the raspberrypi/firmware wiki, and from
//! Linux's `include/soc/bcm2835/raspberrypi-firmware.h` and `drivers/firmware/raspberrypi.c`):
//!
//! - the buffer: its total size in bytes, a request/response code ([`STATUS_REQUEST`] when
//!   sent; [`STATUS_SUCCESS`] or [`STATUS_ERROR`] when answered), the tags one after the other,
//!   an end tag ([`tag::END`], a zero word), padding;
//! - each tag: a 12-byte header `{tag, value buffer size in bytes, request/response code}` and
//!   the value buffer, padded to a multiple of 4 bytes. The value buffer is used for the
//!   request and then overwritten by the response, so it is as large as the larger of the two.
//!   The header's third word has bit 31 clear in a request (the other bits are reserved; Linux
//!   sends 0); in the answer the firmware sets bit 31 ([`RESPONSE_BIT`]) and puts the length of
//!   the response value in bits 0-30. A length larger than the value buffer means the response
//!   did not fit and was cut.
//!
//! Linux's `rpi_firmware_property_list(fw, tags, len)` adds the buffer's size, code and end
//! tag itself and copies the tags back after the firmware answered; it fails with `-EINVAL`
//! when the buffer's code is not [`STATUS_SUCCESS`]. What a caller passes and gets back is
//! therefore the tag itself, which is what [`encode`] builds and [`decode`] checks.
//!
//! # Requests
//!
//! A [`Request`] names its tag, the lengths of its request and response values, and how the
//! response value is read. Implemented here: [`GetFirmwareRevision`], [`GetBoardRevision`]
//! (the answer decodes to a [`Board`]), [`GetArmMemory`] and [`GetVcMemory`]. The other tag
//! values the suite knows are in [`tag`].
//!
//! Nothing here allocates, panics or reads past its input. This file is shared: the
//! `vcsm-common` crate tests it on the host, and kernel modules include it with
//! `#[path = "../common/src/rpi_fw.rs"] mod rpi_fw;`. It therefore uses `core` only.

#![forbid(unsafe_code)]
#![deny(
    clippy::arithmetic_side_effects,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::unwrap_used
)]

/// The buffer code of a request (`RPI_FIRMWARE_STATUS_REQUEST`).
pub const STATUS_REQUEST: u32 = 0;
/// The buffer code of a successful answer (`RPI_FIRMWARE_STATUS_SUCCESS`).
pub const STATUS_SUCCESS: u32 = 0x8000_0000;
/// The buffer code of an answer to a buffer the firmware could not parse
/// (`RPI_FIRMWARE_STATUS_ERROR`; the answer is partial).
pub const STATUS_ERROR: u32 = 0x8000_0001;

/// Bit 31 of a tag header's third word: set by the firmware in its answer.
pub const RESPONSE_BIT: u32 = 0x8000_0000;
/// Bits 0-30 of a tag header's third word in an answer: the response value's length in bytes.
pub const RESPONSE_LEN_MASK: u32 = 0x7fff_ffff;

/// The length of a tag header (`struct rpi_firmware_property_tag_header`), in bytes.
pub const TAG_HEADER_LEN: usize = 12;
/// The largest value buffer of the requests in this file, in bytes.
pub const MAX_VALUE_LEN: usize = 8;
/// The largest tag (header and value buffer) of the requests in this file, in bytes.
pub const MAX_TAG_LEN: usize = TAG_HEADER_LEN + MAX_VALUE_LEN;

const WORD_LEN: usize = 4;

/// Tag values (`enum rpi_firmware_property_tag` in Linux; the memory tags are listed in the
/// project's vcsm-spec.md section 9).
pub mod tag {
    /// The end tag that closes a buffer's tag list (added by Linux).
    pub const END: u32 = 0x0000_0000;
    /// The firmware's revision: a `u32`, on real firmware the build time in seconds since 1970.
    pub const GET_FIRMWARE_REVISION: u32 = 0x0000_0001;
    /// The board's revision code: a `u32` (see [`super::Board`]).
    pub const GET_BOARD_REVISION: u32 = 0x0001_0002;
    /// The ARM's memory: base and size (`u32`, `u32`).
    pub const GET_ARM_MEMORY: u32 = 0x0001_0005;
    /// The VideoCore's memory (the `gpu_mem` carve-out): base and size (`u32`, `u32`).
    pub const GET_VC_MEMORY: u32 = 0x0001_0006;
    /// Allocates VideoCore memory (legacy VPU-heap path).
    pub const ALLOCATE_MEMORY: u32 = 0x0003_000c;
    /// Locks VideoCore memory (legacy).
    pub const LOCK_MEMORY: u32 = 0x0003_000d;
    /// Unlocks VideoCore memory (legacy).
    pub const UNLOCK_MEMORY: u32 = 0x0003_000e;
    /// Releases VideoCore memory (legacy).
    pub const RELEASE_MEMORY: u32 = 0x0003_000f;
    /// Hands VCHIQ the bus address of its slot memory.
    pub const VCHIQ_INIT: u32 = 0x0004_8010;
}

/// Why an answer is not a valid response to a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyError {
    /// The answer is shorter than the request's tag.
    TooShort {
        /// The tag's length, in bytes.
        need: usize,
        /// The answer's length, in bytes.
        got: usize,
    },
    /// The tag word is not the request's tag.
    WrongTag {
        /// The request's tag.
        expected: u32,
        /// The tag in the answer.
        got: u32,
    },
    /// The value buffer size in the answer is not the one sent.
    WrongBufferSize {
        /// The size sent, in bytes.
        expected: u32,
        /// The size in the answer, in bytes.
        got: u32,
    },
    /// [`RESPONSE_BIT`] is clear: the firmware did not answer this tag.
    NotAnswered,
    /// The response value is shorter than the request's response.
    ResponseTooShort {
        /// The response's length, in bytes.
        need: usize,
        /// The length the firmware reported, in bytes.
        got: usize,
    },
    /// The firmware reported a response longer than the value buffer: it was cut.
    Truncated {
        /// The length the firmware reported, in bytes.
        len: usize,
        /// The value buffer's size, in bytes.
        buf_size: usize,
    },
    /// A memory range whose end lies beyond the 32-bit address space.
    BadRange {
        /// The base the firmware reported.
        base: u32,
        /// The size the firmware reported.
        size: u32,
    },
}

/// A property request: one tag, its request value and the response value it expects.
pub trait Request {
    /// The tag value.
    const TAG: u32;
    /// The length of the request value, in bytes.
    const REQUEST_LEN: usize;
    /// The length of the response value, in bytes.
    const RESPONSE_LEN: usize;
    /// The decoded response.
    type Response;

    /// Writes the request value into `out`, which is [`Request::REQUEST_LEN`] bytes long.
    fn encode_value(&self, out: &mut [u8]);

    /// Reads the response value from `value`, which is [`Request::RESPONSE_LEN`] bytes long.
    fn decode_value(value: &[u8]) -> Result<Self::Response, ReplyError>;
}

/// The size of a request's value buffer: the larger of its request and response values,
/// rounded up to whole words.
pub const fn value_buf_len<R: Request>() -> usize {
    let len = if R::REQUEST_LEN > R::RESPONSE_LEN {
        R::REQUEST_LEN
    } else {
        R::RESPONSE_LEN
    };
    len.next_multiple_of(WORD_LEN)
}

/// The length of a request's whole tag (header and value buffer), in bytes.
pub const fn tag_len<R: Request>() -> usize {
    TAG_HEADER_LEN.saturating_add(value_buf_len::<R>())
}

/// Compile-time check that a request's tag fits in a [`TagBuf`].
struct Fits<R>(core::marker::PhantomData<R>);

impl<R: Request> Fits<R> {
    const OK: () = assert!(value_buf_len::<R>() <= MAX_VALUE_LEN);
}

/// One encoded tag, ready for `rpi_firmware_property_list`, and the buffer the answer is
/// read back into.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagBuf {
    bytes: [u8; MAX_TAG_LEN],
    len: usize,
}

impl TagBuf {
    /// The tag's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }

    /// The tag's bytes, for the firmware to overwrite with its answer.
    pub fn as_mut_bytes(&mut self) -> &mut [u8] {
        let len = self.len;
        let (head, _) = self.bytes.split_at_mut(len.min(MAX_TAG_LEN));
        head
    }

    /// The tag's length in bytes (a multiple of 4).
    #[allow(clippy::len_without_is_empty)] // A tag is never empty.
    pub fn len(&self) -> usize {
        self.len
    }
}

fn put_u32(out: &mut [u8], at: usize, value: u32) {
    if let Some(dst) = out
        .get_mut(at..)
        .and_then(|rest| rest.first_chunk_mut::<WORD_LEN>())
    {
        *dst = value.to_le_bytes();
    }
}

fn get_u32(data: &[u8], at: usize) -> Option<u32> {
    data.get(at..)
        .and_then(|rest| rest.first_chunk::<WORD_LEN>())
        .map(|w| u32::from_le_bytes(*w))
}

/// The one `u32` of a 4-byte response value.
fn one_u32(value: &[u8]) -> Result<u32, ReplyError> {
    get_u32(value, 0).ok_or(ReplyError::ResponseTooShort {
        need: WORD_LEN,
        got: value.len(),
    })
}

/// Encodes `req` as a tag: the header `{R::TAG, value_buf_len, 0}` and the value buffer with
/// the request value at its start, zeroes after it.
pub fn encode<R: Request>(req: &R) -> TagBuf {
    #[allow(clippy::let_unit_value)] // Naming the const makes the compiler evaluate the check.
    let () = Fits::<R>::OK;
    let buf_len = value_buf_len::<R>();
    let mut out = TagBuf {
        bytes: [0; MAX_TAG_LEN],
        len: tag_len::<R>(),
    };
    put_u32(&mut out.bytes, 0, R::TAG);
    // `buf_len` is at most MAX_VALUE_LEN (checked above), so it fits in a u32.
    put_u32(
        &mut out.bytes,
        4,
        u32::try_from(buf_len).unwrap_or(u32::MAX),
    );
    // Bit 31 clear: a request; the rest is reserved (0, as Linux sends).
    put_u32(&mut out.bytes, 8, 0);
    if let Some(value) = out
        .bytes
        .get_mut(TAG_HEADER_LEN..)
        .and_then(|v| v.get_mut(..R::REQUEST_LEN))
    {
        req.encode_value(value);
    }
    out
}

/// Decodes the firmware's answer to `R`: the tag as `rpi_firmware_property_list` copied it
/// back. Checks the tag, the value buffer size, the response bit and the response length
/// before reading the value; bytes after the tag are ignored.
pub fn decode<R: Request>(answer: &[u8]) -> Result<R::Response, ReplyError> {
    let need = tag_len::<R>();
    if answer.len() < need {
        return Err(ReplyError::TooShort {
            need,
            got: answer.len(),
        });
    }
    let short = ReplyError::TooShort {
        need,
        got: answer.len(),
    };
    let tag = get_u32(answer, 0).ok_or(short)?;
    if tag != R::TAG {
        return Err(ReplyError::WrongTag {
            expected: R::TAG,
            got: tag,
        });
    }
    let buf_len = value_buf_len::<R>();
    let buf_size = get_u32(answer, 4).ok_or(short)?;
    let expected = u32::try_from(buf_len).unwrap_or(u32::MAX);
    if buf_size != expected {
        return Err(ReplyError::WrongBufferSize {
            expected,
            got: buf_size,
        });
    }
    let code = get_u32(answer, 8).ok_or(short)?;
    if code & RESPONSE_BIT == 0 {
        return Err(ReplyError::NotAnswered);
    }
    let len = usize::try_from(code & RESPONSE_LEN_MASK).unwrap_or(usize::MAX);
    if len > buf_len {
        return Err(ReplyError::Truncated {
            len,
            buf_size: buf_len,
        });
    }
    if len < R::RESPONSE_LEN {
        return Err(ReplyError::ResponseTooShort {
            need: R::RESPONSE_LEN,
            got: len,
        });
    }
    let value = answer
        .get(TAG_HEADER_LEN..)
        .and_then(|v| v.get(..R::RESPONSE_LEN))
        .ok_or(short)?;
    R::decode_value(value)
}

/// Encodes the answer the firmware gives to `R` with response value `value`: the tag header
/// with [`RESPONSE_BIT`] and the length of `value`, then `value` in the value buffer. For
/// tests and for simulators of the firmware.
pub fn encode_answer<R: Request>(value: &[u8]) -> Option<TagBuf> {
    let buf_len = value_buf_len::<R>();
    if value.len() > buf_len || buf_len > MAX_VALUE_LEN {
        return None;
    }
    let mut out = TagBuf {
        bytes: [0; MAX_TAG_LEN],
        len: tag_len::<R>(),
    };
    put_u32(&mut out.bytes, 0, R::TAG);
    put_u32(&mut out.bytes, 4, u32::try_from(buf_len).ok()?);
    put_u32(
        &mut out.bytes,
        8,
        RESPONSE_BIT | u32::try_from(value.len()).ok()?,
    );
    out.bytes
        .get_mut(TAG_HEADER_LEN..)?
        .get_mut(..value.len())?
        .copy_from_slice(value);
    Some(out)
}

/// `GET_FIRMWARE_REVISION` (0x00000001): no request value, a `u32` response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetFirmwareRevision;

/// The firmware's revision (on real firmware its build time, seconds since 1970).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirmwareRevision(pub u32);

impl Request for GetFirmwareRevision {
    const TAG: u32 = tag::GET_FIRMWARE_REVISION;
    const REQUEST_LEN: usize = 0;
    const RESPONSE_LEN: usize = 4;
    type Response = FirmwareRevision;

    fn encode_value(&self, _out: &mut [u8]) {}

    fn decode_value(value: &[u8]) -> Result<FirmwareRevision, ReplyError> {
        one_u32(value).map(FirmwareRevision)
    }
}

/// `GET_BOARD_REVISION` (0x00010002): no request value, a `u32` response (the board's
/// revision code, see [`BoardRevision::decode`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetBoardRevision;

/// A board revision code, as the firmware reports it (and `/proc/cpuinfo` shows it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BoardRevision(pub u32);

impl Request for GetBoardRevision {
    const TAG: u32 = tag::GET_BOARD_REVISION;
    const REQUEST_LEN: usize = 0;
    const RESPONSE_LEN: usize = 4;
    type Response = BoardRevision;

    fn encode_value(&self, _out: &mut [u8]) {}

    fn decode_value(value: &[u8]) -> Result<BoardRevision, ReplyError> {
        one_u32(value).map(BoardRevision)
    }
}

/// A range of bus addresses as the firmware reports memory: base and size, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryRange {
    /// The first address.
    pub base: u32,
    /// The size in bytes.
    pub size: u32,
}

impl MemoryRange {
    /// The address after the range's last byte (at most 2^32).
    pub fn end(&self) -> u64 {
        u64::from(self.base).saturating_add(u64::from(self.size))
    }

    fn decode(value: &[u8]) -> Result<Self, ReplyError> {
        let short = ReplyError::ResponseTooShort {
            need: 8,
            got: value.len(),
        };
        let base = get_u32(value, 0).ok_or(short)?;
        let size = get_u32(value, 4).ok_or(short)?;
        let range = Self { base, size };
        if range.end() > 1u64 << 32 {
            return Err(ReplyError::BadRange { base, size });
        }
        Ok(range)
    }
}

/// `GET_ARM_MEMORY` (0x00010005): no request value, a response of base and size (`u32`,
/// `u32`): the memory the ARM was given, below the VideoCore's `gpu_mem`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetArmMemory;

impl Request for GetArmMemory {
    const TAG: u32 = tag::GET_ARM_MEMORY;
    const REQUEST_LEN: usize = 0;
    const RESPONSE_LEN: usize = 8;
    type Response = MemoryRange;

    fn encode_value(&self, _out: &mut [u8]) {}

    fn decode_value(value: &[u8]) -> Result<MemoryRange, ReplyError> {
        MemoryRange::decode(value)
    }
}

/// `GET_VC_MEMORY` (0x00010006): no request value, a response of base and size (`u32`,
/// `u32`): the VideoCore's `gpu_mem` carve-out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GetVcMemory;

impl Request for GetVcMemory {
    const TAG: u32 = tag::GET_VC_MEMORY;
    const REQUEST_LEN: usize = 0;
    const RESPONSE_LEN: usize = 8;
    type Response = MemoryRange;

    fn encode_value(&self, _out: &mut [u8]) {}

    fn decode_value(value: &[u8]) -> Result<MemoryRange, ReplyError> {
        MemoryRange::decode(value)
    }
}

// ---- Board revision codes ------------------------------------------------------------------
//
// Facts from the Raspberry Pi documentation, "Raspberry Pi revision codes"
// (raspberrypi/documentation, computers/raspberry-pi/revision-codes.adoc):
//
// - Old-style codes (the first models, before the Pi 2) are sequential: 0x0002 to 0x0015, one
//   table row each (model, board revision, RAM, manufacturer); all these boards have a
//   BCM2835. An over-volted board of that time reports its code with bit 24 set (the warranty
//   bit of the old scheme; later moved to bit 25).
// - New-style codes (from the Pi 2 on) have bit 23 set and are bit fields,
//   `NOQuuuWuFMMMCCCCPPPPTTTTTTTTRRRR`: N (bit 31) over-voltage disallowed, O (30) OTP
//   programming disallowed, Q (29) OTP reading disallowed, W (25) warranty voided by
//   overclocking, F (23) new-style flag, MMM (20-22) memory size (256 MB << MMM up to 6 =
//   16 GB; 7 = "other"), CCCC (16-19) manufacturer, PPPP (12-15) processor, TTTTTTTT (4-11)
//   board type, RRRR (0-3) board revision. The table of codes in use lists RRRR = n as board
//   revision 1.n.

/// A board type (the new-style TTTTTTTT field, or the model of an old-style code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// 0x00: Model A.
    A,
    /// 0x01: Model B.
    B,
    /// 0x02: Model A+.
    APlus,
    /// 0x03: Model B+.
    BPlus,
    /// 0x04: Pi 2 Model B.
    Pi2B,
    /// 0x05: Alpha (early prototype).
    Alpha,
    /// 0x06: Compute Module 1.
    Cm1,
    /// 0x08: Pi 3 Model B.
    Pi3B,
    /// 0x09: Pi Zero.
    Zero,
    /// 0x0a: Compute Module 3.
    Cm3,
    /// 0x0c: Pi Zero W.
    ZeroW,
    /// 0x0d: Pi 3 Model B+.
    Pi3BPlus,
    /// 0x0e: Pi 3 Model A+.
    Pi3APlus,
    /// 0x0f and 0x16: internal use only.
    Internal(u8),
    /// 0x10: Compute Module 3+.
    Cm3Plus,
    /// 0x11: Pi 4 Model B.
    Pi4B,
    /// 0x12: Pi Zero 2 W.
    Zero2W,
    /// 0x13: Pi 400.
    Pi400,
    /// 0x14: Compute Module 4.
    Cm4,
    /// 0x15: Compute Module 4S.
    Cm4S,
    /// 0x17: Pi 5.
    Pi5,
    /// 0x18: Compute Module 5.
    Cm5,
    /// 0x19: Pi 500 / 500+.
    Pi500,
    /// 0x1a: Compute Module 5 Lite.
    Cm5Lite,
    /// 0x1b: Compute Module 0.
    Cm0,
    /// A type (new style) or code (old style) not in the documentation's tables.
    Unknown(u32),
}

impl Model {
    /// The model for a new-style type field.
    pub const fn from_type(t: u8) -> Self {
        match t {
            0x00 => Self::A,
            0x01 => Self::B,
            0x02 => Self::APlus,
            0x03 => Self::BPlus,
            0x04 => Self::Pi2B,
            0x05 => Self::Alpha,
            0x06 => Self::Cm1,
            0x08 => Self::Pi3B,
            0x09 => Self::Zero,
            0x0a => Self::Cm3,
            0x0c => Self::ZeroW,
            0x0d => Self::Pi3BPlus,
            0x0e => Self::Pi3APlus,
            0x0f | 0x16 => Self::Internal(t),
            0x10 => Self::Cm3Plus,
            0x11 => Self::Pi4B,
            0x12 => Self::Zero2W,
            0x13 => Self::Pi400,
            0x14 => Self::Cm4,
            0x15 => Self::Cm4S,
            0x17 => Self::Pi5,
            0x18 => Self::Cm5,
            0x19 => Self::Pi500,
            0x1a => Self::Cm5Lite,
            0x1b => Self::Cm0,
            other => Self::Unknown(other as u32),
        }
    }

    /// A name for people (and for debugfs; it may contain spaces).
    pub const fn name(self) -> &'static str {
        match self {
            Self::A => "Pi 1 A",
            Self::B => "Pi 1 B",
            Self::APlus => "Pi 1 A+",
            Self::BPlus => "Pi 1 B+",
            Self::Pi2B => "Pi 2 B",
            Self::Alpha => "Alpha",
            Self::Cm1 => "CM1",
            Self::Pi3B => "Pi 3 B",
            Self::Zero => "Pi Zero",
            Self::Cm3 => "CM3",
            Self::ZeroW => "Pi Zero W",
            Self::Pi3BPlus => "Pi 3 B+",
            Self::Pi3APlus => "Pi 3 A+",
            Self::Internal(_) => "internal",
            Self::Cm3Plus => "CM3+",
            Self::Pi4B => "Pi 4 B",
            Self::Zero2W => "Pi Zero 2 W",
            Self::Pi400 => "Pi 400",
            Self::Cm4 => "CM4",
            Self::Cm4S => "CM4S",
            Self::Pi5 => "Pi 5",
            Self::Cm5 => "CM5",
            Self::Pi500 => "Pi 500",
            Self::Cm5Lite => "CM5 Lite",
            Self::Cm0 => "CM0",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// The SoC (the new-style PPPP field; BCM2835 for every old-style code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Processor {
    /// 0: BCM2835.
    Bcm2835,
    /// 1: BCM2836.
    Bcm2836,
    /// 2: BCM2837.
    Bcm2837,
    /// 3: BCM2711.
    Bcm2711,
    /// 4: BCM2712.
    Bcm2712,
    /// A value not in the documentation's table.
    Other(u8),
}

impl Processor {
    /// The processor for a new-style PPPP field.
    pub const fn from_field(p: u8) -> Self {
        match p {
            0 => Self::Bcm2835,
            1 => Self::Bcm2836,
            2 => Self::Bcm2837,
            3 => Self::Bcm2711,
            4 => Self::Bcm2712,
            other => Self::Other(other),
        }
    }

    /// The SoC's name.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Bcm2835 => "BCM2835",
            Self::Bcm2836 => "BCM2836",
            Self::Bcm2837 => "BCM2837",
            Self::Bcm2711 => "BCM2711",
            Self::Bcm2712 => "BCM2712",
            Self::Other(_) => "unknown",
        }
    }
}

/// Who made the board (the new-style CCCC field, or the manufacturer of an old-style code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manufacturer {
    /// Sony UK (new style 0).
    SonyUk,
    /// Egoman (new style 1).
    Egoman,
    /// Embest (new style 2 and 4).
    Embest,
    /// Sony Japan (new style 3).
    SonyJapan,
    /// Stadium (new style 5).
    Stadium,
    /// Qisda (old-style codes only).
    Qisda,
    /// A new-style value not in the documentation's table.
    Other(u8),
}

impl Manufacturer {
    /// The manufacturer for a new-style CCCC field.
    pub const fn from_field(c: u8) -> Self {
        match c {
            0 => Self::SonyUk,
            1 => Self::Egoman,
            2 | 4 => Self::Embest,
            3 => Self::SonyJapan,
            5 => Self::Stadium,
            other => Self::Other(other),
        }
    }

    /// The manufacturer's name (it may contain spaces).
    pub const fn name(self) -> &'static str {
        match self {
            Self::SonyUk => "Sony UK",
            Self::Egoman => "Egoman",
            Self::Embest => "Embest",
            Self::SonyJapan => "Sony Japan",
            Self::Stadium => "Stadium",
            Self::Qisda => "Qisda",
            Self::Other(_) => "unknown",
        }
    }
}

/// Which encoding a revision code uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Bit 23 clear: a sequential code from the first models' table.
    Old,
    /// Bit 23 set: bit fields.
    New,
}

/// A board revision as printed on the board: major and minor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PcbRevision {
    /// The major number.
    pub major: u8,
    /// The minor number.
    pub minor: u8,
}

/// What a board revision code says about the board.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Board {
    /// The code itself.
    pub code: u32,
    /// Its encoding.
    pub scheme: Scheme,
    /// The board type.
    pub model: Model,
    /// The board revision; `None` for an unknown old-style code.
    pub revision: Option<PcbRevision>,
    /// The RAM in MiB; `None` when the code does not say (new-style "other", old-style 0x0015
    /// which was made with 256 and with 512 MB, unknown old-style codes).
    pub memory_mb: Option<u32>,
    /// The SoC; `None` for an unknown old-style code.
    pub processor: Option<Processor>,
    /// The manufacturer; `None` for an unknown old-style code.
    pub manufacturer: Option<Manufacturer>,
    /// The warranty bit: set when the board was overclocked or over-volted (bit 25 new style,
    /// bit 24 old style).
    pub warranty_voided: bool,
    /// New style N (bit 31): over-voltage is disallowed.
    pub overvoltage_disallowed: bool,
    /// New style O (bit 30): OTP programming is disallowed.
    pub otp_program_disallowed: bool,
    /// New style Q (bit 29): OTP reading is disallowed.
    pub otp_read_disallowed: bool,
}

/// Bit 23 of a revision code: the new-style flag.
pub const REV_NEW_STYLE: u32 = 1 << 23;

const fn bit(code: u32, n: u32) -> bool {
    code & (1 << n) != 0
}

const fn field(code: u32, shift: u32, mask: u32) -> u8 {
    // Every mask used is at most 0xff.
    ((code >> shift) & mask) as u8
}

/// The old-style table: code, model, board revision, RAM in MiB (0: not fixed), manufacturer.
const OLD_CODES: [(u32, Model, PcbRevision, u32, Manufacturer); 17] = {
    const fn r(major: u8, minor: u8) -> PcbRevision {
        PcbRevision { major, minor }
    }
    use Manufacturer::{Egoman, Embest, Qisda, SonyUk};
    use Model::{APlus, BPlus, Cm1, A, B};
    [
        (0x02, B, r(1, 0), 256, Egoman),
        (0x03, B, r(1, 0), 256, Egoman),
        (0x04, B, r(2, 0), 256, SonyUk),
        (0x05, B, r(2, 0), 256, Qisda),
        (0x06, B, r(2, 0), 256, Egoman),
        (0x07, A, r(2, 0), 256, Egoman),
        (0x08, A, r(2, 0), 256, SonyUk),
        (0x09, A, r(2, 0), 256, Qisda),
        (0x0d, B, r(2, 0), 512, Egoman),
        (0x0e, B, r(2, 0), 512, SonyUk),
        (0x0f, B, r(2, 0), 512, Egoman),
        (0x10, BPlus, r(1, 2), 512, SonyUk),
        (0x11, Cm1, r(1, 0), 512, SonyUk),
        (0x12, APlus, r(1, 1), 256, SonyUk),
        (0x13, BPlus, r(1, 2), 512, Embest),
        (0x14, Cm1, r(1, 0), 512, Embest),
        (0x15, APlus, r(1, 1), 0, Embest),
    ]
};

impl BoardRevision {
    /// Decodes the code. Codes not in the documentation's tables decode to
    /// [`Model::Unknown`] and other "unknown" values rather than an error: the firmware
    /// answered correctly, the board is just newer (or stranger) than this table.
    pub fn decode(self) -> Board {
        let code = self.0;
        if code & REV_NEW_STYLE != 0 {
            let mem = field(code, 20, 0x7);
            Board {
                code,
                scheme: Scheme::New,
                model: Model::from_type(field(code, 4, 0xff)),
                revision: Some(PcbRevision {
                    major: 1,
                    minor: field(code, 0, 0xf),
                }),
                // 256 MB << MMM for 0..=6; 7 is "other" (the firmware parameter
                // rpi-sdram-size-gbit has the size).
                memory_mb: if mem <= 6 { Some(256u32 << mem) } else { None },
                processor: Some(Processor::from_field(field(code, 12, 0xf))),
                manufacturer: Some(Manufacturer::from_field(field(code, 16, 0xf))),
                warranty_voided: bit(code, 25),
                overvoltage_disallowed: bit(code, 31),
                otp_program_disallowed: bit(code, 30),
                otp_read_disallowed: bit(code, 29),
            }
        } else {
            let seq = code & 0x00ff_ffff;
            let row = OLD_CODES.iter().find(|(c, ..)| *c == seq);
            Board {
                code,
                scheme: Scheme::Old,
                model: row.map_or(Model::Unknown(seq), |r| r.1),
                revision: row.map(|r| r.2),
                memory_mb: row.and_then(|r| (r.3 != 0).then_some(r.3)),
                processor: row.map(|_| Processor::Bcm2835),
                manufacturer: row.map(|r| r.4),
                warranty_voided: bit(code, 24),
                overvoltage_disallowed: false,
                otp_program_disallowed: false,
                otp_read_disallowed: false,
            }
        }
    }
}
