//! Writing a pattern into a dma-buf and reading it back through a CPU mapping, bracketed by
//! `DMA_BUF_IOCTL_SYNC` (START before the access, END after), as every CPU user of a dma-buf
//! must do.

use dmabuf::{
    DmaBuf, Mapping, Prot, DMA_BUF_SYNC_END, DMA_BUF_SYNC_READ, DMA_BUF_SYNC_START, DMA_BUF_SYNC_WRITE,
};

use crate::error::{op_error, Error, Op, Result};
use crate::pattern::{Fnv1a, Pattern};

/// What reading a buffer back found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Readback {
    /// FNV-1a of the buffer's contents.
    pub checksum: u32,
    /// Words that differ from the pattern.
    pub mismatches: usize,
    /// The first of them: byte offset, expected word, found word.
    pub first: Option<(usize, u32, u32)>,
}

impl Readback {
    /// Whether the buffer holds exactly the pattern.
    pub fn matches(&self) -> bool {
        self.mismatches == 0
    }

    /// `"N of M words differ; first at offset 0x..: expected 0x.., found 0x.."`.
    pub fn describe(&self, words: usize) -> String {
        match self.first {
            None => "matches".to_owned(),
            Some((off, expected, found)) => format!(
                "{} of {words} words differ; the first at offset {off:#x}: expected {expected:#010x}, found {found:#010x}",
                self.mismatches
            ),
        }
    }
}

fn map(buf: &DmaBuf, len: usize, prot: Prot, what: &str) -> Result<Mapping> {
    if !len.is_multiple_of(4) {
        return Err(Error::failed(format!("{what}: size {len} is not a multiple of 4 bytes")));
    }
    buf.mmap(0, len, prot).map_err(|e| op_error(what, Op::Mmap, &e))
}

/// Run `body` between SYNC START and SYNC END with `dir`; END is issued even if `body` fails.
fn with_sync<T>(buf: &DmaBuf, dir: u64, what: &str, body: impl FnOnce() -> Result<T>) -> Result<T> {
    buf.sync(DMA_BUF_SYNC_START | dir)
        .map_err(|e| op_error(what, Op::DmaBufSync, &e).context("SYNC_START"))?;
    let result = body();
    let end =
        buf.sync(DMA_BUF_SYNC_END | dir).map_err(|e| op_error(what, Op::DmaBufSync, &e).context("SYNC_END"));
    let value = result?;
    end?;
    Ok(value)
}

/// Write `pattern` over the first `len` bytes of `buf` (a multiple of 4).
pub fn fill(buf: &DmaBuf, len: usize, pattern: Pattern, what: &str) -> Result<()> {
    let mut m = map(buf, len, Prot::READ_WRITE, what)?;
    with_sync(buf, DMA_BUF_SYNC_WRITE, what, || {
        let mut words = pattern.words();
        // Words are stored little-endian, whatever the CPU's byte order.
        m.fill_u32_with(|_| u32::from_ne_bytes(words.next().unwrap_or(0).to_le_bytes()))
            .map_err(|e| op_error(what, Op::Mmap, &e))
    })
}

/// Read the first `len` bytes of `buf` (a multiple of 4), compare them with `pattern` and
/// checksum them.
pub fn read_back(buf: &DmaBuf, len: usize, pattern: Pattern, what: &str) -> Result<Readback> {
    let m = map(buf, len, Prot::READ, what)?;
    with_sync(buf, DMA_BUF_SYNC_READ, what, || Ok(compare(&m, pattern)))
}

fn compare(m: &Mapping, pattern: Pattern) -> Readback {
    let mut hash = Fnv1a::new();
    let mut mismatches = 0;
    let mut first = None;
    let mut words = pattern.words();
    for i in 0..m.words() {
        // i < words(), so the read is in range; the mapping is readable (Prot::READ).
        let Some(found) = m.read_u32(i) else { break };
        let bytes = found.to_ne_bytes();
        hash.update(&bytes);
        let expected = words.next().unwrap_or(0);
        let found_le = u32::from_le_bytes(bytes);
        if found_le != expected {
            mismatches += 1;
            first.get_or_insert((i * 4, expected, found_le));
        }
    }
    Readback { checksum: hash.finish(), mismatches, first }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A memfd stands in for a dma-buf: it maps, and rejects the sync ioctl with ENOTTY.
    fn memfd(len: u64) -> DmaBuf {
        DmaBuf::from_fd(dmabuf::sys::memfd("bufops-test", len).unwrap())
    }

    #[test]
    fn sync_failure_names_the_ioctl() {
        let b = memfd(4096);
        let e = fill(&b, 4096, Pattern::Counter, "fd 3").unwrap_err().to_string();
        assert!(e.starts_with("SYNC_START: fd 3: DMA_BUF_IOCTL_SYNC failed: ENOTTY"), "{e}");
        assert!(e.contains("not a dma-buf"), "{e}");
        let e = read_back(&b, 4096, Pattern::Counter, "fd 3").unwrap_err().to_string();
        assert!(e.contains("DMA_BUF_IOCTL_SYNC failed: ENOTTY"), "{e}");
        let e = read_back(&b, 4095, Pattern::Counter, "fd 3").unwrap_err().to_string();
        assert!(e.contains("not a multiple of 4"), "{e}");
    }

    #[test]
    fn compare_counts_mismatches_and_checksums_memory() {
        let b = memfd(8192);
        let mut m = b.mmap(0, 8192, Prot::READ_WRITE).unwrap();
        let mut words = Pattern::Xorshift(0x1234).words();
        m.fill_u32_with(|_| u32::from_ne_bytes(words.next().unwrap().to_le_bytes())).unwrap();
        let r = compare(&m, Pattern::Xorshift(0x1234));
        assert!(r.matches());
        assert_eq!(r.checksum, Pattern::Xorshift(0x1234).checksum(8192));
        assert_eq!(r.describe(2048), "matches");

        // Two damaged words.
        let orig = m.read_u32(10).unwrap();
        m.write_u32(10, !orig).unwrap();
        m.write_u32(2000, 0).unwrap();
        let r = compare(&m, Pattern::Xorshift(0x1234));
        assert_eq!(r.mismatches, 2);
        let (off, expected, found) = r.first.unwrap();
        assert_eq!(off, 40);
        assert_eq!(expected, u32::from_le_bytes(orig.to_ne_bytes()));
        assert_eq!(found, !expected);
        assert_ne!(r.checksum, Pattern::Xorshift(0x1234).checksum(8192));
        assert!(r.describe(2048).starts_with("2 of 2048 words differ; the first at offset 0x28"));

        // A fresh memfd is zero.
        let z = memfd(4096);
        let m = z.mmap(0, 4096, Prot::READ).unwrap();
        let r = compare(&m, Pattern::Zero);
        assert!(r.matches());
        assert_eq!(r.checksum, Pattern::Zero.checksum(4096));
    }
}
