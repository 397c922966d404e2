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

mod hot_path;
mod secrets;
mod slow;
mod storage;

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use integration_tests::faults::FaultProxy;
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
