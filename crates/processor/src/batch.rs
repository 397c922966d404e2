//! SQS batches: each record is applied to the status table, then its ledger
//! item is marked processed. Subjects run concurrently; the records that fail
//! are reported individually so SQS redelivers only them (and, past the
//! queue's max receive count, moves them to the dead-letter queue).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use domain::events;
use futures::future::join_all;
use store::{Applied, Change, Meter, Metrics, QueueMessage, StatusTable, StoreError};
use verify::{Event, Provider};

use crate::app::{App, ProcessorError, FUNCTION};

/// Why one record failed.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record has no body.
    #[error("message has no body")]
    NoBody,
    /// The body is not a queue message this code understands.
    #[error("malformed queue message: {0}")]
    Malformed(StoreError),
    /// The status table or the ledger failed; a redelivery may succeed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What became of a batch.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BatchReport {
    /// Records in the batch.
    pub records: usize,
    /// Records that became their subject's state.
    pub updated: usize,
    /// Records older than their subject's state (duplicates included).
    pub superseded: usize,
    /// Records without a subject (only marked processed).
    pub no_subject: usize,
    /// Records whose contract event the bus took (every
    /// applied record when publishing is off).
    pub published: usize,
    /// `messageId` of every failed record (`None` when the record had none).
    pub failed: Vec<Option<String>>,
}

impl BatchReport {
    /// Records done: applied (or superseded, or without subject) and marked
    /// processed in the ledger.
    pub fn processed(&self) -> usize {
        self.updated + self.superseded + self.no_subject
    }

    /// The partial-batch answer: exactly the failed records. Fails the whole
    /// invocation when a failed record cannot be named, so it is never
    /// reported as a success.
    pub fn response(&self) -> Result<SqsBatchResponse, ProcessorError> {
        let unnamed = self.failed.iter().filter(|id| id.is_none()).count();
        if unnamed > 0 {
            return Err(ProcessorError::UnreportableFailures(unnamed));
        }
        let mut response = SqsBatchResponse::default();
        for id in self.failed.iter().flatten() {
            response.add_failure(id.clone());
        }
        Ok(response)
    }

    /// The batch's metrics: `processed` (includes `superseded`), `superseded`,
    /// `failed`, and `published` (records whose contract event the bus took).
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::new(FUNCTION);
        m.count("processed", self.processed() as u64)
            .count("superseded", self.superseded as u64)
            .count("failed", self.failed.len() as u64)
            .count("published", self.published as u64);
        m
    }
}

/// Processes a batch, logs a summary line (with the handler's latency and the
/// AWS calls it made), prints its metrics and returns the partial-batch answer.
pub async fn handle_batch(app: &App, event: SqsEvent) -> Result<SqsBatchResponse, ProcessorError> {
    let meter = Meter::start(&app.calls);
    let report = process_batch(app, &event).await;
    let failed = report.failed.len();
    let (latency_ms, aws_calls) = (meter.latency_ms(), meter.aws_calls());
    if failed > 0 {
        tracing::warn!(
            records = report.records,
            processed = report.processed(),
            superseded = report.superseded,
            failed,
            latency_ms,
            aws_calls,
            "batch"
        );
    } else {
        tracing::info!(
            records = report.records,
            processed = report.processed(),
            superseded = report.superseded,
            failed,
            latency_ms,
            aws_calls,
            "batch"
        );
    }
    report.metrics().emit();
    report.response()
}

/// One SQS record on its way through the batch.
struct Record<'a> {
    sqs: &'a SqsMessage,
    message: Result<QueueMessage, RecordError>,
    phase: Phase,
}

/// How far a record got.
enum Phase {
    /// Not applied yet, or failed (logged): a batch item failure.
    Pending,
    /// Applied to the status table; the event, when it had to be read from
    /// the ledger (sent by reference).
    Applied(Change, Option<Box<Event>>),
    /// Its entry is on the bus (or there is no bus).
    Published(Change),
    /// Marked processed in the ledger.
    Done(Applied),
}

impl Record<'_> {
    fn fail(&mut self, outcome: &str, err: &dyn std::fmt::Display) {
        log_failure(self.sqs, &self.message, outcome, err);
        self.phase = Phase::Pending;
    }
}

/// Processes a batch and tallies the outcomes, in four steps:
///
/// 1. apply each record to the status table. Records of different subjects
///    run concurrently; records of one subject one after another, in batch
///    order, so they never contend for the same status item. A winning write
///    that changes the status keeps the change on the item in the same call;
/// 2. publish every applied record as one entry on the bus (`PutEvents`, ten
///    entries a call: one call for a batch of ten events);
/// 3. forget the kept changes whose entries the bus took (one `UpdateItem` per
///    subject). A copy of an event that is applied before this (a duplicate in
///    flight, a redelivery after a failed publish or a crash) finds the change
///    kept on the item and publishes it as a change too: a change is removed
///    only once it is on the bus, so every change is published at least once;
/// 4. mark processed in the ledger exactly the records whose entry was
///    published. A record that failed is a batch item failure: SQS redelivers
///    it, it applies as a no-op, and its entry is published then.
pub async fn process_batch(app: &App, event: &SqsEvent) -> BatchReport {
    let mut records: Vec<Record> = event
        .records
        .iter()
        .map(|sqs| Record {
            sqs,
            message: parse(sqs),
            phase: Phase::Pending,
        })
        .collect();
    apply_all(app, &mut records).await;
    let published = publish(app, &mut records).await;
    forget_published(app, &mut records).await;
    mark_processed(app, &mut records).await;

    let mut report = BatchReport {
        records: records.len(),
        published,
        ..BatchReport::default()
    };
    for record in &records {
        match record.phase {
            Phase::Done(applied) => match applied {
                Applied::Updated => report.updated += 1,
                Applied::Superseded => report.superseded += 1,
                Applied::NoSubject => report.no_subject += 1,
            },
            _ => report.failed.push(record.sqs.message_id.clone()),
        }
    }
    report
}

/// Step 1: every record applied to the status table, one subject's records
/// in batch order.
async fn apply_all(app: &App, records: &mut [Record<'_>]) {
    let keep_changes = app.bus.is_some();
    let messages: Vec<&Result<QueueMessage, RecordError>> =
        records.iter().map(|r| &r.message).collect();
    let groups = group_by_subject(&messages);
    let records_ref = &*records;
    let done = join_all(groups.into_iter().map(|group| async move {
        let mut out = Vec::with_capacity(group.len());
        for i in group {
            let record = &records_ref[i];
            let outcome = match &record.message {
                Err(err) => Err(("malformed", err.to_string())),
                Ok(message) => apply(app, message, keep_changes)
                    .await
                    .map_err(|err| ("failed", err.to_string())),
            };
            out.push((i, outcome));
        }
        out
    }))
    .await;
    for (i, outcome) in done.into_iter().flatten() {
        match outcome {
            Ok((change, loaded)) => records[i].phase = Phase::Applied(change, loaded.map(Box::new)),
            Err((outcome, err)) => records[i].fail(outcome, &err),
        }
    }
}

/// Step 2: the applied records' contract events in one go, one entry per
/// record (ten a `PutEvents` call). A record whose entry was refused fails;
/// its change stays kept on the status item for the redelivery (or for a
/// copy in flight) to publish. Returns how many entries the bus took (every
/// applied record when there is no bus).
async fn publish(app: &App, records: &mut [Record<'_>]) -> usize {
    let mut published = 0;
    let Some(bus) = &app.bus else {
        for record in records.iter_mut() {
            if let Phase::Applied(change, _) = std::mem::replace(&mut record.phase, Phase::Pending)
            {
                record.phase = Phase::Published(change);
                published += 1;
            }
        }
        return published;
    };
    let mut owners = Vec::new();
    let mut entries = Vec::new();
    for (i, record) in records.iter().enumerate() {
        let (Phase::Applied(change, loaded), Ok(message)) = (&record.phase, &record.message) else {
            continue;
        };
        let delivery = events::Delivery {
            superseded: change.applied == Applied::Superseded && !change.already_applied,
            redelivered: message.resent
                || change.already_applied
                || receive_count(record.sqs)
                    .parse::<u32>()
                    .is_ok_and(|n| n > 1)
                || record
                    .sqs
                    .message_attributes
                    .contains_key(store::REDRIVEN_ATTRIBUTE),
        };
        let event = loaded.as_deref().unwrap_or(&message.event);
        entries.push(events::entry_for(
            event,
            &message.ledger_key,
            message.received_at_ms,
            &change.status_change,
            delivery,
        ));
        owners.push(i);
    }
    if entries.is_empty() {
        return 0;
    }
    for (i, result) in owners.into_iter().zip(bus.put(&entries).await) {
        let record = &mut records[i];
        match result {
            Ok(()) => {
                if let Phase::Applied(change, _) =
                    std::mem::replace(&mut record.phase, Phase::Pending)
                {
                    record.phase = Phase::Published(change);
                    published += 1;
                }
            }
            Err(err) => record.fail("publish_failed", &err),
        }
    }
    published
}

/// Step 3: the kept changes of the published records removed from their
/// status items, one `UpdateItem` per subject. A record whose removal failed
/// fails (its redelivery publishes the change again: a duplicate, never a
/// loss).
async fn forget_published(app: &App, records: &mut [Record<'_>]) {
    let mut by_subject: HashMap<String, (Provider, &str, Vec<usize>)> = HashMap::new();
    for (i, record) in records.iter().enumerate() {
        let (Phase::Published(change), Ok(message)) = (&record.phase, &record.message) else {
            continue;
        };
        let Some(subject) = message.event.subject.as_deref() else {
            continue;
        };
        if change.unpublished {
            let provider = message.event.provider;
            by_subject
                .entry(StatusTable::key(provider, subject))
                .or_insert_with(|| (provider, subject, Vec::new()))
                .2
                .push(i);
        }
    }
    let records_ref = &*records;
    let results = join_all(by_subject.into_values().map(
        |(provider, subject, owners)| async move {
            let mut keys: Vec<&str> = owners
                .iter()
                .filter_map(|i| records_ref[*i].message.as_ref().ok())
                .map(|m| m.event.key.as_str())
                .collect();
            keys.sort_unstable();
            keys.dedup();
            let result = app.status.forget_published(provider, subject, &keys).await;
            (owners, result.map_err(|err| err.to_string()))
        },
    ))
    .await;
    for (owners, result) in results {
        if let Err(err) = result {
            for i in owners {
                records[i].fail("forget_change_failed", &err);
            }
        }
    }
}

/// Step 4: the published records marked processed in the ledger.
async fn mark_processed(app: &App, records: &mut [Record<'_>]) {
    let records_ref = &*records;
    let results = join_all(
        records_ref
            .iter()
            .enumerate()
            .map(|(i, record)| async move {
                let (Phase::Published(_), Ok(message)) = (&record.phase, &record.message) else {
                    return (i, None);
                };
                let result = app
                    .ledger
                    .mark_processed(&message.ledger_key, domain::now_ms())
                    .await;
                (i, Some(result))
            }),
    )
    .await;
    for (i, result) in results {
        let Some(result) = result else { continue };
        let record = &mut records[i];
        let (Phase::Published(change), Ok(message)) = (&record.phase, &record.message) else {
            continue;
        };
        match result {
            Ok(found) => {
                if !found {
                    // Past its retention, or replayed from elsewhere: the
                    // status is applied all the same.
                    tracing::warn!(key = %message.ledger_key, "no ledger item to mark processed");
                }
                let applied = change.applied;
                log_applied(record.sqs, message, applied);
                record.phase = Phase::Done(applied);
            }
            Err(err) => record.fail("failed", &err),
        }
    }
}

/// Record indices grouped by status item, in batch order within a group;
/// records without a subject or unreadable ones form groups of their own.
fn group_by_subject(parsed: &[&Result<QueueMessage, RecordError>]) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    let mut group_of: HashMap<String, usize> = HashMap::new();
    for (i, message) in parsed.iter().enumerate() {
        let subject = message.as_ref().ok().and_then(|m| {
            let subject = m.event.subject.as_deref()?;
            Some(StatusTable::key(m.event.provider, subject))
        });
        match subject {
            Some(key) => {
                let next = groups.len();
                let g = *group_of.entry(key).or_insert(next);
                if g == next {
                    groups.push(Vec::new());
                }
                groups[g].push(i);
            }
            None => groups.push(vec![i]),
        }
    }
    groups
}

fn receive_count(record: &SqsMessage) -> &str {
    record
        .attributes
        .get("ApproximateReceiveCount")
        .map(String::as_str)
        .unwrap_or("-")
}

/// The line of a record that was done. Never logs the payload, titles, names
/// or emails.
fn log_applied(record: &SqsMessage, message: &QueueMessage, applied: Applied) {
    tracing::info!(
        message_id = record.message_id.as_deref().unwrap_or("-"),
        provider = message.event.provider.as_str(),
        key = message.ledger_key.as_str(),
        event_type = message.event.event_type.as_str(),
        outcome = applied.name(),
        "record"
    );
}

/// The line of a record that failed, with why.
fn log_failure(
    record: &SqsMessage,
    message: &Result<QueueMessage, RecordError>,
    outcome: &str,
    err: &dyn std::fmt::Display,
) {
    let message_id = record.message_id.as_deref().unwrap_or("-");
    let receive_count = receive_count(record);
    match message {
        Ok(message) => tracing::error!(
            message_id,
            receive_count,
            provider = message.event.provider.as_str(),
            key = message.ledger_key.as_str(),
            event_type = message.event.event_type.as_str(),
            outcome,
            error = %err,
            "record"
        ),
        Err(_) => tracing::error!(message_id, receive_count, outcome, error = %err, "record"),
    }
}

fn parse(record: &SqsMessage) -> Result<QueueMessage, RecordError> {
    let body = record.body.as_deref().ok_or(RecordError::NoBody)?;
    let message = QueueMessage::from_json(body).map_err(RecordError::Malformed)?;
    if message.ledger_key != message.event.ledger_key() {
        return Err(RecordError::Malformed(StoreError::Corrupt {
            what: "queue message",
            reason: "ledger_key does not match the event".into(),
        }));
    }
    Ok(message)
}

async fn apply(
    app: &App,
    message: &QueueMessage,
    keep_changes: bool,
) -> Result<(Change, Option<Event>), RecordError> {
    if message.by_reference {
        // Too large for a message: the ledger item has the body.
        let entry =
            app.ledger
                .get(&message.ledger_key)
                .await?
                .ok_or_else(|| StoreError::Corrupt {
                    what: "queue message",
                    reason: "sent by reference, but its ledger item is gone".into(),
                })?;
        let event = entry.event()?;
        let change = app
            .status
            .apply_keeping(&event, message.received_at_ms, keep_changes)
            .await?;
        return Ok((change, Some(event)));
    }
    let change = app
        .status
        .apply_keeping(&message.event, message.received_at_ms, keep_changes)
        .await?;
    Ok((change, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn response_names_exactly_the_failed_records() {
        let report = BatchReport {
            records: 4,
            updated: 1,
            superseded: 1,
            no_subject: 0,
            published: 2,
            failed: vec![Some("a".into()), Some("c".into())],
        };
        let response = report.response().unwrap();
        let ids: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        assert_eq!(ids, ["a", "c"]);
        assert_eq!(
            serde_json::to_value(&response).unwrap(),
            serde_json::json!({"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]})
        );
        let m = report.metrics();
        assert_eq!(
            (
                m.get("processed"),
                m.get("superseded"),
                m.get("failed"),
                m.get("published")
            ),
            (2, 1, 2, 2)
        );
    }

    #[test]
    fn a_failure_without_message_id_fails_the_invocation() {
        let report = BatchReport {
            records: 2,
            failed: vec![Some("a".into()), None],
            ..BatchReport::default()
        };
        assert!(matches!(
            report.response(),
            Err(ProcessorError::UnreportableFailures(1))
        ));
    }

    #[test]
    fn records_of_one_subject_are_grouped_in_batch_order() {
        let message = |provider: &str, key: &str, subject: Option<&str>| {
            let mut event =
                serde_json::json!({"provider": provider, "key": key, "event_type": "X"});
            if let Some(s) = subject {
                event["subject"] = s.into();
            }
            let body = serde_json::json!({
                "v": 1, "ledger_key": format!("{provider}#{key}"), "received_at_ms": 1, "event": event
            });
            QueueMessage::from_json(&body.to_string()).map_err(RecordError::Malformed)
        };
        let parsed = [
            message("subnoto", "a", Some("env-1")),
            message("spotdraft", "b", Some("env-1")),
            Err(RecordError::NoBody),
            message("subnoto", "c", Some("env-1")),
            message("subnoto", "d", None),
            message("subnoto", "e", None),
            message("spotdraft", "f", Some("env-1")),
        ];
        let parsed: Vec<_> = parsed.iter().collect();
        assert_eq!(
            group_by_subject(&parsed),
            vec![vec![0, 3], vec![1, 6], vec![2], vec![4], vec![5]]
        );
    }

    #[test]
    fn malformed_bodies_are_record_errors() {
        let mut record = SqsMessage::default();
        assert!(matches!(parse(&record), Err(RecordError::NoBody)));
        for body in [
            "not json",
            "{}",
            r#"{"v":99,"ledger_key":"subnoto#k","received_at_ms":1,"event":{"provider":"subnoto","key":"k","event_type":"X"}}"#,
            r#"{"v":1,"ledger_key":"subnoto#other","received_at_ms":1,"event":{"provider":"subnoto","key":"k","event_type":"X"}}"#,
        ] {
            record.body = Some(body.into());
            assert!(
                matches!(parse(&record), Err(RecordError::Malformed(_))),
                "{body}"
            );
        }
        record.body = Some(
            r#"{"v":1,"ledger_key":"subnoto#k","received_at_ms":1,"event":{"provider":"subnoto","key":"k","event_type":"X"}}"#
                .into(),
        );
        assert!(parse(&record).is_ok());
    }
}
