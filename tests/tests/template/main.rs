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

mod alarms;
mod archiver;
mod cfn_lint;
mod dashboard;
mod environment;
mod functions;
mod iam;
mod parameters;
mod tables;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use integration_tests::cfn::{at, intrinsic, show, sub_names};
use integration_tests::repo_root;
use serde_yaml::Value as Yaml;

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

fn events_of<'a>(t: &'a Yaml, function: &str, kind: &str) -> Vec<&'a Yaml> {
    at(props(t, function, FUNCTION), &["Events"])
        .as_mapping()
        .unwrap()
        .values()
        .filter(|e| show(at(e, &["Type"])) == kind)
        .map(|e| at(e, &["Properties"]))
        .collect()
}

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
