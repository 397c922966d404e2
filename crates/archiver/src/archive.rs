//! One archive request, end to end: the provider's current document into the
//! bucket (once per version), its record on the status item (never replacing
//! a newer version), `Contract Document Archived` on the bus.

use domain::events::BusEntry;
use serde_json::json;
use sha2::{Digest, Sha256};
use store::archive::{
    ChunkSource, DocumentRecord, Recorded, StoredObject, UploadError, DOCUMENT_ARCHIVED,
};
use store::StoreError;
use tokio::time::Instant;
use verify::Provider;

use crate::docusign::{valid_guid, DocuSignApi};
use crate::event::ArchiveRequest;
use crate::http::{Class, FetchError};
use crate::spotdraft::{composite_from_kind, valid_contract_id, SpotDraftApi};
use crate::subnoto::valid_uuid;
use crate::App;

/// Download links asked for per attempt when the temporary URL keeps being
/// refused (expired before it was used).
pub const LINKS_PER_ATTEMPT: usize = 3;

/// What became of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Archived {
    /// The document is in the bucket and the item says so (or names a newer one).
    Stored {
        /// The record.
        record: Box<DocumentRecord>,
        /// This attempt uploaded it (false: the object was already there).
        uploaded: bool,
        /// What the status item did.
        recorded: Recorded,
        /// `Contract Document Archived` was published.
        published: bool,
    },
    /// The provider's API is not configured here (SpotDraft without a base URL,
    /// Subnoto without a proxy URL, DocuSign without an auth host).
    NotConfigured,
}

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The message names something no provider call can be made for.
    #[error("invalid request: {0}")]
    Invalid(&'static str),
    /// A provider call.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The document is larger than `MAX_DOCUMENT_BYTES` (found while streaming).
    #[error("document larger than MAX_DOCUMENT_BYTES ({limit} bytes)")]
    TooLarge {
        /// The limit.
        limit: u64,
    },
    /// S3, DynamoDB or EventBridge.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The status item does not exist (yet): the processor has not written it.
    #[error("no status item for the subject yet")]
    NoStatusItem,
    /// The key pointers answer cannot be kept (not a list, too large).
    #[error("SpotDraft key_pointers: {0}")]
    KeyPointers(#[from] crate::keypointers::KeyPointersError),
}

impl ArchiveError {
    /// How the record is handled.
    pub fn class(&self) -> Class {
        match self {
            ArchiveError::Invalid(_)
            | ArchiveError::TooLarge { .. }
            | ArchiveError::KeyPointers(_) => Class::Permanent,
            ArchiveError::Fetch(e) => e.class(),
            ArchiveError::Store(_) | ArchiveError::NoStatusItem => Class::Transient,
        }
    }

    /// Short name for logs and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            ArchiveError::Invalid(_) => "invalid_request",
            ArchiveError::TooLarge { .. } | ArchiveError::Fetch(FetchError::TooLarge { .. }) => {
                "too_large"
            }
            ArchiveError::Fetch(FetchError::Throttled { .. }) => "throttled",
            ArchiveError::Fetch(FetchError::Credentials { .. }) => "credentials_rejected",
            ArchiveError::Fetch(FetchError::Redirect { .. }) => "redirect",
            ArchiveError::Fetch(FetchError::LinkExpired { .. }) => "link_expired",
            ArchiveError::Fetch(FetchError::NotFound { .. }) => "not_found",
            ArchiveError::Fetch(FetchError::Server { .. } | FetchError::Network { .. }) => {
                "provider_unavailable"
            }
            ArchiveError::Fetch(FetchError::Status { .. } | FetchError::Answer { .. }) => {
                "unexpected_answer"
            }
            ArchiveError::Fetch(FetchError::AnswerTooLarge { .. }) => "answer_too_large",
            ArchiveError::Fetch(FetchError::InvalidDocument(_)) => "invalid_document",
            ArchiveError::Fetch(FetchError::TooSlow { .. }) => "download_too_slow",
            ArchiveError::Fetch(FetchError::UrlRefused(_)) => "document_url_refused",
            ArchiveError::Store(_) => "aws_failed",
            ArchiveError::NoStatusItem => "no_status_item",
            ArchiveError::KeyPointers(crate::keypointers::KeyPointersError::TooLarge(_)) => {
                "key_pointers_too_large"
            }
            ArchiveError::KeyPointers(_) => "unexpected_answer",
        }
    }
}

impl<E: Into<ArchiveError> + std::fmt::Display> From<UploadError<E>> for ArchiveError {
    fn from(err: UploadError<E>) -> Self {
        match err {
            UploadError::Source(e) => e.into(),
            UploadError::TooLarge { limit } => ArchiveError::TooLarge { limit },
            UploadError::S3(e) => ArchiveError::Store(e),
        }
    }
}

/// A path segment of an object key: the value itself when it is short and
/// plain, else `h-` + its SHA-256 (deterministic either way).
pub fn key_segment(value: &str) -> String {
    let plain = !value.is_empty()
        && value.len() <= 100
        && !value.starts_with('.')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b));
    if plain {
        value.to_owned()
    } else {
        format!("h-{}", hex::encode(Sha256::digest(value.as_bytes())))
    }
}

/// The object key of a (provider, subject, version): one object per version,
/// whatever the deliveries.
pub fn object_key(provider: Provider, subject: &str, version: &str) -> String {
    format!(
        "{provider}/{}/{}.pdf",
        key_segment(subject),
        key_segment(version)
    )
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Archives one request; the document download ends by `deadline`.
pub async fn archive(
    app: &App,
    request: &ArchiveRequest,
    deadline: Instant,
) -> Result<Archived, ArchiveError> {
    let fetched_at_ms = domain::now_ms();
    let (stored, version, file_name) = match request.provider {
        Provider::SpotDraft => {
            let Some(api) = &app.spotdraft else {
                return Ok(Archived::NotConfigured);
            };
            spotdraft(app, api, request, deadline).await?
        }
        Provider::Subnoto => {
            if app.subnoto.is_none() {
                return Ok(Archived::NotConfigured);
            }
            subnoto(app, request, deadline).await?
        }
        Provider::DocuSign => {
            let Some(api) = &app.docusign else {
                return Ok(Archived::NotConfigured);
            };
            docusign(app, api, request, deadline).await?
        }
    };
    let uploaded = stored.written;
    let record = DocumentRecord {
        s3_uri: app.documents.uri(&stored.key),
        sha256: stored.sha256,
        bytes: stored.bytes,
        content_type: stored.content_type,
        version,
        file_name,
        archived_at: rfc3339_now(),
        s3_version_id: stored.s3_version_id,
        fetched_at_ms,
    };
    let recorded = app
        .status
        .record(request.provider, &request.subject, &record)
        .await?;
    let published = match (&recorded, &app.events) {
        (Recorded::NoItem, _) => return Err(ArchiveError::NoStatusItem),
        // An older version than the item's: stored, but not announced.
        (Recorded::Newer(_), _) | (_, None) => false,
        // Written or already recorded (a redelivery after a lost publish
        // publishes again: at least once, consumers dedupe on detail.id).
        (_, Some(events)) => {
            let entry = BusEntry {
                detail_type: DOCUMENT_ARCHIVED,
                detail: archived_detail(request, &record).to_string(),
            };
            events.put_one(&entry).await?;
            true
        }
    };
    Ok(Archived::Stored {
        record: Box::new(record),
        uploaded,
        recorded,
        published,
    })
}

/// The published event's detail.
pub fn archived_detail(request: &ArchiveRequest, record: &DocumentRecord) -> serde_json::Value {
    let mut document = json!({
        "s3_uri": record.s3_uri,
        "sha256": record.sha256,
        "bytes": record.bytes,
        "content_type": record.content_type,
        "version": record.version,
        "archived_at": record.archived_at,
    });
    if let Some(f) = &record.file_name {
        document["file_name"] = f.clone().into();
    }
    json!({
        "version": "1",
        "id": request.id,
        "provider": request.provider.as_str(),
        "subject": request.subject,
        "document": document,
    })
}

async fn upload<S: ChunkSource>(
    app: &App,
    key: &str,
    version: &str,
    content_type: &str,
    source: &mut S,
) -> Result<StoredObject, ArchiveError>
where
    S::Error: Into<ArchiveError>,
{
    Ok(app
        .documents
        .upload(key, content_type, version, app.max_document_bytes, source)
        .await?)
}

async fn spotdraft(
    app: &App,
    api: &SpotDraftApi,
    request: &ArchiveRequest,
    deadline: Instant,
) -> Result<(StoredObject, String, Option<String>), ArchiveError> {
    let contract_id = request.subject.as_str();
    if !valid_contract_id(contract_id) {
        return Err(ArchiveError::Invalid(
            "a SpotDraft subject is a decimal contract id",
        ));
    }
    // The composite id: from the kind when it settles it (checked by the
    // download link answering), else from the listing. Nothing is cached
    // across contracts.
    let (composite, mut link) =
        match composite_from_kind(contract_id, request.contract_kind.as_deref()) {
            Some(guess) => match api.download_link(&guess).await {
                Ok(link) => (guess, link),
                Err(FetchError::NotFound { .. }) => {
                    let composite = api.find_composite_id(contract_id).await?;
                    let link = api.download_link(&composite).await?;
                    (composite, link)
                }
                Err(err) => return Err(err.into()),
            },
            None => {
                let composite = api.find_composite_id(contract_id).await?;
                let link = api.download_link(&composite).await?;
                (composite, link)
            }
        };
    let mut asked = 1;
    loop {
        let key = object_key(Provider::SpotDraft, contract_id, &link.version);
        if let Some(existing) = app.documents.head(&key).await? {
            return Ok((existing, link.version, link.file_name));
        }
        match api.open(&link, app.max_document_bytes, deadline).await {
            Ok(mut download) => {
                let content_type = download.content_type();
                let stored = upload(app, &key, &link.version, content_type, &mut download).await?;
                return Ok((stored, link.version, link.file_name));
            }
            Err(FetchError::LinkExpired { .. }) if asked < LINKS_PER_ATTEMPT => {
                tracing::info!(
                    provider = "spotdraft",
                    subject = contract_id,
                    "download URL refused; asking for a new link"
                );
                link = api.download_link(&composite).await?;
                asked += 1;
            }
            Err(err) => return Err(err.into()),
        }
    }
}

async fn subnoto(
    app: &App,
    request: &ArchiveRequest,
    deadline: Instant,
) -> Result<(StoredObject, String, Option<String>), ArchiveError> {
    let api = app
        .subnoto
        .as_ref()
        .ok_or(ArchiveError::Invalid("Subnoto is not configured"))?;
    let envelope = request.subject.as_str();
    let workspace = request.workspace.as_deref().ok_or(ArchiveError::Invalid(
        "a Subnoto request needs detail.workspace",
    ))?;
    if !valid_uuid(envelope) || !valid_uuid(workspace) {
        return Err(ArchiveError::Invalid(
            "Subnoto envelope and workspace are uuids",
        ));
    }
    let listed = api.document_ids(workspace, envelope).await?;
    let document = match request.document_id.as_deref() {
        Some(id) if listed.iter().any(|d| d == id) => id.to_owned(),
        Some(_) => {
            return Err(FetchError::NotFound {
                what: "Subnoto document in its envelope",
            }
            .into())
        }
        None => listed.first().cloned().ok_or(FetchError::NotFound {
            what: "Subnoto envelope documents",
        })?,
    };
    if !valid_uuid(&document) {
        return Err(ArchiveError::Invalid("a Subnoto document id is a uuid"));
    }
    // Subnoto has no version ids: a completed envelope's document is final,
    // so the document uuid is its version.
    let key = object_key(Provider::Subnoto, envelope, &document);
    if let Some(existing) = app.documents.head(&key).await? {
        return Ok((existing, document, None));
    }
    let mut download = api
        .open(
            workspace,
            envelope,
            &document,
            app.max_document_bytes,
            deadline,
        )
        .await?;
    let content_type = download.content_type();
    let stored = upload(app, &key, &document, content_type, &mut download).await?;
    Ok((stored, document, None))
}

/// The version of a DocuSign combined document: a completed envelope's
/// documents are final (DocuSign allows no change after completion), so there
/// is one version, and one object per envelope:
/// `docusign/{envelopeId}/combined.pdf`.
pub const DOCUSIGN_VERSION: &str = "combined";

async fn docusign(
    app: &App,
    api: &DocuSignApi,
    request: &ArchiveRequest,
    deadline: Instant,
) -> Result<(StoredObject, String, Option<String>), ArchiveError> {
    let envelope = request.subject.as_str();
    let account = request.workspace.as_deref().ok_or(ArchiveError::Invalid(
        "a DocuSign request needs detail.workspace (the accountId)",
    ))?;
    if !valid_guid(envelope) || !valid_guid(account) {
        return Err(ArchiveError::Invalid(
            "DocuSign envelope and account ids are GUIDs",
        ));
    }
    let key = object_key(Provider::DocuSign, envelope, DOCUSIGN_VERSION);
    if let Some(existing) = app.documents.head(&key).await? {
        return Ok((existing, DOCUSIGN_VERSION.to_owned(), None));
    }
    let mut download = api
        .open(account, envelope, app.max_document_bytes, deadline)
        .await?;
    let content_type = download.content_type();
    let stored = upload(app, &key, DOCUSIGN_VERSION, content_type, &mut download).await?;
    Ok((stored, DOCUSIGN_VERSION.to_owned(), None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_deterministic_and_safe() {
        assert_eq!(
            object_key(Provider::SpotDraft, "48213", "7"),
            "spotdraft/48213/7.pdf"
        );
        let odd = object_key(Provider::SpotDraft, "48213", "../v 1");
        assert!(
            odd.starts_with("spotdraft/48213/h-") && !odd.contains(".."),
            "{odd}"
        );
        assert_eq!(odd, object_key(Provider::SpotDraft, "48213", "../v 1"));
        assert_ne!(odd, object_key(Provider::SpotDraft, "48213", "../v 2"));
    }

    #[test]
    fn failures_are_classified() {
        assert_eq!(
            ArchiveError::TooLarge { limit: 1 }.class(),
            Class::Permanent
        );
        assert_eq!(ArchiveError::NoStatusItem.class(), Class::Transient);
        assert_eq!(
            ArchiveError::Fetch(FetchError::Credentials {
                what: "x",
                status: 401
            })
            .class(),
            Class::Credentials
        );
        assert_eq!(
            ArchiveError::Fetch(FetchError::LinkExpired { status: 403 }).reason(),
            "link_expired"
        );
    }
}
