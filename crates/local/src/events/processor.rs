//! The processor's events: SQS batches of queue messages as ingest sends them,
//! malformed records, and the scheduled sweep.

use contract_hooks::error::CliError;
use serde_json::{json, Value};
use verify::{BodyFormat, Event, Provider};

use super::fixtures::*;
use super::lambda::*;

/// The queue message ingest sends (`store::QueueMessage`), field for field and
/// in the same order.
pub(super) fn queue_body(event: &Event, received_at_ms: i64, version: u32) -> String {
    let key = serde_json::to_string(&event.ledger_key()).expect("strings serialise");
    let event = serde_json::to_string(event).expect("events serialise");
    format!(
        r#"{{"v":{version},"ledger_key":{key},"received_at_ms":{received_at_ms},"event":{event}}}"#
    )
}

/// SQS batches for the processor and the scheduled sweep.
pub(super) fn processor_events(
    samples: &[Sample],
    clock: &Clock,
    set: &mut EventSet,
) -> Result<(), CliError> {
    let t = clock.t_ms;
    let mut parsed = Vec::new();
    for sample in samples {
        let event = Event::parse(sample.provider, BodyFormat::Json, &sample.body)
            .map_err(|e| CliError::usage(format!("sample {} does not parse: {e}", sample.stem)))?;
        parsed.push((sample, event));
    }
    for provider in Provider::ALL {
        let path = format!("processor/sqs-{provider}.json");
        let records: Vec<Value> = parsed
            .iter()
            .filter(|(s, _)| s.provider == provider)
            .enumerate()
            .map(|(i, (s, event))| {
                sqs_record(
                    &format!("{path}#{i}"),
                    &queue_body(event, t, QUEUE_MESSAGE_VERSION),
                    Some(event),
                    &s.stem,
                    clock,
                )
            })
            .collect();
        if records.len() > 10 {
            return Err(CliError::usage(format!(
                "{} {provider} samples: an SQS batch holds at most 10 (BatchSize in template.yaml)",
                records.len()
            )));
        }
        set.add(
            path,
            json!({ "Records": records }),
            json!({"function": PROCESSOR_FUNCTION, "batchItemFailures": []}),
        );
    }

    // One good record and two the processor cannot use: they must come back as
    // batch item failures (and reach the DLQ after maxReceiveCount).
    let (good_sample, good) = &parsed[0];
    let path = "processor/sqs-mixed-malformed.json".to_owned();
    let records = vec![
        sqs_record(
            &format!("{path}#0"),
            &queue_body(good, t, QUEUE_MESSAGE_VERSION),
            Some(good),
            &good_sample.stem,
            clock,
        ),
        sqs_record(
            &format!("{path}#1"),
            &queue_body(good, t, 99),
            Some(good),
            "unsupported-version",
            clock,
        ),
        sqs_record(
            &format!("{path}#2"),
            r#"{"v":1,"ledger_key":"spotdraft#trunc"#,
            None,
            "truncated",
            clock,
        ),
    ];
    let failures: Vec<Value> = records[1..]
        .iter()
        .map(|r| json!({"itemIdentifier": r["messageId"]}))
        .collect();
    set.add(
        path,
        json!({ "Records": records }),
        json!({"function": PROCESSOR_FUNCTION, "batchItemFailures": failures}),
    );

    let path = "processor/schedule-sweep.json".to_owned();
    set.add(
        path.clone(),
        json!({
            "version": "0",
            "id": id_from(&path),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": clock.rfc3339,
            "region": REGION,
            "resources": [SWEEP_RULE_ARN],
            "detail": {}
        }),
        json!({"function": PROCESSOR_FUNCTION, "sweep": true}),
    );
    Ok(())
}
