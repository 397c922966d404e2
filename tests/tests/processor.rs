//! The processor against DynamoDB and SQS over the wire (moto on loopback), fed
//! with queue messages produced by the real ingest path: signed requests go
//! through `ingest::handle`, the queue is drained, and its messages are handed
//! to the processor as Lambda's SQS event source mapping would.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use domain::sync::StatusUpdate;
use integration_tests::*;
use serde_json::{json, Value};
use store::{Applied, QueueMessage, StatusItem, StatusTable, StoreError};
use verify::{BodyFormat, Event, Provider};

/// Delivers every body through the ingest handler (each must be accepted) and
/// returns the queue messages it produced.
async fn ingest_all(stack: &Stack, bodies: &[(Provider, Vec<u8>)]) -> Vec<RawMessage> {
    let app = stack.ingest(&[]).await;
    for (provider, body) in bodies {
        let request = signed_request(EventKind::ApiGatewayV2, *provider, body, BodyFormat::Json);
        let (status, answer) = answer(ingest::handle(&app, request).await);
        assert_eq!(status, accepted_status(*provider), "{provider}: {answer}");
    }
    let messages = stack.drain_queue_raw().await;
    assert_eq!(
        messages.len(),
        bodies.len(),
        "one message per accepted event"
    );
    messages
}

/// A batch of `messages`, the i-th record with message id `{prefix}{i}`.
fn batch(messages: &[&RawMessage], prefix: &str, receive_count: u32) -> Vec<Value> {
    messages
        .iter()
        .enumerate()
        .map(|(i, m)| sqs_record(&format!("{prefix}{i}"), Some(&m.body), receive_count))
        .collect()
}

fn parsed(message: &RawMessage) -> QueueMessage {
    QueueMessage::from_json(&message.body).unwrap()
}

fn failures(response: &aws_lambda_events::event::sqs::SqsBatchResponse) -> BTreeSet<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}

/// Status items without `updated_at` (the only field that depends on when).
fn without_updated_at(
    items: BTreeMap<String, HashMap<String, AttributeValue>>,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    items
        .into_iter()
        .map(|(k, mut item)| {
            item.remove(store::schema::attr::UPDATED_AT);
            // The status the winning event replaced: delivery history (what
            // a retried publish says changed), not the subject's state.
            item.remove(store::schema::attr::PREVIOUS_STATUS);
            (k, item)
        })
        .collect()
}

async fn assert_all_processed(stack: &Stack, keys: impl IntoIterator<Item = String>) {
    let ledger = stack.ledger();
    for key in keys {
        let entry = ledger.get(&key).await.unwrap().expect("ledger item");
        assert_eq!(entry.status, "PROCESSED", "{key}");
        assert!(
            !entry.pending,
            "{key}: processed items leave the pending index"
        );
    }
    for shard in 0..store::schema::PENDING_SHARDS {
        let pending = ledger.pending(shard, i64::MAX, 1000).await.unwrap();
        assert!(
            pending.is_empty(),
            "shard {shard} still lists {}",
            pending.len()
        );
    }
}

/// The expected state of a subject after a sample was applied.
struct Expect {
    sample: &'static str,
    /// True when the sample becomes the state, false when it is superseded.
    updates: bool,
    subject: &'static str,
    /// The sample whose event the state is from.
    winner: &'static str,
    status: &'static str,
    title: Option<&'static str>,
    reference: Option<&'static str>,
    counterparty: Option<&'static str>,
    workspace: Option<&'static str>,
    document_id: Option<&'static str>,
    metadata: bool,
    signers: &'static [&'static str],
}

const MSA: &str = "Master Services Agreement - Acme Corp";
const WORKSPACE: &str = "a1b2c3d4-e5f6-4789-9abc-def012345678";
const DOCUMENT: &str = "d9c8b7a6-9584-4736-a2b1-c0d9e8f7a6b5";
const ENVELOPE: &str = "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f";

const DS_ACCOUNT: &str = "5f0c3d2e-8a41-4b6c-9e27-1d3f5a7b9c01";
const DS_ENVELOPE: &str = "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21";
const DS_MSA: &str = "Please DocuSign: Master Services Agreement - Acme Corp.pdf";

/// In file order, which delivers SpotDraft's executed event before the sent
/// and signed ones, Subnoto's signed event after its envelope completed, and
/// DocuSign's envelope completed before it was sent, delivered and signed
/// (each signer still recorded).
const EXPECTED: &[Expect] = &[
    Expect {
        sample: "docusign-envelope-completed.json",
        updates: true,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-declined.json",
        updates: true,
        subject: "e2b74c19-6d0a-4f38-b5e1-2a9c8d7f6e54",
        winner: "docusign-envelope-declined.json",
        status: "DECLINED",
        title: Some("Please DocuSign: Order Form 2026-118 - Globex Ltd.pdf"),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-delivered.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-sent.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-voided.json",
        updates: true,
        subject: "f3d61a2b-9c8e-4b7d-a615-0e4f3c2b1a98",
        winner: "docusign-envelope-voided.json",
        status: "VOIDED",
        title: Some("Please DocuSign: NDA - Initech.pdf"),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-recipient-completed-1.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &["priya.nair@example.com"],
    },
    Expect {
        sample: "docusign-recipient-completed-2.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &["priya.nair@example.com", "tomas.ortega@example.com"],
    },
    Expect {
        sample: "spotdraft-contract-created.json",
        updates: true,
        subject: "48213",
        winner: "spotdraft-contract-created.json",
        status: "DRAFT",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: None,
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &[],
    },
    Expect {
        sample: "spotdraft-contract-executed.json",
        updates: true,
        subject: "48213",
        winner: "spotdraft-contract-executed.json",
        status: "EXECUTED",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: Some("Acme Corp"),
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &[],
    },
    Expect {
        sample: "spotdraft-contract-sent-to-counterparty.json",
        updates: false,
        subject: "48213",
        winner: "spotdraft-contract-executed.json",
        status: "EXECUTED",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: Some("Acme Corp"),
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &[],
    },
    Expect {
        sample: "spotdraft-contract-signed.json",
        updates: false,
        subject: "48213",
        winner: "spotdraft-contract-executed.json",
        status: "EXECUTED",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: Some("Acme Corp"),
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &["lena.fischer@acme.example"],
    },
    Expect {
        sample: "spotdraft-express-template-unknown-kind.json",
        updates: true,
        subject: "51007",
        winner: "spotdraft-express-template-unknown-kind.json",
        status: "DRAFT",
        title: Some("NDA – Müller & Søn GmbH"),
        reference: None,
        counterparty: None,
        workspace: None,
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-completed-sparse.json",
        updates: true,
        subject: "77aa88bb-99cc-4ddd-8eee-ff0011223344",
        winner: "subnoto-envelope-completed-sparse.json",
        status: "COMPLETED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: Some(DOCUMENT),
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-completed.json",
        updates: true,
        subject: ENVELOPE,
        winner: "subnoto-envelope-completed.json",
        status: "COMPLETED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: Some(DOCUMENT),
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-declined.json",
        updates: true,
        subject: "12345678-9abc-4def-8123-456789abcdef",
        winner: "subnoto-envelope-declined.json",
        status: "DECLINED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: None,
        metadata: false,
        // Whoever declined did not sign.
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-signed.json",
        updates: false,
        subject: ENVELOPE,
        winner: "subnoto-envelope-completed.json",
        status: "COMPLETED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: Some(DOCUMENT),
        metadata: false,
        signers: &["john.doe@example.com"],
    },
];

fn sample_event(name: &str) -> Event {
    let provider: Provider = name.split('-').next().unwrap().parse().unwrap();
    Event::parse(provider, BodyFormat::Json, &sample(name)).unwrap()
}

#[tokio::test]
async fn every_sample_drives_the_status_table_to_the_expected_state() {
    let on_disk: Vec<String> = samples().into_iter().map(|(_, n)| n).collect();
    let listed: Vec<&str> = EXPECTED.iter().map(|e| e.sample).collect();
    assert_eq!(
        on_disk, listed,
        "a sample was added or removed: extend EXPECTED"
    );

    let stack = Stack::new().await;
    let bodies: Vec<_> = samples()
        .into_iter()
        .map(|(p, n)| (p, sample(&n)))
        .collect();
    let messages = ingest_all(&stack, &bodies).await;
    let by_key: HashMap<String, &RawMessage> =
        messages.iter().map(|m| (parsed(m).ledger_key, m)).collect();
    let app = stack.processor(&[]);
    let table = StatusTable::new(stack.clients.dynamodb.clone(), &stack.status_table);

    for (i, e) in EXPECTED.iter().enumerate() {
        let event = sample_event(e.sample);
        let message = by_key[&event.ledger_key()];
        let report =
            processor::process_batch(&app, &sqs_event(batch(&[message], &format!("s{i}-"), 1)))
                .await;
        assert!(report.failed.is_empty(), "{}: {report:?}", e.sample);
        assert_eq!(
            (report.updated, report.superseded),
            if e.updates { (1, 0) } else { (0, 1) },
            "{}",
            e.sample
        );

        let provider = event.provider;
        let item: StatusItem = table
            .get(provider, e.subject)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{}: no status item", e.sample));
        let winner = sample_event(e.winner);
        let ctx = e.sample;
        assert_eq!(item.provider, provider.as_str(), "{ctx}");
        assert_eq!(item.subject, e.subject, "{ctx}");
        assert_eq!(item.status.as_deref(), Some(e.status), "{ctx}");
        assert_eq!(item.last_event_type, winner.event_type, "{ctx}");
        assert_eq!(item.last_event_key, winner.key, "{ctx}");
        assert_eq!(Some(item.event_time_ms), winner.occurred_at_ms, "{ctx}");
        assert_eq!(item.title.as_deref(), e.title, "{ctx}");
        assert_eq!(item.reference.as_deref(), e.reference, "{ctx}");
        assert_eq!(item.counterparty.as_deref(), e.counterparty, "{ctx}");
        assert_eq!(item.workspace.as_deref(), e.workspace, "{ctx}");
        assert_eq!(item.document_id.as_deref(), e.document_id, "{ctx}");
        assert_eq!(
            item.external_metadata.as_ref().map(|m| m.get()),
            e.metadata
                .then_some(r#"{"crm":"salesforce","opportunity_id":"0065g00000XyZ12"}"#),
            "{ctx}"
        );
        let signers: BTreeSet<String> = e.signers.iter().map(|s| s.to_string()).collect();
        assert_eq!(item.signers, signers, "{ctx}");
    }
    assert_eq!(stack.status_items().await.len(), 8, "one item per subject");
    assert_all_processed(&stack, by_key.keys().cloned()).await;

    // Everything again, as one concurrent batch: nothing changes, not even
    // updated_at.
    let before = stack.status_items().await;
    let all: Vec<&RawMessage> = messages.iter().collect();
    let report = processor::process_batch(&app, &sqs_event(batch(&all, "again-", 2))).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.superseded, all.len());
    assert_eq!(stack.status_items().await, before);
}

/// xorshift64: a tiny seeded generator, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    fn uuid(&mut self) -> String {
        let (a, b) = (self.next(), self.next());
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            b >> 52,
            b & 0xffff_ffff_ffff
        )
    }
}

/// 2026-11-22T00:00:00Z in Unix ms.
const DAY_START_MS: i64 = 1_795_305_600_000;

fn rfc3339(ms: i64) -> String {
    let in_day = ms - DAY_START_MS;
    assert!((0..86_400_000).contains(&in_day));
    let (s, milli) = (in_day / 1000, in_day % 1000);
    format!(
        "2026-11-22T{:02}:{:02}:{:02}.{milli:03}000Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Ten events for SpotDraft contract `c`: random activities and times drawn
/// from few slots (so exact ties happen), distinct signers on signing events,
/// descriptive fields present in some events only.
fn spotdraft_events(rng: &mut Rng, c: u64) -> Vec<Vec<u8>> {
    const ACTIVITIES: [(&str, Option<&str>); 8] = [
        ("CONTRACT_CREATED", Some("DRAFT")),
        ("CONTRACT_EDITED", Some("REDLINING")),
        ("CONTRACT_SENT_TO_COUNTERPARTY", Some("REDLINING")),
        ("CONTRACT_SIGNED", Some("SIGN")),
        ("CONTRACT_EXECUTED", Some("EXECUTED")),
        ("CONTRACT_ON_HOLD", Some("ON_HOLD")),
        ("CONTRACT_VOIDED", Some("VOIDED")),
        ("CONTRACT_KEY_POINTER_UPDATION", None),
    ];
    (0..10)
        .map(|i| {
            let (activity, status) = ACTIVITIES[rng.below(ACTIVITIES.len() as u64) as usize];
            let time = DAY_START_MS + 3_600_000 + rng.below(20) as i64 * 1000;
            let mut activity_data = json!({
                "performed_by": {"name": "SYSTEM"},
                "timestamp": rfc3339(time),
                "sequence": i,
            });
            if activity == "CONTRACT_SIGNED" {
                activity_data["signatory"] = json!({
                    "name": format!("Signer {c}-{i}"),
                    "email": format!("signer-{c}-{i}@example.com"),
                });
            }
            let mut body = json!({
                "activity": activity,
                "contract_id": 700_000 + c,
                "contract_kind": "TEMPLATE_CONTRACT",
                "activity_data": activity_data,
            });
            if let Some(status) = status {
                body["contract_status"] = json!(status);
            }
            // Titles and references change over a contract's life (a rename), so
            // events of one subject disagree: the in-order state keeps the value
            // of the highest-ranked event that has the field.
            if rng.chance(70) {
                body["contract_title"] = json!(format!("Contract {c} v{}", rng.below(3)));
            }
            if rng.chance(50) {
                body["contract_reference_id"] = json!(format!("REF-{c}-{}", rng.below(2)));
            }
            if rng.chance(40) {
                body["external_metadata"] = json!({"crm": "hubspot", "deal": c});
            }
            if rng.chance(40) {
                body["counterparties"] =
                    json!([{"type": "ORGANIZATION", "organization_name": format!("Org {c}")}]);
            }
            body.to_string().into_bytes()
        })
        .collect()
}

/// Ten events for Subnoto envelope `e`: created, sent, opened, three signers,
/// a terminal event, an `ENVELOPE_OPENED` after it, and two more random ones
/// (an unknown type or another opening), at random times from few slots.
fn subnoto_events(rng: &mut Rng, e: u64) -> Vec<Vec<u8>> {
    let envelope = rng.uuid();
    let workspace = rng.uuid();
    let terminal = [
        "ENVELOPE_COMPLETED",
        "ENVELOPE_DECLINED",
        "ENVELOPE_CANCELED",
        "ENVELOPE_CANCELLED",
    ][(e % 4) as usize];
    let mut types = vec![
        "ENVELOPE_CREATED",
        "ENVELOPE_SENT",
        "ENVELOPE_OPENED",
        "ENVELOPE_SIGNED",
        "ENVELOPE_SIGNED",
        "ENVELOPE_SIGNED",
        terminal,
        "AFTER_TERMINAL",
    ];
    for _ in 0..2 {
        types.push(if rng.chance(50) {
            "ENVELOPE_REMINDER_SENT"
        } else {
            "ENVELOPE_OPENED"
        });
    }
    let mut terminal_time = 0;
    types
        .into_iter()
        .enumerate()
        .map(|(i, t)| {
            let (event_type, time) = if t == "AFTER_TERMINAL" {
                (
                    "ENVELOPE_OPENED",
                    terminal_time + 1000 + rng.below(5) as i64 * 1000,
                )
            } else {
                (t, DAY_START_MS + 7_200_000 + rng.below(15) as i64 * 1000)
            };
            if event_type == terminal {
                terminal_time = time;
            }
            let mut data = json!({"workspaceUuid": workspace, "envelopeUuid": envelope});
            if event_type == "ENVELOPE_SIGNED" {
                data["recipientEmail"] = json!(format!("recipient-{e}-{i}@example.com"));
                data["recipientName"] = json!(format!("Recipient {e}-{i}"));
            }
            if event_type == "ENVELOPE_COMPLETED" {
                data["documentUuid"] = json!(format!("doc-{envelope}"));
            }
            if rng.chance(50) {
                data["title"] = json!(format!("Envelope {e} v{}", rng.below(3)));
            }
            json!({
                "eventUuid": rng.uuid(),
                "eventType": event_type,
                "eventTime": time,
                "webhookUuid": "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a",
                "teamUuid": "b7e6d5c4-3b2a-4190-8f7e-6d5c4b3a2918",
                "data": data,
            })
            .to_string()
            .into_bytes()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_duplicated_delivery_ends_in_the_in_order_state() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut bodies = Vec::new();
    for subject in 0..10 {
        bodies.extend(
            spotdraft_events(&mut rng, subject)
                .into_iter()
                .map(|b| (Provider::SpotDraft, b)),
        );
        bodies.extend(
            subnoto_events(&mut rng, subject)
                .into_iter()
                .map(|b| (Provider::Subnoto, b)),
        );
    }
    assert_eq!(bodies.len(), 200);
    let events: Vec<Event> = bodies
        .iter()
        .map(|(p, b)| Event::parse(*p, BodyFormat::Json, b).unwrap())
        .collect();
    let mut by_subject: BTreeMap<(Provider, String), Vec<&Event>> = BTreeMap::new();
    for e in &events {
        by_subject
            .entry((e.provider, e.subject.clone().unwrap()))
            .or_default()
            .push(e);
    }
    assert_eq!(by_subject.len(), 20);
    // The scenario has what makes ordering hard: exact ties in time, and
    // envelopes opened after they were finished.
    assert!(by_subject.values().any(|evs| {
        let times: BTreeSet<_> = evs.iter().map(|e| e.occurred_at_ms).collect();
        times.len() < evs.len()
    }));
    assert!(by_subject.values().any(|evs| {
        let done = evs.iter().find(|e| {
            domain::sync::event_status(e).is_some_and(|s| domain::sync::is_terminal(e.provider, &s))
        });
        done.is_some_and(|d| {
            evs.iter()
                .any(|e| e.event_type == "ENVELOPE_OPENED" && e.occurred_at_ms > d.occurred_at_ms)
        })
    }));

    // In order: one record at a time, by provider time (ties by key).
    let in_order = Stack::new().await;
    let mut messages = ingest_all(&in_order, &bodies).await;
    messages.sort_by_key(|m| {
        let q = parsed(m);
        (q.event.occurred_at_ms, q.event.key)
    });
    let app = in_order.processor(&[]);
    for (i, m) in messages.iter().enumerate() {
        let response = processor::handle_batch(&app, sqs_event(batch(&[m], &format!("o{i}-"), 1)))
            .await
            .unwrap();
        assert!(response.batch_item_failures.is_empty());
    }

    // Shuffled, 30% duplicates, batches of 10 processed concurrently.
    let shuffled = Stack::new().await;
    let messages = ingest_all(&shuffled, &bodies).await;
    let mut deliveries: Vec<(&RawMessage, u32)> = messages.iter().map(|m| (m, 1)).collect();
    for _ in 0..60 {
        let pick = &messages[rng.below(messages.len() as u64) as usize];
        deliveries.push((pick, 2));
    }
    rng.shuffle(&mut deliveries);
    let app = shuffled.processor(&[]);
    let (mut updated, mut superseded) = (0, 0);
    for (b, chunk) in deliveries.chunks(10).enumerate() {
        let records = chunk
            .iter()
            .enumerate()
            .map(|(i, (m, count))| sqs_record(&format!("b{b}-{i}"), Some(&m.body), *count))
            .collect();
        let report = processor::process_batch(&app, &sqs_event(records)).await;
        assert!(report.failed.is_empty(), "{report:?}");
        updated += report.updated;
        superseded += report.superseded;
    }
    assert_eq!(updated + superseded, 260);
    assert!(superseded >= 60, "every duplicate is superseded");

    // Exactly the in-order state, item for item.
    let expected = without_updated_at(in_order.status_items().await);
    let actual = without_updated_at(shuffled.status_items().await);
    assert_eq!(
        actual.keys().collect::<Vec<_>>(),
        expected.keys().collect::<Vec<_>>()
    );
    for (pk, item) in &expected {
        assert_eq!(&actual[pk], item, "{pk}");
    }

    // And that state is the one the rules say: the highest-ranked event's
    // status, every signer, and for each descriptive field the value of the
    // highest-ranked event that carried it.
    let table = StatusTable::new(shuffled.clients.dynamodb.clone(), &shuffled.status_table);
    for ((provider, subject), evs) in &by_subject {
        let item = table.get(*provider, subject).await.unwrap().unwrap();
        let winner = evs
            .iter()
            .max_by_key(|e| StatusUpdate::of(e, 0).rank)
            .unwrap();
        let ctx = format!("{provider}#{subject}");
        assert_eq!(item.last_event_key, winner.key, "{ctx}");
        assert_eq!(item.last_event_type, winner.event_type, "{ctx}");
        assert_eq!(item.status, domain::sync::event_status(winner), "{ctx}");
        let signers: BTreeSet<String> = evs
            .iter()
            .filter_map(|e| e.signer.as_ref()?.email.clone())
            .collect();
        assert_eq!(item.signers, signers, "{ctx}");
        if *provider == Provider::Subnoto {
            assert_eq!(signers.len(), 3, "{ctx}");
            assert!(
                domain::sync::is_terminal(*provider, item.status.as_deref().unwrap()),
                "{ctx}: a finished envelope stays finished"
            );
        }
        // Each field holds the value of the highest-ranked event that has it.
        let best = |f: fn(&Event) -> Option<String>| {
            evs.iter()
                .filter_map(|e| {
                    Some((StatusUpdate::of(e, 0).rank, f(e).filter(|v| !v.is_empty())?))
                })
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, v)| v)
        };
        assert_eq!(item.title, best(|e| e.title.clone()), "{ctx}");
        assert_eq!(item.reference, best(|e| e.reference.clone()), "{ctx}");
        assert_eq!(item.counterparty, best(|e| e.counterparty.clone()), "{ctx}");
        assert_eq!(item.workspace, best(|e| e.workspace.clone()), "{ctx}");
        assert_eq!(item.document_id, best(|e| e.document_id.clone()), "{ctx}");
        assert_eq!(
            item.external_metadata,
            evs.iter()
                .filter_map(|e| Some((StatusUpdate::of(e, 0).rank, e.external_metadata.clone()?)))
                .max_by(|a, b| a.0.cmp(&b.0))
                .map(|(_, v)| v),
            "{ctx}"
        );
    }
    assert_all_processed(&shuffled, events.iter().map(Event::ledger_key)).await;
}

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

/// A Subnoto event about envelope `envelope` at `time` (ms), with an optional
/// signer and title.
fn subnoto_event(
    envelope: &str,
    event_type: &str,
    time: i64,
    signer: Option<&str>,
    title: Option<&str>,
) -> Event {
    let mut data = json!({"workspaceUuid": WORKSPACE, "envelopeUuid": envelope});
    if let Some(email) = signer {
        data["recipientEmail"] = json!(email);
    }
    if let Some(title) = title {
        data["title"] = json!(title);
    }
    let body = json!({
        "eventUuid": uuid::Uuid::new_v4().to_string(),
        "eventType": event_type,
        "eventTime": time,
        "data": data,
    });
    Event::parse(
        Provider::Subnoto,
        BodyFormat::Json,
        body.to_string().as_bytes(),
    )
    .unwrap()
}

/// The failed condition returns the stored item, so a superseded event sends
/// the fill-in update only when it brings a signer or a field the item lacks:
/// a redelivery costs one call and writes nothing.
#[tokio::test]
async fn a_superseded_event_writes_only_what_the_item_lacks() {
    let stack = Stack::new().await;
    // Clients with a call counter of their own.
    let clients = clients_via(&moto().endpoint).await;
    let table = StatusTable::new(clients.dynamodb.clone(), &stack.status_table);
    let envelope = uuid::Uuid::new_v4().to_string();
    let apply = |event: Event| {
        let table = table.clone();
        let calls = clients.calls.clone();
        async move {
            let before = calls.get();
            let applied = table.apply(&event, 0).await.unwrap();
            (applied, calls.get() - before)
        }
    };
    let item = || async {
        stack
            .status_items()
            .await
            .remove(&StatusTable::key(Provider::Subnoto, &envelope))
            .expect("the envelope's item")
    };
    let signed_a = subnoto_event(
        &envelope,
        "ENVELOPE_SIGNED",
        1_000,
        Some("a@example.com"),
        None,
    );
    let signed_b = subnoto_event(
        &envelope,
        "ENVELOPE_SIGNED",
        1_500,
        Some("b@example.com"),
        None,
    );
    let completed = subnoto_event(&envelope, "ENVELOPE_COMPLETED", 2_000, None, None);
    let titled = subnoto_event(&envelope, "ENVELOPE_SENT", 500, None, Some("Envelope T"));

    assert_eq!(apply(signed_a.clone()).await, (Applied::Updated, 1));
    assert_eq!(apply(completed.clone()).await, (Applied::Updated, 1));
    let state = item().await;

    // The same events again, the winner and a superseded one: one call each,
    // the item unchanged down to updated_at.
    for event in [&completed, &signed_a, &signed_a] {
        assert_eq!(
            apply(event.clone()).await,
            (Applied::Superseded, 1),
            "{}",
            event.event_type
        );
        assert_eq!(item().await, state, "{}", event.event_type);
    }

    // A superseded event with a signer not seen yet: the signer is added, and
    // nothing else changes.
    assert_eq!(apply(signed_b.clone()).await, (Applied::Superseded, 2));
    let mut expected = state.clone();
    expected.insert(
        store::schema::attr::SIGNERS.into(),
        AttributeValue::Ss(vec!["a@example.com".into(), "b@example.com".into()]),
    );
    let mut with_b = item().await;
    if let Some(AttributeValue::Ss(set)) = with_b.get_mut(store::schema::attr::SIGNERS) {
        set.sort();
    }
    assert_eq!(with_b, expected);
    assert_eq!(apply(signed_b).await, (Applied::Superseded, 1));

    // A superseded event with a field the item lacks fills it in.
    assert_eq!(apply(titled.clone()).await, (Applied::Superseded, 2));
    let read = table
        .get(Provider::Subnoto, &envelope)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(read.title.as_deref(), Some("Envelope T"));
    assert_eq!(read.status.as_deref(), Some("COMPLETED"));
    assert_eq!(read.last_event_key, completed.key);
    assert_eq!(apply(titled).await, (Applied::Superseded, 1));
}

/// A Subnoto envelope only moves forward: once signing has started, a later
/// `ENVELOPE_SENT` or `ENVELOPE_OPENED` (another recipient opening it, a
/// re-send) leaves it `SIGNING`, in every delivery order.
#[tokio::test]
async fn opening_or_sending_a_signing_envelope_leaves_it_signing_in_any_order() {
    let stack = Stack::new().await;
    let table = StatusTable::new(stack.clients.dynamodb.clone(), &stack.status_table);
    // (type, time, signer), in provider time order.
    let lifecycle = [
        ("ENVELOPE_CREATED", 1_000, None),
        ("ENVELOPE_SIGNED", 2_000, Some("a@example.com")),
        ("ENVELOPE_SENT", 3_000, None),
        ("ENVELOPE_OPENED", 4_000, None),
    ];
    let mut orders: Vec<Vec<usize>> = Vec::new();
    for a in 0..4 {
        for b in 0..4 {
            for c in 0..4 {
                let order = vec![a, b, c, 6usize.saturating_sub(a + b + c)];
                if order.iter().collect::<BTreeSet<_>>().len() == 4 {
                    orders.push(order);
                }
            }
        }
    }
    assert_eq!(orders.len(), 24);
    assert_eq!(orders[0], [0, 1, 2, 3], "in order first");
    let mut states = BTreeSet::new();
    for (n, order) in orders.iter().enumerate() {
        let envelope = format!("lifecycle-{n:02}");
        for &i in order {
            let (event_type, time, signer) = lifecycle[i];
            let event = subnoto_event(&envelope, event_type, time, signer, None);
            table.apply(&event, 0).await.unwrap();
        }
        let item = table
            .get(Provider::Subnoto, &envelope)
            .await
            .unwrap()
            .unwrap();
        let ctx = format!("order {order:?}");
        assert_eq!(item.status.as_deref(), Some("SIGNING"), "{ctx}");
        assert_eq!(item.last_event_type, "ENVELOPE_SIGNED", "{ctx}");
        assert_eq!(item.event_time_ms, 2_000, "{ctx}");
        assert_eq!(item.rank_class, domain::sync::CLASS_SIGNING, "{ctx}");
        assert_eq!(
            item.signers,
            BTreeSet::from(["a@example.com".to_string()]),
            "{ctx}"
        );
        states.insert((
            item.status,
            item.last_event_type,
            item.event_time_ms,
            item.signers,
        ));
    }
    assert_eq!(states.len(), 1, "every order ends in the in-order state");

    // Finishing still moves it on, and nothing moves it back.
    let envelope = "lifecycle-00";
    let completed = subnoto_event(envelope, "ENVELOPE_COMPLETED", 5_000, None, None);
    assert_eq!(table.apply(&completed, 0).await.unwrap(), Applied::Updated);
    let reopened = subnoto_event(envelope, "ENVELOPE_OPENED", 6_000, None, None);
    assert_eq!(
        table.apply(&reopened, 0).await.unwrap(),
        Applied::Superseded
    );
    let item = table
        .get(Provider::Subnoto, envelope)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status.as_deref(), Some("COMPLETED"));
}

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
