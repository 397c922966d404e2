//! SQS batches: each record is applied to the status table, then its ledger
//! item is marked processed. Subjects run concurrently; the records that fail
//! are reported individually so SQS redelivers only them (and, past the
//! queue's max receive count, moves them to the dead-letter queue).

use std::collections::HashMap;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
use futures::future::join_all;
use store::{Applied, Meter, Metrics, QueueMessage, StatusTable, StoreError};

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
    /// `failed`.
    pub fn metrics(&self) -> Metrics {
        let mut m = Metrics::new(FUNCTION);
        m.count("processed", self.processed() as u64)
            .count("superseded", self.superseded as u64)
            .count("failed", self.failed.len() as u64);
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

/// Processes a batch and tallies the outcomes. Records of different subjects
/// run concurrently; records of one subject run one after another, in batch
/// order, so they never contend for the same status item. (DynamoDB would
/// serialise them anyway, but each loser costs a failed conditional write.)
pub async fn process_batch(app: &App, event: &SqsEvent) -> BatchReport {
    let parsed: Vec<Result<QueueMessage, RecordError>> = event.records.iter().map(parse).collect();
    let groups = group_by_subject(&parsed);
    let parsed = &parsed;
    let done = join_all(groups.into_iter().map(|group| async move {
        let mut out = Vec::with_capacity(group.len());
        for i in group {
            out.push((i, process_record(app, &event.records[i], &parsed[i]).await));
        }
        out
    }))
    .await;

    let mut outcomes: Vec<Option<Applied>> = vec![None; event.records.len()];
    for (i, outcome) in done.into_iter().flatten() {
        outcomes[i] = outcome;
    }
    let mut report = BatchReport {
        records: event.records.len(),
        ..BatchReport::default()
    };
    for (record, outcome) in event.records.iter().zip(outcomes) {
        match outcome {
            Some(Applied::Updated) => report.updated += 1,
            Some(Applied::Superseded) => report.superseded += 1,
            Some(Applied::NoSubject) => report.no_subject += 1,
            None => report.failed.push(record.message_id.clone()),
        }
    }
    report
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

/// One record: apply, mark processed; logs one line. `None` when it failed.
/// Never logs the payload, titles, names or emails.
async fn process_record(
    app: &App,
    record: &SqsMessage,
    message: &Result<QueueMessage, RecordError>,
) -> Option<Applied> {
    let message_id = record.message_id.as_deref().unwrap_or("-");
    let receive_count = record
        .attributes
        .get("ApproximateReceiveCount")
        .map(String::as_str)
        .unwrap_or("-");
    let message = match message {
        Ok(message) => message,
        Err(err) => {
            tracing::error!(message_id, receive_count, outcome = "malformed", error = %err, "record");
            return None;
        }
    };
    let provider = message.event.provider.as_str();
    let key = message.ledger_key.as_str();
    let event_type = message.event.event_type.as_str();
    match apply(app, message).await {
        Ok(applied) => {
            tracing::info!(
                message_id,
                provider,
                key,
                event_type,
                outcome = applied.name(),
                "record"
            );
            Some(applied)
        }
        Err(err) => {
            tracing::error!(
                message_id,
                receive_count,
                provider,
                key,
                event_type,
                outcome = "failed",
                error = %err,
                "record"
            );
            None
        }
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

async fn apply(app: &App, message: &QueueMessage) -> Result<Applied, RecordError> {
    let applied = app
        .status
        .apply(&message.event, message.received_at_ms)
        .await?;
    let found = app
        .ledger
        .mark_processed(&message.ledger_key, store::now_ms())
        .await?;
    if !found {
        // Past its retention, or replayed from elsewhere: the status is
        // applied all the same.
        tracing::warn!(key = %message.ledger_key, "no ledger item to mark processed");
    }
    Ok(applied)
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
            (m.get("processed"), m.get("superseded"), m.get("failed")),
            (2, 1, 2)
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
