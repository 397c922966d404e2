//! What the operator commands read from the status table: one subject's whole
//! state ([`StatusTable::view`], for `status`) and the subjects with the newest
//! events (the types of `StatusTable::recent_page`, a scan that lives with the
//! operator tooling in `crate::ops`). Attribute names stay here; the CLI gets
//! typed values.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use verify::Provider;

use super::item::{opt_n, opt_text};
use crate::error::StoreError;
use crate::metadata::StoredMetadata;
use crate::schema::attr;
use crate::status_table::StatusTable;

/// A subject's status item as an operator reads it. Text fields that are
/// absent or empty are `None`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StatusView {
    /// Provider status of the winning event.
    pub status: Option<String>,
    /// The status before the last change, when it is kept.
    pub previous_status: Option<String>,
    /// Contract title or envelope name.
    pub title: Option<String>,
    /// SpotDraft reference.
    pub reference: Option<String>,
    /// SpotDraft counterparty.
    pub counterparty: Option<String>,
    /// Signers seen so far, sorted.
    pub signers: Vec<String>,
    /// Event type of the winning event.
    pub last_event_type: Option<String>,
    /// Its provider time, ms.
    pub event_time_ms: Option<i64>,
    /// Its dedup key (the ledger key without the provider).
    pub last_event_key: Option<String>,
    /// When it was applied, ms.
    pub updated_at_ms: Option<i64>,
    /// SpotDraft contract kind.
    pub contract_kind: Option<String>,
    /// SpotDraft workspace.
    pub workspace: Option<String>,
    /// The provider's document id.
    pub document_id: Option<String>,
    /// The provider's external metadata (JSON text, capped).
    pub external_metadata: Option<String>,
    /// The archived document, once there is one.
    #[cfg(feature = "archive")]
    pub document: Option<crate::archive::DocumentRecord>,
    /// The metadata values (SpotDraft key pointers) the archiver recorded.
    pub metadata: Option<StoredMetadata>,
    /// The whole item as plain JSON, internal attributes included.
    pub item: Value,
}

impl StatusView {
    /// Reads a status item's attributes.
    pub fn from_item(item: &HashMap<String, AttributeValue>) -> Self {
        let text = |name: &str| opt_text(item, name);
        let number = |name: &str| opt_n(item, name);
        let mut signers: Vec<String> = item
            .get(attr::SIGNERS)
            .and_then(|v| v.as_ss().ok())
            .cloned()
            .unwrap_or_default();
        signers.sort();
        StatusView {
            status: text(attr::STATUS),
            previous_status: text(attr::PREVIOUS_STATUS),
            title: text(attr::TITLE),
            reference: text(attr::REFERENCE),
            counterparty: text(attr::COUNTERPARTY),
            signers,
            last_event_type: text(attr::LAST_EVENT_TYPE),
            event_time_ms: number(attr::EVENT_TIME),
            last_event_key: text(attr::LAST_EVENT_KEY),
            updated_at_ms: number(attr::UPDATED_AT),
            contract_kind: text(attr::CONTRACT_KIND),
            workspace: text(attr::WORKSPACE),
            document_id: text(attr::DOCUMENT_ID),
            external_metadata: text(attr::EXTERNAL_METADATA),
            #[cfg(feature = "archive")]
            document: item
                .get(crate::archive::DOCUMENT_ATTR)
                .and_then(crate::archive::DocumentRecord::from_item),
            metadata: StoredMetadata::from_item(item),
            item: Value::Object(
                item.iter()
                    .map(|(k, v)| (k.clone(), plain_json(v)))
                    .collect(),
            ),
        }
    }
}

/// One subject as `recent` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecentSubject {
    /// The item's key (`{provider}#{subject}`, hashed for a long subject).
    pub key: String,
    /// Provider name as stored.
    pub provider: String,
    /// Contract id or envelope uuid (capped).
    pub subject: String,
    /// Provider status, if any.
    pub status: Option<String>,
    /// Title, if any.
    pub title: Option<String>,
    /// Last event type.
    pub last_event_type: Option<String>,
    /// Its time, ms.
    pub event_time_ms: i64,
}

/// Where a scan of the status table goes on from.
#[derive(Debug, Clone)]
pub struct RecentCursor(pub(crate) HashMap<String, AttributeValue>);

/// One page of [`StatusTable::recent_page`].
#[derive(Debug, Clone)]
pub struct RecentPage {
    /// Subjects with an event at or after the time asked for.
    pub subjects: Vec<RecentSubject>,
    /// Keys of matching items that could not be read (missing attributes).
    pub unreadable: Vec<String>,
    /// Items the page scanned.
    pub scanned: usize,
    /// The next page, when there is one.
    pub next: Option<RecentCursor>,
}

impl StatusTable {
    /// A subject's whole item as an operator reads it (strongly consistent).
    pub async fn view(
        &self,
        provider: Provider,
        subject: &str,
    ) -> Result<Option<StatusView>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(Self::key(provider, subject)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.GetItem", e))?;
        Ok(out.item().map(StatusView::from_item))
    }
}

/// A DynamoDB attribute as plain JSON (string sets sorted, binary as its size).
pub fn plain_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Ss(items) => {
            let mut items = items.clone();
            items.sort();
            Value::from(items)
        }
        AttributeValue::Ns(items) => Value::from(items.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(plain_json).collect()),
        AttributeValue::M(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), plain_json(v)))
                .collect(),
        ),
        AttributeValue::B(b) => Value::String(format!("<{} bytes>", b.as_ref().len())),
        _ => Value::Null,
    }
}
