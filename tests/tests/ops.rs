//! The operator tools behind `contract-hooks replay`, `redrive`, `failed` and
//! `spotdraft hmac-key --store secrets-manager` (`store::ops`), against moto:
//! events go in through the real ingest handler and come out through the real
//! processor, so "the status table ends in the same state" is checked end to end.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::MessageAttributeValue;
use integration_tests::*;
use serde_json::{json, Value};
use store::ops::{
    replay_message, rotate_secret_in_secrets_manager, KeyChange, LedgerFilter, Redrive,
};
use store::{Queue, QueueMessage, SecretsError};
use verify::{BodyFormat, Provider};

/// Delivers each body through the ingest handler (each must be accepted) and
/// returns the queue messages it produced, in delivery order.
async fn ingest_all(stack: &Stack, bodies: &[(Provider, Vec<u8>)]) -> Vec<RawMessage> {
    let app = stack.ingest(&[]).await;
    let mut out = Vec::new();
    for (provider, body) in bodies {
        let request = signed_request(EventKind::ApiGatewayV2, *provider, body, BodyFormat::Json);
        let (status, answer) = answer(ingest::handle(&app, request).await);
        assert_eq!(status, accepted_status(*provider), "{provider}: {answer}");
        let mut messages = stack.drain_queue_raw().await;
        assert_eq!(messages.len(), 1, "one message per accepted event");
        out.append(&mut messages);
        // Distinct arrival times, so "oldest first" is the delivery order.
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    out
}

fn all_samples() -> Vec<(Provider, Vec<u8>)> {
    samples()
        .into_iter()
        .map(|(p, n)| (p, sample(&n)))
        .collect()
}

/// Feeds `bodies` to the processor one record per batch, in order, as the
/// event source mapping would deliver a queue drained in that order.
async fn process(stack: &Stack, bodies: &[String], prefix: &str) {
    let app = stack.processor(&[]);
    for (i, body) in bodies.iter().enumerate() {
        let event = sqs_event(vec![sqs_record(&format!("{prefix}{i}"), Some(body), 1)]);
        let report = processor::process_batch(&app, &event).await;
        assert!(report.failed.is_empty(), "{prefix}{i}: {report:?}");
    }
}

fn bodies(messages: &[RawMessage]) -> Vec<String> {
    messages.iter().map(|m| m.body.clone()).collect()
}

/// Status items without `updated_at` (the only field that depends on when).
fn without_updated_at(
    items: BTreeMap<String, HashMap<String, AttributeValue>>,
) -> BTreeMap<String, HashMap<String, AttributeValue>> {
    items
        .into_iter()
        .map(|(k, mut item)| {
            item.remove(store::schema::attr::UPDATED_AT);
            (k, item)
        })
        .collect()
}

async fn clear_status_table(stack: &Stack) {
    for key in stack.status_items().await.keys() {
        stack
            .clients
            .dynamodb
            .delete_item()
            .table_name(&stack.status_table)
            .key("pk", AttributeValue::S(key.clone()))
            .send()
            .await
            .unwrap();
    }
    assert!(stack.status_items().await.is_empty());
}

/// What `contract-hooks replay` does: list, rebuild, send. Returns the keys sent.
async fn replay(stack: &Stack, filter: &LedgerFilter) -> Vec<String> {
    let ledger = stack.ledger();
    let queue = Queue::new(stack.clients.sqs.clone(), &stack.queue_url);
    let mut pages = 0;
    let listing = ledger.scan_all(filter, |_| pages += 1).await.unwrap();
    assert!(pages >= 1);
    assert!(listing.corrupt.is_empty(), "{:?}", listing.corrupt);
    let mut sent = Vec::new();
    for scanned in &listing.entries {
        let message = replay_message(&scanned.entry).unwrap();
        queue.send(&message).await.unwrap();
        sent.push(scanned.entry.key.clone());
    }
    sent
}

fn by_key(messages: &[RawMessage]) -> BTreeMap<String, QueueMessage> {
    messages
        .iter()
        .map(|m| {
            let parsed = QueueMessage::from_json(&m.body).unwrap();
            (parsed.ledger_key.clone(), parsed)
        })
        .collect()
}

#[tokio::test]
async fn replay_redelivers_the_stored_events_and_rebuilds_the_same_status_table() {
    let stack = Stack::new().await;
    let original = ingest_all(&stack, &all_samples()).await;
    process(&stack, &bodies(&original), "first-").await;
    let expected = without_updated_at(stack.status_items().await);
    assert_eq!(expected.len(), 8, "one item per subject");

    // Lose the status table, then rebuild it from the ledger alone.
    clear_status_table(&stack).await;
    let sent = replay(&stack, &LedgerFilter::default()).await;
    assert_eq!(sent.len(), original.len());
    let replayed = stack.drain_queue_raw().await;
    assert_eq!(replayed.len(), original.len(), "one message per event");
    // The same messages ingest sent (key, arrival time and event), marked
    // as sent again.
    let resent: BTreeMap<String, QueueMessage> = by_key(&original)
        .into_iter()
        .map(|(k, m)| (k, m.resent()))
        .collect();
    assert_eq!(by_key(&replayed), resent);
    // Oldest first, so the replay arrives in the original order.
    let original_order: Vec<String> = original
        .iter()
        .map(|m| QueueMessage::from_json(&m.body).unwrap().ledger_key)
        .collect();
    assert_eq!(sent, original_order);

    process(&stack, &bodies(&replayed), "replay-").await;
    assert_eq!(without_updated_at(stack.status_items().await), expected);

    // Replaying on top of a complete table changes nothing at all.
    let before = stack.status_items().await;
    replay(&stack, &LedgerFilter::default()).await;
    let mut again = bodies(&stack.drain_queue_raw().await);
    again.reverse();
    process(&stack, &again, "again-").await;
    assert_eq!(stack.status_items().await, before);
    let ledger = stack.ledger();
    for key in original_order {
        assert_eq!(ledger.get(&key).await.unwrap().unwrap().status, "PROCESSED");
    }
}

#[tokio::test]
async fn listings_filter_by_time_provider_and_status() {
    let stack = Stack::new().await;
    let all = all_samples();
    let (spotdraft, subnoto): (Vec<_>, Vec<_>) = all
        .into_iter()
        .partition(|(p, _)| *p == Provider::SpotDraft);
    let spotdraft_messages = ingest_all(&stack, &spotdraft).await;
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let between = now_ms();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let subnoto_messages = ingest_all(&stack, &subnoto).await;
    let keys = |messages: &[RawMessage]| -> Vec<String> { by_key(messages).into_keys().collect() };
    let ledger = stack.ledger();
    let listed = |filter: LedgerFilter| {
        let ledger = ledger.clone();
        async move {
            let mut keys: Vec<String> = ledger
                .scan_all(&filter, |_| {})
                .await
                .unwrap()
                .entries
                .into_iter()
                .map(|s| s.entry.key)
                .collect();
            keys.sort();
            keys
        }
    };

    assert_eq!(
        listed(LedgerFilter {
            since_ms: Some(between),
            ..LedgerFilter::default()
        })
        .await,
        keys(&subnoto_messages)
    );
    assert_eq!(
        listed(LedgerFilter {
            provider: Some(Provider::SpotDraft),
            ..LedgerFilter::default()
        })
        .await,
        keys(&spotdraft_messages)
    );
    assert_eq!(
        listed(LedgerFilter {
            since_ms: Some(between),
            provider: Some(Provider::SpotDraft),
            ..LedgerFilter::default()
        })
        .await,
        Vec::<String>::new()
    );

    // Two processed: a status filter tells them apart.
    process(&stack, &bodies(&subnoto_messages[..2]), "p-").await;
    let processed = listed(LedgerFilter {
        status: Some("PROCESSED".into()),
        ..LedgerFilter::default()
    })
    .await;
    assert_eq!(processed, keys(&subnoto_messages[..2]));
    let received = listed(LedgerFilter {
        status: Some("RECEIVED".into()),
        ..LedgerFilter::default()
    })
    .await;
    assert_eq!(received.len(), 16 - 2);
    assert!(received.iter().all(|k| !processed.contains(k)));

    // Replay with a filter sends exactly what it lists.
    let sent = replay(
        &stack,
        &LedgerFilter {
            since_ms: Some(between),
            status: Some("RECEIVED".into()),
            ..LedgerFilter::default()
        },
    )
    .await;
    let drained: Vec<String> = by_key(&stack.drain_queue_raw().await).into_keys().collect();
    let mut sent_sorted = sent.clone();
    sent_sorted.sort();
    assert_eq!(drained, sent_sorted);
    assert_eq!(sent.len(), subnoto_messages.len() - 2);
}

#[tokio::test]
async fn failed_lists_only_failed_events_and_a_replay_recovers_them() {
    let stack = Stack::new().await;
    let messages = ingest_all(
        &stack,
        &[
            (
                Provider::SpotDraft,
                sample("spotdraft-contract-created.json"),
            ),
            (Provider::Subnoto, sample("subnoto-envelope-declined.json")),
            (Provider::Subnoto, sample("subnoto-envelope-signed.json")),
        ],
    )
    .await;
    // The messages are lost; the sweep gave up on one of the events.
    let keys: Vec<String> = messages
        .iter()
        .map(|m| QueueMessage::from_json(&m.body).unwrap().ledger_key)
        .collect();
    let ledger = stack.ledger();
    let failed_at = now_ms();
    assert!(ledger.mark_failed(&keys[1], failed_at).await.unwrap());

    let listing = ledger
        .scan_all(&LedgerFilter::failed(), |_| {})
        .await
        .unwrap();
    assert_eq!(listing.entries.len(), 1, "{:?}", listing.entries);
    let failed = &listing.entries[0];
    assert_eq!(failed.entry.key, keys[1]);
    assert_eq!(failed.entry.status, "FAILED");
    assert_eq!(failed.failed_at_ms, Some(failed_at));
    assert_eq!(failed.entry.event_type, "ENVELOPE_DECLINED");
    assert_eq!(
        failed.entry.event().unwrap().event_type,
        "ENVELOPE_DECLINED"
    );
    assert!(
        !failed.entry.pending,
        "FAILED items leave the pending index"
    );
    let spotdraft_only = ledger
        .scan_all(
            &LedgerFilter {
                provider: Some(Provider::SpotDraft),
                ..LedgerFilter::failed()
            },
            |_| {},
        )
        .await
        .unwrap();
    assert!(spotdraft_only.entries.is_empty());

    // `replay --key`: the processor applies it and marks it PROCESSED.
    let entry = ledger.get(&keys[1]).await.unwrap().unwrap();
    Queue::new(stack.clients.sqs.clone(), &stack.queue_url)
        .send(&replay_message(&entry).unwrap())
        .await
        .unwrap();
    let replayed = stack.drain_queue_raw().await;
    assert_eq!(replayed.len(), 1);
    assert_eq!(
        QueueMessage::from_json(&replayed[0].body).unwrap(),
        QueueMessage::from_json(&messages[1].body).unwrap().resent(),
        "the message ingest sent, marked as sent again"
    );
    process(&stack, &bodies(&replayed), "r-").await;
    assert_eq!(
        ledger.get(&keys[1]).await.unwrap().unwrap().status,
        "PROCESSED"
    );
    let status = stack.status_items().await;
    let item = &status["subnoto#12345678-9abc-4def-8123-456789abcdef"];
    assert_eq!(item["status"].as_s().unwrap(), "DECLINED");
    assert!(ledger
        .scan_all(&LedgerFilter::failed(), |_| {})
        .await
        .unwrap()
        .entries
        .is_empty());
}

/// Every message on `queue_url` (received and deleted), with its `provider`
/// attribute when it has one.
/// Every message on the queue: (body, `provider` attribute, `redriven` attribute).
async fn drain_with_attributes(
    stack: &Stack,
    queue_url: &str,
) -> Vec<(String, Option<String>, Option<String>)> {
    let mut out = Vec::new();
    loop {
        let batch = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .wait_time_seconds(0)
            .send()
            .await
            .unwrap();
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            return out;
        }
        for m in messages {
            let attribute = |name: &str| {
                m.message_attributes()
                    .and_then(|a| a.get(name))
                    .and_then(|v| v.string_value())
                    .map(str::to_owned)
            };
            out.push((
                m.body().unwrap().to_owned(),
                attribute("provider"),
                attribute(store::REDRIVEN_ATTRIBUTE),
            ));
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn redrive_moves_every_dead_letter_back_exactly_once() {
    let stack = Stack::new().await;
    // Real queue messages (as ingest sent them, with their attributes) and
    // opaque ones, 30 in all: more than two receive batches.
    let real = ingest_all(&stack, &all_samples()).await;
    let mut expected: Vec<(String, Option<String>)> = Vec::new();
    for m in &real {
        let provider = QueueMessage::from_json(&m.body)
            .unwrap()
            .event
            .provider
            .as_str()
            .to_owned();
        expected.push((m.body.clone(), Some(provider)));
    }
    for i in 0..14 {
        expected.push((format!("{{\"poison\":{i}}}"), None));
    }
    for (body, provider) in &expected {
        let mut send = stack
            .clients
            .sqs
            .send_message()
            .queue_url(&stack.dlq_url)
            .message_body(body);
        if let Some(p) = provider {
            send = send.message_attributes(
                "provider",
                MessageAttributeValue::builder()
                    .data_type("String")
                    .string_value(p)
                    .build()
                    .unwrap(),
            );
        }
        send.send().await.unwrap();
    }
    let redrive = Redrive::new(stack.clients.sqs.clone(), &stack.dlq_url, &stack.queue_url);
    assert_eq!(redrive.depth().await.unwrap(), 30, "what --dry-run reports");
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    // --max 10
    let mut steps = 0;
    let report = redrive.run(10, |_| steps += 1).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.moved, 10);
    assert_eq!(steps, 1);
    assert_eq!(stack.queue_depth(&stack.dlq_url).await, 20);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 10);

    // The rest.
    let report = redrive.run(usize::MAX, |_| {}).await;
    assert!(report.is_clean(), "{report:?}");
    assert_eq!(report.moved, 20);
    assert_eq!(stack.queue_depth(&stack.dlq_url).await, 0);

    // Each message exactly once, body and attributes unchanged, marked as
    // redriven (the processor then counts it as redelivered).
    let mut moved = drain_with_attributes(&stack, &stack.queue_url).await;
    moved.sort();
    let mut expected: Vec<_> = expected
        .into_iter()
        .map(|(body, provider)| (body, provider, Some("true".to_owned())))
        .collect();
    expected.sort();
    assert_eq!(moved, expected);

    // Nothing left: a second run moves nothing.
    let report = redrive.run(usize::MAX, |_| {}).await;
    assert_eq!((report.moved, report.is_clean()), (0, true));

    // The redriven real messages drive the processor like the originals.
    process(&stack, &bodies(&real), "redriven-").await;
    assert_eq!(stack.status_items().await.len(), 8);
}

#[tokio::test]
async fn a_new_spotdraft_key_goes_into_secrets_manager_keeping_the_previous_one() {
    let stack = Stack::new().await;
    let arn = stack.create_secret(&secrets_json()).await;
    let sm = &stack.clients.secrets;
    let read = || async {
        let text = sm
            .get_secret_value()
            .secret_id(&arn)
            .send()
            .await
            .unwrap()
            .secret_string
            .unwrap();
        serde_json::from_str::<Value>(&text).unwrap()
    };

    let change =
        rotate_secret_in_secrets_manager(sm, &arn, Provider::SpotDraft, SPOTDRAFT_KEY_NEXT)
            .await
            .unwrap();
    assert_eq!(
        change,
        KeyChange::Rotated {
            kept_previous: true
        }
    );
    assert_eq!(
        read().await,
        json!({"spotdraft": [SPOTDRAFT_KEY_NEXT, SPOTDRAFT_KEY], "subnoto": [SUBNOTO_SECRET], "docusign": [DOCUSIGN_KEY]})
    );

    // Ingest reading the secret accepts deliveries signed with either key.
    let app = stack.ingest(&[("WEBHOOK_SECRETS_ARN", arn.as_str())]).await;
    for (key, name) in [
        (SPOTDRAFT_KEY_NEXT, "spotdraft-contract-created.json"),
        (SPOTDRAFT_KEY, "spotdraft-contract-signed.json"),
    ] {
        let body = sample(name);
        let headers = signed_headers(Provider::SpotDraft, key, &body, now_ms(), BodyFormat::Json);
        let request = request(&http_event(
            EventKind::ApiGatewayV2,
            "POST",
            "/webhooks/spotdraft",
            &headers,
            &body,
            false,
        ));
        let (status, answer) = answer(ingest::handle(&app, request).await);
        assert_eq!(status, 202, "{name}: {answer}");
    }

    // The same key again writes nothing; a key that is not base64 is refused
    // before any write, and the error does not echo it.
    let versions = || async {
        sm.list_secret_version_ids()
            .secret_id(&arn)
            .send()
            .await
            .unwrap()
            .versions()
            .len()
    };
    let before = versions().await;
    assert_eq!(
        rotate_secret_in_secrets_manager(sm, &arn, Provider::SpotDraft, SPOTDRAFT_KEY_NEXT)
            .await
            .unwrap(),
        KeyChange::Unchanged
    );
    let err = rotate_secret_in_secrets_manager(sm, &arn, Provider::SpotDraft, "not base64!!")
        .await
        .unwrap_err();
    assert!(matches!(err, SecretsError::Secret(_)), "{err:?}");
    assert!(!err.to_string().contains("not base64!!"));
    assert_eq!(versions().await, before, "nothing was written");
    assert_eq!(
        read().await["spotdraft"],
        json!([SPOTDRAFT_KEY_NEXT, SPOTDRAFT_KEY])
    );

    // A secret that does not exist is an error, not a new secret.
    let missing = rotate_secret_in_secrets_manager(
        sm,
        &format!("{}-missing", stack.name),
        Provider::SpotDraft,
        SPOTDRAFT_KEY_NEXT,
    )
    .await;
    assert!(
        matches!(missing, Err(SecretsError::Fetch(_))),
        "{missing:?}"
    );
}
