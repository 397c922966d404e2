use aws_sdk_sqs::types::MessageAttributeValue;
use serde::{Deserialize, Serialize};
use verify::Event;

use crate::StoreError;

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
    /// The event.
    pub event: Event,
}

impl QueueMessage {
    /// A message for `event` accepted at `received_at_ms`.
    pub fn new(event: Event, received_at_ms: i64) -> Self {
        QueueMessage {
            v: QUEUE_MESSAGE_VERSION,
            ledger_key: event.ledger_key(),
            received_at_ms,
            event,
        }
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
    pub async fn send(&self, message: &QueueMessage) -> Result<String, StoreError> {
        let body = serde_json::to_string(message).map_err(|e| StoreError::Corrupt {
            what: "queue message",
            reason: e.to_string(),
        })?;
        let attribute = |value: &str| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| StoreError::aws("SQS.SendMessage", e))
        };
        let out = self
            .client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .message_attributes("provider", attribute(message.event.provider.as_str())?)
            .message_attributes("event_type", attribute(&message.event.event_type)?)
            .send()
            .await
            .map_err(|e| StoreError::aws("SQS.SendMessage", e))?;
        Ok(out.message_id().unwrap_or_default().to_owned())
    }
}
