//! The ledger: one DynamoDB item per accepted event, keyed `{provider}#{dedup key}`.
//! A conditional put accepts each event once; a lease on the item says "an
//! enqueue is in flight" so that a duplicate delivery re-enqueues only an event
//! whose enqueue was lost (the processor is idempotent, a lost message is not).

use std::collections::HashMap;
use std::io::{Read, Write};

use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use verify::{BodyFormat, Event, Provider};

use crate::error::StoreError;
use crate::schema::{attr, status, PENDING_INDEX, PENDING_SHARDS};
use domain::limits::{cap, MAX_FIELD_BYTES};

/// Request headers kept with the stored body (lower-case names): enough to
/// re-verify or debug a delivery; never `Authorization`, cookies or client IPs.
pub const ALLOWED_HEADERS: &[&str] = &[
    "content-type",
    "user-agent",
    "x-sd-webhook-content-hash",
    "x-webhook-signature",
    "x-webhook-id",
    "x-docusign-signature-1",
    "x-docusign-signature-2",
    "x-authorization-digest",
];

/// Bodies above this size are stored gzip-compressed (when that is smaller).
/// DynamoDB bills writes per started KB of item: a typical 600–1,000-byte
/// payload gzips to about 55 %, which keeps most ledger items under 1 KB (one
/// write unit instead of two, on the put and again on `mark_processed`).
const COMPRESS_ABOVE: usize = 512;

/// A verified event about to be accepted.
#[derive(Debug)]
pub struct NewEntry<'a> {
    /// The normalised event (its ledger key is the item key).
    pub event: &'a Event,
    /// The raw body exactly as received; moved in, not copied.
    pub body: Vec<u8>,
    /// Allow-listed request headers (see [`ALLOWED_HEADERS`]).
    pub headers: Vec<(String, String)>,
    /// Receiver clock at arrival.
    pub received_at_ms: i64,
}

/// The ledger state of an event that was already there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// `RECEIVED`, `PROCESSED` or `FAILED`.
    pub status: String,
    /// Until when an enqueue is considered in flight (ms); 0 when released.
    pub lease_until_ms: i64,
    /// How many times it has been put on the queue.
    pub enqueue_attempts: u32,
    /// When it was first accepted (ms). Every re-enqueue carries this time,
    /// not its own: a time-less event is ranked by it, and an event seen
    /// again must never outrank what it outranked the first time.
    pub received_at_ms: i64,
}

impl Stored {
    /// True when the event is not processed and nobody holds the enqueue lease:
    /// the caller should take the lease and enqueue it again.
    pub fn needs_enqueue(&self, now_ms: i64) -> bool {
        self.status == status::RECEIVED && self.lease_until_ms <= now_ms
    }
}

/// The outcome of [`Ledger::accept`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// First delivery: the item was written and this caller holds the lease.
    New,
    /// Seen before; what the failed condition returned.
    Duplicate(Stored),
}

/// A ledger item as read back (tests, CLI, sweep).
#[derive(Debug, Clone)]
pub struct LedgerEntry {
    /// `{provider}#{dedup key}`.
    pub key: String,
    /// See [`Stored::status`].
    pub status: String,
    /// The body exactly as received (decompressed).
    pub body: Vec<u8>,
    /// `spotdraft` or `subnoto`.
    pub provider: String,
    /// Provider event type, as stored at acceptance.
    pub event_type: String,
    /// Contract id or envelope uuid, when the event names one.
    pub subject: Option<String>,
    /// Stored headers.
    pub headers: HashMap<String, String>,
    /// Arrival time (ms).
    pub received_at_ms: i64,
    /// Lease end (ms).
    pub lease_until_ms: i64,
    /// Times enqueued.
    pub enqueue_attempts: u32,
    /// TTL (Unix seconds).
    pub expires_at: i64,
    /// Whether the item is in the sparse pending index.
    pub pending: bool,
}

impl LedgerEntry {
    /// The normalised event, parsed again from the stored body as ingest parsed
    /// it: the item keeps the body, not a second copy of the same facts.
    /// `Corrupt` when the body no longer parses, or parses to another key.
    pub fn event(&self) -> Result<Event, StoreError> {
        event_from_body(&self.key, &self.headers, &self.body)
    }
}

/// An unprocessed item as the sweep sees it through the sparse pending index
/// (which projects what is needed here, see
/// [`crate::schema::PENDING_INDEX_ATTRIBUTES`]; the body is read with
/// [`Ledger::get`] only for an item that is re-enqueued). The index is
/// eventually consistent: act on it only through conditional writes.
#[derive(Debug, Clone)]
pub struct PendingEntry {
    /// `{provider}#{dedup key}`.
    pub key: String,
    /// Arrival time (ms).
    pub received_at_ms: i64,
    /// Status, lease and attempts as the index saw them.
    pub stored: Stored,
}

/// The DynamoDB ledger table.
#[derive(Debug, Clone)]
pub struct Ledger {
    client: aws_sdk_dynamodb::Client,
    table: String,
    retention_secs: i64,
    lease_ms: i64,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// Which of the sparse index's fixed shards an item goes to (FNV-1a of the key):
/// spreads ingest writes over partitions instead of one hot key.
pub(crate) fn pending_shard(key: &str) -> String {
    let mut h: u32 = 0x811c_9dc5;
    for b in key.bytes() {
        h ^= u32::from(b);
        h = h.wrapping_mul(0x0100_0193);
    }
    shard_name(h % PENDING_SHARDS)
}

/// The partition key value of shard number `shard`.
fn shard_name(shard: u32) -> String {
    format!("{shard:02}")
}

impl Ledger {
    /// The ledger in `table`, keeping items `retention_days` (TTL, dedup window),
    /// with enqueue leases of `lease_ms`.
    pub fn new(
        client: aws_sdk_dynamodb::Client,
        table: impl Into<String>,
        retention_days: u32,
        lease_ms: i64,
    ) -> Self {
        Ledger {
            client,
            table: table.into(),
            retention_secs: i64::from(retention_days) * 86_400,
            lease_ms,
        }
    }

    /// The ledger a function's configuration names (table, retention, lease).
    pub fn from_config(config: &crate::config::Config, client: aws_sdk_dynamodb::Client) -> Self {
        Self::new(
            client,
            &config.events_table,
            config.retention_days,
            config.lease_ms,
        )
    }

    /// The ledger in `table` for reading (operator commands): retention and
    /// lease only matter for writes.
    pub fn reader(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self::new(client, table, 0, 0)
    }

    /// When the event under `key` (`{provider}#{dedup key}`) reached ingest,
    /// ms; `None` when the item has expired or never was (reads only that
    /// attribute, never the body).
    pub async fn received_at(&self, key: &str) -> Result<Option<i64>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(key.to_owned()))
            .projection_expression("#r")
            .expression_attribute_names("#r", attr::RECEIVED_AT)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.GetItem", e))?;
        Ok(out
            .item()
            .and_then(|i| i.get(attr::RECEIVED_AT))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok()))
    }

    /// The enqueue lease length.
    pub fn lease_ms(&self) -> i64 {
        self.lease_ms
    }

    /// The DynamoDB client (for the operator listings in `ops`).
    pub(crate) fn client(&self) -> &aws_sdk_dynamodb::Client {
        &self.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Writes the event if its key is new (one conditional `PutItem`). On a
    /// duplicate, the stored state comes back from the failed condition itself
    /// (`ReturnValuesOnConditionCheckFailure`), with no extra read. An item past
    /// its TTL that DynamoDB has not deleted yet counts as new.
    pub async fn accept(&self, entry: NewEntry<'_>) -> Result<Accepted, StoreError> {
        let key = entry.event.ledger_key();
        let now_s = entry.received_at_ms / 1000;
        // Identifies this write, so that an SDK retry of a put whose answer was
        // lost (the first attempt applied) is recognised as our own item rather
        // than a duplicate delivery: otherwise the event would wait for the sweep.
        let write_id = uuid::Uuid::new_v4().simple().to_string();
        let (body, encoding) = encode_body(entry.body);
        let headers: HashMap<String, AttributeValue> =
            entry.headers.into_iter().map(|(k, v)| (k, s(v))).collect();
        let mut item = HashMap::from([
            (attr::PK.to_owned(), s(&key)),
            (attr::STATUS.to_owned(), s(status::RECEIVED)),
            (attr::PROVIDER.to_owned(), s(entry.event.provider.as_str())),
            // Listing copies: the body has the whole value.
            (
                attr::EVENT_TYPE.to_owned(),
                s(cap(&entry.event.event_type, MAX_FIELD_BYTES)),
            ),
            (attr::BODY.to_owned(), AttributeValue::B(Blob::new(body))),
            (attr::BODY_ENCODING.to_owned(), s(encoding)),
            (attr::HEADERS.to_owned(), AttributeValue::M(headers)),
            (attr::RECEIVED_AT.to_owned(), n(entry.received_at_ms)),
            (
                attr::LEASE_UNTIL.to_owned(),
                n(entry.received_at_ms + self.lease_ms),
            ),
            (attr::ENQUEUE_ATTEMPTS.to_owned(), n(1)),
            (attr::EXPIRES_AT.to_owned(), n(now_s + self.retention_secs)),
            (attr::PENDING_SHARD.to_owned(), s(pending_shard(&key))),
            (attr::WRITE_ID.to_owned(), s(&write_id)),
        ]);
        if let Some(subject) = &entry.event.subject {
            item.insert(attr::SUBJECT.to_owned(), s(cap(subject, MAX_FIELD_BYTES)));
        }
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_names("#exp", attr::EXPIRES_AT)
            .expression_attribute_values(":now", n(now_s))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(Accepted::New),
            Err(err) => match err.as_service_error() {
                Some(PutItemError::ConditionalCheckFailedException(failed)) => {
                    let item = failed.item().ok_or_else(|| StoreError::Corrupt {
                        what: "ledger condition failure",
                        reason: "no item returned".into(),
                    })?;
                    let ours = item
                        .get(attr::WRITE_ID)
                        .and_then(|v| v.as_s().ok())
                        .is_some_and(|id| *id == write_id);
                    if ours {
                        return Ok(Accepted::New);
                    }
                    Ok(Accepted::Duplicate(stored_from(item)?))
                }
                _ => Err(StoreError::aws("DynamoDB.PutItem", err)),
            },
        }
    }

    /// Takes the enqueue lease of an unprocessed item whose lease has run out,
    /// compare-and-set on the lease value seen. `false` when someone else took it
    /// first or the item was processed meanwhile.
    pub async fn take_lease(
        &self,
        key: &str,
        seen: &Stored,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(key))
            .update_expression("SET #lease = :new, #attempts = #attempts + :one")
            .condition_expression("#status = :received AND #lease = :seen")
            .expression_attribute_names("#lease", attr::LEASE_UNTIL)
            .expression_attribute_names("#attempts", attr::ENQUEUE_ATTEMPTS)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_values(":new", n(now_ms + self.lease_ms))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":received", s(status::RECEIVED))
            .expression_attribute_values(":seen", n(seen.lease_until_ms))
            .send()
            .await;
        conditional(result.map(|_| ()), "DynamoDB.UpdateItem")
    }

    /// Ends this caller's lease early (after a failed enqueue) so the provider's
    /// retry can enqueue at once. Best effort: if it fails, the lease simply runs
    /// out.
    pub async fn release_lease(&self, key: &str) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(key))
            .update_expression("SET #lease = :zero")
            .condition_expression("#status = :received")
            .expression_attribute_names("#lease", attr::LEASE_UNTIL)
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":received", s(status::RECEIVED))
            .send()
            .await;
        conditional(result.map(|_| ()), "DynamoDB.UpdateItem")
    }

    /// Marks an event processed and takes it out of the pending index.
    /// Idempotent; `false` when the item no longer exists.
    pub async fn mark_processed(&self, key: &str, now_ms: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(key))
            .update_expression("SET #status = :processed, #at = :now REMOVE #shard")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#at", attr::PROCESSED_AT)
            .expression_attribute_names("#shard", attr::PENDING_SHARD)
            .expression_attribute_names("#pk", attr::PK)
            .expression_attribute_values(":processed", s(status::PROCESSED))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        conditional(result.map(|_| ()), "DynamoDB.UpdateItem")
    }

    /// Gives up on an unprocessed event: status `FAILED`, out of the pending
    /// index. `false` when it is no longer `RECEIVED` (processed or failed
    /// meanwhile) or does not exist.
    pub async fn mark_failed(&self, key: &str, now_ms: i64) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, s(key))
            .update_expression("SET #status = :failed, #at = :now REMOVE #shard")
            .condition_expression("#status = :received")
            .expression_attribute_names("#status", attr::STATUS)
            .expression_attribute_names("#at", attr::FAILED_AT)
            .expression_attribute_names("#shard", attr::PENDING_SHARD)
            .expression_attribute_values(":failed", s(status::FAILED))
            .expression_attribute_values(":received", s(status::RECEIVED))
            .expression_attribute_values(":now", n(now_ms))
            .send()
            .await;
        conditional(result.map(|_| ()), "DynamoDB.UpdateItem")
    }

    /// Up to `max_items` unprocessed items of pending-index shard `shard`
    /// (`0..PENDING_SHARDS`) that arrived before `received_before_ms`, oldest
    /// first. A `Query` on the sparse index, never a scan.
    pub async fn pending(
        &self,
        shard: u32,
        received_before_ms: i64,
        max_items: usize,
    ) -> Result<Vec<PendingEntry>, StoreError> {
        let mut out = Vec::new();
        let mut start = None;
        while out.len() < max_items {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(PENDING_INDEX)
                .key_condition_expression("#shard = :shard AND #received < :before")
                .expression_attribute_names("#shard", attr::PENDING_SHARD)
                .expression_attribute_names("#received", attr::RECEIVED_AT)
                .expression_attribute_values(":shard", s(shard_name(shard)))
                .expression_attribute_values(":before", n(received_before_ms))
                .scan_index_forward(true)
                .limit(i32::try_from(max_items - out.len()).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| StoreError::aws("DynamoDB.Query", e))?;
            for item in page.items() {
                out.push(pending_from(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        out.truncate(max_items);
        Ok(out)
    }

    /// Reads one item (strongly consistent).
    pub async fn get(&self, key: &str) -> Result<Option<LedgerEntry>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, s(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.GetItem", e))?;
        out.item().map(entry_from).transpose()
    }
}

fn conditional<E>(
    result: Result<(), aws_sdk_dynamodb::error::SdkError<UpdateItemError, E>>,
    operation: &'static str,
) -> Result<bool, StoreError>
where
    E: std::fmt::Debug,
{
    match result {
        Ok(()) => Ok(true),
        Err(err) => match err.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(_)) => Ok(false),
            _ => Err(StoreError::aws(operation, err)),
        },
    }
}

fn encode_body(body: Vec<u8>) -> (Vec<u8>, &'static str) {
    if body.len() > COMPRESS_ABOVE {
        let mut enc = flate2::write::GzEncoder::new(
            Vec::with_capacity(body.len() / 3),
            flate2::Compression::fast(),
        );
        if enc.write_all(&body).is_ok() {
            if let Ok(gz) = enc.finish() {
                if gz.len() < body.len() {
                    return (gz, "gzip");
                }
            }
        }
    }
    (body, "identity")
}

fn decode_body(bytes: &[u8], encoding: &str) -> Result<Vec<u8>, StoreError> {
    match encoding {
        "identity" => Ok(bytes.to_vec()),
        "gzip" => {
            let mut out = Vec::new();
            flate2::read::GzDecoder::new(bytes)
                .read_to_end(&mut out)
                .map_err(|e| StoreError::Corrupt {
                    what: "ledger body",
                    reason: e.to_string(),
                })?;
            Ok(out)
        }
        other => Err(StoreError::Corrupt {
            what: "ledger body",
            reason: format!("unknown encoding {other:?}"),
        }),
    }
}

/// The event a stored body holds, parsed as ingest parsed it (provider from the
/// key, format from the stored `content-type`). It must map back to `key`.
fn event_from_body(
    key: &str,
    headers: &HashMap<String, String>,
    body: &[u8],
) -> Result<Event, StoreError> {
    let corrupt = |reason: String| StoreError::Corrupt {
        what: "ledger body",
        reason,
    };
    let provider: Provider = key
        .split_once('#')
        .map(|(p, _)| p)
        .unwrap_or_default()
        .parse()
        .map_err(|_| corrupt("the key names no known provider".into()))?;
    let content_type = headers.get("content-type").map(String::as_str);
    let format = BodyFormat::from_content_type(provider, content_type)
        .map_err(|e| corrupt(e.to_string()))?;
    let event = Event::parse(provider, format, body).map_err(|e| corrupt(e.to_string()))?;
    if event.ledger_key() != key {
        return Err(corrupt(
            "the body no longer maps to its key (was the dedup rule changed?)".into(),
        ));
    }
    Ok(event)
}

fn get_s<'a>(
    item: &'a HashMap<String, AttributeValue>,
    name: &'static str,
) -> Result<&'a str, StoreError> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .ok_or(StoreError::Corrupt {
            what: "ledger item",
            reason: format!("missing string {name}"),
        })
}

fn get_n(item: &HashMap<String, AttributeValue>, name: &'static str) -> Result<i64, StoreError> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .ok_or(StoreError::Corrupt {
            what: "ledger item",
            reason: format!("missing number {name}"),
        })
}

fn stored_from(item: &HashMap<String, AttributeValue>) -> Result<Stored, StoreError> {
    Ok(Stored {
        status: get_s(item, attr::STATUS)?.to_owned(),
        lease_until_ms: get_n(item, attr::LEASE_UNTIL).unwrap_or(0),
        enqueue_attempts: get_n(item, attr::ENQUEUE_ATTEMPTS).unwrap_or(0) as u32,
        received_at_ms: get_n(item, attr::RECEIVED_AT)?,
    })
}

fn pending_from(item: &HashMap<String, AttributeValue>) -> Result<PendingEntry, StoreError> {
    Ok(PendingEntry {
        key: get_s(item, attr::PK)?.to_owned(),
        received_at_ms: get_n(item, attr::RECEIVED_AT)?,
        stored: stored_from(item)?,
    })
}

pub(crate) fn entry_from(
    item: &HashMap<String, AttributeValue>,
) -> Result<LedgerEntry, StoreError> {
    let stored = stored_from(item)?;
    let body = item
        .get(attr::BODY)
        .and_then(|v| v.as_b().ok())
        .map(|b| b.as_ref())
        .unwrap_or_default();
    let body = decode_body(body, get_s(item, attr::BODY_ENCODING).unwrap_or("identity"))?;
    let key = get_s(item, attr::PK)?;
    let headers: HashMap<String, String> = item
        .get(attr::HEADERS)
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_s().ok()?.clone())))
                .collect()
        })
        .unwrap_or_default();
    Ok(LedgerEntry {
        key: key.to_owned(),
        provider: get_s(item, attr::PROVIDER)?.to_owned(),
        event_type: get_s(item, attr::EVENT_TYPE)?.to_owned(),
        subject: get_s(item, attr::SUBJECT).ok().map(str::to_owned),
        status: stored.status,
        body,
        headers,
        received_at_ms: get_n(item, attr::RECEIVED_AT)?,
        lease_until_ms: stored.lease_until_ms,
        enqueue_attempts: stored.enqueue_attempts,
        expires_at: get_n(item, attr::EXPIRES_AT)?,
        pending: item.contains_key(attr::PENDING_SHARD),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip_through_encoding() {
        for body in [
            b"{}".to_vec(),
            vec![b'a'; 10_000],
            (0..=255u8).cycle().take(5000).collect(),
        ] {
            let (enc, how) = encode_body(body.clone());
            assert_eq!(decode_body(&enc, how).unwrap(), body);
        }
        assert_eq!(encode_body(vec![b'a'; 10_000]).1, "gzip");
        assert_eq!(encode_body(b"{}".to_vec()).1, "identity");
        let sample = include_bytes!("../../../samples/spotdraft-contract-created.json");
        let (gz, how) = encode_body(sample.to_vec());
        assert_eq!(how, "gzip");
        assert!(
            gz.len() < sample.len() * 3 / 4,
            "{} of {}",
            gz.len(),
            sample.len()
        );
    }

    #[test]
    fn shards_are_spread_and_stable() {
        let shards: std::collections::HashSet<_> = (0..500)
            .map(|i| pending_shard(&format!("subnoto#{i}")))
            .collect();
        assert_eq!(shards.len(), PENDING_SHARDS as usize);
        assert_eq!(pending_shard("a#b"), pending_shard("a#b"));
    }

    #[test]
    fn pending_entries_read_the_index_projection() {
        let mut item = HashMap::from([
            (attr::PK.to_owned(), s("subnoto#k")),
            (attr::PENDING_SHARD.to_owned(), s("07")),
            (attr::RECEIVED_AT.to_owned(), n(1000)),
            (attr::STATUS.to_owned(), s(status::RECEIVED)),
            (attr::LEASE_UNTIL.to_owned(), n(31_000)),
            (attr::ENQUEUE_ATTEMPTS.to_owned(), n(2)),
        ]);
        let entry = pending_from(&item).unwrap();
        assert_eq!(
            (entry.key.as_str(), entry.received_at_ms),
            ("subnoto#k", 1000)
        );
        assert_eq!(
            entry.stored,
            Stored {
                status: status::RECEIVED.into(),
                lease_until_ms: 31_000,
                enqueue_attempts: 2,
                received_at_ms: 1000,
            }
        );
        // Every attribute read here is projected into the index.
        for name in [attr::STATUS, attr::LEASE_UNTIL, attr::ENQUEUE_ATTEMPTS] {
            assert!(
                crate::schema::PENDING_INDEX_ATTRIBUTES.contains(&name),
                "{name}"
            );
        }
        item.remove(attr::STATUS);
        assert!(pending_from(&item).is_err());
        assert_eq!(shard_name(7), "07");
    }

    #[test]
    fn stored_bodies_parse_back_to_the_event_of_their_key() {
        let body = br#"{"eventUuid":"k","eventType":"ENVELOPE_SENT","data":{"envelopeUuid":"e"}}"#;
        let json = HashMap::from([("content-type".to_owned(), "application/json".to_owned())]);
        let event = event_from_body("subnoto#k", &json, body).unwrap();
        assert_eq!(event.subject.as_deref(), Some("e"));
        // A form body needs its stored content type to be read.
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", std::str::from_utf8(body).unwrap())
            .finish();
        let form_ct = HashMap::from([(
            "content-type".to_owned(),
            "application/x-www-form-urlencoded".to_owned(),
        )]);
        assert_eq!(
            event_from_body("subnoto#k", &form_ct, form.as_bytes()).unwrap(),
            event
        );
        for (key, headers, body) in [
            ("subnoto#other", &json, &body[..]),
            ("nobody#k", &json, &body[..]),
            ("subnoto#k", &json, b"{broken"),
            ("subnoto#k", &json, form.as_bytes()),
        ] {
            assert!(
                matches!(
                    event_from_body(key, headers, body),
                    Err(StoreError::Corrupt { .. })
                ),
                "{key} {:?}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn needs_enqueue_only_when_unprocessed_and_unleased() {
        let st = |status: &str, lease| Stored {
            status: status.into(),
            lease_until_ms: lease,
            enqueue_attempts: 1,
            received_at_ms: 0,
        };
        assert!(st(status::RECEIVED, 100).needs_enqueue(100));
        assert!(!st(status::RECEIVED, 101).needs_enqueue(100));
        assert!(!st(status::PROCESSED, 0).needs_enqueue(100));
        assert!(!st(status::FAILED, 0).needs_enqueue(100));
    }
}
