use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::provider::Provider;

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_debug_is_redacted() {
        let s = Signer::from_parts(Some("Jane Roe"), Some("jane@example.com")).unwrap();
        let shown = format!("{s:?}");
        assert!(!shown.contains("jane") && !shown.contains("Jane"));
    }
}
