//! Issue 21, item 1: two copies of one event in flight at once (SQS delivers
//! a message twice, ingest re-enqueues after its lease, two invocations
//! overlap) must never lose a status change. Every interleaving of the copies
//! (one batch, two invocations in either order or at once) is run with every
//! step at which one copy can fail or be killed (its change entry refused, or
//! killed after the status write, after the publish, before the mark), then
//! every message not done is redelivered until all are: "executed" must be on
//! the bus as a `Contract Status Changed` at least once, and nothing kept.

use std::time::Duration;

use integration_tests::faults::{target, Call, Fault, FaultProxy, Times};
use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Provider};

/// Where one copy of E1 fails.
#[derive(Debug, Clone, Copy)]
enum Step {
    /// Nothing fails.
    None,
    /// Its `Contract Status Changed` entry is refused by the bus.
    ChangeRefused,
    /// `PutEvents` fails as a whole (500) for its invocation.
    BusDown,
    /// Killed after the status write (before the publish).
    KilledAfterStatusWrite,
    /// Killed after the publish (before the kept change is forgotten).
    KilledAfterPublish,
    /// Killed before the ledger mark.
    KilledBeforeMark,
}

/// How the copies meet.
#[derive(Debug, Clone, Copy)]
enum Layout {
    /// One batch `[E1, E2, E1]`; the faults hit it.
    SameBatch,
    /// `[E1]` (faulty) then `[E1, E2]`.
    FaultyFirst,
    /// `[E1, E2]` then `[E1]` (faulty).
    FaultyLast,
    /// `[E1]` (faulty) and `[E1, E2]` at once.
    Concurrent,
}

const KILL_AFTER: Duration = Duration::from_secs(2);

struct Scene {
    stack: Stack,
    sub: Subscriber,
    e1: String,
    e1_key: String,
    e2: String,
}

/// A contract in SIGN (processed), then E1 (SIGN -> EXECUTED) and E2 (a later
/// activity, still EXECUTED) accepted by ingest; their queue bodies.
async fn scene() -> Scene {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let ingest = stack.ingest(&[]).await;
    let mut later: Value =
        serde_json::from_slice(&sample("spotdraft-contract-executed.json")).unwrap();
    later["activity"] = "CONTRACT_EDITED".into();
    later["activity_data"]["timestamp"] = "2026-11-26T08:00:00Z".into();
    let mut bodies = Vec::new();
    for body in [
        sample("spotdraft-contract-signed.json"),
        sample("spotdraft-contract-executed.json"),
        serde_json::to_vec(&later).unwrap(),
    ] {
        let request = signed_request(
            EventKind::ApiGatewayV2,
            Provider::SpotDraft,
            &body,
            BodyFormat::Json,
        );
        assert_eq!(
            ingest::handle(&ingest, request).await.status().as_u16(),
            202
        );
        let messages = stack.drain_queue_raw().await;
        assert_eq!(messages.len(), 1);
        bodies.push(messages[0].body.clone());
    }
    let good = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    let signed = sqs_event(vec![sqs_record("signed", Some(&bodies[0]), 1)]);
    assert!(processor::process_batch(&good, &signed)
        .await
        .failed
        .is_empty());
    let e1_key = store::QueueMessage::from_json(&bodies[1])
        .unwrap()
        .ledger_key;
    Scene {
        stack,
        sub,
        e1: bodies[1].clone(),
        e1_key,
        e2: bodies[2].clone(),
    }
}

/// Installs the fault for `step` on the proxy; true when the step kills.
fn install(proxy: &FaultProxy, scene: &Scene, step: Step) -> bool {
    let hang = Fault::Hang(Duration::from_secs(60));
    match step {
        Step::None => false,
        Step::ChangeRefused => {
            proxy.fail(
                Call::new(target::PUT_EVENTS).containing(&scene.e1_key),
                Fault::RefuseEntry("Contract Status Changed"),
                Times::Next(1),
            );
            false
        }
        Step::BusDown => {
            proxy.fail(
                Call::new(target::PUT_EVENTS),
                Fault::ServerError,
                Times::UntilCleared,
            );
            false
        }
        Step::KilledAfterStatusWrite => {
            proxy.fail(Call::new(target::PUT_EVENTS), hang, Times::UntilCleared);
            true
        }
        Step::KilledAfterPublish => {
            proxy.fail(
                Call::new(target::UPDATE_ITEM)
                    .on_table(&scene.stack.status_table)
                    .containing("REMOVE"),
                hang,
                Times::UntilCleared,
            );
            true
        }
        Step::KilledBeforeMark => {
            proxy.fail(
                Call::new(target::UPDATE_ITEM)
                    .on_table(&scene.stack.events_table)
                    .containing("PROCESSED"),
                hang,
                Times::UntilCleared,
            );
            true
        }
    }
}

/// Runs one invocation; the ids of the messages it did not finish (all of
/// them when it was killed: its future dropped mid-way, as Lambda's timeout
/// or a crash would end it).
async fn invoke(app: &processor::App, batch: &[(&str, &str)], kills: bool) -> Vec<String> {
    let event = sqs_event(
        batch
            .iter()
            .map(|(id, body)| sqs_record(id, Some(body), 1))
            .collect(),
    );
    let all = || batch.iter().map(|(id, _)| id.to_string()).collect();
    if kills {
        match tokio::time::timeout(KILL_AFTER, processor::process_batch(app, &event)).await {
            Ok(report) => report.failed.into_iter().flatten().collect(),
            Err(_) => all(),
        }
    } else {
        processor::process_batch(app, &event)
            .await
            .failed
            .into_iter()
            .flatten()
            .collect()
    }
}

/// What one case left: rounds of redelivery it needed, and how often
/// "executed" was published as a change.
async fn run(layout: Layout, step: Step) -> (u32, usize) {
    let scene = scene().await;
    let proxy = FaultProxy::start(&moto().endpoint).await;
    let bus = [("EVENT_BUS_NAME", scene.sub.bus.as_str())];
    let faulty = scene
        .stack
        .processor_with(&clients_via(proxy.endpoint()).await, &bus);
    let good = scene.stack.processor(&bus);
    let kills = install(&proxy, &scene, step);
    let (e1, e2) = (scene.e1.as_str(), scene.e2.as_str());
    let mut undone: Vec<String> = match layout {
        Layout::SameBatch => {
            invoke(&faulty, &[("e1", e1), ("e2", e2), ("e1-copy", e1)], kills).await
        }
        Layout::FaultyFirst => {
            let mut a = invoke(&faulty, &[("e1", e1)], kills).await;
            a.extend(invoke(&good, &[("e1-copy", e1), ("e2", e2)], false).await);
            a
        }
        Layout::FaultyLast => {
            let mut a = invoke(&good, &[("e1-copy", e1), ("e2", e2)], false).await;
            a.extend(invoke(&faulty, &[("e1", e1)], kills).await);
            a
        }
        Layout::Concurrent => {
            let (x, y) = ([("e1", e1)], [("e1-copy", e1), ("e2", e2)]);
            let (mut a, b) = tokio::join!(invoke(&faulty, &x, kills), invoke(&good, &y, false));
            a.extend(b);
            a
        }
    };
    proxy.clear();
    // SQS redelivers what was not deleted (a failed record, or every record of
    // a killed invocation), as often as needed.
    let mut rounds = 1;
    for round in 2..6 {
        if undone.is_empty() {
            break;
        }
        rounds = round;
        let records = undone
            .iter()
            .map(|id| {
                let body = if id == "e2" { e2 } else { e1 };
                sqs_record(id, Some(body), round)
            })
            .collect();
        undone = processor::process_batch(&good, &sqs_event(records))
            .await
            .failed
            .into_iter()
            .flatten()
            .collect();
    }
    let case = format!("{layout:?} / {step:?}");
    assert!(undone.is_empty(), "{case}: still failing {undone:?}");
    let events = bus_received(&scene.stack, &scene.sub).await;
    let executed_changes = events
        .iter()
        .filter(|e| {
            e["detail-type"] == "Contract Status Changed"
                && e["detail"]["provider_event_type"] == "CONTRACT_EXECUTED"
                && e["detail"]["status"] == "EXECUTED"
                && e["detail"]["previous_status"] == "SIGN"
                && e["detail"]["lifecycle"] == "executed"
        })
        .count();
    assert!(
        executed_changes >= 1,
        "{case}: 'executed' never published as a change; the bus got {:#?}",
        events
            .iter()
            .map(|e| (
                e["detail-type"].clone(),
                e["detail"]["provider_event_type"].clone()
            ))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        scene.stack.kept_changes().await,
        [],
        "{case}: a published change stays kept"
    );
    let entry = scene
        .stack
        .ledger()
        .get(&scene.e1_key)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(entry.status, "PROCESSED", "{case}");
    (rounds, executed_changes)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_copy_and_failure_step_publishes_executed_as_a_change() {
    for layout in [
        Layout::SameBatch,
        Layout::FaultyFirst,
        Layout::FaultyLast,
        Layout::Concurrent,
    ] {
        for step in [
            Step::None,
            Step::ChangeRefused,
            Step::BusDown,
            Step::KilledAfterStatusWrite,
            Step::KilledAfterPublish,
            Step::KilledBeforeMark,
        ] {
            let (rounds, published) = run(layout, step).await;
            figures(
                "copies",
                serde_json::json!({
                    "layout": format!("{layout:?}"),
                    "step": format!("{step:?}"),
                    "invocations_until_done": rounds,
                    "executed_published_as_change": published,
                }),
            );
        }
    }
}
