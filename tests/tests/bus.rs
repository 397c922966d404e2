//! Contract events on an EventBridge bus (issue 13), over the wire against
//! moto: a bus, a rule with an SQS target (what a user's own system would
//! subscribe), ingest and the processor with `EVENT_BUS_NAME` set.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Provider};

/// A bus with a rule that sends every contract-hooks event to a queue.
struct Subscriber {
    bus: String,
    queue_url: String,
}

async fn subscribe(stack: &Stack) -> Subscriber {
    let bus = format!("{}-bus", stack.name);
    let events = &stack.clients.events;
    events.create_event_bus().name(&bus).send().await.unwrap();
    let (queue_url, _) =
        store::schema::create_queues(&stack.clients.sqs, &format!("{}-sub", stack.name))
            .await
            .unwrap();
    let arn = stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(&queue_url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .unwrap()
        .attributes()
        .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
        .clone();
    events
        .put_rule()
        .name("all-contract-events")
        .event_bus_name(&bus)
        .event_pattern(r#"{"source":["contract-hooks"]}"#)
        .send()
        .await
        .unwrap();
    events
        .put_targets()
        .rule("all-contract-events")
        .event_bus_name(&bus)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("queue")
                .arn(arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    Subscriber { bus, queue_url }
}

/// Every EventBridge event the subscriber's queue received.
async fn received(stack: &Stack, sub: &Subscriber) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&sub.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = page.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(&sub.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}

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
    let processor = stack.processor(&[("EVENT_BUS_NAME", bus)]);
    for (provider, body) in bodies {
        let request = signed_request(EventKind::ApiGatewayV2, *provider, body, BodyFormat::Json);
        let status = ingest::handle(&ingest, request).await.status().as_u16();
        assert!(status == 202 || status == 200, "{status}");
    }
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
/// type, const, enum, required, properties, additionalProperties: false.
fn check_schema(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    if let Some(t) = schema["type"].as_str() {
        let ok = match t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "boolean" => value.is_boolean(),
            "array" => value.is_array(),
            _ => true,
        };
        if !ok {
            errors.push(format!("{path}: not {t}"));
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
                None if schema["additionalProperties"] == false => {
                    errors.push(format!("{path}: {k} is not in the schema"))
                }
                None => {}
            }
        }
    }
}

fn schema() -> Value {
    serde_json::from_slice(
        &std::fs::read(repo_root().join("docs/contract-event.schema.json")).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn every_sample_yields_one_contract_event_and_real_changes_one_status_change() {
    let stack = Stack::new().await;
    let sub = subscribe(&stack).await;
    let bodies = samples_in_time_order();
    let reports = deliver_and_process(&stack, &sub.bus, &bodies, 10).await;
    assert_eq!(
        reports.iter().map(|r| r.published).sum::<usize>(),
        bodies.len()
    );
    // Each sample again: duplicates are not queued, nothing more is published.
    let again = deliver_and_process(&stack, &sub.bus, &bodies, 10).await;
    assert!(again.is_empty(), "duplicates were queued again");

    let events = received(&stack, &sub).await;
    let schema = schema();
    let mut errors = Vec::new();
    for e in &events {
        assert_eq!(e["source"], "contract-hooks");
        check_schema(&schema, &e["detail"], "detail", &mut errors);
    }
    assert!(errors.is_empty(), "{errors:#?}");
    let of = |t: &str| -> Vec<&Value> {
        events
            .iter()
            .filter(|e| e["detail-type"] == t)
            .map(|e| &e["detail"])
            .collect()
    };
    let contract_events = of("Contract Event");
    assert_eq!(
        contract_events.len(),
        bodies.len(),
        "one per distinct event"
    );
    let ids: BTreeSet<&str> = contract_events
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), bodies.len());
    for d in &contract_events {
        let entry = stack
            .ledger()
            .get(d["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(entry.status, "PROCESSED", "published, then processed");
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
    }
    // In time order, the real changes: 48213 DRAFT → REDLINING → SIGN →
    // EXECUTED, and envelope e0d1… SIGNING → COMPLETED.
    let changes: BTreeSet<(String, String, String, String)> = of("Contract Status Changed")
        .iter()
        .map(|d| {
            (
                d["subject"].as_str().unwrap().to_owned(),
                d["previous_status"].as_str().unwrap().to_owned(),
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
}

/// Shuffled, duplicated delivery in small batches: a consumer that keeps
/// "highest rank wins" per subject ends where the status table ends.
#[tokio::test]
async fn shuffled_delivery_converges_for_the_consumer_as_in_the_status_table() {
    let stack = Stack::new().await;
    let sub = subscribe(&stack).await;
    let mut bodies = samples_in_time_order();
    bodies.reverse();
    let dup = bodies.clone();
    bodies.extend(dup.into_iter().step_by(2));
    deliver_and_process(&stack, &sub.bus, &bodies, 3).await;

    let events = received(&stack, &sub).await;
    let mut consumer: BTreeMap<(String, String), (String, Option<String>)> = BTreeMap::new();
    for e in events
        .iter()
        .filter(|e| e["detail-type"] == "Contract Event")
    {
        let d = &e["detail"];
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
    let processor = stack.processor(&[]);
    assert_eq!(consumer.len(), 5, "five subjects");
    for ((provider, subject), (_, status)) in &consumer {
        let item = processor
            .status
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

/// PutEvents failing loses nothing: the whole call (the bus unreachable) or
/// every entry (a bus that does not exist: moto answers per entry) makes the
/// records batch item failures, not PROCESSED; redelivered, they publish.
#[tokio::test]
async fn failed_publishing_is_retried_and_nothing_is_marked_processed_before() {
    let stack = Stack::new().await;
    let sub = subscribe(&stack).await;
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
    let records = || -> Vec<Value> {
        messages
            .iter()
            .enumerate()
            .map(|(i, m)| sqs_record(&format!("f{i}"), Some(&m.body), 1))
            .collect()
    };
    // The bus's endpoint refuses connections: the whole call fails.
    let dead = clients_via("http://127.0.0.1:9").await;
    let mut unreachable = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    unreachable.bus = Some(store::Bus::new(dead.events.clone(), &sub.bus));
    // A bus that does not exist.
    let missing = stack.processor(&[("EVENT_BUS_NAME", "no-such-bus")]);
    for app in [&unreachable, &missing] {
        let report = processor::process_batch(app, &sqs_event(records())).await;
        assert_eq!(report.failed.len(), messages.len(), "{report:?}");
        for m in &messages {
            let key = store::QueueMessage::from_json(&m.body).unwrap().ledger_key;
            let entry = stack.ledger().get(&key).await.unwrap().unwrap();
            assert_eq!(entry.status, "RECEIVED", "not processed before publishing");
        }
    }
    assert!(received(&stack, &sub).await.is_empty());
    // The redelivery publishes each event once and marks it processed.
    let good = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    let report = processor::process_batch(&good, &sqs_event(records())).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let events = received(&stack, &sub).await;
    let ids: Vec<&str> = events
        .iter()
        .filter(|e| e["detail-type"] == "Contract Event")
        .map(|e| e["detail"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), messages.len());
    assert_eq!(
        ids.iter().collect::<BTreeSet<_>>().len(),
        ids.len(),
        "each once"
    );
    // The first two samples of 48213 in time order: DRAFT → REDLINING was a
    // real change, and the retry still says so.
    assert!(events
        .iter()
        .any(|e| e["detail-type"] == "Contract Status Changed"
            && e["detail"]["previous_status"] == "DRAFT"));
}
