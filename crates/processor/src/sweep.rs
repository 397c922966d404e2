//! The scheduled sweep: finds ledger items accepted but still unprocessed
//! `SWEEP_AFTER_SECONDS` after arrival (a `Query` per shard of the sparse
//! pending index, never a scan), re-enqueues them while attempts remain and
//! marks them `FAILED` once `SWEEP_MAX_ATTEMPTS` enqueues have not helped.

use futures::future::join_all;
use futures::{stream, StreamExt};
use serde::Serialize;
use store::schema::{status, PENDING_SHARDS};
use store::{Metrics, PendingEntry, QueueMessage, StoreError};

use crate::app::{App, FUNCTION};

/// Items handled at once.
const CONCURRENCY: usize = 8;

/// What a sweep did.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct SweepReport {
    /// Unprocessed items older than the threshold that were looked at.
    pub due: usize,
    /// Put on the queue again.
    pub requeued: usize,
    /// Marked `FAILED` (attempts used up, or the stored event is unreadable).
    pub failed: usize,
    /// Left alone: an enqueue lease still runs, or another writer got there
    /// first (the index is eventually consistent).
    pub skipped: usize,
    /// Items or shards where DynamoDB or SQS failed; the next run retries.
    pub errors: usize,
}

impl SweepReport {
    /// The sweep's metrics: `requeued`, `marked_failed`, `sweep_skipped`,
    /// `sweep_errors`.
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::new(FUNCTION);
        m.count("requeued", self.requeued as u64)
            .count("marked_failed", self.failed as u64)
            .count("sweep_skipped", self.skipped as u64)
            .count("sweep_errors", self.errors as u64);
        m
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Action {
    Requeued,
    MarkedFailed,
    Skipped,
    Error,
}

/// Runs the sweep as of `now_ms`, logs a summary line and prints its metrics.
pub async fn run_sweep(app: &App, now_ms: i64) -> SweepReport {
    let meter = store::Meter::start(&app.calls);
    let report = sweep(app, now_ms).await;
    // What the run cost, as the `batch` line reports it for a batch.
    let (latency_ms, aws_calls) = (meter.latency_ms(), meter.aws_calls());
    if report.errors > 0 || report.failed > 0 {
        tracing::warn!(
            due = report.due,
            requeued = report.requeued,
            failed = report.failed,
            skipped = report.skipped,
            errors = report.errors,
            latency_ms,
            aws_calls,
            "sweep"
        );
    } else {
        tracing::info!(
            due = report.due,
            requeued = report.requeued,
            failed = report.failed,
            skipped = report.skipped,
            errors = report.errors,
            latency_ms,
            aws_calls,
            "sweep"
        );
    }
    report.metrics().emit();
    report
}

/// The sweep as of `now_ms` (a parameter, so tests control the clock).
pub async fn sweep(app: &App, now_ms: i64) -> SweepReport {
    let before = now_ms.saturating_sub(app.sweep_after_ms);
    let shards = join_all(
        (0..PENDING_SHARDS)
            .map(|shard| app.ledger.pending(shard, before, app.sweep_limit_per_shard)),
    )
    .await;
    let mut report = SweepReport::default();
    let mut due = Vec::new();
    for (shard, result) in shards.into_iter().enumerate() {
        match result {
            Ok(entries) => due.extend(entries),
            Err(err) => {
                tracing::error!(shard, error = %err, "sweep query failed");
                report.errors += 1;
            }
        }
    }
    report.due = due.len();
    let actions: Vec<Action> = stream::iter(due)
        .map(|entry| sweep_one(app, entry, now_ms))
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    for action in actions {
        match action {
            Action::Requeued => report.requeued += 1,
            Action::MarkedFailed => report.failed += 1,
            Action::Skipped => report.skipped += 1,
            Action::Error => report.errors += 1,
        }
    }
    report
}

async fn sweep_one(app: &App, entry: PendingEntry, now_ms: i64) -> Action {
    let key = entry.key.as_str();
    let attempts = entry.stored.enqueue_attempts;
    let result = decide(app, &entry, now_ms).await;
    match &result {
        Ok(action) => {
            let action_name = match action {
                Action::Requeued => "requeued",
                Action::MarkedFailed => "marked_failed",
                Action::Skipped => "skipped",
                Action::Error => "error",
            };
            if *action == Action::MarkedFailed {
                tracing::warn!(key, attempts, action = action_name, "swept");
            } else {
                tracing::info!(key, attempts, action = action_name, "swept");
            }
        }
        Err(err) => tracing::error!(key, attempts, action = "error", error = %err, "swept"),
    }
    result.unwrap_or(Action::Error)
}

async fn decide(app: &App, entry: &PendingEntry, now_ms: i64) -> Result<Action, StoreError> {
    if entry.stored.status != status::RECEIVED {
        return Ok(Action::Skipped);
    }
    let give_up = |reason: &'static str| async move {
        tracing::warn!(key = %entry.key, reason, "giving up on event");
        Ok(if app.ledger.mark_failed(&entry.key, now_ms).await? {
            Action::MarkedFailed
        } else {
            Action::Skipped
        })
    };
    if !entry.stored.needs_enqueue(now_ms) {
        // The last enqueue's lease still runs: that attempt may be in flight.
        return Ok(Action::Skipped);
    }
    if entry.stored.enqueue_attempts >= app.sweep_max_attempts {
        return give_up("enqueue attempts used up").await;
    }
    // The index holds no body: read the item (only for events that are due).
    let Some(item) = app.ledger.get(&entry.key).await? else {
        return Ok(Action::Skipped);
    };
    let event = match item.event() {
        Ok(event) => event,
        Err(_) => return give_up("stored body unreadable").await,
    };
    if !app
        .ledger
        .take_lease(&entry.key, &entry.stored, now_ms)
        .await?
    {
        return Ok(Action::Skipped);
    }
    let message = QueueMessage::new(event, entry.received_at_ms).resent();
    if let Err(err) = app.queue.send(&message).await {
        if let Err(release) = app.ledger.release_lease(&entry.key).await {
            tracing::warn!(key = %entry.key, error = %release, "lease release failed; it will expire");
        }
        return Err(err);
    }
    Ok(Action::Requeued)
}
