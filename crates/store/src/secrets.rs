use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use verify::{Provider, SecretError, SecretSet, Verifier};

use crate::config::SecretsSource;
use crate::error::StoreError;

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

/// The current verifiers, loaded at cold start and, for Secrets Manager,
/// refreshed in the background once `refresh_every` has passed, so a rotation
/// takes effect without a deploy. A failed refresh keeps the cached secrets.
#[derive(Debug)]
pub struct SecretsHandle {
    current: RwLock<Arc<Verifiers>>,
    source: SecretsSource,
    client: aws_sdk_secretsmanager::Client,
    tolerance_ms: u64,
    refresh_every: Duration,
    loaded_at: Mutex<Instant>,
    refreshing: AtomicBool,
}

impl SecretsHandle {
    /// Loads the secrets now. Fails when they cannot be read or used: a function
    /// without secrets must not start (it could only reject, or worse).
    pub async fn load(
        source: SecretsSource,
        client: aws_sdk_secretsmanager::Client,
        tolerance_ms: u64,
        refresh_every: Duration,
    ) -> Result<Arc<Self>, SecretsError> {
        let verifiers = fetch(&source, &client, tolerance_ms).await?;
        Ok(Arc::new(SecretsHandle {
            current: RwLock::new(Arc::new(verifiers)),
            source,
            client,
            tolerance_ms,
            refresh_every,
            loaded_at: Mutex::new(Instant::now()),
            refreshing: AtomicBool::new(false),
        }))
    }

    /// The verifiers to use now. When they are older than the refresh interval a
    /// background refresh starts; this call never waits for it.
    pub fn current(self: &Arc<Self>) -> Arc<Verifiers> {
        if matches!(self.source, SecretsSource::SecretsManager { .. }) && self.is_stale() {
            self.spawn_refresh();
        }
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn is_stale(&self) -> bool {
        self.loaded_at
            .lock()
            .map(|t| t.elapsed() >= self.refresh_every)
            .unwrap_or(true)
    }

    fn spawn_refresh(self: &Arc<Self>) {
        if self.refreshing.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = Arc::clone(self);
        tokio::spawn(async move {
            match this.refresh().await {
                Ok(providers) => tracing::info!(providers, "webhook secrets refreshed"),
                Err(err) => {
                    tracing::warn!(error = %err, "webhook secrets refresh failed; keeping cached secrets")
                }
            }
            this.refreshing.store(false, Ordering::Release);
        });
    }

    /// Re-reads the secrets now and swaps them in. On error the cached secrets
    /// stay, and the next refresh is attempted after the interval again.
    pub async fn refresh(&self) -> Result<usize, SecretsError> {
        let result = fetch(&self.source, &self.client, self.tolerance_ms).await;
        if let Ok(mut at) = self.loaded_at.lock() {
            *at = Instant::now();
        }
        let verifiers = result?;
        let count = verifiers.by_provider.len();
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(verifiers);
        Ok(count)
    }
}

async fn fetch(
    source: &SecretsSource,
    client: &aws_sdk_secretsmanager::Client,
    tolerance_ms: u64,
) -> Result<Verifiers, SecretsError> {
    match source {
        SecretsSource::Inline(json) => parse_secrets(json, tolerance_ms),
        SecretsSource::SecretsManager { arn } => {
            let out = client
                .get_secret_value()
                .secret_id(arn)
                .send()
                .await
                .map_err(|e| StoreError::aws("SecretsManager.GetSecretValue", e))?;
            let json = out.secret_string().ok_or(StoreError::Corrupt {
                what: "webhook secret",
                reason: "no SecretString".into(),
            })?;
            parse_secrets(json, tolerance_ms)
        }
    }
}

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
