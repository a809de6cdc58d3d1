//! The data pattern of the zero-copy tests and the simulated VPU's checksum, compiled from the
//! simulator's own source (`tests/kmod/support/pattern.rs`) so both sides cannot drift apart,
//! behind safe entry points: slices here, mappings in [`Mapping::fill_pattern`] and
//! [`Mapping::pattern_checksum`](crate::Mapping::pattern_checksum).
//!
//! The pattern is a xorshift32 stream of little-endian words from a seed (0 stands for
//! 0x9e3779b9); the checksum is 32-bit FNV-1a over every byte.

#[allow(dead_code, unused_unsafe, unreachable_pub)]
#[path = "../../../tests/kmod/support/pattern.rs"]
mod vpu;

use crate::mapping::Mapping;

/// The pattern of `seed` over `len` bytes.
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    // Whole words, so the buffer is 4-byte aligned as the simulator's fill wants.
    let mut words = vec![0u32; len.div_ceil(4)];
    // SAFETY: `words` holds at least `len` bytes, is 4-byte aligned and exclusively borrowed.
    unsafe { vpu::fill(words.as_mut_ptr().cast(), len, seed) };
    words.iter().flat_map(|w| w.to_ne_bytes()).take(len).collect()
}

/// The checksum the simulated VPU computes over `bytes`.
pub fn checksum(bytes: &[u8]) -> u32 {
    // SAFETY: `bytes` is `bytes.len()` readable bytes, borrowed for the call.
    unsafe { vpu::checksum(bytes.as_ptr(), bytes.len()) }
}

/// The checksum of the pattern of `seed` over `len` bytes.
pub fn pattern_checksum(len: usize, seed: u32) -> u32 {
    checksum(&pattern(len, seed))
}

impl Mapping {
    /// Writes the pattern of `seed` over the whole mapping (volatile, as the VPU writes it).
    pub fn fill_pattern(&mut self, seed: u32) -> std::io::Result<()> {
        let (ptr, len) = self.raw_parts_mut()?;
        // SAFETY: `ptr..ptr+len` is the live, writable, page-aligned mapping `self` owns,
        // borrowed mutably for the call; the simulator's fill only writes bytes in that range
        // (volatile: other mappings or the VPU may access it meanwhile).
        unsafe { vpu::fill(ptr, len, seed) };
        Ok(())
    }

    /// The VPU's checksum of the whole mapping (volatile reads).
    pub fn pattern_checksum(&self) -> std::io::Result<u32> {
        let (ptr, len) = self.raw_parts()?;
        // SAFETY: `ptr..ptr+len` is the live, readable mapping `self` owns, borrowed for the
        // call; the simulator's checksum only reads (volatile) bytes in that range.
        Ok(unsafe { vpu::checksum(ptr, len) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_values() {
        assert_eq!(checksum(b""), 0x811c_9dc5);
        assert_eq!(checksum(b"a"), 0xe40c_292c);
        assert_eq!(checksum(b"foobar"), 0xbf9c_f968);
        // The classic xorshift32 sequence from seed 1, little-endian.
        assert_eq!(pattern(8, 1), [0x21, 0x20, 0x04, 0x00, 0x01, 0x06, 0x08, 0x04]);
        assert_eq!(pattern(6, 1).len(), 6);
        assert_eq!(pattern(0, 0), Vec::<u8>::new());
        assert_eq!(pattern(4, 0), pattern(4, 0x9e37_79b9));
        assert_eq!(pattern_checksum(65536, 0x1234), 0x4109_63ee);
    }

    #[test]
    fn mapping_entry_points() {
        use std::os::fd::AsFd;
        let fd = crate::sys::memfd("pattern-test", 8192).unwrap();
        let mut m = Mapping::new(fd.as_fd(), 0, 8192, crate::Prot::READ_WRITE).unwrap();
        m.fill_pattern(7).unwrap();
        assert_eq!(m.to_vec().unwrap(), pattern(8192, 7));
        assert_eq!(m.pattern_checksum().unwrap(), pattern_checksum(8192, 7));
        let mut r = Mapping::new(fd.as_fd(), 4096, 4096, crate::Prot::READ).unwrap();
        assert_eq!(r.pattern_checksum().unwrap(), checksum(&pattern(8192, 7)[4096..]));
        assert!(r.fill_pattern(1).is_err());
    }
}
