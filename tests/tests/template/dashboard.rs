//! The dashboard shows only metrics that exist, with their exact dimensions.

use std::collections::{BTreeMap, BTreeSet};

use integration_tests::cfn::{at, evaluate, intrinsic, render, show, template};
use integration_tests::{child, repo_root};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;
use verify::Provider;

use crate::{
    assert_references_exist, deployed, deployed_queue, deployed_value, props, read, resource,
    resources_of, rust_sources, without_tests, API_ID, ARCHIVER, INGEST, INGEST_ENDPOINTS,
    PROCESSOR, REGION,
};

type MetricKey = (String, String, BTreeMap<String, String>);

/// The child test by its path in this binary, as `--exact` matches it.
const EVERY_METRIC_CHILD: &str = "dashboard::child_prints_every_metric_of_a_function";
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
