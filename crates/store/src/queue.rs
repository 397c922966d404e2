use aws_sdk_sqs::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};
use verify::Event;

use crate::error::StoreError;
use domain::limits::{cap, sqs_attribute, sqs_safe_json, MAX_FIELD_BYTES, SQS_MAX_MESSAGE_BYTES};

/// Message attribute `redrive` adds to every message it moves back from the
/// dead-letter queue (value "true"): the processor counts such a message as
/// redelivered, as it cannot tell from SQS's receive count, which starts over.
pub const REDRIVEN_ATTRIBUTE: &str = "redriven";

/// Version of the [`QueueMessage`] document; bumped on incompatible changes.
pub const QUEUE_MESSAGE_VERSION: u32 = 1;

/// What ingest puts on the queue: the ledger key and the normalised event, so the
/// processor needs no extra read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QueueMessage {
    /// Document version ([`QUEUE_MESSAGE_VERSION`]).
    pub v: u32,
    /// `{provider}#{dedup key}` of the ledger item.
    pub ledger_key: String,
    /// When ingest accepted it (ms).
    pub received_at_ms: i64,
    /// The event; only a stub (provider, key, type) when `by_reference`.
    pub event: Event,
    /// True when the whole event did not fit an SQS message: the processor
    /// reads it from the ledger item instead (one `GetItem`, rare).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub by_reference: bool,
    /// True when this is not ingest's first send of the event (the
    /// duplicate path, the sweep, `replay`): the processor may have handled
    /// it before. Published as `redelivered`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub resent: bool,
}

impl QueueMessage {
    /// A message for `event` accepted at `received_at_ms`.
    pub fn new(event: Event, received_at_ms: i64) -> Self {
        QueueMessage {
            v: QUEUE_MESSAGE_VERSION,
            ledger_key: event.ledger_key(),
            received_at_ms,
            event,
            by_reference: false,
            resent: false,
        }
    }

    /// The same message, marked as a send after the first (see `resent`).
    pub fn resent(mut self) -> Self {
        self.resent = true;
        self
    }

    /// The same message with only a stub of the event, for the processor to
    /// read the rest from the ledger.
    pub fn by_reference(&self) -> QueueMessage {
        let event = &self.event;
        QueueMessage {
            v: self.v,
            ledger_key: self.ledger_key.clone(),
            received_at_ms: self.received_at_ms,
            event: Event {
                provider: event.provider,
                key: event.key.clone(),
                event_type: cap(&event.event_type, MAX_FIELD_BYTES).to_owned(),
                subject: None,
                occurred_at_ms: None,
                status: None,
                title: None,
                reference: None,
                external_metadata: None,
                contract_kind: None,
                workspace: None,
                document_id: None,
                counterparty: None,
                signer: None,
                unread_fields: Vec::new(),
            },
            by_reference: true,
            resent: self.resent,
        }
    }

    /// The body SQS is sent: JSON with the characters SQS refuses escaped,
    /// by reference when the whole event would not fit a message.
    pub fn to_sqs_body(&self) -> Result<String, StoreError> {
        let json = |m: &QueueMessage| {
            serde_json::to_string(m)
                .map(sqs_safe_json)
                .map_err(|e| StoreError::Corrupt {
                    what: "queue message",
                    reason: e.to_string(),
                })
        };
        let body = json(self)?;
        // Room for the two attributes (names, types, values of at most 256 bytes).
        if body.len() <= SQS_MAX_MESSAGE_BYTES - 1024 || self.by_reference {
            return Ok(body);
        }
        json(&self.by_reference())
    }

    /// Parses a message body, refusing unknown versions.
    pub fn from_json(body: &str) -> Result<Self, StoreError> {
        let msg: QueueMessage = serde_json::from_str(body).map_err(|e| StoreError::Corrupt {
            what: "queue message",
            reason: format!(
                "{} at line {} column {}",
                e.classify_name(),
                e.line(),
                e.column()
            ),
        })?;
        if msg.v != QUEUE_MESSAGE_VERSION {
            return Err(StoreError::Corrupt {
                what: "queue message",
                reason: format!("unsupported version {}", msg.v),
            });
        }
        Ok(msg)
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "read error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "invalid data",
            serde_json::error::Category::Eof => "unexpected end",
        }
    }
}

/// The SQS event queue.
#[derive(Debug, Clone)]
pub struct Queue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    /// The queue at `url`.
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Queue {
            client,
            url: url.into(),
        }
    }

    /// The queue URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends one message (one `SendMessage`), with `provider` and `event_type`
    /// as message attributes for filtering and inspection. Returns the message id.
    /// Attribute values are cleaned for SQS ([`sqs_attribute`]); an empty one
    /// is left out.
    pub async fn send(&self, message: &QueueMessage) -> Result<String, StoreError> {
        let body = message.to_sqs_body()?;
        let mut request = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body);
        for (name, value) in [
            ("provider", message.event.provider.as_str()),
            ("event_type", message.event.event_type.as_str()),
        ] {
            let Some(value) = sqs_attribute(value) else {
                continue;
            };
            let attribute = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| StoreError::Corrupt {
                    what: "queue message attribute",
                    reason: e.to_string(),
                })?;
            request = request.message_attributes(name, attribute);
        }
        let out = request
            .send()
            .await
            .map_err(|e| StoreError::aws("SQS.SendMessage", e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use verify::{BodyFormat, Provider};

    fn message() -> QueueMessage {
        let body = br#"{"contract_id": 7, "contract_status": "EXECUTED", "activity": "x"}"#;
        let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body).unwrap();
        QueueMessage::new(event, 1_795_341_800_000)
    }

    #[test]
    fn resent_survives_the_wire_and_a_by_reference_stub() {
        let first = message();
        assert!(!first.resent);
        let body = first.to_sqs_body().unwrap();
        assert!(!body.contains("resent"), "left out when false: {body}");
        let again = first.clone().resent();
        let read = QueueMessage::from_json(&again.to_sqs_body().unwrap()).unwrap();
        assert!(read.resent);
        assert_eq!(read, again);
        assert!(again.by_reference().resent);
        assert!(!first.by_reference().resent);
    }

    #[test]
    fn a_message_from_before_the_field_reads_as_a_first_send() {
        let mut json: serde_json::Value =
            serde_json::from_str(&message().to_sqs_body().unwrap()).unwrap();
        json.as_object_mut().unwrap().remove("resent");
        let read = QueueMessage::from_json(&json.to_string()).unwrap();
        assert!(!read.resent);
    }
}
