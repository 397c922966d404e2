//! Both functions under `cargo lambda watch` (the Lambda Runtime API a deployed
//! function uses), invoked with `cargo lambda invoke` and API Gateway / SQS
//! events, against moto.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Provider};

fn cargo_lambda() -> PathBuf {
    let venv = repo_root().join(".venv/bin/cargo-lambda");
    assert!(
        venv.exists(),
        "cargo-lambda is not installed: run `make venv` (the tests never skip)"
    );
    venv
}

/// `cargo lambda watch` on a free port, killed when dropped.
struct Watch {
    child: Child,
    port: u16,
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts the functions; their output (and cargo-lambda's) goes to `log`.
fn start_watch(env_file: &Path, log: &Path) -> Watch {
    let port = free_port();
    let out = std::fs::File::create(log).unwrap();
    let child = Command::new(cargo_lambda())
        .args(["lambda", "watch", "--ignore-changes", "--env-file"])
        .arg(env_file)
        .args([
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
        ])
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::from(out.try_clone().unwrap()))
        .stderr(Stdio::from(out))
        .spawn()
        .expect("starting cargo lambda watch");
    let watch = Watch { child, port };
    let deadline = Instant::now() + Duration::from_secs(120);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "cargo lambda watch did not listen"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    watch
}

/// `cargo lambda invoke FUNCTION --data-file F`; returns the function's JSON answer.
fn invoke(watch: &Watch, function: &str, event: &Value, dir: &Path) -> Value {
    let file = dir.join(format!("{function}-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, event.to_string()).unwrap();
    let out = Command::new(cargo_lambda())
        .args([
            "lambda",
            "invoke",
            function,
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &watch.port.to_string(),
            "--output-format",
            "json",
            "--data-file",
        ])
        .arg(&file)
        .current_dir(repo_root())
        .output()
        .expect("running cargo lambda invoke");
    assert!(
        out.status.success(),
        "cargo lambda invoke {function} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{function} answered {stdout:?}: {e}"))
}

fn write_env(stack: &Stack, bus: &str, dir: &Path) -> PathBuf {
    let vars = [
        // Publishing on: the events carry names and emails to the bus, never
        // to the logs.
        ("EVENT_BUS_NAME", bus.into()),
        ("AWS_ENDPOINT_URL", moto().endpoint.clone()),
        ("AWS_REGION", "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID", "testing".into()),
        ("AWS_SECRET_ACCESS_KEY", "testing".into()),
        ("EVENTS_TABLE", stack.events_table.clone()),
        ("STATUS_TABLE", stack.status_table.clone()),
        ("QUEUE_URL", stack.queue_url.clone()),
        ("WEBHOOK_SECRETS", secrets_json()),
        // The most the template allows: the runtime's own trace output
        // (every raw invocation event) must be capped all the same.
        ("RUST_LOG", "trace".into()),
    ];
    let text: String = vars.iter().map(|(k, v)| format!("{k}='{v}'\n")).collect();
    let path = dir.join("env");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn both_functions_answer_through_the_lambda_runtime_api() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let stack = runtime.block_on(Stack::new());
    let dir = tempfile_dir();
    let sub = runtime.block_on(subscribe_to_bus(&stack));
    let env = write_env(&stack, &sub.bus, &dir);
    let log = dir.join("functions.log");
    let watch = start_watch(&env, &log);

    // Ingest: real API Gateway v1 and v2 events for signed samples, and bad input.
    let cases: Vec<(Value, u16)> = vec![
        (
            signed_event(
                EventKind::ApiGatewayV2,
                Provider::SpotDraft,
                "spotdraft-contract-executed.json",
                BodyFormat::Json,
            ),
            202,
        ),
        (
            signed_event(
                EventKind::ApiGatewayV1,
                Provider::Subnoto,
                "subnoto-envelope-signed.json",
                BodyFormat::Json,
            ),
            202,
        ),
        (
            signed_event(
                EventKind::FunctionUrl,
                Provider::Subnoto,
                "subnoto-envelope-completed.json",
                BodyFormat::Form,
            ),
            202,
        ),
        (
            signed_event(
                EventKind::ApiGatewayV2,
                Provider::SpotDraft,
                "spotdraft-contract-executed.json",
                BodyFormat::Json,
            ),
            200,
        ),
        // DocuSign: accepted is 200 (the only code Connect counts as
        // delivered); the body names two signers.
        (
            signed_event(
                EventKind::ApiGatewayV2,
                Provider::DocuSign,
                "docusign-recipient-completed-2.json",
                BodyFormat::Json,
            ),
            200,
        ),
        (tampered_event(), 401),
        // IngestEndpoint=FunctionUrl: function URL events (payload 2.0, route
        // `$default`, no stage), the body base64-encoded as a function URL
        // hands over a body it treats as binary. The signature is verified on
        // the decoded bytes, exactly as the provider sent them.
        (
            function_url_event(
                Provider::SpotDraft,
                "spotdraft-contract-signed.json",
                BodyFormat::Json,
                true,
            ),
            202,
        ),
        (
            function_url_event(
                Provider::Subnoto,
                "subnoto-envelope-declined.json",
                BodyFormat::Form,
                true,
            ),
            202,
        ),
        // The same bytes as text: the same event (a duplicate), so base64 or
        // not, the key is computed over the bytes as received.
        (
            function_url_event(
                Provider::SpotDraft,
                "spotdraft-contract-signed.json",
                BodyFormat::Json,
                false,
            ),
            200,
        ),
        (tampered_function_url_event(), 401),
        // A function URL passes every path and method: ingest answers them.
        (
            http_event(
                EventKind::FunctionUrl,
                "GET",
                "/webhooks/spotdraft",
                &[],
                b"",
                false,
            ),
            405,
        ),
        (
            http_event(EventKind::FunctionUrl, "POST", "/", &[], b"{}", false),
            404,
        ),
        (
            http_event(
                EventKind::ApiGatewayV2,
                "POST",
                "/webhooks/adobesign",
                &[],
                b"{}",
                false,
            ),
            404,
        ),
        (
            http_event(
                EventKind::ApiGatewayV2,
                "GET",
                "/webhooks/subnoto",
                &[],
                b"",
                false,
            ),
            405,
        ),
    ];
    for (event, expected) in &cases {
        let answer = invoke(&watch, "ingest", event, &dir);
        assert_eq!(answer["statusCode"], *expected, "{answer}");
    }

    // Processor: the messages ingest queued, as an SQS batch, plus one malformed record.
    let mut bodies: Vec<(String, String)> = runtime
        .block_on(stack.drain_queue())
        .into_iter()
        .enumerate()
        .map(|(i, m)| (format!("m{i}"), serde_json::to_string(&m).unwrap()))
        .collect();
    assert_eq!(bodies.len(), 6, "six new events were queued");
    let queued = bodies.len();
    bodies.push(("bad".into(), "not a queue message".into()));
    let answer = invoke(
        &watch,
        "processor",
        &sqs_event_json(
            bodies
                .iter()
                .map(|(id, body)| sqs_record(id, Some(body), 1))
                .collect(),
        ),
        &dir,
    );
    let failures: Vec<&str> = answer["batchItemFailures"]
        .as_array()
        .unwrap_or_else(|| panic!("no batchItemFailures in {answer}"))
        .iter()
        .map(|f| f["itemIdentifier"].as_str().unwrap())
        .collect();
    assert_eq!(failures, ["bad"], "only the malformed record fails");

    let status = runtime.block_on(async {
        stack
            .clients
            .dynamodb
            .get_item()
            .table_name(&stack.status_table)
            .key(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S("spotdraft#48213".into()),
            )
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    });
    let status = status.expect("the contract's status item exists");
    assert_eq!(status["status"].as_s().unwrap(), "EXECUTED");
    let published = runtime.block_on(bus_received(&stack, &sub));
    let ids: std::collections::BTreeSet<&str> = published
        .iter()
        .map(|e| e["detail"]["id"].as_str().unwrap())
        .collect();
    assert_eq!(published.len(), queued, "one entry per processed event");
    assert_eq!(ids.len(), queued, "each id once");
    assert!(published
        .iter()
        .all(|e| e["detail-type"] == "Contract Event"
            || e["detail-type"] == "Contract Status Changed"));

    // The scheduled sweep runs through the same function.
    let sweep = scheduled_event();
    let answer = invoke(&watch, "processor", &sweep, &dir);
    assert!(answer.is_object(), "sweep answered {answer}");
    drop(watch);
    scan_for_personal_data(&std::fs::read_to_string(&log).unwrap(), &cases);
}

/// The functions ran at `RUST_LOG=trace`, through the real Lambda runtime:
/// what they and the runtime wrote holds no email, no signature and no piece
/// of a webhook body. (Every lower level writes a subset of this.) The
/// webhook lines are there, so an empty capture cannot pass.
fn scan_for_personal_data(log: &str, cases: &[(Value, u16)]) {
    let webhook_lines = log.matches(r#""message":"webhook""#).count();
    assert!(
        webhook_lines >= cases.len(),
        "only {webhook_lines} webhook lines captured:\n{log}"
    );
    let mut leaks = Vec::new();
    for (event, _) in cases {
        let headers = event["headers"].as_object().into_iter().flatten();
        for (name, value) in headers {
            let signed = ["x-webhook-signature", "x-sd-webhook-content-hash"]
                .contains(&name.to_ascii_lowercase().as_str());
            let value = value.as_str().unwrap_or_default();
            if signed && log.contains(value) {
                leaks.push(format!("signature {value}"));
            }
        }
    }
    // Every text value of the payloads sent (titles, names, emails,
    // organisations), except identifiers, event types and times, which the
    // log lines carry on purpose. A raw event in the log would hold them all.
    fn texts(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::String(s) => out.push(s.clone()),
            Value::Array(items) => items.iter().for_each(|v| texts(v, out)),
            Value::Object(members) => members.values().for_each(|v| texts(v, out)),
            _ => {}
        }
    }
    let mut checked = 0;
    for sample in [
        "spotdraft-contract-executed.json",
        "subnoto-envelope-signed.json",
        "subnoto-envelope-completed.json",
        "docusign-recipient-completed-2.json",
    ] {
        let payload: Value = serde_json::from_slice(&integration_tests::sample(sample)).unwrap();
        let mut values = Vec::new();
        texts(&payload, &mut values);
        let sensitive = values.iter().filter(|v| {
            let identifier = v.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
            // SpotDraft/Subnoto event types, and DocuSign's event names and
            // statuses (`recipient-completed`, `completed`): vocabulary the
            // log lines carry on purpose, never a name or an address.
            let event_type = v.chars().all(|c| c.is_ascii_uppercase() || c == '_')
                || v.chars().all(|c| c.is_ascii_lowercase() || c == '-');
            let time = v.starts_with(|c: char| c.is_ascii_digit());
            v.len() >= 6 && !identifier && !event_type && !time
        });
        for value in sensitive {
            checked += 1;
            if log.contains(value.as_str()) {
                leaks.push(format!("{sample}: {value:?}"));
            }
        }
    }
    // Titles, organisations, two signers' names and emails at least.
    assert!(checked >= 8, "only {checked} values looked for");
    assert!(leaks.is_empty(), "the functions' logs leak: {leaks:?}");
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("contract-hooks-lambda-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn signed_event(kind: EventKind, provider: Provider, name: &str, format: BodyFormat) -> Value {
    let json = sample(name);
    let body = match format {
        BodyFormat::Json => json,
        BodyFormat::Form => form_encode(&json),
    };
    let headers = signed_headers(provider, secret_of(provider), &body, now_ms(), format);
    http_event(
        kind,
        "POST",
        &format!("/webhooks/{provider}"),
        &headers,
        &body,
        false,
    )
}

/// A signed delivery as a Lambda function URL hands it to the function;
/// `base64`: the body arrives base64-encoded (`isBase64Encoded: true`).
fn function_url_event(provider: Provider, name: &str, format: BodyFormat, base64: bool) -> Value {
    let json = sample(name);
    let body = match format {
        BodyFormat::Json => json,
        BodyFormat::Form => form_encode(&json),
    };
    let headers = signed_headers(provider, secret_of(provider), &body, now_ms(), format);
    let event = http_event(
        EventKind::FunctionUrl,
        "POST",
        &format!("/webhooks/{provider}"),
        &headers,
        &body,
        base64,
    );
    assert_eq!(event["isBase64Encoded"], base64);
    assert_eq!(event["routeKey"], "$default");
    assert!(event["requestContext"]["domainName"]
        .as_str()
        .unwrap()
        .contains(".lambda-url."));
    event
}

/// A function URL delivery whose base64-encoded body differs from the signed
/// bytes by one bit.
fn tampered_function_url_event() -> Value {
    let body = sample("subnoto-envelope-completed-sparse.json");
    let headers = signed_headers(
        Provider::Subnoto,
        secret_of(Provider::Subnoto),
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let mut tampered = body.clone();
    tampered[20] ^= 1;
    http_event(
        EventKind::FunctionUrl,
        "POST",
        "/webhooks/subnoto",
        &headers,
        &tampered,
        true,
    )
}

fn tampered_event() -> Value {
    let body = sample("spotdraft-contract-signed.json");
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let mut tampered = body.clone();
    tampered[10] ^= 1;
    http_event(
        EventKind::ApiGatewayV2,
        "POST",
        "/webhooks/spotdraft",
        &headers,
        &tampered,
        false,
    )
}
