//! The archiver function: for each `Contract Status Changed` event whose
//! lifecycle became `executed` (delivered by an EventBridge rule to the
//! archive queue), fetches the executed document from the provider, stores it
//! in S3 once per version, records it on the status item and publishes
//! `Contract Document Archived`.
//!
//! Same shape as the processor: a thin `main` builds an [`App`] once per cold
//! start; the logic is plain async functions ([`archive::archive`],
//! [`batch::process_batch`]) over it.

pub mod archive;
pub mod batch;
pub mod config;
pub mod credentials;
pub mod document;
pub mod docusign;
pub mod download;
pub mod egress;
pub mod event;
pub mod http;
pub mod keypointers;
pub mod metadata;
pub mod spotdraft;
pub mod spotdraft_api;
pub mod subnoto;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use serde_json::Value;
use store::archive::{ArchiveClients, DocumentStore, StatusDocuments};
use store::{AwsClients, Bus, CallCounter};

pub use config::{ArchiverConfig, ConfigError};
use credentials::CredentialError;

/// The function name in metrics.
pub const FUNCTION: &str = "archiver";

/// Everything an invocation needs, built once per cold start.
#[derive(Debug)]
pub struct App {
    /// The document bucket.
    pub documents: DocumentStore,
    /// The status items' `document`.
    pub status: StatusDocuments,
    /// The status items' metadata values (`key_pointers`).
    pub metadata: store::metadata::StatusMetadata,
    /// The bus; `None` when `EVENT_BUS_NAME` is empty.
    pub events: Option<Bus>,
    /// SQS (back-off, dead letters).
    pub sqs: aws_sdk_sqs::Client,
    /// The archive queue.
    pub queue_url: String,
    /// Its dead-letter queue.
    pub dlq_url: String,
    /// SpotDraft, when configured.
    pub spotdraft: Option<spotdraft::SpotDraftApi>,
    /// Subnoto (through its proxy), when configured.
    pub subnoto: Option<subnoto::SubnotoApi>,
    /// DocuSign (OAuth JWT), when configured.
    pub docusign: Option<docusign::DocuSignApi>,
    /// `MAX_DOCUMENT_BYTES`.
    pub max_document_bytes: u64,
    /// AWS operations made through the app's clients.
    pub calls: CallCounter,
}

/// The function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A setting.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A provider credential.
    #[error(transparent)]
    Credentials(#[from] CredentialError),
}

impl App {
    /// Builds the app; loads the provider credentials once.
    pub async fn new(
        config: &ArchiverConfig,
        clients: &AwsClients,
        archive: &ArchiveClients,
    ) -> Result<App, InitError> {
        let spotdraft = match &config.spotdraft {
            Some(api) => Some(spotdraft::SpotDraftApi::new(
                api.base_url.clone(),
                credentials::load(
                    api.credentials.clone(),
                    clients.secrets.clone(),
                    config.secrets_refresh,
                )
                .await?,
                config.spotdraft_rps,
                config.document_urls.clone(),
            )),
            None => None,
        };
        let subnoto = match &config.subnoto {
            Some(api) => Some(subnoto::SubnotoApi::new(
                api.base_url.clone(),
                credentials::load(
                    api.credentials.clone(),
                    clients.secrets.clone(),
                    config.secrets_refresh,
                )
                .await?,
            )),
            None => None,
        };
        let docusign = match &config.docusign {
            Some(api) => Some(docusign::DocuSignApi::new(
                &api.auth,
                api.base_url.clone(),
                credentials::load(
                    api.credentials.clone(),
                    clients.secrets.clone(),
                    config.secrets_refresh,
                )
                .await?,
                &config.document_urls,
            )),
            None => None,
        };
        Ok(App {
            documents: DocumentStore::new(archive.s3.clone(), &config.bucket),
            status: StatusDocuments::new(clients.dynamodb.clone(), &config.status_table),
            metadata: store::metadata::StatusMetadata::new(
                clients.dynamodb.clone(),
                &config.status_table,
            ),
            events: config
                .event_bus
                .as_ref()
                .map(|bus| Bus::new(clients.events.clone(), bus)),
            sqs: clients.sqs.clone(),
            queue_url: config.queue_url.clone(),
            dlq_url: config.dlq_url.clone(),
            spotdraft,
            subnoto,
            docusign,
            max_document_bytes: config.max_document_bytes,
            calls: clients.calls.clone(),
        })
    }
}

/// An invocation that is not an SQS batch.
#[derive(Debug, thiserror::Error)]
#[error("unrecognised invocation: expected an SQS batch (Records with eventSource aws:sqs): {0}")]
pub struct InvocationError(String);

/// Handles one invocation (an SQS batch); `deadline` is the invocation's
/// (the Lambda context's), from which the documents' download deadline is
/// derived.
pub async fn handle(
    app: &App,
    payload: Value,
    deadline: tokio::time::Instant,
) -> Result<SqsBatchResponse, InvocationError> {
    let all_sqs = payload
        .get("Records")
        .and_then(Value::as_array)
        .is_some_and(|r| {
            r.iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"))
        });
    if !all_sqs {
        tracing::error!("invocation rejected: not an SQS batch");
        return Err(InvocationError("no SQS records".into()));
    }
    let event: SqsEvent =
        serde_json::from_value(payload).map_err(|e| InvocationError(e.to_string()))?;
    Ok(batch::handle_batch(app, &event, deadline).await)
}
