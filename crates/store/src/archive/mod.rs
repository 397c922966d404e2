//! The archiver's AWS side: the document bucket (S3, streamed, multipart for
//! large documents, one object per (provider, subject, version)), the
//! `document` attribute of the status item (never replaced by an older
//! version), `Contract Document Archived` on the bus, the archive queue's
//! visibility (back-off), and the provider API credentials in Secrets Manager.
//!
//! Kept apart from the webhook path's adapters (ledger, queue, status sync):
//! nothing here runs in ingest or the processor.

use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;

use crate::aws::CallCounter;
use crate::error::StoreError;

mod documents;
mod record;

pub use documents::{
    ChunkSource, DocumentStore, StoredObject, UploadError, META_SHA256, META_VERSION, PART_BYTES,
};
pub use record::{DocumentRecord, Recorded, StatusDocuments, DOCUMENT_ATTR, DOCUMENT_RANK_ATTR};

pub use domain::events::{DOCUMENT_ARCHIVED, SOURCE as EVENT_SOURCE, STATUS_CHANGED};

/// The archive rule's event pattern (template.yaml has the same, checked by a test).
pub fn archive_rule_pattern() -> serde_json::Value {
    serde_json::json!({
        "source": [EVENT_SOURCE],
        "detail-type": [STATUS_CHANGED],
        "detail": {"lifecycle": ["executed"]}
    })
}

/// `detail-type` of a metadata job on the archive queue (the archiver's
/// `event::METADATA_REQUESTED`).
pub const METADATA_REQUESTED: &str = "Contract Metadata Requested";

/// The archive rule's second target: the same executed event rewritten as a
/// metadata job, so the document and the metadata values are two messages
/// that fail and retry apart. `(InputPathsMap, InputTemplate)`; template.yaml
/// has the same, checked by a test.
pub fn metadata_target_input() -> (serde_json::Value, String) {
    (
        serde_json::json!({"id": "$.id", "detail": "$.detail"}),
        format!(
            r#"{{"version": "0", "id": "<id>", "detail-type": "{METADATA_REQUESTED}", "source": "{EVENT_SOURCE}", "detail": <detail>}}"#
        ),
    )
}

/// The key-pointer rule's pattern: SpotDraft's key pointers created or
/// updated on an executed contract, delivered as they are to the archive
/// queue (a metadata job).
pub fn key_pointer_rule_pattern() -> serde_json::Value {
    serde_json::json!({
        "source": [EVENT_SOURCE],
        "detail-type": [domain::events::CONTRACT_EVENT],
        "detail": {
            "provider": ["spotdraft"],
            "lifecycle": ["executed"],
            "provider_event_type": ["CONTRACT_KEY_POINTER_CREATION", "CONTRACT_KEY_POINTER_UPDATION"]
        }
    })
}

/// Archive queue visibility timeout: six times the archiver's 120 s timeout.
pub const ARCHIVE_VISIBILITY_TIMEOUT_SECS: u32 = 720;

/// Receives of an archive message before SQS moves it to the archive DLQ:
/// SQS's maximum, a backstop only. The archiver bounds retries by time (the
/// archiver's `batch::RETRY_WINDOW` from the message's `SentTimestamp`) and
/// dead-letters a request itself when it runs out; its back-offs keep this
/// count out of reach within the window, so a busy hour of 429s (each
/// back-off is a receive) does not send an execution to the DLQ.
pub const ARCHIVE_MAX_RECEIVE_COUNT: u32 = 1000;

/// Archive queue message retention: 14 days (SQS's longest), beyond the
/// retry window, so a message is never dropped by age while being retried.
pub const ARCHIVE_RETENTION_SECS: u32 = 1_209_600;

/// The S3 client for the archiver, counted like [`crate::aws::AwsClients`] (whose
/// EventBridge client the archiver publishes with).
#[derive(Debug, Clone)]
pub struct ArchiveClients {
    /// S3 (the document bucket).
    pub s3: aws_sdk_s3::Client,
}

impl ArchiveClients {
    /// S3 needs longer attempts than the webhook path's 2 s: a part is 8 MiB.
    pub fn s3_timeouts() -> TimeoutConfig {
        TimeoutConfig::builder()
            .connect_timeout(Duration::from_secs(2))
            .operation_attempt_timeout(Duration::from_secs(30))
            .operation_timeout(Duration::from_secs(70))
            .build()
    }

    /// Builds the S3 client; path-style addressing when `AWS_ENDPOINT_URL`
    /// points at a local emulator (no per-bucket host names there).
    pub fn new(sdk: &SdkConfig, calls: &CallCounter) -> Self {
        let s3 = aws_sdk_s3::Client::from_conf(
            aws_sdk_s3::config::Builder::from(sdk)
                .timeout_config(Self::s3_timeouts())
                .force_path_style(sdk.endpoint_url().is_some())
                .interceptor(calls.clone())
                .build(),
        );
        ArchiveClients { s3 }
    }
}

/// Puts an archive job (an archive or metadata request body) on the archive
/// queue at `queue_url`; returns its message id (operator re-archiving).
pub async fn queue_job(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    body: String,
) -> Result<String, StoreError> {
    let sent = sqs
        .send_message()
        .queue_url(queue_url)
        .message_body(body)
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.SendMessage", e))?;
    Ok(sent.message_id().unwrap_or_default().to_owned())
}

/// Hides an archive-queue message for `seconds` (0–43200): the back-off of a
/// throttled or failing record, which the event source mapping then leaves to
/// SQS as a batch item failure.
pub async fn change_visibility(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    receipt_handle: &str,
    seconds: u32,
) -> Result<(), StoreError> {
    sqs.change_message_visibility()
        .queue_url(queue_url)
        .receipt_handle(receipt_handle)
        .visibility_timeout(seconds.min(43_200) as i32)
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.ChangeMessageVisibility", e))?;
    Ok(())
}

/// Moves a message that retrying cannot help straight to the dead-letter
/// queue, body unchanged, with the reason as message attributes
/// (`error`: a short code, `error_message`: one line, no personal data).
pub async fn dead_letter(
    sqs: &aws_sdk_sqs::Client,
    dlq_url: &str,
    body: &str,
    reason: &str,
    message: &str,
) -> Result<(), StoreError> {
    let attr = |v: &str| {
        aws_sdk_sqs::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| StoreError::aws_other("SQS.SendMessage", e))
    };
    sqs.send_message()
        .queue_url(dlq_url)
        .message_body(body)
        .message_attributes("error", attr(reason)?)
        .message_attributes("error_message", attr(message)?)
        .send()
        .await
        .map_err(|e| StoreError::aws("SQS.SendMessage", e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(version: &str, fetched: i64) -> DocumentRecord {
        DocumentRecord {
            s3_uri: "s3://b/k".into(),
            sha256: "00".into(),
            bytes: 1,
            content_type: "application/pdf".into(),
            version: version.into(),
            file_name: None,
            archived_at: "2026-01-01T00:00:00Z".into(),
            s3_version_id: None,
            fetched_at_ms: fetched,
        }
    }

    #[test]
    fn numeric_versions_rank_by_number_others_by_fetch_time() {
        assert!(doc("9", 5).rank() < doc("10", 1).rank());
        assert!(doc("abc", 1).rank() < doc("abc", 2).rank());
        assert!(doc("abc", 9_999_999_999_999).rank() < doc("1", 0).rank());
        assert_eq!(doc("42", 1).rank(), doc("42", 2).rank());
    }

    #[test]
    fn a_record_round_trips_through_its_item() {
        let mut d = doc("7", 3);
        d.file_name = Some("x.pdf".into());
        d.s3_version_id = Some("v1".into());
        let back = DocumentRecord::from_item(&d.to_item()).unwrap();
        assert_eq!(
            back,
            DocumentRecord {
                fetched_at_ms: 0,
                ..d
            }
        );
    }
}
