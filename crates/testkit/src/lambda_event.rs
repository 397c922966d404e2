//! Reading back the API Gateway test events `make events` writes (REST 1.0 and
//! HTTP API 2.0 share these fields): the raw body and the headers.

use base64::Engine;
use serde_json::Value;

/// The raw body bytes an HTTP event carries (base64-decoded when flagged).
pub fn body_of(event: &Value) -> Vec<u8> {
    match &event["body"] {
        Value::Null => Vec::new(),
        Value::String(s) if event["isBase64Encoded"] == true => {
            base64::engine::general_purpose::STANDARD.decode(s).unwrap()
        }
        Value::String(s) => s.clone().into_bytes(),
        other => panic!("body is {other}"),
    }
}

/// The event's headers (single-valued map) as name/value pairs.
pub fn headers_of(event: &Value) -> Vec<(String, String)> {
    event["headers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
        .collect()
}
