//! The functions: the queue's redrive and visibility, their triggers and routes, their builds.

use std::collections::BTreeSet;

use aws_sdk_sqs::types::QueueAttributeName;
use integration_tests::cfn::{at, evaluate, render, show, template};
use integration_tests::{repo_root, Stack};
use serde_json::Value as Json;
use store::schema;
use verify::Provider;

use crate::{
    assert_references_exist, deployed_value, events_of, function_prop, number, props, read,
    resource, resources_of, timeout_secs, API_ID, ARCHIVER, FUNCTION, FUNCTION_URL, INGEST,
    INGEST_ENDPOINTS, PROCESSOR, REGION,
};

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
