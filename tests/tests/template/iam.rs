//! Each function's role grants exactly the actions its code uses, on its own resources.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::cfn::{at, render, show, template};
use integration_tests::repo_root;
use serde_yaml::Value as Yaml;
use store::schema;

use crate::{props, resource, rust_sources, without_tests, ARCHIVER, FUNCTION, INGEST, PROCESSOR};

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
