//! Metadata values (SpotDraft key pointers) against moto and the local
//! SpotDraft server: the archive rule's metadata target and the key-pointer
//! rule deliver jobs the deployed way (PutEvents, the rules, their SQS
//! targets); each job fetches `GET …/key_pointers`, records the values on
//! the status item and publishes `Contract Metadata Captured` only when they
//! changed; its failures are its own.

mod common;

use std::collections::HashMap;

use archiver::batch::{process_batch, Outcome};
use common::provider::{key_pointers_of_every_type, pdf, CLIENT_ID, CLIENT_SECRET};
use common::{spotdraft_executed, ArchiveStack, Fault, ProviderServer, Route};
use serde_json::{json, Value};
use verify::Provider;

/// Receives and processes one round; returns the outcomes, in order.
async fn round(env: &ArchiveStack, app: &archiver::App) -> Vec<Outcome> {
    let event = env.receive().await;
    let report = process_batch(app, &event).await;
    env.settle(&event, &report.response()).await;
    report.outcomes.into_iter().map(|(_, o)| o).collect()
}

/// Outcome names with their counts (the queue's order is not the rules').
fn tally(outcomes: &[Outcome]) -> HashMap<String, usize> {
    let mut t = HashMap::new();
    for o in outcomes {
        let name = match o {
            Outcome::Done(n) | Outcome::Skipped(n) => n.to_string(),
            Outcome::DeadLettered(r) => format!("dlq:{r}"),
            Outcome::Retrying { reason, .. } => format!("retry:{reason}"),
        };
        *t.entry(name).or_default() += 1;
    }
    t
}

fn counts(pairs: &[(&str, usize)]) -> HashMap<String, usize> {
    pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

async fn stack(composite: &str) -> (ArchiveStack, ProviderServer, archiver::App) {
    let env = ArchiveStack::new().await;
    env.route_metadata().await;
    let server = ProviderServer::start(composite, pdf(5_000, 3)).await;
    let subject = composite.split_once('-').unwrap().1;
    env.seed_status(Provider::SpotDraft, subject).await;
    let app = env.app(Some(&server), &[]).await;
    (env, server, app)
}

fn captured(events: &[(String, Value)]) -> Vec<Value> {
    events
        .iter()
        .filter(|(t, _)| t == "Contract Metadata Captured")
        .map(|(_, d)| d.clone())
        .collect()
}

fn key_pointer_event(contract_id: &str, activity: &str) -> Value {
    json!({
        "version": "2", "id": format!("spotdraft#{contract_id}-{activity}"), "provider": "spotdraft",
        "subject": contract_id, "provider_event_type": activity, "status": "EXECUTED",
        "lifecycle": "executed", "contract_kind": "TEMPLATE_CONTRACT"
    })
}

#[tokio::test]
async fn values_are_recorded_and_published_once_per_execution() {
    let (env, server, app) = stack("T-48213").await;
    env.publish(spotdraft_executed("48213", Some("TEMPLATE_CONTRACT")))
        .await;
    // One execution: a document job and a metadata job.
    let outcomes = round(&env, &app).await;
    assert_eq!(
        tally(&outcomes),
        counts(&[("archived", 1), ("metadata_captured", 1)]),
        "{outcomes:?}"
    );

    // The item holds the values and their hash.
    let item = env.status_item(Provider::SpotDraft, "48213").await;
    let s = |k: &str| item[k].as_s().unwrap().clone();
    let values: Value = serde_json::from_str(&s("key_pointers")).unwrap();
    assert_eq!(values.as_array().unwrap().len(), 7);
    assert_eq!(s("key_pointers_sha256"), s("key_pointers_published_sha256"));
    assert!(!s("key_pointers_at").is_empty());

    // One event: every documented data_type, the dates normalised.
    let events = captured(&env.watched().await);
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e["version"], "1");
    assert_eq!(e["id"], "spotdraft#48213-executed");
    assert_eq!(e["provider"], "spotdraft");
    assert_eq!(e["subject"], "48213");
    assert_eq!(e["values"], values);
    assert_eq!(e["sha256"], s("key_pointers_sha256"));
    assert_eq!(
        e["dates"],
        json!({"effective_date": "2026-12-01", "expiry_date": "2028-11-30"})
    );
    let types: Vec<&str> = e["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["data_type"].as_str().unwrap())
        .collect();
    for t in archiver::keypointers::DATA_TYPES {
        assert!(types.contains(&t), "{t} in {types:?}");
    }
    assert_matches_the_schema(e);
    let term = e["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["field_name"] == "initial_term")
        .unwrap();
    assert_eq!(term["value"], json!({"type": "MONTHS", "value": 24}));

    // What SpotDraft saw: GET key_pointers of the composite id, with the credential.
    let seen = server.seen();
    let kp: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/key_pointers"))
        .collect();
    assert_eq!(kp.len(), 1);
    assert_eq!(kp[0].method, "GET");
    assert_eq!(
        kp[0].path,
        "/api/v2.1/public/contracts/T-48213/key_pointers"
    );
    assert_eq!(kp[0].query, None);
    assert_eq!(kp[0].header("client-id"), Some(CLIENT_ID));
    assert_eq!(kp[0].header("client-secret"), Some(CLIENT_SECRET));
    assert_eq!(kp[0].header("accept"), Some("application/json"));

    // A redelivery: fetched again, nothing new published.
    env.publish(spotdraft_executed("48213", Some("TEMPLATE_CONTRACT")))
        .await;
    let outcomes = round(&env, &app).await;
    assert_eq!(
        tally(&outcomes),
        counts(&[("already_archived", 1), ("metadata_unchanged", 1)]),
        "{outcomes:?}"
    );
    assert!(captured(&env.watched().await).is_empty());

    // A key pointer updated after execution: only a metadata job, one new event.
    let mut changed = key_pointers_of_every_type();
    changed[4]["value"] = json!(300);
    server.serve_key_pointers(changed);
    env.publish_as(
        "Contract Event",
        key_pointer_event("48213", "CONTRACT_KEY_POINTER_UPDATION"),
    )
    .await;
    // Another activity, or one on a contract not executed, is not routed.
    env.publish_as(
        "Contract Event",
        key_pointer_event("48213", "CONTRACT_EDITED"),
    )
    .await;
    let mut draft = key_pointer_event("48213", "CONTRACT_KEY_POINTER_CREATION");
    draft["lifecycle"] = "drafting".into();
    env.publish_as("Contract Event", draft).await;
    let outcomes = round(&env, &app).await;
    assert_eq!(outcomes, [Outcome::Done("metadata_captured")]);
    let events = captured(&env.watched().await);
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0]["id"],
        "spotdraft#48213-CONTRACT_KEY_POINTER_UPDATION"
    );
    let seats = events[0]["values"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["field_name"] == "seats")
        .unwrap()
        .clone();
    assert_eq!(seats["value"], 300);
}

#[tokio::test]
async fn a_429_backs_off_then_the_values_are_captured() {
    let (env, server, app) = stack("T-61").await;
    server.fault(
        Route::KeyPointers,
        Fault::Status(429, vec![("retry-after", "4".into())]),
    );
    env.publish_as(
        "Contract Event",
        key_pointer_event("61", "CONTRACT_KEY_POINTER_CREATION"),
    )
    .await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "throttled",
            after_secs: 4
        }]
    );
    assert!(captured(&env.watched().await).is_empty());
    env.make_visible().await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Done("metadata_captured")]
    );
    assert_eq!(captured(&env.watched().await).len(), 1);
    assert_eq!(server.count(Route::KeyPointers), 2);
}

#[tokio::test]
async fn a_missing_contract_is_dead_lettered_and_the_document_still_archived() {
    // No kind: the listing finds H-71; its key pointers answer 404.
    let (env, server, app) = stack("H-71").await;
    server.fault(Route::KeyPointers, Fault::Status(404, vec![]));
    env.publish(spotdraft_executed("71", None)).await;
    let outcomes = round(&env, &app).await;
    assert_eq!(
        tally(&outcomes),
        counts(&[("archived", 1), ("dlq:not_found", 1)]),
        "{outcomes:?}"
    );
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["error"], "not_found");
    let body: Value = serde_json::from_str(&dead[0].0).unwrap();
    assert_eq!(body["detail-type"], "Contract Metadata Requested");
    assert_eq!(body["detail"]["subject"], "71");
    assert_eq!(env.depth(&env.queue_url).await, (0, 0));
    assert!(env.document(Provider::SpotDraft, "71").await.is_some());
    let item = env.status_item(Provider::SpotDraft, "71").await;
    assert!(!item.contains_key("key_pointers"));
}

#[tokio::test]
async fn hostile_answers_fail_cleanly() {
    let (env, server, app) = stack("T-81").await;
    let job = || key_pointer_event("81", "CONTRACT_KEY_POINTER_UPDATION");
    let huge = format!("[{}]", vec!["{\"field_name\":\"x\"}"; 30_000].join(","));
    let too_many: Vec<Value> = (0..100)
        .map(|i| json!({"field_name": format!("f{i}"), "data_type": "string", "value": "v".repeat(1000)}))
        .collect();
    let json_body = |b: String| {
        Fault::Body(
            b.into_bytes(),
            vec![("content-type", "application/json".into())],
        )
    };
    let cases: Vec<(Fault, Outcome)> = vec![
        (
            json_body(huge),
            Outcome::Retrying {
                reason: "answer_too_large",
                after_secs: 30,
            },
        ),
        (
            json_body(r#"{"detail": "x"}"#.into()),
            Outcome::DeadLettered("unexpected_answer"),
        ),
        (
            json_body("[{\"value\": 1}]".into()),
            Outcome::DeadLettered("unexpected_answer"),
        ),
        (
            Fault::Body(
                b"<html>oops</html>".to_vec(),
                vec![("content-type", "text/html".into())],
            ),
            Outcome::DeadLettered("unexpected_answer"),
        ),
        (
            json_body(Value::Array(too_many).to_string()),
            Outcome::DeadLettered("key_pointers_too_large"),
        ),
    ];
    for (fault, expected) in cases {
        server.fault(Route::KeyPointers, fault);
        env.publish_as("Contract Event", job()).await;
        assert_eq!(round(&env, &app).await, std::slice::from_ref(&expected));
        env.make_visible().await;
        // The retried one (answer too large) succeeds next time.
        if matches!(expected, Outcome::Retrying { .. }) {
            assert_eq!(
                round(&env, &app).await,
                [Outcome::Done("metadata_captured")]
            );
        }
    }
    assert_eq!(captured(&env.watched().await).len(), 1);
    assert_eq!(env.drain(&env.dlq_url).await.len(), 4);
    assert_eq!(env.depth(&env.queue_url).await, (0, 0));
}

/// Holds a detail to docs/contract-metadata.schema.json: types, consts,
/// required fields, and every published field documented.
fn assert_matches_the_schema(detail: &Value) {
    fn check(schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let is = |t: &str| match t {
            "object" => value.is_object(),
            "string" => value.is_string(),
            "array" => value.is_array(),
            "null" => value.is_null(),
            _ => true,
        };
        if !types.is_empty() && !types.iter().any(|t| is(t)) {
            errors.push(format!("{path}: not {}", types.join(" or ")));
        }
        if let Some(c) = schema.get("const") {
            if c != value {
                errors.push(format!("{path}: {value} is not {c}"));
            }
        }
        for name in schema["required"].as_array().into_iter().flatten() {
            if value.get(name.as_str().unwrap()).is_none() {
                errors.push(format!("{path}: {name} missing"));
            }
        }
        let documented = schema.get("properties").is_some()
            || schema
                .get("additionalProperties")
                .is_some_and(Value::is_object);
        if let Some(obj) = value.as_object().filter(|_| documented) {
            for (k, v) in obj {
                match (
                    schema["properties"].get(k),
                    schema.get("additionalProperties"),
                ) {
                    (Some(s), _) => check(s, v, &format!("{path}.{k}"), errors),
                    (None, Some(s)) if s.is_object() => check(s, v, &format!("{path}.{k}"), errors),
                    (None, _) => errors.push(format!("{path}: {k} is not in the schema")),
                }
            }
        }
        if let (Some(items), Some(list)) = (schema.get("items"), value.as_array()) {
            for (i, v) in list.iter().enumerate() {
                check(items, v, &format!("{path}[{i}]"), errors);
            }
        }
    }
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/contract-metadata.schema.json"
    );
    let schema: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let mut errors = Vec::new();
    check(&schema, detail, "detail", &mut errors);
    assert!(errors.is_empty(), "{errors:#?}");
}
