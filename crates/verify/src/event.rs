use std::fmt;

use std::borrow::Cow;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
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
    /// SpotDraft `external_metadata`: canonical JSON with every number exactly
    /// as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_metadata: Option<JsonText>,
    /// SpotDraft `contract_kind` (`TEMPLATE_CONTRACT`, … or values never seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contract_kind: Option<String>,
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
    /// Fields the event should have that were absent, or present but not
    /// readable (a mistyped value, a date in no format we know). They are
    /// left out of the event, never a reason to refuse a signed one: for the
    /// log line and the metric of the delivery that carried them. Not sent on.
    #[serde(skip)]
    pub unread_fields: Vec<&'static str>,
}

/// A JSON value kept as its text (canonical: members sorted, no whitespace,
/// numbers exactly as sent). Serialised as the JSON value itself, and read
/// back without recursion, so nesting that ingest accepted never fails a
/// reader further on.
#[derive(Clone)]
pub struct JsonText(Box<RawValue>);

impl JsonText {
    /// Wraps JSON text; `None` if it is not one JSON value.
    pub fn new(text: String) -> Option<JsonText> {
        RawValue::from_string(text).ok().map(JsonText)
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        self.0.get()
    }
}

impl PartialEq for JsonText {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for JsonText {}

impl fmt::Debug for JsonText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JsonText({} bytes)", self.get().len())
    }
}

impl Serialize for JsonText {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for JsonText {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(JsonText)
    }
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
                Ok(crate::spotdraft::parse(
                    root,
                    canonical_key(&node, json.len()),
                ))
            }
            Provider::DocuSign => {
                // No delivery id: the key hashes the document, less what a
                // retry changes.
                let node = Node::from_slice(json).map_err(not_json)?;
                let root = node.as_object().ok_or(ParseError::NotAnObject)?;
                let key = canonical_key(&crate::docusign::key_object(root), json.len());
                Ok(crate::docusign::parse(root, key))
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

/// Reads the fields of a payload leniently: a field that is absent is `None`,
/// and so is one whose value cannot be read, which is also noted in
/// [`Event::unread_fields`]. Nothing here refuses a signed event.
#[derive(Debug, Default)]
pub(crate) struct Lenient {
    pub(crate) unread: Vec<&'static str>,
}

impl Lenient {
    /// Notes `name` as unreadable and gives `None`.
    pub(crate) fn unread<T>(&mut self, name: &'static str) -> Option<T> {
        if !self.unread.contains(&name) {
            self.unread.push(name);
        }
        None
    }

    /// A text member: a string, or a number's exact text. Null and absent are
    /// `None`; other types are unread.
    pub(crate) fn text<'o>(
        &mut self,
        value: Option<&'o Node<'_>>,
        name: &'static str,
    ) -> Option<Cow<'o, str>> {
        match value {
            None | Some(Node::Null) => None,
            Some(Node::String(s)) => Some(Cow::Borrowed(s)),
            Some(n @ (Node::Number(_) | Node::Decimal(..))) => n.number_text(),
            Some(_) => self.unread(name),
        }
    }

    /// [`Lenient::text`], owned; empty text counts as absent.
    pub(crate) fn owned(&mut self, value: Option<&Node<'_>>, name: &'static str) -> Option<String> {
        self.text(value, name)
            .filter(|s| !s.is_empty())
            .map(Cow::into_owned)
    }

    /// An object member; null and absent are `None`, other types unread.
    pub(crate) fn object<'o, 'a>(
        &mut self,
        value: Option<&'o Node<'a>>,
        name: &'static str,
    ) -> Option<&'o Object<'a>> {
        match value {
            None | Some(Node::Null) => None,
            Some(Node::Object(o)) => Some(o),
            Some(_) => self.unread(name),
        }
    }

    /// A point in time as Unix milliseconds: an RFC 3339 / ISO 8601 date-time,
    /// or a Unix time (a number or digits in a string). `unit` says how a
    /// number is read. Anything else is unread.
    pub(crate) fn time_ms(
        &mut self,
        value: Option<&Node<'_>>,
        name: &'static str,
        unit: Epoch,
    ) -> Option<i64> {
        let epoch = |v: f64| epoch_ms(v, unit);
        let parsed = match value {
            None | Some(Node::Null) => return None,
            Some(Node::String(s)) => {
                let s = s.trim();
                parse_rfc3339_ms(s).or_else(|| s.parse::<f64>().ok().and_then(epoch))
            }
            Some(Node::Number(n)) => n.as_f64().and_then(epoch),
            Some(Node::Decimal(v, _)) => epoch(*v),
            Some(_) => None,
        };
        parsed.or_else(|| self.unread(name))
    }
}

/// How a numeric Unix time is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Epoch {
    /// Milliseconds, as the provider documents (Subnoto `eventTime`).
    Millis,
    /// Seconds or milliseconds, told apart by size: a field documented as a
    /// date-time that arrives as a number (SpotDraft `activity_data.timestamp`).
    SecondsOrMillis,
}

/// Below this a Unix time of unknown unit is read as seconds (1e11 s is the
/// year 5138; 1e11 ms is March 1973, before any webhook).
const SECONDS_BELOW: f64 = 1e11;

/// A Unix time to milliseconds; `None` when it is not finite, negative, or
/// past the year 9999.
fn epoch_ms(v: f64, unit: Epoch) -> Option<i64> {
    const MAX_MS: f64 = 253_402_300_800_000.0; // 10000-01-01T00:00:00Z
    if !v.is_finite() || v < 0.0 {
        return None;
    }
    let seconds = unit == Epoch::SecondsOrMillis && v < SECONDS_BELOW;
    let ms = if seconds { v * 1000.0 } else { v };
    (ms < MAX_MS).then_some(ms as i64)
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
