//! Failing records and batches: malformed records, a transient failure, unknown invocations.

use std::collections::BTreeSet;

use integration_tests::*;
use serde_json::{json, Value};
use store::StatusTable;
use verify::Provider;

use crate::{assert_all_processed, batch, failures, ingest_all, parsed, ENVELOPE};

#[tokio::test]
async fn malformed_records_fail_alone_and_an_all_failing_batch_reports_every_record() {
    let stack = Stack::new().await;
    let messages = ingest_all(
        &stack,
        &[(Provider::Subnoto, sample("subnoto-envelope-declined.json"))],
    )
    .await;
    let app = stack.processor(&[]);

    // Through the function's entry point, as Lambda invokes it.
    let answer = processor::handle(
        &app,
        sqs_event_json(vec![
            sqs_record("bad", Some("{not json"), 1),
            sqs_record("good", Some(&messages[0].body), 1),
        ]),
    )
    .await
    .unwrap();
    assert_eq!(
        answer,
        json!({"batchItemFailures": [{"itemIdentifier": "bad"}]})
    );
    let item = StatusTable::new(stack.clients.dynamodb.clone(), &stack.status_table)
        .get(Provider::Subnoto, "12345678-9abc-4def-8123-456789abcdef")
        .await
        .unwrap()
        .expect("the valid record was applied");
    assert_eq!(item.status.as_deref(), Some("DECLINED"));
    assert_all_processed(&stack, [parsed(&messages[0]).ledger_key]).await;

    // Every record fails: every record is reported, never an empty success.
    let mut wrong_version: Value = serde_json::from_str(&messages[0].body).unwrap();
    wrong_version["v"] = json!(2);
    let mut wrong_key: Value = serde_json::from_str(&messages[0].body).unwrap();
    wrong_key["ledger_key"] = json!("subnoto#someone-else");
    let records = vec![
        sqs_record("garbage", Some("garbage"), 3),
        sqs_record("empty", Some("{}"), 1),
        sqs_record("no-body", None, 1),
        sqs_record("version", Some(&wrong_version.to_string()), 5),
        sqs_record("mismatch", Some(&wrong_key.to_string()), 1),
    ];
    let response = processor::handle_batch(&app, sqs_event(records))
        .await
        .unwrap();
    let expected: BTreeSet<String> = ["garbage", "empty", "no-body", "version", "mismatch"]
        .map(String::from)
        .into();
    assert_eq!(failures(&response), expected);
    assert_eq!(response.batch_item_failures.len(), 5);
}

#[tokio::test]
async fn a_transient_failure_is_reported_and_the_redelivery_applies_it_once() {
    let stack = Stack::new().await;
    let messages = ingest_all(
        &stack,
        &[
            (Provider::Subnoto, sample("subnoto-envelope-signed.json")),
            (Provider::Subnoto, sample("subnoto-envelope-completed.json")),
        ],
    )
    .await;
    let keys: Vec<String> = messages.iter().map(|m| parsed(m).ledger_key).collect();
    // The status table is not there yet (as if DynamoDB were failing).
    let later = format!("{}-status-later", stack.name);
    // A table of its own, outside the role's grants: the role is not what this test is about.
    stack.expect_refused(iam::Function::Processor, &format!("table/{later}"));
    let app = stack.processor(&[("STATUS_TABLE", &later)]);
    let records = |count| batch(&messages.iter().collect::<Vec<_>>(), "m", count);

    let response = processor::handle_batch(&app, sqs_event(records(1)))
        .await
        .unwrap();
    assert_eq!(
        failures(&response),
        BTreeSet::from(["m0".to_string(), "m1".to_string()]),
        "an all-failing batch reports all of it"
    );
    let ledger = stack.ledger();
    for key in &keys {
        let entry = ledger.get(key).await.unwrap().unwrap();
        assert_eq!(
            entry.status, "RECEIVED",
            "not marked processed when not applied"
        );
        assert!(entry.pending);
    }

    // It recovers; SQS redelivers the failed records.
    testkit::resources::create_status_table(&stack.clients.dynamodb, &later)
        .await
        .unwrap();
    let report = processor::process_batch(&app, &sqs_event(records(2))).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.processed(), 2);
    assert_all_processed(&stack, keys.clone()).await;
    let table = StatusTable::new(stack.clients.dynamodb.clone(), &later);
    let item = table
        .get(Provider::Subnoto, ENVELOPE)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status.as_deref(), Some("COMPLETED"));
    assert_eq!(item.last_event_type, "ENVELOPE_COMPLETED");
    assert_eq!(
        item.signers,
        BTreeSet::from(["john.doe@example.com".to_string()])
    );

    // A further redelivery (SQS is at-least-once) changes nothing at all.
    let report = processor::process_batch(&app, &sqs_event(records(3))).await;
    assert_eq!((report.superseded, report.failed.len()), (2, 0));
    assert_eq!(
        table.get(Provider::Subnoto, ENVELOPE).await.unwrap(),
        Some(item)
    );
}

#[tokio::test]
async fn unknown_invocations_are_errors() {
    let stack = Stack::new().await;
    let app = stack.processor(&[]);
    for payload in [
        json!({"hello": "world"}),
        json!({"Records": [{"eventSource": "aws:s3"}]}),
    ] {
        assert!(matches!(
            processor::handle(&app, payload).await,
            Err(processor::ProcessorError::UnknownInvocation)
        ));
    }
}
