//! EventBridge's documented limits on `PutEvents`, which moto does not apply:
//! the fault proxy refuses a call that breaks one, as AWS would, so a detail
//! that AWS would refuse fails a test here instead of on AWS.
//!
//! - at most 10 entries a call;
//! - each entry, counted as AWS counts it (Source, DetailType, Detail,
//!   Resources, 14 bytes for Time), and all entries together, under 256 KB
//!   (the API reference: "must be less than 256KB"; counted here as 256,000
//!   bytes, the lower reading);
//! - Detail a JSON object, nested at most 1,000 levels;
//! - JSON integers within int64 ("For the JSON number (integer) data type,
//!   the constraints are: a minimum value of -9,223,372,036,854,775,808 and a
//!   maximum value of 9,223,372,036,854,775,807"), and numbers that a double
//!   can hold (no documented limit; a rule cannot match what it cannot parse).

use serde_json::Value;

/// The smaller reading of EventBridge's "256 KB".
pub const MAX_ENTRY_BYTES: usize = 256_000;
/// Entries per call.
pub const MAX_ENTRIES: usize = 10;
/// Nesting depth PutEvents processes.
pub const MAX_DEPTH: usize = 1000;

/// Bytes AWS counts for one request entry (its JSON form in the call).
pub fn entry_size(entry: &Value) -> usize {
    let text = |name: &str| entry.get(name).and_then(Value::as_str).map_or(0, str::len);
    let resources: usize = entry
        .get("Resources")
        .and_then(Value::as_array)
        .map_or(0, |r| {
            r.iter().filter_map(Value::as_str).map(str::len).sum()
        });
    let time = if entry.get("Time").is_some() { 14 } else { 0 };
    time + text("Source") + text("DetailType") + text("Detail") + resources
}

/// Why AWS would refuse this `PutEvents` request body, if it would.
pub fn violation(body: &[u8]) -> Option<String> {
    let request: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(e) => return Some(format!("request is not JSON: {e}")),
    };
    let entries = request.get("Entries").and_then(Value::as_array)?;
    if entries.len() > MAX_ENTRIES {
        return Some(format!(
            "{} entries in one call (at most {MAX_ENTRIES})",
            entries.len()
        ));
    }
    let mut total = 0;
    for (i, entry) in entries.iter().enumerate() {
        let size = entry_size(entry);
        total += size;
        if size >= MAX_ENTRY_BYTES {
            return Some(format!("entry {i} is {size} bytes (limit 256 KB)"));
        }
        let detail = entry.get("Detail").and_then(Value::as_str).unwrap_or("");
        if let Some(why) = detail_violation(detail) {
            return Some(format!("entry {i}: {why}"));
        }
    }
    if total >= MAX_ENTRY_BYTES {
        return Some(format!(
            "the call's entries are {total} bytes (limit 256 KB)"
        ));
    }
    None
}

/// Why AWS would refuse a Detail, if it would.
pub fn detail_violation(detail: &str) -> Option<String> {
    let (mut depth, mut max_depth) = (0usize, 0usize);
    let bytes = detail.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' => {
                depth += 1;
                max_depth = max_depth.max(depth);
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i + 1 < bytes.len()
                    && matches!(bytes[i + 1], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                let token = &detail[start..=i];
                if let Some(why) = number_violation(token) {
                    return Some(why);
                }
            }
            _ => {}
        }
        i += 1;
    }
    if max_depth > MAX_DEPTH {
        return Some(format!("nested {max_depth} levels (at most {MAX_DEPTH})"));
    }
    // serde_json stops at 128 levels: stricter than AWS, and ingest keeps
    // bodies within it anyway.
    match serde_json::from_str::<Value>(detail) {
        Ok(Value::Object(_)) => None,
        Ok(_) => Some("Detail is not a JSON object".into()),
        Err(e) => Some(format!("Detail is not JSON: {e}")),
    }
}

fn number_violation(token: &str) -> Option<String> {
    let integer = !token.contains(['.', 'e', 'E']);
    if integer && token.parse::<i64>().is_err() {
        return Some(format!("integer {token} is outside int64"));
    }
    match token.parse::<f64>() {
        Ok(v) if v.is_finite() => None,
        _ => Some(format!("number {token} is out of range")),
    }
}

/// The request body without its first entry of `detail_type` whose Detail
/// contains every one of `needles`, and that entry's index; `None` when no
/// entry matches.
pub fn without_entry(
    body: &[u8],
    detail_type: &str,
    needles: &[String],
) -> Option<(Vec<u8>, usize)> {
    let mut request: Value = serde_json::from_slice(body).ok()?;
    let entries = request.get_mut("Entries")?.as_array_mut()?;
    let index = entries.iter().position(|e| {
        let detail = e.get("Detail").and_then(Value::as_str).unwrap_or("");
        e.get("DetailType").and_then(Value::as_str) == Some(detail_type)
            && needles.iter().all(|n| detail.contains(n.as_str()))
    })?;
    entries.remove(index);
    Some((serde_json::to_vec(&request).ok()?, index))
}

/// moto's answer to the shortened request with an `InternalFailure` result
/// put back at `index` (results are positional).
pub fn with_refused_entry(answer: &[u8], index: usize) -> Vec<u8> {
    let mut answer: Value =
        serde_json::from_slice(answer).unwrap_or_else(|_| serde_json::json!({}));
    let failed = answer["FailedEntryCount"].as_u64().unwrap_or(0) + 1;
    answer["FailedEntryCount"] = failed.into();
    let mut entries = answer["Entries"].as_array().cloned().unwrap_or_default();
    entries.insert(
        index.min(entries.len()),
        serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "refused by the fault proxy"}),
    );
    answer["Entries"] = Value::Array(entries);
    serde_json::to_vec(&answer).unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_applied_at_their_boundaries() {
        let call = |detail: &str| {
            serde_json::to_vec(&serde_json::json!({"Entries": [{
                "Source": "s", "DetailType": "t", "Detail": detail
            }]}))
            .unwrap()
        };
        assert_eq!(
            violation(&call(
                r#"{"a":9223372036854775807,"b":-9223372036854775808}"#
            )),
            None
        );
        assert!(violation(&call(r#"{"a":9223372036854775808}"#))
            .unwrap()
            .contains("int64"));
        assert!(violation(&call(r#"{"a":[-9223372036854775809]}"#))
            .unwrap()
            .contains("int64"));
        assert_eq!(
            violation(&call(
                r#"{"a":"123456789012345678901234567890","b":1.5e10}"#
            )),
            None
        );
        assert!(violation(&call(r#"{"a":1e400}"#))
            .unwrap()
            .contains("range"));
        assert!(violation(&call("[1]")).unwrap().contains("object"));
        // Size: Source + DetailType + Detail under 256,000 bytes.
        let fits = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_ENTRY_BYTES - 2 - 8 - 1));
        assert_eq!(violation(&call(&fits)), None);
        let over = format!(r#"{{"x":"{}"}}"#, "a".repeat(MAX_ENTRY_BYTES - 2 - 8));
        assert!(violation(&call(&over)).unwrap().contains("bytes"));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(1000), "]".repeat(1000));
        assert!(violation(&call(&deep)).unwrap().contains("nested"));
    }

    #[test]
    fn a_refused_entry_is_put_back_in_its_place() {
        let body = br#"{"Entries":[{"DetailType":"A","Detail":"{\"id\":\"k1\"}"},{"DetailType":"B","Detail":"{\"id\":\"k1\"}"},{"DetailType":"B","Detail":"{\"id\":\"k2\"}"}]}"#;
        let (rest, index) = without_entry(body, "B", &["k1".into()]).unwrap();
        assert_eq!(index, 1);
        let rest: Value = serde_json::from_slice(&rest).unwrap();
        assert_eq!(rest["Entries"].as_array().unwrap().len(), 2);
        let answer = br#"{"FailedEntryCount":0,"Entries":[{"EventId":"1"},{"EventId":"2"}]}"#;
        let merged: Value = serde_json::from_slice(&with_refused_entry(answer, index)).unwrap();
        assert_eq!(merged["FailedEntryCount"], 1);
        assert_eq!(merged["Entries"][1]["ErrorCode"], "InternalFailure");
        assert_eq!(merged["Entries"][2]["EventId"], "2");
    }
}
