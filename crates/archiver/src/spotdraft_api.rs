//! SpotDraft's API client, shared by the archiver's document calls and the
//! operator CLI's webhook commands: the base URL, the `client-id` and
//! `client-secret` headers, no redirect ever followed, answers read with a
//! cap, `Retry-After`, and the typed errors ([`ApiError`]).

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue, ACCEPT};
use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::Value;

use crate::credentials::SpotDraftCredentials;
pub use crate::http::ApiError;
use crate::http::{answer_bytes, answer_json, api_client_with, read_capped, retry_after};

/// The SpotDraft API at one base URL (e.g. `https://api.eu.spotdraft.com`;
/// paths start with `/api/...`).
#[derive(Debug, Clone)]
pub struct SpotDraftClient {
    http: reqwest::Client,
    base_url: String,
}

impl SpotDraftClient {
    /// A client for `base_url` with these timeouts and `User-Agent`.
    pub fn new(
        base_url: impl Into<String>,
        connect_timeout: Duration,
        timeout: Duration,
        user_agent: &str,
    ) -> Self {
        SpotDraftClient {
            http: api_client_with(connect_timeout, timeout, user_agent),
            base_url: base_url.into(),
        }
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The full URL of `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url)
    }

    /// A request to `path` carrying the credential (headers marked
    /// sensitive) and asking for JSON.
    pub fn request(
        &self,
        method: Method,
        path: &str,
        credentials: &SpotDraftCredentials,
    ) -> Result<RequestBuilder, ApiError> {
        Ok(self
            .http
            .request(method, self.url(path))
            .headers(auth_headers(credentials)?))
    }

    /// Sends a request built by [`SpotDraftClient::request`]; no answer is
    /// [`ApiError::Transport`].
    pub async fn send(&self, request: RequestBuilder) -> Result<Reply, ApiError> {
        request.send().await.map(Reply).map_err(ApiError::Transport)
    }
}

fn auth_headers(credentials: &SpotDraftCredentials) -> Result<HeaderMap, ApiError> {
    let sensitive = |v: &str| {
        let mut value = HeaderValue::from_str(v).map_err(|_| ApiError::UnusableCredentials)?;
        value.set_sensitive(true);
        Ok::<_, ApiError>(value)
    };
    let mut headers = HeaderMap::new();
    headers.insert("client-id", sensitive(&credentials.client_id)?);
    headers.insert("client-secret", sensitive(&credentials.client_secret)?);
    headers.insert(ACCEPT, HeaderValue::from_static("application/json"));
    Ok(headers)
}

/// An answer, any status.
#[derive(Debug)]
pub struct Reply(reqwest::Response);

impl Reply {
    /// The status.
    pub fn status(&self) -> StatusCode {
        self.0.status()
    }

    /// The status as an error; `None` for 2xx.
    pub fn failure(&self) -> Option<ApiError> {
        ApiError::from_status(self.0.status(), self.0.headers())
    }

    /// `Retry-After` (seconds or an HTTP date), whatever the status.
    pub fn retry_after(&self) -> Option<Duration> {
        retry_after(self.0.headers())
    }

    /// The body, capped ([`crate::http::MAX_ANSWER_BYTES`]).
    pub async fn bytes(self) -> Result<Vec<u8>, ApiError> {
        answer_bytes(self.0).await
    }

    /// The body as JSON, capped.
    pub async fn json(self) -> Result<Value, ApiError> {
        answer_json(self.0).await
    }

    /// Up to `limit` bytes of the body, to show (an error answer's); what
    /// cannot be read is left out.
    pub async fn excerpt(self, limit: usize) -> Vec<u8> {
        read_capped(self.0, limit)
            .await
            .map(|(body, _)| body)
            .unwrap_or_default()
    }

    /// A successful answer's JSON: the status's error first, then the capped
    /// body.
    pub async fn success_json(self) -> Result<Value, ApiError> {
        match self.failure() {
            Some(err) => Err(err),
            None => self.json().await,
        }
    }
}
