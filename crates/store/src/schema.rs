//! Table, index and queue definitions shared by the code, the local stack and
//! the tests (and checked against `template.yaml`).

use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;

use crate::StoreError;

/// Ledger and status item attribute names.
pub mod attr {
    /// Partition key of both tables.
    pub const PK: &str = "pk";
    /// Ledger status, see [`super::status`].
    pub const STATUS: &str = "status";
    /// Provider name.
    pub const PROVIDER: &str = "provider";
    /// Provider event type.
    pub const EVENT_TYPE: &str = "event_type";
    /// Subject (contract id / envelope uuid).
    pub const SUBJECT: &str = "subject";
    /// Raw body (binary).
    pub const BODY: &str = "body";
    /// `identity` or `gzip`.
    pub const BODY_ENCODING: &str = "body_encoding";
    /// Allow-listed request headers (map).
    pub const HEADERS: &str = "headers";
    /// Arrival time, ms (also the pending index sort key).
    pub const RECEIVED_AT: &str = "received_at";
    /// Enqueue lease end, ms.
    pub const LEASE_UNTIL: &str = "lease_until";
    /// Times put on the queue.
    pub const ENQUEUE_ATTEMPTS: &str = "enqueue_attempts";
    /// TTL attribute (Unix seconds).
    pub const EXPIRES_AT: &str = "expires_at";
    /// Sparse index partition key: present only while unprocessed.
    pub const PENDING_SHARD: &str = "pending_shard";
    /// When processing finished, ms.
    pub const PROCESSED_AT: &str = "processed_at";
    /// Random id of the put that created the item (recognises a retried put).
    pub const WRITE_ID: &str = "write_id";
    /// When the sweep gave up on the event, ms.
    pub const FAILED_AT: &str = "failed_at";

    /// Status item: last applied event type.
    pub const LAST_EVENT_TYPE: &str = "last_event_type";
    /// Status item: provider event time of the winning event, ms (the queue
    /// message's arrival time when the event carries none).
    pub const EVENT_TIME: &str = "event_time";
    /// Status item: dedup key of the winning event (the rank's tie-breaker).
    pub const LAST_EVENT_KEY: &str = "last_event_key";
    /// Status item: the status before the winning event set its own (empty
    /// when there was none), so a retried publish can still say what changed.
    pub const PREVIOUS_STATUS: &str = "previous_status";
    /// Status item: prefix of one attribute per event whose status change
    /// may not be on the bus yet (`unpublished#{event key}`), holding the
    /// status before it ("" for a first status). Written in the same
    /// `UpdateItem` that makes the event the subject's state; removed only
    /// after its entry was published (see `StatusTable::forget_published`).
    pub const UNPUBLISHED_PREFIX: &str = "unpublished#";
    /// Status item: the winning event's rank class (see `domain::sync::Rank`).
    pub const RANK_CLASS: &str = "rank_class";
    /// Status item: when the winning event was applied, ms.
    pub const UPDATED_AT: &str = "updated_at";
    /// Status item: contract or envelope title.
    pub const TITLE: &str = "title";
    /// Status item: SpotDraft contract reference id.
    pub const REFERENCE: &str = "reference";
    /// Status item: SpotDraft external metadata, canonical JSON text.
    pub const EXTERNAL_METADATA: &str = "external_metadata";
    /// Status item: SpotDraft `contract_kind`.
    pub const CONTRACT_KIND: &str = "contract_kind";
    /// Status item: Subnoto workspace uuid.
    pub const WORKSPACE: &str = "workspace";
    /// Status item: Subnoto document uuid.
    pub const DOCUMENT_ID: &str = "document_id";
    /// Status item: first counterparty's organisation (SpotDraft).
    pub const COUNTERPARTY: &str = "counterparty";
    /// Status item: string set of signer identities seen so far.
    pub const SIGNERS: &str = "signers";
}

/// Ledger status values.
pub mod status {
    /// Accepted, not yet applied.
    pub const RECEIVED: &str = "RECEIVED";
    /// Applied to the status table.
    pub const PROCESSED: &str = "PROCESSED";
    /// Gave up after the sweep's attempts.
    pub const FAILED: &str = "FAILED";
}

/// The sparse index the sweep queries for unprocessed events.
pub const PENDING_INDEX: &str = "pending-index";
/// Fixed shards of the pending index's partition key.
pub const PENDING_SHARDS: u32 = 16;
/// Non-key attributes projected into the pending index: what the sweep needs to
/// decide whether to re-enqueue or give up on an item. The body stays out of
/// the index (it would double the index's storage and write units); the sweep
/// reads it for the few items it re-enqueues.
pub const PENDING_INDEX_ATTRIBUTES: [&str; 3] =
    [attr::ENQUEUE_ATTEMPTS, attr::LEASE_UNTIL, attr::STATUS];
/// Receives before a message goes to the dead-letter queue.
pub const MAX_RECEIVE_COUNT: u32 = 5;
/// Queue visibility timeout: six times the processor's 10 s timeout, as AWS advises.
pub const VISIBILITY_TIMEOUT_SECS: u32 = 60;

fn key(name: &str, kind: KeyType) -> KeySchemaElement {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(kind)
        .build()
        .expect("key schema fields are set")
}

fn attribute(name: &str, kind: ScalarAttributeType) -> AttributeDefinition {
    AttributeDefinition::builder()
        .attribute_name(name)
        .attribute_type(kind)
        .build()
        .expect("attribute fields are set")
}

/// Creates the ledger table: `pk` hash key, TTL on `expires_at`, and the sparse
/// `pending-index` (`pending_shard`, `received_at`, projecting
/// [`PENDING_INDEX_ATTRIBUTES`]).
pub async fn create_ledger_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), StoreError> {
    let index = GlobalSecondaryIndex::builder()
        .index_name(PENDING_INDEX)
        .key_schema(key(attr::PENDING_SHARD, KeyType::Hash))
        .key_schema(key(attr::RECEIVED_AT, KeyType::Range))
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(PENDING_INDEX_ATTRIBUTES.map(str::to_owned).to_vec()))
                .build(),
        )
        .build()
        .expect("index fields are set");
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(attr::PK, ScalarAttributeType::S))
        .attribute_definitions(attribute(attr::PENDING_SHARD, ScalarAttributeType::S))
        .attribute_definitions(attribute(attr::RECEIVED_AT, ScalarAttributeType::N))
        .key_schema(key(attr::PK, KeyType::Hash))
        .global_secondary_indexes(index)
        .send()
        .await
        .map_err(|e| StoreError::aws("DynamoDB.CreateTable", e))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name(attr::EXPIRES_AT)
                .enabled(true)
                .build()
                .expect("ttl fields are set"),
        )
        .send()
        .await
        .map_err(|e| StoreError::aws("DynamoDB.UpdateTimeToLive", e))?;
    Ok(())
}

/// Creates the status table: `pk` (`{provider}#{subject}`) hash key.
pub async fn create_status_table(
    client: &aws_sdk_dynamodb::Client,
    name: &str,
) -> Result<(), StoreError> {
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attribute(attr::PK, ScalarAttributeType::S))
        .key_schema(key(attr::PK, KeyType::Hash))
        .send()
        .await
        .map_err(|e| StoreError::aws("DynamoDB.CreateTable", e))?;
    Ok(())
}

/// Creates the event queue and its dead-letter queue (`{name}-dlq`); returns
/// `(queue_url, dlq_url)`.
pub async fn create_queues(
    client: &aws_sdk_sqs::Client,
    name: &str,
) -> Result<(String, String), StoreError> {
    create_queue_with_dlq(client, name, VISIBILITY_TIMEOUT_SECS, MAX_RECEIVE_COUNT).await
}

/// Creates the queue `name` with `visibility_timeout_secs` and a dead-letter
/// queue `{name}-dlq` (14 days' retention) it moves a message to after
/// `max_receive_count` receives; returns `(queue_url, dlq_url)`.
pub async fn create_queue_with_dlq(
    client: &aws_sdk_sqs::Client,
    name: &str,
    visibility_timeout_secs: u32,
    max_receive_count: u32,
) -> Result<(String, String), StoreError> {
    let dlq_url = client
        .create_queue()
        .queue_name(format!("{name}-dlq"))
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(client, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": max_receive_count,
    });
    let url = client
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.CreateQueue", e))?
        .queue_url
        .unwrap_or_default();
    Ok((url, dlq_url))
}

/// Creates (or updates) the rule `rule` on `bus` with `pattern`, sending what
/// it matches to the SQS queue `queue_url` (target id `target_id`). Local
/// stack and tests; template.yaml declares the deployed rules.
pub async fn route_to_queue(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    bus: &str,
    rule: &str,
    pattern: &str,
    queue_url: &str,
    target_id: &str,
) -> Result<(), StoreError> {
    events
        .put_rule()
        .name(rule)
        .event_bus_name(bus)
        .event_pattern(pattern)
        .send()
        .await
        .map_err(|e| StoreError::aws("EventBridge.PutRule", e))?;
    let target = aws_sdk_eventbridge::types::Target::builder()
        .id(target_id)
        .arn(queue_arn(sqs, queue_url).await?)
        .build()
        .map_err(|e| StoreError::aws_other("EventBridge.PutTargets", e))?;
    events
        .put_targets()
        .rule(rule)
        .event_bus_name(bus)
        .targets(target)
        .send()
        .await
        .map_err(|e| StoreError::aws("EventBridge.PutTargets", e))?;
    Ok(())
}

/// A queue's ARN.
pub async fn queue_arn(client: &aws_sdk_sqs::Client, url: &str) -> Result<String, StoreError> {
    Ok(client
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.GetQueueAttributes", e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
        .unwrap_or_default())
}
