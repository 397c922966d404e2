//! `template.yaml` against the code, so the deployed stack and what the
//! functions expect cannot drift apart:
//!
//! - every environment variable `store::Config` reads is set on the function
//!   that needs it (and nothing unknown is), with defaults equal to Config's;
//! - the ledger and status tables equal what `store::schema` creates (compared
//!   with the tables the harness creates in moto: keys, attributes, the pending
//!   index and its projection, TTL), plus point-in-time recovery and encryption;
//! - the queue's redrive policy and visibility timeout equal the schema
//!   constants and fit the processor's timeout; the event sources are the ones
//!   the processor and ingest code understand;
//! - each function's role grants exactly the listed actions on its own
//!   resources, and every AWS operation the code calls is granted;
//! - the alarms watch metrics that exist (the sweep's EMF metric as the
//!   processor publishes it in Lambda, under the function's own name);
//! - `cfn-lint template.yaml` passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use aws_sdk_sqs::types::QueueAttributeName;
use integration_tests::cfn::{args, at, evaluate, intrinsic, render, show, sub_names, template};
use integration_tests::{child, repo_root, Stack};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use store::schema;
use verify::Provider;

// ------------------------------------------------------------------ helpers

fn resource<'a>(t: &'a Yaml, name: &str, kind: &str) -> &'a Yaml {
    let r = at(t, &["Resources", name]);
    assert_eq!(show(at(r, &["Type"])), kind, "type of {name}");
    r
}

fn props<'a>(t: &'a Yaml, name: &str, kind: &str) -> &'a Yaml {
    at(resource(t, name, kind), &["Properties"])
}

fn resources_of<'a>(t: &'a Yaml, kind: &str) -> Vec<(String, &'a Yaml)> {
    at(t, &["Resources"])
        .as_mapping()
        .unwrap()
        .iter()
        .filter(|(_, r)| r.get("Type").map(show).as_deref() == Some(kind))
        .map(|(k, r)| (show(k), r))
        .collect()
}

const FUNCTION: &str = "AWS::Serverless::Function";
const INGEST: &str = "IngestFunction";
const PROCESSOR: &str = "ProcessorFunction";
const ARCHIVER: &str = "ArchiverFunction";

/// A function property, falling back to `Globals.Function`.
fn function_prop<'a>(t: &'a Yaml, function: &str, name: &str) -> Option<&'a Yaml> {
    props(t, function, FUNCTION)
        .get(name)
        .or_else(|| t.get("Globals")?.get("Function")?.get(name))
}

fn number(v: &Yaml, what: &str) -> u64 {
    match v {
        Yaml::Number(n) => n.as_u64(),
        Yaml::String(s) => s.parse().ok(),
        _ => None,
    }
    .unwrap_or_else(|| panic!("{what} is not a number: {}", show(v)))
}

fn timeout_secs(t: &Yaml, function: &str) -> u64 {
    number(
        function_prop(t, function, "Timeout").expect("functions set Timeout"),
        &format!("{function}.Timeout"),
    )
}

/// The function's environment: name → value as [`show`] renders it. Global
/// variables are merged under the function's own.
fn env_of(t: &Yaml, function: &str) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    let sources = [
        t.get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment")),
        props(t, function, FUNCTION).get("Environment"),
    ];
    for vars in sources.into_iter().flatten() {
        for (k, v) in at(vars, &["Variables"]).as_mapping().unwrap() {
            env.insert(show(k), show(v));
        }
    }
    env
}

/// A parameter's default.
fn parameter_default(t: &Yaml, name: &str) -> String {
    show(at(t, &["Parameters", name, "Default"]))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

fn rust_sources(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(rust_sources(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = read(&path);
            out.push((path, text));
        }
    }
    out.sort();
    out
}

/// Text before the file's unit-test module.
fn without_tests(text: &str) -> &str {
    text.split("#[cfg(test)]").next().unwrap()
}

/// `"UPPER_SNAKE"` string literals: the variable names a file reads.
fn quoted_env_names(text: &str) -> BTreeSet<String> {
    let bytes = text.as_bytes();
    let mut names = BTreeSet::new();
    for (i, _) in text.match_indices('"') {
        let rest = &bytes[i + 1..];
        let len = rest
            .iter()
            .take_while(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || **b == b'_')
            .count();
        if rest.get(len) == Some(&b'"') {
            let name = &text[i + 1..i + 1 + len];
            if name.len() >= 4
                && name.contains('_')
                && name.starts_with(|c: char| c.is_ascii_uppercase())
            {
                names.insert(name.to_owned());
            }
        }
    }
    names
}

/// Every variable `store::Config` reads (from the source, so a new setting
/// cannot be missed), cross-checked against names known to be there.
fn config_env_names() -> BTreeSet<String> {
    let text = read(&repo_root().join("crates/store/src/config.rs"));
    let names = quoted_env_names(without_tests(&text));
    for known in [
        "EVENTS_TABLE",
        "STATUS_TABLE",
        "QUEUE_URL",
        "WEBHOOK_SECRETS",
        "WEBHOOK_SECRETS_ARN",
        "MAX_BODY_BYTES",
        "SIGNATURE_TOLERANCE_SECONDS",
        "EVENT_RETENTION_DAYS",
    ] {
        assert!(
            names.contains(known),
            "reading config.rs found {names:?}, without {known}: has the file changed shape?"
        );
    }
    names
}

/// Variables read with `std::env::var` directly in a crate's source. Modules
/// compiled only for the tests (`#![cfg(feature = "failpoints")]`, see
/// `crates/ingest/src/failpoint.rs`) are not part of a deployed function.
fn direct_env_reads(krate: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (_, text) in rust_sources(&repo_root().join("crates").join(krate).join("src")) {
        if text.starts_with("#![cfg(feature = \"failpoints\")]") {
            continue;
        }
        for pattern in ["env::var(\"", "env::var_os(\""] {
            for (i, _) in without_tests(&text).match_indices(pattern) {
                let rest = &text[i + pattern.len()..];
                let name = &rest[..rest.find('"').unwrap()];
                if !name.starts_with("AWS_") {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}

/// Only the ingest function uses these (secrets, the HTTP edge's limits).
const INGEST_ONLY: [&str; 5] = [
    "WEBHOOK_SECRETS",
    "WEBHOOK_SECRETS_ARN",
    "MAX_BODY_BYTES",
    "SIGNATURE_TOLERANCE_SECONDS",
    "SECRETS_REFRESH_SECONDS",
];

fn needed_by(function: &str, name: &str) -> bool {
    let ingest_only = INGEST_ONLY.contains(&name);
    let processor_only = name.starts_with("SWEEP_") || name == "EVENT_BUS_NAME";
    match function {
        INGEST => !processor_only,
        _ => !ingest_only,
    }
}

// ------------------------------------------------------------------ environment

#[test]
fn every_setting_config_reads_is_set_on_the_function_that_needs_it() {
    let t = template();
    let config_names = config_env_names();
    for (function, krate) in [(INGEST, "ingest"), (PROCESSOR, "processor")] {
        let env = env_of(&t, function);
        let declared: BTreeSet<&str> = env.keys().map(String::as_str).collect();
        let mut required: BTreeSet<String> = config_names
            .iter()
            .filter(|n| needed_by(function, n))
            .cloned()
            .collect();
        required.extend(direct_env_reads(krate));
        required.extend(direct_env_reads("store"));
        required.insert("RUST_LOG".into());
        let missing: Vec<_> = required
            .iter()
            .filter(|n| !declared.contains(n.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{function} lacks {missing:?} (it has {declared:?})"
        );
        let unexpected: Vec<_> = declared
            .iter()
            .filter(|n| !required.contains(**n))
            .collect();
        assert!(
            unexpected.is_empty(),
            "{function} sets {unexpected:?}, which its code does not read (a typo, or a \
             setting meant for the other function)"
        );

        assert_eq!(env["EVENTS_TABLE"], "Ref(EventsTable)", "{function}");
        assert_eq!(env["STATUS_TABLE"], "Ref(StatusTable)", "{function}");
        assert_eq!(env["QUEUE_URL"], "Ref(EventQueue)", "{function}");
    }
    let ingest = env_of(&t, INGEST);
    assert_eq!(ingest["WEBHOOK_SECRETS_ARN"], "Ref(WebhookSecrets)");
    assert_eq!(
        ingest["WEBHOOK_SECRETS"], "",
        "secrets never go into the template: WEBHOOK_SECRETS is declared empty (for sam \
         local's env.json) and the deployed function reads WEBHOOK_SECRETS_ARN"
    );
}

/// With every parameter at its default, each function's environment is a
/// valid `Config` equal to Config's own defaults.
#[test]
fn template_defaults_are_configs_defaults() {
    let t = template();
    let base = |k: &str| match k {
        "EVENTS_TABLE" | "STATUS_TABLE" => Some("table".to_owned()),
        "QUEUE_URL" => Some("https://sqs.invalid/1/q".to_owned()),
        _ => None,
    };
    let defaults = store::Config::from_lookup(base).unwrap();
    for function in [INGEST, PROCESSOR] {
        let env: BTreeMap<String, String> = env_of(&t, function)
            .into_iter()
            .map(|(k, v)| {
                let resolved = match v.strip_prefix("Ref(").and_then(|r| r.strip_suffix(')')) {
                    Some(p) if t.get("Parameters").and_then(|ps| ps.get(p)).is_some() => {
                        parameter_default(&t, p)
                    }
                    Some(_) => base(&k).unwrap_or_else(|| "arn:aws:secretsmanager:x".into()),
                    None => v,
                };
                (k, resolved)
            })
            .collect();
        let c = store::Config::from_lookup(|k| env.get(k).cloned())
            .unwrap_or_else(|e| panic!("{function}'s environment is not a valid Config: {e}"));
        let pairs = [
            (
                "MAX_BODY_BYTES",
                c.max_body_bytes as i64,
                defaults.max_body_bytes as i64,
            ),
            (
                "SIGNATURE_TOLERANCE_SECONDS",
                c.tolerance_ms as i64,
                defaults.tolerance_ms as i64,
            ),
            (
                "EVENT_RETENTION_DAYS",
                c.retention_days.into(),
                defaults.retention_days.into(),
            ),
            ("LEDGER_LEASE_SECONDS", c.lease_ms, defaults.lease_ms),
            (
                "SECRETS_REFRESH_SECONDS",
                c.secrets_refresh.as_secs() as i64,
                defaults.secrets_refresh.as_secs() as i64,
            ),
            (
                "SWEEP_AFTER_SECONDS",
                c.sweep_after_ms,
                defaults.sweep_after_ms,
            ),
            (
                "SWEEP_MAX_ATTEMPTS",
                c.sweep_max_attempts.into(),
                defaults.sweep_max_attempts.into(),
            ),
        ];
        for (name, got, want) in pairs {
            if env.contains_key(name) {
                assert_eq!(
                    got, want,
                    "{function}: {name} defaults differ from Config's"
                );
            }
        }
        if function == INGEST {
            assert!(matches!(
                c.secrets,
                Some(store::SecretsSource::SecretsManager { .. })
            ));
        }
    }
    // The raw body is stored in the ledger item: a DynamoDB item is at most 400 KB.
    let max = number(
        at(&t, &["Parameters", "MaxBodyBytes", "MaxValue"]),
        "MaxValue",
    );
    assert!(
        max <= 350 * 1024,
        "MaxBodyBytes MaxValue {max} leaves no room in a 400 KB item"
    );
}

// ------------------------------------------------------------------ tables

fn yaml_keys(v: &Yaml) -> Vec<(String, String)> {
    v.as_sequence()
        .unwrap()
        .iter()
        .map(|k| (show(at(k, &["AttributeName"])), show(at(k, &["KeyType"]))))
        .collect()
}

fn sdk_keys(keys: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> Vec<(String, String)> {
    keys.iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                k.key_type().as_str().to_owned(),
            )
        })
        .collect()
}

type IndexShape = (Vec<(String, String)>, String, BTreeSet<String>);

/// Compares a table created by `store::schema` in moto with the template's.
async fn assert_table_matches(stack: &Stack, created: &str, logical: &str) {
    let t = template();
    let tr = resource(&t, logical, "AWS::DynamoDB::Table");
    let p = at(tr, &["Properties"]);
    let ddb = &stack.clients.dynamodb;
    let described = ddb
        .describe_table()
        .table_name(created)
        .send()
        .await
        .unwrap()
        .table
        .unwrap();

    assert_eq!(
        yaml_keys(at(p, &["KeySchema"])),
        sdk_keys(described.key_schema()),
        "{logical} key schema"
    );
    let yaml_attrs: BTreeSet<(String, String)> = at(p, &["AttributeDefinitions"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| {
            (
                show(at(a, &["AttributeName"])),
                show(at(a, &["AttributeType"])),
            )
        })
        .collect();
    let sdk_attrs: BTreeSet<(String, String)> = described
        .attribute_definitions()
        .iter()
        .map(|a| {
            (
                a.attribute_name().to_owned(),
                a.attribute_type().as_str().to_owned(),
            )
        })
        .collect();
    assert_eq!(yaml_attrs, sdk_attrs, "{logical} attribute definitions");
    assert_eq!(
        show(at(p, &["BillingMode"])),
        "PAY_PER_REQUEST",
        "{logical}"
    );
    if let Some(summary) = described.billing_mode_summary() {
        assert_eq!(
            summary.billing_mode().map(|b| b.as_str()),
            Some("PAY_PER_REQUEST"),
            "{logical}: schema.rs bills differently"
        );
    }

    let yaml_indexes: BTreeMap<String, IndexShape> = p
        .get("GlobalSecondaryIndexes")
        .and_then(Yaml::as_sequence)
        .map(|v| v.as_slice())
        .unwrap_or_default()
        .iter()
        .map(|i| {
            let projection = at(i, &["Projection"]);
            let non_key: BTreeSet<String> = projection
                .get("NonKeyAttributes")
                .and_then(Yaml::as_sequence)
                .map(|v| v.iter().map(show).collect())
                .unwrap_or_default();
            (
                show(at(i, &["IndexName"])),
                (
                    yaml_keys(at(i, &["KeySchema"])),
                    show(at(projection, &["ProjectionType"])),
                    non_key,
                ),
            )
        })
        .collect();
    let sdk_indexes: BTreeMap<String, IndexShape> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let projection = i.projection().unwrap();
            (
                i.index_name().unwrap().to_owned(),
                (
                    sdk_keys(i.key_schema()),
                    projection.projection_type().unwrap().as_str().to_owned(),
                    projection.non_key_attributes().iter().cloned().collect(),
                ),
            )
        })
        .collect();
    assert_eq!(
        yaml_indexes, sdk_indexes,
        "{logical} global secondary indexes (name, keys, projection)"
    );
    assert!(p.get("LocalSecondaryIndexes").is_none());
    assert!(described.local_secondary_indexes().is_empty());

    let ttl = ddb
        .describe_time_to_live()
        .table_name(created)
        .send()
        .await
        .unwrap()
        .time_to_live_description;
    let sdk_ttl = ttl
        .filter(|d| d.time_to_live_status().map(|s| s.as_str()) == Some("ENABLED"))
        .and_then(|d| d.attribute_name().map(str::to_owned));
    let yaml_ttl = p.get("TimeToLiveSpecification").map(|spec| {
        assert_eq!(
            show(at(spec, &["Enabled"])),
            "true",
            "{logical} TTL enabled"
        );
        show(at(spec, &["AttributeName"]))
    });
    assert_eq!(yaml_ttl, sdk_ttl, "{logical} TTL attribute");

    assert_eq!(
        show(at(
            p,
            &[
                "PointInTimeRecoverySpecification",
                "PointInTimeRecoveryEnabled"
            ]
        )),
        "true",
        "{logical} point-in-time recovery"
    );
    assert_eq!(
        show(at(p, &["SSESpecification", "SSEEnabled"])),
        "true",
        "{logical} SSE"
    );
    assert_eq!(show(at(tr, &["DeletionPolicy"])), "Retain", "{logical}");
    assert_eq!(
        show(at(tr, &["UpdateReplacePolicy"])),
        "Retain",
        "{logical}"
    );
}

#[tokio::test]
async fn ledger_table_matches_the_schema() {
    let stack = Stack::new().await;
    assert_table_matches(&stack, &stack.events_table, "EventsTable").await;
    // The names the code relies on, spelled out for the reader of a failure.
    let t = template();
    let index = &at(
        &t,
        &[
            "Resources",
            "EventsTable",
            "Properties",
            "GlobalSecondaryIndexes",
        ],
    )[0];
    assert_eq!(show(at(index, &["IndexName"])), schema::PENDING_INDEX);
    assert_eq!(
        yaml_keys(at(index, &["KeySchema"])),
        [
            (schema::attr::PENDING_SHARD.to_owned(), "HASH".to_owned()),
            (schema::attr::RECEIVED_AT.to_owned(), "RANGE".to_owned())
        ]
    );
    assert_eq!(
        show(at(
            &t,
            &[
                "Resources",
                "EventsTable",
                "Properties",
                "TimeToLiveSpecification",
                "AttributeName"
            ]
        )),
        schema::attr::EXPIRES_AT
    );
}

#[tokio::test]
async fn status_table_matches_the_schema() {
    let stack = Stack::new().await;
    assert_table_matches(&stack, &stack.status_table, "StatusTable").await;
}

// ------------------------------------------------------------------ queue and triggers

#[tokio::test]
async fn queue_redrive_and_visibility_match_the_schema_and_the_processor_timeout() {
    let t = template();
    let q = props(&t, "EventQueue", "AWS::SQS::Queue");
    let dlq = props(&t, "DeadLetterQueue", "AWS::SQS::Queue");
    let visibility = number(at(q, &["VisibilityTimeout"]), "VisibilityTimeout");
    let max_receive = number(
        at(q, &["RedrivePolicy", "maxReceiveCount"]),
        "maxReceiveCount",
    );
    assert_eq!(visibility, u64::from(schema::VISIBILITY_TIMEOUT_SECS));
    assert_eq!(max_receive, u64::from(schema::MAX_RECEIVE_COUNT));
    assert!(
        max_receive > 1,
        "one failed receive must not dead-letter an event"
    );
    assert_eq!(
        show(at(q, &["RedrivePolicy", "deadLetterTargetArn"])),
        "GetAtt(DeadLetterQueue.Arn)"
    );
    let processor_timeout = timeout_secs(&t, PROCESSOR);
    assert!(
        visibility >= 6 * processor_timeout,
        "visibility timeout {visibility}s < 6 x processor timeout {processor_timeout}s"
    );
    for (name, queue) in [("EventQueue", q), ("DeadLetterQueue", dlq)] {
        assert_eq!(
            show(at(queue, &["SqsManagedSseEnabled"])),
            "true",
            "{name} SSE"
        );
    }
    let dlq_retention = number(at(dlq, &["MessageRetentionPeriod"]), "DLQ retention");
    assert_eq!(dlq_retention, 14 * 86_400);

    // The queues `make dev` and the tests use (testkit::resources::create_queues) agree.
    let stack = Stack::new().await;
    let attrs = |url: String| {
        let sqs = stack.clients.sqs.clone();
        async move {
            sqs.get_queue_attributes()
                .queue_url(url)
                .attribute_names(QueueAttributeName::All)
                .send()
                .await
                .unwrap()
                .attributes
                .unwrap_or_default()
        }
    };
    let main = attrs(stack.queue_url.clone()).await;
    let dead = attrs(stack.dlq_url.clone()).await;
    assert_eq!(
        main[&QueueAttributeName::VisibilityTimeout],
        visibility.to_string()
    );
    let redrive: Json = serde_json::from_str(&main[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(
        redrive["maxReceiveCount"].to_string(),
        max_receive.to_string()
    );
    assert_eq!(
        main[&QueueAttributeName::MessageRetentionPeriod],
        q.get("MessageRetentionPeriod")
            .map(|v| number(v, "retention"))
            .unwrap_or(345_600)
            .to_string(),
        "queue retention (345600 s is SQS's default)"
    );
    assert_eq!(
        dead[&QueueAttributeName::MessageRetentionPeriod],
        dlq_retention.to_string()
    );

    // Both functions outlast the SDK's operation timeout, so a hung dependency is
    // an answer (503, or a failed record), not a function timeout.
    let sdk = store::AwsClients::timeouts()
        .operation_timeout()
        .expect("an operation timeout is set")
        .as_secs();
    for function in [INGEST, PROCESSOR] {
        assert!(
            timeout_secs(&t, function) > sdk,
            "{function} timeout <= SDK timeout {sdk}s"
        );
    }
}

fn events_of<'a>(t: &'a Yaml, function: &str, kind: &str) -> Vec<&'a Yaml> {
    at(props(t, function, FUNCTION), &["Events"])
        .as_mapping()
        .unwrap()
        .values()
        .filter(|e| show(at(e, &["Type"])) == kind)
        .map(|e| at(e, &["Properties"]))
        .collect()
}

#[test]
fn processor_triggers_are_sqs_with_partial_failures_and_the_sweep_schedule() {
    let t = template();
    let sqs = events_of(&t, PROCESSOR, "SQS");
    assert_eq!(sqs.len(), 1, "one SQS event source");
    let sqs = sqs[0];
    assert_eq!(show(at(sqs, &["Queue"])), "GetAtt(EventQueue.Arn)");
    assert_eq!(number(at(sqs, &["BatchSize"]), "BatchSize"), 10);
    let response_types: Vec<String> = at(sqs, &["FunctionResponseTypes"])
        .as_sequence()
        .unwrap()
        .iter()
        .map(show)
        .collect();
    assert_eq!(response_types, ["ReportBatchItemFailures"]);

    let schedules = events_of(&t, PROCESSOR, "Schedule");
    assert_eq!(schedules.len(), 1, "one sweep schedule");
    assert_eq!(show(at(schedules[0], &["Schedule"])), "rate(5 minutes)");
    assert_ne!(
        schedules[0].get("Enabled").map(show).as_deref(),
        Some("false")
    );
    // What a classic `Type: Schedule` rule delivers is recognised as the sweep.
    let scheduled = serde_json::json!({
        "version": "0", "id": "0b4c1d7e-0000-4000-8000-000000000000",
        "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-11-22T10:00:00Z", "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/sweep"], "detail": {}
    });
    assert!(matches!(
        processor::Invocation::from_value(scheduled),
        Ok(processor::Invocation::Sweep)
    ));
    assert_eq!(events_of(&t, PROCESSOR, "HttpApi").len(), 0);
}

#[test]
fn ingest_route_and_webhook_urls_are_what_the_router_accepts() {
    let raw = template();
    // Ingest has no SAM event: its edge is chosen by IngestEndpoint.
    assert!(props(&raw, INGEST, FUNCTION).get("Events").is_none());
    for mode in INGEST_ENDPOINTS {
        let t = render(&raw, &[("IngestEndpoint", mode)], None);
        assert_references_exist(&t);
        let post = lambda_http::http::Method::POST;
        // The paths ingest is reached on, in this mode.
        let paths: Vec<String> = if mode == "HttpApi" {
            let api = props(&t, "HttpApi", "AWS::Serverless::HttpApi");
            // The $default stage (SAM's when no StageName is given), throttled and logged.
            assert!(api.get("StageName").is_none());
            at(api, &["DefaultRouteSettings", "ThrottlingRateLimit"]);
            at(api, &["AccessLogSettings", "DestinationArn"]);
            let routes = at(api, &["DefinitionBody", "paths"]).as_mapping().unwrap();
            assert_eq!(routes.len(), 1, "one route");
            let (path, methods) = routes.iter().next().unwrap();
            let path = show(path);
            assert_eq!(path, "/webhooks/{provider}");
            // Every method reaches ingest, so a GET gets its 405 rather than API Gateway's 404.
            let methods = methods.as_mapping().unwrap();
            assert_eq!(
                methods.keys().map(show).collect::<Vec<_>>(),
                ["x-amazon-apigateway-any-method"]
            );
            let integration = at(
                methods.values().next().unwrap(),
                &["x-amazon-apigateway-integration"],
            );
            assert_eq!(show(at(integration, &["type"])), "aws_proxy");
            assert_eq!(show(at(integration, &["httpMethod"])), "POST");
            assert_eq!(
                show(at(integration, &["uri"])),
                "Sub(arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${IngestFunction.Arn}/invocations)"
            );
            assert_eq!(show(at(integration, &["payloadFormatVersion"])), "2.0");
            // API Gateway may invoke ingest for this route, on any stage and method.
            let permission = props(
                &t,
                "IngestFunctionWebhookPermission",
                "AWS::Lambda::Permission",
            );
            assert_eq!(show(at(permission, &["Action"])), "lambda:InvokeFunction");
            assert_eq!(
                show(at(permission, &["FunctionName"])),
                "Ref(IngestFunction)"
            );
            assert_eq!(
                show(at(permission, &["Principal"])),
                "apigateway.amazonaws.com"
            );
            assert_eq!(
                show(at(permission, &["SourceArn"])),
                format!(
                    "Sub(arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{HttpApi}}/*/*{})",
                    path.replace("{provider}", "*")
                )
            );
            Provider::ALL
                .iter()
                .map(|p| path.replace("{provider}", p.as_str()))
                .collect()
        } else {
            let url = props(&t, "IngestFunctionUrl", "AWS::Lambda::Url");
            assert_eq!(
                show(at(url, &["TargetFunctionArn"])),
                "GetAtt(IngestFunction.Arn)"
            );
            // The webhook signature is the authentication (providers cannot sign
            // AWS requests).
            assert_eq!(show(at(url, &["AuthType"])), "NONE");
            assert!(url.get("Qualifier").is_none(), "the URL serves $LATEST");
            Provider::ALL
                .iter()
                .map(|p| format!("/webhooks/{p}"))
                .collect()
        };
        for (provider, path) in Provider::ALL.into_iter().zip(&paths) {
            assert_eq!(ingest::route(&post, path), ingest::Route::Webhook(provider));
            for other in [
                lambda_http::http::Method::GET,
                lambda_http::http::Method::PUT,
                lambda_http::http::Method::HEAD,
            ] {
                assert_eq!(ingest::route(&other, path), ingest::Route::MethodNotAllowed);
            }
            // The outputs give exactly these URLs, on this mode's host.
            let output = match provider {
                Provider::SpotDraft => "SpotDraftWebhookUrl",
                Provider::Subnoto => "SubnotoWebhookUrl",
                Provider::DocuSign => "DocuSignWebhookUrl",
            };
            let url = evaluate(at(&t, &["Outputs", output, "Value"]), &deployed_value);
            let host = if mode == "HttpApi" {
                format!("{API_ID}.execute-api.{REGION}.amazonaws.com")
            } else {
                FUNCTION_URL
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_owned()
            };
            assert_eq!(url, format!("https://{host}{path}"), "{mode} {output}");
        }
    }
    for output in [
        "WebhookSecretsArn",
        "EventQueueUrl",
        "DeadLetterQueueUrl",
        "EventsTableName",
        "StatusTableName",
    ] {
        at(&raw, &["Outputs", output, "Value"]);
    }
}

/// `[[bin]] name` of a crate.
fn bin_name(krate: &str) -> String {
    let text = read(&repo_root().join("crates").join(krate).join("Cargo.toml"));
    let bin = text.split("[[bin]]").nth(1).expect("a [[bin]] section");
    let line = bin
        .lines()
        .find(|l| l.trim_start().starts_with("name"))
        .expect("a bin name");
    line.split('"').nth(1).unwrap().to_owned()
}

#[test]
fn functions_are_arm64_custom_runtime_builds_of_the_right_binaries() {
    let t = template();
    assert_eq!(show(at(&t, &["Transform"])), "AWS::Serverless-2016-10-31");
    let functions: BTreeSet<String> = resources_of(&t, FUNCTION)
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(
        functions,
        BTreeSet::from([INGEST.into(), PROCESSOR.into(), ARCHIVER.into()])
    );
    for (function, krate) in [
        (INGEST, "ingest"),
        (PROCESSOR, "processor"),
        (ARCHIVER, "archiver"),
    ] {
        let prop = |name| {
            show(function_prop(&t, function, name).unwrap_or_else(|| panic!("{function}.{name}")))
        };
        assert_eq!(prop("Runtime"), "provided.al2023", "{function}");
        assert_eq!(prop("Architectures"), "[arm64]", "{function}");
        assert_eq!(prop("Handler"), "bootstrap", "{function}");
        assert_eq!(prop("CodeUri"), ".", "{function}");
        // The archiver streams documents (one 8 MiB part in memory) for up to
        // MAX_DOCUMENT_BYTES: more memory and time than the webhook path.
        let (memory, timeout) = if function == ARCHIVER {
            ("256", "120")
        } else {
            ("128", "10")
        };
        assert_eq!(prop("MemorySize"), memory, "{function}");
        assert_eq!(prop("Timeout"), timeout, "{function}");
        let metadata = at(resource(&t, function, FUNCTION), &["Metadata"]);
        assert_eq!(show(at(metadata, &["BuildMethod"])), "rust-cargolambda");
        assert_eq!(
            show(at(metadata, &["BuildProperties", "Binary"])),
            bin_name(krate),
            "{function} builds the wrong binary"
        );
    }
}

// ------------------------------------------------------------------ IAM

/// (action, resource) pairs a role's inline policies grant.
fn grants(t: &Yaml, role: &str) -> BTreeSet<(String, String)> {
    let r = props(t, role, "AWS::IAM::Role");
    assert!(
        r.get("ManagedPolicyArns").is_none(),
        "{role}: managed policies are not least privilege"
    );
    let trust = at(r, &["AssumeRolePolicyDocument", "Statement"])
        .as_sequence()
        .unwrap();
    assert_eq!(trust.len(), 1, "{role} trust policy");
    assert_eq!(
        show(at(&trust[0], &["Principal", "Service"])),
        "lambda.amazonaws.com"
    );
    assert_eq!(show(at(&trust[0], &["Action"])), "sts:AssumeRole");
    let list = |v: &Yaml| match v {
        Yaml::Sequence(items) => items.iter().map(show).collect::<Vec<_>>(),
        other => vec![show(other)],
    };
    let mut out = BTreeSet::new();
    for policy in at(r, &["Policies"]).as_sequence().unwrap() {
        for statement in at(policy, &["PolicyDocument", "Statement"])
            .as_sequence()
            .unwrap()
        {
            assert_eq!(show(at(statement, &["Effect"])), "Allow", "{role}");
            for forbidden in ["NotAction", "NotResource", "NotPrincipal"] {
                assert!(
                    statement.get(forbidden).is_none(),
                    "{role} uses {forbidden}"
                );
            }
            for action in list(at(statement, &["Action"])) {
                assert!(
                    !action.contains('*'),
                    "{role} grants a wildcard action {action}"
                );
                for resource in list(at(statement, &["Resource"])) {
                    assert!(
                        resource != "*" || XRAY_ACTIONS.contains(&action.as_str()),
                        "{role} grants {action} on every resource"
                    );
                    out.insert((action.clone(), resource));
                }
            }
        }
    }
    out
}

fn pairs(list: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    list.iter()
        .map(|(a, r)| (a.to_string(), r.to_string()))
        .collect()
}

/// The bus the processor publishes to: created, or the existing one named.
const BUS_ARN: &str = "If(CreateEventBus, GetAtt(EventBus.Arn), Sub(arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${ExistingEventBusName}))";

#[test]
fn each_function_gets_exactly_the_actions_it_uses_on_its_own_resources() {
    for tracing in ["Disabled", "Active"] {
        // Only TracingActive is decided here: the bus's `If` stays in the grants.
        let t = render(
            &template(),
            &[("Tracing", tracing)],
            Some(&["TracingActive"]),
        );
        exact_grants(&t, tracing == "Active");
    }
}

/// X-Ray's write actions: granted on "*" (they have no resource-level
/// permissions), and only while `Tracing` is `Active`.
const XRAY_ACTIONS: [&str; 2] = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"];

fn exact_grants(t: &Yaml, tracing: bool) {
    let t = t.clone();
    let ledger = "GetAtt(EventsTable.Arn)";
    let status = "GetAtt(StatusTable.Arn)";
    let queue = "GetAtt(EventQueue.Arn)";
    let index = format!("Sub(${{EventsTable.Arn}}/index/{})", schema::PENDING_INDEX);
    let expected = [
        (
            INGEST,
            "IngestRole",
            "IngestLogGroup",
            pairs(&[
                ("dynamodb:PutItem", ledger),
                ("dynamodb:UpdateItem", ledger),
                ("sqs:SendMessage", queue),
                ("secretsmanager:GetSecretValue", "Ref(WebhookSecrets)"),
            ]),
        ),
        (
            PROCESSOR,
            "ProcessorRole",
            "ProcessorLogGroup",
            pairs(&[
                ("dynamodb:UpdateItem", ledger),
                // The sweep and a message sent by reference read the stored body.
                ("dynamodb:GetItem", ledger),
                ("dynamodb:Query", &index),
                ("events:PutEvents", BUS_ARN),
                ("dynamodb:UpdateItem", status),
                // The SQS event source mapping polls with the function's role.
                ("sqs:ReceiveMessage", queue),
                ("sqs:DeleteMessage", queue),
                ("sqs:GetQueueAttributes", queue),
                ("sqs:ChangeMessageVisibility", queue),
                // The sweep re-enqueues.
                ("sqs:SendMessage", queue),
            ]),
        ),
        (
            ARCHIVER,
            "ArchiverRole",
            "ArchiverLogGroup",
            pairs(&[
                ("dynamodb:UpdateItem", status),
                ("s3:PutObject", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:GetObject", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:AbortMultipartUpload", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:GetObjectTagging", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:PutObjectTagging", "Sub(${ArchiveBucket.Arn}/*)"),
                // The same calls with a versionId (the bucket is versioned).
                ("s3:GetObjectVersion", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:GetObjectVersionTagging", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:PutObjectVersionTagging", "Sub(${ArchiveBucket.Arn}/*)"),
                ("s3:ListBucket", "GetAtt(ArchiveBucket.Arn)"),
                (
                    "events:PutEvents",
                    "If(CreateEventBus, GetAtt(EventBus.Arn), Sub(arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${ExistingEventBusName}))",
                ),
                ("sqs:ReceiveMessage", "GetAtt(ArchiveQueue.Arn)"),
                ("sqs:DeleteMessage", "GetAtt(ArchiveQueue.Arn)"),
                ("sqs:GetQueueAttributes", "GetAtt(ArchiveQueue.Arn)"),
                ("sqs:ChangeMessageVisibility", "GetAtt(ArchiveQueue.Arn)"),
                ("sqs:SendMessage", "GetAtt(ArchiveDeadLetterQueue.Arn)"),
                (
                    "secretsmanager:GetSecretValue",
                    "Ref(SpotDraftApiCredentials)",
                ),
                ("secretsmanager:GetSecretValue", "Ref(SubnotoApiCredentials)"),
                ("secretsmanager:GetSecretValue", "Ref(DocuSignApiCredentials)"),
            ]),
        ),
    ];
    let mut granted_anywhere = BTreeSet::new();
    for (function, role, log_group, mut want) in expected {
        let f = props(&t, function, FUNCTION);
        assert_eq!(
            show(at(f, &["Role"])),
            format!("GetAtt({role}.Arn)"),
            "{function}"
        );
        assert!(
            f.get("Policies").is_none(),
            "{function}: permissions belong in {role}"
        );
        assert_eq!(
            show(at(f, &["LoggingConfig", "LogGroup"])),
            format!("Ref({log_group})"),
            "{function} logs where its role may write"
        );
        resource(&t, log_group, "AWS::Logs::LogGroup");
        let logs = format!("GetAtt({log_group}.Arn)");
        want.insert(("logs:CreateLogStream".into(), logs.clone()));
        want.insert(("logs:PutLogEvents".into(), logs));
        if tracing {
            for action in XRAY_ACTIONS {
                want.insert((action.into(), "*".into()));
            }
        }
        let got = grants(&t, role);
        assert_eq!(got, want, "{role} grants (tracing {tracing})");
        granted_anywhere.extend(got.into_iter().map(|(a, _)| a));
    }

    // Every AWS operation the function code calls is granted, and every data
    // action granted is called: a new operation in store, ingest or processor
    // fails here until the template allows it. An S3 object call that names a
    // version is authorized as the `Version` action: `.version_id(v)` always
    // sends one, `.set_version_id(option)` may or may not (both actions).
    let versioned = [
        ("s3:GetObject", "s3:GetObjectVersion"),
        ("s3:GetObjectTagging", "s3:GetObjectVersionTagging"),
        ("s3:PutObjectTagging", "s3:PutObjectVersionTagging"),
    ];
    let operations = [
        ("put_item", "dynamodb:PutItem"),
        ("update_item", "dynamodb:UpdateItem"),
        ("get_item", "dynamodb:GetItem"),
        ("delete_item", "dynamodb:DeleteItem"),
        ("query", "dynamodb:Query"),
        ("scan", "dynamodb:Scan"),
        ("batch_write_item", "dynamodb:BatchWriteItem"),
        ("batch_get_item", "dynamodb:BatchGetItem"),
        ("transact_write_items", "dynamodb:TransactWriteItems"),
        ("transact_get_items", "dynamodb:TransactGetItems"),
        ("send_message", "sqs:SendMessage"),
        ("send_message_batch", "sqs:SendMessageBatch"),
        ("receive_message", "sqs:ReceiveMessage"),
        ("delete_message", "sqs:DeleteMessage"),
        ("change_message_visibility", "sqs:ChangeMessageVisibility"),
        ("get_secret_value", "secretsmanager:GetSecretValue"),
        ("describe_secret", "secretsmanager:DescribeSecret"),
        ("put_metric_data", "cloudwatch:PutMetricData"),
        ("put_object", "s3:PutObject"),
        ("create_multipart_upload", "s3:PutObject"),
        ("upload_part", "s3:PutObject"),
        ("complete_multipart_upload", "s3:PutObject"),
        ("abort_multipart_upload", "s3:AbortMultipartUpload"),
        ("head_object", "s3:GetObject"),
        ("get_object", "s3:GetObject"),
        ("get_object_tagging", "s3:GetObjectTagging"),
        ("put_object_tagging", "s3:PutObjectTagging"),
        ("delete_object", "s3:DeleteObject"),
        ("put_events", "events:PutEvents"),
    ];
    // `StatusTable::get` serves the CLI (`contract-hooks status`) and tests;
    // `Ledger::get` is the processor's (granted above).
    let not_on_a_function: [&str; 0] = [];
    // Done by the SQS event source mapping, not by the code.
    let by_the_event_source = [
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    ];
    // Operator tooling (`contract-hooks replay`, `redrive`, `failed`,
    // `spotdraft hmac-key --store`) runs with the operator's credentials, never
    // in a function: its calls need no grant on a function's role.
    let operator_only = repo_root().join("crates/store/src/ops.rs");
    // Granted for what it changes, not called: HeadObject answers 404 for a
    // missing key only to a caller allowed to list the bucket (else 403).
    let implied = ["s3:ListBucket"];
    let mut called = BTreeMap::<&str, Vec<String>>::new();
    for krate in ["store", "ingest", "processor", "archiver"] {
        for (path, text) in rust_sources(&repo_root().join("crates").join(krate).join("src")) {
            if path == operator_only {
                continue;
            }
            let code = without_tests(&text);
            for (op, action) in operations {
                let needle = format!(".{op}()");
                for (i, _) in code.match_indices(&needle) {
                    // An SDK call is a fluent builder that ends in `.send()`.
                    let window = &code[i..code.len().min(i + 1500)];
                    let Some(end) = window.find(".send()") else {
                        continue;
                    };
                    let call = &window[..end];
                    let place = path
                        .strip_prefix(repo_root())
                        .unwrap_or(&path)
                        .display()
                        .to_string();
                    let version = versioned.iter().find(|(plain, _)| *plain == action);
                    let always = call.contains(".version_id(");
                    let maybe = call.contains(".set_version_id(");
                    if let (Some((_, with_version)), true) = (version, always || maybe) {
                        called.entry(with_version).or_default().push(place.clone());
                    }
                    if version.is_none() || !always {
                        called.entry(action).or_default().push(place);
                    }
                }
            }
        }
    }
    for (action, places) in &called {
        if not_on_a_function.contains(action) {
            continue;
        }
        assert!(
            granted_anywhere.contains(*action),
            "the code calls {action} ({places:?}) but no function's role grants it"
        );
    }
    for action in &granted_anywhere {
        if action.starts_with("logs:")
            || by_the_event_source.contains(&action.as_str())
            // Lambda sends the trace segments with the function's role.
            || XRAY_ACTIONS.contains(&action.as_str())
            || implied.contains(&action.as_str())
        {
            continue;
        }
        assert!(
            called.contains_key(action.as_str()),
            "{action} is granted but no code in store, ingest, processor or archiver calls it"
        );
    }
}

// ------------------------------------------------------------------ alarms

/// An alarm: logical id, its scalar fields, its dimensions.
type Alarm = (String, BTreeMap<String, String>, BTreeMap<String, String>);

fn alarms(t: &Yaml) -> Vec<Alarm> {
    resources_of(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(name, r)| {
            let p = at(r, &["Properties"]);
            let fields = [
                "Namespace",
                "MetricName",
                "Threshold",
                "ComparisonOperator",
                "AlarmActions",
            ]
            .into_iter()
            .filter_map(|k| Some((k.to_owned(), show(p.get(k)?))))
            .collect();
            let dims = p
                .get("Dimensions")
                .and_then(Yaml::as_sequence)
                .map(|v| v.as_slice())
                .unwrap_or_default()
                .iter()
                .map(|d| (show(at(d, &["Name"])), show(at(d, &["Value"]))))
                .collect();
            (name, fields, dims)
        })
        .collect()
}

fn find_alarm(t: &Yaml, namespace: &str, metric: &str) -> Alarm {
    find_alarm_on(t, namespace, metric, "")
}

/// The one alarm on `namespace` `metric` one of whose dimension values
/// contains `resource` (e.g. the queue or function it watches).
fn find_alarm_on(t: &Yaml, namespace: &str, metric: &str, resource: &str) -> Alarm {
    let found: Vec<_> = alarms(t)
        .into_iter()
        .filter(|(_, f, d)| {
            f.get("Namespace").map(String::as_str) == Some(namespace)
                && f.get("MetricName").map(String::as_str) == Some(metric)
                && d.values().any(|v| v.contains(resource))
        })
        .collect();
    assert_eq!(
        found.len(),
        1,
        "one alarm on {namespace} {metric} {resource}"
    );
    let alarm = found.into_iter().next().unwrap();
    assert_eq!(alarm.1["Threshold"], "0", "{}", alarm.0);
    assert_eq!(
        alarm.1["ComparisonOperator"], "GreaterThanThreshold",
        "{}",
        alarm.0
    );
    assert!(
        alarm
            .1
            .get("AlarmActions")
            .is_some_and(|a| a.contains("AlarmTopicArn")),
        "{} notifies the optional AlarmTopicArn",
        alarm.0
    );
    alarm
}

#[test]
fn alarms_watch_dlq_depth_sweep_failures_ingest_5xx_and_processor_errors() {
    let t = template();
    let dims = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    };
    let (_, _, d) = find_alarm_on(
        &t,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "(DeadLetterQueue.",
    );
    assert_eq!(
        d,
        dims(&[("QueueName", "GetAtt(DeadLetterQueue.QueueName)")])
    );
    let (_, _, d) = find_alarm(&t, "AWS/ApiGateway", "5xx");
    assert_eq!(d, dims(&[("ApiId", "Ref(HttpApi)"), ("Stage", "$default")]));
    let (_, _, d) = find_alarm_on(&t, "AWS/Lambda", "Errors", "(ProcessorFunction)");
    assert_eq!(d, dims(&[("FunctionName", "Ref(ProcessorFunction)")]));

    // The sweep's give-up metric, exactly as the processor publishes it (EMF)
    // in Lambda: an alarm matches a metric only with the same namespace and
    // dimensions. The `Function` dimension is the name Lambda gives the
    // function (AWS_LAMBDA_FUNCTION_NAME), which is what `!Ref` of the function
    // yields; each function gets a made-up deployed name here, so an alarm on a
    // constant, or on the other function, cannot match.
    let deployed = |function: &str| format!("contract-hooks-{function}-1A2B3C4D5E6F");
    let (name, _, d) = find_alarm(&t, store::metrics::NAMESPACE, "marked_failed");
    let resolved: BTreeMap<String, String> = d
        .iter()
        .map(|(k, v)| {
            let value = match v.strip_prefix("Ref(").and_then(|r| r.strip_suffix(')')) {
                Some(r) if resources_of(&t, FUNCTION).iter().any(|(n, _)| n == r) => deployed(r),
                _ => v.clone(),
            };
            (k.clone(), value)
        })
        .collect();
    let emf = sweep_emf(Some(&deployed(PROCESSOR)));
    let directive = &emf["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], store::metrics::NAMESPACE);
    assert!(
        directive["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["Name"] == "marked_failed"),
        "{emf}"
    );
    assert_eq!(
        emf["marked_failed"], 1,
        "the sweep counts give-ups as marked_failed"
    );
    let published: Vec<BTreeMap<String, String>> = directive["Dimensions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|set| {
            set.as_array()
                .unwrap()
                .iter()
                .map(|k| {
                    let k = k.as_str().unwrap();
                    (k.to_owned(), emf[k].as_str().unwrap().to_owned())
                })
                .collect()
        })
        .collect();
    assert!(
        published.contains(&resolved),
        "{name} watches dimensions {d:?} (deployed: {resolved:?}), but marked_failed is \
         published with {published:?}"
    );
    // Outside Lambda the name falls back to the constant.
    assert_eq!(sweep_emf(None)["Function"], processor::FUNCTION);
}

const EMF_CHILD: &str = "child_prints_the_sweeps_metrics";

/// The EMF line the processor prints for a sweep that gave up on one item, in
/// a process of its own (the function name is read once per process) with
/// `AWS_LAMBDA_FUNCTION_NAME` set to `function_name` (blank for `None`).
fn sweep_emf(function_name: Option<&str>) -> Json {
    // Blank counts as unset, and overrides any value this process inherited.
    let env = [(
        store::metrics::FUNCTION_NAME_ENV,
        function_name.unwrap_or(""),
    )];
    let out = child::run(EMF_CHILD, &env, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let lines: Vec<Json> = out
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<Json>(&l[l.find('{')?..]).ok())
        .filter(|l| l.get("_aws").is_some())
        .collect();
    assert_eq!(lines.len(), 1, "{}", out.stdout);
    lines.into_iter().next().unwrap()
}

#[test]
#[ignore = "run in a child process by the alarm test; does nothing on its own"]
fn child_prints_the_sweeps_metrics() {
    if !child::is_child() {
        return;
    }
    processor::SweepReport {
        failed: 1,
        ..Default::default()
    }
    .metrics()
    .emit();
}

// ------------------------------------------------------------------ secret

#[test]
fn the_secret_is_a_placeholder_the_ingest_function_refuses() {
    let t = template();
    let p = props(&t, "WebhookSecrets", "AWS::SecretsManager::Secret");
    let placeholder = show(at(p, &["SecretString"]));
    // Right shape, no keys: ingest fails at init until the operator puts real ones.
    let doc: BTreeMap<String, Vec<String>> = serde_json::from_str(&placeholder).unwrap();
    let providers: BTreeSet<&str> = doc.keys().map(String::as_str).collect();
    assert_eq!(
        providers,
        Provider::ALL.iter().map(|p| p.as_str()).collect()
    );
    assert!(matches!(
        store::parse_secrets(&placeholder, 300_000),
        Err(store::SecretsError::NoProviders)
    ));
    let description = show(at(p, &["Description"]));
    assert!(description.contains("put-secret-value"), "{description}");
}

// ------------------------------------------------------------------ cfn-lint

fn cfn_lint() -> PathBuf {
    let bin = repo_root().join(".venv/bin/cfn-lint");
    assert!(
        bin.exists(),
        "cfn-lint is not installed at {}: run `make venv` (requirements-dev.txt pins it). \
         This test never skips.",
        bin.display()
    );
    bin
}

#[test]
fn cfn_lint_passes() {
    let out = Command::new(cfn_lint())
        .arg("template.yaml")
        .current_dir(repo_root())
        .output()
        .expect("cannot run cfn-lint");
    assert!(
        out.status.success(),
        "cfn-lint template.yaml failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// cfn-lint really reads the template: a broken copy fails.
#[test]
fn cfn_lint_rejects_a_broken_template() {
    let text = read(&repo_root().join("template.yaml"));
    let broken = text.replacen(
        "BillingMode: PAY_PER_REQUEST",
        "BillingMode: PAY_AS_YOU_GO",
        1,
    );
    assert_ne!(broken, text);
    let dir = std::env::temp_dir().join(format!("cfn-lint-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    std::fs::write(&path, broken).unwrap();
    let out = Command::new(cfn_lint())
        .arg(&path)
        .output()
        .expect("cannot run cfn-lint");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !out.status.success(),
        "cfn-lint accepted an invalid BillingMode"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("PAY_AS_YOU_GO"));
}

// ------------------------------------------------------------------ archiver

#[test]
fn the_archiver_sets_exactly_the_settings_its_config_reads() {
    let t = template();
    let text = read(&repo_root().join("crates/archiver/src/config.rs"));
    let mut required = quoted_env_names(without_tests(&text));
    assert_eq!(
        required,
        archiver::config::ENV_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect::<BTreeSet<_>>(),
        "archiver::config::ENV_NAMES lists what config.rs reads"
    );
    required.extend(direct_env_reads("archiver"));
    required.insert("RUST_LOG".into());
    // Local development and tests only (http and loopback download URLs):
    // the deployed function never has them.
    for dev_only in archiver::config::DEV_ONLY_ENV_NAMES {
        assert!(
            required.remove(*dev_only),
            "{dev_only} is read by config.rs"
        );
    }
    let env = env_of(&t, ARCHIVER);
    let declared: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(declared, required, "{ARCHIVER} environment");
    assert_eq!(env["DOCUMENT_HOST_ALLOWLIST"], "Ref(DocumentHostAllowlist)");
    assert_eq!(env["STATUS_TABLE"], "Ref(StatusTable)");
    assert_eq!(env["ARCHIVE_BUCKET"], "Ref(ArchiveBucket)");
    assert_eq!(env["ARCHIVE_QUEUE_URL"], "Ref(ArchiveQueue)");
    assert_eq!(env["ARCHIVE_DLQ_URL"], "Ref(ArchiveDeadLetterQueue)");
    let bus = "If(CreateEventBus, Ref(EventBus), Ref(ExistingEventBusName))";
    assert_eq!(env["EVENT_BUS_NAME"], bus);
    assert_eq!(
        env["SPOTDRAFT_API_CREDENTIALS_ARN"],
        "Ref(SpotDraftApiCredentials)"
    );
    assert_eq!(
        env["SUBNOTO_API_CREDENTIALS_ARN"],
        "Ref(SubnotoApiCredentials)"
    );
    assert_eq!(
        env["DOCUSIGN_API_CREDENTIALS_ARN"],
        "Ref(DocuSignApiCredentials)"
    );
    assert_eq!(env["DOCUSIGN_AUTH_HOST"], "Ref(DocuSignAuthHost)");
    assert_eq!(env["DOCUSIGN_API_BASE_URL"], "Ref(DocuSignApiBaseUrl)");
    for inline in [
        "SPOTDRAFT_API_CREDENTIALS",
        "SUBNOTO_API_CREDENTIALS",
        "DOCUSIGN_API_CREDENTIALS",
    ] {
        assert_eq!(env[inline], "", "credentials never go into the template");
    }

    // Parameters at their defaults give a valid configuration with both
    // providers off (nothing is archived until a base URL is set) and the
    // code's own limits.
    let resolved: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| {
            let value = match v.strip_prefix("Ref(").and_then(|r| r.strip_suffix(')')) {
                Some(p) if t.get("Parameters").and_then(|ps| ps.get(p)).is_some() => {
                    parameter_default(&t, p)
                }
                Some(_) => "from-the-stack".to_owned(),
                None if v.starts_with("If(") => "bus".to_owned(),
                None => v.clone(),
            };
            (k.clone(), value)
        })
        .collect();
    let c = archiver::ArchiverConfig::from_lookup(|k| resolved.get(k).cloned())
        .unwrap_or_else(|e| panic!("the archiver's template environment is not valid: {e}"));
    assert!(c.spotdraft.is_none() && c.subnoto.is_none() && c.docusign.is_none());
    // Either DocuSign auth host the template allows gives a DocuSign client
    // whose assertion audience is that host.
    for host in ["account-d.docusign.com", "account.docusign.com"] {
        let mut with = resolved.clone();
        with.insert("DOCUSIGN_AUTH_HOST".into(), host.into());
        let c = archiver::ArchiverConfig::from_lookup(|k| with.get(k).cloned()).unwrap();
        let ds = c.docusign.expect("DocuSign configured");
        assert_eq!(ds.auth, format!("https://{host}"));
        assert_eq!(
            ds.credentials,
            store::SecretsSource::SecretsManager {
                arn: "from-the-stack".into()
            }
        );
    }
    let defaults = archiver::ArchiverConfig::from_lookup(|k| match k {
        "STATUS_TABLE" | "ARCHIVE_BUCKET" | "ARCHIVE_QUEUE_URL" | "ARCHIVE_DLQ_URL" => {
            Some("x".into())
        }
        _ => None,
    })
    .unwrap();
    assert_eq!(c.max_document_bytes, defaults.max_document_bytes);
    assert_eq!(c.secrets_refresh, defaults.secrets_refresh);
    assert_eq!(c.spotdraft_rps, defaults.spotdraft_rps);
    assert_eq!(c.document_urls, defaults.document_urls);
    assert!(!c.document_urls.allow_insecure);
    // SpotDraft allows 10 requests/s per workspace: the event source mapping's
    // concurrency times each instance's pace stays under it.
    let sqs = events_of(&t, ARCHIVER, "SQS");
    assert_eq!(sqs.len(), 1);
    let concurrency = number(
        at(sqs[0], &["ScalingConfig", "MaximumConcurrency"]),
        "MaximumConcurrency",
    );
    assert!(
        concurrency * u64::from(c.spotdraft_rps) <= 10,
        "{concurrency} x {} requests/s exceeds SpotDraft's 10/s",
        c.spotdraft_rps
    );
}

#[tokio::test]
async fn archive_queue_rule_and_bucket_match_the_code() {
    let t = template();
    use store::archive::{
        ARCHIVE_MAX_RECEIVE_COUNT, ARCHIVE_RETENTION_SECS, ARCHIVE_VISIBILITY_TIMEOUT_SECS,
    };
    let q = props(&t, "ArchiveQueue", "AWS::SQS::Queue");
    let dlq = props(&t, "ArchiveDeadLetterQueue", "AWS::SQS::Queue");
    let visibility = number(at(q, &["VisibilityTimeout"]), "VisibilityTimeout");
    assert_eq!(visibility, u64::from(ARCHIVE_VISIBILITY_TIMEOUT_SECS));
    assert!(visibility >= 6 * timeout_secs(&t, ARCHIVER));
    assert_eq!(
        number(
            at(q, &["RedrivePolicy", "maxReceiveCount"]),
            "maxReceiveCount"
        ),
        u64::from(ARCHIVE_MAX_RECEIVE_COUNT)
    );
    assert_eq!(
        show(at(q, &["RedrivePolicy", "deadLetterTargetArn"])),
        "GetAtt(ArchiveDeadLetterQueue.Arn)"
    );
    assert_eq!(
        number(at(dlq, &["MessageRetentionPeriod"]), "retention"),
        14 * 86_400
    );
    // Retries are bounded by time: the window (plus SQS's longest back-off)
    // ends before the queue would drop the message by age.
    let retention = number(at(q, &["MessageRetentionPeriod"]), "retention");
    assert_eq!(retention, u64::from(ARCHIVE_RETENTION_SECS));
    assert!(archiver::batch::RETRY_WINDOW.as_secs() + 43_200 < retention);
    for queue in [q, dlq] {
        assert_eq!(show(at(queue, &["SqsManagedSseEnabled"])), "true");
    }
    // The event source: batches of one, partial failures, low concurrency.
    let sqs = events_of(&t, ARCHIVER, "SQS")[0];
    assert_eq!(show(at(sqs, &["Queue"])), "GetAtt(ArchiveQueue.Arn)");
    assert_eq!(number(at(sqs, &["BatchSize"]), "BatchSize"), 1);
    assert_eq!(
        show(at(sqs, &["FunctionResponseTypes"])),
        "[ReportBatchItemFailures]"
    );
    // The queues `make dev` and the tests create agree.
    let stack = Stack::new().await;
    let (url, _) = testkit::resources::create_archive_queues(&stack.clients.sqs, &stack.name)
        .await
        .unwrap();
    let attrs = stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(
        attrs[&QueueAttributeName::VisibilityTimeout],
        visibility.to_string()
    );
    let redrive: Json = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["maxReceiveCount"], ARCHIVE_MAX_RECEIVE_COUNT);
    assert_eq!(
        attrs[&QueueAttributeName::MessageRetentionPeriod],
        retention.to_string()
    );

    // The rule: exactly the archiver's pattern, on the bus the archiver
    // publishes to, into the archive queue, which lets only this rule send.
    let rule = props(&t, "ArchiveRule", "AWS::Events::Rule");
    let pattern: Json = serde_json::to_value(at(rule, &["EventPattern"])).unwrap();
    assert_eq!(pattern, store::archive::archive_rule_pattern());
    assert_eq!(
        show(at(rule, &["EventBusName"])),
        env_of(&t, ARCHIVER)["EVENT_BUS_NAME"]
    );
    let targets = at(rule, &["Targets"]).as_sequence().unwrap();
    assert_eq!(targets.len(), 2);
    for target in targets {
        assert_eq!(show(at(target, &["Arn"])), "GetAtt(ArchiveQueue.Arn)");
        assert_eq!(
            show(at(target, &["DeadLetterConfig", "Arn"])),
            "GetAtt(ArchiveDeadLetterQueue.Arn)"
        );
    }
    assert!(targets[0].get("InputTransformer").is_none());
    // The second: the same execution as a metadata job, exactly as the
    // archiver reads it (archiver::event::METADATA_REQUESTED).
    let (paths, template) = store::archive::metadata_target_input();
    let transformer = at(&targets[1], &["InputTransformer"]);
    assert_eq!(
        serde_json::to_value(at(transformer, &["InputPathsMap"])).unwrap(),
        paths
    );
    assert_eq!(show(at(transformer, &["InputTemplate"])), template);
    assert_eq!(
        store::archive::METADATA_REQUESTED,
        archiver::event::METADATA_REQUESTED
    );
    // Key pointers changed on an executed SpotDraft contract: a metadata job too.
    let kp = props(&t, "KeyPointerRule", "AWS::Events::Rule");
    let pattern: Json = serde_json::to_value(at(kp, &["EventPattern"])).unwrap();
    assert_eq!(pattern, store::archive::key_pointer_rule_pattern());
    assert_eq!(
        pattern["detail"]["provider_event_type"],
        serde_json::json!(archiver::event::KEY_POINTER_ACTIVITIES)
    );
    assert_eq!(
        show(at(kp, &["EventBusName"])),
        show(at(rule, &["EventBusName"]))
    );
    let targets = at(kp, &["Targets"]).as_sequence().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(show(at(&targets[0], &["Arn"])), "GetAtt(ArchiveQueue.Arn)");
    let policy = props(&t, "ArchiveQueuePolicy", "AWS::SQS::QueuePolicy");
    let statement = &at(policy, &["PolicyDocument", "Statement"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(
        show(at(statement, &["Principal", "Service"])),
        "events.amazonaws.com"
    );
    assert_eq!(
        show(at(statement, &["Condition", "ArnEquals", "aws:SourceArn"])),
        "[GetAtt(ArchiveRule.Arn), GetAtt(KeyPointerRule.Arn)]"
    );
    let bus = resource(&t, "EventBus", "AWS::Events::EventBus");
    assert_eq!(show(at(bus, &["Condition"])), "CreateEventBus");

    // The bucket: versioned, encrypted, never public, TLS only, WORM optional.
    let b = props(&t, "ArchiveBucket", "AWS::S3::Bucket");
    assert_eq!(
        show(at(b, &["VersioningConfiguration", "Status"])),
        "Enabled"
    );
    at(
        b,
        &["BucketEncryption", "ServerSideEncryptionConfiguration"],
    );
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            show(at(b, &["PublicAccessBlockConfiguration", flag])),
            "true"
        );
    }
    assert!(show(at(b, &["ObjectLockConfiguration"])).starts_with("If(HasObjectLock"));
    let bp = props(&t, "ArchiveBucketPolicy", "AWS::S3::BucketPolicy");
    let deny = &at(bp, &["PolicyDocument", "Statement"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(show(at(deny, &["Effect"])), "Deny");
    assert_eq!(
        show(at(deny, &["Condition", "Bool", "aws:SecureTransport"])),
        "false"
    );
}

#[test]
fn archiver_alarms_watch_its_dlq_refused_credentials_and_errors() {
    let t = template();
    find_alarm_on(
        &t,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "(ArchiveDeadLetterQueue.",
    );
    find_alarm_on(&t, "AWS/Lambda", "Errors", "(ArchiverFunction)");
    let (_, _, d) = find_alarm_on(
        &t,
        store::metrics::NAMESPACE,
        "credentials_rejected",
        "(ArchiverFunction)",
    );
    assert_eq!(
        d.keys().cloned().collect::<Vec<_>>(),
        [store::metrics::FUNCTION_DIMENSION]
    );
    // The metric is one the archiver counts.
    let code = read(&repo_root().join("crates/archiver/src/archive.rs"));
    assert!(code.contains("\"credentials_rejected\""));

    // The archive queue's backlog: an execution waiting long, alarmed well
    // before the archiver's retry window ends.
    let found: Vec<_> = alarms(&t)
        .into_iter()
        .filter(|(_, f, d)| {
            f.get("MetricName").map(String::as_str) == Some("ApproximateAgeOfOldestMessage")
                && d.values().any(|v| v.contains("(ArchiveQueue."))
        })
        .collect();
    assert_eq!(found.len(), 1, "one age alarm on the archive queue");
    let (name, f, d) = &found[0];
    assert_eq!(f["Namespace"], "AWS/SQS", "{name}");
    assert_eq!(
        d,
        &BTreeMap::from([(
            "QueueName".to_owned(),
            "GetAtt(ArchiveQueue.QueueName)".to_owned()
        )])
    );
    assert_eq!(f["ComparisonOperator"], "GreaterThanThreshold", "{name}");
    let threshold: u64 = f["Threshold"].parse().unwrap();
    assert!(
        threshold > u64::from(archiver::batch::MAX_CREDENTIALS_BACKOFF_SECS)
            && threshold * 4 <= archiver::batch::RETRY_WINDOW.as_secs(),
        "{name}: {threshold} s"
    );
    assert!(f["AlarmActions"].contains("AlarmTopicArn"), "{name}");
}

// ------------------------------------------------------------------ parameters and conditions

/// The values `IngestEndpoint` allows.
const INGEST_ENDPOINTS: [&str; 2] = ["HttpApi", "FunctionUrl"];

/// Every `Ref`, `GetAtt` and `${…}` of a rendered template names a resource
/// that exists in it, a parameter, or a pseudo parameter: what CloudFormation
/// checks before it deploys anything.
fn assert_references_exist(t: &Yaml) {
    let resources: BTreeSet<String> = at(t, &["Resources"])
        .as_mapping()
        .unwrap()
        .keys()
        .map(show)
        .collect();
    let params: BTreeSet<String> = at(t, &["Parameters"])
        .as_mapping()
        .unwrap()
        .keys()
        .map(show)
        .collect();
    let known = |name: &str, what: &str| {
        let base = name.split('.').next().unwrap();
        assert!(
            resources.contains(base) || params.contains(base) || base.starts_with("AWS::"),
            "{what} names {name}, which this rendering does not have"
        );
    };
    fn walk(v: &Yaml, known: &dyn Fn(&str, &str)) {
        if let Some((f, arg)) = intrinsic(v) {
            match f.as_str() {
                "Ref" => known(&show(arg), "Ref"),
                "GetAtt" => known(&show(arg).replace(", ", "."), "GetAtt"),
                "If" => panic!("an If is left after rendering: {}", show(v)),
                "Sub" => {
                    let (text, vars) = match arg {
                        Yaml::Sequence(a) => (show(&a[0]), Some(&a[1])),
                        other => (show(other), None),
                    };
                    let locals: BTreeSet<String> = vars
                        .and_then(Yaml::as_mapping)
                        .map(|m| m.keys().map(show).collect())
                        .unwrap_or_default();
                    for name in sub_names(&text) {
                        if !locals.contains(&name) {
                            known(&name, "Sub");
                        }
                    }
                    if let Some(vars) = vars {
                        walk(vars, known);
                    }
                    return;
                }
                _ => {}
            }
            walk(arg, known);
            return;
        }
        match v {
            Yaml::Mapping(m) => m.values().for_each(|v| walk(v, known)),
            Yaml::Sequence(items) => items.iter().for_each(|v| walk(v, known)),
            _ => {}
        }
    }
    for section in ["Resources", "Outputs"] {
        walk(at(t, &[section]), &known);
    }
}

const REGION: &str = "eu-west-1";
const API_ID: &str = "a1b2c3d4e5";
const FUNCTION_URL: &str = "https://abcdefghijklmnopqrstuvwxyz012345.lambda-url.eu-west-1.on.aws/";

/// The name Lambda gives a function of the stack `contract-hooks` (what
/// `!Ref` of it yields, and the EMF `Function` dimension in Lambda).
fn deployed(function: &str) -> String {
    format!("contract-hooks-{function}-1A2B3C4D5E6F")
}

fn deployed_queue(queue: &str) -> String {
    format!("contract-hooks-{queue}-Q9R8S7T6")
}

/// Made-up deployed values for what the dashboard and outputs name.
fn deployed_value(name: &str) -> String {
    match name {
        "AWS::Region" => REGION.into(),
        "AWS::StackName" => "contract-hooks".into(),
        "AWS::URLSuffix" => "amazonaws.com".into(),
        "AWS::Partition" => "aws".into(),
        "AWS::AccountId" => "123456789012".into(),
        "HttpApi" => API_ID.into(),
        "IngestFunctionUrl.FunctionUrl" => FUNCTION_URL.into(),
        "Dashboard" => format!("contract-hooks-{REGION}"),
        f if [INGEST, PROCESSOR, ARCHIVER].contains(&f) => deployed(f),
        q if q.ends_with(".QueueName") => deployed_queue(q.trim_end_matches(".QueueName")),
        other => panic!("no deployed value for {other}"),
    }
}

#[test]
fn each_ingest_endpoint_deploys_only_its_own_edge() {
    let raw = template();
    assert_eq!(parameter_default(&raw, "IngestEndpoint"), "HttpApi");
    let allowed: Vec<String> = args(at(&raw, &["Parameters", "IngestEndpoint", "AllowedValues"]))
        .iter()
        .map(show)
        .collect();
    assert_eq!(allowed, INGEST_ENDPOINTS);
    let http_only = [
        "HttpApi",
        "IngestFunctionWebhookPermission",
        "HttpApiAccessLogs",
        "IngestServerErrorAlarm",
    ];
    let url_only = [
        "IngestFunctionUrl",
        "IngestFunctionUrlPublicUrl",
        "IngestFunctionUrlPublicInvoke",
        "IngestFunctionUrlServerErrorAlarm",
    ];
    for mode in INGEST_ENDPOINTS {
        for bus in ["", "shared-bus"] {
            let t = render(
                &raw,
                &[("IngestEndpoint", mode), ("ExistingEventBusName", bus)],
                None,
            );
            assert_references_exist(&t);
            let has = |r: &str| t["Resources"].get(r).is_some();
            let (present, absent) = if mode == "HttpApi" {
                (&http_only[..], &url_only[..])
            } else {
                (&url_only[..], &http_only[..])
            };
            for r in present {
                assert!(has(r), "{mode}: {r} is missing");
            }
            for r in absent {
                assert!(!has(r), "{mode}: {r} is deployed");
            }
            // Ingest is invoked by exactly the edge of this mode.
            let permissions: Vec<(String, String, String)> =
                resources_of(&t, "AWS::Lambda::Permission")
                    .into_iter()
                    .map(|(_, r)| {
                        let p = at(r, &["Properties"]);
                        (
                            show(at(p, &["FunctionName"])),
                            show(at(p, &["Action"])),
                            show(at(p, &["Principal"])),
                        )
                    })
                    .filter(|(f, _, _)| f == "Ref(IngestFunction)")
                    .collect();
            if mode == "HttpApi" {
                assert_eq!(
                    permissions,
                    [(
                        "Ref(IngestFunction)".into(),
                        "lambda:InvokeFunction".into(),
                        "apigateway.amazonaws.com".into()
                    )]
                );
            } else {
                // AuthType NONE: the public may call the URL, and (since October
                // 2025 Lambda requires both) invoke the function, but only
                // through the URL.
                let url = props(&t, "IngestFunctionUrlPublicUrl", "AWS::Lambda::Permission");
                assert_eq!(show(at(url, &["Action"])), "lambda:InvokeFunctionUrl");
                assert_eq!(show(at(url, &["Principal"])), "*");
                assert_eq!(show(at(url, &["FunctionUrlAuthType"])), "NONE");
                let invoke = props(
                    &t,
                    "IngestFunctionUrlPublicInvoke",
                    "AWS::Lambda::Permission",
                );
                assert_eq!(show(at(invoke, &["Action"])), "lambda:InvokeFunction");
                assert_eq!(show(at(invoke, &["Principal"])), "*");
                assert_eq!(show(at(invoke, &["InvokedViaFunctionUrl"])), "true");
                assert_eq!(permissions.len(), 2, "{permissions:?}");
            }
            // One 5xx alarm on the edge that exists.
            let five_xx: Vec<(String, String)> = alarms(&t)
                .into_iter()
                .filter(|(_, f, _)| {
                    f["MetricName"].contains("5xx") || f["MetricName"] == "Url5xxCount"
                })
                .map(|(_, f, d)| {
                    (
                        f["MetricName"].clone(),
                        d.values().cloned().collect::<Vec<_>>().join(","),
                    )
                })
                .collect();
            let want = if mode == "HttpApi" {
                ("5xx".to_owned(), "Ref(HttpApi),$default".to_owned())
            } else {
                ("Url5xxCount".to_owned(), "Ref(IngestFunction)".to_owned())
            };
            assert_eq!(five_xx, [want], "{mode}");
        }
    }
}

#[test]
fn reserved_concurrency_of_ingest_is_optional() {
    let raw = template();
    assert_eq!(parameter_default(&raw, "IngestReservedConcurrency"), "-1");
    let reserved = |value: &str| {
        let t = render(&raw, &[("IngestReservedConcurrency", value)], None);
        props(&t, INGEST, FUNCTION)
            .get("ReservedConcurrentExecutions")
            .map(show)
    };
    assert_eq!(reserved("-1"), None, "-1 = no reservation");
    assert_eq!(
        reserved("25"),
        Some("Ref(IngestReservedConcurrency)".to_owned())
    );
    // The processor and archiver are capped by their event sources, not here.
    for function in [PROCESSOR, ARCHIVER] {
        assert!(props(&raw, function, FUNCTION)
            .get("ReservedConcurrentExecutions")
            .is_none());
    }
    let alarm = find_alarm_on(&raw, "AWS/Lambda", "Throttles", "(IngestFunction)");
    assert_eq!(alarm.2.len(), 1);
}

#[test]
fn tracing_is_a_parameter_of_every_function() {
    let raw = template();
    assert_eq!(parameter_default(&raw, "Tracing"), "Disabled");
    let allowed: Vec<String> = args(at(&raw, &["Parameters", "Tracing", "AllowedValues"]))
        .iter()
        .map(show)
        .collect();
    assert_eq!(allowed, ["Disabled", "Active"]);
    // SAM resolves the parameter: Disabled leaves TracingConfig out, Active
    // sets Mode Active (Lambda knows no "Disabled" mode).
    for function in [INGEST, PROCESSOR, ARCHIVER] {
        assert_eq!(
            function_prop(&raw, function, "Tracing")
                .map(show)
                .as_deref(),
            Some("Ref(Tracing)"),
            "{function}"
        );
    }
    // The roles get X-Ray's write actions only while tracing (the IAM test
    // checks the exact grants both ways); the HTTP API cannot be traced.
    assert!(
        props(&raw, "HttpApi", "AWS::Serverless::HttpApi")
            .get("TracingEnabled")
            .is_none(),
        "HTTP APIs have no X-Ray tracing"
    );
}

// ------------------------------------------------------------------ dashboard

type MetricKey = (String, String, BTreeMap<String, String>);

const EVERY_METRIC_CHILD: &str = "child_prints_every_metric_of_a_function";
const METRICS_OF_ENV: &str = "CONTRACT_HOOKS_METRICS_OF";

/// Every (namespace, metric, dimensions) `function` (a logical id) publishes
/// as EMF, printed by the function's own code in a process whose
/// `AWS_LAMBDA_FUNCTION_NAME` is the deployed name.
fn emitted_metrics(function: &str) -> BTreeSet<MetricKey> {
    let name = deployed(function);
    let env = [
        (store::metrics::FUNCTION_NAME_ENV, name.as_str()),
        (METRICS_OF_ENV, function),
    ];
    let out = child::run(EVERY_METRIC_CHILD, &env, std::time::Duration::from_secs(60));
    assert!(out.status.success(), "{}\n{}", out.stdout, out.stderr);
    let mut keys = BTreeSet::new();
    for line in out.stdout.lines() {
        let Some(doc) = line
            .find('{')
            .and_then(|i| serde_json::from_str::<Json>(&line[i..]).ok())
            .filter(|d| d.get("_aws").is_some())
        else {
            continue;
        };
        for directive in doc["_aws"]["CloudWatchMetrics"].as_array().unwrap() {
            let namespace = directive["Namespace"].as_str().unwrap().to_owned();
            for set in directive["Dimensions"].as_array().unwrap() {
                let dims: BTreeMap<String, String> = set
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|k| {
                        let k = k.as_str().unwrap();
                        (k.to_owned(), doc[k].as_str().unwrap().to_owned())
                    })
                    .collect();
                for metric in directive["Metrics"].as_array().unwrap() {
                    let metric = metric["Name"].as_str().unwrap().to_owned();
                    keys.insert((namespace.clone(), metric, dims.clone()));
                }
            }
        }
    }
    assert!(
        !keys.is_empty(),
        "{function} printed no metrics:\n{}",
        out.stdout
    );
    keys
}

/// Every outcome ingest can reach. The `match` has no wildcard: a new
/// outcome does not compile until it is listed here (and its metrics are then
/// checked against the dashboard).
fn every_ingest_outcome() -> Vec<ingest::Outcome> {
    use ingest::Outcome;
    let key = || "spotdraft#k".to_owned();
    let p = Provider::SpotDraft;
    let err = || store::StoreError::Corrupt {
        what: "x",
        reason: "y".into(),
    };
    let all = vec![
        Outcome::Accepted {
            provider: p,
            key: key(),
            unread: vec!["activity_data.timestamp"],
        },
        Outcome::Duplicate {
            provider: p,
            key: key(),
            requeued: false,
        },
        Outcome::Duplicate {
            provider: p,
            key: key(),
            requeued: true,
        },
        Outcome::Unverified {
            provider: p,
            err: verify::VerifyError::SignatureMismatch,
        },
        Outcome::Unreadable {
            provider: p,
            err: verify::ParseError::NotAnObject,
        },
        Outcome::TooLarge {
            provider: p,
            limit: 1,
        },
        Outcome::ProviderNotConfigured(p),
        Outcome::NotFound,
        Outcome::MethodNotAllowed,
        Outcome::Unstorable {
            provider: p,
            key: key(),
            err: err(),
        },
        Outcome::DependencyFailed {
            provider: p,
            key: key(),
            err: err(),
        },
    ];
    for o in &all {
        match o {
            Outcome::Accepted { .. }
            | Outcome::Duplicate { .. }
            | Outcome::Unverified { .. }
            | Outcome::Unreadable { .. }
            | Outcome::TooLarge { .. }
            | Outcome::ProviderNotConfigured(_)
            | Outcome::NotFound
            | Outcome::MethodNotAllowed
            | Outcome::Unstorable { .. }
            | Outcome::DependencyFailed { .. } => {}
        }
    }
    all
}

#[test]
#[ignore = "run in a child process by the dashboard test; does nothing on its own"]
fn child_prints_every_metric_of_a_function() {
    if !child::is_child() {
        return;
    }
    match std::env::var(METRICS_OF_ENV).unwrap().as_str() {
        INGEST => every_ingest_outcome()
            .iter()
            .for_each(|o| o.metrics().emit()),
        PROCESSOR => {
            processor::BatchReport::default().metrics().emit();
            processor::SweepReport::default().metrics().emit();
        }
        ARCHIVER => {
            use archiver::batch::{BatchReport, Outcome};
            // Names the archiver's code passes to its outcomes; the dashboard
            // test also finds each one it shows as a literal in the source.
            let outcomes = [
                Outcome::Done("archived"),
                Outcome::Done("already_archived"),
                Outcome::Done("superseded"),
                Outcome::Done("metadata_captured"),
                Outcome::Done("metadata_unchanged"),
                Outcome::Skipped("ignored"),
                Outcome::Skipped("archive_not_configured"),
                Outcome::DeadLettered("too_large"),
                Outcome::DeadLettered("redirect"),
                Outcome::DeadLettered("not_found"),
                Outcome::Retrying {
                    reason: "throttled",
                    after_secs: 1,
                },
                Outcome::Retrying {
                    reason: "credentials_rejected",
                    after_secs: 1,
                },
                Outcome::Retrying {
                    reason: "invalid_document",
                    after_secs: 1,
                },
                Outcome::Retrying {
                    reason: "download_too_slow",
                    after_secs: 1,
                },
                Outcome::Retrying {
                    reason: "answer_too_large",
                    after_secs: 1,
                },
                Outcome::DeadLettered("document_url_refused"),
            ];
            BatchReport {
                outcomes: outcomes
                    .into_iter()
                    .map(|o| (Some("m".into()), o))
                    .collect(),
            }
            .metrics()
            .emit();
        }
        other => panic!("no function {other}"),
    }
}

/// AWS's own metrics the dashboard may show: namespace, metric, the
/// dimension names it is published with (AWS documentation: Lambda function
/// and function URL metrics, API Gateway HTTP API metrics per stage, SQS).
const AWS_METRICS: [(&str, &str, &[&str]); 13] = [
    ("AWS/Lambda", "Duration", &["FunctionName"]),
    ("AWS/Lambda", "Errors", &["FunctionName"]),
    ("AWS/Lambda", "Throttles", &["FunctionName"]),
    ("AWS/Lambda", "UrlRequestCount", &["FunctionName"]),
    ("AWS/Lambda", "Url4xxCount", &["FunctionName"]),
    ("AWS/Lambda", "Url5xxCount", &["FunctionName"]),
    ("AWS/Lambda", "UrlRequestLatency", &["FunctionName"]),
    ("AWS/ApiGateway", "Count", &["ApiId", "Stage"]),
    ("AWS/ApiGateway", "4xx", &["ApiId", "Stage"]),
    ("AWS/ApiGateway", "5xx", &["ApiId", "Stage"]),
    ("AWS/ApiGateway", "Latency", &["ApiId", "Stage"]),
    ("AWS/SQS", "ApproximateAgeOfOldestMessage", &["QueueName"]),
    (
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        &["QueueName"],
    ),
];

/// The dashboard's body as CloudFormation renders it for `mode`, parsed.
fn dashboard(raw: &Yaml, mode: &str) -> (Yaml, Json) {
    let t = render(raw, &[("IngestEndpoint", mode)], None);
    assert_references_exist(&t);
    let p = props(&t, "Dashboard", "AWS::CloudWatch::Dashboard");
    let body = at(p, &["DashboardBody"]);
    assert_eq!(intrinsic(body).map(|(f, _)| f).as_deref(), Some("Sub"));
    let text = evaluate(body, &deployed_value);
    let json: Json = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{mode}: the dashboard body is not JSON ({e}):\n{text}"));
    (t, json)
}

#[test]
fn the_dashboard_shows_only_metrics_that_exist_with_their_exact_dimensions() {
    let raw = template();
    let emitted: BTreeMap<String, BTreeSet<MetricKey>> = [INGEST, PROCESSOR, ARCHIVER]
        .into_iter()
        .map(|f| (deployed(f), emitted_metrics(f)))
        .collect();
    let archiver_code: String = rust_sources(&repo_root().join("crates/archiver/src"))
        .into_iter()
        .map(|(_, text)| without_tests(&text).to_owned())
        .collect();
    for mode in INGEST_ENDPOINTS {
        let (t, body) = dashboard(&raw, mode);
        let widgets = body["widgets"].as_array().expect("widgets");
        let mut shown: Vec<(MetricKey, String)> = Vec::new();
        let mut cells = BTreeSet::new();
        for w in widgets {
            let (x, y, width, height) = (
                w["x"].as_u64().unwrap(),
                w["y"].as_u64().unwrap(),
                w["width"].as_u64().unwrap(),
                w["height"].as_u64().unwrap(),
            );
            assert!(x + width <= 24 && width > 0 && height > 0, "{w}");
            for cx in x..x + width {
                for cy in y..y + height {
                    assert!(cells.insert((cx, cy)), "widgets overlap at {cx},{cy}: {w}");
                }
            }
            match w["type"].as_str().unwrap() {
                "text" => assert!(w["properties"]["markdown"].is_string()),
                "metric" => {
                    let p = &w["properties"];
                    assert_eq!(p["region"], REGION, "{w}");
                    assert!(p["title"].as_str().is_some_and(|s| !s.is_empty()));
                    assert!(["timeSeries", "singleValue"].contains(&p["view"].as_str().unwrap()));
                    let metrics = p["metrics"].as_array().unwrap();
                    assert!(!metrics.is_empty(), "{w}");
                    for m in metrics {
                        let parts = m.as_array().unwrap();
                        let (options, names) = match parts.last() {
                            Some(Json::Object(_)) => {
                                (parts.last().cloned(), &parts[..parts.len() - 1])
                            }
                            _ => (None, &parts[..]),
                        };
                        let names: Vec<&str> = names.iter().map(|n| n.as_str().unwrap()).collect();
                        assert!(names.len() >= 2 && names.len().is_multiple_of(2), "{m}");
                        let dims: BTreeMap<String, String> = names[2..]
                            .chunks(2)
                            .map(|c| (c[0].to_owned(), c[1].to_owned()))
                            .collect();
                        let stat = options
                            .as_ref()
                            .and_then(|o| o["stat"].as_str())
                            .or(p["stat"].as_str())
                            .unwrap_or_else(|| panic!("no statistic for {m}"))
                            .to_owned();
                        assert!(
                            ["Sum", "Maximum", "Average", "p50", "p90", "p99"]
                                .contains(&stat.as_str()),
                            "{m}: {stat}"
                        );
                        shown.push(((names[0].into(), names[1].into(), dims), stat));
                    }
                }
                other => panic!("widget type {other}"),
            }
        }

        let functions: BTreeMap<String, &str> = [INGEST, PROCESSOR, ARCHIVER]
            .into_iter()
            .map(|f| (deployed(f), f))
            .collect();
        for ((namespace, metric, dims), _) in &shown {
            let what = format!("{mode}: {namespace} {metric} {dims:?}");
            if namespace == store::metrics::NAMESPACE {
                let function = dims
                    .get(store::metrics::FUNCTION_DIMENSION)
                    .unwrap_or_else(|| panic!("{what}: no Function dimension"));
                let published = emitted
                    .get(function)
                    .unwrap_or_else(|| panic!("{what}: not one of the stack's functions"));
                assert!(
                    published.contains(&(namespace.clone(), metric.clone(), dims.clone())),
                    "{what} is not published; {} publishes {published:?}",
                    functions[function]
                );
                if functions[function] == ARCHIVER {
                    assert!(archiver_code.contains(&format!("\"{metric}\"")), "{what}");
                }
                continue;
            }
            let (_, _, names) = AWS_METRICS
                .iter()
                .find(|(n, m, _)| n == namespace && m == metric)
                .unwrap_or_else(|| panic!("{what}: not a metric this dashboard may show"));
            assert_eq!(
                dims.keys().map(String::as_str).collect::<Vec<_>>(),
                names
                    .iter()
                    .copied()
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>(),
                "{what}"
            );
            for (name, value) in dims {
                match name.as_str() {
                    "FunctionName" => assert!(functions.contains_key(value), "{what}"),
                    "QueueName" => assert!(
                        resources_of(&t, "AWS::SQS::Queue")
                            .iter()
                            .any(|(q, _)| deployed_queue(q) == *value),
                        "{what}"
                    ),
                    "ApiId" => {
                        assert_eq!(value, API_ID, "{what}");
                        resource(&t, "HttpApi", "AWS::Serverless::HttpApi");
                    }
                    // SAM's stage when the API names none.
                    "Stage" => {
                        assert_eq!(value, "$default", "{what}");
                        assert!(props(&t, "HttpApi", "AWS::Serverless::HttpApi")
                            .get("StageName")
                            .is_none());
                    }
                    _ => unreachable!(),
                }
            }
            if metric.starts_with("Url") {
                resource(&t, "IngestFunctionUrl", "AWS::Lambda::Url");
                assert_eq!(dims["FunctionName"], deployed(INGEST), "{what}");
            }
        }

        // What an operator expects to find, in this mode.
        let has = |namespace: &str, metric: &str, dims: &[(&str, &str)], stat: &str| {
            let dims: BTreeMap<String, String> = dims
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            assert!(
                shown
                    .iter()
                    .any(|((n, m, d), s)| n == namespace && m == metric && *d == dims && s == stat),
                "{mode}: the dashboard lacks {namespace} {metric} {dims:?} {stat}"
            );
        };
        let ingest = deployed(INGEST);
        let processor = deployed(PROCESSOR);
        for outcome in ["accepted", "duplicate", "rejected", "dependency_failed"] {
            has("ContractHooks", outcome, &[("Function", &ingest)], "Sum");
        }
        // Every rejection reason ingest publishes has its line.
        for (_, metric, dims) in &emitted[&ingest] {
            if dims.contains_key("Reason") {
                let reason = dims["Reason"].as_str();
                has(
                    "ContractHooks",
                    metric,
                    &[("Function", &ingest), ("Reason", reason)],
                    "Sum",
                );
            }
        }
        for metric in ["processed", "failed", "published", "marked_failed"] {
            has("ContractHooks", metric, &[("Function", &processor)], "Sum");
        }
        for metric in ["archived", "dead_lettered", "credentials_rejected"] {
            has(
                "ContractHooks",
                metric,
                &[("Function", &deployed(ARCHIVER))],
                "Sum",
            );
        }
        for stat in ["p50", "p99"] {
            for function in [&ingest, &processor] {
                has(
                    "AWS/Lambda",
                    "Duration",
                    &[("FunctionName", function)],
                    stat,
                );
            }
        }
        has(
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            &[("QueueName", &deployed_queue("EventQueue"))],
            "Maximum",
        );
        for dlq in ["DeadLetterQueue", "ArchiveDeadLetterQueue"] {
            has(
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &[("QueueName", &deployed_queue(dlq))],
                "Maximum",
            );
        }
        if mode == "HttpApi" {
            has(
                "AWS/ApiGateway",
                "5xx",
                &[("ApiId", API_ID), ("Stage", "$default")],
                "Sum",
            );
            has(
                "AWS/ApiGateway",
                "Latency",
                &[("ApiId", API_ID), ("Stage", "$default")],
                "p99",
            );
        } else {
            has(
                "AWS/Lambda",
                "Url5xxCount",
                &[("FunctionName", &ingest)],
                "Sum",
            );
            has(
                "AWS/Lambda",
                "UrlRequestLatency",
                &[("FunctionName", &ingest)],
                "p99",
            );
            has(
                "AWS/Lambda",
                "Throttles",
                &[("FunctionName", &ingest)],
                "Sum",
            );
        }
    }

    // The console URL of the dashboard.
    let t = render(&raw, &[], None);
    let url = evaluate(
        at(&t, &["Outputs", "DashboardUrl", "Value"]),
        &deployed_value,
    );
    assert_eq!(
        url,
        format!("https://{REGION}.console.aws.amazon.com/cloudwatch/home?region={REGION}#dashboards/dashboard/contract-hooks-{REGION}")
    );
    // Dashboards are global to an account: the name carries the region.
    assert_eq!(
        show(at(
            props(&t, "Dashboard", "AWS::CloudWatch::Dashboard"),
            &["DashboardName"]
        )),
        "Sub(${AWS::StackName}-${AWS::Region})"
    );
}

/// The checks above can fail: a metric the code does not publish, or one
/// with a dimension it does not carry, is refused.
#[test]
fn the_dashboard_check_refuses_a_metric_nobody_publishes() {
    let text = read(&repo_root().join("template.yaml"));
    for (from, to) in [
        (
            r#"["ContractHooks", "accepted", "Function""#,
            r#"["ContractHooks", "acepted", "Function""#,
        ),
        (
            r#"["ContractHooks", "processed", "Function", "${ProcessorFunction}""#,
            r#"["ContractHooks", "processed", "Function", "${IngestFunction}""#,
        ),
        (r#""Reason", "too_large""#, r#""Reason", "oversized""#),
    ] {
        assert!(text.contains(from), "{from}");
        let broken: Yaml = serde_yaml::from_str(&text.replacen(from, to, 1)).unwrap();
        let emitted: BTreeMap<String, BTreeSet<MetricKey>> = [INGEST, PROCESSOR]
            .into_iter()
            .map(|f| (deployed(f), emitted_metrics(f)))
            .collect();
        let (_, body) = dashboard(&broken, "HttpApi");
        let refused = body["widgets"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|w| {
                w["properties"]["metrics"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
            })
            .filter_map(|m| {
                let parts: Vec<String> = m
                    .as_array()?
                    .iter()
                    .filter_map(|s| s.as_str().map(str::to_owned))
                    .collect();
                (parts[0] == "ContractHooks").then_some(parts)
            })
            .any(|parts| {
                let dims: BTreeMap<String, String> = parts[2..]
                    .chunks(2)
                    .map(|c| (c[0].to_owned(), c[1].to_owned()))
                    .collect();
                let key = ("ContractHooks".to_owned(), parts[1].clone(), dims.clone());
                emitted
                    .get(&dims["Function"])
                    .is_none_or(|published| !published.contains(&key))
            });
        assert!(refused, "{to} would pass");
    }
}
