//! `/proc/meminfo` fields, notably `CmaFree:` and `CmaTotal:`.

use std::io;

const MEMINFO: &str = "/proc/meminfo";

/// The value (in kB) of `field` in meminfo-formatted `text`: the line `Field:   1234 kB`.
pub fn meminfo_kib(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        if name.trim() != field {
            return None;
        }
        let mut words = rest.split_whitespace();
        let value = words.next()?.parse().ok()?;
        match words.next() {
            None | Some("kB") => Some(value),
            Some(_) => None,
        }
    })
}

fn read_field(field: &str) -> io::Result<u64> {
    let text = std::fs::read_to_string(MEMINFO)
        .map_err(|e| io::Error::new(e.kind(), format!("read {MEMINFO}: {e}")))?;
    meminfo_kib(&text, field).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::NotFound,
            format!("{MEMINFO} has no {field}: line (kernel without CONFIG_CMA?)"),
        )
    })
}

/// `CmaFree:` from `/proc/meminfo`, in KiB.
pub fn cma_free_kib() -> io::Result<u64> {
    read_field("CmaFree")
}

/// `CmaTotal:` from `/proc/meminfo`, in KiB.
pub fn cma_total_kib() -> io::Result<u64> {
    read_field("CmaTotal")
}

/// `MemTotal:` from `/proc/meminfo`, in KiB.
pub fn mem_total_kib() -> io::Result<u64> {
    read_field("MemTotal")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
MemTotal:        1012345 kB
MemFree:          812340 kB
MemAvailable:     900000 kB
HugePages_Total:       0
CmaTotal:         196608 kB
CmaFree:          190464 kB
Cma:                   5 MB
";

    #[test]
    fn fields() {
        assert_eq!(meminfo_kib(SAMPLE, "CmaFree"), Some(190_464));
        assert_eq!(meminfo_kib(SAMPLE, "CmaTotal"), Some(196_608));
        assert_eq!(meminfo_kib(SAMPLE, "MemTotal"), Some(1_012_345));
        assert_eq!(meminfo_kib(SAMPLE, "HugePages_Total"), Some(0));
    }

    #[test]
    fn missing_or_malformed() {
        assert_eq!(meminfo_kib(SAMPLE, "Cma"), None); // wrong unit
        assert_eq!(meminfo_kib(SAMPLE, "CmaFre"), None); // no prefix matching
        assert_eq!(meminfo_kib(SAMPLE, "SwapTotal"), None);
        assert_eq!(meminfo_kib("", "CmaFree"), None);
        assert_eq!(meminfo_kib("CmaFree: lots kB\n", "CmaFree"), None);
        assert_eq!(meminfo_kib("CmaFree:\n", "CmaFree"), None);
    }

    #[test]
    fn host_meminfo_parses() {
        // Every Linux host has MemTotal; CmaFree depends on the kernel config.
        if std::path::Path::new(MEMINFO).exists() {
            assert!(mem_total_kib().unwrap() > 0);
        }
    }
}
