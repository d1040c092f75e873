//! JSON written the way Python's `json.dumps` writes it by default (`", "` and `": "` between
//! items, every character outside printable ASCII escaped), for tag values MLflow builds with
//! `json.dumps` and its clients compare as strings.

use std::io;

use serde_json::ser::{Formatter, Serializer};

/// `json.dumps(value)` of a JSON value.
pub fn dumps(value: &serde_json::Value) -> String {
    let mut out = Vec::new();
    let mut ser = Serializer::with_formatter(&mut out, PythonFormatter);
    // Writing a `Value` into memory has no error to report.
    if serde::Serialize::serialize(value, &mut ser).is_err() {
        return value.to_string();
    }
    String::from_utf8(out).unwrap_or_else(|_| value.to_string())
}

struct PythonFormatter;

impl Formatter for PythonFormatter {
    fn begin_array_value<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_key<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        first: bool,
    ) -> io::Result<()> {
        if first {
            Ok(())
        } else {
            w.write_all(b", ")
        }
    }

    fn begin_object_value<W: ?Sized + io::Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// `ensure_ascii`: anything outside `' '..='~'` as `\uXXXX` (UTF-16, so surrogate pairs).
    fn write_string_fragment<W: ?Sized + io::Write>(
        &mut self,
        w: &mut W,
        fragment: &str,
    ) -> io::Result<()> {
        for c in fragment.chars() {
            if (' '..='~').contains(&c) {
                w.write_all(&[c as u8])?;
            } else {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    write!(w, "\\u{u:04x}")?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::dumps;
    use serde_json::json;

    #[test]
    fn matches_python() {
        assert_eq!(
            dumps(&json!([{"name": "model", "version": 1}, {"name": "m", "version": 2}])),
            r#"[{"name": "model", "version": 1}, {"name": "m", "version": 2}]"#
        );
        assert_eq!(
            dumps(&json!({"k": "é😀\u{7f}\n"})),
            r#"{"k": "\u00e9\ud83d\ude00\u007f\n"}"#
        );
        assert_eq!(dumps(&json!([])), "[]");
        assert_eq!(dumps(&json!({})), "{}");
    }
}
