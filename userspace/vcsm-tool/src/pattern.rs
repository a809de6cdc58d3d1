//! Data patterns written into buffers and read back, and the checksum the simulated VPU
//! computes over a buffer.
//!
//! The checksum is 32-bit FNV-1a over every byte of the buffer, and the `xorshift:SEED`
//! pattern is the simulator's xorshift32 word stream, both exactly as `tests/kmod/support/
//! pattern.rs` implements them for the simulated VPU (`/sys/kernel/debug/vpu-sim/fill` and
//! `.../checksum`). So after `vcsm-tool fill --import --pattern xorshift:S`, writing the printed
//! handle to `vpu-sim/checksum` must give the checksum vcsm-tool printed; and after writing
//! `HANDLE S` to `vpu-sim/fill`, `vcsm-tool verify --pattern xorshift:S` must pass.

use std::fmt;
use std::str::FromStr;

/// What to write into a buffer. Words are 32 bits, stored little-endian.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pattern {
    /// Every byte 0 (what a freshly allocated buffer must contain).
    Zero,
    /// Every byte the same value.
    Byte(u8),
    /// Word `i` holds `i`: a mismatch's value tells where the data came from.
    Counter,
    /// The simulated VPU's pattern: a xorshift32 stream from a seed (0 means 0x9e3779b9).
    Xorshift(u32),
}

/// The seed xorshift32 uses instead of 0 (its fixed point).
const XORSHIFT_ZERO_SEED: u32 = 0x9e37_79b9;

/// Why a pattern did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParsePatternError(String);

impl fmt::Display for ParsePatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ParsePatternError {}

/// A number in decimal or `0x` hexadecimal.
pub fn parse_u32(s: &str) -> Option<u32> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u32::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

impl FromStr for Pattern {
    type Err = ParsePatternError;

    fn from_str(s: &str) -> Result<Pattern, ParsePatternError> {
        let err = |why: &str| ParsePatternError(format!("invalid pattern {s:?}: {why}"));
        let (name, arg) = match s.split_once(':') {
            Some((n, a)) => (n, Some(a)),
            None => (s, None),
        };
        match (name, arg) {
            ("zero", None) => Ok(Pattern::Zero),
            ("counter", None) => Ok(Pattern::Counter),
            ("byte", Some(a)) => {
                let v = parse_u32(a).ok_or_else(|| err("byte value is not a number"))?;
                u8::try_from(v).map(Pattern::Byte).map_err(|_| err("byte value above 255"))
            }
            ("xorshift", Some(a)) => {
                parse_u32(a).map(Pattern::Xorshift).ok_or_else(|| err("seed is not a 32-bit number"))
            }
            ("xorshift", None) => Err(err("xorshift needs a seed: xorshift:SEED")),
            ("byte", None) => Err(err("byte needs a value: byte:VALUE")),
            _ => Err(err("use zero, byte:VALUE, counter or xorshift:SEED")),
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pattern::Zero => f.write_str("zero"),
            Pattern::Byte(b) => write!(f, "byte:{b:#04x}"),
            Pattern::Counter => f.write_str("counter"),
            Pattern::Xorshift(seed) => write!(f, "xorshift:{seed:#x}"),
        }
    }
}

impl Pattern {
    /// The pattern's words, in buffer order.
    pub fn words(self) -> Words {
        let state = match self {
            Pattern::Xorshift(0) => XORSHIFT_ZERO_SEED,
            Pattern::Xorshift(seed) => seed,
            _ => 0,
        };
        Words { pattern: self, index: 0, state }
    }

    /// The pattern's first `len` bytes, in buffer order (a tail of fewer than 4 bytes gets the
    /// low bytes of the next word, as the simulator writes it).
    pub fn bytes(self, len: usize) -> impl Iterator<Item = u8> {
        self.words().flat_map(u32::to_le_bytes).take(len)
    }

    /// The FNV-1a checksum of a buffer of `len` bytes holding this pattern.
    pub fn checksum(self, len: usize) -> u32 {
        let mut h = Fnv1a::new();
        for b in self.bytes(len) {
            h.byte(b);
        }
        h.finish()
    }
}

/// An endless iterator over a pattern's 32-bit words.
#[derive(Debug, Clone)]
pub struct Words {
    pattern: Pattern,
    index: u32,
    state: u32,
}

impl Iterator for Words {
    type Item = u32;

    fn next(&mut self) -> Option<u32> {
        let word = match self.pattern {
            Pattern::Zero => 0,
            Pattern::Byte(b) => u32::from_le_bytes([b; 4]),
            // Wraps after 16 GiB, far beyond any buffer.
            Pattern::Counter => self.index,
            Pattern::Xorshift(_) => {
                let mut x = self.state;
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                self.state = x;
                x
            }
        };
        self.index = self.index.wrapping_add(1);
        Some(word)
    }
}

/// 32-bit FNV-1a, fed byte by byte.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a(u32);

impl Fnv1a {
    const OFFSET_BASIS: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;

    /// The hash of nothing.
    pub fn new() -> Fnv1a {
        Fnv1a(Self::OFFSET_BASIS)
    }

    /// Feed one byte.
    pub fn byte(&mut self, b: u8) {
        self.0 = (self.0 ^ u32::from(b)).wrapping_mul(Self::PRIME);
    }

    /// Feed bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.byte(b);
        }
    }

    /// The hash so far.
    pub fn finish(self) -> u32 {
        self.0
    }
}

impl Default for Fnv1a {
    fn default() -> Fnv1a {
        Fnv1a::new()
    }
}

/// FNV-1a of `bytes`.
pub fn fnv1a32(bytes: &[u8]) -> u32 {
    let mut h = Fnv1a::new();
    h.update(bytes);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display() {
        assert_eq!("zero".parse(), Ok(Pattern::Zero));
        assert_eq!("counter".parse(), Ok(Pattern::Counter));
        assert_eq!("byte:0xaa".parse(), Ok(Pattern::Byte(0xaa)));
        assert_eq!("byte:7".parse(), Ok(Pattern::Byte(7)));
        assert_eq!("xorshift:0x1234".parse(), Ok(Pattern::Xorshift(0x1234)));
        assert_eq!("xorshift:42".parse(), Ok(Pattern::Xorshift(42)));
        assert_eq!("xorshift:0XFFFFFFFF".parse(), Ok(Pattern::Xorshift(u32::MAX)));
        for bad in ["", "ones", "byte", "byte:256", "byte:x", "xorshift", "xorshift:0x1_0000_0000", "zero:1"]
        {
            assert!(bad.parse::<Pattern>().is_err(), "{bad:?} parsed");
        }
        let e = "byte:300".parse::<Pattern>().unwrap_err();
        assert!(e.to_string().contains("above 255"));
        for p in [Pattern::Zero, Pattern::Byte(0xaa), Pattern::Counter, Pattern::Xorshift(0x1234)] {
            assert_eq!(p.to_string().parse(), Ok(p));
        }
        assert_eq!(Pattern::Byte(5).to_string(), "byte:0x05");
    }

    #[test]
    fn words() {
        let w: Vec<u32> = Pattern::Counter.words().take(3).collect();
        assert_eq!(w, [0, 1, 2]);
        let w: Vec<u32> = Pattern::Byte(0xab).words().take(2).collect();
        assert_eq!(w, [0xabab_abab; 2]);
        // The classic xorshift32 sequence from seed 1.
        let w: Vec<u32> = Pattern::Xorshift(1).words().take(3).collect();
        assert_eq!(w, [270_369, 67_634_689, 2_647_435_461]);
        // Seed 0 is replaced, never the all-zero fixed point.
        assert!(Pattern::Xorshift(0).words().take(100).all(|w| w != 0));
        assert_eq!(Pattern::Xorshift(0).words().next(), Pattern::Xorshift(0x9e37_79b9).words().next());
        let b: Vec<u8> = Pattern::Counter.bytes(6).collect();
        assert_eq!(b, [0, 0, 0, 0, 1, 0]);
    }

    #[test]
    fn fnv1a_reference_values() {
        assert_eq!(fnv1a32(b""), 0x811c_9dc5);
        assert_eq!(fnv1a32(b"a"), 0xe40c_292c);
        assert_eq!(fnv1a32(b"foobar"), 0xbf9c_f968);
        assert_eq!(Pattern::Zero.checksum(0), 0x811c_9dc5);
        // The value `vcsm-tool fill --help` quotes for a 64 KiB buffer.
        assert_eq!(Pattern::Xorshift(0x1234).checksum(65536), 0x4109_63ee);
    }

    #[test]
    fn same_as_the_simulator() {
        for (pattern, seed) in
            [(Pattern::Xorshift(0x1234), 0x1234u32), (Pattern::Xorshift(0), 0), (Pattern::Xorshift(1), 1)]
        {
            for len in [0usize, 3, 4, 4096, 4099, 65536] {
                // The simulator's own implementation, compiled from its source
                // (tests/kmod/support/pattern.rs) into dmabuf::pattern: ours must produce
                // exactly what the simulated VPU writes and computes.
                let theirs = dmabuf::pattern::pattern(len, seed);
                assert_eq!(pattern.checksum(len), dmabuf::pattern::checksum(&theirs), "{pattern} len {len}");
                let ours: Vec<u8> = pattern.bytes(len).collect();
                assert_eq!(ours, theirs, "{pattern} len {len}");
            }
        }
        // The checksum of arbitrary memory is the simulator's too.
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 7 + 3) as u8).collect();
        assert_eq!(fnv1a32(&data), dmabuf::pattern::checksum(&data));
    }
}
