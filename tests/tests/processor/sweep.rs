//! The sweep: lost enqueues requeued, and when it gives up on an event.

use integration_tests::*;
use serde_json::json;
use store::{QueueMessage, StoreError};

use crate::{batch, parsed, sample_event};

#[tokio::test]
async fn the_sweep_requeues_lost_enqueues_and_gives_up_after_the_attempts() {
    let stack = Stack::new().await;
    let app = stack.processor(&[("SWEEP_AFTER_SECONDS", "60"), ("SWEEP_MAX_ATTEMPTS", "2")]);
    let ledger = stack.ledger();
    let real_now = now_ms();
    // Two events accepted two minutes ago whose enqueue was lost (a crash
    // between the ledger put and the send), one accepted just now.
    let lost = sample_event("subnoto-envelope-completed.json");
    let doomed = sample_event("spotdraft-contract-executed.json");
    let fresh = sample_event("subnoto-envelope-declined.json");
    for (e, name, at) in [
        (&lost, "subnoto-envelope-completed.json", real_now - 120_000),
        (
            &doomed,
            "spotdraft-contract-executed.json",
            real_now - 120_000,
        ),
        (&fresh, "subnoto-envelope-declined.json", real_now),
    ] {
        let accepted = ledger
            .accept(store::NewEntry {
                event: e,
                body: sample(name),
                headers: vec![("content-type".into(), "application/json".into())],
                received_at_ms: at,
            })
            .await
            .unwrap();
        assert_eq!(accepted, store::Accepted::New);
    }
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    // The scheduled invocation re-enqueues the two old ones, not the new one.
    let answer = processor::handle(&app, scheduled_event()).await.unwrap();
    assert_eq!(
        answer,
        json!({"due": 2, "requeued": 2, "failed": 0, "skipped": 0, "errors": 0})
    );
    let mut requeued = stack.drain_queue_raw().await;
    requeued.sort_by_key(|m| parsed(m).ledger_key != lost.ledger_key());
    assert_eq!(requeued.len(), 2);
    assert_eq!(
        parsed(&requeued[0]),
        QueueMessage::new(lost.clone(), real_now - 120_000).resent(),
        "the message ingest would have sent, marked as sent again"
    );
    for e in [&lost, &doomed] {
        let entry = ledger.get(&e.ledger_key()).await.unwrap().unwrap();
        assert_eq!(
            (entry.status.as_str(), entry.enqueue_attempts),
            ("RECEIVED", 2)
        );
    }

    // While their new lease runs, another sweep leaves them alone.
    let now = now_ms();
    let report = processor::sweep(&app, now).await;
    assert_eq!((report.due, report.skipped, report.requeued), (2, 2, 0));
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    // One message is processed; the other is lost again.
    let response = processor::handle_batch(&app, sqs_event(batch(&[&requeued[0]], "r", 1)))
        .await
        .unwrap();
    assert!(response.batch_item_failures.is_empty());

    // Past the lease, the lost one has used its attempts: FAILED. The processed
    // one is out of the index; the fresh one is not due yet.
    let later = now + 31_000;
    let report = processor::sweep(&app, later).await;
    assert_eq!(
        report,
        processor::SweepReport {
            due: 1,
            failed: 1,
            ..Default::default()
        }
    );
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
    let failed = ledger.get(&doomed.ledger_key()).await.unwrap().unwrap();
    assert_eq!(failed.status, "FAILED");
    assert!(!failed.pending, "FAILED items leave the pending index");
    let done = ledger.get(&lost.ledger_key()).await.unwrap().unwrap();
    assert_eq!(done.status, "PROCESSED");
    assert!(!done.pending);
    let waiting = ledger.get(&fresh.ledger_key()).await.unwrap().unwrap();
    assert_eq!(
        (waiting.status.as_str(), waiting.enqueue_attempts),
        ("RECEIVED", 1)
    );
    assert!(waiting.pending);

    // Nothing left to do for the old ones.
    let report = processor::sweep(&app, later).await;
    assert_eq!(report, processor::SweepReport::default());
    // A FAILED item cannot be marked failed twice.
    assert!(!ledger
        .mark_failed(&doomed.ledger_key(), later)
        .await
        .unwrap());
}

/// The ledger keeps the raw body, not a copy of the parsed event: the sweep
/// parses the body again. A body that no longer yields its own key (storage
/// corruption, or a changed dedup rule) is given up on and surfaces as FAILED,
/// rather than sending a message that would mark the wrong item.
#[tokio::test]
async fn the_sweep_gives_up_on_a_body_that_does_not_parse_to_its_key() {
    let stack = Stack::new().await;
    let app = stack.processor(&[("SWEEP_AFTER_SECONDS", "60")]);
    let ledger = stack.ledger();
    let real_now = now_ms();
    let event = sample_event("subnoto-envelope-signed.json");
    ledger
        .accept(store::NewEntry {
            event: &event,
            body: sample("subnoto-envelope-declined.json"),
            headers: vec![("content-type".into(), "application/json".into())],
            received_at_ms: real_now - 120_000,
        })
        .await
        .unwrap();
    let entry = ledger.get(&event.ledger_key()).await.unwrap().unwrap();
    assert!(matches!(entry.event(), Err(StoreError::Corrupt { .. })));

    let report = processor::sweep(&app, real_now).await;
    assert_eq!((report.due, report.failed, report.requeued), (1, 1, 0));
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0, "nothing sent");
    let entry = ledger.get(&event.ledger_key()).await.unwrap().unwrap();
    assert_eq!((entry.status.as_str(), entry.pending), ("FAILED", false));
    assert_eq!(entry.event_type, "ENVELOPE_SIGNED", "listable all the same");
}
