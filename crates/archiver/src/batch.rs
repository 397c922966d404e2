//! Archive-queue batches. Records run one after another (one document in
//! memory at a time, and SpotDraft's rate limit), and every failure ends in
//! one of three ways, none silent and none forever:
//!
//! - **back-off** (429, 401/403, 5xx, timeouts, AWS failing): the message's
//!   visibility is set to the wait (`Retry-After` for a 429, a long pause for
//!   refused credentials, exponential by receive count otherwise) and the
//!   record is reported as a batch item failure; past the queue's max receive
//!   count SQS moves it to the dead-letter queue;
//! - **dead letter** (retrying cannot help: an unusable message, a redirect,
//!   a document over `MAX_DOCUMENT_BYTES`, a contract that does not exist):
//!   sent to the DLQ at once with the reason, then deleted;
//! - after a 429 or refused credentials, the batch's later records of the
//!   same provider are deferred the same way without calling it again.

use std::collections::HashMap;
use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use store::archive::Recorded;
use store::{Meter, Metrics};
use verify::Provider;

use crate::archive::{archive, Archived};
use crate::event::{parse, Request};
use crate::http::Class;
use crate::{App, FUNCTION};

/// Visibility after refused credentials: no hot loop while someone fixes them.
pub const CREDENTIALS_BACKOFF_SECS: u32 = 300;
/// First back-off of a transient failure; doubles per receive.
pub const TRANSIENT_BACKOFF_SECS: u32 = 30;
/// Longest transient back-off.
pub const MAX_TRANSIENT_BACKOFF_SECS: u32 = 900;

/// The back-off of a transient failure on its `receive_count`-th receive.
pub fn transient_backoff(receive_count: u32) -> u32 {
    let doublings = receive_count.saturating_sub(1).min(10);
    TRANSIENT_BACKOFF_SECS
        .saturating_mul(1 << doublings)
        .min(MAX_TRANSIENT_BACKOFF_SECS)
}

/// What became of one record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Stored and recorded: `archived` (uploaded now), `already_archived`
    /// (the object was there), `superseded` (the item names a newer version).
    Done(&'static str),
    /// Nothing to do: `ignored`, `archive_not_configured`.
    Skipped(&'static str),
    /// Moved to the DLQ with this reason.
    DeadLettered(&'static str),
    /// Reported as failed, hidden for this many seconds.
    Retrying {
        /// Reason code.
        reason: &'static str,
        /// Visibility set.
        after_secs: u32,
    },
}

impl Outcome {
    fn failed(&self) -> bool {
        matches!(self, Outcome::Retrying { .. })
    }
}

/// A batch's outcomes, in record order, with their `messageId`s.
#[derive(Debug, Default, Clone)]
pub struct BatchReport {
    /// (messageId, outcome).
    pub outcomes: Vec<(Option<String>, Outcome)>,
}

impl BatchReport {
    /// The partial-batch answer: the records to retry.
    pub fn response(&self) -> SqsBatchResponse {
        let mut response = SqsBatchResponse::default();
        for (id, outcome) in &self.outcomes {
            if outcome.failed() {
                // A record without messageId cannot be named; "" makes
                // Lambda treat the whole batch as failed, never as done.
                response.add_failure(id.clone().unwrap_or_default());
            }
        }
        response
    }

    /// Counters: every outcome name, plus `failed` (reported for retry).
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::new(FUNCTION);
        for (_, outcome) in &self.outcomes {
            match outcome {
                Outcome::Done(name) | Outcome::Skipped(name) => m.count(name, 1),
                Outcome::DeadLettered(reason) => m.count("dead_lettered", 1).count(reason, 1),
                Outcome::Retrying { reason, .. } => m.count("failed", 1).count(reason, 1),
            };
        }
        m
    }

    /// Count of an outcome name (tests).
    pub fn count(&self, name: &str) -> usize {
        self.outcomes
            .iter()
            .filter(|(_, o)| match o {
                Outcome::Done(n) | Outcome::Skipped(n) | Outcome::DeadLettered(n) => *n == name,
                Outcome::Retrying { reason, .. } => *reason == name || name == "failed",
            })
            .count()
    }
}

/// Handles a batch: processes it, logs a summary, prints its metrics.
pub async fn handle_batch(app: &App, event: &SqsEvent) -> SqsBatchResponse {
    let meter = Meter::start(&app.calls);
    let report = process_batch(app, event).await;
    let failed = report.outcomes.iter().filter(|(_, o)| o.failed()).count();
    tracing::info!(
        records = report.outcomes.len(),
        failed,
        latency_ms = meter.latency_ms(),
        aws_calls = meter.aws_calls(),
        "batch"
    );
    report.metrics().emit();
    report.response()
}

/// Processes a batch, one record after another.
pub async fn process_batch(app: &App, event: &SqsEvent) -> BatchReport {
    let mut blocked: HashMap<Provider, (&'static str, u32)> = HashMap::new();
    let mut report = BatchReport::default();
    for record in &event.records {
        let outcome = process_record(app, record, &mut blocked).await;
        report.outcomes.push((record.message_id.clone(), outcome));
    }
    report
}

fn receive_count(record: &SqsMessage) -> u32 {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

async fn process_record(
    app: &App,
    record: &SqsMessage,
    blocked: &mut HashMap<Provider, (&'static str, u32)>,
) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or("-");
    let receives = receive_count(record);
    let body = record.body.as_deref().unwrap_or("");
    let request = match parse(body) {
        Ok(Request::Archive(request)) => request,
        Ok(Request::Ignore(why)) => {
            tracing::info!(message_id, outcome = "ignored", why, "record");
            return Outcome::Skipped("ignored");
        }
        Err(err) => {
            let message = err.to_string();
            return dead_letter(app, record, "unusable_message", &message, None).await;
        }
    };
    let provider = request.provider.as_str();
    let subject = request.subject.as_str();
    let id = request.id.as_str();
    if let Some((reason, after_secs)) = blocked.get(&request.provider).copied() {
        tracing::warn!(
            message_id,
            provider,
            subject,
            id,
            outcome = "deferred",
            reason,
            retry_in_s = after_secs,
            "record"
        );
        return retry(app, record, reason, after_secs).await;
    }
    let meter = Meter::start(&app.calls);
    match archive(app, &request).await {
        Ok(Archived::NotConfigured) => {
            tracing::info!(
                message_id,
                provider,
                subject,
                id,
                outcome = "archive_not_configured",
                "record"
            );
            Outcome::Skipped("archive_not_configured")
        }
        Ok(Archived::Stored {
            record: doc,
            uploaded,
            recorded,
            published,
        }) => {
            let outcome = match (&recorded, uploaded) {
                (Recorded::Newer(_), _) => "superseded",
                (_, true) => "archived",
                (_, false) => "already_archived",
            };
            tracing::info!(
                message_id,
                provider,
                subject,
                id,
                outcome,
                version = %doc.version,
                sha256 = %doc.sha256,
                bytes = doc.bytes,
                s3_uri = %doc.s3_uri,
                published,
                latency_ms = meter.latency_ms(),
                aws_calls = meter.aws_calls(),
                "record"
            );
            Outcome::Done(outcome)
        }
        Err(err) => {
            let reason = err.reason();
            let message = err.to_string();
            match err.class() {
                Class::Permanent => {
                    dead_letter(app, record, reason, &message, Some((provider, subject, id))).await
                }
                class => {
                    let after_secs = match class {
                        Class::Throttled(wait) => secs(wait),
                        Class::Credentials => CREDENTIALS_BACKOFF_SECS,
                        _ => transient_backoff(receives),
                    };
                    tracing::error!(
                        message_id,
                        receive_count = receives,
                        provider,
                        subject,
                        id,
                        outcome = "retrying",
                        reason,
                        error = %message,
                        retry_in_s = after_secs,
                        "record"
                    );
                    match class {
                        Class::Throttled(_) => {
                            blocked.insert(request.provider, ("throttled", after_secs));
                        }
                        Class::Credentials => {
                            blocked.insert(request.provider, ("credentials_rejected", after_secs));
                            refresh_credentials(app, request.provider).await;
                        }
                        _ => {}
                    }
                    retry(app, record, reason, after_secs).await
                }
            }
        }
    }
}

fn secs(wait: Duration) -> u32 {
    let s = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    s.clamp(1, 43_200) as u32
}

async fn refresh_credentials(app: &App, provider: Provider) {
    let refreshed = match provider {
        Provider::SpotDraft => match &app.spotdraft {
            Some(api) => api.credentials().refresh_after_refusal().await,
            None => false,
        },
        Provider::Subnoto => match &app.subnoto {
            Some(api) => api.credentials().refresh_after_refusal().await,
            None => false,
        },
        Provider::DocuSign => false,
    };
    if refreshed {
        tracing::info!(
            provider = provider.as_str(),
            "API credentials re-read after a refusal"
        );
    }
}

async fn retry(app: &App, record: &SqsMessage, reason: &'static str, after_secs: u32) -> Outcome {
    if let Some(handle) = record.receipt_handle.as_deref() {
        if let Err(err) =
            store::archive::change_visibility(&app.sqs, &app.queue_url, handle, after_secs).await
        {
            // The queue's own visibility timeout applies instead.
            tracing::warn!(message_id = record.message_id.as_deref().unwrap_or("-"), error = %err, "back-off not set");
        }
    }
    Outcome::Retrying { reason, after_secs }
}

async fn dead_letter(
    app: &App,
    record: &SqsMessage,
    reason: &'static str,
    message: &str,
    what: Option<(&str, &str, &str)>,
) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or("-");
    let (provider, subject, id) = what.unwrap_or(("-", "-", "-"));
    let body = record.body.as_deref().unwrap_or("");
    match store::archive::dead_letter(&app.sqs, &app.dlq_url, body, reason, message).await {
        Ok(()) => {
            tracing::error!(message_id, provider, subject, id, outcome = "dead_lettered", reason, error = %message, "record");
            Outcome::DeadLettered(reason)
        }
        Err(err) => {
            let after_secs = transient_backoff(receive_count(record));
            tracing::error!(message_id, provider, subject, id, outcome = "retrying", reason, error = %message, dlq_error = %err, retry_in_s = after_secs, "record");
            retry(app, record, reason, after_secs).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_back_off_doubles_to_a_cap() {
        assert_eq!(transient_backoff(1), 30);
        assert_eq!(transient_backoff(2), 60);
        assert_eq!(transient_backoff(5), 480);
        assert_eq!(transient_backoff(6), 900);
        assert_eq!(transient_backoff(u32::MAX), 900);
        assert_eq!(secs(Duration::from_millis(1500)), 2);
        assert_eq!(secs(Duration::ZERO), 1);
    }

    #[test]
    fn only_retrying_records_are_reported() {
        let report = BatchReport {
            outcomes: vec![
                (Some("a".into()), Outcome::Done("archived")),
                (
                    Some("b".into()),
                    Outcome::Retrying {
                        reason: "throttled",
                        after_secs: 3,
                    },
                ),
                (Some("c".into()), Outcome::DeadLettered("too_large")),
                (Some("d".into()), Outcome::Skipped("archive_not_configured")),
            ],
        };
        let ids: Vec<_> = report
            .response()
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(ids, ["b"]);
        let m = report.metrics();
        assert_eq!(
            (
                m.get("archived"),
                m.get("failed"),
                m.get("throttled"),
                m.get("dead_lettered"),
                m.get("too_large")
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(m.get("archive_not_configured"), 1);
    }
}
