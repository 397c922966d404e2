use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::json::{self, Node, Object};
use crate::{BodyFormat, ParseError, Provider};

/// A provider's webhook normalised to what the status sync needs. This is also
/// the event carried in the queue message, so it serialises compactly.
///
/// `Debug` is safe to log only in tests: titles and metadata are business data,
/// though the signer's name and email are redacted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// Who sent it.
    pub provider: Provider,
    /// Dedup key: Subnoto `eventUuid`, else SHA-256 (hex) of the canonical JSON.
    pub key: String,
    /// Provider event type, verbatim (`CONTRACT_SIGNED`, `ENVELOPE_COMPLETED`, or
    /// values this code has never seen).
    pub event_type: String,
    /// The contract id (SpotDraft, exact digits) or envelope uuid (Subnoto).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Provider event time in Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub occurred_at_ms: Option<i64>,
    /// Status the provider reports (SpotDraft `contract_status`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Contract or envelope title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// SpotDraft `contract_reference_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// SpotDraft `external_metadata`, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_metadata: Option<Value>,
    /// Subnoto workspace uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace: Option<String>,
    /// Subnoto document uuid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document_id: Option<String>,
    /// First counterparty's organisation (SpotDraft).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counterparty: Option<String>,
    /// Who signed, on a signing event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signer: Option<Signer>,
}

/// A person who signed. `Debug` redacts both fields: they are personal data.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// Display name, if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Email address, if sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl Signer {
    pub(crate) fn from_parts(name: Option<&str>, email: Option<&str>) -> Option<Signer> {
        (name.is_some() || email.is_some()).then(|| Signer {
            name: name.map(str::to_owned),
            email: email.map(str::to_owned),
        })
    }

    /// A stable identity for the set of signers: the email when known, else the name.
    pub fn identity(&self) -> Option<&str> {
        self.email.as_deref().or(self.name.as_deref())
    }
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(<redacted>)")
    }
}

impl Event {
    /// Parses a verified body. For form bodies the `payload` field is
    /// percent-decoded here, after the signature was checked over the raw bytes.
    pub fn parse(provider: Provider, format: BodyFormat, body: &[u8]) -> Result<Event, ParseError> {
        match format {
            BodyFormat::Json => Self::parse_json(provider, body),
            BodyFormat::Form => {
                let payload = form_urlencoded::parse(body)
                    .find(|(name, _)| name == "payload")
                    .map(|(_, value)| value)
                    .ok_or(ParseError::MissingFormPayload)?;
                Self::parse_json(provider, payload.as_bytes())
            }
        }
    }

    fn parse_json(provider: Provider, json: &[u8]) -> Result<Event, ParseError> {
        match provider {
            Provider::SpotDraft => {
                // The dedup key hashes the whole document, so all of it is read.
                let node = Node::from_slice(json).map_err(not_json)?;
                let root = node.as_object().ok_or(ParseError::NotAnObject)?;
                crate::spotdraft::parse(root, canonical_key(&node, json.len()))
            }
            Provider::Subnoto => {
                // Subnoto names each event: the rest of the body is only checked.
                let mut payload = crate::subnoto::Payload::default();
                let shape = json::read_members(json, &mut payload).map_err(not_json)?;
                if shape != json::Shape::Object {
                    return Err(ParseError::NotAnObject);
                }
                crate::subnoto::parse(&payload, || {
                    let node = Node::from_slice(json).map_err(not_json)?;
                    Ok(canonical_key(&node, json.len()))
                })
            }
        }
    }

    /// The ledger partition key: `{provider}#{dedup key}`.
    pub fn ledger_key(&self) -> String {
        let provider = self.provider.as_str();
        let mut key = String::with_capacity(provider.len() + 1 + self.key.len());
        key.push_str(provider);
        key.push('#');
        key.push_str(&self.key);
        key
    }
}

/// SHA-256 (hex) of the canonical JSON of `node`.
fn canonical_key(node: &Node<'_>, size_hint: usize) -> String {
    let mut canonical = Vec::with_capacity(size_hint);
    node.write_canonical(&mut canonical);
    crate::dedup::sha256_hex(&canonical)
}

fn not_json(e: json::Error) -> ParseError {
    ParseError::NotJson(match e {
        json::Error::Utf8(e) => format!("invalid UTF-8 at byte {}", e.valid_up_to()),
        // serde_json's message has position and category only, never content.
        json::Error::Json(e) => format!(
            "{} at line {} column {}",
            category(&e),
            e.line(),
            e.column()
        ),
    })
}

fn category(e: &serde_json::Error) -> &'static str {
    use serde_json::error::Category;
    match e.classify() {
        Category::Io => "read error",
        Category::Syntax => "syntax error",
        Category::Data => "invalid data",
        Category::Eof => "unexpected end of input",
    }
}

/// A string field; absent and null are `None`, other types are an error.
pub(crate) fn field_str<'o>(
    obj: &'o Object<'_>,
    name: &'static str,
) -> Result<Option<&'o str>, ParseError> {
    member_str(obj.get(name), name)
}

/// A member's value as a string: absent and null are `None`, other types an error.
pub(crate) fn member_str<'o>(
    value: Option<&'o Node<'_>>,
    name: &'static str,
) -> Result<Option<&'o str>, ParseError> {
    match value {
        None | Some(Node::Null) => Ok(None),
        Some(Node::String(s)) => Ok(Some(s)),
        Some(_) => Err(ParseError::InvalidField {
            field: name,
            reason: "not a string",
        }),
    }
}

/// An object field; absent and null are `None`, other types are an error.
pub(crate) fn object_field<'o, 'a>(
    obj: &'o Object<'a>,
    name: &'static str,
) -> Result<Option<&'o Object<'a>>, ParseError> {
    match obj.get(name) {
        None | Some(Node::Null) => Ok(None),
        Some(Node::Object(o)) => Ok(Some(o)),
        Some(_) => Err(ParseError::InvalidField {
            field: name,
            reason: "not an object",
        }),
    }
}

/// RFC 3339 in any offset to Unix milliseconds. A date-time without an offset is
/// read as UTC, which is what SpotDraft means when it omits one.
pub(crate) fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    let parsed = OffsetDateTime::parse(s, &Rfc3339).ok().or_else(|| {
        let naive = time::PrimitiveDateTime::parse(
            s,
            &time::format_description::well_known::Iso8601::DEFAULT,
        )
        .ok()?;
        Some(naive.assume_utc())
    })?;
    i64::try_from(parsed.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_offsets_agree() {
        let z = parse_rfc3339_ms("2026-11-22T10:02:11.904Z").unwrap();
        assert_eq!(z, 1_795_341_731_904);
        assert_eq!(parse_rfc3339_ms("2026-11-22T15:32:11.904+05:30"), Some(z));
        assert_eq!(parse_rfc3339_ms("2026-11-22T05:02:11.904-05:00"), Some(z));
        assert_eq!(parse_rfc3339_ms("2026-11-22T10:02:11.904000Z"), Some(z));
        assert_eq!(parse_rfc3339_ms("2026-11-22T10:02:11.904"), Some(z));
        assert_eq!(parse_rfc3339_ms("yesterday"), None);
    }

    #[test]
    fn signer_debug_is_redacted() {
        let s = Signer::from_parts(Some("Jane Roe"), Some("jane@example.com")).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("jane") && !shown.contains("Jane"));
    }
}
