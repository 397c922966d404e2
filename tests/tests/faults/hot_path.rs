//! Every fault on the hot path is a 503 the providers' retry recovers from.

use integration_tests::faults::{target, Call, Fault, Times};
use integration_tests::*;
use serde_json::json;

use crate::{assert_applied, assert_nothing_pending, Delivery, Rig};

#[tokio::test]
async fn every_fault_on_the_hot_path_is_a_503_the_providers_retry_recovers_from() {
    let rig = Rig::new().await;
    let put = || Call::new(target::PUT_ITEM).on_table(&rig.stack.events_table);
    let send_message = || Call::new(target::SEND_MESSAGE);
    struct Row {
        call: (&'static str, Call),
        fault: Fault,
        /// Stored (unprocessed, lease released) after the 503.
        stored: bool,
        /// Every failed attempt still put a message on the queue.
        attempts_enqueued: bool,
        /// The answer to the provider's retry.
        retry: u16,
    }
    let row = |call, fault, stored, attempts_enqueued, retry| Row {
        call,
        fault,
        stored,
        attempts_enqueued,
        retry,
    };
    let rows = vec![
        row(("PutItem", put()), Fault::ServerError, false, false, 202),
        row(("PutItem", put()), Fault::Throttle, false, false, 202),
        row(("PutItem", put()), Fault::Reset, false, false, 202),
        row(
            ("SendMessage", send_message()),
            Fault::ServerError,
            true,
            false,
            200,
        ),
        row(
            ("SendMessage", send_message()),
            Fault::Throttle,
            true,
            false,
            200,
        ),
        row(
            ("SendMessage", send_message()),
            Fault::Reset,
            true,
            false,
            200,
        ),
        // Each attempt reaches SQS and its answer is lost: three copies, plus the retry's.
        row(
            ("SendMessage", send_message()),
            Fault::ResetAfterForward,
            true,
            true,
            200,
        ),
    ];
    let processor = rig.processor(&[]);
    let mut results = Vec::new();
    let mut events = Vec::new();
    for Row {
        call: (name, call),
        fault,
        stored,
        attempts_enqueued,
        retry,
    } in rows
    {
        let case = format!("{name} {fault:?}");
        // Fresh clients: a sandbox of its own, with its own retry quota.
        let clients = function_clients_via(rig.proxy.endpoint(), iam::Function::Ingest).await;
        let app = rig.stack.ingest_with(&clients, &[]).await.unwrap();
        let delivery = Delivery::fresh();
        let rule = rig.proxy.fail(call, fault, Times::UntilCleared);
        let (status, answer) = rig.send(&app, &delivery).await;
        assert_eq!(status, 503, "{case}: {answer}");
        let attempts = rig.proxy.hits(rule);
        assert_eq!(attempts, 3, "{case}: the SDK's three attempts");
        let entry = rig.stack.ledger().get(&delivery.key()).await.unwrap();
        match (&entry, stored) {
            (None, false) => {}
            (Some(e), true) => {
                assert_eq!(
                    (e.status.as_str(), e.lease_until_ms),
                    ("RECEIVED", 0),
                    "{case}"
                );
            }
            _ => panic!(
                "{case}: stored {:?}, expected {stored}",
                entry.map(|e| e.status)
            ),
        }
        let after_failure = rig.stack.queue_depth(&rig.stack.queue_url).await;
        let expected = if attempts_enqueued { attempts } else { 0 };
        assert_eq!(after_failure, expected, "{case}");

        rig.proxy.clear();
        let (status, answer) = rig.send(&app, &delivery).await;
        assert_eq!(status, retry, "{case}: retry {answer}");
        let tally = rig.process(&processor).await;
        assert_eq!(tally.messages, after_failure + 1, "{case}");
        assert_eq!(
            (tally.updated, tally.superseded, tally.failed),
            (1, after_failure, 0),
            "{case}: applied once"
        );
        assert_applied(&rig, &delivery, "COMPLETED").await;
        results.push(
            json!({"case": case, "attempts": attempts, "answers": [503, retry],
                            "messages": tally.messages, "applied": tally.updated}),
        );
        events.push(delivery);
    }
    assert_nothing_pending(&rig.stack).await;
    let events: Vec<&Delivery> = events.iter().collect();
    rig.report("hot_path_matrix", &events, json!(results)).await;
}
