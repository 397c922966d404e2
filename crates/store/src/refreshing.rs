//! A secret kept current without a deploy: read at cold start from inline JSON
//! or a Secrets Manager secret ([`SecretsSource`]), re-read in the background
//! once the refresh interval has passed, and at once (at most once a minute)
//! after the party it is shown to refused it. A failed refresh keeps the
//! cached value. The webhook verifiers ([`crate::SecretsHandle`]) and the
//! archiver's provider API credentials are two uses of it.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::{SecretsSource, StoreError};

/// The least time between two refreshes forced by a refusal: a provider that
/// keeps answering 401 must not turn into a Secrets Manager hot loop.
pub const FORCED_REFRESH_EVERY: Duration = Duration::from_secs(60);

/// What a [`Refreshing`] holds and how it is read from the secret's text.
pub trait Decode: Send + Sync + 'static {
    /// The value in use (its `Debug` must not show a secret).
    type Value: fmt::Debug + Send + Sync + 'static;
    /// Why the secret cannot be read or used (never contains a secret).
    type Error: std::error::Error + Send + 'static;
    /// What the secret is, for a Secrets Manager answer without a string.
    const WHAT: &'static str;
    /// The value from the secret's JSON text.
    fn decode(&self, json: &str) -> Result<Self::Value, Self::Error>;
    /// Secrets Manager could not be read.
    fn fetch_failed(&self, err: StoreError) -> Self::Error;
    /// Logs how a refresh (background or forced) ended.
    fn log_refresh(&self, outcome: Result<&Self::Value, &Self::Error>);
}

/// The current value of one secret, refreshed as the module says.
pub struct Refreshing<D: Decode> {
    decoder: D,
    current: RwLock<Arc<D::Value>>,
    source: SecretsSource,
    client: aws_sdk_secretsmanager::Client,
    refresh_every: Duration,
    loaded_at: Mutex<Instant>,
    refreshing: AtomicBool,
}

impl<D: Decode> fmt::Debug for Refreshing<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Refreshing")
            .field("source", &self.source)
            .field("refresh_every", &self.refresh_every)
            .field(
                "current",
                &*self.current.read().unwrap_or_else(|p| p.into_inner()),
            )
            .finish_non_exhaustive()
    }
}

impl<D: Decode> Refreshing<D> {
    /// Reads the secret now. Fails when it cannot be read or used: a function
    /// without it must not start (it could only refuse, or worse).
    pub async fn load(
        decoder: D,
        source: SecretsSource,
        client: aws_sdk_secretsmanager::Client,
        refresh_every: Duration,
    ) -> Result<Arc<Self>, D::Error> {
        let value = fetch(&decoder, &source, &client).await?;
        Ok(Arc::new(Refreshing {
            decoder,
            current: RwLock::new(Arc::new(value)),
            source,
            client,
            refresh_every,
            loaded_at: Mutex::new(Instant::now()),
            refreshing: AtomicBool::new(false),
        }))
    }

    /// The value to use now. When it is older than the refresh interval a
    /// background refresh starts; this call never waits for it.
    pub fn current(self: &Arc<Self>) -> Arc<D::Value> {
        if matches!(self.source, SecretsSource::SecretsManager { .. })
            && self.older_than(self.refresh_every)
            && !self.refreshing.swap(true, Ordering::AcqRel)
        {
            let this = Arc::clone(self);
            tokio::spawn(async move {
                let _ = this.refresh().await;
                this.refreshing.store(false, Ordering::Release);
            });
        }
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// After the value was refused: re-reads it now, unless it was read less
    /// than [`FORCED_REFRESH_EVERY`] ago or is inline. True when re-read.
    pub async fn refresh_after_refusal(&self) -> bool {
        if matches!(self.source, SecretsSource::Inline(_)) || !self.older_than(FORCED_REFRESH_EVERY)
        {
            return false;
        }
        self.refresh().await.is_ok()
    }

    /// Re-reads the secret now and swaps it in. On error the cached value
    /// stays, and the next refresh is attempted after the interval again.
    pub async fn refresh(&self) -> Result<(), D::Error> {
        let result = fetch(&self.decoder, &self.source, &self.client).await;
        if let Ok(mut at) = self.loaded_at.lock() {
            *at = Instant::now();
        }
        self.decoder.log_refresh(result.as_ref());
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(result?);
        Ok(())
    }

    fn older_than(&self, age: Duration) -> bool {
        self.loaded_at
            .lock()
            .map(|t| t.elapsed() >= age)
            .unwrap_or(true)
    }
}

async fn fetch<D: Decode>(
    decoder: &D,
    source: &SecretsSource,
    client: &aws_sdk_secretsmanager::Client,
) -> Result<D::Value, D::Error> {
    match source {
        SecretsSource::Inline(json) => decoder.decode(json),
        SecretsSource::SecretsManager { arn } => {
            let json = secret_string(client, arn, D::WHAT)
                .await
                .map_err(|e| decoder.fetch_failed(e))?;
            decoder.decode(&json)
        }
    }
}

/// A Secrets Manager secret's string; `what` names it when it has none.
pub async fn secret_string(
    client: &aws_sdk_secretsmanager::Client,
    arn: &str,
    what: &'static str,
) -> Result<String, StoreError> {
    let out = client
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .map_err(|e| StoreError::aws("SecretsManager.GetSecretValue", e))?;
    out.secret_string()
        .map(str::to_owned)
        .ok_or(StoreError::Corrupt {
            what,
            reason: "no SecretString".into(),
        })
}
