//! The archiver's settings, read once at cold start. Names are the design's
//! and template.yaml's (checked by tests/tests/template/archiver.rs).

use std::time::Duration;

use store::SecretsSource;

use crate::egress::DocumentUrlPolicy;

/// One provider's API: base URL and credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiConfig {
    /// Base URL (no trailing slash).
    pub base_url: String,
    /// The credential.
    pub credentials: SecretsSource,
}

/// DocuSign's API: the auth server, the REST base when fixed, the credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocuSignConfig {
    /// `https://` + `DOCUSIGN_AUTH_HOST` (a full URL is kept as given).
    pub auth: String,
    /// `DOCUSIGN_API_BASE_URL`.
    pub base_url: Option<String>,
    /// The credential.
    pub credentials: SecretsSource,
}

/// The archiver's configuration.
#[derive(Debug, Clone)]
pub struct ArchiverConfig {
    /// `STATUS_TABLE`.
    pub status_table: String,
    /// `ARCHIVE_BUCKET`.
    pub bucket: String,
    /// `ARCHIVE_QUEUE_URL`: the queue this function consumes (for back-off
    /// through the message visibility).
    pub queue_url: String,
    /// `ARCHIVE_DLQ_URL`: its dead-letter queue; a message retrying cannot
    /// help (unusable, too large, a redirect) is moved there at once.
    pub dlq_url: String,
    /// `EVENT_BUS_NAME`; `None` (unset or empty) = do not publish.
    pub event_bus: Option<String>,
    /// `SPOTDRAFT_API_BASE_URL` + `SPOTDRAFT_API_CREDENTIALS[_ARN]`; `None` when
    /// the base URL is unset: SpotDraft executions are then counted as
    /// `archive_not_configured`.
    pub spotdraft: Option<ApiConfig>,
    /// `SUBNOTO_API_URL` (Subnoto's encryption proxy) +
    /// `SUBNOTO_API_CREDENTIALS[_ARN]`; `None`: not configured, counted.
    pub subnoto: Option<ApiConfig>,
    /// DocuSign: `DOCUSIGN_AUTH_HOST` (`account-d.docusign.com` demo,
    /// `account.docusign.com` production; no default, so a production
    /// deployment never talks to demo) + `DOCUSIGN_API_CREDENTIALS[_ARN]` +
    /// `DOCUSIGN_API_BASE_URL` (optional: else `oauth/userinfo`'s
    /// `base_uri`); `None` when the auth host is unset: not configured.
    pub docusign: Option<DocuSignConfig>,
    /// `MAX_DOCUMENT_BYTES` (default 268435456 = 256 MiB).
    pub max_document_bytes: u64,
    /// `SECRETS_REFRESH_SECONDS` (default 300).
    pub secrets_refresh: Duration,
    /// `SPOTDRAFT_REQUESTS_PER_SECOND` (default 4): this process's pace on
    /// SpotDraft's API. With the event source mapping's maximum concurrency
    /// of 2, the function stays under SpotDraft's 10 requests/s per workspace.
    pub spotdraft_rps: u32,
    /// Where SpotDraft's download URLs may point: `DOCUMENT_HOST_ALLOWLIST`
    /// (comma-separated host suffixes; empty = any public host) and
    /// `ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS` (local development only:
    /// `http` and loopback; the template never sets it).
    pub document_urls: DocumentUrlPolicy,
}

/// A setting is missing or malformed; the message names it, never a value
/// (the functions share one error).
pub use store::ConfigError;

/// Every variable the archiver reads (the template test holds the function's
/// environment to this list).
pub const ENV_NAMES: &[&str] = &[
    "STATUS_TABLE",
    "ARCHIVE_BUCKET",
    "ARCHIVE_QUEUE_URL",
    "ARCHIVE_DLQ_URL",
    "EVENT_BUS_NAME",
    "SPOTDRAFT_API_BASE_URL",
    "SPOTDRAFT_API_CREDENTIALS",
    "SPOTDRAFT_API_CREDENTIALS_ARN",
    "SUBNOTO_API_URL",
    "SUBNOTO_API_CREDENTIALS",
    "SUBNOTO_API_CREDENTIALS_ARN",
    "DOCUSIGN_AUTH_HOST",
    "DOCUSIGN_API_BASE_URL",
    "DOCUSIGN_API_CREDENTIALS",
    "DOCUSIGN_API_CREDENTIALS_ARN",
    "MAX_DOCUMENT_BYTES",
    "SECRETS_REFRESH_SECONDS",
    "SPOTDRAFT_REQUESTS_PER_SECOND",
    "DOCUMENT_HOST_ALLOWLIST",
    "ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS",
];

/// Of [`ENV_NAMES`], those for local development and tests only: never set
/// by the template (checked by tests/tests/template/archiver.rs).
pub const DEV_ONLY_ENV_NAMES: &[&str] = &["ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS"];

impl ArchiverConfig {
    /// From the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Through `lookup` (the environment, or a map in tests).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let get = |name: &'static str| {
            lookup(name)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let required = |name: &'static str| get(name).ok_or(ConfigError::Missing(name));
        let number =
            |name: &'static str, default: u64| store::positive_integer(get(name), name, default);
        let credentials = |inline: &'static str, arn: &'static str| match (get(inline), get(arn)) {
            (Some(_), Some(_)) => Err(ConfigError::Invalid {
                name: inline,
                reason: "and its _ARN variant are both set; set one",
            }),
            (Some(json), None) => Ok(SecretsSource::Inline(json)),
            (None, Some(arn)) => Ok(SecretsSource::SecretsManager { arn }),
            (None, None) => Err(ConfigError::Missing(inline)),
        };
        let base_url = |name: &'static str| -> Result<Option<String>, ConfigError> {
            match get(name) {
                None => Ok(None),
                Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                    Ok(Some(url.trim_end_matches('/').to_owned()))
                }
                Some(_) => Err(ConfigError::Invalid {
                    name,
                    reason: "must be an http(s) URL",
                }),
            }
        };
        let allow_insecure = match get("ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS").as_deref() {
            None | Some("false") | Some("0") => false,
            Some("true") | Some("1") => true,
            Some(_) => {
                return Err(ConfigError::Invalid {
                    name: "ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS",
                    reason: "must be true or false",
                })
            }
        };
        let spotdraft = match base_url("SPOTDRAFT_API_BASE_URL")? {
            None => None,
            Some(url) => Some(ApiConfig {
                // SpotDraft's guide warns against a doubled /api.
                base_url: url.trim_end_matches("/api").to_owned(),
                credentials: credentials(
                    "SPOTDRAFT_API_CREDENTIALS",
                    "SPOTDRAFT_API_CREDENTIALS_ARN",
                )?,
            }),
        };
        let subnoto = match base_url("SUBNOTO_API_URL")? {
            None => None,
            Some(url) => Some(ApiConfig {
                base_url: url,
                credentials: credentials("SUBNOTO_API_CREDENTIALS", "SUBNOTO_API_CREDENTIALS_ARN")?,
            }),
        };
        let docusign = match get("DOCUSIGN_AUTH_HOST") {
            None => None,
            Some(host) => Some(DocuSignConfig {
                auth: if host.contains("://") {
                    host.trim_end_matches('/').to_owned()
                } else if !host.is_empty() && !host.contains('/') {
                    format!("https://{host}")
                } else {
                    return Err(ConfigError::Invalid {
                        name: "DOCUSIGN_AUTH_HOST",
                        reason: "must be a host name such as account.docusign.com",
                    });
                },
                base_url: base_url("DOCUSIGN_API_BASE_URL")?,
                credentials: credentials(
                    "DOCUSIGN_API_CREDENTIALS",
                    "DOCUSIGN_API_CREDENTIALS_ARN",
                )?,
            }),
        };
        Ok(ArchiverConfig {
            status_table: required("STATUS_TABLE")?,
            bucket: required("ARCHIVE_BUCKET")?,
            queue_url: required("ARCHIVE_QUEUE_URL")?,
            dlq_url: required("ARCHIVE_DLQ_URL")?,
            event_bus: get("EVENT_BUS_NAME"),
            spotdraft,
            subnoto,
            docusign,
            max_document_bytes: number("MAX_DOCUMENT_BYTES", 268_435_456)?,
            secrets_refresh: Duration::from_secs(number("SECRETS_REFRESH_SECONDS", 300)?),
            spotdraft_rps: number("SPOTDRAFT_REQUESTS_PER_SECOND", 4)?.min(10) as u32,
            document_urls: DocumentUrlPolicy {
                allow_insecure,
                host_allowlist: DocumentUrlPolicy::parse_allowlist(
                    &get("DOCUMENT_HOST_ALLOWLIST").unwrap_or_default(),
                ),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Result<ArchiverConfig, ConfigError> {
        let mut map: HashMap<String, String> = [
            ("STATUS_TABLE", "status"),
            ("ARCHIVE_BUCKET", "bucket"),
            ("ARCHIVE_QUEUE_URL", "http://q"),
            ("ARCHIVE_DLQ_URL", "http://dlq"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        for (k, v) in pairs {
            map.insert(k.to_string(), v.to_string());
        }
        ArchiverConfig::from_lookup(|k| map.get(k).cloned())
    }

    #[test]
    fn providers_are_optional_and_defaults_apply() {
        let c = config(&[]).unwrap();
        assert!(c.spotdraft.is_none() && c.subnoto.is_none() && c.event_bus.is_none());
        assert!(c.docusign.is_none());
        let c = config(&[
            ("DOCUSIGN_AUTH_HOST", "account.docusign.com"),
            ("DOCUSIGN_API_CREDENTIALS_ARN", "arn:d"),
        ])
        .unwrap();
        let ds = c.docusign.unwrap();
        assert_eq!(ds.auth, "https://account.docusign.com");
        assert_eq!(ds.base_url, None);
        assert_eq!(
            config(&[("DOCUSIGN_AUTH_HOST", "account.docusign.com")]).unwrap_err(),
            ConfigError::Missing("DOCUSIGN_API_CREDENTIALS")
        );
        assert!(config(&[
            ("DOCUSIGN_AUTH_HOST", "account.docusign.com/oauth"),
            ("DOCUSIGN_API_CREDENTIALS_ARN", "arn:d"),
        ])
        .is_err());
        assert_eq!(c.max_document_bytes, 256 * 1024 * 1024);
        assert_eq!(c.spotdraft_rps, 4);
        assert_eq!(c.document_urls, DocumentUrlPolicy::default());
        let c = config(&[
            ("ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS", "true"),
            ("DOCUMENT_HOST_ALLOWLIST", ".amazonaws.com,spotdraft.com"),
        ])
        .unwrap();
        assert!(c.document_urls.allow_insecure);
        assert_eq!(
            c.document_urls.host_allowlist,
            ["amazonaws.com", "spotdraft.com"]
        );
        assert!(config(&[("ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS", "yes")]).is_err());
        let c = config(&[
            (
                "SPOTDRAFT_API_BASE_URL",
                "https://api.eu.spotdraft.com/api/",
            ),
            ("SPOTDRAFT_API_CREDENTIALS_ARN", "arn:x"),
            ("EVENT_BUS_NAME", " bus "),
        ])
        .unwrap();
        let sd = c.spotdraft.unwrap();
        assert_eq!(sd.base_url, "https://api.eu.spotdraft.com");
        assert_eq!(
            sd.credentials,
            SecretsSource::SecretsManager {
                arn: "arn:x".into()
            }
        );
        assert_eq!(c.event_bus.as_deref(), Some("bus"));
    }

    #[test]
    fn errors_name_the_variable_and_never_the_secret() {
        let err = config(&[("SPOTDRAFT_API_BASE_URL", "https://x")]).unwrap_err();
        assert_eq!(err, ConfigError::Missing("SPOTDRAFT_API_CREDENTIALS"));
        let err = config(&[
            ("SUBNOTO_API_URL", "https://proxy"),
            (
                "SUBNOTO_API_CREDENTIALS",
                r#"{"access_key":"AK","secret_key":"hidden"}"#,
            ),
            ("SUBNOTO_API_CREDENTIALS_ARN", "arn"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("SUBNOTO_API_CREDENTIALS"), "{err}");
        assert!(!err.to_string().contains("hidden"));
        assert!(config(&[("MAX_DOCUMENT_BYTES", "big")]).is_err());
        assert!(config(&[("SPOTDRAFT_API_BASE_URL", "api.spotdraft.com")]).is_err());
        let c = config(&[
            ("SUBNOTO_API_URL", "https://proxy"),
            ("SUBNOTO_API_CREDENTIALS", r#"{"secret_key":"hidden"}"#),
        ])
        .unwrap();
        assert!(!format!("{c:?}").contains("hidden"));
    }
}
