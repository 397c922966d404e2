//! DocuSign's eSignature REST API, the calls the archiver needs, with an
//! access token from the OAuth JWT grant:
//!
//! | call | request | success |
//! |---|---|---|
//! | token | `POST {auth}/oauth/token` form `grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=<RS256 JWT>` | 200 `{access_token, token_type, expires_in}` |
//! | base URI (when `DOCUSIGN_API_BASE_URL` is unset) | `GET {auth}/oauth/userinfo`, Bearer | 200 `{accounts: [{account_id, base_uri}]}` |
//! | combined document | `GET {base}/restapi/v2.1/accounts/{accountId}/envelopes/{envelopeId}/documents/combined`, Bearer, `Accept: application/pdf` | 200, the PDF |
//!
//! The assertion: `iss` integration key, `sub` user id, `aud` the auth host
//! without scheme, `iat`, `exp` = `iat` + 3600, `scope` =
//! `signature impersonation`. The token is cached until
//! [`TOKEN_MARGIN`] before it expires; a 401 on a call refreshes it once.
//! Every call goes through the egress policy (https, public addresses at
//! connect time, no redirects); JSON answers are capped ([`read_json`]). No
//! token, assertion, URL or key is ever logged or `Debug`-printed.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::credentials::{CredentialHandle, DocuSignCredentials};
use crate::download::{Download, DownloadLimits};
use crate::egress::DocumentUrlPolicy;
use crate::http::{download_client, read_json, transport, FetchError, API_TIMEOUT, READ_TIMEOUT};

/// A token is renewed this long before DocuSign says it expires.
pub const TOKEN_MARGIN: Duration = Duration::from_secs(300);
/// The assertion's lifetime (DocuSign's maximum, an hour).
pub const ASSERTION_LIFETIME_SECS: u64 = 3600;
/// The scopes asked for.
pub const SCOPE: &str = "signature impersonation";
/// The JWT grant type.
pub const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// The combined document's path.
pub fn combined_path(account_id: &str, envelope_id: &str) -> String {
    format!("/restapi/v2.1/accounts/{account_id}/envelopes/{envelope_id}/documents/combined")
}

/// A DocuSign id (account or envelope): a GUID.
pub fn valid_guid(id: &str) -> bool {
    id.len() == 36
        && id.bytes().enumerate().all(|(i, b)| match i {
            8 | 13 | 18 | 23 => b == b'-',
            _ => b.is_ascii_hexdigit(),
        })
}

/// The signed assertion (RS256 JWT) for `aud`, issued at `iat` (epoch s).
pub fn assertion(
    credentials: &DocuSignCredentials,
    aud: &str,
    iat: u64,
) -> Result<String, FetchError> {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
    let claims = json!({
        "iss": credentials.integration_key,
        "sub": credentials.user_id,
        "aud": aud,
        "iat": iat,
        "exp": iat + ASSERTION_LIFETIME_SECS,
        "scope": SCOPE,
    });
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string().as_bytes());
    let signing_input = format!("{header}.{claims}");
    let mut signature = vec![0; credentials.key.public().modulus_len()];
    credentials
        .key
        .sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut signature,
        )
        .map_err(|_| FetchError::Answer {
            what: "DocuSign assertion",
            reason: "the key cannot sign".into(),
        })?;
    Ok(format!(
        "{signing_input}.{}",
        URL_SAFE_NO_PAD.encode(signature)
    ))
}

#[derive(Clone)]
struct Token {
    value: Arc<str>,
    renew_at: Instant,
}

/// The DocuSign documents client.
pub struct DocuSignApi {
    auth_base: String,
    audience: String,
    base_url: Option<String>,
    api: reqwest::Client,
    download: reqwest::Client,
    credentials: Arc<CredentialHandle<DocuSignCredentials>>,
    policy: Arc<DocumentUrlPolicy>,
    token: tokio::sync::Mutex<Option<Token>>,
    bases: std::sync::Mutex<HashMap<String, String>>,
    limits: DownloadLimits,
}

impl std::fmt::Debug for DocuSignApi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocuSignApi")
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

impl DocuSignApi {
    /// A client for the auth server `auth` (`https://account-d.docusign.com`
    /// or `https://account.docusign.com`; `aud` is its host[:port]), the
    /// REST base `base_url` when set (else from `userinfo`), every address
    /// filtered by `policy` (its https rule and public addresses; its host
    /// allowlist is for SpotDraft's download URLs and does not apply).
    pub fn new(
        auth: &str,
        base_url: Option<String>,
        credentials: Arc<CredentialHandle<DocuSignCredentials>>,
        policy: &DocumentUrlPolicy,
    ) -> Self {
        let auth_base = auth.trim_end_matches('/').to_owned();
        let audience = auth_base
            .split_once("://")
            .map_or(auth_base.as_str(), |(_, host)| host)
            .to_owned();
        let policy = Arc::new(DocumentUrlPolicy {
            allow_insecure: policy.allow_insecure,
            host_allowlist: Vec::new(),
        });
        DocuSignApi {
            auth_base,
            audience,
            base_url,
            api: api_client_filtered(API_TIMEOUT, &policy),
            download: download_client(READ_TIMEOUT, Some(policy.clone())),
            credentials,
            policy,
            token: tokio::sync::Mutex::new(None),
            bases: Default::default(),
            limits: DownloadLimits::default(),
        }
    }

    /// The credential handle (refreshed after a refusal).
    pub fn credentials(&self) -> &Arc<CredentialHandle<DocuSignCredentials>> {
        &self.credentials
    }

    /// The assertion's `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// A valid access token: the cached one until [`TOKEN_MARGIN`] before
    /// it expires, else a new one. `refused`: the token a call was refused
    /// with (401), not to be handed out again.
    async fn token(&self, refused: Option<&Arc<str>>) -> Result<Arc<str>, FetchError> {
        const WHAT: &str = "DocuSign oauth/token";
        let mut cached = self.token.lock().await;
        if let Some(t) = cached.as_ref() {
            if Instant::now() < t.renew_at && refused.is_none_or(|r| !Arc::ptr_eq(r, &t.value)) {
                return Ok(t.value.clone());
            }
        }
        *cached = None;
        let credentials = self.credentials.current();
        let iat = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
        let assertion = assertion(&credentials, &self.audience, iat)?;
        let url = self
            .policy
            .check_url(&format!("{}/oauth/token", self.auth_base))?;
        let body = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", GRANT_TYPE)
            .append_pair("assertion", &assertion)
            .finish();
        let response = self
            .api
            .post(url)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(reqwest::header::ACCEPT, "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| transport(WHAT, e))?;
        let status = response.status().as_u16();
        // A refused grant (bad key, no consent, unknown user) is a 400
        // `invalid_grant`/`consent_required`: refused credentials.
        if status == 400 {
            return Err(FetchError::Credentials { what: WHAT, status });
        }
        if let Some(err) = FetchError::from_status(WHAT, response.status(), response.headers()) {
            return Err(err);
        }
        let answer = read_json(WHAT, response).await?;
        let bad = |reason: &str| FetchError::Answer {
            what: WHAT,
            reason: reason.into(),
        };
        let value = answer
            .get("access_token")
            .and_then(Value::as_str)
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| bad("no access_token"))?;
        if !answer
            .get("token_type")
            .and_then(Value::as_str)
            .is_some_and(|t| t.eq_ignore_ascii_case("bearer"))
        {
            return Err(bad("token_type is not Bearer"));
        }
        let expires_in = answer
            .get("expires_in")
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()))
            .ok_or_else(|| bad("no expires_in"))?;
        let lifetime = Duration::from_secs(expires_in);
        let renew_at = Instant::now() + lifetime.saturating_sub(TOKEN_MARGIN.min(lifetime / 2));
        let value: Arc<str> = Arc::from(value);
        *cached = Some(Token {
            value: value.clone(),
            renew_at,
        });
        Ok(value)
    }

    /// Runs `call` with a token; on a 401, once more with a new token.
    async fn with_token<T, F, Fut>(&self, call: F) -> Result<T, FetchError>
    where
        F: Fn(Arc<str>) -> Fut,
        Fut: std::future::Future<Output = Result<T, FetchError>>,
    {
        let token = self.token(None).await?;
        match call(token.clone()).await {
            Err(FetchError::Credentials { status: 401, .. }) => {
                tracing::info!(
                    provider = "docusign",
                    "access token refused; asking for a new one"
                );
                let token = self.token(Some(&token)).await?;
                let result = call(token).await;
                if matches!(result, Err(FetchError::Credentials { status: 401, .. })) {
                    // Refused twice: the next attempt (after the credentials
                    // back-off and re-read) starts from a new grant.
                    *self.token.lock().await = None;
                }
                result
            }
            other => other,
        }
    }

    /// The REST base of `account_id`: the setting, else `userinfo`'s
    /// `base_uri` for that account (cached per account).
    pub async fn base_for(&self, account_id: &str) -> Result<String, FetchError> {
        const WHAT: &str = "DocuSign oauth/userinfo";
        if let Some(base) = &self.base_url {
            return Ok(base.clone());
        }
        if let Some(base) = self
            .bases
            .lock()
            .ok()
            .and_then(|b| b.get(account_id).cloned())
        {
            return Ok(base);
        }
        let url = self
            .policy
            .check_url(&format!("{}/oauth/userinfo", self.auth_base))?;
        let answer = self
            .with_token(|token| {
                let request = self
                    .api
                    .get(url.clone())
                    .bearer_auth(&*token)
                    .header(reqwest::header::ACCEPT, "application/json");
                async move {
                    let response = request.send().await.map_err(|e| transport(WHAT, e))?;
                    if let Some(err) =
                        FetchError::from_status(WHAT, response.status(), response.headers())
                    {
                        return Err(err);
                    }
                    read_json(WHAT, response).await
                }
            })
            .await?;
        let accounts =
            answer
                .get("accounts")
                .and_then(Value::as_array)
                .ok_or(FetchError::Answer {
                    what: WHAT,
                    reason: "no accounts".into(),
                })?;
        let base = accounts
            .iter()
            .find(|a| {
                a.get("account_id")
                    .and_then(Value::as_str)
                    .is_some_and(|id| id.eq_ignore_ascii_case(account_id))
            })
            .ok_or(FetchError::NotFound {
                what: "DocuSign account (userinfo)",
            })?
            .get("base_uri")
            .and_then(Value::as_str)
            .ok_or(FetchError::Answer {
                what: WHAT,
                reason: "no base_uri".into(),
            })?
            .trim_end_matches('/')
            .to_owned();
        // Where it may point: the policy's rules, before any use.
        self.policy.check_url(&base)?;
        if let Ok(mut bases) = self.bases.lock() {
            bases.insert(account_id.to_owned(), base.clone());
        }
        Ok(base)
    }

    /// Starts downloading an envelope's combined document, to end by
    /// `deadline`.
    pub async fn open(
        &self,
        account_id: &str,
        envelope_id: &str,
        limit: u64,
        deadline: Instant,
    ) -> Result<Download, FetchError> {
        const WHAT: &str = "DocuSign combined document";
        let base = self.base_for(account_id).await?;
        let url = self
            .policy
            .check_url(&format!("{base}{}", combined_path(account_id, envelope_id)))?;
        let limits = self.limits;
        self.with_token(|token| {
            let request = self
                .download
                .get(url.clone())
                .bearer_auth(&*token)
                .header(reqwest::header::ACCEPT, "application/pdf");
            async move {
                let response = request.send().await.map_err(|e| transport(WHAT, e))?;
                if let Some(err) =
                    FetchError::from_status(WHAT, response.status(), response.headers())
                {
                    return Err(err);
                }
                Download::new(WHAT, response, limit, deadline, limits)
            }
        })
        .await
    }
}

/// The API client with the egress filter on every connection.
fn api_client_filtered(timeout: Duration, policy: &Arc<DocumentUrlPolicy>) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(Duration::from_secs(5))
        .timeout(timeout)
        .user_agent(concat!(
            "contract-hooks-archiver/",
            env!("CARGO_PKG_VERSION")
        ))
        .dns_resolver(Arc::new(crate::egress::FilteringResolver::new(
            policy.clone(),
        )))
        .build()
        .expect("a client with static settings builds")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_checked() {
        assert!(valid_guid("f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b"));
        for bad in [
            "",
            "../x",
            "f1e2d3c4b5a647988a9b0c1d2e3f4a5b",
            "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5/",
        ] {
            assert!(!valid_guid(bad), "{bad}");
        }
    }
}
