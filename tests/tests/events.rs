//! The committed `events/` (written by `make events`) against the real handlers
//! over moto: every ingest event gets the status `events/expected.json` gives
//! it, every SQS batch exactly the listed batch item failures (the archiver's
//! also the listed outcome per record), the sweep runs, and `events/env.json`
//! configures each function `make sam-test` runs as template.yaml declares.
//!
//! Subnoto signatures expire after 5 minutes, so a committed Subnoto event that
//! must be accepted is first checked to carry a valid signature for its own
//! time, then re-signed now; the archiver retries a record for 72 hours from
//! its `SentTimestamp`, so archive-queue records are stamped sent now. Nothing
//! else is changed.

#[path = "../../crates/archiver/tests/common/mod.rs"]
mod archiver_common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use testkit::lambda_event::{body_of, headers_of};

use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Event, Provider, SecretSet, Verifier};

fn events_dir() -> PathBuf {
    repo_root().join("events")
}

fn load(relative: &str) -> Value {
    let path = events_dir().join(relative);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e} (run `make events`)", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{relative}: {e}"))
}

/// `expected.json`'s `events`: file → expectation.
fn manifest() -> BTreeMap<String, Value> {
    load("expected.json")["events"]
        .as_object()
        .expect("expected.json has an events object")
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

fn files_under(dir: &str) -> BTreeSet<String> {
    std::fs::read_dir(events_dir().join(dir))
        .unwrap_or_else(|e| panic!("events/{dir}: {e} (run `make events`)"))
        .map(|e| format!("{dir}/{}", e.unwrap().file_name().to_string_lossy()))
        .collect()
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Replaces a header's value everywhere the event carries it.
fn set_header(event: &mut Value, name: &str, value: &str) {
    for (map, multi) in [("headers", false), ("multiValueHeaders", true)] {
        if let Some(obj) = event[map].as_object_mut() {
            for (k, v) in obj.iter_mut() {
                if k.eq_ignore_ascii_case(name) {
                    *v = if multi {
                        serde_json::json!([value])
                    } else {
                        Value::String(value.to_owned())
                    };
                }
            }
        }
    }
}

#[test]
fn every_sample_has_v1_and_v2_events_and_the_manifest_lists_every_file() {
    let manifest = manifest();
    let mut files = files_under("ingest");
    files.extend(files_under("processor"));
    files.extend(files_under("archiver"));
    let listed: BTreeSet<String> = manifest.keys().cloned().collect();
    assert_eq!(
        files, listed,
        "events/ and expected.json disagree: run `make events`"
    );

    for (provider, name) in samples() {
        let stem = name.trim_end_matches(".json");
        let json = sample(&name);
        let key = Event::parse(provider, BodyFormat::Json, &json)
            .unwrap()
            .ledger_key();
        let mut variants = vec![("", json.clone())];
        if provider == Provider::Subnoto {
            variants.push(("-form", form_encode(&json)));
        }
        for (suffix, body) in variants {
            for api in ["apigw-v1", "apigw-v2"] {
                let file = format!("ingest/{api}-{stem}{suffix}.json");
                let expected = manifest
                    .get(&file)
                    .unwrap_or_else(|| panic!("no {file}: run `make events`"));
                assert_eq!(expected["statusCode"], accepted_status(provider), "{file}");
                assert_eq!(expected["ledger_key"], key.as_str(), "{file}");
                assert_eq!(expected["function"], "IngestFunction", "{file}");
                assert_eq!(
                    body_of(&load(&file)),
                    body,
                    "{file} does not carry the sample's bytes: run `make events`"
                );
            }
        }
    }
    let statuses: BTreeSet<u64> = manifest
        .values()
        .filter_map(|e| e["statusCode"].as_u64())
        .collect();
    for status in [202, 400, 401, 404, 405, 415] {
        assert!(
            statuses.contains(&status),
            "no ingest event expects {status}"
        );
    }
}

#[tokio::test]
async fn ingest_events_get_the_expected_status() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    let subnoto = Verifier::new(SecretSet::new(Provider::Subnoto, [SUBNOTO_SECRET]).unwrap());
    let mut seen = BTreeSet::new();
    let mut checked = 0;
    for (file, expected) in manifest() {
        if !file.starts_with("ingest/") {
            continue;
        }
        let mut event = load(&file);
        let headers = headers_of(&event);
        let body = body_of(&event);
        let want = expected["statusCode"].as_u64().unwrap();
        if let (200..=299, Some(sig)) = (want, header(&headers, "x-webhook-signature")) {
            // Signed correctly at its own time...
            let t: i64 = sig
                .strip_prefix("t=")
                .and_then(|s| s.split(',').next())
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("{file}: signature {sig}"));
            subnoto
                .verify(&headers, &body, t)
                .unwrap_or_else(|e| panic!("{file} is not signed with the test secret: {e}"));
            // ...and re-signed now, because it has gone stale since.
            let fresh = verify::subnoto::sign(SUBNOTO_SECRET, now_ms(), &body);
            set_header(&mut event, "x-webhook-signature", &fresh);
        }
        let want = match expected["ledger_key"].as_str() {
            Some(key) if !seen.insert(key.to_owned()) => 200, // a duplicate delivery
            _ => want,
        };
        let (status, answer) = answer(ingest::handle(&app, request(&event)).await);
        assert_eq!(u64::from(status), want, "{file}: {answer}");
        checked += 1;
    }
    assert!(checked >= 30, "only {checked} ingest events");
    assert_eq!(
        stack.ledger_count().await,
        seen.len(),
        "one ledger item per distinct event, none for rejected requests"
    );
    assert_eq!(stack.drain_queue().await.len(), seen.len());
}

#[tokio::test]
async fn processor_events_get_the_expected_batch_item_failures() {
    let stack = Stack::new().await;
    let app = stack.processor(&[]);
    let mut subjects = BTreeSet::new();
    let mut batches = 0;
    for (file, expected) in manifest() {
        if !file.starts_with("processor/") {
            continue;
        }
        assert_eq!(expected["function"], "ProcessorFunction", "{file}");
        let event = load(&file);
        if expected["sweep"] == true {
            continue; // after the batches, below
        }
        let records = event["Records"].as_array().unwrap();
        for record in records {
            // The digests SQS would put in the record (moto computes them too).
            let attributes = record["messageAttributes"].as_object().unwrap();
            let mut send = stack
                .clients
                .sqs
                .send_message()
                .queue_url(&stack.dlq_url)
                .message_body(record["body"].as_str().unwrap());
            for (name, value) in attributes {
                send = send.message_attributes(
                    name,
                    aws_sdk_sqs::types::MessageAttributeValue::builder()
                        .data_type(value["dataType"].as_str().unwrap())
                        .string_value(value["stringValue"].as_str().unwrap())
                        .build()
                        .unwrap(),
                );
            }
            let sent = send.send().await.unwrap();
            assert_eq!(
                sent.md5_of_message_body(),
                record["md5OfBody"].as_str(),
                "{file}"
            );
            assert_eq!(
                sent.md5_of_message_attributes(),
                record["md5OfMessageAttributes"].as_str(),
                "{file}"
            );
            if let Ok(message) = store::QueueMessage::from_json(record["body"].as_str().unwrap()) {
                if let Some(subject) = &message.event.subject {
                    subjects.insert(format!("{}#{subject}", message.event.provider));
                }
            }
        }
        let answer = processor::handle(&app, event.clone())
            .await
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        let failed: Vec<&Value> = answer["batchItemFailures"]
            .as_array()
            .unwrap_or_else(|| panic!("{file}: {answer}"))
            .iter()
            .map(|f| &f["itemIdentifier"])
            .collect();
        let want: Vec<&Value> = expected["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["itemIdentifier"])
            .collect();
        assert_eq!(failed, want, "{file}");
        batches += 1;
    }
    assert!(batches >= 3, "only {batches} SQS events");
    let synced: BTreeSet<String> = stack.status_items().await.into_keys().collect();
    assert_eq!(synced, subjects, "a status item per subject in the batches");

    let sweep = load("processor/schedule-sweep.json");
    let report = processor::handle(&app, sweep)
        .await
        .expect("the scheduled sweep runs");
    assert_eq!(report["errors"], 0, "{report}");
}

/// What the archiver made of each record, as expected.json lists it.
fn outcomes(report: &archiver::batch::BatchReport) -> Vec<Value> {
    use archiver::batch::Outcome;
    report
        .outcomes
        .iter()
        .map(|(id, outcome)| {
            let (name, reason) = match outcome {
                Outcome::Done(name) | Outcome::Skipped(name) => (*name, None),
                Outcome::DeadLettered(reason) => ("dead_lettered", Some(*reason)),
                Outcome::Retrying { reason, .. } => ("retrying", Some(*reason)),
            };
            let mut v = serde_json::json!({"messageId": id, "outcome": name});
            if let Some(reason) = reason {
                v["reason"] = reason.into();
            }
            v
        })
        .collect()
}

/// `events/env.json`'s variables for `function`.
fn env_vars(function: &str) -> BTreeMap<String, String> {
    load("env.json")[function]
        .as_object()
        .unwrap_or_else(|| panic!("env.json has no {function}"))
        .iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("{function}.{k}: values are strings"));
            (k.clone(), v.to_owned())
        })
        .collect()
}

#[tokio::test]
async fn archiver_events_get_the_expected_batch_item_failures_and_outcomes() {
    let env = archiver_common::ArchiveStack::new().await;
    // env.json's settings, on this stack's resources.
    let mut vars = env_vars("ArchiverFunction");
    for (name, value) in [
        ("STATUS_TABLE", &env.stack.status_table),
        ("ARCHIVE_BUCKET", &env.bucket),
        ("ARCHIVE_QUEUE_URL", &env.queue_url),
        ("ARCHIVE_DLQ_URL", &env.dlq_url),
    ] {
        vars.insert(name.to_owned(), value.clone());
    }
    let config = archiver::ArchiverConfig::from_lookup(|k| vars.get(k).cloned()).unwrap();
    let app = archiver::App::new(&config, &env.stack.clients, &env.archive)
        .await
        .unwrap();
    let template = integration_tests::cfn::template();
    let batch_size = integration_tests::cfn::at(
        &template,
        &[
            "Resources",
            "ArchiverFunction",
            "Properties",
            "Events",
            "Archive",
            "Properties",
            "BatchSize",
        ],
    )
    .as_u64()
    .expect("the archiver's BatchSize");

    let mut dead_lettered = Vec::new();
    let mut seen = BTreeSet::new();
    let mut batches = 0;
    for (file, expected) in manifest() {
        if !file.starts_with("archiver/") {
            continue;
        }
        assert_eq!(expected["function"], "ArchiverFunction", "{file}");
        let mut event = load(&file);
        let records = event["Records"].as_array_mut().unwrap();
        assert!(
            !records.is_empty() && records.len() as u64 <= batch_size,
            "{file}: {} records, BatchSize {batch_size}",
            records.len()
        );
        for record in records.iter_mut() {
            assert_eq!(record["eventSource"], "aws:sqs", "{file}");
            // The digest SQS would put in the record (moto computes it too).
            let sent = env
                .stack
                .clients
                .sqs
                .send_message()
                .queue_url(&env.stack.dlq_url)
                .message_body(record["body"].as_str().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(
                sent.md5_of_message_body(),
                record["md5OfBody"].as_str(),
                "{file}"
            );
            record["attributes"]["SentTimestamp"] = now_ms().to_string().into();
        }
        let event: aws_lambda_events::event::sqs::SqsEvent =
            serde_json::from_value(event).unwrap_or_else(|e| panic!("{file}: {e}"));
        let report = archiver::batch::process_batch(&app, &event).await;
        let failed: Vec<String> = report
            .response()
            .batch_item_failures
            .into_iter()
            .map(|f| f.item_identifier)
            .collect();
        let want: Vec<&str> = expected["batchItemFailures"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["itemIdentifier"].as_str().unwrap())
            .collect();
        assert_eq!(failed, want, "{file}");
        let got = outcomes(&report);
        assert_eq!(
            Value::Array(got.clone()),
            expected["outcomes"],
            "{file}: run `make events`"
        );
        for outcome in got {
            seen.insert(outcome["outcome"].as_str().unwrap().to_owned());
            if outcome["outcome"] == "dead_lettered" {
                dead_lettered.push(outcome["reason"].as_str().unwrap().to_owned());
            }
        }
        batches += 1;
    }
    assert!(batches >= 5, "only {batches} archiver events");
    for outcome in [
        "archive_not_configured",
        "ignored",
        "dead_lettered",
        "retrying",
    ] {
        assert!(
            seen.contains(outcome),
            "no archiver event expects {outcome}"
        );
    }
    // Each dead letter is on the archive DLQ with its reason.
    let mut reasons = Vec::new();
    loop {
        let got = env
            .stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&env.dlq_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        if got.messages().is_empty() {
            break;
        }
        for m in got.messages() {
            let reason = m
                .message_attributes()
                .and_then(|a| a.get("error"))
                .and_then(|v| v.string_value())
                .unwrap_or("-");
            reasons.push(reason.to_owned());
            env.stack
                .clients
                .sqs
                .delete_message()
                .queue_url(&env.dlq_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    reasons.sort();
    dead_lettered.sort();
    assert_eq!(reasons, dead_lettered, "the archive DLQ");
}

/// The functions `make sam-test` runs: `sam/sam_test.py`'s `FUNCTIONS`.
fn sam_test_functions() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("sam/sam_test.py")).unwrap();
    let list = text
        .split_once("\nFUNCTIONS = [\n")
        .and_then(|(_, rest)| rest.split_once("\n]"))
        .expect("sam_test.py has a FUNCTIONS list")
        .0;
    list.lines()
        .filter_map(|line| line.trim().strip_prefix("Function(\""))
        .map(|rest| rest.split('"').next().unwrap().to_owned())
        .collect()
}

/// The template's functions (`AWS::Serverless::Function`).
fn template_functions() -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    t["Resources"]
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::Serverless::Function")
        .map(|(k, _)| k.as_str().unwrap().to_owned())
        .collect()
}

/// The environment variables template.yaml declares for a function.
fn template_env_names(function: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(repo_root().join("template.yaml")).unwrap();
    let t: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let mut names = BTreeSet::new();
    let sources = [
        t.get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment")),
        t["Resources"][function]["Properties"].get("Environment"),
    ];
    for env in sources.into_iter().flatten() {
        for k in env["Variables"].as_mapping().unwrap().keys() {
            names.insert(k.as_str().unwrap().to_owned());
        }
    }
    names
}

#[test]
fn env_json_configures_each_function_with_the_test_secrets() {
    let env = load("env.json");
    let functions: BTreeSet<String> = env.as_object().unwrap().keys().cloned().collect();
    // Every function sam-test runs has a block, and sam-test runs every
    // function of the template.
    assert_eq!(functions, sam_test_functions(), "env.json and sam_test.py");
    assert_eq!(
        functions,
        template_functions(),
        "env.json and template.yaml"
    );
    for function in &functions {
        let function = function.as_str();
        let vars = env_vars(function);
        // `sam local` applies only variables the template declares; one the
        // template declares but env.json omits would keep its deploy-time value
        // (or, for a !Ref / !GetAtt `sam local` cannot resolve, an empty one).
        assert_eq!(
            vars.keys().cloned().collect::<BTreeSet<_>>(),
            template_env_names(function),
            "{function}: env.json and template.yaml declare different variables"
        );
        if function == "ArchiverFunction" {
            check_archiver_env(&vars);
            continue;
        }
        let config = store::Config::from_lookup(|k| vars.get(k).cloned())
            .unwrap_or_else(|e| panic!("{function}: {e}"));
        let defaults = store::Config::from_lookup(|k| match k {
            "EVENTS_TABLE" | "STATUS_TABLE" | "QUEUE_URL" => Some("x".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(config.max_body_bytes, defaults.max_body_bytes);
        assert_eq!(config.tolerance_ms, defaults.tolerance_ms);
        assert_eq!(config.retention_days, defaults.retention_days);
        assert_eq!(config.lease_ms, defaults.lease_ms);
        assert_eq!(config.sweep_after_ms, defaults.sweep_after_ms);
        assert_eq!(config.sweep_max_attempts, defaults.sweep_max_attempts);
        if function == "IngestFunction" {
            let Some(store::SecretsSource::Inline(json)) = config.secrets else {
                panic!("ingest gets inline secrets in env.json");
            };
            let doc: Value = serde_json::from_str(&json).unwrap();
            assert_eq!(doc, serde_json::from_str::<Value>(&secrets_json()).unwrap());
            store::parse_secrets(&json, 300_000).expect("usable secrets");
        } else {
            assert!(config.secrets.is_none());
        }
    }
}

/// The archiver's block: its settings read, the defaults the template gives,
/// no Secrets Manager ARN (credentials inline or none), and the providers as
/// expected.json assumes them: SpotDraft and DocuSign not configured, Subnoto's
/// proxy unreachable.
fn check_archiver_env(vars: &BTreeMap<String, String>) {
    let config = archiver::ArchiverConfig::from_lookup(|k| vars.get(k).cloned())
        .unwrap_or_else(|e| panic!("ArchiverFunction: {e}"));
    let defaults = archiver::ArchiverConfig::from_lookup(|k| match k {
        "STATUS_TABLE" | "ARCHIVE_BUCKET" | "ARCHIVE_QUEUE_URL" | "ARCHIVE_DLQ_URL" => {
            Some("x".into())
        }
        _ => None,
    })
    .unwrap();
    assert_eq!(config.max_document_bytes, defaults.max_document_bytes);
    assert_eq!(config.secrets_refresh, defaults.secrets_refresh);
    assert_eq!(config.spotdraft_rps, defaults.spotdraft_rps);
    assert_eq!(config.document_urls, defaults.document_urls);
    assert_eq!(config.event_bus, None, "publishing off, as the processor's");
    for (name, value) in vars {
        if name.ends_with("_ARN") {
            assert_eq!(value, "", "{name}: no secret exists where sam local runs");
        }
    }
    assert!(config.spotdraft.is_none(), "{:?}", config.spotdraft);
    assert!(config.docusign.is_none(), "{:?}", config.docusign);
    let subnoto = config.subnoto.expect("Subnoto is configured");
    assert!(
        std::net::TcpStream::connect_timeout(
            &subnoto
                .base_url
                .trim_start_matches("http://")
                .parse()
                .expect("an address"),
            std::time::Duration::from_secs(2)
        )
        .is_err(),
        "nothing may answer at SUBNOTO_API_URL {}",
        subnoto.base_url
    );
}
