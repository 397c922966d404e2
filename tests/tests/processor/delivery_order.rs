//! Random events delivered shuffled and duplicated end in the state of an in-order delivery.

use std::collections::{BTreeMap, BTreeSet};

use domain::sync::StatusUpdate;
use integration_tests::*;
use serde_json::json;
use store::StatusTable;
use verify::{BodyFormat, Event, Provider};

use crate::{assert_all_processed, batch, ingest_all, parsed, without_updated_at};

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
