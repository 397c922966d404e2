//! Contract events on an EventBridge bus (issue 13), over the wire against
//! moto: a bus, a rule with an SQS target (what a user's own system would
//! subscribe), ingest and the processor with `EVENT_BUS_NAME` set.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Provider};

/// The samples in the order their provider sent them (event time).
fn samples_in_time_order() -> Vec<(Provider, Vec<u8>)> {
    let mut all: Vec<(i64, Provider, Vec<u8>)> = samples()
        .into_iter()
        .map(|(provider, name)| {
            let body = sample(&name);
            let event = verify::Event::parse(provider, BodyFormat::Json, &body).unwrap();
            (event.occurred_at_ms.unwrap(), provider, body)
        })
        .collect();
    all.sort_by_key(|(t, _, _)| *t);
    all.into_iter().map(|(_, p, b)| (p, b)).collect()
}

/// Delivers `bodies` to ingest, then processes what was queued in batches of
/// `batch` records (in queue order); returns the processor's reports.
async fn deliver_and_process(
    stack: &Stack,
    bus: &str,
    bodies: &[(Provider, Vec<u8>)],
    batch: usize,
) -> Vec<processor::BatchReport> {
    let ingest = stack.ingest(&[]).await;
    for (provider, body) in bodies {
        let request = signed_request(EventKind::ApiGatewayV2, *provider, body, BodyFormat::Json);
        let status = ingest::handle(&ingest, request).await.status().as_u16();
        assert!(status == 202 || status == 200, "{status}");
    }
    process_queue(stack, bus, batch).await
}

/// Processes what is on the event queue in batches of `batch` records (in
/// queue order); returns the processor's reports.
async fn process_queue(stack: &Stack, bus: &str, batch: usize) -> Vec<processor::BatchReport> {
    let processor = stack.processor(&[("EVENT_BUS_NAME", bus)]);
    let messages = stack.drain_queue_raw().await;
    let mut reports = Vec::new();
    for (n, chunk) in messages.chunks(batch).enumerate() {
        let records = chunk
            .iter()
            .enumerate()
            .map(|(i, m)| sqs_record(&format!("b{n}-{i}"), Some(&m.body), 1))
            .collect();
        let report = processor::process_batch(&processor, &sqs_event(records)).await;
        assert!(report.failed.is_empty(), "{report:?}");
        reports.push(report);
    }
    reports
}

/// A minimal JSON Schema check of what docs/contract-event.schema.json uses:
/// type (one or a list), const, enum, required, properties; a property the
/// schema does not document is an error, whatever `additionalProperties`
/// tells consumers.
fn check_schema(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if !types.is_empty() {
        let is = |t: &str| match t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            "number" => value.is_number(),
            _ => true,
        };
        if !types.iter().any(|t| is(t)) {
            errors.push(format!("{path}: not {}", types.join(" or ")));
        }
    }
    if let Some(c) = schema.get("const") {
        if c != value {
            errors.push(format!("{path}: {value} is not {c}"));
        }
    }
    if let Some(options) = schema["enum"].as_array() {
        if !options.contains(value) {
            errors.push(format!("{path}: {value} not in enum"));
        }
    }
    for name in schema["required"].as_array().into_iter().flatten() {
        if value.get(name.as_str().unwrap()).is_none() {
            errors.push(format!("{path}: {name} missing"));
        }
    }
    if let (Some(props), Some(obj)) = (schema["properties"].as_object(), value.as_object()) {
        for (k, v) in obj {
            match props.get(k) {
                Some(s) => check_schema(s, v, &format!("{path}.{k}"), errors),
                // Consumers may ignore unknown fields, but every field we
                // publish is documented.
                None => errors.push(format!("{path}: {k} is not in the schema")),
            }
        }
    }
}

/// Holds every published event's detail to docs/contract-event.schema.json.
fn assert_details_match_the_schema(events: &[Value]) {
    let schema = schema();
    let mut errors = Vec::new();
    for e in events {
        check_schema(&schema, &e["detail"], "detail", &mut errors);
    }
    assert!(errors.is_empty(), "{errors:#?}");
}

fn schema() -> Value {
    serde_json::from_slice(
        &std::fs::read(repo_root().join("docs/contract-event.schema.json")).unwrap(),
    )
    .unwrap()
}

/// Every sample is published exactly once: as a `Contract Status Changed`
/// when it changed its subject's status, else as a `Contract Event`.
#[tokio::test]
async fn every_sample_is_published_once_and_real_changes_as_status_changes() {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let bodies = samples_in_time_order();
    let reports = deliver_and_process(&stack, &sub.bus, &bodies, 10).await;
    assert_eq!(
        reports.iter().map(|r| r.published).sum::<usize>(),
        bodies.len()
    );
    // Each sample again: duplicates are not queued, nothing more is published.
    let again = deliver_and_process(&stack, &sub.bus, &bodies, 10).await;
    assert!(again.is_empty(), "duplicates were queued again");

    let events = bus_received(&stack, &sub).await;
    assert!(events.iter().all(|e| e["source"] == "contract-hooks"));
    assert_details_match_the_schema(&events);
    let of = |t: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["detail-type"] == t)
            .map(|e| &e["detail"])
            .collect()
    };
    assert_eq!(events.len(), bodies.len(), "one entry per distinct event");
    let ids: BTreeSet<&str> = events
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), bodies.len(), "detail.id is unique on the bus");
    for e in &events {
        let d = &e["detail"];
        let entry = stack
            .ledger()
            .get(d["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, "PROCESSED", "published, then processed");
        // In time order each wins, but DocuSign's envelope-delivered: it
        // fires once every recipient has viewed, after the first signature,
        // and "delivered" ranks below "signing" (no step back).
        let delivered_after_signing = d["provider_event_type"] == "envelope-delivered";
        assert_eq!(
            d["superseded"], delivered_after_signing,
            "in time order, each wins: {d}"
        );
        assert_eq!(d["redelivered"], false, "each handled once: {d}");
        for field in [
            "version",
            "provider",
            "subject",
            "provider_event_type",
            "status",
            "lifecycle",
            "occurred_at",
            "received_at",
            "rank",
        ] {
            assert!(d.get(field).is_some(), "{field} missing in {d}");
        }
        let change = e["detail-type"] == "Contract Status Changed";
        assert_eq!(d.get("previous_lifecycle").is_some(), change, "{e}");
        assert!(change || d.get("previous_status").is_none(), "{e}");
    }
    assert!(events
        .iter()
        .all(|e| e["detail-type"] == "Contract Event"
            || e["detail-type"] == "Contract Status Changed"));
    // In time order, every sample is a real change: each subject's first
    // status (from nothing: no previous_status, previous lifecycle unknown),
    // then 48213 DRAFT → REDLINING → SIGN → EXECUTED and envelope e0d1…
    // SIGNING → COMPLETED.
    let changes: BTreeSet<(String, String, String, String)> = of("Contract Status Changed")
        .iter()
        .map(|d| {
            (
                d["subject"].as_str().unwrap().to_owned(),
                d["previous_status"].as_str().unwrap_or("").to_owned(),
                d["status"].as_str().unwrap().to_owned(),
                format!(
                    "{} -> {}",
                    d["previous_lifecycle"].as_str().unwrap(),
                    d["lifecycle"].as_str().unwrap()
                ),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String, String, String)> = [
        ("48213", "", "DRAFT", "unknown -> draft"),
        ("51007", "", "DRAFT", "unknown -> draft"),
        (
            "77aa88bb-99cc-4ddd-8eee-ff0011223344",
            "",
            "COMPLETED",
            "unknown -> executed",
        ),
        (
            "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f",
            "",
            "SIGNING",
            "unknown -> signing",
        ),
        (
            "12345678-9abc-4def-8123-456789abcdef",
            "",
            "DECLINED",
            "unknown -> declined",
        ),
        ("48213", "DRAFT", "REDLINING", "draft -> in_review"),
        (
            "48213",
            "REDLINING",
            "SIGN",
            "in_review -> out_for_signature",
        ),
        ("48213", "SIGN", "EXECUTED", "out_for_signature -> executed"),
        (
            "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f",
            "SIGNING",
            "COMPLETED",
            "signing -> executed",
        ),
        // DocuSign: envelope c0a8… sent, the first signer, then the second
        // (recipient-completed reporting the envelope completed) executes it;
        // envelope-completed after it changes nothing. Two more envelopes,
        // declined and voided.
        (
            "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
            "",
            "SENT",
            "unknown -> out_for_signature",
        ),
        (
            "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
            "SENT",
            "SIGNING",
            "out_for_signature -> signing",
        ),
        (
            "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
            "SIGNING",
            "COMPLETED",
            "signing -> executed",
        ),
        (
            "e2b74c19-6d0a-4f38-b5e1-2a9c8d7f6e54",
            "",
            "DECLINED",
            "unknown -> declined",
        ),
        (
            "f3d61a2b-9c8e-4b7d-a615-0e4f3c2b1a98",
            "",
            "VOIDED",
            "unknown -> voided",
        ),
    ]
    .iter()
    .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c.to_string(), d.to_string()))
    .collect();
    assert_eq!(changes, expected);
    assert_eq!(
        of("Contract Status Changed").len(),
        expected.len(),
        "one per change"
    );
    assert_eq!(
        of("Contract Event").len(),
        bodies.len() - expected.len(),
        "every other event"
    );
}

/// Shuffled, duplicated delivery in small batches: a consumer that keeps
/// "highest rank wins" per subject ends where the status table ends.
#[tokio::test]
async fn shuffled_delivery_converges_for_the_consumer_as_in_the_status_table() {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let mut bodies = samples_in_time_order();
    bodies.reverse();
    let dup = bodies.clone();
    bodies.extend(dup.into_iter().step_by(2));
    deliver_and_process(&stack, &sub.bus, &bodies, 3).await;

    let events = bus_received(&stack, &sub).await;
    assert_details_match_the_schema(&events);
    // Newest first: 48213's DRAFT came after its EXECUTED, so it changed
    // nothing and says so; a subject's winner never does. A consumer takes
    // both detail-types: together they are every event.
    let contract_events: Vec<&Value> = events.iter().map(|e| &e["detail"]).collect();
    let top = |d: &Value| {
        contract_events
            .iter()
            .filter(|o| o["provider"] == d["provider"] && o["subject"] == d["subject"])
            .map(|o| o["rank"].as_str().unwrap())
            .max()
            .unwrap()
    };
    for d in &contract_events {
        if d["superseded"] == true {
            assert!(d["rank"].as_str().unwrap() < top(d), "{d}");
        }
        if d["rank"].as_str().unwrap() == top(d) {
            assert_eq!(d["superseded"], false, "the winner: {d}");
        }
    }
    assert!(contract_events
        .iter()
        .any(|d| d["subject"] == "48213" && d["status"] == "DRAFT" && d["superseded"] == true));
    let mut consumer: BTreeMap<(String, String), (String, Option<String>)> = BTreeMap::new();
    for d in &contract_events {
        let subject = (
            d["provider"].as_str().unwrap().to_owned(),
            d["subject"].as_str().unwrap().to_owned(),
        );
        let rank = d["rank"].as_str().unwrap().to_owned();
        let status = d["status"].as_str().map(str::to_owned);
        let entry = consumer.entry(subject).or_insert((String::new(), None));
        if rank > entry.0 {
            *entry = (rank, status);
        }
    }
    assert_eq!(consumer.len(), 8, "eight subjects");
    for ((provider, subject), (_, status)) in &consumer {
        let item = stack
            .status_table()
            .get(provider.parse().unwrap(), subject)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&item.status, status, "{provider} {subject}");
    }
    assert_eq!(
        consumer[&("spotdraft".into(), "48213".into())].1.as_deref(),
        Some("EXECUTED")
    );
}

/// A later event that reports the status the subject already has is a
/// `Contract Event`, not a change; the first one was a change from nothing.
#[tokio::test]
async fn the_same_status_again_is_no_status_change() {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let created: Value =
        serde_json::from_slice(&sample("spotdraft-contract-created.json")).unwrap();
    let mut edited = created.clone();
    edited["activity"] = "CONTRACT_EDITED".into();
    edited["activity_data"]["timestamp"] = "2026-11-25T08:00:00Z".into();
    assert_eq!(edited["contract_status"], created["contract_status"]);
    let bodies: Vec<(Provider, Vec<u8>)> = [created, edited]
        .iter()
        .map(|b| (Provider::SpotDraft, serde_json::to_vec(b).unwrap()))
        .collect();
    // One batch each, so the second meets the stored first.
    deliver_and_process(&stack, &sub.bus, &bodies[..1], 10).await;
    deliver_and_process(&stack, &sub.bus, &bodies[1..], 10).await;
    let events = bus_received(&stack, &sub).await;
    let seen: Vec<(&str, &str, bool)> = events
        .iter()
        .map(|e| {
            (
                e["detail-type"].as_str().unwrap(),
                e["detail"]["provider_event_type"].as_str().unwrap(),
                e["detail"]["superseded"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("Contract Status Changed", "CONTRACT_CREATED", false),
            ("Contract Event", "CONTRACT_EDITED", false),
        ]
    );
    assert!(events[1]["detail"].get("previous_lifecycle").is_none());
    assert_details_match_the_schema(&events);
}

/// The archive route (the template's `ArchiveRule` pattern) gets every
/// executed contract, whatever order its events come in: also one seen for
/// the first time already executed (its first status is a change from
/// nothing), such as the sparse Subnoto envelope whose only event is
/// ENVELOPE_COMPLETED, or a contract whose EXECUTED arrives before the rest.
#[tokio::test]
async fn every_executed_subject_reaches_the_archive_route_in_any_order() {
    let in_order = samples_in_time_order();
    let mut newest_first = in_order.clone();
    newest_first.reverse();
    let again = newest_first.clone();
    newest_first.extend(again.into_iter().step_by(3));
    for (order, bodies) in [("in order", in_order), ("newest first", newest_first)] {
        let stack = Stack::new().await;
        let sub = subscribe_to_bus(&stack).await;
        let (queue_url, _) = testkit::resources::create_queues(
            &stack.clients.sqs,
            &format!("{}-archive", stack.name),
        )
        .await
        .unwrap();
        testkit::resources::route_to_queue(
            &stack.clients.events,
            &stack.clients.sqs,
            &sub.bus,
            "archive-rule",
            &store::archive::archive_rule_pattern().to_string(),
            &queue_url,
            "archive",
        )
        .await
        .unwrap();
        deliver_and_process(&stack, &sub.bus, &bodies, 3).await;
        let archive = Subscriber {
            bus: sub.bus.clone(),
            queue_url,
        };
        let routed = bus_received(&stack, &archive).await;
        // At least once: a re-sent winner may come twice, always as the same event.
        let mut by_subject: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
        for e in &routed {
            assert_eq!(e["detail-type"], "Contract Status Changed", "{order}: {e}");
            assert_eq!(e["detail"]["lifecycle"], "executed", "{order}: {e}");
            by_subject
                .entry(e["detail"]["subject"].as_str().unwrap().to_owned())
                .or_default()
                .insert(e["detail"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(
            by_subject.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "48213",
                "77aa88bb-99cc-4ddd-8eee-ff0011223344",
                // DocuSign's envelope c0a80f1e, completed.
                "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
                "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f"
            ],
            "{order}"
        );
        assert!(
            by_subject.values().all(|ids| ids.len() == 1),
            "{order}: {by_subject:?}"
        );
    }
}

/// PutEvents failing loses nothing: the whole call (the bus unreachable) or
/// every entry (a bus that does not exist: moto answers per entry) makes the
/// records batch item failures, not PROCESSED; redelivered, they publish.
#[tokio::test]
async fn failed_publishing_is_retried_and_nothing_is_marked_processed_before() {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let ingest = stack.ingest(&[]).await;
    let bodies = samples_in_time_order();
    for (provider, body) in &bodies[..3] {
        let request = signed_request(EventKind::ApiGatewayV2, *provider, body, BodyFormat::Json);
        assert_eq!(
            ingest::handle(&ingest, request).await.status().as_u16(),
            202
        );
    }
    let messages = stack.drain_queue_raw().await;
    let records = |receive_count| -> Vec<Value> {
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| sqs_record(&format!("f{i}"), Some(&m.body), receive_count))
            .collect()
    };
    // The bus's endpoint refuses connections: the whole call fails.
    let dead = clients_via("http://127.0.0.1:9").await;
    let mut unreachable = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    unreachable.bus = Some(store::Bus::new(dead.events.clone(), &sub.bus));
    // A bus that does not exist.
    // A bus that is not there: on AWS the role refuses it, which is the point.
    stack.expect_refused(iam::Function::Processor, "event-bus/no-such-bus");
    let missing = stack.processor(&[("EVENT_BUS_NAME", "no-such-bus")]);
    for app in [&unreachable, &missing] {
        let report = processor::process_batch(app, &sqs_event(records(1))).await;
        assert_eq!(report.failed.len(), messages.len(), "{report:?}");
        for m in &messages {
            let key = store::QueueMessage::from_json(&m.body).unwrap().ledger_key;
            let entry = stack.ledger().get(&key).await.unwrap().unwrap();
            assert_eq!(entry.status, "RECEIVED", "not processed before publishing");
        }
    }
    assert!(bus_received(&stack, &sub).await.is_empty());
    // The redelivery publishes each event once and marks it processed.
    let good = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    let report = processor::process_batch(&good, &sqs_event(records(2))).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let events = bus_received(&stack, &sub).await;
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), messages.len());
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "each once"
    );
    // SQS delivered each message a second time: the events say so.
    assert!(events.iter().all(|e| e["detail"]["redelivered"] == true));
    // The first two samples of 48213 in time order: DRAFT → REDLINING was a
    // real change, and the retry still says so.
    assert!(events
        .iter()
        .any(|e| e["detail-type"] == "Contract Status Changed"
            && e["detail"]["previous_status"] == "DRAFT"));
    // 48213's first status was a change too; on the retry a later event is
    // the state, and the change the ledger kept is published all the same.
    assert!(events
        .iter()
        .any(|e| e["detail-type"] == "Contract Status Changed"
            && e["detail"]["provider_event_type"] == "CONTRACT_CREATED"
            && e["detail"]["superseded"] == true
            && e["detail"].get("previous_status").is_none()));
}

/// A status change whose publishing failed is still published as one on the
/// retry when a later event has become the subject's state meanwhile (the
/// status item kept it until published): "executed" is never
/// lost, and the archive rule still matches it.
#[tokio::test]
async fn a_change_whose_publishing_failed_survives_a_later_winner() {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let ingest = stack.ingest(&[]).await;
    let good = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    // A bus that is not there: on AWS the role refuses it, which is the point.
    stack.expect_refused(iam::Function::Processor, "event-bus/no-such-bus");
    let missing = stack.processor(&[("EVENT_BUS_NAME", "no-such-bus")]);
    let signed = sample("spotdraft-contract-signed.json");
    let executed = sample("spotdraft-contract-executed.json");
    let mut later: Value = serde_json::from_slice(&executed).unwrap();
    later["activity"] = "CONTRACT_EDITED".into();
    later["activity_data"]["timestamp"] = "2026-11-26T08:00:00Z".into();
    let later = serde_json::to_vec(&later).unwrap();
    // Delivers one body; returns its queued message as an SQS batch of one.
    let deliver = |body: Vec<u8>, receive_count| {
        let (stack, ingest) = (&stack, &ingest);
        async move {
            let request = signed_request(
                EventKind::ApiGatewayV2,
                Provider::SpotDraft,
                &body,
                BodyFormat::Json,
            );
            assert_eq!(ingest::handle(ingest, request).await.status().as_u16(), 202);
            let messages = stack.drain_queue_raw().await;
            assert_eq!(messages.len(), 1);
            let body = messages[0].body.clone();
            (
                store::QueueMessage::from_json(&body).unwrap().ledger_key,
                move |count| sqs_event(vec![sqs_record("m", Some(&body), count)]),
                receive_count,
            )
        }
    };
    let (_, signed_batch, n) = deliver(signed, 1).await;
    assert!(processor::process_batch(&good, &signed_batch(n))
        .await
        .failed
        .is_empty());
    // EXECUTED is applied, but its entry fails: a batch item failure.
    let (executed_key, executed_batch, n) = deliver(executed, 1).await;
    let report = processor::process_batch(&missing, &executed_batch(n)).await;
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let event_key = executed_key.strip_prefix("spotdraft#").unwrap().to_owned();
    assert_eq!(
        stack.kept_changes().await,
        [(
            "spotdraft#48213".to_owned(),
            event_key.clone(),
            "SIGN".to_owned()
        )],
        "the change is kept on the status item for the retry"
    );
    // A later activity (still EXECUTED) becomes the state before the retry.
    let (_, later_batch, n) = deliver(later, 1).await;
    assert!(processor::process_batch(&good, &later_batch(n))
        .await
        .failed
        .is_empty());
    // EXECUTED comes back through `redrive` (SQS's receive count starts over;
    // the `redriven` attribute says it is a redelivery).
    let mut redriven = executed_batch(1);
    redriven.records[0].message_attributes.insert(
        store::REDRIVEN_ATTRIBUTE.to_owned(),
        serde_json::from_value(serde_json::json!({"stringValue": "true", "dataType": "String"}))
            .unwrap(),
    );
    let report = processor::process_batch(&good, &redriven).await;
    assert!(report.failed.is_empty(), "{report:?}");

    let events = bus_received(&stack, &sub).await;
    let mut seen: Vec<(String, String, String, bool)> = events
        .iter()
        .map(|e| {
            let d = &e["detail"];
            (
                d["provider_event_type"].as_str().unwrap().to_owned(),
                e["detail-type"].as_str().unwrap().to_owned(),
                format!(
                    "{} -> {}",
                    d["previous_status"].as_str().unwrap_or(""),
                    d["status"].as_str().unwrap()
                ),
                d["superseded"].as_bool().unwrap(),
            )
        })
        .collect();
    seen.sort();
    let expected = [
        ("CONTRACT_EDITED", "Contract Event", " -> EXECUTED", false),
        (
            "CONTRACT_EXECUTED",
            "Contract Status Changed",
            "SIGN -> EXECUTED",
            true,
        ),
        (
            "CONTRACT_SIGNED",
            "Contract Status Changed",
            " -> SIGN",
            false,
        ),
    ]
    .map(|(a, b, c, d)| (a.to_owned(), b.to_owned(), c.to_owned(), d));
    assert_eq!(seen, expected);
    let executed_event = events
        .iter()
        .find(|e| e["detail"]["provider_event_type"] == "CONTRACT_EXECUTED")
        .unwrap();
    assert_eq!(executed_event["detail"]["redelivered"], true);
    assert_eq!(executed_event["detail"]["lifecycle"], "executed");
    assert_details_match_the_schema(&events);
    // Processed, and the kept change is gone with it.
    let entry = stack.ledger().get(&executed_key).await.unwrap().unwrap();
    assert_eq!(entry.status, "PROCESSED");
    assert_eq!(stack.kept_changes().await, []);
}

/// `replay` re-publishes: every stored event again under the same
/// `detail.id` with the same content, marked `redelivered`; the status table
/// does not move. Oldest first against the final state, each subject's winner
/// comes back as it was first published (a status change stays one); every
/// other event now ranks below the state: a `Contract Event`, `superseded`.
#[tokio::test]
async fn replay_republishes_every_event_under_the_same_id() {
    let stack = Stack::new().await;
    let sub = subscribe_to_bus(&stack).await;
    let bodies = samples_in_time_order();
    deliver_and_process(&stack, &sub.bus, &bodies, 10).await;
    let first = bus_received(&stack, &sub).await;
    let status_before = stack.status_items().await;

    // What `contract-hooks replay` does: every ledger item, oldest first.
    let listing = stack
        .ledger()
        .scan_all(&store::ops::LedgerFilter::default(), |_| {})
        .await
        .unwrap();
    assert_eq!(listing.entries.len(), bodies.len());
    let queue = store::Queue::new(stack.clients.sqs.clone(), &stack.queue_url);
    for scanned in &listing.entries {
        let message = store::ops::replay_message(&scanned.entry).unwrap();
        queue.send(&message).await.unwrap();
    }
    let reports = process_queue(&stack, &sub.bus, 10).await;
    assert_eq!(
        reports.iter().map(|r| r.published).sum::<usize>(),
        bodies.len()
    );
    let again = bus_received(&stack, &sub).await;

    // The detail without what describes this delivery.
    let content = |d: &Value, change: bool| {
        let mut d = d.clone();
        let map = d.as_object_mut().unwrap();
        map.remove("redelivered");
        map.remove("superseded");
        if !change {
            map.remove("previous_status");
            map.remove("previous_lifecycle");
        }
        d
    };
    let by_id = |events: &[Value]| -> BTreeMap<String, (String, Value)> {
        events
            .iter()
            .map(|e| {
                (
                    e["detail"]["id"].as_str().unwrap().to_owned(),
                    (
                        e["detail-type"].as_str().unwrap().to_owned(),
                        e["detail"].clone(),
                    ),
                )
            })
            .collect()
    };
    let (first, replayed) = (by_id(&first), by_id(&again));
    assert_eq!(again.len(), bodies.len(), "each event once more");
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        replayed.keys().collect::<Vec<_>>(),
        "the same ids"
    );
    let winners: BTreeSet<String> = status_before
        .values()
        .map(|item| item["last_event_key"].as_s().unwrap().clone())
        .collect();
    let mut changes_again = 0;
    for (id, (kind, d)) in &replayed {
        let (first_kind, first_detail) = &first[id];
        assert_eq!(d["redelivered"], true, "{d}");
        let winner = winners.contains(id.split_once('#').unwrap().1);
        assert_eq!(d["superseded"] == true, !winner, "{d}");
        if winner {
            assert_eq!(kind, first_kind, "a winner comes back as it was: {id}");
        } else {
            assert_eq!(kind, "Contract Event", "{id}");
        }
        let change = kind == "Contract Status Changed";
        changes_again += usize::from(change);
        assert_eq!(
            content(d, change),
            content(first_detail, change),
            "same content for {id}"
        );
    }
    assert!(
        changes_again > 0,
        "the winners' changes are published again"
    );
    let status_of = |items: &BTreeMap<
        String,
        std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>,
    >| {
        items
            .iter()
            .map(|(k, v)| (k.clone(), v.get("status").cloned()))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        status_of(&stack.status_items().await),
        status_of(&status_before)
    );
    for scanned in &listing.entries {
        let entry = stack
            .ledger()
            .get(&scanned.entry.key)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, "PROCESSED");
    }
}
