//! Operator tooling behind the CLI (`contract-hooks replay`, `redrive`, `failed`
//! and `spotdraft hmac-key --store`): listing the ledger by time, provider and
//! status, rebuilding queue messages from stored events, moving dead-lettered
//! messages back to the queue, and putting a new provider secret into the
//! secrets document while keeping the previous one for the rotation window.
//!
//! None of this runs in the deployed functions: it runs with an operator's
//! credentials (`dynamodb:Scan` and `GetItem` on the ledger, `sqs:SendMessage`
//! on the queue, `sqs:ReceiveMessage`/`SendMessageBatch`/`DeleteMessage` on the
//! dead-letter queue, `secretsmanager:GetSecretValue`/`PutSecretValue` on the
//! secret), which is why the function roles in `template.yaml` do not grant
//! them.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::{
    DeleteMessageBatchRequestEntry, MessageAttributeValue, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use serde_json::{Map, Value};
use verify::{Provider, SecretSet};

use crate::error::StoreError;
use crate::ledger::{Ledger, LedgerEntry};
use crate::queue::QueueMessage;
use crate::schema::{attr, status};
use crate::secrets::{parse_secrets, SecretsError};
use crate::status_table::item::{opt_n, opt_text};
use crate::status_table::{RecentCursor, RecentPage, RecentSubject, StatusTable};

// ------------------------------------------------------------------ listing

/// Which ledger items a listing returns; every set field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LedgerFilter {
    /// Only items received at or after this time (ms since the epoch).
    pub since_ms: Option<i64>,
    /// Only this provider's items.
    pub provider: Option<Provider>,
    /// Only items with this ledger status (`RECEIVED`, `PROCESSED`, `FAILED`).
    pub status: Option<String>,
}

impl LedgerFilter {
    /// Items whose status is `FAILED`.
    pub fn failed() -> Self {
        LedgerFilter {
            status: Some(status::FAILED.to_owned()),
            ..LedgerFilter::default()
        }
    }
}

/// Where the next [`Ledger::scan_page`] starts; opaque.
#[derive(Debug, Clone)]
pub struct ScanCursor(HashMap<String, AttributeValue>);

/// A ledger item found by a listing.
#[derive(Debug, Clone)]
pub struct ScannedEntry {
    /// The item.
    pub entry: LedgerEntry,
    /// When the processor applied it (ms), if it did.
    pub processed_at_ms: Option<i64>,
    /// When the sweep gave up on it (ms), if it did.
    pub failed_at_ms: Option<i64>,
}

/// A ledger item that matched but could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorruptItem {
    /// Its key (`?` when even that is missing).
    pub key: String,
    /// What is wrong.
    pub reason: String,
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ScanPage {
    /// Matching items.
    pub entries: Vec<ScannedEntry>,
    /// Matching items that could not be read.
    pub corrupt: Vec<CorruptItem>,
    /// Items DynamoDB examined for this page (matching or not).
    pub scanned: usize,
    /// Where the next page starts; `None` after the last page.
    pub next: Option<ScanCursor>,
}

/// A whole listing, oldest first.
#[derive(Debug, Clone, Default)]
pub struct Listing {
    /// Matching items, by received time then key.
    pub entries: Vec<ScannedEntry>,
    /// Matching items that could not be read.
    pub corrupt: Vec<CorruptItem>,
    /// Items DynamoDB examined.
    pub scanned: usize,
}

fn optional_n(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
}

impl Ledger {
    /// One page of the ledger items matching `filter` (a `Scan` with a filter
    /// expression, strongly consistent). The ledger has no index by time or
    /// status outside the sparse pending index, so a listing reads the whole
    /// table: an operator tool, never a hot path.
    pub async fn scan_page(
        &self,
        filter: &LedgerFilter,
        cursor: Option<ScanCursor>,
    ) -> Result<ScanPage, StoreError> {
        let mut conditions = Vec::new();
        let mut request = self
            .client()
            .scan()
            .table_name(self.table())
            .consistent_read(true)
            .set_exclusive_start_key(cursor.map(|c| c.0));
        if let Some(since) = filter.since_ms {
            conditions.push("#received >= :since");
            request = request
                .expression_attribute_names("#received", attr::RECEIVED_AT)
                .expression_attribute_values(":since", AttributeValue::N(since.to_string()));
        }
        if let Some(provider) = filter.provider {
            conditions.push("#provider = :provider");
            request = request
                .expression_attribute_names("#provider", attr::PROVIDER)
                .expression_attribute_values(
                    ":provider",
                    AttributeValue::S(provider.as_str().to_owned()),
                );
        }
        if let Some(wanted) = &filter.status {
            conditions.push("#status = :status");
            request = request
                .expression_attribute_names("#status", attr::STATUS)
                .expression_attribute_values(":status", AttributeValue::S(wanted.clone()));
        }
        if !conditions.is_empty() {
            request = request.filter_expression(conditions.join(" AND "));
        }
        let page = request
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.Scan", e))?;
        let mut entries = Vec::new();
        let mut corrupt = Vec::new();
        for item in page.items() {
            match crate::ledger::entry_from(item) {
                Ok(entry) => entries.push(ScannedEntry {
                    entry,
                    processed_at_ms: optional_n(item, attr::PROCESSED_AT),
                    failed_at_ms: optional_n(item, attr::FAILED_AT),
                }),
                Err(err) => corrupt.push(CorruptItem {
                    key: item
                        .get(attr::PK)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_else(|| "?".into()),
                    reason: err.to_string(),
                }),
            }
        }
        Ok(ScanPage {
            entries,
            corrupt,
            scanned: usize::try_from(page.scanned_count).unwrap_or(0),
            next: page.last_evaluated_key.map(ScanCursor),
        })
    }

    /// Every ledger item matching `filter`, oldest first. `on_page` sees each
    /// page as it arrives (progress display).
    pub async fn scan_all(
        &self,
        filter: &LedgerFilter,
        mut on_page: impl FnMut(&ScanPage),
    ) -> Result<Listing, StoreError> {
        let mut listing = Listing::default();
        let mut cursor = None;
        loop {
            let page = self.scan_page(filter, cursor).await?;
            on_page(&page);
            listing.scanned += page.scanned;
            listing.entries.extend(page.entries);
            listing.corrupt.extend(page.corrupt);
            cursor = page.next;
            if cursor.is_none() {
                break;
            }
        }
        listing.entries.sort_by(|a, b| {
            (a.entry.received_at_ms, &a.entry.key).cmp(&(b.entry.received_at_ms, &b.entry.key))
        });
        Ok(listing)
    }
}

// ------------------------------------------------------------------ replay

/// The queue message ingest sent for a stored event, rebuilt from the ledger
/// item (the event parsed again from the stored body, and the arrival time).
/// The processor is idempotent, so sending it again is safe. Refuses an item
/// whose body does not parse to its key: the processor would mark the wrong
/// item.
pub fn replay_message(entry: &LedgerEntry) -> Result<QueueMessage, StoreError> {
    // `event()` refuses a body that does not parse to this entry's key.
    Ok(QueueMessage::new(entry.event()?, entry.received_at_ms).resent())
}

// ------------------------------------------------------------------ redrive

/// Moves messages from a dead-letter queue back to the queue it serves.
#[derive(Debug, Clone)]
pub struct Redrive {
    sqs: aws_sdk_sqs::Client,
    from_url: String,
    to_url: String,
    /// How long a received message stays hidden on the dead-letter queue while
    /// it is being moved (s); one whose send failed reappears after it.
    pub visibility_timeout_secs: i32,
    /// Long-poll wait per receive (s): short polls may answer empty while
    /// messages remain, long polls ask every server.
    pub wait_secs: i32,
}

/// What one [`Redrive::step`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RedriveStep {
    /// Messages received from the dead-letter queue (0: it looks empty).
    pub received: usize,
    /// Sent to the queue and deleted from the dead-letter queue.
    pub moved: usize,
    /// Not sent: they stay on the dead-letter queue (visible again after the
    /// visibility timeout).
    pub send_failed: usize,
    /// Sent, but the delete failed: they will be moved again by a later run
    /// (a duplicate the processor absorbs).
    pub delete_failed: usize,
}

/// What [`Redrive::run`] did in all.
#[derive(Debug, Default)]
pub struct RedriveReport {
    /// Messages now on the queue and gone from the dead-letter queue.
    pub moved: usize,
    /// See [`RedriveStep::send_failed`].
    pub send_failed: usize,
    /// See [`RedriveStep::delete_failed`].
    pub delete_failed: usize,
    /// The call that stopped the run early, if one did.
    pub error: Option<StoreError>,
}

impl RedriveReport {
    /// True when every message received was moved and nothing failed.
    pub fn is_clean(&self) -> bool {
        self.send_failed == 0 && self.delete_failed == 0 && self.error.is_none()
    }
}

impl Redrive {
    /// Moves from `from_url` (the dead-letter queue) to `to_url`.
    pub fn new(
        sqs: aws_sdk_sqs::Client,
        from_url: impl Into<String>,
        to_url: impl Into<String>,
    ) -> Self {
        Redrive {
            sqs,
            from_url: from_url.into(),
            to_url: to_url.into(),
            visibility_timeout_secs: 60,
            wait_secs: 1,
        }
    }

    /// Approximate number of messages on the dead-letter queue, visible or
    /// in flight.
    pub async fn depth(&self) -> Result<usize, StoreError> {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(&self.from_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| StoreError::aws("SQS.GetQueueAttributes", e))?;
        let attributes = out.attributes.unwrap_or_default();
        let get = |name: QueueAttributeName| {
            attributes
                .get(&name)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        Ok(get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible))
    }

    /// Moves up to `max` messages, ten at a time, until the dead-letter queue
    /// answers empty. `on_step` sees each step (progress display). Messages
    /// whose send failed stay hidden for the visibility timeout, so the run
    /// ends even when sends keep failing.
    pub async fn run(&self, max: usize, mut on_step: impl FnMut(&RedriveStep)) -> RedriveReport {
        let mut report = RedriveReport::default();
        while report.moved < max {
            match self.step((max - report.moved).min(10)).await {
                Ok(step) => {
                    on_step(&step);
                    if step.received == 0 {
                        break;
                    }
                    report.moved += step.moved;
                    report.send_failed += step.send_failed;
                    report.delete_failed += step.delete_failed;
                }
                Err(e) => {
                    report.error = Some(e);
                    break;
                }
            }
        }
        report
    }

    /// Receives up to `max` (at most 10) messages from the dead-letter queue,
    /// sends them to the queue with their body and message attributes
    /// unchanged (plus [`crate::queue::REDRIVEN_ATTRIBUTE`]), and deletes from the dead-letter queue exactly those whose
    /// send succeeded. A message is never deleted before it is on the queue.
    pub async fn step(&self, max: usize) -> Result<RedriveStep, StoreError> {
        let max = max.clamp(1, 10);
        let received = self
            .sqs
            .receive_message()
            .queue_url(&self.from_url)
            .max_number_of_messages(i32::try_from(max).unwrap_or(10))
            .visibility_timeout(self.visibility_timeout_secs)
            .wait_time_seconds(self.wait_secs)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| StoreError::aws("SQS.ReceiveMessage", e))?;
        let messages = received.messages.unwrap_or_default();
        let mut step = RedriveStep {
            received: messages.len(),
            ..RedriveStep::default()
        };
        if messages.is_empty() {
            return Ok(step);
        }
        let mut entries = Vec::with_capacity(messages.len());
        let redriven = MessageAttributeValue::builder()
            .data_type("String")
            .string_value("true")
            .build()
            .map_err(|e| StoreError::Corrupt {
                what: "SQS message attribute",
                reason: e.to_string(),
            })?;
        for (i, message) in messages.iter().enumerate() {
            // Body and attributes unchanged, plus `redriven`: the processor
            // then knows the event may have been handled before.
            let mut attributes = message.message_attributes.clone().unwrap_or_default();
            attributes.insert(
                crate::queue::REDRIVEN_ATTRIBUTE.to_owned(),
                redriven.clone(),
            );
            let entry = SendMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .message_body(message.body().unwrap_or_default())
                .set_message_attributes(Some(attributes))
                .build()
                .map_err(|e| StoreError::Corrupt {
                    what: "SQS.SendMessageBatch entry",
                    reason: e.to_string(),
                })?;
            entries.push(entry);
        }
        let sent = self
            .sqs
            .send_message_batch()
            .queue_url(&self.to_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| StoreError::aws("SQS.SendMessageBatch", e))?;
        step.send_failed = sent.failed().len();
        let mut deletes = Vec::new();
        for ok in sent.successful() {
            let Some(message) = ok.id().parse::<usize>().ok().and_then(|i| messages.get(i)) else {
                continue;
            };
            let entry = DeleteMessageBatchRequestEntry::builder()
                .id(ok.id())
                .receipt_handle(message.receipt_handle().unwrap_or_default())
                .build()
                .map_err(|e| StoreError::Corrupt {
                    what: "SQS.DeleteMessageBatch entry",
                    reason: e.to_string(),
                })?;
            deletes.push(entry);
        }
        if deletes.is_empty() {
            return Ok(step);
        }
        let sent_count = deletes.len();
        match self
            .sqs
            .delete_message_batch()
            .queue_url(&self.from_url)
            .set_entries(Some(deletes))
            .send()
            .await
        {
            Ok(out) => {
                step.delete_failed = out.failed().len();
                step.moved = sent_count - step.delete_failed;
            }
            Err(_) => step.delete_failed = sent_count,
        }
        Ok(step)
    }
}

// ------------------------------------------------------------------ secrets

/// What [`rotate_secrets_document`] did to a provider's list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChange {
    /// The secret already was the current one: nothing to write.
    Unchanged,
    /// The secret is now first; `kept_previous` says whether the former current
    /// secret stays listed (accepted during the rotation window).
    Rotated {
        /// A previous secret stays listed.
        kept_previous: bool,
    },
}

/// Most secrets kept per provider by a rotation: the new one and the one before.
pub const MAX_KEPT_SECRETS: usize = 2;

/// Puts `secret` first in `provider`'s list of the secrets document `current`
/// (`{"spotdraft":[…],"subnoto":[…]}`; `None` or blank for none yet), keeping
/// the former current secret second and dropping older ones and duplicates.
/// Other providers' entries are kept as they are. The secret is validated first
/// (a SpotDraft key must be base64) and the whole result is checked the way
/// ingest loads it, so nothing is written that ingest would refuse. Errors never
/// contain secret values.
pub fn rotate_secrets_document(
    current: Option<&str>,
    provider: Provider,
    secret: &str,
) -> Result<(String, KeyChange), SecretsError> {
    SecretSet::new(provider, [secret])?;
    let normalise = |s: &str| match provider {
        Provider::SpotDraft => s.trim().to_owned(),
        Provider::Subnoto | Provider::DocuSign => s.to_owned(),
    };
    let secret = normalise(secret);
    let mut doc: Map<String, Value> = match current.map(str::trim) {
        None | Some("") => Map::new(),
        Some(text) => serde_json::from_str(text).map_err(|_| SecretsError::NotJson)?,
    };
    let existing: Vec<String> = match doc.get(provider.as_str()) {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(normalise).ok_or(SecretsError::NotJson))
            .collect::<Result<_, _>>()?,
        Some(_) => return Err(SecretsError::NotJson),
    };
    let (list, change) = if existing.first() == Some(&secret) {
        (existing, KeyChange::Unchanged)
    } else {
        let previous = existing.into_iter().find(|s| *s != secret);
        let kept_previous = previous.is_some();
        let list: Vec<String> = std::iter::once(secret)
            .chain(previous)
            .take(MAX_KEPT_SECRETS)
            .collect();
        (list, KeyChange::Rotated { kept_previous })
    };
    doc.insert(
        provider.as_str().to_owned(),
        Value::Array(list.into_iter().map(Value::String).collect()),
    );
    let text = Value::Object(doc).to_string();
    parse_secrets(&text, verify::DEFAULT_TOLERANCE_MS)?;
    Ok((text, change))
}

/// [`rotate_secrets_document`] applied to a Secrets Manager secret: reads its
/// current value, and writes the new document (`PutSecretValue`, a new
/// `AWSCURRENT` version) only when it changed. A secret without a value yet
/// counts as empty. Ingest picks the change up within `SECRETS_REFRESH_SECONDS`.
pub async fn rotate_secret_in_secrets_manager(
    client: &aws_sdk_secretsmanager::Client,
    secret_id: &str,
    provider: Provider,
    secret: &str,
) -> Result<KeyChange, SecretsError> {
    // Validate before any call, so a bad key costs nothing.
    SecretSet::new(provider, [secret])?;
    let current = client
        .get_secret_value()
        .secret_id(secret_id)
        .send()
        .await
        .map_err(|e| SecretsError::Fetch(StoreError::aws("SecretsManager.GetSecretValue", e)))?;
    let (text, change) = rotate_secrets_document(current.secret_string(), provider, secret)?;
    if change != KeyChange::Unchanged {
        client
            .put_secret_value()
            .secret_id(secret_id)
            .secret_string(text)
            .send()
            .await
            .map_err(|e| {
                SecretsError::Fetch(StoreError::aws("SecretsManager.PutSecretValue", e))
            })?;
    }
    Ok(change)
}

impl StatusTable {
    /// One page (`page_size` items scanned, the table's default when `None`)
    /// of the subjects whose last event is at or after `since_ms`, of
    /// `provider` only when given. Reads only the listed attributes.
    pub async fn recent_page(
        &self,
        since_ms: i64,
        provider: Option<Provider>,
        page_size: Option<i32>,
        cursor: Option<RecentCursor>,
    ) -> Result<RecentPage, StoreError> {
        let mut request = self
            .client()
            .scan()
            .table_name(self.table())
            .set_exclusive_start_key(cursor.map(|c| c.0))
            .set_limit(page_size)
            .projection_expression("#pk, #provider, #subject, #status, #type, #time, #title")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#provider", attr::PROVIDER)
            .expression_attribute_names("#subject", attr::SUBJECT)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#type", attr::LAST_EVENT_TYPE)
            .expression_attribute_names("#time", attr::EVENT_TIME)
            .expression_attribute_names("#title", attr::TITLE)
            .expression_attribute_values(":since", AttributeValue::N(since_ms.to_string()));
        let mut filter = "#time >= :since".to_owned();
        if let Some(p) = provider {
            filter.push_str(" AND #provider = :provider");
            request =
                request.expression_attribute_values(":provider", AttributeValue::S(p.to_string()));
        }
        let page = request
            .filter_expression(filter)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.Scan", e))?;
        let mut subjects = Vec::new();
        let mut unreadable = Vec::new();
        for item in page.items() {
            match recent_subject(item) {
                Some(subject) => subjects.push(subject),
                None => unreadable.push(
                    item.get(attr::PK)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_else(|| "?".into()),
                ),
            }
        }
        Ok(RecentPage {
            subjects,
            unreadable,
            scanned: usize::try_from(page.scanned_count).unwrap_or(0),
            next: page
                .last_evaluated_key
                .filter(|next| !next.is_empty())
                .map(RecentCursor),
        })
    }
}

fn recent_subject(item: &HashMap<String, AttributeValue>) -> Option<RecentSubject> {
    let s = |name: &str| opt_text(item, name);
    Some(RecentSubject {
        key: s(attr::PK)?,
        provider: s(attr::PROVIDER)?,
        subject: s(attr::SUBJECT)?,
        status: s(attr::STATUS),
        title: s(attr::TITLE),
        last_event_type: s(attr::LAST_EVENT_TYPE),
        event_time_ms: opt_n(item, attr::EVENT_TIME)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "c3BvdGRyYWZ0LWEta2V5";
    const B: &str = "c3BvdGRyYWZ0LWIta2V5";
    const C: &str = "c3BvdGRyYWZ0LWMta2V5";

    fn spotdraft(doc: &str) -> Vec<String> {
        let v: Value = serde_json::from_str(doc).unwrap();
        v["spotdraft"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_new_key_goes_first_and_the_previous_one_stays() {
        let (doc, change) = rotate_secrets_document(
            Some(&format!(r#"{{"spotdraft":["{A}"],"subnoto":["s"]}}"#)),
            Provider::SpotDraft,
            B,
        )
        .unwrap();
        assert_eq!(
            change,
            KeyChange::Rotated {
                kept_previous: true
            }
        );
        assert_eq!(spotdraft(&doc), [B, A]);
        let v: Value = serde_json::from_str(&doc).unwrap();
        assert_eq!(
            v["subnoto"],
            serde_json::json!(["s"]),
            "other providers are kept"
        );
    }

    #[test]
    fn at_most_two_are_kept_and_duplicates_dropped() {
        let start = format!(r#"{{"spotdraft":["{A}","{B}"]}}"#);
        let (doc, _) = rotate_secrets_document(Some(&start), Provider::SpotDraft, C).unwrap();
        assert_eq!(spotdraft(&doc), [C, A]);
        // Rolling back to the previous key swaps the two.
        let (doc, change) = rotate_secrets_document(Some(&doc), Provider::SpotDraft, A).unwrap();
        assert_eq!(spotdraft(&doc), [A, C]);
        assert_eq!(
            change,
            KeyChange::Rotated {
                kept_previous: true
            }
        );
        // The current key again: nothing changes, not even the list's tail.
        let (same, change) =
            rotate_secrets_document(Some(&start), Provider::SpotDraft, &format!(" {A}\n")).unwrap();
        assert_eq!(change, KeyChange::Unchanged);
        assert_eq!(spotdraft(&same), [A, B]);
    }

    #[test]
    fn an_empty_or_missing_document_starts_a_list() {
        for current in [
            None,
            Some(""),
            Some("{}"),
            Some(r#"{"spotdraft":[],"subnoto":[]}"#),
        ] {
            let (doc, change) = rotate_secrets_document(current, Provider::SpotDraft, A).unwrap();
            assert_eq!(spotdraft(&doc), [A], "{current:?}");
            assert_eq!(
                change,
                KeyChange::Rotated {
                    kept_previous: false
                }
            );
        }
    }

    #[test]
    fn bad_keys_and_documents_are_refused_without_echoing_them() {
        let err = rotate_secrets_document(None, Provider::SpotDraft, "not base64!!").unwrap_err();
        assert!(matches!(err, SecretsError::Secret(_)), "{err:?}");
        assert!(!err.to_string().contains("not base64!!"));
        assert!(matches!(
            rotate_secrets_document(Some("[1]"), Provider::SpotDraft, A),
            Err(SecretsError::NotJson)
        ));
        assert!(matches!(
            rotate_secrets_document(Some(r#"{"spotdraft":"x"}"#), Provider::SpotDraft, A),
            Err(SecretsError::NotJson)
        ));
        // A document ingest would refuse (another provider's broken key) is not written.
        assert!(
            rotate_secrets_document(Some(r#"{"subnoto":[""]}"#), Provider::SpotDraft, A).is_err()
        );
    }

    #[test]
    fn the_failed_filter_asks_for_failed_items_only() {
        let filter = LedgerFilter::failed();
        assert_eq!(filter.status.as_deref(), Some("FAILED"));
        assert_eq!((filter.since_ms, filter.provider), (None, None));
    }
}
