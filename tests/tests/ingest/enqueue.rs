//! Accept once: repeated and concurrent deliveries, failed or lost enqueues, redeliveries.

use integration_tests::*;
use verify::{BodyFormat, Provider};

use crate::{event_of, send};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_delivery_is_enqueued_once_sequentially_and_concurrently() {
    let stack = Stack::new().await;
    let app = std::sync::Arc::new(stack.ingest(&[]).await);

    // Sequential: first 202, then 200 duplicate.
    let body = sample("spotdraft-contract-executed.json");
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::ApiGatewayV2,
        "POST",
        "/webhooks/spotdraft",
        &headers,
        &body,
        false,
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, answer) = send(&app, request(&event)).await;
        if status == 200 {
            assert_eq!(answer["status"], "duplicate");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 200, 200, 200, 200]);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 1);

    // Concurrent: 50 deliveries of a new event at once.
    let body = sample("subnoto-envelope-signed.json");
    let headers = signed_headers(
        Provider::Subnoto,
        SUBNOTO_SECRET,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::FunctionUrl,
        "POST",
        "/webhooks/subnoto",
        &headers,
        &body,
        false,
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let req = request(&event);
            tokio::spawn(async move { send(&app, req).await.0 })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&202), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&200), Some(&49), "{counts:?}");
    assert_eq!(
        stack.queue_depth(&stack.queue_url).await,
        2,
        "one message per event in total"
    );
    assert_eq!(stack.ledger_count().await, 2);
}

#[tokio::test]
async fn sqs_failure_answers_503_and_the_providers_retry_enqueues() {
    let stack = Stack::new().await;
    let missing_queue = format!("{}/123456789012/{}-nowhere", moto().endpoint, stack.name);
    stack.expect_refused(iam::Function::Ingest, "-nowhere");
    let broken = stack.ingest(&[("QUEUE_URL", &missing_queue)]).await;
    let body = sample("spotdraft-contract-created.json");
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::ApiGatewayV1,
        "POST",
        "/webhooks/spotdraft",
        &headers,
        &body,
        false,
    );

    let (status, answer) = send(&broken, request(&event)).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].is_string());
    let key = event_of(Provider::SpotDraft, &body, BodyFormat::Json).ledger_key();
    let entry = stack
        .ledger()
        .get(&key)
        .await
        .unwrap()
        .expect("the event is stored");
    assert_eq!(entry.status, "RECEIVED");
    assert_eq!(
        entry.lease_until_ms, 0,
        "the failed sender released its lease"
    );
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    // SQS is back: the provider's retry of the same delivery enqueues it.
    let healthy = stack.ingest(&[]).await;
    let (status, answer) = send(&healthy, request(&event)).await;
    assert_eq!(status, 200, "{answer}");
    let messages = stack.drain_queue().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ledger_key, key);
    assert_eq!(
        stack
            .ledger()
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .enqueue_attempts,
        2
    );

    // A further retry inside the new lease does not enqueue again.
    let (status, _) = send(&healthy, request(&event)).await;
    assert_eq!(status, 200);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
}

#[tokio::test]
async fn a_lost_enqueue_is_redone_by_the_next_duplicate_once_the_lease_runs_out() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[("LEDGER_LEASE_SECONDS", "1")]).await;
    let body = sample("subnoto-envelope-completed.json");
    let event = event_of(Provider::Subnoto, &body, BodyFormat::Json);
    let key = event.ledger_key();

    // Simulate a crash between the ledger put and the queue send.
    let ledger = store::Ledger::new(
        stack.clients.dynamodb.clone(),
        &stack.events_table,
        30,
        1000,
    );
    let accepted = ledger
        .accept(store::NewEntry {
            event: &event,
            body: body.clone(),
            headers: vec![],
            received_at_ms: now_ms(),
        })
        .await
        .unwrap();
    assert_eq!(accepted, store::Accepted::New);

    let deliver = || {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::Subnoto,
            &body,
            BodyFormat::Json,
        )
    };
    // Inside the lease: someone may still be sending; not enqueued again.
    let (status, answer) = send(&app, deliver()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = send(&app, deliver()).await;
    assert_eq!(status, 200);
    let messages = stack.drain_queue().await;
    assert_eq!(
        messages.len(),
        1,
        "the lost event is enqueued by the duplicate"
    );
    assert_eq!(messages[0].event, event);

    // Once processed, duplicates never enqueue again, lease or not.
    ledger.mark_processed(&key, now_ms()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = send(&app, deliver()).await;
    assert_eq!(status, 200);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
    let entry = stack.ledger().get(&key).await.unwrap().unwrap();
    assert_eq!(entry.status, "PROCESSED");
    assert!(!entry.pending, "processed items leave the pending index");
}

#[tokio::test]
async fn a_new_event_costs_two_aws_calls_and_a_duplicate_one() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    let body = sample("spotdraft-contract-sent-to-counterparty.json");
    let make = || {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::SpotDraft,
            &body,
            BodyFormat::Json,
        )
    };
    let before = app.calls.get();
    assert_eq!(send(&app, make()).await.0, 202);
    assert_eq!(app.calls.get() - before, 2, "PutItem + SendMessage");
    let before = app.calls.get();
    assert_eq!(send(&app, make()).await.0, 200);
    assert_eq!(
        app.calls.get() - before,
        1,
        "the failed condition returns the item: no extra read"
    );
    let before = app.calls.get();
    let mut bad = sample("spotdraft-contract-sent-to-counterparty.json");
    bad[5] ^= 1;
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let (status, _) = send(
        &app,
        request(&http_event(
            EventKind::ApiGatewayV2,
            "POST",
            "/webhooks/spotdraft",
            &headers,
            &bad,
            false,
        )),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        app.calls.get() - before,
        0,
        "forged requests cost no AWS call"
    );
}

/// A redelivery never moves a subject back (issue 16, item 1). Two time-less
/// SpotDraft events for one contract: A (DRAFT), then B (EXECUTED); A is
/// delivered again after its lease ran out while still unprocessed, so it is
/// re-enqueued. The new message must carry A's first arrival time, or A
/// would outrank B and the contract would end DRAFT.
#[tokio::test]
async fn a_redelivered_event_is_requeued_with_its_first_arrival_time() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[("LEDGER_LEASE_SECONDS", "1")]).await;
    let processor = stack.processor(&[]);
    let a = br#"{"activity":"CONTRACT_CREATED","contract_id":777001,"contract_status":"DRAFT"}"#;
    let b =
        br#"{"activity":"CONTRACT_EXECUTED","contract_id":777001,"contract_status":"EXECUTED"}"#;
    let deliver = |body: &[u8]| {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::SpotDraft,
            body,
            BodyFormat::Json,
        )
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(send(&app, deliver(a)).await.0, 202);
    pause().await;
    assert_eq!(send(&app, deliver(b)).await.0, 202);
    pause().await;
    let (status, answer) = send(&app, deliver(a)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );

    let messages = stack.drain_queue().await;
    assert_eq!(messages.len(), 3, "A, B, and A again: {messages:?}");
    let key_a = event_of(Provider::SpotDraft, a, BodyFormat::Json).ledger_key();
    let first = stack.ledger().get(&key_a).await.unwrap().unwrap();
    let times: Vec<i64> = messages
        .iter()
        .filter(|m| m.ledger_key == key_a)
        .map(|m| m.received_at_ms)
        .collect();
    assert_eq!(times, [first.received_at_ms; 2], "both of A's messages");
    // Only the re-enqueue says it is a send after the first (published as
    // `redelivered`).
    let resent: Vec<(bool, bool)> = messages
        .iter()
        .map(|m| (m.ledger_key == key_a, m.resent))
        .collect();
    assert_eq!(resent, [(true, false), (false, false), (true, true)]);

    // In queue order (A, B, A again), the contract ends EXECUTED.
    let records = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            sqs_record(
                &format!("m{i}"),
                Some(&serde_json::to_string(m).unwrap()),
                1,
            )
        })
        .collect();
    let report = processor::process_batch(&processor, &sqs_event(records)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let item = stack
        .status_table()
        .get(Provider::SpotDraft, "777001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status.as_deref(), Some("EXECUTED"));
}
