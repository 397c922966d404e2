//! Secrets and personal data never reach the logs.
//!
//! A child process (this test binary re-run with one test selected, see
//! `integration_tests::child`) installs the functions' own log set-up
//! (`store::init_json_logs`, `RUST_LOG=info` as deployed) and goes through a
//! full run with the real handlers: every sample accepted (JSON and form),
//! duplicates, every kind of bad input (401/400/404/405/413/415), dependency
//! errors through the fault proxy (503s, a failed status update, a failed
//! secrets refresh), processing, a malformed queue record, the sweep, an
//! unknown invocation, and cold starts that fail. Every byte it writes to
//! stdout and stderr (JSON log lines, the EMF metric lines, anything else) is
//! captured and scanned for: the webhook secrets (raw and base64-decoded), the
//! signature header values sent, email addresses, the people's names in the
//! samples, and the payload bodies (any 20-character piece of one).
//!
//! The scan also checks that the run logged what it did (each outcome, the
//! metric lines), so an empty capture cannot pass, and a unit test shows the
//! scanner finds each kind of leak.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use base64::Engine;
use integration_tests::faults::{target, Call, Fault, FaultProxy, Times};
use integration_tests::*;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use verify::{BodyFormat, Event, Provider};

const CHILD: &str = "child_full_run_with_the_functions_log_setup";
/// Where the child writes what it sent (signatures, bodies).
const REPORT_ENV: &str = "CONTRACT_HOOKS_LOG_SCAN_REPORT";

/// What the child sent, for the parent to look for.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Sent {
    /// Every signature header value sent.
    signatures: Vec<String>,
    /// Every request body sent, base64.
    bodies: Vec<String>,
    /// Every queue message body the processor was given.
    queue_bodies: Vec<String>,
    /// Identifiers the design logs on purpose: ledger keys, dedup keys, event
    /// types and providers of the events sent.
    identifiers: Vec<String>,
    /// Every processor invocation that logs its cost (a `batch` or a
    /// `sweep` line), in order.
    invocations: Vec<Invoked>,
}

/// One processor invocation, and the AWS requests the fault proxy saw it make.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Invoked {
    /// What it was, for messages; a few are checked by name.
    label: String,
    /// Requests that reached the proxy during the invocation: the calls
    /// actually made. `None` when an injected fault made the SDK retry (the
    /// proxy sees each attempt, `aws_calls` counts operations).
    wire_calls: Option<usize>,
}

impl Sent {
    fn request(&mut self, headers: &[(String, String)], body: &[u8]) {
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("x-sd-webhook-content-hash")
                || name.eq_ignore_ascii_case("x-webhook-signature")
            {
                self.signatures.push(value.clone());
            }
        }
        self.bodies
            .push(base64::engine::general_purpose::STANDARD.encode(body));
    }

    fn event(&mut self, event: &Event) {
        self.identifiers.push(event.ledger_key());
        self.identifiers.push(event.key.clone());
        self.identifiers.push(event.event_type.clone());
        self.identifiers.push(event.provider.to_string());
    }
}

// ------------------------------------------------------------------ the child's run

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

fn signed(
    provider: Provider,
    secret: &str,
    body: &[u8],
    format: BodyFormat,
) -> Vec<(String, String)> {
    signed_headers(provider, secret, body, now_ms(), format)
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

// ------------------------------------------------------------------ the scan

/// Everything that must not appear, by category.
struct Forbidden {
    /// (category, exact text), matched case-insensitively.
    phrases: Vec<(&'static str, String)>,
    /// (category, source, window length): any window of the source with at
    /// least 5 distinct characters that is not inside an allowed identifier.
    windows: Vec<(&'static str, Vec<u8>, usize)>,
    /// Logged on purpose (ledger keys, event types).
    allowed: Vec<String>,
}

/// Values of name fields in the samples: people (and organisations).
fn sample_names() -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let k_lower = k.to_ascii_lowercase();
                    if k_lower.ends_with("name") && k != "contract_type_name" {
                        if let Some(s) = v.as_str().filter(|s| *s != "SYSTEM") {
                            out.insert(s.to_owned());
                        }
                    }
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for (_, name) in samples() {
        walk(&serde_json::from_slice(&sample(&name)).unwrap(), &mut names);
    }
    names
}

impl Forbidden {
    fn new(sent: &Sent) -> Forbidden {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut phrases = Vec::new();
        let mut windows = Vec::new();
        for secret in [SPOTDRAFT_KEY, SPOTDRAFT_KEY_NEXT] {
            let decoded = b64.decode(secret).unwrap();
            phrases.push(("secret", secret.to_owned()));
            windows.push(("secret", secret.as_bytes().to_vec(), 16));
            windows.push(("secret (base64-decoded)", decoded.clone(), 16));
            windows.push(("secret (decoded, hex)", hex_of(&decoded).into_bytes(), 16));
        }
        for secret in [SUBNOTO_SECRET, SUBNOTO_SECRET_NEXT, "whsec_x"] {
            phrases.push(("secret", secret.to_owned()));
            windows.push(("secret", secret.as_bytes().to_vec(), 16));
        }
        for signature in &sent.signatures {
            phrases.push(("signature", signature.clone()));
            windows.push(("signature", signature.as_bytes().to_vec(), 16));
        }
        for name in sample_names() {
            phrases.push(("name", name));
        }
        for body in &sent.bodies {
            windows.push(("payload body", b64.decode(body).unwrap(), 20));
        }
        for body in &sent.queue_bodies {
            windows.push(("queue message body", body.as_bytes().to_vec(), 20));
        }
        let allowed = sent.identifiers.clone();
        Forbidden {
            phrases,
            windows,
            allowed,
        }
    }

    /// Every leak in `text`, one line each, with where it was found.
    fn scan(&self, text: &str) -> Vec<String> {
        let mut leaks = BTreeSet::new();
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        let lower = text.to_lowercase();
        for (category, phrase) in &self.phrases {
            if let Some(at) = lower.find(&phrase.to_lowercase()) {
                let line = lower[..at].matches('\n').count() + 1;
                leaks.insert(format!("{category} {phrase:?} on line {line}"));
            }
        }
        for at in email_addresses(text) {
            leaks.insert(format!("an email address on line {}", line_of(at)));
        }
        // Identifiers logged on purpose (with the JSON quoting around them) must
        // not count as pieces of a body: mask them before looking for windows.
        let mut masked = text.to_owned();
        let mut allowed: Vec<&String> = self.allowed.iter().collect();
        allowed.sort_by_key(|a| std::cmp::Reverse(a.len()));
        for identifier in allowed {
            masked = masked.replace(identifier.as_str(), "\u{1}");
        }
        let bytes = masked.as_bytes();
        let line_of = |at: usize| masked[..at].matches('\n').count() + 1;
        let mut by_len: BTreeMap<usize, HashSet<&[u8]>> = BTreeMap::new();
        for (_, _, len) in &self.windows {
            by_len
                .entry(*len)
                .or_insert_with(|| bytes.windows(*len).collect());
        }
        for (category, source, len) in &self.windows {
            let present = &by_len[len];
            for window in source.windows(*len) {
                let distinct: HashSet<&u8> = window.iter().collect();
                if distinct.len() < 5 || !present.contains(window) {
                    continue;
                }
                let at = bytes.windows(*len).position(|w| w == window).unwrap();
                leaks.insert(format!(
                    "{category}: {:?} on line {}",
                    String::from_utf8_lossy(window),
                    line_of(at)
                ));
                break;
            }
        }
        leaks.into_iter().collect()
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Byte offsets of things shaped like `local@domain.tld`.
fn email_addresses(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        let start = bytes[..at].iter().rev().take_while(|b| local(**b)).count();
        let host: Vec<u8> = bytes[at + 1..]
            .iter()
            .copied()
            .take_while(|b| domain(*b))
            .collect();
        let host = String::from_utf8_lossy(&host);
        let host = host.trim_end_matches('.');
        let has_tld = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if start > 0 && has_tld {
            found.push(at - start);
        }
    }
    found
}

#[test]
fn the_scanner_finds_each_kind_of_leak() {
    let body = sample("spotdraft-contract-signed.json");
    let signature = hex_of(
        &(0..64u8)
            .map(|i| i.wrapping_mul(37) ^ 0x5c)
            .collect::<Vec<_>>(),
    );
    let sent = Sent {
        signatures: vec![signature.clone()],
        bodies: vec![base64::engine::general_purpose::STANDARD.encode(&body)],
        queue_bodies: vec![],
        identifiers: vec!["CONTRACT_SIGNED".into()],
        invocations: vec![],
    };
    let forbidden = Forbidden::new(&sent);
    let clean = r#"{"level":"INFO","provider":"spotdraft","key":"spotdraft#ab12","outcome":"accepted","status":202,"event_type":"CONTRACT_SIGNED","message":"webhook"}"#;
    assert_eq!(forbidden.scan(clean), Vec::<String>::new());
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(SPOTDRAFT_KEY)
            .unwrap(),
    )
    .unwrap();
    for (leak, category) in [
        (format!("key={SPOTDRAFT_KEY}"), "secret"),
        (format!("k {}", &SUBNOTO_SECRET[3..25]), "secret"),
        (format!("k {}", &decoded[2..22]), "secret (base64-decoded)"),
        (format!("sig {}", &signature[..40]), "signature"),
        ("from priya.nair@example.com".to_owned(), "email"),
        ("by someone@corp.example.org.".to_owned(), "email"),
        ("signer LENA FISCHER".to_owned(), "name"),
        ("signer José Álvarez".to_owned(), "name"),
        (
            format!("body {}", String::from_utf8_lossy(&body[100..125])),
            "payload body",
        ),
    ] {
        let text = format!("{clean}\n{leak}\n");
        let leaks = forbidden.scan(&text);
        assert!(
            leaks
                .iter()
                .any(|l| l.contains(category) && l.contains("line 2")),
            "{leak:?} not found as {category}: {leaks:?}"
        );
    }
}

#[tokio::test]
async fn a_full_run_logs_no_secret_signature_email_name_or_payload() {
    scan_a_full_run("info").await;
}

/// `template.yaml` lets the operator choose `debug` too.
#[tokio::test]
async fn a_full_run_at_debug_level_logs_none_either() {
    scan_a_full_run("debug").await;
}

/// And `trace`: the AWS SDK's wire-level trace logs (whole requests and
/// responses) are capped at `debug` by `store::init_json_logs`.
#[tokio::test]
async fn a_full_run_at_trace_level_logs_none_either() {
    scan_a_full_run("trace").await;
}

async fn scan_a_full_run(level: &str) {
    let report =
        std::env::temp_dir().join(format!("log-scan-{}.json", uuid::Uuid::new_v4().simple()));
    let out = child::run_async(
        CHILD,
        &[("RUST_LOG", level), (REPORT_ENV, report.to_str().unwrap())],
        Duration::from_secs(180),
    )
    .await;
    let tail = |s: &str| {
        s.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        out.status.success(),
        "the child run failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    );
    let sent: Sent = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let text = format!("{}\n{}", out.stdout, out.stderr);
    // Kept for a look when an assertion below fails.
    let capture = std::env::temp_dir().join(format!("contract-hooks-log-scan-{level}.log"));
    std::fs::write(&capture, &text).unwrap();
    eprintln!("log scan: the child's output is in {}", capture.display());

    // The capture holds the whole run.
    let lines: Vec<Value> = text
        .lines()
        // libtest may print `test NAME ... ` in front of the first line.
        .filter_map(|l| serde_json::from_str::<Value>(&l[l.find('{')?..]).ok())
        .filter(Value::is_object)
        .collect();
    let emf = lines.iter().filter(|l| l.get("_aws").is_some()).count();
    let field_values = |message: &str, field: &str| -> BTreeSet<String> {
        lines
            .iter()
            .filter(|l| l["message"] == message)
            .filter_map(|l| match &l[field] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    };
    let outcomes = field_values("webhook", "outcome");
    for expected in [
        "accepted",
        "duplicate",
        "requeued",
        "unverified",
        "unreadable",
        "too_large",
        "not_found",
        "method_not_allowed",
        "dependency_failed",
    ] {
        assert!(
            outcomes.contains(expected),
            "no {expected} logged: {outcomes:?}"
        );
    }
    let statuses = field_values("webhook", "status");
    for expected in [
        "200", "202", "400", "401", "404", "405", "413", "415", "503",
    ] {
        assert!(
            statuses.contains(expected),
            "no {expected} logged: {statuses:?}"
        );
    }
    let records = field_values("record", "outcome");
    for expected in ["updated", "superseded", "failed", "malformed"] {
        assert!(
            records.contains(expected),
            "no record {expected}: {records:?}"
        );
    }
    for message in [
        "batch",
        "sweep",
        "swept",
        "invocation rejected",
        "webhook secrets refresh failed; keeping cached secrets",
        "ingest ready",
    ] {
        assert!(
            lines.iter().any(|l| l["message"] == message),
            "no {message:?} line"
        );
    }
    // Each processor invocation's line reports its latency and the AWS calls
    // it made: as many as reached the proxy.
    let costs: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "batch" || l["message"] == "sweep")
        .collect();
    assert_eq!(
        costs.len(),
        sent.invocations.len(),
        "a batch or sweep line per invocation: {costs:?}"
    );
    let mut compared = 0;
    for (line, invoked) in costs.iter().zip(&sent.invocations) {
        let label = &invoked.label;
        let expected_message = if label == "sweep" { "sweep" } else { "batch" };
        assert_eq!(line["message"], expected_message, "{label}: {line}");
        assert!(
            line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{label}: {line}"
        );
        let calls = line["aws_calls"]
            .as_u64()
            .unwrap_or_else(|| panic!("{label}: no aws_calls in {line}"));
        if let Some(wire) = invoked.wire_calls {
            assert_eq!(calls, wire as u64, "{label}: {line}");
            compared += 1;
        }
        let expected = match label.as_str() {
            // Status UpdateItem + ledger UpdateItem.
            "new record" => Some(2),
            // The status UpdateItem fails its condition and returns an item
            // that already has the signer and fields: no fill-in. Then the
            // ledger UpdateItem.
            "same record again" => Some(2),
            "malformed record" => Some(0),
            // A Query per shard, the item's body, the lease, the enqueue.
            "sweep" => Some(store::schema::PENDING_SHARDS as u64 + 3),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(calls, expected, "{label}: {line}");
        }
    }
    assert!(
        compared + 1 >= costs.len(),
        "at most the faulted batch goes unchecked"
    );

    // One metric line per request (the sweep's event was written directly).
    let ingest_emf = lines
        .iter()
        .filter(|l| l.get("_aws").is_some() && l["Function"] == "ingest")
        .count();
    assert_eq!(ingest_emf, sent.bodies.len() - 1, "an EMF line per request");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Error: ")).count(),
        2,
        "the failed cold starts' errors"
    );
    assert!(
        !sent.signatures.is_empty() && !sent.bodies.is_empty() && !sent.queue_bodies.is_empty()
    );

    let leaks = Forbidden::new(&sent).scan(&text);
    assert!(
        leaks.is_empty(),
        "{} leak(s) in the logs:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    figures(
        &format!("log_scan_{level}"),
        json!({"bytes": text.len(), "lines": text.lines().count(), "json_lines": lines.len(),
               "emf_lines": emf, "requests": sent.bodies.len() - 1, "signatures": sent.signatures.len(),
               "queue_messages": sent.queue_bodies.len(), "leaks": 0}),
    );
}
