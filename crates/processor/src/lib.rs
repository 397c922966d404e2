//! The processor function: applies queued webhook events to the status table
//! and, on a schedule, sweeps the ledger for events accepted but never
//! processed.
//!
//! One function, two triggers, told apart by the shape of the input
//! ([`Invocation::from_value`]): SQS batches ([`handle_batch`]) and the
//! EventBridge schedule ([`sweep()`]). Both are plain async functions over an
//! [`App`] built once per cold start.

mod app;
mod batch;
mod sweep;

use aws_lambda_events::event::sqs::SqsEvent;
use serde_json::Value;

pub use app::{App, ProcessorError, FUNCTION, SWEEP_LIMIT_PER_SHARD};
pub use batch::{handle_batch, process_batch, BatchReport, RecordError};
pub use sweep::{run_sweep, sweep, SweepReport};

/// What triggered an invocation.
#[derive(Debug, Clone)]
pub enum Invocation {
    /// An SQS event source mapping batch.
    Batch(SqsEvent),
    /// The scheduled sweep: an EventBridge `Scheduled Event`
    /// (`source: aws.events`), an EventBridge Scheduler event
    /// (`source: aws.scheduler`), or `{"action": "sweep"}` for a manual run.
    Sweep,
}

impl Invocation {
    /// Tells the triggers apart by the input's shape.
    pub fn from_value(payload: Value) -> Result<Invocation, ProcessorError> {
        if let Some(records) = payload.get("Records").and_then(Value::as_array) {
            let all_sqs = records
                .iter()
                .all(|r| r.get("eventSource").and_then(Value::as_str) == Some("aws:sqs"));
            if !all_sqs {
                return Err(ProcessorError::UnknownInvocation);
            }
            return serde_json::from_value(payload)
                .map(Invocation::Batch)
                .map_err(|e| ProcessorError::MalformedBatch(e.to_string()));
        }
        let field = |name: &str| payload.get(name).and_then(Value::as_str);
        let scheduled = matches!(field("source"), Some("aws.events" | "aws.scheduler"))
            || field("detail-type") == Some("Scheduled Event")
            || field("action") == Some("sweep");
        if scheduled {
            Ok(Invocation::Sweep)
        } else {
            Err(ProcessorError::UnknownInvocation)
        }
    }
}

/// Handles one invocation: an SQS batch answers `{"batchItemFailures": [...]}`,
/// the sweep answers its counts.
pub async fn handle(app: &App, payload: Value) -> Result<Value, ProcessorError> {
    match Invocation::from_value(payload) {
        Ok(Invocation::Batch(event)) => {
            let response = handle_batch(app, event).await?;
            Ok(serde_json::to_value(response).unwrap_or(Value::Null))
        }
        Ok(Invocation::Sweep) => {
            let report = run_sweep(app, domain::now_ms()).await;
            Ok(serde_json::to_value(report).unwrap_or(Value::Null))
        }
        Err(err) => {
            tracing::error!(error = %err, "invocation rejected");
            Err(err)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sqs_batches_are_recognised() {
        let batch = json!({"Records": [{
            "messageId": "m1", "receiptHandle": "r", "body": "{}",
            "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
            "md5OfBody": "x", "eventSource": "aws:sqs",
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:q", "awsRegion": "us-east-1"
        }]});
        match Invocation::from_value(batch).unwrap() {
            Invocation::Batch(e) => {
                assert_eq!(e.records.len(), 1);
                assert_eq!(e.records[0].message_id.as_deref(), Some("m1"));
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            Invocation::from_value(json!({"Records": []})),
            Ok(Invocation::Batch(_))
        ));
    }

    #[test]
    fn schedules_are_recognised() {
        let scheduled = json!({
            "version": "0", "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
            "detail-type": "Scheduled Event", "source": "aws.events",
            "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
            "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"], "detail": {}
        });
        for payload in [
            scheduled,
            json!({"source": "aws.scheduler", "detail-type": "Scheduled Event"}),
            json!({"action": "sweep"}),
        ] {
            assert!(matches!(
                Invocation::from_value(payload.clone()),
                Ok(Invocation::Sweep)
            ));
        }
    }

    #[test]
    fn anything_else_is_refused() {
        for payload in [
            json!({}),
            json!(null),
            json!([1, 2]),
            json!({"source": "aws.s3"}),
            json!({"Records": [{"eventSource": "aws:sns", "Sns": {}}]}),
            json!({"Records": [{"eventSource": "aws:sqs"}, {"eventSource": "aws:s3"}]}),
        ] {
            assert!(
                matches!(
                    Invocation::from_value(payload.clone()),
                    Err(ProcessorError::UnknownInvocation)
                ),
                "{payload}"
            );
        }
        assert!(matches!(
            Invocation::from_value(json!({"Records": [{"eventSource": "aws:sqs", "body": 5}]})),
            Err(ProcessorError::MalformedBatch(_))
        ));
    }
}
