//! SpotDraft's v2.1 API, the two calls the archiver needs (facts from
//! SpotDraft's API reference, see docs/ARCHITECTURE.md "Archiver"):
//!
//! | call | request | success |
//! |---|---|---|
//! | find the composite id | `GET /api/v2.1/public/contracts/?filter__contract_id=<id>` | 200, a listing whose entries' `id` is the composite id (`T-<id>` or `H-<id>`) |
//! | download link | `POST /api/v2.1/public/contracts/{composite_id}/download_link` `{"format": "PDF"}` | 200 `{url, file_name, current_version_id}` |
//! | metadata values | `GET /api/v2.1/public/contracts/{composite_id}/key_pointers` | 200, a JSON array of `{id, value, label, field_name, data_type, format_option}` (see `keypointers`) |
//!
//! They go through the shared [`SpotDraftClient`] (`client-id` and
//! `client-secret`, answers read with a cap, typed errors). The temporary URL is fetched with another client that
//! sends neither, only where `egress` allows (https, a public host, the
//! allowlist), and is never logged. No redirect is followed anywhere.
//! Requests are paced ([`Pace`]) under SpotDraft's 10 requests/s per workspace.

use std::sync::Arc;

use reqwest::Method;
use serde_json::{json, Value};

use tokio::time::Instant;

use crate::credentials::{CredentialHandle, SpotDraftCredentials};
use crate::download::{Download, DownloadLimits};
use crate::egress::DocumentUrlPolicy;
use crate::http::{
    download_client, transport, FetchError, Pace, API_TIMEOUT, READ_TIMEOUT, USER_AGENT,
};
use crate::spotdraft_api::SpotDraftClient;

/// The listing path (with `?filter__contract_id=`).
pub const CONTRACTS_PATH: &str = "/api/v2.1/public/contracts/";

/// The download-link path of a composite id.
pub fn download_link_path(composite_id: &str) -> String {
    format!("/api/v2.1/public/contracts/{composite_id}/download_link")
}

/// The key-pointers path of a composite id.
pub fn key_pointers_path(composite_id: &str) -> String {
    format!("/api/v2.1/public/contracts/{composite_id}/key_pointers")
}

/// `download_link`'s answer. `url` is a credential: not `Debug`-printed.
#[derive(Clone)]
pub struct DownloadLink {
    /// The temporary URL.
    pub url: String,
    /// The file name (may name people: never logged).
    pub file_name: Option<String>,
    /// `current_version_id`, as text.
    pub version: String,
}

impl std::fmt::Debug for DownloadLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadLink")
            .field("url", &"<redacted>")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

/// The composite id a `contract_kind` settles, when it does. SpotDraft does
/// not document which kinds are `T-` and which `H-`; only a template contract
/// is taken to be `T-` without asking, and a wrong guess (404) falls back to
/// the listing. Every other kind, and none, asks the listing.
pub fn composite_from_kind(contract_id: &str, kind: Option<&str>) -> Option<String> {
    match kind? {
        "TEMPLATE_CONTRACT" => Some(format!("T-{contract_id}")),
        _ => None,
    }
}

/// A SpotDraft contract id as the webhook carries it: decimal digits.
pub fn valid_contract_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 20 && id.bytes().all(|b| b.is_ascii_digit())
}

/// The SpotDraft documents client.
#[derive(Debug)]
pub struct SpotDraftApi {
    api: SpotDraftClient,
    download: reqwest::Client,
    credentials: Arc<CredentialHandle<SpotDraftCredentials>>,
    pace: Pace,
    policy: Arc<DocumentUrlPolicy>,
    limits: DownloadLimits,
}

impl SpotDraftApi {
    /// A client for `base_url` (e.g. `https://api.eu.spotdraft.com`) whose
    /// download URLs must pass `policy`.
    pub fn new(
        base_url: impl Into<String>,
        credentials: Arc<CredentialHandle<SpotDraftCredentials>>,
        requests_per_second: u32,
        policy: DocumentUrlPolicy,
    ) -> Self {
        let policy = Arc::new(policy);
        SpotDraftApi {
            api: api_client(base_url.into(), API_TIMEOUT),
            download: download_client(READ_TIMEOUT, Some(policy.clone())),
            credentials,
            pace: Pace::new(requests_per_second),
            policy,
            limits: DownloadLimits::default(),
        }
    }

    /// Other timeouts than [`API_TIMEOUT`] and [`READ_TIMEOUT`] (tests).
    pub fn with_timeouts(mut self, api: std::time::Duration, read: std::time::Duration) -> Self {
        self.api = api_client(self.api.base_url().to_owned(), api);
        self.download = download_client(read, Some(self.policy.clone()));
        self
    }

    /// Other download bounds than [`DownloadLimits::default`] (tests).
    pub fn with_download_limits(mut self, limits: DownloadLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The credential handle (refreshed after a refusal).
    pub fn credentials(&self) -> &Arc<CredentialHandle<SpotDraftCredentials>> {
        &self.credentials
    }

    /// One call: the current credential, the pace, the status's error, the
    /// answer's JSON (capped).
    async fn call(
        &self,
        what: &'static str,
        method: Method,
        path: &str,
        build: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<Value, FetchError> {
        let credentials = self.credentials.current();
        let request = self
            .api
            .request(method, path, &credentials)
            .map_err(|e| FetchError::api(what, e))?;
        self.pace.wait().await;
        let reply = self
            .api
            .send(build(request))
            .await
            .map_err(|e| FetchError::api(what, e))?;
        reply
            .success_json()
            .await
            .map_err(|e| FetchError::api(what, e))
    }

    /// The composite id of `contract_id` from the contracts listing.
    pub async fn find_composite_id(&self, contract_id: &str) -> Result<String, FetchError> {
        const WHAT: &str = "SpotDraft contracts listing";
        let answer = self
            .call(WHAT, Method::GET, CONTRACTS_PATH, |r| {
                r.query(&[("filter__contract_id", contract_id)])
            })
            .await?;
        let entries = listing_entries(&answer).ok_or_else(|| FetchError::Answer {
            what: WHAT,
            reason: "no list of contracts".into(),
        })?;
        let mut found: Vec<String> = entries
            .iter()
            .filter_map(|e| e.get("id").and_then(Value::as_str))
            .filter(|id| composite_matches(id, contract_id))
            .map(str::to_owned)
            .collect();
        found.sort();
        found.dedup();
        match found.len() {
            0 => Err(FetchError::NotFound {
                what: "SpotDraft contract (listing)",
            }),
            1 => Ok(found.remove(0)),
            _ => Err(FetchError::Answer {
                what: WHAT,
                reason: format!("{} composite ids match one contract id", found.len()),
            }),
        }
    }

    /// A fresh download link for `composite_id`.
    pub async fn download_link(&self, composite_id: &str) -> Result<DownloadLink, FetchError> {
        const WHAT: &str = "SpotDraft download_link";
        let path = download_link_path(composite_id);
        let answer = self
            .call(WHAT, Method::POST, &path, |r| {
                r.json(&json!({"format": "PDF"}))
            })
            .await?;
        let bad = |reason: &str| FetchError::Answer {
            what: WHAT,
            reason: reason.into(),
        };
        // Where it may be fetched from is `open`'s check, before the request.
        let link = answer
            .get("url")
            .and_then(Value::as_str)
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| bad("no url"))?;
        let version = match answer.get("current_version_id") {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim().to_owned(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(bad("no current_version_id")),
        };
        Ok(DownloadLink {
            url: link.to_owned(),
            file_name: answer
                .get("file_name")
                .and_then(Value::as_str)
                .map(str::to_owned),
            version,
        })
    }

    /// The contract's key pointers (metadata values), as answered: read with
    /// the same cap, pace and error mapping as the other calls.
    pub async fn key_pointers(&self, composite_id: &str) -> Result<Value, FetchError> {
        const WHAT: &str = "SpotDraft key_pointers";
        let path = key_pointers_path(composite_id);
        self.call(WHAT, Method::GET, &path, |r| r).await
    }

    /// Starts downloading a link's document, to end by `deadline`: only a
    /// URL the policy allows, no credentials, no redirects. An answer
    /// refusing the URL (400, 403, 404, 410: what an expired presigned URL
    /// gets) is [`FetchError::LinkExpired`]: ask for a new link.
    pub async fn open(
        &self,
        link: &DownloadLink,
        limit: u64,
        deadline: Instant,
    ) -> Result<Download, FetchError> {
        const WHAT: &str = "SpotDraft document download";
        let url = self.policy.check_url(&link.url)?;
        let response = self
            .download
            .get(url)
            .send()
            .await
            .map_err(|e| transport(WHAT, e))?;
        let status = response.status().as_u16();
        match status {
            200 => Download::new(WHAT, response, limit, deadline, self.limits),
            400 | 403 | 404 | 410 => Err(FetchError::LinkExpired { status }),
            _ => Err(
                FetchError::from_status(WHAT, response.status(), response.headers())
                    .unwrap_or(FetchError::Status { what: WHAT, status }),
            ),
        }
    }
}

/// The archiver's SpotDraft client: a 5 s connect timeout, `timeout` in all.
fn api_client(base_url: String, timeout: std::time::Duration) -> SpotDraftClient {
    SpotDraftClient::new(
        base_url,
        std::time::Duration::from_secs(5),
        timeout,
        USER_AGENT,
    )
}

/// The entries of a listing answer: a plain array, or an object holding one
/// under `results` (SpotDraft's paginated shape), `data` or `contracts`.
fn listing_entries(answer: &Value) -> Option<&Vec<Value>> {
    answer.as_array().or_else(|| {
        ["results", "data", "contracts"]
            .iter()
            .find_map(|k| answer.get(*k).and_then(Value::as_array))
    })
}

fn composite_matches(composite: &str, contract_id: &str) -> bool {
    matches!(composite.split_once('-'), Some(("T" | "H", rest)) if rest == contract_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_template_contracts_skip_the_listing() {
        assert_eq!(
            composite_from_kind("48213", Some("TEMPLATE_CONTRACT")).as_deref(),
            Some("T-48213")
        );
        for kind in [
            None,
            Some("EDITED_TEMPLATE_CONTRACT"),
            Some("THIRD_PARTY_CONTRACT"),
            Some("EXECUTED_CONTRACT"),
            Some("SOMETHING_NEW"),
        ] {
            assert_eq!(composite_from_kind("1", kind), None, "{kind:?}");
        }
    }

    #[test]
    fn listing_shapes_and_matches() {
        let answer =
            json!({"count": 2, "results": [{"id": "H-12"}, {"id": "T-123"}, {"id": "X-12"}]});
        let ids: Vec<_> = listing_entries(&answer)
            .unwrap()
            .iter()
            .filter_map(|e| e["id"].as_str())
            .filter(|id| composite_matches(id, "12"))
            .collect();
        assert_eq!(ids, ["H-12"]);
        assert!(listing_entries(&json!([{"id": "T-1"}])).is_some());
        assert!(listing_entries(&json!({"detail": "x"})).is_none());
    }

    #[test]
    fn contract_ids_are_decimal() {
        assert!(valid_contract_id("48213"));
        for bad in ["", "T-1", "1/../2", "12a", "123456789012345678901"] {
            assert!(!valid_contract_id(bad), "{bad}");
        }
    }

    #[test]
    fn a_link_never_shows_its_url() {
        let link = DownloadLink {
            url: "https://bucket.s3.amazonaws.com/doc.pdf?X-Amz-Signature=secret".into(),
            file_name: Some("NDA Jane Doe.pdf".into()),
            version: "7".into(),
        };
        let shown = format!("{link:?}");
        assert!(
            !shown.contains("secret") && !shown.contains("Jane"),
            "{shown}"
        );
    }
}
