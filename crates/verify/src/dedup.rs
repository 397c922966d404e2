use std::fmt::Write;

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant
/// whitespace, strings and numbers as serde_json writes them. Two bodies that
/// differ only in key order or whitespace have the same canonical form.
///
/// Keys are sorted explicitly, so the result does not depend on whether
/// serde_json's `preserve_order` feature is enabled somewhere in the build.
pub fn canonical_json(value: &Value) -> String {
    let mut out = String::new();
    write_canonical(value, &mut out);
    out
}

fn write_canonical(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push('{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(k, out);
                out.push(':');
                write_canonical(v, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(v, out);
            }
            out.push(']');
        }
        Value::String(s) => write_string(s, out),
        scalar => {
            let _ = write!(out, "{scalar}");
        }
    }
}

fn write_string(s: &str, out: &mut String) {
    // serde_json's string escaping is canonical already (minimal escapes).
    out.push_str(&serde_json::to_string(s).expect("strings always serialise"));
}

/// SHA-256 of `bytes`, lowercase hex. The dedup key for a body that is not JSON.
pub fn dedup_key_for_bytes(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_order_and_whitespace_do_not_matter() {
        let a: Value =
            serde_json::from_str(r#"{"b":1,"a":{"y":[1,2,{"q":null,"p":"x"}],"x":true}}"#).unwrap();
        let b: Value = serde_json::from_str("{ \"a\" : { \"x\" : true , \"y\" : [ 1 , 2 , { \"p\" : \"x\" , \"q\" : null } ] } ,\n \"b\" : 1 }").unwrap();
        let expected = r#"{"a":{"x":true,"y":[1,2,{"p":"x","q":null}]},"b":1}"#;
        assert_eq!(canonical_json(&a), expected);
        assert_eq!(canonical_json(&b), expected);
    }

    #[test]
    fn escapes_and_unicode_are_stable() {
        let v: Value = serde_json::from_str(r#"{"t":"M\u00fcller \"&\" S\u00f8n\n"}"#).unwrap();
        assert_eq!(canonical_json(&v), "{\"t\":\"Müller \\\"&\\\" Søn\\n\"}");
    }

    #[test]
    fn raw_bytes_key_is_sha256() {
        assert_eq!(
            dedup_key_for_bytes(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
