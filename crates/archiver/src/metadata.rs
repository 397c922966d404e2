//! One metadata job (SpotDraft only): the executed contract's key pointers
//! fetched (same client, pace and failure discipline as its document),
//! recorded on the status item, and `Contract Metadata Captured` published
//! only when the values differ from the last ones published (SHA-256 on the
//! item). A job never touches the document, and the document job never
//! this: each is its own archive-queue message.

use domain::events::{BusEntry, METADATA_CAPTURED};
use store::metadata::{MetadataRecorded, StatusMetadata};

use crate::archive::ArchiveError;
use crate::event::ArchiveRequest;
use crate::http::FetchError;
use crate::keypointers::{captured_detail, read, KeyPointers};
use crate::spotdraft::{composite_from_kind, valid_contract_id, SpotDraftApi};
use crate::App;

/// What became of a metadata job.
#[derive(Debug, Clone, PartialEq)]
pub enum Captured {
    /// Fetched and recorded.
    Recorded {
        /// The values.
        values: Box<KeyPointers>,
        /// What the status item did.
        recorded: MetadataRecorded,
        /// `Contract Metadata Captured` was published.
        published: bool,
    },
    /// SpotDraft's API is not configured here.
    NotConfigured,
}

fn rfc3339_now() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// The composite id's key pointers: from the kind's guess when it settles
/// it (a 404 falls back to the listing), else from the listing.
async fn fetch(
    api: &SpotDraftApi,
    request: &ArchiveRequest,
) -> Result<serde_json::Value, FetchError> {
    let contract_id = request.subject.as_str();
    if let Some(guess) = composite_from_kind(contract_id, request.contract_kind.as_deref()) {
        match api.key_pointers(&guess).await {
            Err(FetchError::NotFound { .. }) => {}
            other => return other,
        }
    }
    let composite = api.find_composite_id(contract_id).await?;
    api.key_pointers(&composite).await
}

/// Runs one metadata job.
pub async fn capture(app: &App, request: &ArchiveRequest) -> Result<Captured, ArchiveError> {
    let Some(api) = &app.spotdraft else {
        return Ok(Captured::NotConfigured);
    };
    if !valid_contract_id(&request.subject) {
        return Err(ArchiveError::Invalid(
            "a SpotDraft subject is a decimal contract id",
        ));
    }
    let fetched_at = rfc3339_now();
    let answer = fetch(api, request).await?;
    let values = read(&answer)?;
    let recorded = app
        .metadata
        .record(
            request.provider,
            &request.subject,
            &values.json,
            &values.sha256,
            &fetched_at,
        )
        .await?;
    let published = match (recorded, &app.events) {
        (MetadataRecorded::NoItem, _) => return Err(ArchiveError::NoStatusItem),
        (MetadataRecorded::Unchanged, _) | (_, None) => false,
        (MetadataRecorded::Written, Some(events)) => {
            let detail = captured_detail(&request.id, &request.subject, &values, &fetched_at);
            events
                .put_one(&BusEntry {
                    detail_type: METADATA_CAPTURED,
                    detail: detail.to_string(),
                })
                .await?;
            mark(&app.metadata, request, &values).await?;
            true
        }
    };
    Ok(Captured::Recorded {
        values: Box::new(values),
        recorded,
        published,
    })
}

async fn mark(
    status: &StatusMetadata,
    request: &ArchiveRequest,
    values: &KeyPointers,
) -> Result<(), ArchiveError> {
    Ok(status
        .mark_published(request.provider, &request.subject, &values.sha256)
        .await?)
}
