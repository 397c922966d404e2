//! The archiver's AWS side: the document bucket (S3, streamed, multipart for
//! large documents, one object per (provider, subject, version)), the
//! `document` attribute of the status item (never replaced by an older
//! version), `Contract Document Archived` on the bus, the archive queue's
//! visibility (back-off), and the provider API credentials in Secrets Manager.
//!
//! Kept apart from the webhook path's adapters (ledger, queue, status sync):
//! nothing here runs in ingest or the processor.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use sha2::{Digest, Sha256};
use verify::Provider;

use crate::aws::CallCounter;
use crate::error::StoreError;
use crate::schema::attr;
use domain::limits::status_key;

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

/// Status item attribute: the archived document (a map, see [`DocumentRecord`]).
pub const DOCUMENT_ATTR: &str = "document";
/// Status item attribute: the archived document's rank (see [`DocumentRecord::rank`]).
pub const DOCUMENT_RANK_ATTR: &str = "document_rank";
/// S3 user metadata: the document's SHA-256, lowercase hex.
pub const META_SHA256: &str = "sha256";
/// S3 user metadata: the provider's version id.
pub const META_VERSION: &str = "provider-version";

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
/// Multipart part size. Peak memory holds about one part.
pub const PART_BYTES: usize = 8 * 1024 * 1024;
/// Room above a part for the chunk that completes it (HTTP chunks are small).
const PART_SLACK: usize = 256 * 1024;

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

/// A stored document as S3 holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    /// Object key.
    pub key: String,
    /// SHA-256 of the bytes, lowercase hex.
    pub sha256: String,
    /// Size in bytes.
    pub bytes: u64,
    /// Content type.
    pub content_type: String,
    /// S3 version id (versioned bucket).
    pub s3_version_id: Option<String>,
    /// Whether this call wrote it (false: it was already there).
    pub written: bool,
}

/// Where the document's bytes come from (the provider's download, streamed).
pub trait ChunkSource: Send {
    /// The error a read can end with.
    type Error: std::fmt::Display + Send;
    /// The next chunk; `None` at the end.
    fn next_chunk(
        &mut self,
    ) -> impl Future<Output = Result<Option<bytes::Bytes>, Self::Error>> + Send;
}

/// Why an upload did not store the document.
#[derive(Debug, thiserror::Error)]
pub enum UploadError<E: std::fmt::Display> {
    /// Reading the source failed part-way.
    #[error("download failed: {0}")]
    Source(E),
    /// The source is larger than allowed.
    #[error("document larger than MAX_DOCUMENT_BYTES ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// S3 failed.
    #[error(transparent)]
    S3(StoreError),
}

/// The document bucket.
#[derive(Debug, Clone)]
pub struct DocumentStore {
    s3: aws_sdk_s3::Client,
    bucket: String,
    part_bytes: usize,
}

fn b64(digest: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(digest)
}

impl DocumentStore {
    /// The bucket `bucket` through `s3`.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        DocumentStore {
            s3,
            bucket: bucket.into(),
            part_bytes: PART_BYTES,
        }
    }

    /// Same, with another part size (at least 5 MiB on S3; tests use less on moto).
    pub fn with_part_bytes(mut self, part_bytes: usize) -> Self {
        self.part_bytes = part_bytes.max(1);
        self
    }

    /// The bucket name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://bucket/key`.
    pub fn uri(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The object at `key`, if it exists, with its SHA-256 (metadata for a
    /// single-part object, a tag for a multipart one).
    pub async fn head(&self, key: &str) -> Result<Option<StoredObject>, StoreError> {
        let out = match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => {
                return Ok(None)
            }
            Err(err) => return Err(StoreError::aws("S3.HeadObject", err)),
        };
        let sha256 = match out.metadata().and_then(|m| m.get(META_SHA256)).cloned() {
            Some(sha) => sha,
            None => self.sha256_of(key, out.version_id()).await?,
        };
        Ok(Some(StoredObject {
            key: key.to_owned(),
            sha256,
            bytes: out.content_length().unwrap_or(0).max(0) as u64,
            content_type: out.content_type().unwrap_or("application/pdf").to_owned(),
            s3_version_id: out.version_id().map(str::to_owned),
            written: false,
        }))
    }

    /// A multipart object's SHA-256: its tag, or (when a crash came between
    /// completing the upload and tagging it) the hash of its bytes, streamed,
    /// and then tagged.
    async fn sha256_of(&self, key: &str, version: Option<&str>) -> Result<String, StoreError> {
        let tags = self
            .s3
            .get_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| StoreError::aws("S3.GetObjectTagging", e))?;
        if let Some(tag) = tags.tag_set().iter().find(|t| t.key() == META_SHA256) {
            return Ok(tag.value().to_owned());
        }
        let mut out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .send()
            .await
            .map_err(|e| StoreError::aws("S3.GetObject", e))?;
        let mut hasher = Sha256::new();
        while let Some(chunk) = out
            .body
            .try_next()
            .await
            .map_err(|e| StoreError::aws_other("S3.GetObject", e))?
        {
            hasher.update(&chunk);
        }
        let sha = hex::encode(hasher.finalize());
        self.tag_sha256(key, version, &sha).await?;
        Ok(sha)
    }

    async fn tag_sha256(
        &self,
        key: &str,
        version: Option<&str>,
        sha: &str,
    ) -> Result<(), StoreError> {
        let tag = aws_sdk_s3::types::Tag::builder()
            .key(META_SHA256)
            .value(sha)
            .build()
            .map_err(|e| StoreError::aws_other("S3.PutObjectTagging", e))?;
        let tagging = aws_sdk_s3::types::Tagging::builder()
            .tag_set(tag)
            .build()
            .map_err(|e| StoreError::aws_other("S3.PutObjectTagging", e))?;
        self.s3
            .put_object_tagging()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.map(str::to_owned))
            .tagging(tagging)
            .send()
            .await
            .map_err(|e| StoreError::aws("S3.PutObjectTagging", e))?;
        Ok(())
    }

    /// Streams `source` to `key`, hashing as it goes: one `PutObject` when the
    /// document fits in a part, else a multipart upload with a SHA-256 checksum
    /// per part. Memory holds one part at a time. The write is conditional
    /// (`If-None-Match: *`), so concurrent deliveries of one version store one
    /// object: the loser reads the winner's object back. The whole document's
    /// SHA-256 is kept beside S3's checksum (a multipart object's is a checksum
    /// of part checksums): user metadata `sha256` on a single-part object, the
    /// tag `sha256` on a multipart one (known only once all parts are sent).
    pub async fn upload<S: ChunkSource>(
        &self,
        key: &str,
        content_type: &str,
        provider_version: &str,
        max_bytes: u64,
        source: &mut S,
    ) -> Result<StoredObject, UploadError<S::Error>> {
        let mut hasher = Sha256::new();
        let mut total: u64 = 0;
        // Sized once for a part and what the next chunk may add, so it never
        // doubles its capacity while filling.
        let capacity = self.part_bytes + PART_SLACK;
        let mut buf: Vec<u8> = Vec::with_capacity(capacity.min(1024 * 1024));
        let mut multipart: Option<Multipart> = None;
        let result = async {
            loop {
                let chunk = source.next_chunk().await.map_err(UploadError::Source)?;
                let done = chunk.is_none();
                if let Some(chunk) = chunk {
                    total += chunk.len() as u64;
                    if total > max_bytes {
                        return Err(UploadError::TooLarge { limit: max_bytes });
                    }
                    hasher.update(&chunk);
                    let needed = buf.len() + chunk.len();
                    if needed > buf.capacity() {
                        // Doubling, but never past a part and its slack.
                        let grown = (buf.capacity() * 2).min(capacity).max(needed);
                        buf.reserve_exact(grown - buf.len());
                    }
                    buf.extend_from_slice(&chunk);
                }
                // A full part goes now, unless it may be the only one (then
                // one PutObject is cheaper): wait for one more byte.
                while buf.len() > self.part_bytes
                    || (done && multipart.is_some() && !buf.is_empty())
                {
                    let take = buf.len().min(self.part_bytes);
                    let mut rest = Vec::with_capacity(capacity);
                    rest.extend_from_slice(&buf[take..]);
                    buf.truncate(take);
                    let part = std::mem::replace(&mut buf, rest);
                    if multipart.is_none() {
                        multipart = Some(
                            self.create_multipart(key, content_type, provider_version)
                                .await
                                .map_err(UploadError::S3)?,
                        );
                    }
                    let mp = multipart.as_mut().expect("created above");
                    self.upload_part(key, mp, part)
                        .await
                        .map_err(UploadError::S3)?;
                }
                if done {
                    break;
                }
            }
            let sha = hasher.clone().finalize();
            let sha_hex = hex::encode(sha);
            let mut meta = HashMap::new();
            meta.insert(META_SHA256.to_owned(), sha_hex.clone());
            meta.insert(META_VERSION.to_owned(), provider_version.to_owned());
            let written = match multipart.as_ref() {
                None => {
                    self.put(key, content_type, &meta, &sha, std::mem::take(&mut buf))
                        .await
                }
                Some(mp) => match self.complete(key, mp).await {
                    // The whole document's hash is known only now: a tag
                    // (setting it creates no new object version).
                    Ok(Some(version)) => self
                        .tag_sha256(key, version.as_deref(), &sha_hex)
                        .await
                        .map(|()| Some(version)),
                    other => other,
                },
            }
            .map_err(UploadError::S3)?;
            match written {
                Some(version) => Ok(StoredObject {
                    key: key.to_owned(),
                    sha256: sha_hex,
                    bytes: total,
                    content_type: content_type.to_owned(),
                    s3_version_id: version,
                    written: true,
                }),
                // Another delivery stored this version first.
                None => self
                    .head(key)
                    .await
                    .map_err(UploadError::S3)?
                    .ok_or_else(|| {
                        UploadError::S3(StoreError::Corrupt {
                            what: "archived object",
                            reason: format!("{key} exists (write refused) but cannot be read"),
                        })
                    }),
            }
        }
        .await;
        if let (Err(_), Some(mp)) = (&result, &multipart) {
            self.abort(key, mp).await;
        }
        result
    }

    async fn put(
        &self,
        key: &str,
        content_type: &str,
        meta: &HashMap<String, String>,
        sha: &[u8],
        body: Vec<u8>,
    ) -> Result<Option<Option<String>>, StoreError> {
        let out = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .set_metadata(Some(meta.clone()))
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(b64(sha))
            .if_none_match("*")
            .body(ByteStream::from(body))
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(out.version_id().map(str::to_owned))),
            Err(err) if precondition_failed(err.raw_response()) => Ok(None),
            Err(err) => Err(StoreError::aws("S3.PutObject", err)),
        }
    }

    async fn create_multipart(
        &self,
        key: &str,
        content_type: &str,
        provider_version: &str,
    ) -> Result<Multipart, StoreError> {
        let out = self
            .s3
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .metadata(META_VERSION, provider_version)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .send()
            .await
            .map_err(|e| StoreError::aws("S3.CreateMultipartUpload", e))?;
        let upload_id = out
            .upload_id()
            .map(str::to_owned)
            .ok_or(StoreError::Corrupt {
                what: "CreateMultipartUpload answer",
                reason: "no UploadId".into(),
            })?;
        Ok(Multipart {
            upload_id,
            parts: Vec::new(),
        })
    }

    async fn upload_part(
        &self,
        key: &str,
        mp: &mut Multipart,
        part: Vec<u8>,
    ) -> Result<(), StoreError> {
        let number = mp.parts.len() as i32 + 1;
        let sha = Sha256::digest(&part);
        let checksum = b64(&sha);
        let out = self
            .s3
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&mp.upload_id)
            .part_number(number)
            .checksum_algorithm(ChecksumAlgorithm::Sha256)
            .checksum_sha256(&checksum)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| StoreError::aws("S3.UploadPart", e))?;
        mp.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .set_e_tag(out.e_tag().map(str::to_owned))
                .checksum_sha256(checksum)
                .build(),
        );
        Ok(())
    }

    async fn complete(
        &self,
        key: &str,
        mp: &Multipart,
    ) -> Result<Option<Option<String>>, StoreError> {
        let out = self
            .s3
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&mp.upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(mp.parts.clone()))
                    .build(),
            )
            .if_none_match("*")
            .send()
            .await;
        match out {
            Ok(out) => Ok(Some(out.version_id().map(str::to_owned))),
            Err(err) if precondition_failed(err.raw_response()) => {
                self.abort(key, mp).await;
                Ok(None)
            }
            Err(err) => Err(StoreError::aws("S3.CompleteMultipartUpload", err)),
        }
    }

    async fn abort(&self, key: &str, mp: &Multipart) {
        if let Err(err) = self
            .s3
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(&mp.upload_id)
            .send()
            .await
        {
            // The bucket's lifecycle rule removes it after a day.
            tracing::warn!(error = %StoreError::aws("S3.AbortMultipartUpload", err), "multipart upload left for the lifecycle rule");
        }
    }

    /// The bytes of `key` (tests and the CLI; documents are small enough there).
    pub async fn get_bytes(&self, key: &str) -> Result<Vec<u8>, StoreError> {
        let out = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| StoreError::aws("S3.GetObject", e))?;
        let data = out
            .body
            .collect()
            .await
            .map_err(|e| StoreError::aws_other("S3.GetObject", e))?;
        Ok(data.into_bytes().to_vec())
    }
}

#[derive(Debug)]
struct Multipart {
    upload_id: String,
    parts: Vec<CompletedPart>,
}

fn precondition_failed(raw: Option<&aws_smithy_runtime_api::http::Response>) -> bool {
    raw.is_some_and(|r| r.status().as_u16() == 412)
}

/// The `document` the status item records.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocumentRecord {
    /// `s3://bucket/key`.
    pub s3_uri: String,
    /// SHA-256, lowercase hex.
    pub sha256: String,
    /// Size.
    pub bytes: u64,
    /// Content type.
    pub content_type: String,
    /// The provider's version id (SpotDraft `current_version_id`; Subnoto: the document uuid).
    pub version: String,
    /// The provider's file name (personal data possible: never logged).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub file_name: Option<String>,
    /// When it was archived, RFC 3339.
    pub archived_at: String,
    /// S3 object version (versioned bucket).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub s3_version_id: Option<String>,
    /// When the provider was asked for the document, ms (orders versions that
    /// are not numbers).
    #[serde(skip)]
    pub fetched_at_ms: i64,
}

impl DocumentRecord {
    /// A string that sorts like "newer": a numeric provider version (SpotDraft's
    /// version ids) as `v` + 20 digits; anything else by when the provider was
    /// asked (it answers its current version), `t` + 20 digits. A later fetch
    /// of the current document is never older than an earlier one.
    pub fn rank(&self) -> String {
        match self.version.trim().parse::<u64>() {
            Ok(n) => format!("v{n:020}"),
            Err(_) => format!("t{:020}", self.fetched_at_ms.max(0)),
        }
    }

    fn to_item(&self) -> AttributeValue {
        let mut m = HashMap::new();
        let s = |v: &str| AttributeValue::S(v.to_owned());
        m.insert("s3_uri".to_owned(), s(&self.s3_uri));
        m.insert("sha256".to_owned(), s(&self.sha256));
        m.insert(
            "bytes".to_owned(),
            AttributeValue::N(self.bytes.to_string()),
        );
        m.insert("content_type".to_owned(), s(&self.content_type));
        m.insert("version".to_owned(), s(&self.version));
        m.insert("archived_at".to_owned(), s(&self.archived_at));
        if let Some(f) = &self.file_name {
            m.insert("file_name".to_owned(), s(f));
        }
        if let Some(v) = &self.s3_version_id {
            m.insert("s3_version_id".to_owned(), s(v));
        }
        AttributeValue::M(m)
    }

    /// Reads a stored `document` map back.
    pub fn from_item(value: &AttributeValue) -> Option<DocumentRecord> {
        let m = value.as_m().ok()?;
        let s = |k: &str| m.get(k).and_then(|v| v.as_s().ok()).cloned();
        Some(DocumentRecord {
            s3_uri: s("s3_uri")?,
            sha256: s("sha256")?,
            bytes: m.get("bytes")?.as_n().ok()?.parse().ok()?,
            content_type: s("content_type").unwrap_or_default(),
            version: s("version").unwrap_or_default(),
            file_name: s("file_name"),
            archived_at: s("archived_at").unwrap_or_default(),
            s3_version_id: s("s3_version_id"),
            fetched_at_ms: 0,
        })
    }
}

/// What [`StatusDocuments::record`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// The item now names this document.
    Written,
    /// The item already named this very version.
    Same,
    /// The item names a newer version; left alone.
    Newer(Option<DocumentRecord>),
    /// There is no status item for the subject (yet).
    NoItem,
}

/// The `document` attribute of status items.
#[derive(Debug, Clone)]
pub struct StatusDocuments {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl StatusDocuments {
    /// The status table `table`.
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        StatusDocuments {
            client,
            table: table.into(),
        }
    }

    /// Sets `document` on the subject's status item, only when the item exists
    /// and holds no document of the same or a higher rank. One `UpdateItem`; a
    /// refused one says why from the item it returns.
    pub async fn record(
        &self,
        provider: Provider,
        subject: &str,
        doc: &DocumentRecord,
    ) -> Result<Recorded, StoreError> {
        let rank = doc.rank();
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(status_key(provider, subject)))
            .update_expression("SET #doc = :doc, #rank = :rank")
            .condition_expression(
                "attribute_exists(pk) AND (attribute_not_exists(#rank) OR #rank < :rank)",
            )
            .expression_attribute_names("#doc", DOCUMENT_ATTR)
            .expression_attribute_names("#rank", DOCUMENT_RANK_ATTR)
            .expression_attribute_values(":doc", doc.to_item())
            .expression_attribute_values(":rank", AttributeValue::S(rank.clone()))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match out {
            Ok(_) => Ok(Recorded::Written),
            Err(err) => match err.into_service_error() {
                UpdateItemError::ConditionalCheckFailedException(e) => {
                    let Some(item) = e.item() else {
                        return Ok(Recorded::NoItem);
                    };
                    let stored_rank = item
                        .get(DOCUMENT_RANK_ATTR)
                        .and_then(|v| v.as_s().ok())
                        .cloned()
                        .unwrap_or_default();
                    let stored = item.get(DOCUMENT_ATTR).and_then(DocumentRecord::from_item);
                    let same_version = stored
                        .as_ref()
                        .is_some_and(|s| s.version == doc.version && s.sha256 == doc.sha256);
                    if stored_rank == rank || same_version {
                        Ok(Recorded::Same)
                    } else {
                        Ok(Recorded::Newer(stored))
                    }
                }
                other => Err(StoreError::aws("DynamoDB.UpdateItem", other)),
            },
        }
    }

    /// The subject's recorded document, if any (and whether the item exists).
    pub async fn get(
        &self,
        provider: Provider,
        subject: &str,
    ) -> Result<Option<HashMap<String, AttributeValue>>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(attr::PK, AttributeValue::S(status_key(provider, subject)))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| StoreError::aws("DynamoDB.GetItem", e))?;
        Ok(out.item)
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
