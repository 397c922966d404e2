//! What the provider clients share: the typed answer errors ([`ApiError`],
//! also the operator CLI's), their classification that decides between retry,
//! back-off and the dead-letter queue, the pace limiter, the clients, API
//! answers read with a cap ([`answer_bytes`]), and `Retry-After`.
//!
//! Error texts never contain a URL (reqwest's errors carry the request URL,
//! and the temporary download URL is a credential: [`transport`] strips it),
//! a credential, a file name or a response body.

use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, LOCATION, RETRY_AFTER};
use reqwest::StatusCode;
use serde_json::Value;

use crate::document::DocumentDefect;
use crate::egress::{DocumentUrlPolicy, FilteringResolver, UrlRefused};

/// How a failed record is handled (see `batch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    /// 429: back off for the given time (through the message's visibility).
    Throttled(Duration),
    /// 401/403: the credential is refused. Refresh it, back off long, alarm.
    Credentials,
    /// 5xx, timeouts, network, S3 or DynamoDB failing: retry with back-off;
    /// the queue's max receive count ends in the DLQ.
    Transient,
    /// Retrying cannot help (bad message, redirect, too large, not found):
    /// straight to the DLQ.
    Permanent,
}

/// An API call that did not succeed, by what its answer (or its absence)
/// says; [`FetchError::api`] names the call and decides its handling, the
/// operator CLI shows it with the request. Never contains a URL, a credential
/// or a response body.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A 3xx: never followed.
    #[error("answered a redirect ({status}); redirects are not followed")]
    Redirect {
        /// The status.
        status: u16,
        /// Where the answer pointed (may be shown to the operator, never logged).
        location: Option<String>,
    },
    /// 401 / 403: the credentials were refused.
    #[error("{status}: the API credentials were refused")]
    CredentialsRefused {
        /// The status.
        status: u16,
    },
    /// 429, with its `Retry-After`.
    #[error("429 Too Many Requests (Retry-After {retry_after:?})")]
    RateLimited {
        /// `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// 404 / 410.
    #[error("{status}: not found")]
    NotFound {
        /// The status.
        status: u16,
    },
    /// 5xx.
    #[error("server error {status}")]
    Server {
        /// The status.
        status: u16,
    },
    /// Another unexpected status.
    #[error("unexpected status {status}")]
    Status {
        /// The status.
        status: u16,
    },
    /// No answer: connection failure, timeout, TLS, body cut short.
    #[error("{0}")]
    Transport(#[source] reqwest::Error),
    /// A credential holds characters a header cannot carry.
    #[error("the API credentials hold characters a header cannot carry")]
    UnusableCredentials,
    /// A successful answer larger than the cap: not read further.
    #[error("answer larger than {limit} bytes")]
    TooLarge {
        /// The cap.
        limit: usize,
    },
    /// A successful answer that is not what the API documents.
    #[error("unexpected answer: {reason}")]
    Malformed {
        /// What is wrong.
        reason: String,
    },
}

impl ApiError {
    /// The answer's status as an error. `None` for 2xx.
    pub fn from_status(status: StatusCode, headers: &HeaderMap) -> Option<ApiError> {
        let code = status.as_u16();
        Some(match code {
            200..=299 => return None,
            300..=399 => ApiError::Redirect {
                status: code,
                location: headers
                    .get(LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            },
            401 | 403 => ApiError::CredentialsRefused { status: code },
            404 | 410 => ApiError::NotFound { status: code },
            429 => ApiError::RateLimited {
                retry_after: retry_after(headers),
            },
            500..=599 => ApiError::Server { status: code },
            _ => ApiError::Status { status: code },
        })
    }
}

/// A provider call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
    /// 429.
    #[error("{what}: 429 Too Many Requests (Retry-After {retry_after:?})")]
    Throttled {
        /// The call.
        what: &'static str,
        /// `Retry-After`, if any.
        retry_after: Option<Duration>,
    },
    /// 401 / 403 from the API.
    #[error("{what}: {status}: the API credentials were refused")]
    Credentials {
        /// The call.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// 5xx.
    #[error("{what}: server error {status}")]
    Server {
        /// The call.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// Timeout, connection failure, body cut short.
    #[error("{what}: {reason}")]
    Network {
        /// The call.
        what: &'static str,
        /// reqwest's error without its URL.
        reason: String,
    },
    /// A 3xx: never followed.
    #[error("{what}: answered a redirect ({status}); redirects are not followed: the base URL is wrong (it must be the https:// API host, paths as documented)")]
    Redirect {
        /// The call.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// The temporary download URL was refused (expired).
    #[error("download URL refused with {status} (expired)")]
    LinkExpired {
        /// The status.
        status: u16,
    },
    /// The contract, envelope or document does not exist.
    #[error("{what}: not found")]
    NotFound {
        /// What was looked up.
        what: &'static str,
    },
    /// Another unexpected status.
    #[error("{what}: unexpected status {status}")]
    Status {
        /// The call.
        what: &'static str,
        /// The status.
        status: u16,
    },
    /// The answer is not what the API documents.
    #[error("{what}: unexpected answer: {reason}")]
    Answer {
        /// The call.
        what: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// Declared larger than `MAX_DOCUMENT_BYTES`.
    #[error("document of {declared} bytes is larger than MAX_DOCUMENT_BYTES ({limit})")]
    TooLarge {
        /// Content-Length.
        declared: u64,
        /// The limit.
        limit: u64,
    },
    /// An API answer (JSON) larger than [`MAX_ANSWER_BYTES`]: not read further.
    #[error("{what}: answer larger than {limit} bytes")]
    AnswerTooLarge {
        /// The call.
        what: &'static str,
        /// The cap.
        limit: usize,
    },
    /// The download is not the document (not a PDF, empty, cut short, wrong
    /// checksum): retried, never stored.
    #[error("downloaded document refused: {0}")]
    InvalidDocument(#[from] DocumentDefect),
    /// The download was too slow: aborted.
    #[error("{what}: {why} after {received} bytes")]
    TooSlow {
        /// The call.
        what: &'static str,
        /// Which bound.
        why: SlowDownload,
        /// Bytes read.
        received: u64,
    },
    /// The download URL may not be fetched (see `egress`).
    #[error("download URL refused: {0}")]
    UrlRefused(#[from] UrlRefused),
}

/// Which time bound a download broke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlowDownload {
    /// No byte for [`crate::download::DownloadLimits::stall`].
    #[error("no data for too long")]
    Stalled,
    /// Under the minimum throughput.
    #[error("slower than the minimum throughput")]
    Throughput,
    /// The invocation's deadline (less its margin) came.
    #[error("the invocation's deadline came")]
    Deadline,
}

/// Largest API answer (JSON) read: SpotDraft's and Subnoto's documented
/// answers are a few KiB; a larger one is an error, not memory.
pub const MAX_ANSWER_BYTES: usize = 256 * 1024;

/// Longest API call (connect, request, answer).
pub const API_TIMEOUT: Duration = Duration::from_secs(20);
/// Longest wait for the next bytes of a download.
pub const READ_TIMEOUT: Duration = Duration::from_secs(20);

/// Back-off when a 429 names no `Retry-After`.
pub const DEFAULT_THROTTLE: Duration = Duration::from_secs(10);

impl FetchError {
    /// How the record is handled.
    pub fn class(&self) -> Class {
        match self {
            FetchError::Throttled { retry_after, .. } => {
                Class::Throttled(retry_after.unwrap_or(DEFAULT_THROTTLE))
            }
            FetchError::Credentials { .. } => Class::Credentials,
            FetchError::Server { .. }
            | FetchError::Network { .. }
            | FetchError::LinkExpired { .. }
            | FetchError::AnswerTooLarge { .. }
            | FetchError::InvalidDocument(_)
            | FetchError::TooSlow { .. } => Class::Transient,
            FetchError::Redirect { .. }
            | FetchError::NotFound { .. }
            | FetchError::Status { .. }
            | FetchError::Answer { .. }
            | FetchError::TooLarge { .. }
            | FetchError::UrlRefused(_) => Class::Permanent,
        }
    }

    /// The answer's status as an error, for an API call (`what`). `None` for 2xx.
    pub fn from_status(
        what: &'static str,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Option<FetchError> {
        ApiError::from_status(status, headers).map(|err| FetchError::api(what, err))
    }

    /// An API call's (`what`) typed error, classified for the queue.
    pub fn api(what: &'static str, err: ApiError) -> FetchError {
        match err {
            ApiError::Redirect { status, .. } => FetchError::Redirect { what, status },
            ApiError::CredentialsRefused { status } => FetchError::Credentials { what, status },
            ApiError::RateLimited { retry_after } => FetchError::Throttled { what, retry_after },
            ApiError::NotFound { .. } => FetchError::NotFound { what },
            ApiError::Server { status } => FetchError::Server { what, status },
            ApiError::Status { status } => FetchError::Status { what, status },
            ApiError::Transport(err) => transport(what, err),
            ApiError::UnusableCredentials => FetchError::Network {
                what,
                reason: ApiError::UnusableCredentials.to_string(),
            },
            ApiError::TooLarge { limit } => FetchError::AnswerTooLarge { what, limit },
            ApiError::Malformed { reason } => FetchError::Answer { what, reason },
        }
    }
}

/// A transport error as a [`FetchError`], its URL removed; the download
/// resolver's refusal as [`FetchError::UrlRefused`].
pub fn transport(what: &'static str, err: reqwest::Error) -> FetchError {
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        if let Some(refused) = s.downcast_ref::<UrlRefused>() {
            return FetchError::UrlRefused(*refused);
        }
        source = s.source();
    }
    let timeout = err.is_timeout();
    let err = err.without_url();
    let mut reason = if timeout {
        format!("timed out: {err}")
    } else {
        err.to_string()
    };
    let mut source = std::error::Error::source(&err);
    while let Some(s) = source {
        let text = s.to_string();
        if !reason.contains(&text) && !text.contains("://") {
            reason.push_str(": ");
            reason.push_str(&text);
        }
        source = s.source();
    }
    FetchError::Network { what, reason }
}

/// `Retry-After` as seconds or an HTTP date; capped at 12 h (SQS's longest
/// visibility timeout).
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    let max = Duration::from_secs(43_200);
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds).min(max));
    }
    let date =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = date - time::OffsetDateTime::now_utc();
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO).min(max))
}

/// Spaces this process's requests to one API at least `1 / rate` apart.
#[derive(Debug)]
pub struct Pace {
    interval: Duration,
    next: tokio::sync::Mutex<Instant>,
}

impl Pace {
    /// `per_second` requests a second at most.
    pub fn new(per_second: u32) -> Pace {
        Pace {
            interval: Duration::from_secs(1) / per_second.max(1),
            next: tokio::sync::Mutex::new(Instant::now()),
        }
    }

    /// Reserves the next free slot.
    async fn slot(&self) -> Instant {
        let mut next = self.next.lock().await;
        let at = (*next).max(Instant::now());
        *next = at + self.interval;
        at
    }

    /// Waits for this request's slot.
    pub async fn wait(&self) {
        let at = self.slot().await;
        tokio::time::sleep_until(at.into()).await;
    }
}

/// The HTTP client of an API: no redirects, short timeouts. The download
/// client ([`download_client`]) differs only in its read timeout.
pub fn api_client(timeout: Duration) -> reqwest::Client {
    api_client_with(Duration::from_secs(5), timeout, USER_AGENT)
}

/// The archiver's `User-Agent`.
pub const USER_AGENT: &str = concat!("contract-hooks-archiver/", env!("CARGO_PKG_VERSION"));

/// An API client with these timeouts and `User-Agent`: never follows a
/// redirect (a client that follows may drop the method, the body, or send
/// the credentials elsewhere).
pub fn api_client_with(
    connect_timeout: Duration,
    timeout: Duration,
    user_agent: &str,
) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(connect_timeout)
        .timeout(timeout)
        .user_agent(user_agent)
        .build()
        .expect("a client with static settings builds")
}

/// The client for documents: no redirects, no auth headers, no proxy, no
/// overall timeout (a large document may take a while; `download` bounds
/// it), a read timeout. With a `policy`, every address a host resolves to
/// is filtered at connect time ([`FilteringResolver`]).
pub fn download_client(
    read_timeout: Duration,
    policy: Option<Arc<DocumentUrlPolicy>>,
) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(read_timeout)
        .user_agent(USER_AGENT);
    match policy {
        Some(policy) => builder.dns_resolver(Arc::new(FilteringResolver::new(policy))),
        None => builder,
    }
    .build()
    .expect("a client with static settings builds")
}

/// A successful API answer's JSON, read up to [`MAX_ANSWER_BYTES`]: a
/// declared or streamed larger answer is [`FetchError::AnswerTooLarge`].
pub async fn read_json(
    what: &'static str,
    response: reqwest::Response,
) -> Result<Value, FetchError> {
    answer_json(response)
        .await
        .map_err(|err| FetchError::api(what, err))
}

/// An answer's JSON, read up to [`MAX_ANSWER_BYTES`].
pub async fn answer_json(response: reqwest::Response) -> Result<Value, ApiError> {
    let body = answer_bytes(response).await?;
    serde_json::from_slice(&body).map_err(|_| ApiError::Malformed {
        reason: "not JSON".into(),
    })
}

/// An answer's body, read up to [`MAX_ANSWER_BYTES`]: a declared or streamed
/// larger one is [`ApiError::TooLarge`].
pub async fn answer_bytes(response: reqwest::Response) -> Result<Vec<u8>, ApiError> {
    let limit = MAX_ANSWER_BYTES;
    match read_capped(response, limit).await? {
        (body, true) => Ok(body),
        (_, false) => Err(ApiError::TooLarge { limit }),
    }
}

/// At most `limit` bytes of an answer's body, and whether that is all of it
/// (a larger declared length is not read at all).
pub async fn read_capped(
    mut response: reqwest::Response,
    limit: usize,
) -> Result<(Vec<u8>, bool), ApiError> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        return Ok((Vec::new(), false));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(ApiError::Transport)? {
        if body.len() + chunk.len() > limit {
            body.extend_from_slice(&chunk[..limit - body.len()]);
            return Ok((body, false));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("99999999"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(43_200)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn statuses_are_classified() {
        let h = HeaderMap::new();
        let class = |code: u16| {
            FetchError::from_status("x", StatusCode::from_u16(code).unwrap(), &h).map(|e| e.class())
        };
        assert_eq!(class(200), None);
        assert_eq!(class(429), Some(Class::Throttled(DEFAULT_THROTTLE)));
        assert_eq!(class(401), Some(Class::Credentials));
        assert_eq!(class(403), Some(Class::Credentials));
        assert_eq!(class(503), Some(Class::Transient));
        assert_eq!(class(302), Some(Class::Permanent));
        assert_eq!(class(404), Some(Class::Permanent));
        assert_eq!(class(400), Some(Class::Permanent));
    }

    #[tokio::test]
    async fn the_pace_gives_slots_an_interval_apart() {
        let pace = Pace::new(20);
        let a = pace.slot().await;
        let b = pace.slot().await;
        let c = pace.slot().await;
        assert_eq!(b - a, Duration::from_millis(50));
        assert_eq!(c - b, Duration::from_millis(50));
    }
}
