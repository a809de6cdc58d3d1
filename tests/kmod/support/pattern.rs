// SPDX-License-Identifier: GPL-2.0

//! The data pattern of the zero-copy tests, written and checked through raw memory that another
//! agent (the simulated VPU, or the CPU) may access at the same time: a xorshift32 stream of
//! little-endian words from a seed, and a FNV-1a checksum. Both sides implement nothing else, so
//! equal checksums after a fill by the other side prove they see the same memory.

/// Writes the pattern of `seed` into `len` bytes at `dst` (whole words; a tail of fewer than 4
/// bytes gets the low bytes of the next word).
///
/// # Safety
///
/// `dst` must be valid for writes of `len` bytes, 4-byte aligned.
pub(crate) unsafe fn fill(dst: *mut u8, len: usize, seed: u32) {
    // xorshift32 has the fixed point 0; any other seed cycles through all non-zero words.
    let mut x = if seed == 0 { 0x9e37_79b9 } else { seed };
    let mut off = 0;
    while off < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        let bytes = x.to_le_bytes();
        for (i, b) in bytes.iter().enumerate() {
            if off + i < len {
                // SAFETY: `off + i < len`, inside the range the caller vouches for. Volatile:
                // the memory is shared with another agent.
                unsafe { dst.add(off + i).write_volatile(*b) };
            }
        }
        off += 4;
    }
}

/// The 32-bit FNV-1a checksum of `len` bytes at `src`.
///
/// # Safety
///
/// `src` must be valid for reads of `len` bytes.
pub(crate) unsafe fn checksum(src: *const u8, len: usize) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for i in 0..len {
        // SAFETY: `i < len`, inside the range the caller vouches for.
        let b = unsafe { src.add(i).read_volatile() };
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h
}
