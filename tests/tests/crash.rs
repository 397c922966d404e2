//! Crash test: the ingest process dies between the ledger write and the queue
//! send, and the event is recovered by the next duplicate delivery or, with no
//! provider help at all, by the sweep.
//!
//! The crash is real: a child process (this test binary re-run with one test
//! selected, see `integration_tests::child`) builds an ingest `App` against the
//! parent's moto with the real SDK clients, handles one signed request, and
//! aborts at the `after_ledger_put` failpoint (`CONTRACT_HOOKS_FAILPOINT`,
//! compiled in only with the `ingest/failpoints` feature, which only this
//! package's dev-dependency enables). No unwinding, no answer, no lease release:
//! what a Lambda sandbox leaves behind when it is killed mid-request.

use std::time::{Duration, Instant};

use integration_tests::*;
use serde_json::json;
use store::{AwsClients, StatusTable};
use verify::{BodyFormat, Event, Provider};

/// The child test that crashes.
const CRASHING_CHILD: &str = "child_ingest_aborts_after_the_ledger_put";
/// The sample the child delivers.
const SAMPLE_ENV: &str = "CRASH_TEST_SAMPLE";
/// `SIGABRT`.
const SIGABRT: i32 = 6;

#[test]
#[ignore = "run in a child process by the crash tests; does nothing on its own"]
fn child_ingest_aborts_after_the_ledger_put() {
    if !child::is_child() {
        return;
    }
    let name = std::env::var(SAMPLE_ENV).expect("the sample to deliver");
    let provider: Provider = name.split('-').next().unwrap().parse().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        // As the function's main does: configuration from the environment,
        // clients built once, secrets loaded, then one request.
        let config = store::Config::from_env().expect("configuration from the parent");
        let clients = AwsClients::new(&sdk_config_for(&moto().endpoint).await);
        let app = ingest::App::new(&config, &clients).await.unwrap();
        let request = signed_request(
            EventKind::ApiGatewayV2,
            provider,
            &sample(&name),
            BodyFormat::Json,
        );
        let response = ingest::handle(&app, request).await;
        // Reached only if the failpoint did not fire.
        println!("answered {}", response.status().as_u16());
    });
}

/// Runs the crashing child for `sample_name` against `stack`; asserts it died
/// at the failpoint, and returns the event and when the crash happened.
async fn crash(stack: &Stack, sample_name: &str) -> (Event, Instant) {
    let provider: Provider = sample_name.split('-').next().unwrap().parse().unwrap();
    let secrets = secrets_json();
    let out = child::run_async(
        CRASHING_CHILD,
        &[
            (SAMPLE_ENV, sample_name),
            ("EVENTS_TABLE", &stack.events_table),
            ("STATUS_TABLE", &stack.status_table),
            ("QUEUE_URL", &stack.queue_url),
            ("WEBHOOK_SECRETS", &secrets),
            ("LEDGER_LEASE_SECONDS", "1"),
            (ingest::failpoint::VAR, ingest::failpoint::AFTER_LEDGER_PUT),
        ],
        Duration::from_secs(60),
    )
    .await;
    let crashed_at = Instant::now();
    assert_eq!(
        out.signal(),
        Some(SIGABRT),
        "the child should abort at the failpoint; status {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    assert!(
        out.stderr.contains("failpoint after_ledger_put: aborting"),
        "died elsewhere:\n{}",
        out.stderr
    );
    assert!(!out.stdout.contains("answered"), "{}", out.stdout);
    let event = Event::parse(provider, BodyFormat::Json, &sample(sample_name)).unwrap();
    (event, crashed_at)
}

/// What the crash left: the event stored unprocessed with the dead process's
/// lease, nothing queued.
async fn assert_stored_not_queued(stack: &Stack, event: &Event) -> store::LedgerEntry {
    let entry = stack
        .ledger()
        .get(&event.ledger_key())
        .await
        .unwrap()
        .expect("the ledger write happened before the crash");
    assert_eq!(
        (entry.status.as_str(), entry.enqueue_attempts),
        ("RECEIVED", 1)
    );
    assert_eq!(entry.lease_until_ms, entry.received_at_ms + 1000);
    assert!(entry.pending);
    assert_eq!(entry.event().unwrap(), *event);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0, "never sent");
    entry
}

/// Drains the queue into the processor; returns (messages, applied).
async fn process_queue(stack: &Stack, app: &processor::App) -> (usize, usize) {
    let messages = stack.drain_queue_raw().await;
    let records = messages
        .iter()
        .map(|m| sqs_record(&m.message_id, Some(&m.body), 1))
        .collect();
    let report = processor::process_batch(app, &sqs_event(records)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    (messages.len(), report.updated)
}

async fn assert_applied(stack: &Stack, event: &Event, status: &str) {
    let entry = stack
        .ledger()
        .get(&event.ledger_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, "PROCESSED");
    assert!(!entry.pending);
    let item = StatusTable::new(stack.clients.dynamodb.clone(), &stack.status_table)
        .get(event.provider, event.subject.as_deref().unwrap())
        .await
        .unwrap()
        .expect("status item");
    assert_eq!(item.last_event_key, event.key);
    assert_eq!(item.status.as_deref(), Some(status));
}

/// 1 if the event is not `PROCESSED` in the ledger, else 0.
async fn lost(stack: &Stack, event: &Event) -> usize {
    let entry = stack.ledger().get(&event.ledger_key()).await.unwrap();
    usize::from(entry.map(|e| e.status) != Some("PROCESSED".to_owned()))
}

async fn sleep_past(until_ms: i64) {
    let wait = until_ms - now_ms() + 20;
    if wait > 0 {
        tokio::time::sleep(Duration::from_millis(wait as u64)).await;
    }
}

#[tokio::test]
async fn a_crash_after_the_ledger_write_is_recovered_by_the_next_duplicate_delivery() {
    let stack = Stack::new().await;
    let (event, crashed_at) = crash(&stack, "spotdraft-contract-executed.json").await;
    let entry = assert_stored_not_queued(&stack, &event).await;

    // The provider got no answer (the gateway gave it a 502), so it retries;
    // a retry after the dead process's lease re-enqueues the event.
    let app = stack.ingest(&[("LEDGER_LEASE_SECONDS", "1")]).await;
    sleep_past(entry.lease_until_ms).await;
    let retry = signed_request(
        EventKind::ApiGatewayV2,
        Provider::SpotDraft,
        &sample("spotdraft-contract-executed.json"),
        BodyFormat::Json,
    );
    let (status, body) = answer(ingest::handle(&app, retry).await);
    assert_eq!((status, body["status"].as_str()), (200, Some("duplicate")));
    let processor = stack.processor(&[]);
    assert_eq!(process_queue(&stack, &processor).await, (1, 1));
    assert_applied(&stack, &event, "EXECUTED").await;
    // Further retries change nothing.
    let again = signed_request(
        EventKind::ApiGatewayV2,
        Provider::SpotDraft,
        &sample("spotdraft-contract-executed.json"),
        BodyFormat::Json,
    );
    assert_eq!(answer(ingest::handle(&app, again).await).0, 200);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
    figures(
        "crash_after_ledger_put_then_provider_retry",
        json!({"deliveries": 3, "answers": {"none (process aborted)": 1, "200": 2},
               "events": 1, "messages": 1, "applied": 1, "duplicates_applied": 0,
               "lost": lost(&stack, &event).await,
               "details": {"left_by_crash": "RECEIVED, leased, queue empty",
                           "crash_to_applied_ms_lease_1s": crashed_at.elapsed().as_millis() as u64}}),
    );
}

#[tokio::test]
async fn a_crash_after_the_ledger_write_with_no_retry_is_recovered_by_the_sweep() {
    let stack = Stack::new().await;
    let (event, crashed_at) = crash(&stack, "subnoto-envelope-completed.json").await;
    let entry = assert_stored_not_queued(&stack, &event).await;
    let processor = stack.processor(&[("SWEEP_AFTER_SECONDS", "1")]);

    // No provider help: the scheduled sweep re-enqueues it.
    sleep_past(entry.lease_until_ms.max(entry.received_at_ms + 1000)).await;
    let answer = processor::handle(&processor, scheduled_event())
        .await
        .unwrap();
    assert_eq!(answer["requeued"], 1, "{answer}");
    assert_eq!(answer["errors"], 0, "{answer}");
    assert_eq!(process_queue(&stack, &processor).await, (1, 1));
    assert_applied(&stack, &event, "COMPLETED").await;
    let entry = stack
        .ledger()
        .get(&event.ledger_key())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.enqueue_attempts, 2);
    // Nothing left for the next sweep.
    let report = processor::sweep(&processor, now_ms()).await;
    assert_eq!(report, processor::SweepReport::default());
    figures(
        "crash_after_ledger_put_no_retry_sweep",
        json!({"deliveries": 1, "answers": {"none (process aborted)": 1},
               "events": 1, "messages": 1, "applied": 1, "duplicates_applied": 0,
               "lost": lost(&stack, &event).await,
               "details": {"left_by_crash": "RECEIVED, leased, queue empty", "sweep_requeued": 1,
                           "crash_to_applied_ms_lease_1s_sweep_after_1s": crashed_at.elapsed().as_millis() as u64}}),
    );
}
