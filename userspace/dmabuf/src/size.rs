//! Human sizes with binary units: `4K` = 4096, `1M`, `1G`, `4KiB`, `512` (bytes).

use std::fmt;

const UNITS: [(&str, u64); 4] = [("T", 1 << 40), ("G", 1 << 30), ("M", 1 << 20), ("K", 1 << 10)];

/// Why a size string did not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseSizeError {
    input: String,
    reason: &'static str,
}

impl fmt::Display for ParseSizeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid size {:?}: {}", self.input, self.reason)
    }
}

impl std::error::Error for ParseSizeError {}

/// Parse `4096`, `4K`, `4k`, `4KiB`, `4KB`, `1M`, `2G`, `1T`, `16B` (binary multiples, as
/// `parse_size::Config::with_binary` reads them; P and E work too). Only whole numbers: the
/// crate's fractions, exponents and digit separators (`1.5M`, `1e6`, `1_000`) are refused, so
/// a size means what it says.
pub fn parse_size(s: &str) -> Result<u64, ParseSizeError> {
    let err = |reason| ParseSizeError { input: s.to_owned(), reason };
    let t = s.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(digits_end);
    if num.is_empty() {
        return Err(err("expected a number"));
    }
    if !unit.chars().all(|c| c.is_ascii_alphabetic() || c == ' ') {
        return Err(err("expected a whole number and a unit (K, M, G or T)"));
    }
    parse_size::Config::new().with_binary().parse_size(t).map_err(|e| match e {
        parse_size::Error::PosOverflow => err("size overflows u64"),
        _ => err("unknown unit (use K, M, G or T)"),
    })
}

/// Format with the largest binary unit that divides `bytes` exactly: `4K`, `64M`, `1536K`,
/// `4097` (plain bytes), `0`.
pub fn format_size(bytes: u64) -> String {
    if bytes != 0 {
        for (name, mult) in UNITS {
            if bytes.is_multiple_of(mult) {
                return format!("{}{}", bytes / mult, name);
            }
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("4097"), Ok(4097));
        assert_eq!(parse_size("4K"), Ok(4096));
        assert_eq!(parse_size("4k"), Ok(4096));
        assert_eq!(parse_size("64KiB"), Ok(65536));
        assert_eq!(parse_size("64KB"), Ok(65536));
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size(" 8 MiB "), Ok(8 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("2T"), Ok(2 << 40));
        assert_eq!(parse_size("16B"), Ok(16));
        assert_eq!(parse_size("1P"), Ok(1 << 50));
        assert_eq!(parse_size("18446744073709551615"), Ok(u64::MAX));
    }

    #[test]
    fn parse_errors() {
        assert!(parse_size("").is_err());
        assert!(parse_size("K").is_err());
        assert!(parse_size("-1").is_err());
        assert!(parse_size("1.5M").is_err());
        assert!(parse_size("4X").is_err());
        assert!(parse_size("1e3").is_err());
        assert!(parse_size("1_000").is_err());
        assert!(parse_size("4 K B").is_err());
        assert!(parse_size("18446744073709551616").is_err());
        assert!(parse_size("17179869184G").is_err());
        let e = parse_size("4X").unwrap_err();
        assert!(e.to_string().contains("\"4X\""));
    }

    #[test]
    fn format() {
        assert_eq!(format_size(0), "0");
        assert_eq!(format_size(1), "1");
        assert_eq!(format_size(4096), "4K");
        assert_eq!(format_size(4097), "4097");
        assert_eq!(format_size(65536), "64K");
        assert_eq!(format_size(1536 << 10), "1536K");
        assert_eq!(format_size(1 << 20), "1M");
        assert_eq!(format_size(64 << 20), "64M");
        assert_eq!(format_size(1 << 30), "1G");
        assert_eq!(format_size(3 << 40), "3T");
    }

    #[test]
    fn roundtrip() {
        for n in [1u64, 512, 4096, 8192, 65536, 1 << 20, 32 << 20, 1 << 30, 12345] {
            assert_eq!(parse_size(&format_size(n)), Ok(n));
        }
    }
}
