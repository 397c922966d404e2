//! Subnoto through its encryption proxy (`SUBNOTO_API_URL`); the API itself
//! runs in an enclave that plain HTTP cannot reach.
//!
//! | call | request | success |
//! |---|---|---|
//! | envelope | `POST /public/envelope/get` `{workspaceUuid, envelopeUuid}` | 200, the envelope with `documents` |
//! | document | `POST /public/envelope/get-document` `{workspaceUuid, envelopeUuid, documentUuid}` | 200, the signed PDF's bytes |
//!
//! Both carry `Authorization: Bearer ACCESS_KEY:SECRET_KEY`. No redirects;
//! the envelope answer is read with a cap, the document bounded in time
//! (`download`). The proxy is the operator's (`SUBNOTO_API_URL`, often
//! private): its address is not filtered, unlike SpotDraft's download URLs.

use std::sync::Arc;

use serde_json::{json, Value};

use tokio::time::Instant;

use crate::credentials::{CredentialHandle, SubnotoCredentials};
use crate::download::{Download, DownloadLimits};
use crate::http::{
    api_client, download_client, read_json, transport, FetchError, API_TIMEOUT, READ_TIMEOUT,
};

/// The envelope path.
pub const ENVELOPE_PATH: &str = "/public/envelope/get";
/// The document path.
pub const DOCUMENT_PATH: &str = "/public/envelope/get-document";

/// A Subnoto uuid as the webhook carries it (hex and dashes).
pub fn valid_uuid(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// The Subnoto documents client.
#[derive(Debug)]
pub struct SubnotoApi {
    base_url: String,
    api: reqwest::Client,
    download: reqwest::Client,
    credentials: Arc<CredentialHandle<SubnotoCredentials>>,
}

impl SubnotoApi {
    /// A client for the proxy at `base_url`.
    pub fn new(
        base_url: impl Into<String>,
        credentials: Arc<CredentialHandle<SubnotoCredentials>>,
    ) -> Self {
        SubnotoApi {
            base_url: base_url.into(),
            api: api_client(API_TIMEOUT),
            download: download_client(READ_TIMEOUT, None),
            credentials,
        }
    }

    /// Other timeouts than [`API_TIMEOUT`] and [`READ_TIMEOUT`] (tests).
    pub fn with_timeouts(mut self, api: std::time::Duration, read: std::time::Duration) -> Self {
        self.api = api_client(api);
        self.download = download_client(read, None);
        self
    }

    /// The credential handle.
    pub fn credentials(&self) -> &Arc<CredentialHandle<SubnotoCredentials>> {
        &self.credentials
    }

    fn post(&self, client: &reqwest::Client, path: &str, body: Value) -> reqwest::RequestBuilder {
        let c = self.credentials.current();
        client
            .post(format!("{}{path}", self.base_url))
            .bearer_auth(format!("{}:{}", c.access_key, c.secret_key))
            .json(&body)
    }

    /// The documents of an envelope, in the envelope's order.
    pub async fn document_ids(
        &self,
        workspace: &str,
        envelope: &str,
    ) -> Result<Vec<String>, FetchError> {
        const WHAT: &str = "Subnoto envelope/get";
        let response = self
            .post(
                &self.api,
                ENVELOPE_PATH,
                json!({"workspaceUuid": workspace, "envelopeUuid": envelope}),
            )
            .send()
            .await
            .map_err(|e| transport(WHAT, e))?;
        if let Some(err) = FetchError::from_status(WHAT, response.status(), response.headers()) {
            return Err(err);
        }
        let answer = read_json(WHAT, response).await?;
        let documents = answer
            .get("documents")
            .or_else(|| answer.get("envelope").and_then(|e| e.get("documents")))
            .and_then(Value::as_array)
            .ok_or(FetchError::Answer {
                what: WHAT,
                reason: "no documents".into(),
            })?;
        Ok(documents
            .iter()
            .filter_map(|d| {
                ["uuid", "documentUuid", "id"]
                    .iter()
                    .find_map(|k| d.get(*k).and_then(Value::as_str))
                    .map(str::to_owned)
            })
            .collect())
    }

    /// Starts downloading a document, to end by `deadline`.
    pub async fn open(
        &self,
        workspace: &str,
        envelope: &str,
        document: &str,
        limit: u64,
        deadline: Instant,
    ) -> Result<Download, FetchError> {
        const WHAT: &str = "Subnoto envelope/get-document";
        let response = self
            .post(
                &self.download,
                DOCUMENT_PATH,
                json!({"workspaceUuid": workspace, "envelopeUuid": envelope, "documentUuid": document}),
            )
            .send()
            .await
            .map_err(|e| transport(WHAT, e))?;
        if let Some(err) = FetchError::from_status(WHAT, response.status(), response.headers()) {
            return Err(err);
        }
        Download::new(WHAT, response, limit, deadline, DownloadLimits::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_are_checked() {
        assert!(valid_uuid("5f0c7a2e-9c1b-4a53-8f0e-2b4d6e8a1c3f"));
        for bad in ["", "../x", "abc/def", "g0"] {
            assert!(!valid_uuid(bad), "{bad}");
        }
    }
}
