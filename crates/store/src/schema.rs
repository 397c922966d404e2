//! Table, index and queue definitions: attribute names, statuses, the pending
//! index and queue settings, shared by the adapters and checked against
//! `template.yaml`. The local stack and the tests create these resources with
//! the `testkit` crate.

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
