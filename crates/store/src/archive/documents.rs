//! The document bucket: one object per (provider, subject, version), streamed in
//! parts with its SHA-256 checked, found again by its checksum metadata.

use crate::error::StoreError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::future::Future;

/// S3 user metadata: the document's SHA-256, lowercase hex.
pub const META_SHA256: &str = "sha256";

/// S3 user metadata: the provider's version id.
pub const META_VERSION: &str = "provider-version";

/// Multipart part size. Peak memory holds about one part.
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// Room above a part for the chunk that completes it (HTTP chunks are small).
pub(super) const PART_SLACK: usize = 256 * 1024;

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
    pub(super) s3: aws_sdk_s3::Client,
    pub(super) bucket: String,
    pub(super) part_bytes: usize,
}

pub(super) fn b64(digest: &[u8]) -> String {
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
    pub(super) async fn sha256_of(
        &self,
        key: &str,
        version: Option<&str>,
    ) -> Result<String, StoreError> {
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

    pub(super) async fn tag_sha256(
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

    pub(super) async fn put(
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

    pub(super) async fn create_multipart(
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

    pub(super) async fn upload_part(
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

    pub(super) async fn complete(
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

    pub(super) async fn abort(&self, key: &str, mp: &Multipart) {
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
pub(super) struct Multipart {
    pub(super) upload_id: String,
    pub(super) parts: Vec<CompletedPart>,
}

pub(super) fn precondition_failed(raw: Option<&aws_smithy_runtime_api::http::Response>) -> bool {
    raw.is_some_and(|r| r.status().as_u16() == 412)
}
