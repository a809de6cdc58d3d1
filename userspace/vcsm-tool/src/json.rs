//! A minimal JSON writer (RFC 8259): enough for `--json` output, no parser, no dependencies.

use std::fmt::Write;

/// A JSON value. Objects keep their keys in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    /// Non-finite numbers have no JSON form and are written as `null`.
    Float(f64),
    Str(String),
    Array(Vec<Value>),
    Object(Vec<(String, Value)>),
}

impl Value {
    /// An empty object, to [`Value::push`] into.
    pub fn object() -> Value {
        Value::Object(Vec::new())
    }

    /// Append `key: value` to an object (ignored for other values).
    pub fn push(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(fields) = self {
            fields.push((key.to_owned(), value.into()));
        }
    }

    /// Builder form of [`Value::push`].
    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Value {
        self.push(key, value);
        self
    }

    /// Compact JSON text.
    pub fn to_json(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                let _ = write!(out, "{n}");
            }
            Value::UInt(n) => {
                let _ = write!(out, "{n}");
            }
            Value::Float(x) if x.is_finite() => {
                // Rust prints integral floats without a fraction ("3"), which is valid JSON.
                let _ = write!(out, "{x}");
            }
            Value::Float(_) => out.push_str("null"),
            Value::Str(s) => write_string(s, out),
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Value::Object(fields) => {
                out.push('{');
                for (i, (key, value)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_string(key, out);
                    out.push(':');
                    value.write(out);
                }
                out.push('}');
            }
        }
    }
}

/// A JSON string literal: quotes, backslashes and control characters escaped.
fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}

impl From<u64> for Value {
    fn from(n: u64) -> Value {
        Value::UInt(n)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Value {
        Value::UInt(n.into())
    }
}

impl From<usize> for Value {
    fn from(n: usize) -> Value {
        // usize is at most 64 bits on every Linux target.
        Value::UInt(n as u64)
    }
}

impl From<i64> for Value {
    fn from(n: i64) -> Value {
        Value::Int(n)
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Value {
        Value::Int(n.into())
    }
}

impl From<f64> for Value {
    fn from(x: f64) -> Value {
        Value::Float(x)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::Str(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::Str(s)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl<T: Into<Value>> From<Vec<T>> for Value {
    fn from(v: Vec<T>) -> Value {
        Value::Array(v.into_iter().map(Into::into).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars() {
        assert_eq!(Value::Null.to_json(), "null");
        assert_eq!(Value::from(true).to_json(), "true");
        assert_eq!(Value::from(-3i64).to_json(), "-3");
        assert_eq!(Value::from(u64::MAX).to_json(), "18446744073709551615");
        assert_eq!(Value::from(1.5).to_json(), "1.5");
        assert_eq!(Value::from(2.0).to_json(), "2");
        assert_eq!(Value::from(f64::NAN).to_json(), "null");
        assert_eq!(Value::from(f64::INFINITY).to_json(), "null");
        assert_eq!(Value::from(None::<u32>).to_json(), "null");
        assert_eq!(Value::from(Some(7u32)).to_json(), "7");
    }

    #[test]
    fn strings_are_escaped() {
        assert_eq!(Value::from("plain").to_json(), r#""plain""#);
        assert_eq!(Value::from("a\"b\\c").to_json(), r#""a\"b\\c""#);
        assert_eq!(Value::from("l1\nl2\tx\r").to_json(), r#""l1\nl2\tx\r""#);
        assert_eq!(Value::from("\u{1}\u{1f}\u{7f}").to_json(), r#""\u0001\u001f\u007f""#);
        assert_eq!(Value::from("µ→é").to_json(), "\"µ→é\"");
    }

    #[test]
    fn nested() {
        let v = Value::object()
            .with("name", "vcsm-cached")
            .with("size", 134217728u64)
            .with("tags", vec!["a", "b"])
            .with("empty", Value::Array(vec![]))
            .with("inner", Value::object().with("k", Value::Null));
        assert_eq!(
            v.to_json(),
            r#"{"name":"vcsm-cached","size":134217728,"tags":["a","b"],"empty":[],"inner":{"k":null}}"#
        );
        assert_eq!(Value::object().to_json(), "{}");
        // push on a non-object is ignored
        let mut s = Value::from("x");
        s.push("k", 1u32);
        assert_eq!(s.to_json(), r#""x""#);
    }
}
