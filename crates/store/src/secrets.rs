//! The webhook secrets: the JSON document of each provider's signing secrets,
//! parsed into verifiers and kept current by a [`Refreshing`] handle.

use std::collections::BTreeMap;

use verify::{Provider, SecretError, SecretSet, Verifier};

use crate::error::StoreError;
use crate::refreshing::{Decode, Refreshing};

/// One verifier per configured provider, built from the secrets document.
#[derive(Debug, Clone)]
pub struct Verifiers {
    by_provider: BTreeMap<Provider, Verifier>,
}

impl Verifiers {
    /// The verifier for `provider`, if secrets for it are configured.
    pub fn get(&self, provider: Provider) -> Option<&Verifier> {
        self.by_provider.get(&provider)
    }

    /// Providers with secrets configured.
    pub fn providers(&self) -> impl Iterator<Item = Provider> + '_ {
        self.by_provider.keys().copied()
    }
}

/// The secrets document cannot be used. Messages never contain secret values.
#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    /// Not a JSON object of provider name to list of strings.
    #[error("webhook secrets are not a JSON object {{\"spotdraft\": [...], \"subnoto\": [...]}}")]
    NotJson,
    /// A key is not a known provider.
    #[error("webhook secrets name an unknown provider {0:?}")]
    UnknownProvider(String),
    /// No provider has a secret.
    #[error("webhook secrets configure no provider")]
    NoProviders,
    /// A secret is unusable (e.g. a SpotDraft key that is not base64).
    #[error(transparent)]
    Secret(#[from] SecretError),
    /// Secrets Manager could not be read, or the secret has no string value.
    #[error("reading webhook secrets: {0}")]
    Fetch(#[from] StoreError),
}

/// Parses `{"spotdraft":["<base64 key>",…],"subnoto":["<secret>",…]}` (first =
/// current, the rest accepted during rotation). A provider with an empty list is
/// not enabled.
pub fn parse_secrets(json: &str, tolerance_ms: u64) -> Result<Verifiers, SecretsError> {
    let doc: BTreeMap<String, Vec<String>> =
        serde_json::from_str(json).map_err(|_| SecretsError::NotJson)?;
    let mut by_provider = BTreeMap::new();
    for (name, secrets) in doc {
        let provider: Provider = name
            .parse()
            .map_err(|_| SecretsError::UnknownProvider(name.chars().take(40).collect()))?;
        if secrets.is_empty() {
            continue;
        }
        let set = SecretSet::new(provider, &secrets)?;
        by_provider.insert(provider, Verifier::new(set).with_tolerance_ms(tolerance_ms));
    }
    if by_provider.is_empty() {
        return Err(SecretsError::NoProviders);
    }
    Ok(Verifiers { by_provider })
}

/// How the webhook secrets document is read: each provider's verifier with
/// this timestamp tolerance.
#[derive(Debug, Clone, Copy)]
pub struct WebhookSecrets {
    /// The verifiers' timestamp tolerance.
    pub tolerance_ms: u64,
}

impl Decode for WebhookSecrets {
    type Value = Verifiers;
    type Error = SecretsError;
    const WHAT: &'static str = "webhook secret";

    fn decode(&self, json: &str) -> Result<Verifiers, SecretsError> {
        parse_secrets(json, self.tolerance_ms)
    }

    fn fetch_failed(&self, err: StoreError) -> SecretsError {
        SecretsError::Fetch(err)
    }

    fn log_refresh(&self, outcome: Result<&Verifiers, &SecretsError>) {
        match outcome {
            Ok(verifiers) => {
                let providers = verifiers.by_provider.len();
                tracing::info!(providers, "webhook secrets refreshed")
            }
            Err(err) => {
                tracing::warn!(error = %err, "webhook secrets refresh failed; keeping cached secrets")
            }
        }
    }
}

/// The current verifiers, loaded at cold start and, for Secrets Manager,
/// refreshed in the background once the refresh interval has passed, so a
/// rotation takes effect without a deploy. A failed refresh keeps the cached
/// secrets.
pub type SecretsHandle = Refreshing<WebhookSecrets>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_shape() {
        let v = parse_secrets(
            r#"{"spotdraft":["c2VjcmV0","b2xk"],"subnoto":["whsec_a"]}"#,
            300_000,
        )
        .unwrap();
        assert!(v.get(Provider::SpotDraft).is_some());
        assert!(v.get(Provider::Subnoto).is_some());
        let only = parse_secrets(r#"{"spotdraft":["c2VjcmV0"],"subnoto":[]}"#, 1).unwrap();
        assert!(only.get(Provider::Subnoto).is_none());
    }

    #[test]
    fn rejects_unusable_documents_without_echoing_secrets() {
        let errs = [
            parse_secrets("whsec_plain", 1).unwrap_err(),
            parse_secrets(r#"{"adobesign":["x"]}"#, 1).unwrap_err(),
            parse_secrets(r#"{"spotdraft":[]}"#, 1).unwrap_err(),
            parse_secrets(r#"{"spotdraft":["whsec_not_base64!"]}"#, 1).unwrap_err(),
        ];
        assert!(matches!(errs[0], SecretsError::NotJson));
        assert!(matches!(errs[1], SecretsError::UnknownProvider(_)));
        assert!(matches!(errs[2], SecretsError::NoProviders));
        assert!(matches!(
            errs[3],
            SecretsError::Secret(SecretError::NotBase64 { .. })
        ));
        for e in &errs {
            assert!(!e.to_string().contains("whsec"), "{e}");
        }
    }
}
