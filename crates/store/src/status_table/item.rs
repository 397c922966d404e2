//! A status item as read back (tests, the CLI), with its attribute checks.

use crate::error::StoreError;
use crate::schema::attr;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::{BTreeSet, HashMap};
use verify::JsonText;

/// A status item as read back (tests, CLI).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusItem {
    /// Provider.
    pub provider: String,
    /// Contract id or envelope uuid.
    pub subject: String,
    /// Current status; absent while only status-less events were seen.
    pub status: Option<String>,
    /// Event type of the winning event.
    pub last_event_type: String,
    /// Its provider time (or arrival time), ms.
    pub event_time_ms: i64,
    /// Its dedup key.
    pub last_event_key: String,
    /// Its rank class.
    pub rank_class: u8,
    /// When it was applied, ms.
    pub updated_at_ms: i64,
    /// Title.
    pub title: Option<String>,
    /// SpotDraft contract reference id.
    pub reference: Option<String>,
    /// SpotDraft external metadata (canonical JSON, numbers as sent), or a
    /// marker when it was larger than [`MAX_METADATA_BYTES`].
    pub external_metadata: Option<JsonText>,
    /// SpotDraft contract kind.
    pub contract_kind: Option<String>,
    /// Subnoto workspace uuid.
    pub workspace: Option<String>,
    /// Subnoto document uuid.
    pub document_id: Option<String>,
    /// First counterparty (SpotDraft).
    pub counterparty: Option<String>,
    /// Identities (email, else name) of everyone seen signing.
    pub signers: BTreeSet<String>,
}

pub(super) fn corrupt(reason: String) -> StoreError {
    StoreError::Corrupt {
        what: "status item",
        reason,
    }
}

/// A string attribute, if present.
pub(crate) fn opt_s(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    item.get(name).and_then(|v| v.as_s().ok()).cloned()
}

/// A string attribute that is present and not empty (what an operator reads).
pub(crate) fn opt_text(item: &HashMap<String, AttributeValue>, name: &str) -> Option<String> {
    opt_s(item, name).filter(|s| !s.is_empty())
}

/// A number attribute that parses as an integer, if present.
pub(crate) fn opt_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

pub(super) fn req_s(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Result<String, StoreError> {
    opt_s(item, name).ok_or_else(|| corrupt(format!("missing string {name}")))
}

pub(super) fn req_n(item: &HashMap<String, AttributeValue>, name: &str) -> Result<i64, StoreError> {
    opt_n(item, name).ok_or_else(|| corrupt(format!("missing number {name}")))
}

pub(super) fn item_from(item: &HashMap<String, AttributeValue>) -> Result<StatusItem, StoreError> {
    let external_metadata = opt_s(item, attr::EXTERNAL_METADATA)
        .map(|text| {
            JsonText::new(text).ok_or_else(|| corrupt("external_metadata is not JSON".into()))
        })
        .transpose()?;
    let signers = item
        .get(attr::SIGNERS)
        .and_then(|v| v.as_ss().ok())
        .map(|set| set.iter().cloned().collect())
        .unwrap_or_default();
    Ok(StatusItem {
        provider: req_s(item, attr::PROVIDER)?,
        subject: req_s(item, attr::SUBJECT)?,
        status: opt_s(item, attr::STATUS),
        last_event_type: req_s(item, attr::LAST_EVENT_TYPE)?,
        event_time_ms: req_n(item, attr::EVENT_TIME)?,
        last_event_key: req_s(item, attr::LAST_EVENT_KEY)?,
        rank_class: u8::try_from(req_n(item, attr::RANK_CLASS)?)
            .map_err(|_| corrupt("rank_class out of range".into()))?,
        updated_at_ms: req_n(item, attr::UPDATED_AT)?,
        title: opt_s(item, attr::TITLE),
        reference: opt_s(item, attr::REFERENCE),
        external_metadata,
        contract_kind: opt_s(item, attr::CONTRACT_KIND),
        workspace: opt_s(item, attr::WORKSPACE),
        document_id: opt_s(item, attr::DOCUMENT_ID),
        counterparty: opt_s(item, attr::COUNTERPARTY),
        signers,
    })
}
