use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::json::{write_number, write_string};

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant
/// whitespace, strings and numbers as serde_json writes them. Two bodies that
/// differ only in key order or whitespace have the same canonical form.
///
/// Keys are sorted explicitly, so the result does not depend on whether
/// serde_json's `preserve_order` feature is enabled somewhere in the build.
pub fn canonical_json(value: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(value, &mut out);
    // Only JSON text was written: names and strings come from `&str`s.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

fn write_canonical(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
            out.push(b'{');
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_string(k, out);
                out.push(b':');
                write_canonical(v, out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(v, out);
            }
            out.push(b']');
        }
        Value::String(s) => write_string(s, out),
        Value::Number(n) => write_number(n, out),
        Value::Bool(true) => out.extend_from_slice(b"true"),
        Value::Bool(false) => out.extend_from_slice(b"false"),
        Value::Null => out.extend_from_slice(b"null"),
    }
}

/// SHA-256 of `bytes`, lowercase hex. The dedup key for a body that is not JSON.
pub fn dedup_key_for_bytes(bytes: &[u8]) -> String {
    sha256_hex(bytes)
}

pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    const_hex::encode(Sha256::digest(bytes))
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
