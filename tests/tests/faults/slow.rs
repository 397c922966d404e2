//! Slow dependencies and lost answers: timeouts, late sends, a put applied but unanswered.

use std::time::{Duration, Instant};

use integration_tests::faults::{target, Call, Fault, Times};
use serde_json::json;

use crate::{assert_applied, assert_nothing_pending, elapsed_ms, Delivery, Rig, FUNCTION_TIMEOUT};

#[tokio::test]
async fn a_dependency_slower_than_the_sdk_timeout_is_a_503_within_the_function_timeout() {
    let rig = Rig::new().await;
    let app = rig.ingest(&[]).await;
    let delivery = Delivery::fresh();
    let rule = rig.proxy.fail(
        Call::new(target::PUT_ITEM).on_table(&rig.stack.events_table),
        Fault::Hang(Duration::from_secs(12)),
        Times::UntilCleared,
    );
    let started = Instant::now();
    let (status, answer) = rig.send(&app, &delivery).await;
    let took = started.elapsed();
    assert_eq!(status, 503, "{answer}");
    // A correctness bound (the function must answer before it is killed),
    // not a performance assertion.
    assert!(took < FUNCTION_TIMEOUT, "answered after {took:?}");
    assert!(rig.proxy.hits(rule) >= 2, "attempt timeout, then a retry");
    assert!(rig
        .stack
        .ledger()
        .get(&delivery.key())
        .await
        .unwrap()
        .is_none());

    rig.proxy.clear();
    assert_eq!(rig.send(&app, &delivery).await.0, 202);
    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!((tally.messages, tally.updated), (1, 1));
    assert_applied(&rig, &delivery, "COMPLETED").await;
    rig.report(
        "dynamodb_put_hangs",
        &[&delivery],
        json!({"fault": "PutItem unanswered for 12 s", "attempts": rig.proxy.hits(rule),
               "answered_503_after_ms": took.as_millis() as u64}),
    )
    .await;
}

#[tokio::test]
async fn a_slow_send_that_lands_after_the_503_only_duplicates_messages_which_apply_once() {
    let rig = Rig::new().await;
    let app = rig.ingest(&[]).await;
    let delivery = Delivery::fresh();
    // Each attempt reaches SQS 3 s late, after the SDK's 2 s attempt timeout.
    let rule = rig.proxy.fail(
        Call::new(target::SEND_MESSAGE),
        Fault::Slow(Duration::from_secs(3)),
        Times::UntilCleared,
    );
    let started = Instant::now();
    let (status, _) = rig.send(&app, &delivery).await;
    let took = started.elapsed();
    assert_eq!(status, 503);
    assert!(took < FUNCTION_TIMEOUT, "answered after {took:?}");
    // An attempt cut off by the operation timeout may still be on its way to
    // the proxy: count the late sends once every one of them has landed.
    tokio::time::sleep(Duration::from_millis(3500)).await;
    let late = rig.proxy.hits(rule);
    assert!(late >= 2);
    let entry = rig
        .stack
        .ledger()
        .get(&delivery.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.status.as_str(), entry.lease_until_ms),
        ("RECEIVED", 0)
    );

    rig.proxy.clear();
    let (status, answer) = rig.send(&app, &delivery).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    // The late sends land too: one message per late attempt plus the retry's.
    let deadline = Instant::now() + Duration::from_secs(15);
    while rig.stack.queue_depth(&rig.stack.queue_url).await < late + 1 {
        assert!(Instant::now() < deadline, "late messages never arrived");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!(tally.messages, late + 1);
    assert_eq!(
        (tally.updated, tally.superseded, tally.failed),
        (1, late, 0),
        "applied once, every copy superseded"
    );
    assert_applied(&rig, &delivery, "COMPLETED").await;
    assert_nothing_pending(&rig.stack).await;
    rig.report(
        "sqs_send_slow",
        &[&delivery],
        json!({"fault": "SendMessage forwarded 3 s late", "late_messages": late,
               "answered_503_after_ms": took.as_millis() as u64}),
    )
    .await;
}

#[tokio::test]
async fn a_put_applied_but_unanswered_is_recognised_as_our_own_write() {
    let rig = Rig::new().await;
    let app = rig.ingest(&[("LEDGER_LEASE_SECONDS", "3")]).await;
    let processor = rig.processor(&[]);
    let delivery = Delivery::fresh();
    // DynamoDB applies the put; its answer is lost. The SDK retries the put,
    // which fails its condition on the item this very request wrote: the
    // returned item carries this request's write id, so it is a new event.
    let rule = rig.proxy.fail(
        Call::new(target::PUT_ITEM).on_table(&rig.stack.events_table),
        Fault::ResetAfterForward,
        Times::Next(1),
    );
    let started = Instant::now();
    let (status, answer) = rig.send(&app, &delivery).await;
    assert_eq!(rig.proxy.hits(rule), 1);
    assert_eq!(
        (status, answer["status"].as_str()),
        (202, Some("accepted")),
        "the retried put found its own item"
    );
    let entry = rig
        .stack
        .ledger()
        .get(&delivery.key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (entry.status.as_str(), entry.enqueue_attempts),
        ("RECEIVED", 1)
    );
    assert_eq!(
        rig.stack.queue_depth(&rig.stack.queue_url).await,
        1,
        "enqueued at once, no sweep needed"
    );

    // A genuine second delivery is still a duplicate.
    let (again, answer) = rig.send(&app, &delivery).await;
    assert_eq!((again, answer["status"].as_str()), (200, Some("duplicate")));

    let tally = rig.process(&processor).await;
    assert_eq!((tally.messages, tally.updated), (1, 1));
    assert_applied(&rig, &delivery, "COMPLETED").await;
    assert_nothing_pending(&rig.stack).await;
    rig.report(
        "put_applied_answer_lost",
        &[&delivery],
        json!({"fault": "PutItem applied, answer lost (reset after forward)",
               "answer": status, "enqueued_by": "the same request (own write recognised)",
               "delivery_to_applied_ms": elapsed_ms(started)}),
    )
    .await;
}
