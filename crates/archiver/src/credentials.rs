//! Provider API credentials: inline JSON or a Secrets Manager secret, kept
//! current by the same [`store::Refreshing`] handle as the webhook secrets:
//! refreshed in the background once `SECRETS_REFRESH_SECONDS` have passed, and
//! at once (at most once a minute) after the provider refused them, so a
//! rotation needs no deploy. A failed refresh keeps the cached value. `Debug`
//! never shows a secret.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use store::{Decode, Refreshing, SecretsSource};

/// Credentials cannot be read or used. Never contains a secret value.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// Not the documented JSON shape.
    #[error("{what} credentials are not JSON {shape}")]
    Shape {
        /// Which provider.
        what: &'static str,
        /// The expected shape.
        shape: &'static str,
    },
    /// Secrets Manager failed.
    #[error("reading {what} credentials: {source}")]
    Fetch {
        /// Which provider.
        what: &'static str,
        /// Why.
        source: store::StoreError,
    },
}

/// A credential type read from JSON.
pub trait Credential: Sized + Send + Sync + 'static {
    /// Provider name for messages.
    const WHAT: &'static str;
    /// The documented JSON shape, for messages.
    const SHAPE: &'static str;
    /// Parses the JSON.
    fn parse(json: &str) -> Option<Self>;
}

/// SpotDraft: `{"client_id": …, "client_secret": …}`, sent as the
/// `client-id` and `client-secret` headers.
#[derive(Clone, Deserialize)]
pub struct SpotDraftCredentials {
    /// `client-id`.
    pub client_id: String,
    /// `client-secret`.
    pub client_secret: String,
}

impl fmt::Debug for SpotDraftCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SpotDraftCredentials(<redacted>)")
    }
}

impl Credential for SpotDraftCredentials {
    const WHAT: &'static str = "SpotDraft API";
    const SHAPE: &'static str = r#"{"client_id": "...", "client_secret": "..."}"#;
    fn parse(json: &str) -> Option<Self> {
        let c: Self = serde_json::from_str(json).ok()?;
        (!c.client_id.trim().is_empty() && !c.client_secret.trim().is_empty()).then_some(c)
    }
}

/// Subnoto: `{"access_key": …, "secret_key": …}`, sent as
/// `Authorization: Bearer ACCESS_KEY:SECRET_KEY` to the encryption proxy.
#[derive(Clone, Deserialize)]
pub struct SubnotoCredentials {
    /// Access key.
    pub access_key: String,
    /// Secret key.
    pub secret_key: String,
}

impl fmt::Debug for SubnotoCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SubnotoCredentials(<redacted>)")
    }
}

impl Credential for SubnotoCredentials {
    const WHAT: &'static str = "Subnoto API";
    const SHAPE: &'static str = r#"{"access_key": "...", "secret_key": "..."}"#;
    fn parse(json: &str) -> Option<Self> {
        let c: Self = serde_json::from_str(json).ok()?;
        (!c.access_key.trim().is_empty() && !c.secret_key.trim().is_empty()).then_some(c)
    }
}

/// DocuSign (OAuth JWT grant): `{"integration_key": …, "user_id": …,
/// "private_key": "-----BEGIN RSA PRIVATE KEY-----…"}` (PKCS#1 as DocuSign
/// hands it out, or PKCS#8). The key is parsed here, so a bad key stops the
/// cold start with the shape message, never later.
pub struct DocuSignCredentials {
    /// The integration key (the assertion's `iss`).
    pub integration_key: String,
    /// The impersonated user's id (`sub`).
    pub user_id: String,
    /// The RSA key signing the assertion.
    pub key: ring::signature::RsaKeyPair,
}

impl fmt::Debug for DocuSignCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocuSignCredentials(<redacted>)")
    }
}

impl Credential for DocuSignCredentials {
    const WHAT: &'static str = "DocuSign API";
    const SHAPE: &'static str = r#"{"integration_key": "...", "user_id": "...", "private_key": "-----BEGIN RSA PRIVATE KEY-----..."}"#;
    fn parse(json: &str) -> Option<Self> {
        #[derive(Deserialize)]
        struct Raw {
            integration_key: String,
            user_id: String,
            private_key: String,
        }
        let raw: Raw = serde_json::from_str(json).ok()?;
        if raw.integration_key.trim().is_empty() || raw.user_id.trim().is_empty() {
            return None;
        }
        Some(DocuSignCredentials {
            integration_key: raw.integration_key.trim().to_owned(),
            user_id: raw.user_id.trim().to_owned(),
            key: rsa_key_from_pem(&raw.private_key)?,
        })
    }
}

/// An RSA private key from PEM: `RSA PRIVATE KEY` (PKCS#1) or `PRIVATE KEY`
/// (PKCS#8); text around the block is ignored.
pub fn rsa_key_from_pem(pem: &str) -> Option<ring::signature::RsaKeyPair> {
    use base64::Engine;
    let (label, rest) = pem.split_once("-----BEGIN ")?;
    let _ = label;
    let (label, rest) = rest.split_once("-----")?;
    let (body, _) = rest.split_once("-----END ")?;
    let b64: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(b64).ok()?;
    match label {
        "RSA PRIVATE KEY" => ring::signature::RsaKeyPair::from_der(&der).ok(),
        "PRIVATE KEY" => ring::signature::RsaKeyPair::from_pkcs8(&der).ok(),
        _ => None,
    }
}

/// How one provider's credential is read, for [`store::Refreshing`].
pub struct ApiCredentials<T>(PhantomData<fn() -> T>);

impl<T> ApiCredentials<T> {
    /// The reader of `T`.
    pub fn new() -> Self {
        ApiCredentials(PhantomData)
    }
}

impl<T> Default for ApiCredentials<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T: Credential + fmt::Debug> Decode for ApiCredentials<T> {
    type Value = T;
    type Error = CredentialError;
    const WHAT: &'static str = "API credentials secret";

    fn decode(&self, json: &str) -> Result<T, CredentialError> {
        T::parse(json).ok_or(CredentialError::Shape {
            what: T::WHAT,
            shape: T::SHAPE,
        })
    }

    fn fetch_failed(&self, source: store::StoreError) -> CredentialError {
        CredentialError::Fetch {
            what: T::WHAT,
            source,
        }
    }

    fn log_refresh(&self, outcome: Result<&T, &CredentialError>) {
        if let Err(err) = outcome {
            tracing::warn!(error = %err, "API credentials refresh failed; keeping cached credentials");
        }
    }
}

/// The current credential of one provider.
pub type CredentialHandle<T> = Refreshing<ApiCredentials<T>>;

/// Loads a provider's credential now; fails when it cannot be read or parsed
/// (the function then does not start, and says why).
pub async fn load<T: Credential + fmt::Debug>(
    source: SecretsSource,
    client: aws_sdk_secretsmanager::Client,
    refresh_every: Duration,
) -> Result<Arc<CredentialHandle<T>>, CredentialError> {
    Refreshing::load(ApiCredentials::new(), source, client, refresh_every).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documented_shapes_parse_and_never_show() {
        let sd =
            SpotDraftCredentials::parse(r#"{"client_id":"id","client_secret":"s3cr3t"}"#).unwrap();
        assert_eq!(sd.client_id, "id");
        assert!(!format!("{sd:?}").contains("s3cr3t"));
        let sn = SubnotoCredentials::parse(r#"{"access_key":"ak","secret_key":"s3cr3t","x":1}"#)
            .unwrap();
        assert!(!format!("{sn:?}").contains("s3cr3t"));
        let pem = include_str!("../tests/fixtures/docusign-test-only-key.pem");
        let json = serde_json::json!({"integration_key": "ik", "user_id": "u", "private_key": pem});
        let ds = DocuSignCredentials::parse(&json.to_string()).unwrap();
        assert_eq!(
            (ds.integration_key.as_str(), ds.user_id.as_str()),
            ("ik", "u")
        );
        assert!(!format!("{ds:?}").contains("PRIVATE"));
        let pkcs1_body = pem.split("-----").nth(2).unwrap();
        for bad_key in [
            "".to_owned(),
            "not a key".to_owned(),
            pem.replace(pkcs1_body, "\nAAAA\n"),
            pem.replace("RSA PRIVATE KEY", "EC PRIVATE KEY"),
        ] {
            let json = serde_json::json!({"integration_key": "ik", "user_id": "u", "private_key": bad_key});
            assert!(DocuSignCredentials::parse(&json.to_string()).is_none());
        }
        for bad in [
            "",
            "s3cr3t",
            r#"{"client_id":"id"}"#,
            r#"{"client_id":"","client_secret":"s"}"#,
        ] {
            assert!(SpotDraftCredentials::parse(bad).is_none(), "{bad}");
        }
    }
}
