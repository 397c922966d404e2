//! SQS and DynamoDB failing: a send, a throttled put, a status update mid-batch.

use std::collections::BTreeSet;
use std::time::Instant;

use integration_tests::faults::{target, Call, Fault, Times};
use integration_tests::*;
use serde_json::{json, Value};
use store::StatusTable;
use verify::Provider;

use crate::{assert_applied, assert_nothing_pending, elapsed_ms, Delivery, Rig, Tally};

#[tokio::test]
async fn sqs_send_failing_after_the_ledger_write_is_a_503_and_the_retry_enqueues_once() {
    let rig = Rig::new().await;
    let app = rig.ingest(&[]).await;
    let delivery = Delivery::sample(Provider::SpotDraft, "spotdraft-contract-created.json");
    let rule = rig.proxy.fail(
        Call::new(target::SEND_MESSAGE),
        Fault::ServerError,
        Times::UntilCleared,
    );

    let started = Instant::now();
    let (status, answer) = rig.send(&app, &delivery).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(
        answer["error"], "temporarily unavailable, retry later",
        "{answer}"
    );
    assert_eq!(rig.proxy.hits(rule), 3, "the SDK makes three attempts");
    let entry = rig
        .stack
        .ledger()
        .get(&delivery.key())
        .await
        .unwrap()
        .expect("the ledger write happened before the send");
    assert_eq!(
        (
            entry.status.as_str(),
            entry.lease_until_ms,
            entry.enqueue_attempts
        ),
        ("RECEIVED", 0, 1),
        "stored unprocessed, lease released for the retry"
    );
    assert!(entry.pending);
    assert_eq!(entry.body, delivery.body);
    assert_eq!(rig.stack.queue_depth(&rig.stack.queue_url).await, 0);

    // SQS recovers; the provider retries the same delivery: enqueued, once.
    rig.proxy.clear();
    let (status, answer) = rig.send(&app, &delivery).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    let (status, _) = rig.send(&app, &delivery).await;
    assert_eq!(status, 200, "a further retry inside the new lease");
    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!(
        tally,
        Tally {
            messages: 1,
            updated: 1,
            ..Tally::default()
        }
    );
    assert_applied(&rig, &delivery, "DRAFT").await;
    let entry = rig
        .stack
        .ledger()
        .get(&delivery.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.enqueue_attempts, 2);
    assert_nothing_pending(&rig.stack).await;
    rig.report(
        "sqs_send_fails_after_ledger_write",
        &[&delivery],
        json!({"fault": "SendMessage HTTP 500 until cleared", "failed_attempts": rig.proxy.hits(rule),
               "first_answer_to_applied_ms": elapsed_ms(started)}),
    )
    .await;
}

#[tokio::test]
async fn a_throttled_conditional_put_is_a_503_storing_nothing_unless_the_sdk_retries_absorb_it() {
    let rig = Rig::new().await;
    let app = rig.ingest(&[]).await;
    let put = || Call::new(target::PUT_ITEM).on_table(&rig.stack.events_table);

    // Throttled on every attempt the SDK makes.
    let delivery = Delivery::sample(Provider::Subnoto, "subnoto-envelope-signed.json");
    let rule = rig.proxy.fail(put(), Fault::Throttle, Times::Next(3));
    let (status, answer) = rig.send(&app, &delivery).await;
    assert_eq!(status, 503, "{answer}");
    assert_eq!(rig.proxy.hits(rule), 3, "three attempts, all throttled");
    assert!(rig
        .stack
        .ledger()
        .get(&delivery.key())
        .await
        .unwrap()
        .is_none());
    assert_eq!(rig.stack.ledger_count().await, 0, "nothing stored");
    assert_eq!(rig.stack.queue_depth(&rig.stack.queue_url).await, 0);
    // The provider's retry goes through.
    let (status, answer) = rig.send(&app, &delivery).await;
    assert_eq!((status, answer["status"].as_str()), (202, Some("accepted")));
    assert_eq!(rig.proxy.hits(rule), 3);

    // Throttled twice: the SDK's third attempt succeeds; the caller never knows.
    let absorbed = Delivery::sample(Provider::Subnoto, "subnoto-envelope-declined.json");
    let rule = rig.proxy.fail(put(), Fault::Throttle, Times::Next(2));
    let (status, answer) = rig.send(&app, &absorbed).await;
    assert_eq!((status, answer["status"].as_str()), (202, Some("accepted")));
    assert_eq!(rig.proxy.hits(rule), 2);

    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!(
        tally,
        Tally {
            messages: 2,
            updated: 2,
            ..Tally::default()
        }
    );
    assert_applied(&rig, &delivery, "SIGNING").await;
    assert_applied(&rig, &absorbed, "DECLINED").await;
    assert_nothing_pending(&rig.stack).await;
    rig.report(
        "dynamodb_throttles_conditional_put",
        &[&delivery, &absorbed],
        json!({"fault": "PutItem ProvisionedThroughputExceededException x3, then x2",
               "throttled_attempts": [3, 2], "answers_in_order": [503, 202, 202]}),
    )
    .await;
}

#[tokio::test]
async fn a_status_update_failing_mid_batch_fails_that_record_alone_and_its_redelivery_applies_once()
{
    let rig = Rig::new().await;
    let app = rig.ingest(&[]).await;
    let deliveries = [
        Delivery::sample(Provider::SpotDraft, "spotdraft-contract-created.json"),
        Delivery::sample(Provider::Subnoto, "subnoto-envelope-signed.json"),
        Delivery::sample(
            Provider::SpotDraft,
            "spotdraft-express-template-unknown-kind.json",
        ),
        Delivery::sample(Provider::Subnoto, "subnoto-envelope-declined.json"),
    ];
    for d in &deliveries {
        assert_eq!(rig.send(&app, d).await.0, 202);
    }
    let mut messages = rig.stack.drain_queue_raw().await;
    assert_eq!(messages.len(), 4);
    // In delivery order, so the victim sits mid-batch.
    messages.sort_by_key(|m| {
        let key = store::QueueMessage::from_json(&m.body).unwrap().ledger_key;
        deliveries.iter().position(|d| d.key() == key).unwrap()
    });
    let victim = &deliveries[1];
    let victim_subject =
        StatusTable::key(Provider::Subnoto, victim.event.subject.as_deref().unwrap());
    let records = |receive_count| -> Vec<Value> {
        messages
            .iter()
            .map(|m| sqs_record(&m.message_id, Some(&m.body), receive_count))
            .collect()
    };
    let processor = rig.processor(&[]);

    // Every UpdateItem on the victim's status item is throttled, retries included.
    let rule = rig.proxy.fail(
        Call::new(target::UPDATE_ITEM)
            .on_table(&rig.stack.status_table)
            .containing(&format!("\"{victim_subject}\"")),
        Fault::Throttle,
        Times::UntilCleared,
    );
    let response = rig.batch(&processor, records(1)).await.response().unwrap();
    let failed: BTreeSet<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    assert_eq!(
        failed,
        BTreeSet::from([messages[1].message_id.clone()]),
        "exactly the victim is reported"
    );
    assert_eq!(rig.proxy.hits(rule), 3);
    let ledger = rig.stack.ledger();
    for (i, d) in deliveries.iter().enumerate() {
        let entry = ledger.get(&d.key()).await.unwrap().unwrap();
        let expected = if i == 1 { "RECEIVED" } else { "PROCESSED" };
        assert_eq!(entry.status, expected, "{}", d.key());
        assert_eq!(entry.pending, i == 1);
    }
    let items = rig.stack.status_items().await;
    assert!(
        !items.contains_key(&victim_subject),
        "nothing applied for it"
    );
    assert_eq!(items.len(), 3);

    // DynamoDB recovers; SQS redelivers only the failed record.
    rig.proxy.clear();
    let redelivery = vec![sqs_record(
        &messages[1].message_id,
        Some(&messages[1].body),
        2,
    )];
    let response = rig.batch(&processor, redelivery).await.response().unwrap();
    assert!(response.batch_item_failures.is_empty());
    assert_applied(&rig, victim, "SIGNING").await;
    assert_applied(&rig, &deliveries[0], "DRAFT").await;
    assert_applied(&rig, &deliveries[2], "DRAFT").await;
    assert_applied(&rig, &deliveries[3], "DECLINED").await;
    assert_nothing_pending(&rig.stack).await;

    // At-least-once: the whole batch once more changes nothing at all, not
    // even `updated_at`, so nothing was applied twice.
    let before = rig.stack.status_items().await;
    let report = rig.batch(&processor, records(3)).await;
    assert_eq!(
        (report.updated, report.superseded, report.failed.len()),
        (0, 4, 0)
    );
    assert_eq!(rig.stack.status_items().await, before);
    let events: Vec<&Delivery> = deliveries.iter().collect();
    rig.report(
        "status_update_fails_mid_batch",
        &events,
        json!({"fault": "UpdateItem on one status item throttled until cleared",
               "throttled_attempts": rig.proxy.hits(rule),
               "batches": ["4 records, 1 failure", "redelivery of 1", "all 4 again"]}),
    )
    .await;
}
