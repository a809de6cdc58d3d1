//! `--json` output: serde_json's [`Value`], objects keeping their keys in insertion order
//! (serde_json's `preserve_order`), written compact; [`JsonExt`] adds the builder calls the
//! commands use.

pub use serde_json::Value;

/// An object of `fields` in their order (a repeated key keeps its first place, last value).
pub fn object_of(fields: impl IntoIterator<Item = (String, Value)>) -> Value {
    Value::Object(fields.into_iter().collect())
}

/// Building objects field by field, and compact text.
pub trait JsonExt {
    /// An empty object, to [`push`](JsonExt::push) into.
    fn object() -> Self;
    /// Append `key: value` to an object (ignored for other values).
    fn push(&mut self, key: &str, value: impl Into<Value>);
    /// Builder form of [`push`](JsonExt::push).
    fn with(self, key: &str, value: impl Into<Value>) -> Self;
    /// Compact JSON text.
    fn to_json(&self) -> String;
}

impl JsonExt for Value {
    fn object() -> Value {
        Value::Object(serde_json::Map::new())
    }

    fn push(&mut self, key: &str, value: impl Into<Value>) {
        if let Value::Object(fields) = self {
            fields.insert(key.to_owned(), value.into());
        }
    }

    fn with(mut self, key: &str, value: impl Into<Value>) -> Value {
        self.push(key, value);
        self
    }

    fn to_json(&self) -> String {
        // Display of a Value is its compact JSON text.
        self.to_string()
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
        assert_eq!(Value::from("\u{1}\u{1f}").to_json(), r#""\u0001\u001f""#);
        assert_eq!(Value::from("µ→é").to_json(), "\"µ→é\"");
    }

    #[test]
    fn nested_in_insertion_order() {
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
        assert_eq!(
            object_of([("z".to_owned(), 1u32.into()), ("a".to_owned(), 2u32.into())]).to_json(),
            r#"{"z":1,"a":2}"#
        );
        // push on a non-object is ignored
        let mut s = Value::from("x");
        s.push("k", 1u32);
        assert_eq!(s.to_json(), r#""x""#);
    }
}
