//! SQS batches: each record is applied to the status table, then its ledger
//! item is marked processed. Subjects run concurrently; the records that fail
//! are reported individually so SQS redelivers only them (and, past the
//! queue's max receive count, moves them to the dead-letter queue).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use store::{
    events, Applied, Change, Meter, Metrics, QueueMessage, StatusChange, StatusTable, StoreError,
};
use verify::Event;

use crate::{App, ProcessorError, FUNCTION};

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

/// Processes a batch and tallies the outcomes, in three steps:
///
/// 1. apply each record to the status table. Records of different subjects
///    run concurrently; records of one subject one after another, in batch
///    order, so they never contend for the same status item;
/// 2. publish every applied record as one entry on the bus (`PutEvents`, ten
///    entries a call: one call for a batch of ten events);
/// 3. mark processed in the ledger exactly the records whose entry was
///    published. A record whose publishing failed is a batch item failure: SQS
///    redelivers it, it applies as a no-op, and its entry is published then.
pub async fn process_batch(app: &App, event: &SqsEvent) -> BatchReport {
    let parsed: Vec<Result<QueueMessage, RecordError>> = event.records.iter().map(parse).collect();
    let groups = group_by_subject(&parsed);
    let parsed_ref = &parsed;
    let done = join_all(groups.into_iter().map(|group| async move {
        let mut out = Vec::with_capacity(group.len());
        for i in group {
            out.push((
                i,
                apply_record(app, &event.records[i], &parsed_ref[i]).await,
            ));
        }
        out
    }))
    .await;
    let mut applied: Vec<Option<(Change, Option<Event>)>> = vec![None; event.records.len()];
    for (i, outcome) in done.into_iter().flatten() {
        applied[i] = outcome;
    }

    let published = publish(app, &event.records, &parsed, &applied).await;
    let published_count = (0..applied.len())
        .filter(|i| published[*i] && applied[*i].is_some())
        .count();
    for (i, ok) in published.iter().enumerate() {
        if !ok && applied[i].is_some() {
            log_failure(
                &event.records[i],
                &parsed[i],
                "publish_failed",
                &"PutEvents entry failed",
            );
            applied[i] = None;
        }
    }

    let marked = join_all(applied.iter().enumerate().map(|(i, outcome)| {
        let parsed = &parsed;
        async move {
            let (Some((change, _)), Ok(message)) = (outcome, &parsed[i]) else {
                return None;
            };
            match app.ledger.mark_processed(&message.ledger_key, store::now_ms()).await {
                Ok(found) => {
                    if !found {
                        // Past its retention, or replayed from elsewhere: the
                        // status is applied all the same.
                        tracing::warn!(key = %message.ledger_key, "no ledger item to mark processed");
                    }
                    log_applied(&event.records[i], message, change.applied);
                    Some(change.applied)
                }
                Err(err) => {
                    log_failure(&event.records[i], &parsed[i], "failed", &err);
                    None
                }
            }
        }
    }))
    .await;

    let mut report = BatchReport {
        records: event.records.len(),
        published: published_count,
        ..BatchReport::default()
    };
    for (record, outcome) in event.records.iter().zip(marked) {
        match outcome {
            Some(Applied::Updated) => report.updated += 1,
            Some(Applied::Superseded) => report.superseded += 1,
            Some(Applied::NoSubject) => report.no_subject += 1,
            None => report.failed.push(record.message_id.clone()),
        }
    }
    report
}

/// Publishes the applied records' contract events in one go, one entry per
/// record (ten a `PutEvents` call); returns, per record, whether its entry
/// was taken (true when there is no bus, or nothing to publish for it).
///
/// A status change whose entry failed is kept on the event's ledger item: by
/// the redelivery a later event may have become the subject's state, and the
/// status table would no longer say that this one changed it. A redelivered
/// record the status table calls unchanged reads it back (one `GetItem` of
/// one attribute, on redeliveries only).
async fn publish(
    app: &App,
    records: &[SqsMessage],
    parsed: &[Result<QueueMessage, RecordError>],
    applied: &[Option<(Change, Option<Event>)>],
) -> Vec<bool> {
    let mut ok = vec![true; applied.len()];
    let Some(bus) = &app.bus else {
        return ok;
    };
    let todo: Vec<(usize, &Change, &Event, &QueueMessage, events::Delivery)> = applied
        .iter()
        .enumerate()
        .filter_map(|(i, outcome)| {
            let (Some((change, loaded)), Ok(message)) = (outcome, &parsed[i]) else {
                return None;
            };
            let delivery = events::Delivery {
                superseded: change.applied == Applied::Superseded && !change.already_applied,
                redelivered: message.resent
                    || change.already_applied
                    || receive_count(&records[i])
                        .parse::<u32>()
                        .is_ok_and(|n| n > 1)
                    || records[i]
                        .message_attributes
                        .contains_key(store::REDRIVEN_ATTRIBUTE),
            };
            let event = loaded.as_ref().unwrap_or(&message.event);
            Some((i, change, event, message, delivery))
        })
        .collect();
    // Each record's change: the status table's or, for a redelivered record
    // it calls unchanged, the one an earlier attempt kept on the ledger.
    let changes = join_all(
        todo.iter()
            .map(|(i, change, _, message, delivery)| async move {
                if !delivery.redelivered || change.status_change != StatusChange::Unchanged {
                    return Ok(change.status_change.clone());
                }
                app.ledger
                    .unpublished_change(&message.ledger_key)
                    .await
                    .map_err(|err| log_failure(&records[*i], &parsed[*i], "failed", &err))
            }),
    )
    .await;
    let mut entries = Vec::with_capacity(todo.len());
    let mut owner = Vec::with_capacity(todo.len());
    for ((i, _, event, message, delivery), change) in todo.iter().zip(changes) {
        let Ok(change) = change else {
            ok[*i] = false;
            continue;
        };
        entries.push(events::entry_for(
            event,
            &message.ledger_key,
            message.received_at_ms,
            &change,
            *delivery,
        ));
        owner.push((*i, *message, change));
    }
    if entries.is_empty() {
        return ok;
    }
    let mut unpublished = Vec::new();
    for ((i, message, change), result) in owner.into_iter().zip(bus.put(&entries).await) {
        if result.is_err() {
            ok[i] = false;
            unpublished.push((i, message, change));
        }
    }
    join_all(unpublished.iter().map(|(i, message, change)| async move {
        if let Err(err) = app
            .ledger
            .keep_unpublished_change(&message.ledger_key, change)
            .await
        {
            // The record is retried all the same; only the change may be
            // published as a plain event if a later one wins meanwhile.
            log_failure(&records[*i], &parsed[*i], "keep_change_failed", &err);
        }
    }))
    .await;
    ok
}

/// Record indices grouped by status item, in batch order within a group;
/// records without a subject or unreadable ones form groups of their own.
fn group_by_subject(parsed: &[Result<QueueMessage, RecordError>]) -> Vec<Vec<usize>> {
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

/// One record applied to the status table; `None` when it failed (logged).
/// The event is returned when it had to be read from the ledger.
async fn apply_record(
    app: &App,
    record: &SqsMessage,
    message: &Result<QueueMessage, RecordError>,
) -> Option<(Change, Option<Event>)> {
    let Ok(ok) = message else {
        log_failure(record, message, "malformed", message.as_ref().err()?);
        return None;
    };
    match apply(app, ok).await {
        Ok(applied) => Some(applied),
        Err(err) => {
            log_failure(record, message, "failed", &err);
            None
        }
    }
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

async fn apply(app: &App, message: &QueueMessage) -> Result<(Change, Option<Event>), RecordError> {
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
            .apply_event(&event, message.received_at_ms)
            .await?;
        return Ok((change, Some(event)));
    }
    let change = app
        .status
        .apply_event(&message.event, message.received_at_ms)
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
        let parsed = vec![
            message("subnoto", "a", Some("env-1")),
            message("spotdraft", "b", Some("env-1")),
            Err(RecordError::NoBody),
            message("subnoto", "c", Some("env-1")),
            message("subnoto", "d", None),
            message("subnoto", "e", None),
            message("spotdraft", "f", Some("env-1")),
        ];
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
