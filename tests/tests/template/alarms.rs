//! The alarms watch metrics that exist, as the functions publish them in Lambda.

use std::collections::BTreeMap;

use integration_tests::cfn::template;
use integration_tests::child;
use serde_json::Value as Json;

use crate::{find_alarm, find_alarm_on, resources_of, FUNCTION, PROCESSOR};

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

/// The child test by its path in this binary, as `--exact` matches it.
const EMF_CHILD: &str = "alarms::child_prints_the_sweeps_metrics";

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
