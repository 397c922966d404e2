//! Fault injection: the functions talk to moto through a [`FaultProxy`] that
//! fails chosen AWS calls (HTTP 500, throttling, connection resets, answers
//! slower than the SDK's timeouts). Each case checks the HTTP answer, what is
//! stored, and that the provider's retry (or the sweep) ends with every event
//! applied exactly once in effect: ledger `PROCESSED`, out of the pending
//! index, the status item holding the event, and every duplicate message
//! superseded rather than applied again.
//!
//! Set-up and assertions use the stack's own clients (straight to moto), so
//! they never meet an injected fault. The functions' clients have the
//! project's timeouts (attempt 2 s, operation 5 s) and retries (standard, 3
//! attempts): a rule's hit count is how many attempts the SDK made.
//!
//! Each function has clients of its own through the proxy, tagged with its
//! name, and when a rig is dropped every call the proxy saw is checked against
//! that function's role (see `integration_tests::iam`).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use integration_tests::faults::{target, Call, Fault, FaultProxy, Times};
use integration_tests::*;
use lambda_http::Request;
use serde_json::{json, Value};
use store::{AwsClients, StatusTable};
use verify::{BodyFormat, Event, Provider};

/// The function timeout in `template.yaml`: a 503 must come well before it.
const FUNCTION_TIMEOUT: Duration = Duration::from_secs(10);

/// A stack, a proxy in front of moto, and clients for the functions through
/// it; it also counts the answers and what the processor did, for the figures.
/// Dropping it checks the functions' calls against their roles.
struct Rig {
    stack: Stack,
    proxy: FaultProxy,
    ingest_clients: AwsClients,
    processor_clients: AwsClients,
    answers: Mutex<BTreeMap<u16, usize>>,
    processed: Mutex<Tally>,
}

impl Drop for Rig {
    fn drop(&mut self) {
        // A test that already failed says why; a second panic would abort.
        if std::thread::panicking() {
            return;
        }
        if let Err(refused) = iam::check_shared(self.proxy.recorded(), &self.stack.deployed()) {
            panic!("{refused}");
        }
    }
}

impl Rig {
    async fn new() -> Rig {
        let stack = Stack::new().await;
        let proxy = FaultProxy::start(&moto().endpoint).await;
        let ingest_clients = function_clients_via(proxy.endpoint(), iam::Function::Ingest).await;
        let processor_clients =
            function_clients_via(proxy.endpoint(), iam::Function::Processor).await;
        Rig {
            stack,
            proxy,
            ingest_clients,
            processor_clients,
            answers: Mutex::default(),
            processed: Mutex::default(),
        }
    }

    /// Delivers to the ingest handler; the answer's status and body.
    async fn send(&self, app: &ingest::App, delivery: &Delivery) -> (u16, Value) {
        let (status, body) = answer(ingest::handle(app, delivery.request()).await);
        *self.answers.lock().unwrap().entry(status).or_default() += 1;
        (status, body)
    }

    /// Hands `records` to the processor as one SQS batch.
    async fn batch(&self, app: &processor::App, records: Vec<Value>) -> processor::BatchReport {
        let report = processor::process_batch(app, &sqs_event(records)).await;
        let mut total = self.processed.lock().unwrap();
        total.messages += report.records;
        total.updated += report.updated;
        total.superseded += report.superseded;
        total.failed += report.failed.len();
        report
    }

    /// Drains the queue and hands its messages to the processor in batches of
    /// 10, as the SQS event source mapping does.
    async fn process(&self, app: &processor::App) -> Tally {
        let messages = self.stack.drain_queue_raw().await;
        let mut tally = Tally {
            messages: messages.len(),
            ..Tally::default()
        };
        for chunk in messages.chunks(10) {
            let records = chunk
                .iter()
                .map(|m| sqs_record(&m.message_id, Some(&m.body), 1))
                .collect();
            let report = self.batch(app, records).await;
            tally.updated += report.updated;
            tally.superseded += report.superseded;
            tally.failed += report.failed.len();
        }
        tally
    }

    /// Prints the case's figures (see `figures`): deliveries and answers,
    /// events, queue messages processed, status updates applied, and, read
    /// back from the ledger, how many events are not `PROCESSED` (lost).
    async fn report(&self, case: &str, events: &[&Delivery], details: Value) {
        let mut lost = 0;
        for d in events {
            let entry = self.stack.ledger().get(&d.key()).await.unwrap();
            if entry.map(|e| e.status) != Some("PROCESSED".to_owned()) {
                lost += 1;
            }
        }
        let answers = self.answers.lock().unwrap().clone();
        let processed = *self.processed.lock().unwrap();
        figures(
            case,
            json!({
                "deliveries": answers.values().sum::<usize>(),
                "answers": answers,
                "events": events.len(),
                "messages": processed.messages,
                "applied": processed.updated,
                "superseded": processed.superseded,
                "record_failures": processed.failed,
                "duplicates_applied": processed.updated.saturating_sub(events.len()),
                "lost": lost,
                "details": details,
            }),
        );
    }

    async fn ingest(&self, extra: &[(&str, &str)]) -> ingest::App {
        self.stack
            .ingest_with(&self.ingest_clients, extra)
            .await
            .unwrap()
    }

    fn processor(&self, extra: &[(&str, &str)]) -> processor::App {
        self.stack.processor_with(&self.processor_clients, extra)
    }

    fn status_table(&self) -> StatusTable {
        StatusTable::new(
            self.stack.clients.dynamodb.clone(),
            &self.stack.status_table,
        )
    }
}

/// One provider delivery, retried with the same bytes and headers.
struct Delivery {
    body: Vec<u8>,
    event_json: Value,
    event: Event,
}

impl Delivery {
    fn signed_with(provider: Provider, secret: &str, body: Vec<u8>) -> Delivery {
        let headers = signed_headers(provider, secret, &body, now_ms(), BodyFormat::Json);
        let event_json = http_event(
            EventKind::ApiGatewayV2,
            "POST",
            &format!("/webhooks/{provider}"),
            &headers,
            &body,
            false,
        );
        let event = Event::parse(provider, BodyFormat::Json, &body).unwrap();
        Delivery {
            body,
            event_json,
            event,
        }
    }

    fn new(provider: Provider, body: Vec<u8>) -> Delivery {
        Delivery::signed_with(provider, secret_of(provider), body)
    }

    fn sample(provider: Provider, name: &str) -> Delivery {
        Delivery::new(provider, sample(name))
    }

    /// A new Subnoto event (fresh event and envelope ids).
    fn fresh() -> Delivery {
        Delivery::new(Provider::Subnoto, fresh_subnoto("ENVELOPE_COMPLETED"))
    }

    fn key(&self) -> String {
        self.event.ledger_key()
    }

    fn request(&self) -> Request {
        request(&self.event_json)
    }
}

/// A Subnoto webhook body for a new event about a new envelope.
fn fresh_subnoto(event_type: &str) -> Vec<u8> {
    json!({
        "eventUuid": uuid::Uuid::new_v4().to_string(),
        "eventType": event_type,
        "eventTime": now_ms(),
        "webhookUuid": "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a",
        "teamUuid": "b7e6d5c4-3b2a-4190-8f7e-6d5c4b3a2918",
        "data": {
            "workspaceUuid": "a1b2c3d4-e5f6-4789-9abc-def012345678",
            "envelopeUuid": uuid::Uuid::new_v4().to_string(),
            "documentUuid": uuid::Uuid::new_v4().to_string(),
            "finalRevisionVersion": 1
        }
    })
    .to_string()
    .into_bytes()
}

/// What the processor did with the queue's messages.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
struct Tally {
    messages: usize,
    updated: usize,
    superseded: usize,
    failed: usize,
}

/// The event is done: ledger `PROCESSED` and out of the pending index, its
/// subject's status item holds it.
async fn assert_applied(rig: &Rig, delivery: &Delivery, status: &str) {
    let key = delivery.key();
    let entry = rig
        .stack
        .ledger()
        .get(&key)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{key}: no ledger item"));
    assert_eq!(entry.status, "PROCESSED", "{key}");
    assert!(!entry.pending, "{key}: still in the pending index");
    let subject = delivery.event.subject.as_deref().unwrap();
    let item = rig
        .status_table()
        .get(delivery.event.provider, subject)
        .await
        .unwrap()
        .unwrap_or_else(|| panic!("{key}: no status item for {subject}"));
    assert_eq!(item.last_event_key, delivery.event.key, "{key}");
    assert_eq!(item.status.as_deref(), Some(status), "{key}");
}

/// No ledger item is waiting for processing.
async fn assert_nothing_pending(stack: &Stack) {
    let ledger = stack.ledger();
    for shard in 0..store::schema::PENDING_SHARDS {
        let pending = ledger.pending(shard, i64::MAX, 100).await.unwrap();
        let keys: Vec<_> = pending.iter().map(|p| p.key.as_str()).collect();
        assert!(keys.is_empty(), "shard {shard} still lists {keys:?}");
    }
}

fn elapsed_ms(since: Instant) -> u64 {
    since.elapsed().as_millis() as u64
}

// ------------------------------------------------------------------ SQS

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

// ------------------------------------------------------------------ DynamoDB throttling

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

// ------------------------------------------------------------------ processor

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

// ------------------------------------------------------------------ Secrets Manager

#[tokio::test]
async fn secrets_manager_unreachable_at_cold_start_fails_init_loudly() {
    let rig = Rig::new().await;
    let arn = rig.stack.create_secret(&secrets_json()).await;
    let extra = [("WEBHOOK_SECRETS_ARN", arn.as_str())];
    let get = || Call::new(target::GET_SECRET_VALUE);
    let mut outcomes = Vec::new();
    for fault in [
        Fault::ServerError,
        Fault::Throttle,
        Fault::Reset,
        Fault::Hang(Duration::from_secs(8)),
    ] {
        let rule = rig.proxy.fail(get(), fault, Times::UntilCleared);
        let started = Instant::now();
        let err = rig
            .stack
            .ingest_with(
                &function_clients_via(rig.proxy.endpoint(), iam::Function::Ingest).await,
                &extra,
            )
            .await
            .expect_err("no app without secrets");
        let took = started.elapsed();
        rig.proxy.clear();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                ingest::InitError::Secrets(store::SecretsError::Fetch(_))
            ),
            "{fault:?}: {text}"
        );
        assert!(text.contains("GetSecretValue"), "{fault:?}: {text}");
        assert!(
            took < FUNCTION_TIMEOUT,
            "{fault:?}: init took {took:?}, not bounded by the SDK timeouts"
        );
        assert!(rig.proxy.hits(rule) >= 2, "{fault:?}: retried");
        for secret in [SPOTDRAFT_KEY, SUBNOTO_SECRET] {
            assert!(!text.contains(secret));
        }
        outcomes.push(json!({"fault": format!("{fault:?}"), "init": "failed",
                             "attempts": rig.proxy.hits(rule), "ms": took.as_millis() as u64}));
    }
    assert_eq!(rig.stack.ledger_count().await, 0);

    // Reachable again: the same configuration starts, and still refuses
    // unsigned requests.
    let app = rig.ingest(&extra).await;
    let body = sample("spotdraft-contract-created.json");
    let mut unsigned = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    unsigned.retain(|(k, _)| !k.eq_ignore_ascii_case("X-SD-WEBHOOK-CONTENT-HASH"));
    let event = http_event(
        EventKind::ApiGatewayV2,
        "POST",
        "/webhooks/spotdraft",
        &unsigned,
        &body,
        false,
    );
    let unsigned = Delivery {
        body: body.clone(),
        event_json: event,
        event: Event::parse(Provider::SpotDraft, BodyFormat::Json, &body).unwrap(),
    };
    assert_eq!(rig.send(&app, &unsigned).await.0, 401);
    assert_eq!(rig.stack.ledger_count().await, 0);
    let signed = Delivery::new(Provider::SpotDraft, body);
    assert_eq!(rig.send(&app, &signed).await.0, 202);
    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!((tally.messages, tally.updated), (1, 1));
    assert_applied(&rig, &signed, "DRAFT").await;
    rig.report(
        "secrets_unreachable_at_cold_start",
        &[&signed],
        json!({"cold_starts": outcomes, "after_recovery": "unsigned 401, signed 202"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_unreachable_during_refresh_keeps_the_cached_secrets_verifying() {
    let rig = Rig::new().await;
    let doc = |sn: &str| json!({"spotdraft": [SPOTDRAFT_KEY], "subnoto": [sn]}).to_string();
    let arn = rig.stack.create_secret(&doc(SUBNOTO_SECRET)).await;
    let app = rig
        .ingest(&[
            ("WEBHOOK_SECRETS_ARN", &arn),
            ("SECRETS_REFRESH_SECONDS", "1"),
        ])
        .await;
    let rule = rig.proxy.fail(
        Call::new(target::GET_SECRET_VALUE),
        Fault::Reset,
        Times::UntilCleared,
    );
    // The secret is rotated meanwhile (old one dropped): only a refresh that
    // got through could stop the old secret verifying.
    rig.stack.put_secret(&arn, &doc(SUBNOTO_SECRET_NEXT)).await;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    let mut delivered = Vec::new();
    let mut slowest = Duration::ZERO;
    // Deliver for at least 4 s and until a whole refresh (three attempts) failed.
    while started.elapsed() < Duration::from_secs(4) || rig.proxy.hits(rule) < 3 {
        assert!(Instant::now() < deadline, "the refresh was never attempted");
        let d = Delivery::signed_with(
            Provider::Subnoto,
            SUBNOTO_SECRET,
            fresh_subnoto("ENVELOPE_COMPLETED"),
        );
        let t = Instant::now();
        let (status, answer) = rig.send(&app, &d).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(status, 202, "cached secret refused: {answer}");
        delivered.push(d);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let failed_attempts = rig.proxy.hits(rule);
    assert!(
        slowest < FUNCTION_TIMEOUT,
        "a request waited for the refresh ({slowest:?})"
    );

    // Secrets Manager is back: the next refresh applies the rotation.
    rig.proxy.clear();
    let cleared = Instant::now();
    loop {
        let d = Delivery::signed_with(
            Provider::Subnoto,
            SUBNOTO_SECRET,
            fresh_subnoto("ENVELOPE_COMPLETED"),
        );
        let (status, _) = rig.send(&app, &d).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 202);
        delivered.push(d);
        assert!(
            cleared.elapsed() < Duration::from_secs(20),
            "refresh never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let d = Delivery::signed_with(
        Provider::Subnoto,
        SUBNOTO_SECRET_NEXT,
        fresh_subnoto("ENVELOPE_COMPLETED"),
    );
    assert_eq!(rig.send(&app, &d).await.0, 202);
    delivered.push(d);

    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!(tally.messages, delivered.len());
    assert_eq!(tally.updated, delivered.len());
    for d in &delivered {
        assert_applied(&rig, d, "COMPLETED").await;
    }
    let events: Vec<&Delivery> = delivered.iter().collect();
    rig.report(
        "secrets_unreachable_during_refresh",
        &events,
        json!({"fault": "GetSecretValue connection reset until cleared, refresh every 1 s",
               "failed_refresh_attempts": failed_attempts,
               "slowest_request_while_unreachable_ms": slowest.as_millis() as u64,
               "rotation_in_force_after_recovery_ms": elapsed_ms(cleared),
               "old_secret_after_rotation": 401}),
    )
    .await;
}

// ------------------------------------------------------------------ slow dependencies

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

// ------------------------------------------------------------------ lost answers

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

// ------------------------------------------------------------------ every fault on the hot path

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
