//! A small client for SpotDraft's public webhook API (v2.1):
//!
//! | call | request | success |
//! |---|---|---|
//! | HMAC key | `GET /api/v2.1/public/webhooks/hmac_key/` | 200 `{"hmac_key": "<base64>"}` |
//! | create | `POST /api/v2.1/public/webhooks/` with `{"title", "url", "only_for_activities", "description"?}` | 201 with the subscription, integer `id` |
//! | delete | `DELETE /api/v2.1/public/webhooks/{id}` (no trailing slash) | 204 |
//! | re-trigger | `POST /api/v2.1/public/contracts/webhooks/re_trigger_latest/` with `{"contract_ids": [N, …]}` | 200 `{"message": "Success"}`; 404 `{"detail": "Not Found"}` |
//!
//! The calls go through the archiver's [`SpotDraftClient`]: the `client-id`
//! and `client-secret` headers, redirects never followed (SpotDraft redirects
//! when the scheme is `http://` or a trailing slash is wrong, and a client that
//! follows may drop the method or body), answers read with a cap. 429 and 5xx
//! answers (and connection failures) are retried with exponential backoff,
//! honouring a short `Retry-After`.

use std::time::Duration;

use archiver::credentials::SpotDraftCredentials;
use archiver::http::MAX_ANSWER_BYTES;
use archiver::spotdraft_api::{ApiError, Reply, SpotDraftClient};
use reqwest::header::CONTENT_TYPE;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::call_error::{shown_body, CallError, CLIENT_ID_ENV, CLIENT_SECRET_ENV};
use super::contract_id::{retrigger_body, ContractId};
use crate::error::CliError;

/// Path of the workspace HMAC key.
pub const HMAC_KEY_PATH: &str = "/api/v2.1/public/webhooks/hmac_key/";
/// Path of the webhook collection (create).
pub const WEBHOOKS_PATH: &str = "/api/v2.1/public/webhooks/";

/// Path that re-sends the latest webhook call of each given contract.
pub const RETRIGGER_PATH: &str = "/api/v2.1/public/contracts/webhooks/re_trigger_latest/";

/// Path of one webhook subscription (delete): no trailing slash.
pub fn webhook_path(id: u64) -> String {
    format!("/api/v2.1/public/webhooks/{id}")
}

/// The API credential, from the environment only (never flags: arguments show
/// in process lists): reads [`CLIENT_ID_ENV`] and [`CLIENT_SECRET_ENV`].
/// Its `Debug` shows neither value.
pub fn credentials_from_env() -> Result<SpotDraftCredentials, CliError> {
    let get = |name: &str| {
        std::env::var(name)
            .ok()
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .ok_or_else(|| {
                CliError::usage(format!(
                    "{name} is not set: export {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV} \
                     (SpotDraft: Settings -> Developer settings -> API credentials)"
                ))
            })
    };
    Ok(SpotDraftCredentials {
        client_id: get(CLIENT_ID_ENV)?,
        client_secret: get(CLIENT_SECRET_ENV)?,
    })
}

/// How often and how patiently failed calls are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all (the first included).
    pub attempts: u32,
    /// Delay before the second attempt; doubles each time.
    pub base_delay: Duration,
    /// Longest `Retry-After` honoured; a longer one ends the retries.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 3,
            base_delay: Duration::from_millis(500),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    fn backoff(&self, attempt: u32) -> Duration {
        self.base_delay
            .saturating_mul(1 << attempt.saturating_sub(1).min(4))
            .min(Duration::from_secs(8))
    }
}

/// A successful answer.
#[derive(Debug)]
struct Answer {
    status: StatusCode,
    body: Vec<u8>,
}

/// A subscription as SpotDraft created it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The webhook id (for delete).
    pub id: u64,
    /// The answer's `status` (e.g. `ACTIVE`), when present.
    pub status: Option<String>,
}

/// What a delete found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// 204: deleted now.
    Deleted,
    /// 404: it was not there (already deleted).
    NotFound,
}

/// The body of a create request.
#[derive(Debug, Clone)]
pub struct NewWebhook {
    /// `title` (required by the API, at least one character).
    pub title: String,
    /// `url`: the HTTPS receiver.
    pub url: String,
    /// `only_for_activities`: at least one documented activity.
    pub activities: Vec<String>,
    /// `description`, optional.
    pub description: Option<String>,
}

impl NewWebhook {
    /// The JSON body as the API documents it.
    pub fn body(&self) -> Value {
        let mut body = json!({
            "title": self.title,
            "url": self.url,
            "only_for_activities": self.activities,
        });
        if let Some(description) = &self.description {
            body["description"] = json!(description);
        }
        body
    }
}

/// The SpotDraft API at one base URL with one credential.
#[derive(Debug)]
pub struct Api {
    client: SpotDraftClient,
    credentials: SpotDraftCredentials,
    retry: RetryPolicy,
}

impl Api {
    /// A client for `base` (already normalised) with `timeout` per request.
    pub fn new(
        base: String,
        credentials: SpotDraftCredentials,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, CliError> {
        Ok(Api {
            client: SpotDraftClient::new(
                base,
                timeout.min(Duration::from_secs(10)),
                timeout,
                concat!("contract-hooks/", env!("CARGO_PKG_VERSION")),
            ),
            credentials,
            retry,
        })
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        self.client.base_url()
    }

    /// One call with the retry policy: 3xx, 401/403 and other 4xx end at once;
    /// 429/5xx and connection failures are retried; timeouts are retried only
    /// for GET and DELETE (a POST that timed out may have created something).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<Answer, CallError> {
        let request = format!("{method} {}", self.client.url(path));
        let idempotent = method == Method::GET || method == Method::DELETE;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            let mut builder = self
                .client
                .request(method.clone(), path, &self.credentials)
                .map_err(|_| CallError::BadResponse {
                    request: "building the request".into(),
                    problem: format!(
                        "{CLIENT_ID_ENV} or {CLIENT_SECRET_ENV} holds characters a header cannot carry"
                    ),
                })?;
            if let Some(body) = body {
                // JSON text as built by the caller: numbers stay exactly as written.
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_owned());
            }
            let reply = match self.client.send(builder).await {
                Ok(reply) => reply,
                Err(ApiError::Transport(err)) => {
                    let retryable = err.is_connect() || (idempotent && err.is_timeout());
                    if retryable && !last {
                        let delay = self.retry.backoff(attempt);
                        eprintln!(
                            "{request}: {}; retrying in {:.1} s (attempt {} of {})",
                            if err.is_timeout() {
                                "timed out"
                            } else {
                                "no connection"
                            },
                            delay.as_secs_f64(),
                            attempt + 1,
                            self.retry.attempts
                        );
                        tokio::time::sleep(delay).await;
                        continue;
                    }
                    return Err(CallError::Transport {
                        request,
                        message: crate::common::error_chain(&err),
                        attempts: attempt,
                    });
                }
                Err(err) => {
                    return Err(CallError::BadResponse {
                        request,
                        problem: err.to_string(),
                    })
                }
            };
            let status = reply.status();
            let failure = match reply.failure() {
                None => return answer(request, reply).await,
                Some(failure) => failure,
            };
            if let ApiError::Redirect { location, .. } = failure {
                return Err(CallError::Redirect {
                    request,
                    status,
                    location,
                });
            }
            let retryable = matches!(
                failure,
                ApiError::RateLimited { .. } | ApiError::Server { .. }
            );
            if retryable && !last {
                let asked = reply.retry_after();
                if let Some(asked) = asked.filter(|a| *a > self.retry.max_retry_after) {
                    return Err(CallError::Status {
                        request,
                        status,
                        body: shown_body(&reply.excerpt(MAX_ANSWER_BYTES).await),
                        attempts: attempt,
                        note: Some(format!(
                            "SpotDraft asks to retry after {} s, longer than this command waits; try again later",
                            asked.as_secs()
                        )),
                    });
                }
                let delay = asked.unwrap_or_else(|| self.retry.backoff(attempt));
                eprintln!(
                    "{request}: SpotDraft answered {status}; retrying in {:.1} s (attempt {} of {})",
                    delay.as_secs_f64(),
                    attempt + 1,
                    self.retry.attempts
                );
                tokio::time::sleep(delay).await;
                continue;
            }
            let body = shown_body(&reply.excerpt(MAX_ANSWER_BYTES).await);
            if let ApiError::CredentialsRefused { .. } = failure {
                return Err(CallError::Auth {
                    request,
                    status,
                    body,
                });
            }
            return Err(CallError::Status {
                request,
                status,
                body,
                attempts: attempt,
                note: None,
            });
        }
    }

    /// `GET …/webhooks/hmac_key/`: the workspace HMAC key (base64, as
    /// returned; the caller validates it). The key never appears in an error.
    pub async fn hmac_key(&self) -> Result<String, CallError> {
        let answer = self.call(Method::GET, HMAC_KEY_PATH, None).await?;
        let request = format!("GET {}{HMAC_KEY_PATH}", self.base());
        let value: Value =
            serde_json::from_slice(&answer.body).map_err(|_| CallError::BadResponse {
                request: request.clone(),
                problem: format!("{} with a body that is not JSON", answer.status),
            })?;
        value
            .get("hmac_key")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|k| !k.trim().is_empty())
            .ok_or(CallError::BadResponse {
                request,
                problem: "no non-empty string field hmac_key in the answer".into(),
            })
    }

    /// `POST …/webhooks/`: creates a subscription; returns its integer id.
    pub async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Created, CallError> {
        let answer = self
            .call(
                Method::POST,
                WEBHOOKS_PATH,
                Some(&webhook.body().to_string()),
            )
            .await?;
        let request = format!("POST {}{WEBHOOKS_PATH}", self.base());
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let id = value
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| CallError::BadResponse {
                request,
                problem: format!(
                    "{} without an integer id; a subscription may have been created: check \
                     SpotDraft's Developer settings. Body: {}",
                    answer.status,
                    shown_body(&answer.body)
                ),
            })?;
        Ok(Created {
            id,
            status: value
                .get("status")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }

    /// `POST …/contracts/webhooks/re_trigger_latest/`: asks SpotDraft to send
    /// the latest webhook call of each contract again. `ids` are checked
    /// contract ids ([`contract_id`]); the answer's `message` when there is one.
    /// A 404 (an id SpotDraft does not know, or with no webhook call to send)
    /// is an [`CallError::Status`] like any other refusal.
    pub async fn retrigger_latest(&self, ids: &[ContractId]) -> Result<Option<String>, CallError> {
        let answer = self
            .call(Method::POST, RETRIGGER_PATH, Some(&retrigger_body(ids)))
            .await?;
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        Ok(value
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// `DELETE …/webhooks/{id}`: 204 deleted, 404 already gone.
    pub async fn delete_webhook(&self, id: u64) -> Result<Deleted, CallError> {
        match self.call(Method::DELETE, &webhook_path(id), None).await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(CallError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(Deleted::NotFound)
            }
            Err(err) => Err(err),
        }
    }
}

/// A successful answer's body (capped).
async fn answer(request: String, reply: Reply) -> Result<Answer, CallError> {
    let status = reply.status();
    let body = reply.bytes().await.map_err(|err| CallError::BadResponse {
        request,
        problem: format!("{status} {err}"),
    })?;
    Ok(Answer { status, body })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_the_documented_ones() {
        assert_eq!(HMAC_KEY_PATH, "/api/v2.1/public/webhooks/hmac_key/");
        assert_eq!(WEBHOOKS_PATH, "/api/v2.1/public/webhooks/");
        assert_eq!(webhook_path(511), "/api/v2.1/public/webhooks/511");
        assert_eq!(
            RETRIGGER_PATH,
            "/api/v2.1/public/contracts/webhooks/re_trigger_latest/"
        );
    }

    #[test]
    fn the_create_body_uses_the_documented_field_names() {
        let webhook = NewWebhook {
            title: "t".into(),
            url: "https://example.com/webhooks/spotdraft".into(),
            activities: vec!["CONTRACT_SIGNED".into()],
            description: None,
        };
        assert_eq!(
            webhook.body(),
            json!({"title": "t", "url": "https://example.com/webhooks/spotdraft",
                   "only_for_activities": ["CONTRACT_SIGNED"]})
        );
        let with = NewWebhook {
            description: Some("d".into()),
            ..webhook
        };
        assert_eq!(with.body()["description"], "d");
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.backoff(1), Duration::from_millis(500));
        assert_eq!(policy.backoff(2), Duration::from_secs(1));
        assert!(policy.backoff(30) <= Duration::from_secs(8));
    }

    #[test]
    fn credentials_never_show_in_debug() {
        let c = SpotDraftCredentials {
            client_id: "id-123".into(),
            client_secret: "secret-456".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("id-123") && !shown.contains("secret-456"));
    }
}
