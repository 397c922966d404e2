//! The template's parameters and conditions: ingest endpoint, reserved concurrency, tracing.

use integration_tests::cfn::{args, at, render, show, template};

use crate::{
    alarms, assert_references_exist, find_alarm_on, function_prop, parameter_default, props,
    resources_of, ARCHIVER, FUNCTION, INGEST, INGEST_ENDPOINTS, PROCESSOR,
};

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
