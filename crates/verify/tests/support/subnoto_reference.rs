//! The reference reading of a Subnoto payload: through a `serde_json::Value`,
//! field by field, as the design describes it. The property tests and the
//! `parse_json` fuzz target hold `Event::parse` equal to it.

use verify::{Event, ParseError, Provider};

/// How a body was refused, coarsely. Only the body as a whole can be refused:
/// a member that cannot be read is left out and noted, never a refusal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotJson,
    NotAnObject,
}

/// The kind of refusal a parse error is.
pub fn refusal(e: ParseError) -> Refusal {
    match e {
        ParseError::NotJson(_) => Refusal::NotJson,
        ParseError::NotAnObject => Refusal::NotAnObject,
        ParseError::MissingFormPayload => unreachable!("JSON bodies have no form payload"),
    }
}

/// A Unix time in milliseconds (Subnoto documents `eventTime` so), before
/// the year 10000.
fn epoch_ms(v: f64) -> Option<i64> {
    (0.0..253_402_300_800_000.0)
        .contains(&v)
        .then_some(v as i64)
}

/// An RFC 3339 date-time (or one without an offset, read as UTC) in ms.
fn date_time_ms(s: &str) -> Option<i64> {
    use time::format_description::well_known::{Iso8601, Rfc3339};
    let t = time::OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        Some(
            time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT)
                .ok()?
                .assume_utc(),
        )
    })?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

/// A Subnoto event read the plain way, through a `serde_json::Value`: the
/// reference the member-by-member reader must agree with.
pub fn subnoto_reference(body: &str) -> Result<Event, Refusal> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(body).map_err(|_| Refusal::NotJson)?;
    let root = value.as_object().ok_or(Refusal::NotAnObject)?;
    let mut unread: Vec<&'static str> = Vec::new();
    let note = |name: &'static str, unread: &mut Vec<&'static str>| {
        if !unread.contains(&name) {
            unread.push(name);
        }
    };
    // Absent, null and empty are None; a string or a number is its text;
    // anything else is noted as unread.
    let text = |v: Option<&Value>, name: &'static str, unread: &mut Vec<&'static str>| match v {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()).filter(|s| !s.is_empty()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => {
            note(name, unread);
            None
        }
    };
    let event_type = text(root.get("eventType"), "eventType", &mut unread).unwrap_or_else(|| {
        if !unread.contains(&"eventType") {
            unread.push("eventType");
        }
        String::new()
    });
    // A uuid that is a fraction or a huge number is not used as a key (its
    // text would be rounded): the canonical key stands in.
    let uuid = match root.get("eventUuid") {
        Some(Value::Number(n)) if !(n.is_i64() || n.is_u64()) => None,
        v => text(v, "eventUuid", &mut unread),
    };
    let key = match uuid {
        Some(uuid) => verify::subnoto::event_key(&uuid),
        None => const_hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            exact_canonical(body).as_bytes(),
        )),
    };
    let occurred_at_ms = match root.get("eventTime") {
        None | Some(Value::Null) => None,
        Some(v) => {
            let ms = match v {
                Value::Number(n) => n.as_f64().and_then(epoch_ms),
                Value::String(s) => {
                    let s = s.trim();
                    date_time_ms(s).or_else(|| s.parse::<f64>().ok().and_then(epoch_ms))
                }
                _ => None,
            };
            if ms.is_none() {
                unread.push("eventTime");
            }
            ms
        }
    };
    let empty = serde_json::Map::new();
    let data = match root.get("data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(d)) => d,
        Some(_) => {
            unread.push("data");
            &empty
        }
    };
    let signer = if event_type == "ENVELOPE_SIGNED" {
        let name = text(data.get("recipientName"), "data.recipientName", &mut unread);
        let email = text(
            data.get("recipientEmail"),
            "data.recipientEmail",
            &mut unread,
        );
        (name.is_some() || email.is_some()).then_some(verify::Signer { name, email })
    } else {
        None
    };
    let title = text(data.get("title"), "data.title", &mut unread);
    let envelope_title = text(data.get("envelopeTitle"), "data.envelopeTitle", &mut unread);
    let subject = text(data.get("envelopeUuid"), "data.envelopeUuid", &mut unread);
    let workspace = text(data.get("workspaceUuid"), "data.workspaceUuid", &mut unread);
    let document_id = text(data.get("documentUuid"), "data.documentUuid", &mut unread);
    Ok(Event {
        provider: Provider::Subnoto,
        key,
        event_type,
        subject,
        occurred_at_ms,
        status: None,
        title: title.or(envelope_title),
        reference: None,
        external_metadata: None,
        contract_kind: None,
        workspace,
        document_id,
        counterparty: None,
        signer,
        unread_fields: unread,
    })
}

/// Canonical JSON of a valid JSON text with every number exactly as written:
/// each number token is first wrapped in a marked string, so that
/// `serde_json::Value` (which would round it) keeps its text; `canonical_json`
/// sorts and dedups the members; then the marks are taken off again.
pub fn exact_canonical(text: &str) -> String {
    const MARK: &str = "\\u0000#";
    let mut wrapped = String::with_capacity(text.len() * 2);
    let mut chars = text.char_indices().peekable();
    let mut in_string = false;
    while let Some((i, c)) = chars.next() {
        if in_string {
            wrapped.push(c);
            if c == '\\' {
                if let Some((_, escaped)) = chars.next() {
                    wrapped.push(escaped);
                }
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            wrapped.push(c);
        } else if c == '-' || c.is_ascii_digit() {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_ascii_digit() || "+-.eE".contains(d) {
                    end = j + 1;
                    chars.next();
                } else {
                    break;
                }
            }
            wrapped.push('"');
            wrapped.push_str(MARK);
            wrapped.push_str(&text[i..end]);
            wrapped.push('"');
        } else {
            wrapped.push(c);
        }
    }
    let value: serde_json::Value = serde_json::from_str(&wrapped).expect("valid JSON stays valid");
    let canonical = verify::canonical_json(&value);
    // Every marked string is `"\u0000#<number>"` in serde_json's rendering.
    let mut out = String::with_capacity(canonical.len());
    let mut rest = canonical.as_str();
    while let Some(at) = rest.find(&format!("\"{MARK}")) {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1 + MARK.len()..];
        let end = after.find('"').expect("closing quote");
        out.push_str(&after[..end]);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    out
}
