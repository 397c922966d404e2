use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Response};
use store::{Metrics, StoreError};
use verify::{ParseError, Provider, VerifyError};

/// The function name in metrics.
pub const FUNCTION: &str = "ingest";

/// What became of one request: decides the answer and the log line.
#[derive(Debug)]
pub enum Outcome {
    /// New event stored and queued (202; 200 for DocuSign, which counts no
    /// other code as delivered).
    Accepted {
        /// Provider.
        provider: Provider,
        /// Ledger key.
        key: String,
        /// Payload fields that could not be read (names only; see
        /// `verify::Event::unread_fields`): logged and counted, never refused.
        unread: Vec<&'static str>,
    },
    /// Seen before (200); `requeued` when its lost enqueue was redone.
    Duplicate {
        /// Provider.
        provider: Provider,
        /// Ledger key.
        key: String,
        /// Whether this delivery put it on the queue again.
        requeued: bool,
    },
    /// Signature missing, invalid or stale (401), or content type refused (415).
    Unverified {
        /// Provider.
        provider: Provider,
        /// Why.
        err: VerifyError,
    },
    /// Signed but unreadable (400).
    Unreadable {
        /// Provider.
        provider: Provider,
        /// Why.
        err: ParseError,
    },
    /// Body over the cap (413).
    TooLarge {
        /// Provider.
        provider: Provider,
        /// The cap.
        limit: usize,
    },
    /// No secrets configured for this provider (404: the route is not enabled).
    ProviderNotConfigured(Provider),
    /// Unknown path or provider (404).
    NotFound,
    /// Not POST (405).
    MethodNotAllowed,
    /// DynamoDB or SQS refused the request itself as invalid (400): a retry
    /// could never succeed, so it is not asked for. Every limit an input can
    /// hit is meant to be handled before this (`domain::limits`); this is the
    /// backstop, with an error log line and the `unstorable` reason.
    Unstorable {
        /// Provider.
        provider: Provider,
        /// Ledger key.
        key: String,
        /// What refused it.
        err: StoreError,
    },
    /// DynamoDB or SQS failed (503): the retry is safe.
    DependencyFailed {
        /// Provider.
        provider: Provider,
        /// Ledger key.
        key: String,
        /// What failed.
        err: StoreError,
    },
}

impl Outcome {
    /// The HTTP status for this outcome.
    pub fn status(&self) -> StatusCode {
        match self {
            // DocuSign Connect counts only 200 as delivered (its docs and
            // error-code guide: anything else is a failure it retries).
            Outcome::Accepted { provider, .. } => {
                StatusCode::from_u16(provider.accepted_status()).unwrap_or(StatusCode::ACCEPTED)
            }
            Outcome::Duplicate { .. } => StatusCode::OK,
            Outcome::Unverified {
                err: VerifyError::UnsupportedContentType { .. },
                ..
            } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Outcome::Unverified { .. } => StatusCode::UNAUTHORIZED,
            Outcome::Unreadable { .. } | Outcome::Unstorable { .. } => StatusCode::BAD_REQUEST,
            Outcome::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Outcome::ProviderNotConfigured(_) | Outcome::NotFound => StatusCode::NOT_FOUND,
            Outcome::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Outcome::DependencyFailed { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Short name for logs and metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Accepted { .. } => "accepted",
            Outcome::Duplicate {
                requeued: false, ..
            } => "duplicate",
            Outcome::Duplicate { requeued: true, .. } => "requeued",
            Outcome::Unverified { .. } => "unverified",
            Outcome::Unreadable { .. } => "unreadable",
            Outcome::Unstorable { .. } => "unstorable",
            Outcome::TooLarge { .. } => "too_large",
            Outcome::ProviderNotConfigured(_) => "provider_not_configured",
            Outcome::NotFound => "not_found",
            Outcome::MethodNotAllowed => "method_not_allowed",
            Outcome::DependencyFailed { .. } => "dependency_failed",
        }
    }

    fn provider(&self) -> Option<Provider> {
        match self {
            Outcome::Accepted { provider, .. }
            | Outcome::Duplicate { provider, .. }
            | Outcome::Unverified { provider, .. }
            | Outcome::Unreadable { provider, .. }
            | Outcome::TooLarge { provider, .. }
            | Outcome::DependencyFailed { provider, .. }
            | Outcome::Unstorable { provider, .. }
            | Outcome::ProviderNotConfigured(provider) => Some(*provider),
            Outcome::NotFound | Outcome::MethodNotAllowed => None,
        }
    }

    fn key(&self) -> Option<&str> {
        match self {
            Outcome::Accepted { key, .. }
            | Outcome::Duplicate { key, .. }
            | Outcome::DependencyFailed { key, .. }
            | Outcome::Unstorable { key, .. } => Some(key),
            _ => None,
        }
    }

    /// The reason shown to the caller and logged. Built from error variants that
    /// name headers and fields, never their values, secrets or body content.
    fn reason(&self) -> Option<String> {
        match self {
            Outcome::Unverified { err, .. } => Some(err.to_string()),
            Outcome::Unreadable { err, .. } => Some(err.to_string()),
            Outcome::TooLarge { limit, .. } => Some(format!("body larger than {limit} bytes")),
            Outcome::ProviderNotConfigured(p) => Some(format!("provider {p} is not configured")),
            Outcome::NotFound => Some("not found: POST /webhooks/{spotdraft|subnoto}".into()),
            Outcome::MethodNotAllowed => Some("method not allowed: use POST".into()),
            Outcome::DependencyFailed { .. } => Some("temporarily unavailable, retry later".into()),
            Outcome::Unstorable { .. } => {
                Some("the event cannot be stored (refused as invalid by storage)".into())
            }
            Outcome::Accepted { .. } | Outcome::Duplicate { .. } => None,
        }
    }

    /// The HTTP answer: short JSON, no secrets, no payload.
    pub fn response(&self) -> Response<Body> {
        let body = match (self, self.reason()) {
            (Outcome::Accepted { key, .. }, _) => {
                serde_json::json!({"status": "accepted", "key": key})
            }
            (Outcome::Duplicate { key, .. }, _) => {
                serde_json::json!({"status": "duplicate", "key": key})
            }
            (_, reason) => serde_json::json!({"error": reason.unwrap_or_default()}),
        };
        let mut builder = Response::builder()
            .status(self.status())
            .header(header::CONTENT_TYPE, "application/json");
        match self {
            Outcome::MethodNotAllowed => builder = builder.header(header::ALLOW, "POST"),
            Outcome::DependencyFailed { .. } => builder = builder.header(header::RETRY_AFTER, "5"),
            _ => {}
        }
        builder
            .body(Body::Text(body.to_string()))
            .expect("static status and headers are valid")
    }

    /// The request's CloudWatch metrics (`Function` = `ingest`): `accepted`,
    /// `duplicate` (plus `requeued` when its lost enqueue was redone),
    /// `dependency_failed`, or `rejected`, which is also published per
    /// `Reason` (the outcome name: `unverified`, `unreadable`, `too_large`, …).
    pub fn metrics(&self) -> Metrics {
        let mut metrics = match self {
            Outcome::Accepted { .. }
            | Outcome::Duplicate { .. }
            | Outcome::DependencyFailed { .. } => Metrics::new(FUNCTION),
            _ => Metrics::new(FUNCTION).dimension("Reason", self.name()),
        };
        match self {
            Outcome::Accepted { unread, .. } => metrics
                .count("accepted", 1)
                .count("unread_fields", u64::from(!unread.is_empty())),
            Outcome::Duplicate { requeued, .. } => metrics
                .count("duplicate", 1)
                .count("requeued", u64::from(*requeued)),
            Outcome::DependencyFailed { .. } => metrics.count("dependency_failed", 1),
            _ => metrics.count("rejected", 1),
        };
        metrics
    }

    /// One structured line per request: provider, key, outcome, status, latency,
    /// AWS calls, and the reason for a rejection. Never body content, secrets,
    /// signatures or personal data. Then the request's metrics as one CloudWatch
    /// EMF line on stdout.
    pub fn log(&self, latency_ms: f64, aws_calls: usize) {
        self.log_line(latency_ms, aws_calls);
        self.metrics().emit();
    }

    fn log_line(&self, latency_ms: f64, aws_calls: usize) {
        let provider = self.provider().map(Provider::as_str).unwrap_or("-");
        let key = self.key().unwrap_or("-");
        let status = self.status().as_u16();
        let outcome = self.name();
        match self {
            Outcome::DependencyFailed { err, .. } | Outcome::Unstorable { err, .. } => {
                tracing::error!(
                    provider, key, outcome, status, latency_ms, aws_calls, error = %err, "webhook"
                )
            }
            // Field names only, never their values.
            Outcome::Accepted { unread, .. } if !unread.is_empty() => tracing::warn!(
                provider,
                key,
                outcome,
                status,
                latency_ms,
                aws_calls,
                unread_fields = unread.join(","),
                "webhook"
            ),
            Outcome::Accepted { .. } | Outcome::Duplicate { .. } => {
                tracing::info!(provider, key, outcome, status, latency_ms, aws_calls, "webhook")
            }
            _ => tracing::warn!(
                provider,
                key,
                outcome,
                status,
                latency_ms,
                aws_calls,
                reason = self.reason().unwrap_or_default(),
                "webhook"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn emf(outcome: &Outcome) -> serde_json::Value {
        outcome.metrics().to_emf(1_700_000_000_000)
    }

    fn metric_names(doc: &serde_json::Value) -> Vec<&str> {
        doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect()
    }

    #[test]
    fn outcomes_count_as_the_design_metrics() {
        let key = || "subnoto#k".to_string();
        let accepted = emf(&Outcome::Accepted {
            provider: Provider::Subnoto,
            key: key(),
            unread: vec![],
        });
        assert_eq!(metric_names(&accepted), ["accepted", "unread_fields"]);
        assert_eq!(accepted["unread_fields"], 0);
        let unread = emf(&Outcome::Accepted {
            provider: Provider::Subnoto,
            key: key(),
            unread: vec!["eventTime"],
        });
        assert_eq!(unread["unread_fields"], 1);
        assert_eq!(accepted["accepted"], 1);
        assert_eq!(accepted["Function"], "ingest");
        assert_eq!(
            accepted["_aws"]["CloudWatchMetrics"][0]["Namespace"],
            "ContractHooks"
        );
        assert_eq!(
            accepted["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
            serde_json::json!([["Function"]])
        );

        let requeued = emf(&Outcome::Duplicate {
            provider: Provider::Subnoto,
            key: key(),
            requeued: true,
        });
        assert_eq!(
            (
                requeued["duplicate"].as_u64(),
                requeued["requeued"].as_u64()
            ),
            (Some(1), Some(1))
        );
        let duplicate = emf(&Outcome::Duplicate {
            provider: Provider::Subnoto,
            key: key(),
            requeued: false,
        });
        assert_eq!(
            (
                duplicate["duplicate"].as_u64(),
                duplicate["requeued"].as_u64()
            ),
            (Some(1), Some(0))
        );

        let failed = emf(&Outcome::DependencyFailed {
            provider: Provider::SpotDraft,
            key: key(),
            err: StoreError::Corrupt {
                what: "x",
                reason: "y".into(),
            },
        });
        assert_eq!(metric_names(&failed), ["dependency_failed"]);
    }

    #[test]
    fn rejections_carry_their_reason_dimension() {
        for (outcome, reason) in [
            (
                Outcome::Unverified {
                    provider: Provider::Subnoto,
                    err: VerifyError::SignatureMismatch,
                },
                "unverified",
            ),
            (
                Outcome::TooLarge {
                    provider: Provider::SpotDraft,
                    limit: 10,
                },
                "too_large",
            ),
            (Outcome::NotFound, "not_found"),
            (Outcome::MethodNotAllowed, "method_not_allowed"),
        ] {
            let doc = emf(&outcome);
            assert_eq!(metric_names(&doc), ["rejected"], "{reason}");
            assert_eq!(doc["rejected"], 1);
            assert_eq!(doc["Reason"], reason);
            assert_eq!(
                doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                serde_json::json!([["Function"], ["Function", "Reason"]])
            );
        }
    }
}
