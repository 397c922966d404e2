//! SpotDraft key pointers (a contract's metadata values) as the archiver
//! keeps and publishes them: the answer of `GET …/key_pointers` read into
//! entries `{field_name, label, data_type, value, format_option}` in a stable
//! order, their JSON text bounded by [`MAX_KEY_POINTERS_BYTES`], its SHA-256,
//! and the date-typed values as RFC 3339 full dates keyed by `field_name`.
//!
//! `value` is kept as SpotDraft sends it, whatever its JSON type (a
//! duration is `{"type": "MONTHS", "value": 6}`). Labels and values may name
//! people: never logged.

use std::collections::BTreeMap;

use domain::limits::{cap, MAX_FIELD_BYTES, MAX_KEY_POINTERS_BYTES};
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

/// The `data_type`s SpotDraft documents; others are kept as they come.
pub const DATA_TYPES: [&str; 6] = [
    "string", "date", "number", "currency", "duration", "boolean",
];

/// The answer cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyPointersError {
    /// Not a list of key pointers.
    #[error("not a list of key pointers")]
    NotAList,
    /// An entry is not an object with a `field_name`.
    #[error("key pointer {0} has no field_name")]
    Entry(usize),
    /// The values are larger than [`MAX_KEY_POINTERS_BYTES`].
    #[error("key pointers take {0} bytes of JSON, more than {MAX_KEY_POINTERS_BYTES}")]
    TooLarge(usize),
}

/// A contract's values, ready to record and publish.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyPointers {
    /// The entries, ordered by `field_name` then `id`.
    pub values: Vec<Value>,
    /// Their JSON text (what the status item keeps).
    pub json: String,
    /// SHA-256 of [`KeyPointers::json`], lowercase hex.
    pub sha256: String,
    /// `field_name` → RFC 3339 full date, for the date-typed values that read as one.
    pub dates: BTreeMap<String, String>,
}

/// The entries of the answer: a JSON array (what the design notes say), or
/// an object holding one under `results`, `data` or `key_pointers`.
fn entries(answer: &Value) -> Option<&Vec<Value>> {
    answer.as_array().or_else(|| {
        ["results", "data", "key_pointers"]
            .iter()
            .find_map(|k| answer.get(*k).and_then(Value::as_array))
    })
}

fn capped(v: Option<&Value>) -> Value {
    match v {
        Some(Value::String(s)) => Value::String(cap(s, MAX_FIELD_BYTES).to_owned()),
        Some(Value::Number(n)) => Value::String(n.to_string()),
        _ => Value::Null,
    }
}

/// Reads an answer.
pub fn read(answer: &Value) -> Result<KeyPointers, KeyPointersError> {
    let list = entries(answer).ok_or(KeyPointersError::NotAList)?;
    let mut values = Vec::with_capacity(list.len());
    for (i, entry) in list.iter().enumerate() {
        let field_name = match entry.get("field_name") {
            Some(Value::String(s)) if !s.trim().is_empty() => cap(s.trim(), MAX_FIELD_BYTES),
            _ => return Err(KeyPointersError::Entry(i)),
        };
        let mut out = Map::new();
        out.insert("field_name".into(), field_name.into());
        if let Some(id) = entry.get("id").filter(|v| v.is_number() || v.is_string()) {
            out.insert("id".into(), capped(Some(id)));
        }
        out.insert("label".into(), capped(entry.get("label")));
        out.insert("data_type".into(), capped(entry.get("data_type")));
        out.insert(
            "value".into(),
            entry.get("value").cloned().unwrap_or(Value::Null),
        );
        if let Some(f) = entry.get("format_option").filter(|v| !v.is_null()) {
            out.insert("format_option".into(), capped(Some(f)));
        }
        values.push(Value::Object(out));
    }
    let key = |v: &Value| {
        (
            v["field_name"].as_str().unwrap_or("").to_owned(),
            v.get("id").map(Value::to_string).unwrap_or_default(),
        )
    };
    values.sort_by_key(key);
    let json = Value::Array(values.clone()).to_string();
    if json.len() > MAX_KEY_POINTERS_BYTES {
        return Err(KeyPointersError::TooLarge(json.len()));
    }
    let dates = values
        .iter()
        .filter(|v| v["data_type"] == "date")
        .filter_map(|v| {
            Some((
                v["field_name"].as_str()?.to_owned(),
                full_date(&v["value"])?,
            ))
        })
        .collect();
    Ok(KeyPointers {
        sha256: hex::encode(Sha256::digest(json.as_bytes())),
        values,
        json,
        dates,
    })
}

/// A date value as an RFC 3339 full date (`YYYY-MM-DD`): a full date, or
/// the date part of an RFC 3339 date-time, as written. Anything else (a
/// format SpotDraft did not document) is left out of `dates`.
pub fn full_date(value: &Value) -> Option<String> {
    let text = value.as_str()?.trim();
    let date = match text.get(..10) {
        Some(day) if text.len() == 10 => parse_day(day)?,
        _ => time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .ok()?
            .date(),
    };
    Some(format!(
        "{:04}-{:02}-{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    ))
}

fn parse_day(text: &str) -> Option<time::Date> {
    let mut parts = text.split('-');
    let (y, m, d) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || y.len() != 4 || m.len() != 2 || d.len() != 2 {
        return None;
    }
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// The `Contract Metadata Captured` detail.
pub fn captured_detail(id: &str, subject: &str, values: &KeyPointers, fetched_at: &str) -> Value {
    json!({
        "version": "1",
        "id": id,
        "provider": "spotdraft",
        "subject": subject,
        "values": values.values,
        "dates": values.dates,
        "sha256": values.sha256,
        "fetched_at": fetched_at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn every_type() -> Value {
        json!([
            {"id": 6, "field_name": "auto_renews", "label": "Auto renews", "data_type": "boolean", "value": true, "format_option": null},
            {"id": 1, "field_name": "effective_date", "label": "Effective date", "data_type": "date", "value": "2026-12-01", "format_option": "DD/MM/YYYY"},
            {"id": 2, "field_name": "contract_value", "label": "Value", "data_type": "currency", "value": {"currency": "EUR", "amount": 1200.5}},
            {"id": 3, "field_name": "term", "label": "Term", "data_type": "duration", "value": {"type": "MONTHS", "value": 6}},
            {"id": 4, "field_name": "seats", "label": "Seats", "data_type": "number", "value": 25},
            {"id": 5, "field_name": "governing_law", "label": "Governing law", "data_type": "string", "value": "England"},
            {"id": 7, "field_name": "end_date", "label": "End", "data_type": "date", "value": "2027-11-30T00:00:00+00:00"}
        ])
    }

    #[test]
    fn every_documented_type_is_kept_and_dates_normalised() {
        let kp = read(&every_type()).unwrap();
        assert_eq!(kp.values.len(), 7);
        let names: Vec<_> = kp
            .values
            .iter()
            .map(|v| v["field_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "auto_renews",
                "contract_value",
                "effective_date",
                "end_date",
                "governing_law",
                "seats",
                "term"
            ]
        );
        assert_eq!(kp.values[6]["value"], json!({"type": "MONTHS", "value": 6}));
        assert_eq!(kp.values[0]["value"], json!(true));
        assert_eq!(
            kp.dates,
            BTreeMap::from([
                ("effective_date".to_owned(), "2026-12-01".to_owned()),
                ("end_date".to_owned(), "2027-11-30".to_owned())
            ])
        );
        for t in DATA_TYPES {
            assert!(kp.values.iter().any(|v| v["data_type"] == t), "{t}");
        }
    }

    #[test]
    fn the_hash_ignores_answer_order() {
        let mut reversed = every_type();
        reversed.as_array_mut().unwrap().reverse();
        assert_eq!(
            read(&every_type()).unwrap().sha256,
            read(&reversed).unwrap().sha256
        );
        let mut changed = every_type();
        changed[4]["value"] = json!(26);
        assert_ne!(
            read(&every_type()).unwrap().sha256,
            read(&changed).unwrap().sha256
        );
    }

    #[test]
    fn wrapped_and_empty_answers_read() {
        assert_eq!(
            read(&json!({"results": every_type()}))
                .unwrap()
                .values
                .len(),
            7
        );
        assert!(read(&json!([])).unwrap().values.is_empty());
    }

    #[test]
    fn unusable_answers_are_errors() {
        assert_eq!(
            read(&json!({"detail": "x"})),
            Err(KeyPointersError::NotAList)
        );
        assert_eq!(read(&json!("text")), Err(KeyPointersError::NotAList));
        assert_eq!(
            read(&json!([{"value": 1}])),
            Err(KeyPointersError::Entry(0))
        );
        assert_eq!(read(&json!([1])), Err(KeyPointersError::Entry(0)));
        let big: Vec<Value> = (0..100)
            .map(|i| json!({"field_name": format!("f{i}"), "data_type": "string", "value": "x".repeat(1000)}))
            .collect();
        assert!(matches!(
            read(&Value::Array(big)),
            Err(KeyPointersError::TooLarge(_))
        ));
    }

    #[test]
    fn long_labels_are_capped_and_odd_dates_left_out() {
        let kp = read(&json!([
            {"field_name": "x", "label": "é".repeat(5000), "data_type": "date", "value": "31/01/2026"}
        ]))
        .unwrap();
        assert!(kp.values[0]["label"].as_str().unwrap().len() <= MAX_FIELD_BYTES);
        assert!(kp.dates.is_empty());
        assert_eq!(full_date(&json!("2026-02-30")), None);
        assert_eq!(full_date(&json!(20260101)), None);
    }
}
