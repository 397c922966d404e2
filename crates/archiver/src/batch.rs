//! Archive-queue batches. Records run one after another (one document in
//! memory at a time, and SpotDraft's rate limit), and every failure ends in
//! one of three ways, none silent and none forever:
//!
//! - **back-off** (429, 401/403, 5xx, timeouts, a bad or too slow download,
//!   AWS failing): the message's visibility is set to the wait (at least
//!   `Retry-After` for a 429, a long pause for refused credentials,
//!   exponential by receive count otherwise) and the record is reported as a
//!   batch item failure. Retries are bounded by **time**, not by receives: a
//!   record failing once [`RETRY_WINDOW`] has passed since the message was
//!   queued (`SentTimestamp`) is dead-lettered with its last reason. The
//!   queue's max receive count (1000) is only a backstop the back-offs keep
//!   out of reach within the window, so a busy hour of 429s spends nothing;
//! - **dead letter** (retrying cannot help: an unusable message, a redirect,
//!   a document over `MAX_DOCUMENT_BYTES`, a refused download URL, a contract
//!   that does not exist): sent to the DLQ at once with the reason, then
//!   deleted;
//! - after a 429 or refused credentials, the batch's later records of the
//!   same provider are deferred the same way without calling it again.
//!
//! Each record's document download ends by the invocation's deadline less
//! [`DEADLINE_MARGIN`], so there is time left to abort the upload and set
//! the back-off.

use std::collections::HashMap;
use std::time::Duration;

use tokio::time::Instant;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use store::archive::Recorded;
use store::{Meter, Metrics};
use verify::Provider;

use crate::archive::{archive, ArchiveError, Archived};
use crate::event::ArchiveRequest;
use crate::event::{parse, Request};
use crate::http::Class;
use crate::metadata::{capture, Captured};
use crate::{App, FUNCTION};
use store::metadata::MetadataRecorded;

/// How long an archive request keeps being retried, from when its message
/// was queued: 72 h (a weekend of refused credentials or an outage). The
/// first failure after it sends the message to the DLQ with its reason.
/// Below the archive queue's retention (`ARCHIVE_RETENTION_SECS`, 14 days).
pub const RETRY_WINDOW: Duration = Duration::from_secs(72 * 3600);
/// Time kept back from the invocation's deadline for aborting an upload,
/// setting the back-off and reporting.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(15);
/// The function's timeout (template.yaml), for [`process_batch`] outside Lambda.
pub const FUNCTION_TIMEOUT: Duration = Duration::from_secs(120);

/// First visibility after refused credentials (no hot loop while someone
/// fixes them); doubles per receive up to [`MAX_CREDENTIALS_BACKOFF_SECS`].
pub const CREDENTIALS_BACKOFF_SECS: u32 = 300;
/// Longest back-off after refused credentials.
pub const MAX_CREDENTIALS_BACKOFF_SECS: u32 = 3600;
/// First back-off of a transient failure; doubles per receive.
pub const TRANSIENT_BACKOFF_SECS: u32 = 30;
/// Longest transient (and throttled) back-off.
pub const MAX_TRANSIENT_BACKOFF_SECS: u32 = 900;

fn doubling(first: u32, receive_count: u32, max: u32) -> u32 {
    let doublings = receive_count.saturating_sub(1).min(16);
    first.saturating_mul(1 << doublings).min(max)
}

/// The back-off of a transient failure on its `receive_count`-th receive.
pub fn transient_backoff(receive_count: u32) -> u32 {
    doubling(
        TRANSIENT_BACKOFF_SECS,
        receive_count,
        MAX_TRANSIENT_BACKOFF_SECS,
    )
}

/// The back-off of a 429: its `Retry-After` (`retry_after_secs`), but at
/// least 1 s doubling per receive up to 15 min, so a provider answering
/// `Retry-After: 1` for hours costs few receives.
pub fn throttled_backoff(retry_after_secs: u32, receive_count: u32) -> u32 {
    retry_after_secs.max(doubling(1, receive_count, MAX_TRANSIENT_BACKOFF_SECS))
}

/// The back-off after refused credentials on the `receive_count`-th receive.
pub fn credentials_backoff(receive_count: u32) -> u32 {
    doubling(
        CREDENTIALS_BACKOFF_SECS,
        receive_count,
        MAX_CREDENTIALS_BACKOFF_SECS,
    )
}

/// The instant of a Lambda context deadline (ms since the epoch).
pub fn invocation_deadline(deadline_epoch_ms: u64) -> Instant {
    let now_ms = u64::try_from(domain::now_ms()).unwrap_or(0);
    Instant::now() + Duration::from_millis(deadline_epoch_ms.saturating_sub(now_ms))
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

/// Handles a batch due by `deadline`: processes it, logs a summary, prints
/// its metrics.
pub async fn handle_batch(app: &App, event: &SqsEvent, deadline: Instant) -> SqsBatchResponse {
    let meter = Meter::start(&app.calls);
    let report = process_batch_until(app, event, deadline).await;
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

/// Processes a batch as an invocation starting now would ([`FUNCTION_TIMEOUT`]).
pub async fn process_batch(app: &App, event: &SqsEvent) -> BatchReport {
    process_batch_until(app, event, Instant::now() + FUNCTION_TIMEOUT).await
}

/// Processes a batch, one record after another, in an invocation due by
/// `deadline`.
pub async fn process_batch_until(app: &App, event: &SqsEvent, deadline: Instant) -> BatchReport {
    let mut blocked: HashMap<Provider, (&'static str, u32)> = HashMap::new();
    let mut report = BatchReport::default();
    let downloads_until = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline);
    for record in &event.records {
        let outcome = process_record(app, record, &mut blocked, downloads_until).await;
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

/// How long ago the message was queued (`SentTimestamp`, ms), if known.
pub fn message_age(record: &SqsMessage) -> Option<Duration> {
    let sent: i64 = record.attributes.get("SentTimestamp")?.parse().ok()?;
    let age = domain::now_ms().checked_sub(sent)?;
    Some(Duration::from_millis(u64::try_from(age).unwrap_or(0)))
}

/// The message has been retried for [`RETRY_WINDOW`]: its age, then.
fn retries_ran_out(record: &SqsMessage) -> Option<Duration> {
    message_age(record).filter(|age| *age >= RETRY_WINDOW)
}

fn gave_up(age: Duration, message: &str) -> String {
    format!(
        "retried for {} h (the {} h window), last failure: {message}",
        age.as_secs() / 3600,
        RETRY_WINDOW.as_secs() / 3600
    )
}

async fn process_record(
    app: &App,
    record: &SqsMessage,
    blocked: &mut HashMap<Provider, (&'static str, u32)>,
    downloads_until: Instant,
) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or("-");
    let body = record.body.as_deref().unwrap_or("");
    let (request, metadata_job) = match parse(body) {
        Ok(Request::Archive(request)) => (request, false),
        Ok(Request::Metadata(request)) => (request, true),
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
        if let Some(age) = retries_ran_out(record) {
            let message = gave_up(age, "deferred after the provider refused this batch");
            return dead_letter(app, record, reason, &message, Some((provider, subject, id))).await;
        }
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
    if metadata_job {
        return match capture(app, &request).await {
            Ok(Captured::NotConfigured) => not_configured(message_id, &request),
            Ok(Captured::Recorded {
                values,
                recorded,
                published,
            }) => {
                let outcome = match recorded {
                    MetadataRecorded::Written => "metadata_captured",
                    _ => "metadata_unchanged",
                };
                tracing::info!(
                    message_id,
                    provider,
                    subject,
                    id,
                    outcome,
                    values = values.values.len(),
                    sha256 = %values.sha256,
                    published,
                    latency_ms = meter.latency_ms(),
                    aws_calls = meter.aws_calls(),
                    "record"
                );
                Outcome::Done(outcome)
            }
            Err(err) => failed(app, record, &request, err, blocked).await,
        };
    }
    match archive(app, &request, downloads_until).await {
        Ok(Archived::NotConfigured) => not_configured(message_id, &request),
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
        Err(err) => failed(app, record, &request, err, blocked).await,
    }
}

/// A job for a provider whose API this deployment has no settings for:
/// counted and logged, not retried.
fn not_configured(message_id: &str, request: &ArchiveRequest) -> Outcome {
    tracing::info!(
        message_id,
        provider = request.provider.as_str(),
        subject = request.subject.as_str(),
        id = request.id.as_str(),
        outcome = "archive_not_configured",
        "record"
    );
    Outcome::Skipped("archive_not_configured")
}

/// A failed job: dead-lettered at once (permanent, or retried for the
/// whole window) or backed off; a throttle or refused credentials defers the
/// batch's later records of the provider.
async fn failed(
    app: &App,
    record: &SqsMessage,
    request: &ArchiveRequest,
    err: ArchiveError,
    blocked: &mut HashMap<Provider, (&'static str, u32)>,
) -> Outcome {
    let message_id = record.message_id.as_deref().unwrap_or("-");
    let receives = receive_count(record);
    let provider = request.provider.as_str();
    let subject = request.subject.as_str();
    let id = request.id.as_str();
    let reason = err.reason();
    let message = err.to_string();
    match err.class() {
        Class::Permanent => {
            dead_letter(app, record, reason, &message, Some((provider, subject, id))).await
        }
        class => {
            if let Some(age) = retries_ran_out(record) {
                let message = gave_up(age, &message);
                return dead_letter(app, record, reason, &message, Some((provider, subject, id)))
                    .await;
            }
            let after_secs = match class {
                Class::Throttled(wait) => throttled_backoff(secs(wait), receives),
                Class::Credentials => credentials_backoff(receives),
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
        Provider::DocuSign => match &app.docusign {
            Some(api) => api.credentials().refresh_after_refusal().await,
            None => false,
        },
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
        assert_eq!(throttled_backoff(7, 1), 7);
        assert_eq!(throttled_backoff(1, 1), 1);
        assert_eq!(throttled_backoff(1, 4), 8);
        assert_eq!(throttled_backoff(1, 30), 900);
        assert_eq!(throttled_backoff(3600, 30), 3600);
        assert_eq!(credentials_backoff(1), CREDENTIALS_BACKOFF_SECS);
        assert_eq!(credentials_backoff(2), 600);
        assert_eq!(credentials_backoff(9), 3600);
    }

    /// Within the retry window, the back-offs never spend the queue's max
    /// receive count (the backstop), whatever the failure.
    #[test]
    fn the_window_ends_before_the_receive_count_backstop() {
        let window = RETRY_WINDOW.as_secs();
        for (name, backoff) in [
            ("transient", &transient_backoff as &dyn Fn(u32) -> u32),
            ("throttled, Retry-After 1", &|n| throttled_backoff(1, n)),
            ("credentials", &credentials_backoff),
        ] {
            let (mut waited, mut receives) = (0u64, 0u32);
            while waited < window {
                receives += 1;
                waited += u64::from(backoff(receives));
            }
            assert!(
                receives < store::archive::ARCHIVE_MAX_RECEIVE_COUNT / 2,
                "{name}: {receives} receives in the window"
            );
        }
        assert!(
            RETRY_WINDOW.as_secs() + 43_200 < u64::from(store::archive::ARCHIVE_RETENTION_SECS)
        );
    }

    #[test]
    fn the_age_is_read_from_sent_timestamp() {
        let mut record = SqsMessage::default();
        assert_eq!(message_age(&record), None);
        let sent = domain::now_ms() - 73 * 3600 * 1000;
        record
            .attributes
            .insert("SentTimestamp".into(), sent.to_string());
        let age = message_age(&record).unwrap();
        assert!(age >= Duration::from_secs(73 * 3600), "{age:?}");
        assert!(retries_ran_out(&record).is_some());
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
