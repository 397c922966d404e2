use std::fmt;
use std::time::Duration;

/// Where a secret comes from: the webhook secrets (`WEBHOOK_SECRETS` or
/// `WEBHOOK_SECRETS_ARN`) or a provider API credential
/// (`*_API_CREDENTIALS` or `*_API_CREDENTIALS_ARN`).
#[derive(Clone, PartialEq, Eq)]
pub enum SecretsSource {
    /// The JSON itself.
    Inline(String),
    /// A Secrets Manager secret holding the same JSON.
    SecretsManager {
        /// Secret ARN or name.
        arn: String,
    },
}

impl fmt::Debug for SecretsSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretsSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            SecretsSource::SecretsManager { arn } => {
                f.debug_struct("SecretsManager").field("arn", arn).finish()
            }
        }
    }
}

/// Function configuration, read once at cold start. Names are the design's and
/// the template's; see README "Configuration".
#[derive(Debug, Clone)]
pub struct Config {
    /// `EVENTS_TABLE`: the ledger.
    pub events_table: String,
    /// `STATUS_TABLE`: one item per contract / envelope.
    pub status_table: String,
    /// `QUEUE_URL`: the event queue.
    pub queue_url: String,
    /// `WEBHOOK_SECRETS` or `WEBHOOK_SECRETS_ARN` (ingest only).
    pub secrets: Option<SecretsSource>,
    /// `MAX_BODY_BYTES` (default 262144).
    pub max_body_bytes: usize,
    /// `SIGNATURE_TOLERANCE_SECONDS` (default 300), in ms.
    pub tolerance_ms: u64,
    /// `EVENT_RETENTION_DAYS` (default 30): ledger TTL and dedup window.
    pub retention_days: u32,
    /// `LEDGER_LEASE_SECONDS` (default 30): how long an accepted event's enqueue
    /// lease lasts before a duplicate delivery may enqueue it again.
    pub lease_ms: i64,
    /// `SECRETS_REFRESH_SECONDS` (default 300): how often secrets from Secrets
    /// Manager are re-read, so a rotation takes effect without a deploy.
    pub secrets_refresh: Duration,
    /// `SWEEP_AFTER_SECONDS` (default 600), in ms: how long an accepted event
    /// may stay unprocessed before the sweep re-enqueues it. The default is
    /// twice the queue's retry window (`MAX_RECEIVE_COUNT` receives ×
    /// `VISIBILITY_TIMEOUT_SECS` = 300 s), so the sweep does not re-enqueue
    /// events SQS is still redelivering.
    pub sweep_after_ms: i64,
    /// `SWEEP_MAX_ATTEMPTS` (default 5): enqueues (the first included) after
    /// which the sweep marks an unprocessed event `FAILED`.
    pub sweep_max_attempts: u32,
    /// `EVENT_BUS_NAME`: the EventBridge bus the processor publishes contract
    /// events to; `None` (unset or empty) turns publishing off.
    pub event_bus_name: Option<String>,
}

/// A setting is missing or malformed. The message names the variable, never a
/// secret value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A required variable is unset or empty.
    #[error("missing configuration: {0} must be set")]
    Missing(&'static str),
    /// A variable has a value that cannot be used.
    #[error("invalid configuration: {name} {reason}")]
    Invalid {
        /// The variable.
        name: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// The setting `name` as a positive integer: `default` when unset (`None`),
/// an error naming it when it is not a positive integer.
pub fn positive_integer<T: std::str::FromStr + PartialOrd + Default>(
    value: Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError> {
    match value {
        None => Ok(default),
        Some(v) => match v.trim().parse::<T>() {
            Ok(n) if n > T::default() => Ok(n),
            _ => Err(ConfigError::Invalid {
                name,
                reason: "must be a positive integer",
            }),
        },
    }
}

impl Config {
    /// Reads the configuration from the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Reads the configuration through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| lookup(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let secrets = match (get("WEBHOOK_SECRETS"), get("WEBHOOK_SECRETS_ARN")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::Invalid {
                    name: "WEBHOOK_SECRETS",
                    reason: "and WEBHOOK_SECRETS_ARN are both set; set one",
                })
            }
            (Some(json), None) => Some(SecretsSource::Inline(json)),
            (None, Some(arn)) => Some(SecretsSource::SecretsManager { arn }),
            (None, None) => None,
        };
        let tolerance_s: u64 = positive_integer(
            get("SIGNATURE_TOLERANCE_SECONDS"),
            "SIGNATURE_TOLERANCE_SECONDS",
            300,
        )?;
        let lease_s: u32 =
            positive_integer(get("LEDGER_LEASE_SECONDS"), "LEDGER_LEASE_SECONDS", 30)?;
        let refresh_s: u64 = positive_integer(
            get("SECRETS_REFRESH_SECONDS"),
            "SECRETS_REFRESH_SECONDS",
            300,
        )?;
        let sweep_after_s: u32 =
            positive_integer(get("SWEEP_AFTER_SECONDS"), "SWEEP_AFTER_SECONDS", 600)?;
        let max_body_bytes = positive_integer(get("MAX_BODY_BYTES"), "MAX_BODY_BYTES", 262_144)?;
        if max_body_bytes > MAX_BODY_BYTES_LIMIT {
            // The body lives in the ledger item (400 KB at most, with the
            // headers and listing copies beside it): a larger cap would
            // accept events that can never be stored.
            return Err(ConfigError::Invalid {
                name: "MAX_BODY_BYTES",
                reason:
                    "must be at most 380000 (the body is kept in a DynamoDB item of at most 400 KB)",
            });
        }
        Ok(Config {
            events_table: required("EVENTS_TABLE")?,
            status_table: required("STATUS_TABLE")?,
            queue_url: required("QUEUE_URL")?,
            secrets,
            max_body_bytes,
            tolerance_ms: tolerance_s.saturating_mul(1000),
            retention_days: positive_integer(
                get("EVENT_RETENTION_DAYS"),
                "EVENT_RETENTION_DAYS",
                30,
            )?,
            lease_ms: i64::from(lease_s) * 1000,
            secrets_refresh: Duration::from_secs(refresh_s),
            sweep_after_ms: i64::from(sweep_after_s) * 1000,
            sweep_max_attempts: positive_integer(
                get("SWEEP_MAX_ATTEMPTS"),
                "SWEEP_MAX_ATTEMPTS",
                5,
            )?,
            event_bus_name: get("EVENT_BUS_NAME")
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty()),
        })
    }

    /// The secrets source, required by the ingest function.
    pub fn require_secrets(&self) -> Result<&SecretsSource, ConfigError> {
        self.secrets.as_ref().ok_or(ConfigError::Missing(
            "WEBHOOK_SECRETS or WEBHOOK_SECRETS_ARN",
        ))
    }
}

/// The largest `MAX_BODY_BYTES` allowed: DynamoDB's 400 KB item limit less
/// room for the stored headers (allow-listed, a few KB at most) and the
/// capped listing copies of subject and type (2 × 2 KB).
pub const MAX_BODY_BYTES_LIMIT: usize = 380_000;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("EVENTS_TABLE", "events"),
        ("STATUS_TABLE", "status"),
        ("QUEUE_URL", "http://q"),
    ];

    #[test]
    fn defaults_apply() {
        let c = Config::from_lookup(lookup(&BASE)).unwrap();
        assert_eq!(c.max_body_bytes, 262_144);
        assert_eq!(c.tolerance_ms, 300_000);
        assert_eq!(c.retention_days, 30);
        assert!(c.secrets.is_none());
        assert!(c.require_secrets().is_err());
        assert_eq!(c.sweep_after_ms, 600_000);
        assert_eq!(c.sweep_max_attempts, 5);
        assert_eq!(c.event_bus_name, None);
    }

    #[test]
    fn the_default_sweep_waits_out_the_queues_retries() {
        // A message is received up to MAX_RECEIVE_COUNT times, each hidden for
        // the visibility timeout: until then SQS may still deliver it, and a
        // sweep would only add a copy (and use up one of its attempts).
        let retry_window_ms =
            i64::from(crate::schema::MAX_RECEIVE_COUNT * crate::schema::VISIBILITY_TIMEOUT_SECS)
                * 1000;
        let c = Config::from_lookup(lookup(&BASE)).unwrap();
        assert!(
            c.sweep_after_ms > retry_window_ms,
            "SWEEP_AFTER_SECONDS defaults to {} ms, within the queue's {retry_window_ms} ms \
             retry window",
            c.sweep_after_ms
        );
    }

    #[test]
    fn sweep_settings_are_read_and_checked() {
        let mut pairs = BASE.to_vec();
        pairs.push(("SWEEP_AFTER_SECONDS", "1"));
        pairs.push(("SWEEP_MAX_ATTEMPTS", " 2 "));
        let c = Config::from_lookup(lookup(&pairs)).unwrap();
        assert_eq!(c.sweep_after_ms, 1000);
        assert_eq!(c.sweep_max_attempts, 2);
        for (name, bad) in [
            ("SWEEP_AFTER_SECONDS", "0"),
            ("SWEEP_AFTER_SECONDS", "-5"),
            ("SWEEP_AFTER_SECONDS", "soon"),
            ("SWEEP_MAX_ATTEMPTS", "0"),
            ("SWEEP_MAX_ATTEMPTS", "1.5"),
        ] {
            let mut pairs = BASE.to_vec();
            pairs.push((name, bad));
            let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
            assert!(err.to_string().contains(name), "{name}={bad}: {err}");
        }
    }

    #[test]
    fn errors_name_the_variable() {
        let err = Config::from_lookup(lookup(&BASE[1..])).unwrap_err();
        assert_eq!(err, ConfigError::Missing("EVENTS_TABLE"));
        let mut pairs = BASE.to_vec();
        pairs.push(("MAX_BODY_BYTES", "380001"));
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("MAX_BODY_BYTES"), "{err}");
        pairs.pop();
        pairs.push(("MAX_BODY_BYTES", "lots"));
        let err = Config::from_lookup(lookup(&pairs)).unwrap_err();
        assert!(err.to_string().contains("MAX_BODY_BYTES"), "{err}");
        let mut pairs = BASE.to_vec();
        pairs.push(("WEBHOOK_SECRETS", "{}"));
        pairs.push(("WEBHOOK_SECRETS_ARN", "arn"));
        assert!(Config::from_lookup(lookup(&pairs)).is_err());
    }

    #[test]
    fn inline_secrets_are_not_shown() {
        let mut pairs = BASE.to_vec();
        pairs.push(("WEBHOOK_SECRETS", r#"{"subnoto":["whsec_hidden"]}"#));
        let c = Config::from_lookup(lookup(&pairs)).unwrap();
        assert!(!format!("{c:?}").contains("whsec_hidden"));
    }
}
