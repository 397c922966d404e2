//! A small client for SpotDraft's public webhook API (v2.1):
//!
//! | call | request | success |
//! |---|---|---|
//! | HMAC key | `GET /api/v2.1/public/webhooks/hmac_key/` | 200 `{"hmac_key": "<base64>"}` |
//! | create | `POST /api/v2.1/public/webhooks/` with `{"title", "url", "only_for_activities", "description"?}` | 201 with the subscription, integer `id` |
//! | delete | `DELETE /api/v2.1/public/webhooks/{id}` (no trailing slash) | 204 |
//! | re-trigger | `POST /api/v2.1/public/contracts/webhooks/re_trigger_latest/` with `{"contract_ids": [N, …]}` | 200 `{"message": "Success"}`; 404 `{"detail": "Not Found"}` |
//!
//! Every request carries the `client-id` and `client-secret` headers. Redirects
//! are never followed: SpotDraft redirects when the scheme is `http://` or a
//! trailing slash is wrong, and a client that follows may drop the method or
//! body. 429 and 5xx answers (and connection failures) are retried with
//! exponential backoff, honouring a short `Retry-After`.

use std::fmt;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT, CONTENT_TYPE, LOCATION, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use serde_json::{json, Value};

use crate::error::CliError;

/// Environment variable with the API credential's client id.
pub const CLIENT_ID_ENV: &str = "SPOTDRAFT_CLIENT_ID";
/// Environment variable with the API credential's client secret.
pub const CLIENT_SECRET_ENV: &str = "SPOTDRAFT_CLIENT_SECRET";

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

/// A SpotDraft contract id as the webhooks carry it (`contract_id`): a
/// non-negative integer of any length, kept as its digits (ids wider than 64
/// bits stay exact, as the receiver keeps them).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ContractId(String);

impl ContractId {
    /// The digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ContractId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks one contract id: decimal digits only, no sign, no leading zero
/// (JSON has no such number), no composite `T-`/`H-` id.
pub fn contract_id(raw: &str) -> Result<ContractId, String> {
    let id = raw.trim();
    if id.is_empty() {
        return Err("an empty contract id".into());
    }
    if let Some(digits) = id
        .strip_prefix("T-")
        .or_else(|| id.strip_prefix("H-"))
        .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
    {
        return Err(format!(
            "{id:?} is a composite contract id (API paths use those); give the integer \
             contract_id the webhooks carry instead (for {id}, probably {digits})"
        ));
    }
    if !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "{id:?} is not a contract id: contract ids are non-negative integers (e.g. 48213)"
        ));
    }
    if id.len() > 1 && id.starts_with('0') {
        return Err(format!(
            "{id:?} has a leading zero: write the contract id without it"
        ));
    }
    Ok(ContractId(id.to_owned()))
}

/// The re-trigger request body: `{"contract_ids":[N,…]}`, each id a JSON
/// number written exactly as given.
pub fn retrigger_body(ids: &[ContractId]) -> String {
    let list: Vec<&str> = ids.iter().map(ContractId::as_str).collect();
    format!("{{\"contract_ids\":[{}]}}", list.join(","))
}

/// Longest error body shown.
const BODY_SHOWN: usize = 2000;

/// SpotDraft's regions and their API hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Region {
    /// India: https://api.in.spotdraft.com
    In,
    /// United States: https://api.us.spotdraft.com
    Us,
    /// European Union: https://api.eu.spotdraft.com
    Eu,
    /// Middle East: https://api.me.spotdraft.com
    Me,
}

impl Region {
    /// The API base URL (paths start with `/api/...`).
    pub fn base_url(self) -> &'static str {
        match self {
            Region::In => "https://api.in.spotdraft.com",
            Region::Us => "https://api.us.spotdraft.com",
            Region::Eu => "https://api.eu.spotdraft.com",
            Region::Me => "https://api.me.spotdraft.com",
        }
    }
}

/// Normalises an explicit base URL: https (plain http only for a loopback
/// test server), no query, no trailing slash, and no trailing `/api` (the
/// paths carry it; SpotDraft's docs warn against a doubled `/api`).
pub fn normalise_base_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("--base-url {raw:?}: {e}"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "--base-url {raw:?} uses http://: SpotDraft answers plain http with a redirect; use https://"
            ))
        }
        other => return Err(format!("--base-url {raw:?}: unsupported scheme {other}")),
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--base-url {raw:?}: give scheme and host only, e.g. https://api.eu.spotdraft.com"
        ));
    }
    let mut base = url.as_str().trim_end_matches('/').to_owned();
    if let Some(stripped) = base.strip_suffix("/api") {
        base = stripped.to_owned();
    }
    Ok(base)
}

/// The API credential, from the environment only (never flags: arguments show
/// in process lists). `Debug` shows neither value.
#[derive(Clone)]
pub struct Credentials {
    client_id: String,
    client_secret: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

impl Credentials {
    /// Reads [`CLIENT_ID_ENV`] and [`CLIENT_SECRET_ENV`].
    pub fn from_env() -> Result<Self, CliError> {
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
        Ok(Credentials {
            client_id: get(CLIENT_ID_ENV)?,
            client_secret: get(CLIENT_SECRET_ENV)?,
        })
    }
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

/// A call that did not succeed. Messages never contain the credentials or the
/// HMAC key.
#[derive(Debug)]
pub enum ApiError {
    /// A 3xx: the URL is wrong (scheme or trailing slash); not followed.
    Redirect {
        /// What was asked.
        request: String,
        /// The status.
        status: StatusCode,
        /// Where SpotDraft pointed.
        location: Option<String>,
    },
    /// 401/403: the credentials (or the region) are wrong.
    Auth {
        /// What was asked.
        request: String,
        /// The status.
        status: StatusCode,
        /// The response body (shortened).
        body: String,
    },
    /// Any other 4xx, or a 429/5xx that outlasted the retries.
    Status {
        /// What was asked.
        request: String,
        /// The status.
        status: StatusCode,
        /// The response body (shortened).
        body: String,
        /// Attempts made.
        attempts: u32,
        /// Why retrying stopped early, if it did.
        note: Option<String>,
    },
    /// No answer (connection refused, timeout, TLS).
    Transport {
        /// What was asked.
        request: String,
        /// The client's error.
        message: String,
        /// Attempts made.
        attempts: u32,
    },
    /// A 2xx whose body is not what the API documents.
    BadResponse {
        /// What was asked.
        request: String,
        /// What is wrong.
        problem: String,
    },
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApiError::Redirect {
                request,
                status,
                location,
            } => write!(
                f,
                "SpotDraft answered {status} to {request}, a redirect{}; redirects are not \
                 followed. A redirect means the URL is wrong: the scheme must be https:// and \
                 the trailing slash must match the documented path (…/webhooks/ and \
                 …/hmac_key/ end with a slash, …/webhooks/{{id}} does not). With --base-url, \
                 give only scheme and host, e.g. https://api.eu.spotdraft.com",
                location
                    .as_deref()
                    .map(|l| format!(" to {l}"))
                    .unwrap_or_default()
            ),
            ApiError::Auth {
                request,
                status,
                body,
            } => write!(
                f,
                "SpotDraft refused the credentials ({status}) for {request}: check \
                 {CLIENT_ID_ENV} / {CLIENT_SECRET_ENV} and that --region is the workspace's \
                 region. Response body: {body}"
            ),
            ApiError::Status {
                request,
                status,
                body,
                attempts,
                note,
            } => {
                write!(f, "SpotDraft answered {status} to {request}")?;
                if *attempts > 1 {
                    write!(f, " (after {attempts} attempts)")?;
                }
                if let Some(note) = note {
                    write!(f, "; {note}")?;
                }
                write!(f, ". Response body: {body}")
            }
            ApiError::Transport {
                request,
                message,
                attempts,
            } => {
                write!(f, "{request} failed: {message}")?;
                if *attempts > 1 {
                    write!(f, " (after {attempts} attempts)")?;
                }
                Ok(())
            }
            ApiError::BadResponse { request, problem } => {
                write!(
                    f,
                    "unexpected answer from SpotDraft to {request}: {problem}"
                )
            }
        }
    }
}

impl std::error::Error for ApiError {}

impl From<ApiError> for CliError {
    fn from(err: ApiError) -> Self {
        CliError::Failed(anyhow::Error::new(err))
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
    http: reqwest::Client,
    base: String,
    credentials: Credentials,
    retry: RetryPolicy,
}

fn shown_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty)".into();
    }
    let mut shown: String = text.chars().take(BODY_SHOWN).collect();
    if shown.len() < text.len() {
        shown.push_str(" …");
    }
    shown
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

impl Api {
    /// A client for `base` (already normalised) with `timeout` per request.
    pub fn new(
        base: String,
        credentials: Credentials,
        timeout: Duration,
        retry: RetryPolicy,
    ) -> Result<Self, CliError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout)
            .user_agent(concat!("contract-hooks/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot build the HTTP client: {e}")))?;
        Ok(Api {
            http,
            base,
            credentials,
            retry,
        })
    }

    /// The base URL requests go to.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn headers(&self) -> Result<HeaderMap, ApiError> {
        let mut headers = HeaderMap::new();
        let value = |v: &str| {
            let mut value = HeaderValue::from_str(v).map_err(|_| ApiError::BadResponse {
                request: "building the request".into(),
                problem: format!(
                    "{CLIENT_ID_ENV} or {CLIENT_SECRET_ENV} holds characters a header cannot carry"
                ),
            })?;
            value.set_sensitive(true);
            Ok::<_, ApiError>(value)
        };
        headers.insert("client-id", value(&self.credentials.client_id)?);
        headers.insert("client-secret", value(&self.credentials.client_secret)?);
        headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
        Ok(headers)
    }

    /// One call with the retry policy: 3xx, 401/403 and other 4xx end at once;
    /// 429/5xx and connection failures are retried; timeouts are retried only
    /// for GET and DELETE (a POST that timed out may have created something).
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<Answer, ApiError> {
        let url = format!("{}{}", self.base, path);
        let request = format!("{method} {url}");
        let idempotent = method == Method::GET || method == Method::DELETE;
        let headers = self.headers()?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let last = attempt >= self.retry.attempts;
            let mut builder = self
                .http
                .request(method.clone(), &url)
                .headers(headers.clone());
            if let Some(body) = body {
                // JSON text as built by the caller: numbers stay exactly as written.
                builder = builder
                    .header(CONTENT_TYPE, "application/json")
                    .body(body.to_owned());
            }
            let response = match builder.send().await {
                Ok(response) => response,
                Err(err) => {
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
                    return Err(ApiError::Transport {
                        request,
                        message: crate::common::error_chain(&err),
                        attempts: attempt,
                    });
                }
            };
            let status = response.status();
            let response_headers = response.headers().clone();
            let bytes = response
                .bytes()
                .await
                .map(|b| b.to_vec())
                .unwrap_or_default();
            if status.is_success() {
                return Ok(Answer {
                    status,
                    body: bytes,
                });
            }
            if status.is_redirection() {
                return Err(ApiError::Redirect {
                    request,
                    status,
                    location: response_headers
                        .get(LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned),
                });
            }
            let retryable = status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error();
            if retryable && !last {
                let asked = retry_after(&response_headers);
                if let Some(asked) = asked.filter(|a| *a > self.retry.max_retry_after) {
                    return Err(ApiError::Status {
                        request,
                        status,
                        body: shown_body(&bytes),
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
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(ApiError::Auth {
                    request,
                    status,
                    body: shown_body(&bytes),
                });
            }
            return Err(ApiError::Status {
                request,
                status,
                body: shown_body(&bytes),
                attempts: attempt,
                note: None,
            });
        }
    }

    /// `GET …/webhooks/hmac_key/`: the workspace HMAC key (base64, as
    /// returned; the caller validates it). The key never appears in an error.
    pub async fn hmac_key(&self) -> Result<String, ApiError> {
        let answer = self.call(Method::GET, HMAC_KEY_PATH, None).await?;
        let request = format!("GET {}{HMAC_KEY_PATH}", self.base);
        let value: Value =
            serde_json::from_slice(&answer.body).map_err(|_| ApiError::BadResponse {
                request: request.clone(),
                problem: format!("{} with a body that is not JSON", answer.status),
            })?;
        value
            .get("hmac_key")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .filter(|k| !k.trim().is_empty())
            .ok_or(ApiError::BadResponse {
                request,
                problem: "no non-empty string field hmac_key in the answer".into(),
            })
    }

    /// `POST …/webhooks/`: creates a subscription; returns its integer id.
    pub async fn create_webhook(&self, webhook: &NewWebhook) -> Result<Created, ApiError> {
        let answer = self
            .call(
                Method::POST,
                WEBHOOKS_PATH,
                Some(&webhook.body().to_string()),
            )
            .await?;
        let request = format!("POST {}{WEBHOOKS_PATH}", self.base);
        let value: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let id = value
            .get("id")
            .and_then(Value::as_u64)
            .ok_or_else(|| ApiError::BadResponse {
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
    /// is an [`ApiError::Status`] like any other refusal.
    pub async fn retrigger_latest(&self, ids: &[ContractId]) -> Result<Option<String>, ApiError> {
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
    pub async fn delete_webhook(&self, id: u64) -> Result<Deleted, ApiError> {
        match self.call(Method::DELETE, &webhook_path(id), None).await {
            Ok(_) => Ok(Deleted::Deleted),
            Err(ApiError::Status { status, .. }) if status == StatusCode::NOT_FOUND => {
                Ok(Deleted::NotFound)
            }
            Err(err) => Err(err),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_spotdrafts_api_hosts() {
        assert_eq!(Region::In.base_url(), "https://api.in.spotdraft.com");
        assert_eq!(Region::Us.base_url(), "https://api.us.spotdraft.com");
        assert_eq!(Region::Eu.base_url(), "https://api.eu.spotdraft.com");
        assert_eq!(Region::Me.base_url(), "https://api.me.spotdraft.com");
    }

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
    fn base_urls_are_normalised_and_http_refused_off_loopback() {
        let ok = |s: &str| normalise_base_url(s).unwrap();
        assert_eq!(
            ok("https://api.eu.spotdraft.com/"),
            "https://api.eu.spotdraft.com"
        );
        assert_eq!(
            ok("https://api.eu.spotdraft.com/api/"),
            "https://api.eu.spotdraft.com"
        );
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://localhost:8080/api"), "http://localhost:8080");
        let err = normalise_base_url("http://api.eu.spotdraft.com").unwrap_err();
        assert!(err.contains("https"), "{err}");
        assert!(normalise_base_url("ftp://x").is_err());
        assert!(normalise_base_url("https://x/?a=b").is_err());
        assert!(normalise_base_url("not a url").is_err());
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
    fn contract_ids_are_integers_kept_digit_for_digit() {
        let wide = "123456789012345678901234567890123456789012";
        assert_eq!(contract_id(" 48213 ").unwrap().as_str(), "48213");
        assert_eq!(contract_id("0").unwrap().as_str(), "0");
        assert_eq!(contract_id(wide).unwrap().as_str(), wide);
        for bad in ["", "12a", "-5", "+5", "1.0", "1e3", "007", "0x1F", "4 8"] {
            assert!(contract_id(bad).is_err(), "{bad}");
        }
        assert!(contract_id("T-48213")
            .unwrap_err()
            .contains("probably 48213"));
        let ids = [contract_id("48213").unwrap(), contract_id(wide).unwrap()];
        let body = retrigger_body(&ids);
        assert_eq!(body, format!("{{\"contract_ids\":[48213,{wide}]}}"));
        let parsed: std::collections::HashMap<String, Vec<Box<serde_json::value::RawValue>>> =
            serde_json::from_str(&body).unwrap();
        assert_eq!(
            parsed["contract_ids"][1].get(),
            wide,
            "valid JSON, digits kept"
        );
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
        let c = Credentials {
            client_id: "id-123".into(),
            client_secret: "secret-456".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("id-123") && !shown.contains("secret-456"));
    }

    #[test]
    fn error_bodies_are_shortened() {
        let long = "x".repeat(5000);
        let shown = shown_body(long.as_bytes());
        assert!(shown.len() < 2100 && shown.ends_with('…'));
        assert_eq!(shown_body(b"  "), "(empty)");
    }
}
