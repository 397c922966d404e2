//! The child's run: every kind of request, fault and invocation, with the functions' logs.

use std::time::Duration;

use base64::Engine;
use integration_tests::faults::{target, Call, Fault, FaultProxy, Times};
use integration_tests::*;
use serde_json::{json, Value};
use verify::{BodyFormat, Event, Provider};

use crate::{signed, Invoked, Sent, REPORT_ENV};

#[test]
#[ignore = "run in a child process by the log scan; does nothing on its own"]
fn child_full_run_with_the_functions_log_setup() {
    if !child::is_child() {
        return;
    }
    let report = std::env::var(REPORT_ENV).expect("report path");
    store::init_json_logs();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let sent = runtime.block_on(full_run());
    std::fs::write(report, serde_json::to_vec(&sent).unwrap()).unwrap();
}

/// Sends one request; returns the status.
async fn deliver(
    app: &ingest::App,
    sent: &mut Sent,
    method: &str,
    path: &str,
    headers: Vec<(String, String)>,
    body: &[u8],
) -> u16 {
    sent.request(&headers, body);
    let event = http_event(EventKind::ApiGatewayV2, method, path, &headers, body, false);
    answer(ingest::handle(app, request(&event)).await).0
}

/// Requests the processor's kinds of AWS call that reached the proxy so far
/// (never `GetSecretValue`: ingest's background refresh makes those).
fn processor_requests(proxy: &FaultProxy) -> usize {
    [
        target::PUT_ITEM,
        target::UPDATE_ITEM,
        target::QUERY,
        target::GET_ITEM,
        target::SEND_MESSAGE,
    ]
    .iter()
    .map(|t| proxy.calls(t))
    .sum()
}

/// Invokes the processor's entry point with `payload` and records the
/// invocation and the requests it made; `retried` when an injected fault may
/// have made the SDK retry.
async fn invoke(
    app: &processor::App,
    proxy: &FaultProxy,
    sent: &mut Sent,
    label: &str,
    payload: Value,
    retried: bool,
) -> Value {
    let before = processor_requests(proxy);
    let answer = processor::handle(app, payload).await.unwrap();
    let wire = processor_requests(proxy) - before;
    sent.invocations.push(Invoked {
        label: label.to_owned(),
        wire_calls: (!retried).then_some(wire),
    });
    answer
}

/// Feeds every queued message to the processor's entry point, 10 at a time.
async fn process_queue(
    stack: &Stack,
    app: &processor::App,
    proxy: &FaultProxy,
    sent: &mut Sent,
    label: &str,
) {
    let messages = stack.drain_queue_raw().await;
    for chunk in messages.chunks(10) {
        let records = chunk
            .iter()
            .map(|m| {
                sent.queue_bodies.push(m.body.clone());
                sqs_record(&m.message_id, Some(&m.body), 1)
            })
            .collect();
        let answer = invoke(app, proxy, sent, label, sqs_event_json(records), false).await;
        assert_eq!(answer["batchItemFailures"], json!([]), "{answer}");
    }
}

async fn full_run() -> Sent {
    let mut sent = Sent::default();
    let stack = Stack::new().await;
    let proxy = FaultProxy::start(&moto().endpoint).await;
    let clients = function_clients_via(proxy.endpoint(), iam::Function::Ingest).await;
    let arn = stack.create_secret(&secrets_json()).await;

    // Cold starts that fail, reported as the functions' main does (`?` out of
    // main prints the error's Debug form on stderr).
    let rule = proxy.fail(
        Call::new(target::GET_SECRET_VALUE),
        Fault::ServerError,
        Times::UntilCleared,
    );
    let err = stack
        .ingest_with(&clients, &[("WEBHOOK_SECRETS_ARN", &arn)])
        .await
        .unwrap_err();
    eprintln!("Error: {:?}", lambda_http::Error::from(err));
    assert!(proxy.hits(rule) > 0);
    proxy.clear();
    let bad_inline = r#"{"spotdraft":["%%%"],"subnoto":["whsec_x"]}"#;
    let err = stack
        .ingest_with(&clients, &[("WEBHOOK_SECRETS", bad_inline)])
        .await
        .unwrap_err();
    eprintln!("Error: {:?}", lambda_http::Error::from(err));

    let config = stack.config(&[("WEBHOOK_SECRETS_ARN", &arn)]);
    let app = stack
        .ingest_with(
            &clients,
            &[
                ("WEBHOOK_SECRETS_ARN", &arn),
                ("SECRETS_REFRESH_SECONDS", "1"),
                ("MAX_BODY_BYTES", "4096"),
            ],
        )
        .await
        .unwrap();
    tracing::info!(events_table = %config.events_table, max_body_bytes = 4096, "ingest ready");
    // Clients of its own, as in its own Lambda: ingest's background secrets
    // refresh must not count as the processor's calls.
    let processor_clients = function_clients_via(proxy.endpoint(), iam::Function::Processor).await;
    let processor = stack.processor_with(&processor_clients, &[("SWEEP_AFTER_SECONDS", "60")]);
    tracing::info!(
        events_table = %config.events_table,
        status_table = %config.status_table,
        "processor ready"
    );

    // Every sample, JSON and (Subnoto) form-encoded: accepted, then duplicates.
    for (provider, name) in samples() {
        let json_body = sample(&name);
        let event = Event::parse(provider, BodyFormat::Json, &json_body).unwrap();
        sent.event(&event);
        let mut bodies = vec![(json_body.clone(), BodyFormat::Json)];
        if provider == Provider::Subnoto {
            bodies.push((form_encode(&json_body), BodyFormat::Form));
        }
        let path = format!("/webhooks/{provider}");
        for (i, (body, format)) in bodies.iter().enumerate() {
            let headers = signed(provider, secret_of(provider), body, *format);
            let status = deliver(&app, &mut sent, "POST", &path, headers.clone(), body).await;
            let first = accepted_status(provider);
            assert_eq!(status, if i == 0 { first } else { 200 }, "{name}");
            let status = deliver(&app, &mut sent, "POST", &path, headers, body).await;
            assert_eq!(status, 200, "{name}");
        }
    }

    // Bad input.
    let sd = sample("spotdraft-contract-signed.json");
    let sn = sample("subnoto-envelope-signed.json");
    let sd_headers = signed(Provider::SpotDraft, SPOTDRAFT_KEY, &sd, BodyFormat::Json);
    let without_signature: Vec<_> = sd_headers
        .iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case("X-SD-WEBHOOK-CONTENT-HASH"))
        .cloned()
        .collect();
    let mut tampered = sd.clone();
    tampered[30] ^= 1;
    let other_key = "b3RoZXIta2V5LW5vdC10aGUtY29uZmlndXJlZC1vbmU=";
    let stale = signed_headers(
        Provider::Subnoto,
        SUBNOTO_SECRET,
        &sn,
        now_ms() - 301_000,
        BodyFormat::Json,
    );
    let not_json = b"signed, but not JSON: contract for Ana Costa".to_vec();
    let big = [b'{'].repeat(5000);
    let with_type = |mut h: Vec<(String, String)>, ct: &str| {
        for (k, v) in h.iter_mut() {
            if k.eq_ignore_ascii_case("content-type") {
                *v = ct.to_owned();
            }
        }
        h
    };
    // (expected status, method, path, headers, body)
    type Case = (
        u16,
        &'static str,
        &'static str,
        Vec<(String, String)>,
        Vec<u8>,
    );
    let cases: Vec<Case> = vec![
        (
            401,
            "POST",
            "/webhooks/spotdraft",
            without_signature,
            sd.clone(),
        ),
        (
            401,
            "POST",
            "/webhooks/spotdraft",
            sd_headers.clone(),
            tampered,
        ),
        (
            401,
            "POST",
            "/webhooks/spotdraft",
            signed(Provider::SpotDraft, other_key, &sd, BodyFormat::Json),
            sd.clone(),
        ),
        (401, "POST", "/webhooks/subnoto", stale, sn.clone()),
        (
            400,
            "POST",
            "/webhooks/subnoto",
            signed(
                Provider::Subnoto,
                SUBNOTO_SECRET,
                &not_json,
                BodyFormat::Json,
            ),
            not_json.clone(),
        ),
        (
            400,
            "POST",
            "/webhooks/subnoto",
            signed(
                Provider::Subnoto,
                SUBNOTO_SECRET,
                br#"[{"data":{"recipientEmail":"x.y@example.org"}}]"#,
                BodyFormat::Json,
            ),
            br#"[{"data":{"recipientEmail":"x.y@example.org"}}]"#.to_vec(),
        ),
        (
            404,
            "POST",
            "/webhooks/adobesign",
            sd_headers.clone(),
            sd.clone(),
        ),
        (404, "POST", "/hooks", sd_headers.clone(), sd.clone()),
        (405, "GET", "/webhooks/spotdraft", vec![], vec![]),
        (
            413,
            "POST",
            "/webhooks/spotdraft",
            signed(Provider::SpotDraft, SPOTDRAFT_KEY, &big, BodyFormat::Json),
            big.clone(),
        ),
        (
            415,
            "POST",
            "/webhooks/spotdraft",
            with_type(sd_headers.clone(), "text/plain"),
            sd.clone(),
        ),
    ];
    for (expected, method, path, headers, body) in cases {
        let status = deliver(&app, &mut sent, method, path, headers, &body).await;
        assert_eq!(status, expected, "{method} {path}");
    }

    // Dependency errors on the hot path: 503, then the retry recovers.
    for (call, fault) in [
        (Call::new(target::SEND_MESSAGE), Fault::ServerError),
        (
            Call::new(target::PUT_ITEM).on_table(&stack.events_table),
            Fault::Throttle,
        ),
    ] {
        let body = fresh_subnoto();
        sent.event(&Event::parse(Provider::Subnoto, BodyFormat::Json, &body).unwrap());
        let headers = signed(Provider::Subnoto, SUBNOTO_SECRET, &body, BodyFormat::Json);
        proxy.fail(call, fault, Times::UntilCleared);
        let status = deliver(
            &app,
            &mut sent,
            "POST",
            "/webhooks/subnoto",
            headers.clone(),
            &body,
        )
        .await;
        assert_eq!(status, 503);
        proxy.clear();
        let status = deliver(&app, &mut sent, "POST", "/webhooks/subnoto", headers, &body).await;
        assert!(status == 200 || status == 202, "{status}");
    }

    // A secrets refresh that fails: the cached secrets keep verifying.
    let rule = proxy.fail(
        Call::new(target::GET_SECRET_VALUE),
        Fault::Reset,
        Times::UntilCleared,
    );
    tokio::time::sleep(Duration::from_millis(1100)).await;
    for _ in 0..40 {
        let body = fresh_subnoto();
        sent.event(&Event::parse(Provider::Subnoto, BodyFormat::Json, &body).unwrap());
        let headers = signed(Provider::Subnoto, SUBNOTO_SECRET, &body, BodyFormat::Json);
        let status = deliver(&app, &mut sent, "POST", "/webhooks/subnoto", headers, &body).await;
        assert_eq!(status, 202);
        if proxy.hits(rule) >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(proxy.hits(rule) >= 3, "the refresh was not attempted");
    // Let the failed refresh finish and log before the faults are cleared.
    tokio::time::sleep(Duration::from_millis(500)).await;
    proxy.clear();

    // Processing, with one status update failing and then redelivered.
    let rule = proxy.fail(
        Call::new(target::UPDATE_ITEM)
            .on_table(&stack.status_table)
            .containing("spotdraft#51007"),
        Fault::ServerError,
        Times::UntilCleared,
    );
    let messages = stack.drain_queue_raw().await;
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            sent.queue_bodies.push(m.body.clone());
            sqs_record(&m.message_id, Some(&m.body), 1)
        })
        .collect();
    let mut failed = Vec::new();
    for chunk in records.chunks(10) {
        let hits = proxy.hits(rule);
        let payload = sqs_event_json(chunk.to_vec());
        let answer = invoke(&processor, &proxy, &mut sent, "batch", payload, false).await;
        if proxy.hits(rule) > hits {
            // The failed update was retried: the proxy saw every attempt.
            sent.invocations.last_mut().unwrap().wire_calls = None;
        }
        for f in answer["batchItemFailures"].as_array().unwrap() {
            failed.push(f["itemIdentifier"].as_str().unwrap().to_owned());
        }
    }
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(proxy.hits(rule) > 0);
    proxy.clear();
    let redelivery: Vec<Value> = messages
        .iter()
        .filter(|m| failed.contains(&m.message_id))
        .map(|m| sqs_record(&m.message_id, Some(&m.body), 2))
        .collect();
    let answer = invoke(
        &processor,
        &proxy,
        &mut sent,
        "redelivery",
        sqs_event_json(redelivery),
        false,
    )
    .await;
    assert_eq!(answer["batchItemFailures"], json!([]));

    // A malformed record, and an invocation that is neither batch nor schedule.
    let answer = invoke(
        &processor,
        &proxy,
        &mut sent,
        "malformed record",
        sqs_event_json(vec![sqs_record("bad-1", Some("not a queue message"), 1)]),
        false,
    )
    .await;
    assert_eq!(answer["batchItemFailures"][0]["itemIdentifier"], "bad-1");
    assert!(processor::handle(&processor, json!({"hello": "world"}))
        .await
        .is_err());

    // The sweep: an event accepted two minutes ago whose enqueue was lost.
    let lost_body = sample("subnoto-envelope-declined.json");
    let mut lost: Value = serde_json::from_slice(&lost_body).unwrap();
    lost["eventUuid"] = json!(uuid::Uuid::new_v4().to_string());
    let lost_body = serde_json::to_vec(&lost).unwrap();
    let lost = Event::parse(Provider::Subnoto, BodyFormat::Json, &lost_body).unwrap();
    sent.event(&lost);
    sent.bodies
        .push(base64::engine::general_purpose::STANDARD.encode(&lost_body));
    let accepted = stack
        .ledger()
        .accept(store::NewEntry {
            event: &lost,
            body: lost_body,
            headers: vec![],
            received_at_ms: now_ms() - 120_000,
        })
        .await
        .unwrap();
    assert_eq!(accepted, store::Accepted::New);
    let answer = invoke(
        &processor,
        &proxy,
        &mut sent,
        "sweep",
        scheduled_event(),
        false,
    )
    .await;
    assert_eq!(answer["requeued"], 1, "{answer}");
    process_queue(&stack, &processor, &proxy, &mut sent, "swept event").await;

    // A new event about a new envelope, alone in its batch: it becomes the
    // envelope's state. Then the same message again: superseded.
    let body = fresh_subnoto();
    sent.event(&Event::parse(Provider::Subnoto, BodyFormat::Json, &body).unwrap());
    let headers = signed(Provider::Subnoto, SUBNOTO_SECRET, &body, BodyFormat::Json);
    let status = deliver(&app, &mut sent, "POST", "/webhooks/subnoto", headers, &body).await;
    assert_eq!(status, 202);
    let messages = stack.drain_queue_raw().await;
    assert_eq!(messages.len(), 1);
    sent.queue_bodies.push(messages[0].body.clone());
    for (label, receive_count) in [("new record", 1), ("same record again", 2)] {
        let record = sqs_record(
            &messages[0].message_id,
            Some(&messages[0].body),
            receive_count,
        );
        let answer = invoke(
            &processor,
            &proxy,
            &mut sent,
            label,
            sqs_event_json(vec![record]),
            false,
        )
        .await;
        assert_eq!(answer["batchItemFailures"], json!([]), "{label}: {answer}");
    }
    // Every call both functions made, checked against their roles.
    if let Err(refused) = iam::check_shared(proxy.recorded(), &stack.deployed()) {
        panic!("{refused}");
    }
    sent
}

/// A Subnoto body for a new event about a new envelope, with a signer.
fn fresh_subnoto() -> Vec<u8> {
    json!({
        "eventUuid": uuid::Uuid::new_v4().to_string(),
        "eventType": "ENVELOPE_SIGNED",
        "eventTime": now_ms(),
        "webhookUuid": "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a",
        "teamUuid": "b7e6d5c4-3b2a-4190-8f7e-6d5c4b3a2918",
        "data": {
            "workspaceUuid": "a1b2c3d4-e5f6-4789-9abc-def012345678",
            "envelopeUuid": uuid::Uuid::new_v4().to_string(),
            "recipientEmail": "john.doe@example.com",
            "recipientName": "John Doe"
        }
    })
    .to_string()
    .into_bytes()
}
