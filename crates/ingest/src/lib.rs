//! The ingest function: the HTTP edge that providers call.
//!
//! route → size cap → verify (raw bytes) → parse → ledger put (conditional) →
//! SQS send → 202. Every non-2xx answer leaves state from which the provider's
//! retry succeeds; a 2xx means the event is durably stored and queued.

#[cfg(feature = "failpoints")]
pub mod failpoint;
mod outcome;
mod route;

use std::sync::Arc;

use lambda_http::{Body, Request, Response};
use store::{
    Accepted, AwsClients, Config, Ledger, NewEntry, Queue, QueueMessage, SecretsError,
    SecretsHandle, StoreError, WebhookSecrets, ALLOWED_HEADERS,
};
use verify::{Event, Provider, Rejection};

pub use outcome::Outcome;
pub use route::{route, Route};

/// Everything a request needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct App {
    /// Current verifiers (refreshed from Secrets Manager in the background).
    pub secrets: Arc<SecretsHandle>,
    /// The ledger table.
    pub ledger: Ledger,
    /// The event queue.
    pub queue: Queue,
    /// Largest body accepted, in bytes.
    pub max_body_bytes: usize,
    /// AWS operations made (for the per-request log line).
    pub calls: store::CallCounter,
}

/// The function cannot start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// A setting is missing or malformed.
    #[error(transparent)]
    Config(#[from] store::ConfigError),
    /// The webhook secrets cannot be loaded or used.
    #[error(transparent)]
    Secrets(#[from] SecretsError),
}

impl App {
    /// Builds the app from configuration and clients: loads the secrets now, so a
    /// function without usable secrets fails at init instead of answering.
    pub async fn new(config: &Config, clients: &AwsClients) -> Result<App, InitError> {
        let source = config.require_secrets()?.clone();
        let secrets = SecretsHandle::load(
            WebhookSecrets {
                tolerance_ms: config.tolerance_ms,
            },
            source,
            clients.secrets.clone(),
            config.secrets_refresh,
        )
        .await?;
        Ok(App {
            secrets,
            ledger: Ledger::from_config(config, clients.dynamodb.clone()),
            queue: Queue::new(clients.sqs.clone(), &config.queue_url),
            max_body_bytes: config.max_body_bytes,
            calls: clients.calls.clone(),
        })
    }
}

/// Handles one request and logs one line about it. Never fails: every outcome
/// is an HTTP answer.
pub async fn handle(app: &App, request: Request) -> Response<Body> {
    let meter = store::Meter::start(&app.calls);
    let outcome = process(app, request).await;
    outcome.log(meter.latency_ms(), meter.aws_calls());
    outcome.response()
}

/// The accept-once protocol, as a plain function of the request.
pub async fn process(app: &App, request: Request) -> Outcome {
    let provider = match route(request.method(), request.uri().path()) {
        Route::NotFound => return Outcome::NotFound,
        Route::MethodNotAllowed => return Outcome::MethodNotAllowed,
        Route::Webhook(provider) => provider,
    };
    let (parts, body) = request.into_parts();
    let body = into_bytes(body);
    if body.len() > app.max_body_bytes {
        return Outcome::TooLarge {
            provider,
            limit: app.max_body_bytes,
        };
    }
    let verifiers = app.secrets.current();
    let Some(verifier) = verifiers.get(provider) else {
        return Outcome::ProviderNotConfigured(provider);
    };
    let received_at_ms = domain::now_ms();
    let event = match verifier.verify_and_parse(&parts.headers, &body, received_at_ms) {
        Ok(event) => event,
        Err(Rejection::Verify(err)) => return Outcome::Unverified { provider, err },
        Err(Rejection::Parse(err)) => return Outcome::Unreadable { provider, err },
    };
    let headers = ALLOWED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = parts.headers.get(*name)?.to_str().ok()?;
            Some(((*name).to_owned(), value.to_owned()))
        })
        .collect();
    accept(app, event, body, headers, received_at_ms).await
}

/// Stores and enqueues a verified event; on a duplicate, re-enqueues it only if
/// it is unprocessed and its enqueue lease has run out.
pub async fn accept(
    app: &App,
    event: Event,
    body: Vec<u8>,
    headers: Vec<(String, String)>,
    received_at_ms: i64,
) -> Outcome {
    let key = event.ledger_key();
    let provider = event.provider;
    let unread = event.unread_fields.clone();
    // A request storage refuses as invalid fails the same way every time:
    // answered 400, never 503 (which would ask the provider to retry forever).
    let failed = |key: String, err: StoreError| {
        if err.is_invalid_request() {
            Outcome::Unstorable { provider, key, err }
        } else {
            Outcome::DependencyFailed { provider, key, err }
        }
    };
    let entry = NewEntry {
        event: &event,
        body,
        headers,
        received_at_ms,
    };
    match app.ledger.accept(entry).await {
        Err(err) => failed(key, err),
        Ok(Accepted::New) => {
            #[cfg(feature = "failpoints")]
            failpoint::hit(failpoint::AFTER_LEDGER_PUT);
            match enqueue(app, QueueMessage::new(event, received_at_ms)).await {
                Ok(()) => Outcome::Accepted {
                    provider,
                    key,
                    unread,
                },
                Err(err) => failed(key, err),
            }
        }
        Ok(Accepted::Duplicate(stored)) => {
            let now = domain::now_ms();
            if !stored.needs_enqueue(now) {
                return Outcome::Duplicate {
                    provider,
                    key,
                    requeued: false,
                };
            }
            match app.ledger.take_lease(&key, &stored, now).await {
                Err(err) => failed(key, err),
                // Someone else took it, or it was processed meanwhile.
                Ok(false) => Outcome::Duplicate {
                    provider,
                    key,
                    requeued: false,
                },
                // The event's own first arrival time, not this request's: a
                // time-less event is ranked by it, and a redelivery must
                // never outrank what the event outranked the first time.
                Ok(true) => match enqueue(
                    app,
                    QueueMessage::new(event, stored.received_at_ms).resent(),
                )
                .await
                {
                    Ok(()) => Outcome::Duplicate {
                        provider,
                        key,
                        requeued: true,
                    },
                    Err(err) => failed(key, err),
                },
            }
        }
    }
}

/// Sends the queue message; on failure releases the lease (best effort) so the
/// provider's retry re-enqueues at once.
async fn enqueue(app: &App, message: QueueMessage) -> Result<(), StoreError> {
    if let Err(err) = app.queue.send(&message).await {
        if let Err(release) = app.ledger.release_lease(&message.ledger_key).await {
            tracing::warn!(key = %message.ledger_key, error = %release, "lease release failed; it will expire");
        }
        return Err(err);
    }
    Ok(())
}

fn into_bytes(body: Body) -> Vec<u8> {
    match body {
        Body::Empty => Vec::new(),
        Body::Text(text) => text.into_bytes(),
        Body::Binary(bytes) => bytes,
        other => other.as_ref().to_vec(),
    }
}

/// The provider named in a path, if any (used by tests and tools).
pub fn provider_of(path: &str) -> Option<Provider> {
    match route(&lambda_http::http::Method::POST, path) {
        Route::Webhook(p) => Some(p),
        _ => None,
    }
}
