//! How a failed SpotDraft call is told to the operator: the request, the
//! status, SpotDraft's answer (shortened), the attempts made.

use std::fmt;

/// Environment variable with the API credential's client id.
pub const CLIENT_ID_ENV: &str = "SPOTDRAFT_CLIENT_ID";
/// Environment variable with the API credential's client secret.
pub const CLIENT_SECRET_ENV: &str = "SPOTDRAFT_CLIENT_SECRET";

use reqwest::StatusCode;

use crate::error::CliError;

/// Longest error body shown.
const BODY_SHOWN: usize = 2000;

/// A call that did not succeed. Messages never contain the credentials or the
/// HMAC key.
#[derive(Debug)]
pub enum CallError {
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

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallError::Redirect {
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
            CallError::Auth {
                request,
                status,
                body,
            } => write!(
                f,
                "SpotDraft refused the credentials ({status}) for {request}: check \
                 {CLIENT_ID_ENV} / {CLIENT_SECRET_ENV} and that --region is the workspace's \
                 region. Response body: {body}"
            ),
            CallError::Status {
                request,
                status,
                body,
                attempts,
                note,
            } => {
                write!(
                    f,
                    "SpotDraft answered {status} to {request}{}",
                    after(*attempts)
                )?;
                if let Some(note) = note {
                    write!(f, "; {note}")?;
                }
                write!(f, ". Response body: {body}")
            }
            CallError::Transport {
                request,
                message,
                attempts,
            } => write!(f, "{request} failed: {message}{}", after(*attempts)),
            CallError::BadResponse { request, problem } => {
                write!(
                    f,
                    "unexpected answer from SpotDraft to {request}: {problem}"
                )
            }
        }
    }
}

/// " (after N attempts)" when there was more than one.
fn after(attempts: u32) -> String {
    if attempts > 1 {
        format!(" (after {attempts} attempts)")
    } else {
        String::new()
    }
}

impl std::error::Error for CallError {}

impl From<CallError> for CliError {
    fn from(err: CallError) -> Self {
        CliError::Failed(anyhow::Error::new(err))
    }
}

/// An error answer's body as shown: trimmed, at most [`BODY_SHOWN`] characters.
pub fn shown_body(body: &[u8]) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_shortened() {
        let long = "x".repeat(5000);
        let shown = shown_body(long.as_bytes());
        assert!(shown.len() < 2100 && shown.ends_with('…'));
        assert_eq!(shown_body(b"  "), "(empty)");
    }
}
