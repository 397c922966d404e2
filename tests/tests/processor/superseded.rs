//! Superseded events: what they still write; a Subnoto envelope only moves forward.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::AttributeValue;
use integration_tests::*;
use serde_json::json;
use store::{Applied, StatusTable};
use verify::{BodyFormat, Event, Provider};

use crate::WORKSPACE;

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
