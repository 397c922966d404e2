//! The reference reading of a Subnoto payload: through a `serde_json::Value`,
//! field by field, as the design describes it. The property tests and the
//! `parse_json` fuzz target hold `Event::parse` equal to it.

use verify::{Event, ParseError, Provider};

/// How a body was refused, coarsely: which field was wrong is not compared, as
/// the reference checks the fields in its own order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotJson,
    NotAnObject,
    Field,
}

/// The kind of refusal a parse error is.
pub fn refusal(e: ParseError) -> Refusal {
    match e {
        ParseError::NotJson(_) => Refusal::NotJson,
        ParseError::NotAnObject => Refusal::NotAnObject,
        ParseError::MissingField(_) | ParseError::InvalidField { .. } => Refusal::Field,
        ParseError::MissingFormPayload => unreachable!("JSON bodies have no form payload"),
    }
}

/// A Subnoto event read the plain way, through a `serde_json::Value`: the
/// reference the member-by-member reader must agree with.
pub fn subnoto_reference(body: &str) -> Result<Event, Refusal> {
    use serde_json::Value;
    let value: Value = serde_json::from_str(body).map_err(|_| Refusal::NotJson)?;
    let root = value.as_object().ok_or(Refusal::NotAnObject)?;
    // Absent or null is None, a string Some, anything else a refusal.
    fn text(v: Option<&Value>) -> Result<Option<String>, Refusal> {
        match v {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(Refusal::Field),
        }
    }
    let event_type = text(root.get("eventType"))?.ok_or(Refusal::Field)?;
    let key = match text(root.get("eventUuid"))? {
        Some(uuid) if !uuid.is_empty() => uuid,
        _ => const_hex::encode(<sha2::Sha256 as sha2::Digest>::digest(
            verify::canonical_json(&value).as_bytes(),
        )),
    };
    let occurred_at_ms = match root.get("eventTime") {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => Some(n.as_i64().ok_or(Refusal::Field)?),
        Some(Value::String(s)) => Some(s.parse().map_err(|_| Refusal::Field)?),
        Some(_) => return Err(Refusal::Field),
    };
    let empty = serde_json::Map::new();
    let data = match root.get("data") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(d)) => d,
        Some(_) => return Err(Refusal::Field),
    };
    let field = |name: &str| text(data.get(name));
    let signer = if event_type == "ENVELOPE_SIGNED" {
        let (name, email) = (field("recipientName")?, field("recipientEmail")?);
        (name.is_some() || email.is_some()).then_some(verify::Signer { name, email })
    } else {
        None
    };
    let title = field("title")?;
    let envelope_title = field("envelopeTitle")?;
    Ok(Event {
        provider: Provider::Subnoto,
        key,
        event_type,
        subject: field("envelopeUuid")?,
        occurred_at_ms,
        status: None,
        title: title.or(envelope_title),
        reference: None,
        external_metadata: None,
        workspace: field("workspaceUuid")?,
        document_id: field("documentUuid")?,
        counterparty: None,
        signer,
    })
}
