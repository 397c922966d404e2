//! What the provider clients share: the error classification that decides
//! between retry, back-off and the dead-letter queue, the pace limiter, the
//! streamed download, and `Retry-After`.
//!
//! Error texts never contain a URL (reqwest's errors carry the request URL,
//! and the temporary download URL is a credential: [`transport`] strips it),
//! a credential, a file name or a response body.

use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, RETRY_AFTER};
use reqwest::StatusCode;

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
}

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
            | FetchError::LinkExpired { .. } => Class::Transient,
            FetchError::Redirect { .. }
            | FetchError::NotFound { .. }
            | FetchError::Status { .. }
            | FetchError::Answer { .. }
            | FetchError::TooLarge { .. } => Class::Permanent,
        }
    }

    /// The answer's status as an error, for an API call (`what`). `None` for 2xx.
    pub fn from_status(
        what: &'static str,
        status: StatusCode,
        headers: &HeaderMap,
    ) -> Option<FetchError> {
        let code = status.as_u16();
        Some(match code {
            200..=299 => return None,
            300..=399 => FetchError::Redirect { what, status: code },
            401 | 403 => FetchError::Credentials { what, status: code },
            404 | 410 => FetchError::NotFound { what },
            429 => FetchError::Throttled {
                what,
                retry_after: retry_after(headers),
            },
            500..=599 => FetchError::Server { what, status: code },
            _ => FetchError::Status { what, status: code },
        })
    }
}

/// A transport error as a [`FetchError`], its URL removed.
pub fn transport(what: &'static str, err: reqwest::Error) -> FetchError {
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
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .user_agent(concat!(
            "contract-hooks-archiver/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .expect("a client with static settings builds")
}

/// The client for documents: no redirects, no auth headers, no overall
/// timeout (a large document may take a while), but a read timeout: a
/// stalled download fails instead of running into the function's timeout.
pub fn download_client(read_timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5))
        .read_timeout(read_timeout)
        .user_agent(concat!(
            "contract-hooks-archiver/",
            env!("CARGO_PKG_VERSION")
        ))
        .build()
        .expect("a client with static settings builds")
}

/// A download being streamed: its chunks for `store::archive::DocumentStore::upload`.
pub struct Download {
    what: &'static str,
    response: reqwest::Response,
}

impl Download {
    /// Checks a successful answer's declared size against `limit`.
    pub fn new(
        what: &'static str,
        response: reqwest::Response,
        limit: u64,
    ) -> Result<Download, FetchError> {
        if let Some(declared) = response.content_length().filter(|n| *n > limit) {
            return Err(FetchError::TooLarge { declared, limit });
        }
        Ok(Download { what, response })
    }

    /// The answer's content type (`application/pdf` when absent).
    pub fn content_type(&self) -> String {
        self.response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or(v).trim().to_owned())
            .filter(|v| !v.is_empty() && v.is_ascii())
            .unwrap_or_else(|| "application/pdf".to_owned())
    }
}

impl store::archive::ChunkSource for Download {
    type Error = FetchError;

    async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>, FetchError> {
        self.response
            .chunk()
            .await
            .map_err(|e| transport(self.what, e))
    }
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
