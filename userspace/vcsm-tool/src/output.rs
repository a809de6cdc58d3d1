//! Text output: `key=value` lines (one record per line, easy to grep and to split in shell),
//! aligned tables, human-readable sizes. `--json` output is built from the same records.

use crate::json::{object_of, JsonExt, Value};

/// An ordered list of fields: one line of text output, or one JSON object.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    fields: Vec<(String, Value)>,
}

impl Record {
    /// An empty record.
    pub fn new() -> Record {
        Record::default()
    }

    /// Builder: append a field.
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Record {
        self.push(key, value);
        self
    }

    /// Append a field.
    pub fn push(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.push((key.to_owned(), value.into()));
    }

    /// The value of the first field named `key`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The record as a JSON object.
    pub fn to_value(&self) -> Value {
        object_of(self.fields.iter().cloned())
    }

    /// `key=value key=value`: strings that are empty or contain spaces, quotes, `=` or
    /// control characters are double-quoted (with `\"` and `\\` escaped); `null` fields are
    /// left out.
    pub fn to_line(&self) -> String {
        let mut parts = Vec::with_capacity(self.fields.len());
        for (key, value) in &self.fields {
            let text = match value {
                Value::Null => continue,
                Value::String(s) => quote_if_needed(s),
                Value::Number(n) if n.is_f64() => format!("{:.3}", n.as_f64().unwrap_or(f64::NAN)),
                other => other.to_json(),
            };
            parts.push(format!("{key}={text}"));
        }
        parts.join(" ")
    }
}

/// `s` as is, or double-quoted when a shell-style word split would break it.
pub fn quote_if_needed(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| !c.is_whitespace() && !c.is_control() && c != '"' && c != '\\' && c != '=');
    if plain {
        return s.to_owned();
    }
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('?'),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Column alignment of a [`Table`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A text table with a header row, columns padded to their widest cell and separated by two
/// spaces. The last column is not padded (no trailing spaces).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers and alignments.
    pub fn new(columns: &[(&str, Align)]) -> Table {
        Table {
            headers: columns.iter().map(|(h, _)| (*h).to_owned()).collect(),
            align: columns.iter().map(|(_, a)| *a).collect(),
            rows: Vec::new(),
        }
    }

    /// Append a row; missing cells are empty, extra cells are dropped.
    pub fn row(&mut self, cells: Vec<String>) {
        let mut cells = cells;
        cells.resize(self.headers.len(), String::new());
        self.rows.push(cells);
    }

    /// Number of rows (without the header).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, each ending in a newline.
    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(width(cell));
            }
        }
        let mut out = String::new();
        let last = self.headers.len().saturating_sub(1);
        for row in std::iter::once(&self.headers).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                let pad = widths[i].saturating_sub(width(cell));
                match self.align[i] {
                    Align::Right => {
                        line.extend(std::iter::repeat_n(' ', pad));
                        line.push_str(cell);
                    }
                    Align::Left => {
                        line.push_str(cell);
                        if i != last {
                            line.extend(std::iter::repeat_n(' ', pad));
                        }
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// A size for people: the exact binary unit when it divides (`4 KiB`, `128 MiB`), otherwise one
/// decimal (`1.5 MiB`); plain bytes below 1 KiB.
pub fn human_size(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)];
    for (name, mult) in UNITS {
        if bytes >= mult {
            return if bytes.is_multiple_of(mult) {
                format!("{} {name}", bytes / mult)
            } else {
                format!("{:.1} {name}", bytes as f64 / mult as f64)
            };
        }
    }
    format!("{bytes} B")
}

/// `0x` and at least 8 hex digits (addresses and handles as the kernel logs them).
pub fn hex32(n: u64) -> String {
    format!("{n:#010x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_lines() {
        let r = Record::new()
            .with("vc_handle", "0x00000003")
            .with("size", 65536u64)
            .with("name", "my buffer")
            .with("empty", "")
            .with("gone", Value::Null)
            .with("ok", true)
            .with("rate", 1.23456);
        assert_eq!(
            r.to_line(),
            r#"vc_handle=0x00000003 size=65536 name="my buffer" empty="" ok=true rate=1.235"#
        );
        assert_eq!(r.get("size"), Some(&Value::from(65536u32)));
        assert_eq!(r.get("nope"), None);
        assert_eq!(
            r.to_value().to_json(),
            r#"{"vc_handle":"0x00000003","size":65536,"name":"my buffer","empty":"","gone":null,"ok":true,"rate":1.23456}"#
        );
    }

    #[test]
    fn quoting() {
        assert_eq!(quote_if_needed("abc"), "abc");
        assert_eq!(quote_if_needed("a=b"), r#""a=b""#);
        assert_eq!(quote_if_needed(r#"say "hi""#), r#""say \"hi\"""#);
        assert_eq!(quote_if_needed("tab\there"), "\"tab?here\"");
    }

    #[test]
    fn tables() {
        let mut t = Table::new(&[("HEAP", Align::Left), ("SIZE", Align::Right), ("NOTE", Align::Left)]);
        assert!(t.is_empty());
        t.row(vec!["vcsm-cached".into(), "128 MiB".into(), "".into()]);
        t.row(vec!["system".into(), "unknown".into(), "page allocator".into()]);
        t.row(vec!["x".into()]);
        assert_eq!(t.len(), 3);
        assert_eq!(
            t.render(),
            "HEAP            SIZE  NOTE\n\
             vcsm-cached  128 MiB\n\
             system       unknown  page allocator\n\
             x\n"
        );
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(4096), "4 KiB");
        assert_eq!(human_size(1536 << 10), "1.5 MiB");
        assert_eq!(human_size(128 << 20), "128 MiB");
        assert_eq!(human_size(3 << 30), "3 GiB");
        assert_eq!(human_size((1 << 40) + (1 << 39)), "1.5 TiB");
        assert_eq!(hex32(0x3e00_0000), "0x3e000000");
        assert_eq!(hex32(1), "0x00000001");
        assert_eq!(hex32(0x1_0000_0000), "0x100000000");
    }
}
