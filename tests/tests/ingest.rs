//! The ingest function's accept-once protocol against DynamoDB and SQS over the
//! wire (moto on loopback), driven with real API Gateway v1, v2 and function-URL
//! events.

use integration_tests::*;
use serde_json::Value;
use verify::{BodyFormat, Event, Provider};

async fn send(app: &ingest::App, request: lambda_http::Request) -> (u16, Value) {
    answer(ingest::handle(app, request).await)
}

fn event_of(provider: Provider, body: &[u8], format: BodyFormat) -> Event {
    Event::parse(provider, format, body).unwrap()
}

#[tokio::test]
async fn every_sample_is_accepted_stored_exactly_and_queued_once() {
    for kind in EventKind::ALL {
        for format in [BodyFormat::Json, BodyFormat::Form] {
            // A form body of an event is the same event (same dedup key) as its
            // JSON body, so each combination gets its own stack.
            let stack = Stack::new().await;
            let app = stack.ingest(&[]).await;
            let mut expected_keys = Vec::new();
            for (provider, name) in samples() {
                if format == BodyFormat::Form && provider != Provider::Subnoto {
                    continue;
                }
                let json = sample(&name);
                let body = match format {
                    BodyFormat::Json => json.clone(),
                    BodyFormat::Form => form_encode(&json),
                };
                let (status, answer) =
                    send(&app, signed_request(kind, provider, &body, format)).await;
                let key = event_of(provider, &json, BodyFormat::Json).ledger_key();
                assert_eq!(
                    status,
                    accepted_status(provider),
                    "{kind:?} {format:?} {name}: {answer}"
                );
                assert_eq!(answer["status"], "accepted");
                assert_eq!(answer["key"], key.as_str());

                let entry = stack
                    .ledger()
                    .get(&key)
                    .await
                    .unwrap()
                    .expect("ledger item");
                assert_eq!(entry.body, body, "{name}: stored bytes differ");
                assert_eq!(entry.status, "RECEIVED");
                assert!(entry.pending, "unprocessed items are in the pending index");
                let sig_header = match provider {
                    Provider::SpotDraft => "x-sd-webhook-content-hash",
                    Provider::Subnoto => "x-webhook-signature",
                    Provider::DocuSign => "x-docusign-signature-1",
                };
                assert!(
                    entry.headers.contains_key(sig_header),
                    "{:?}",
                    entry.headers.keys()
                );
                assert!(entry.headers.contains_key("content-type"));
                assert!(entry
                    .headers
                    .keys()
                    .all(|h| store::ALLOWED_HEADERS.contains(&h.as_str())));
                let ttl_days = (entry.expires_at - entry.received_at_ms / 1000) / 86_400;
                assert_eq!(ttl_days, 30);
                expected_keys.push(key);
            }
            let mut queued: Vec<String> = stack
                .drain_queue()
                .await
                .into_iter()
                .map(|m| {
                    assert_eq!(m.v, store::QUEUE_MESSAGE_VERSION);
                    assert_eq!(m.ledger_key, m.event.ledger_key());
                    m.ledger_key
                })
                .collect();
            queued.sort();
            expected_keys.sort();
            assert_eq!(
                queued, expected_keys,
                "{kind:?} {format:?}: each event queued once"
            );
        }
    }
}

#[tokio::test]
async fn base64_encoded_bodies_are_verified_on_the_decoded_bytes() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    for kind in EventKind::ALL {
        let body = sample("subnoto-envelope-declined.json");
        let body = form_encode(&body);
        let headers = signed_headers(
            Provider::Subnoto,
            SUBNOTO_SECRET,
            &body,
            now_ms(),
            BodyFormat::Form,
        );
        let event = http_event(kind, "POST", "/webhooks/subnoto", &headers, &body, true);
        assert_eq!(event["isBase64Encoded"], true);
        let (status, answer) = send(&app, request(&event)).await;
        assert!(
            status == 202 || status == 200,
            "{kind:?}: {status} {answer}"
        );
    }
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 1);
}

/// DocuSign sends one notification again with `retryCount` and
/// `generatedDateTime` changed (other bytes, a new signature): answered 200
/// as a duplicate, stored and queued once. A different notification of the
/// same envelope is a new event.
#[tokio::test]
async fn a_docusign_retry_is_a_duplicate_of_its_first_delivery() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    let deliver = |body: Vec<u8>| {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::DocuSign,
            &body,
            BodyFormat::Json,
        )
    };
    let first = sample("docusign-envelope-completed.json");
    let retry = sample("retries/docusign-envelope-completed-retry1.json");
    assert_ne!(first, retry);
    let (status, answer) = send(&app, deliver(first)).await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("accepted")));
    let (status, again) = send(&app, deliver(retry)).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["status"], "duplicate", "{again}");
    assert_eq!(again["key"], answer["key"]);
    let (status, other) = send(&app, deliver(sample("docusign-envelope-delivered.json"))).await;
    assert_eq!((status, other["status"].as_str()), (200, Some("accepted")));
    assert_ne!(other["key"], answer["key"]);
    assert_eq!(stack.drain_queue().await.len(), 2, "queued once each");
    assert_eq!(stack.ledger_count().await, 2);
}

#[tokio::test]
async fn stage_prefixed_paths_are_routed() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    let body = sample("spotdraft-contract-signed.json");
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::ApiGatewayV2,
        "POST",
        "/prod/webhooks/spotdraft",
        &headers,
        &body,
        false,
    );
    let (status, _) = send(&app, request(&event)).await;
    assert_eq!(status, 202);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_delivery_is_enqueued_once_sequentially_and_concurrently() {
    let stack = Stack::new().await;
    let app = std::sync::Arc::new(stack.ingest(&[]).await);

    // Sequential: first 202, then 200 duplicate.
    let body = sample("spotdraft-contract-executed.json");
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::ApiGatewayV2,
        "POST",
        "/webhooks/spotdraft",
        &headers,
        &body,
        false,
    );
    let mut statuses = Vec::new();
    for _ in 0..5 {
        let (status, answer) = send(&app, request(&event)).await;
        if status == 200 {
            assert_eq!(answer["status"], "duplicate");
        }
        statuses.push(status);
    }
    assert_eq!(statuses, [202, 200, 200, 200, 200]);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 1);

    // Concurrent: 50 deliveries of a new event at once.
    let body = sample("subnoto-envelope-signed.json");
    let headers = signed_headers(
        Provider::Subnoto,
        SUBNOTO_SECRET,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::FunctionUrl,
        "POST",
        "/webhooks/subnoto",
        &headers,
        &body,
        false,
    );
    let tasks: Vec<_> = (0..50)
        .map(|_| {
            let app = app.clone();
            let req = request(&event);
            tokio::spawn(async move { send(&app, req).await.0 })
        })
        .collect();
    let mut counts = std::collections::BTreeMap::new();
    for t in tasks {
        *counts.entry(t.await.unwrap()).or_insert(0) += 1;
    }
    assert_eq!(counts.get(&202), Some(&1), "{counts:?}");
    assert_eq!(counts.get(&200), Some(&49), "{counts:?}");
    assert_eq!(
        stack.queue_depth(&stack.queue_url).await,
        2,
        "one message per event in total"
    );
    assert_eq!(stack.ledger_count().await, 2);
}

#[tokio::test]
async fn sqs_failure_answers_503_and_the_providers_retry_enqueues() {
    let stack = Stack::new().await;
    let missing_queue = format!("{}/123456789012/{}-nowhere", moto().endpoint, stack.name);
    stack.expect_refused(iam::Function::Ingest, "-nowhere");
    let broken = stack.ingest(&[("QUEUE_URL", &missing_queue)]).await;
    let body = sample("spotdraft-contract-created.json");
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let event = http_event(
        EventKind::ApiGatewayV1,
        "POST",
        "/webhooks/spotdraft",
        &headers,
        &body,
        false,
    );

    let (status, answer) = send(&broken, request(&event)).await;
    assert_eq!(status, 503, "{answer}");
    assert!(answer["error"].is_string());
    let key = event_of(Provider::SpotDraft, &body, BodyFormat::Json).ledger_key();
    let entry = stack
        .ledger()
        .get(&key)
        .await
        .unwrap()
        .expect("the event is stored");
    assert_eq!(entry.status, "RECEIVED");
    assert_eq!(
        entry.lease_until_ms, 0,
        "the failed sender released its lease"
    );
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    // SQS is back: the provider's retry of the same delivery enqueues it.
    let healthy = stack.ingest(&[]).await;
    let (status, answer) = send(&healthy, request(&event)).await;
    assert_eq!(status, 200, "{answer}");
    let messages = stack.drain_queue().await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].ledger_key, key);
    assert_eq!(
        stack
            .ledger()
            .get(&key)
            .await
            .unwrap()
            .unwrap()
            .enqueue_attempts,
        2
    );

    // A further retry inside the new lease does not enqueue again.
    let (status, _) = send(&healthy, request(&event)).await;
    assert_eq!(status, 200);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
}

#[tokio::test]
async fn a_lost_enqueue_is_redone_by_the_next_duplicate_once_the_lease_runs_out() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[("LEDGER_LEASE_SECONDS", "1")]).await;
    let body = sample("subnoto-envelope-completed.json");
    let event = event_of(Provider::Subnoto, &body, BodyFormat::Json);
    let key = event.ledger_key();

    // Simulate a crash between the ledger put and the queue send.
    let ledger = store::Ledger::new(
        stack.clients.dynamodb.clone(),
        &stack.events_table,
        30,
        1000,
    );
    let accepted = ledger
        .accept(store::NewEntry {
            event: &event,
            body: body.clone(),
            headers: vec![],
            received_at_ms: now_ms(),
        })
        .await
        .unwrap();
    assert_eq!(accepted, store::Accepted::New);

    let deliver = || {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::Subnoto,
            &body,
            BodyFormat::Json,
        )
    };
    // Inside the lease: someone may still be sending; not enqueued again.
    let (status, answer) = send(&app, deliver()).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);

    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = send(&app, deliver()).await;
    assert_eq!(status, 200);
    let messages = stack.drain_queue().await;
    assert_eq!(
        messages.len(),
        1,
        "the lost event is enqueued by the duplicate"
    );
    assert_eq!(messages[0].event, event);

    // Once processed, duplicates never enqueue again, lease or not.
    ledger.mark_processed(&key, now_ms()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let (status, _) = send(&app, deliver()).await;
    assert_eq!(status, 200);
    assert_eq!(stack.queue_depth(&stack.queue_url).await, 0);
    let entry = stack.ledger().get(&key).await.unwrap().unwrap();
    assert_eq!(entry.status, "PROCESSED");
    assert!(!entry.pending, "processed items leave the pending index");
}

#[tokio::test]
async fn bad_input_gets_the_design_status_and_stores_nothing() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[("MAX_BODY_BYTES", "4096")]).await;
    let sd_body = sample("spotdraft-contract-signed.json");
    let sn_body = sample("subnoto-envelope-signed.json");
    let now = now_ms();
    let sd =
        |secret: &str| signed_headers(Provider::SpotDraft, secret, &sd_body, now, BodyFormat::Json);
    let sn = |t: i64| {
        signed_headers(
            Provider::Subnoto,
            SUBNOTO_SECRET,
            &sn_body,
            t,
            BodyFormat::Json,
        )
    };
    let without = |mut h: Vec<(String, String)>, name: &str| {
        h.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        h
    };
    let replace = |mut h: Vec<(String, String)>, name: &str, value: &str| {
        for (k, v) in h.iter_mut() {
            if k.eq_ignore_ascii_case(name) {
                *v = value.to_owned();
            }
        }
        h
    };
    let mut tampered = sd_body.clone();
    tampered[20] ^= 1;
    let big = vec![b' '; 5000];
    let not_json = b"this is signed but not JSON".to_vec();
    let other_key = "b3RoZXIta2V5LW5vdC10aGUtY29uZmlndXJlZC1vbmU=";

    // (case, expected status, method, path, headers, body)
    type Case<'a> = (
        &'a str,
        u16,
        &'a str,
        &'a str,
        Vec<(String, String)>,
        Vec<u8>,
    );
    let cases: Vec<Case> = vec![
        (
            "missing signature",
            401,
            "POST",
            "/webhooks/spotdraft",
            without(sd(SPOTDRAFT_KEY), "X-SD-WEBHOOK-CONTENT-HASH"),
            sd_body.clone(),
        ),
        (
            "invalid signature",
            401,
            "POST",
            "/webhooks/spotdraft",
            sd(SPOTDRAFT_KEY),
            tampered,
        ),
        (
            "wrong secret",
            401,
            "POST",
            "/webhooks/spotdraft",
            sd(other_key),
            sd_body.clone(),
        ),
        (
            "stale timestamp",
            401,
            "POST",
            "/webhooks/subnoto",
            sn(now - 301_000),
            sn_body.clone(),
        ),
        (
            "future timestamp",
            401,
            "POST",
            "/webhooks/subnoto",
            sn(now + 301_000),
            sn_body.clone(),
        ),
        (
            "malformed signature header",
            401,
            "POST",
            "/webhooks/subnoto",
            replace(sn(now), "X-Webhook-Signature", "garbage"),
            sn_body.clone(),
        ),
        (
            "unknown provider",
            404,
            "POST",
            "/webhooks/adobesign",
            sd(SPOTDRAFT_KEY),
            sd_body.clone(),
        ),
        (
            "unknown path",
            404,
            "POST",
            "/hooks",
            sd(SPOTDRAFT_KEY),
            sd_body.clone(),
        ),
        ("GET", 405, "GET", "/webhooks/spotdraft", vec![], vec![]),
        (
            "oversized body",
            413,
            "POST",
            "/webhooks/spotdraft",
            signed_headers(
                Provider::SpotDraft,
                SPOTDRAFT_KEY,
                &big,
                now,
                BodyFormat::Json,
            ),
            big.clone(),
        ),
        (
            "unsupported content type",
            415,
            "POST",
            "/webhooks/spotdraft",
            replace(sd(SPOTDRAFT_KEY), "Content-Type", "text/plain"),
            sd_body.clone(),
        ),
        (
            "form body to spotdraft",
            415,
            "POST",
            "/webhooks/spotdraft",
            replace(
                sd(SPOTDRAFT_KEY),
                "Content-Type",
                "application/x-www-form-urlencoded",
            ),
            sd_body.clone(),
        ),
        (
            "signed but not JSON",
            400,
            "POST",
            "/webhooks/subnoto",
            signed_headers(
                Provider::Subnoto,
                SUBNOTO_SECRET,
                &not_json,
                now,
                BodyFormat::Json,
            ),
            not_json.clone(),
        ),
        (
            // (A signed object missing fields is kept: see
            // `signed_objects_missing_fields_are_kept`.)
            "signed JSON that is not an object",
            400,
            "POST",
            "/webhooks/subnoto",
            signed_headers(
                Provider::Subnoto,
                SUBNOTO_SECRET,
                b"[{}]",
                now,
                BodyFormat::Json,
            ),
            b"[{}]".to_vec(),
        ),
    ];
    for (name, expected, method, path, headers, body) in cases {
        for kind in EventKind::ALL {
            let (status, answer) = send(
                &app,
                request(&http_event(kind, method, path, &headers, &body, false)),
            )
            .await;
            assert_eq!(status, expected, "{name} via {kind:?}: {answer}");
            let error = answer["error"]
                .as_str()
                .unwrap_or_else(|| panic!("{name}: no error in {answer}"));
            assert!(!error.is_empty());
            for secret in [SPOTDRAFT_KEY, SUBNOTO_SECRET] {
                assert!(
                    !answer.to_string().contains(secret),
                    "{name} echoes a secret"
                );
            }
        }
    }
    assert_eq!(
        stack.ledger_count().await,
        0,
        "nothing stored for rejected requests"
    );
    assert_eq!(
        stack.queue_depth(&stack.queue_url).await,
        0,
        "nothing queued"
    );
}

#[tokio::test]
async fn a_new_event_costs_two_aws_calls_and_a_duplicate_one() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    let body = sample("spotdraft-contract-sent-to-counterparty.json");
    let make = || {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::SpotDraft,
            &body,
            BodyFormat::Json,
        )
    };
    let before = app.calls.get();
    assert_eq!(send(&app, make()).await.0, 202);
    assert_eq!(app.calls.get() - before, 2, "PutItem + SendMessage");
    let before = app.calls.get();
    assert_eq!(send(&app, make()).await.0, 200);
    assert_eq!(
        app.calls.get() - before,
        1,
        "the failed condition returns the item: no extra read"
    );
    let before = app.calls.get();
    let mut bad = sample("spotdraft-contract-sent-to-counterparty.json");
    bad[5] ^= 1;
    let headers = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    let (status, _) = send(
        &app,
        request(&http_event(
            EventKind::ApiGatewayV2,
            "POST",
            "/webhooks/spotdraft",
            &headers,
            &bad,
            false,
        )),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(
        app.calls.get() - before,
        0,
        "forged requests cost no AWS call"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_rotated_in_secrets_manager_is_honoured_after_the_refresh_interval() {
    let stack = Stack::new().await;
    let doc =
        |sd: &[&str], sn: &[&str]| serde_json::json!({"spotdraft": sd, "subnoto": sn}).to_string();
    let arn = stack
        .create_secret(&doc(&[SPOTDRAFT_KEY], &[SUBNOTO_SECRET]))
        .await;
    let app = stack
        .ingest(&[
            ("WEBHOOK_SECRETS_ARN", &arn),
            ("SECRETS_REFRESH_SECONDS", "1"),
        ])
        .await;

    let deliver = |secret: &str, sample_name: &str| {
        let body = sample(sample_name);
        let headers = signed_headers(Provider::Subnoto, secret, &body, now_ms(), BodyFormat::Json);
        request(&http_event(
            EventKind::ApiGatewayV2,
            "POST",
            "/webhooks/subnoto",
            &headers,
            &body,
            false,
        ))
    };
    assert_eq!(
        send(
            &app,
            deliver(SUBNOTO_SECRET, "subnoto-envelope-signed.json")
        )
        .await
        .0,
        202
    );
    assert_eq!(
        send(
            &app,
            deliver(SUBNOTO_SECRET_NEXT, "subnoto-envelope-completed.json")
        )
        .await
        .0,
        401
    );

    // Rotate: the new secret is current, the old one still listed.
    stack
        .put_secret(
            &arn,
            &doc(&[SPOTDRAFT_KEY], &[SUBNOTO_SECRET_NEXT, SUBNOTO_SECRET]),
        )
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, _) = send(
            &app,
            deliver(SUBNOTO_SECRET_NEXT, "subnoto-envelope-completed.json"),
        )
        .await;
        if status == 202 {
            break;
        }
        assert_eq!(status, 401);
        assert!(
            std::time::Instant::now() < deadline,
            "rotation not picked up without a restart"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The previous secret keeps verifying while it is listed.
    assert_eq!(
        send(
            &app,
            deliver(SUBNOTO_SECRET, "subnoto-envelope-declined.json")
        )
        .await
        .0,
        202
    );

    // Drop the old secret: after the next refresh it no longer verifies.
    stack
        .put_secret(&arn, &doc(&[SPOTDRAFT_KEY], &[SUBNOTO_SECRET_NEXT]))
        .await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (status, _) = send(
            &app,
            deliver(SUBNOTO_SECRET, "subnoto-envelope-completed-sparse.json"),
        )
        .await;
        if status == 401 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "retired secret still accepted"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_cold_start_without_usable_secrets_fails_loudly() {
    let stack = Stack::new().await;
    let missing = format!(
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:{}-absent",
        stack.name
    );
    let err = ingest::App::new(
        &stack.config(&[("WEBHOOK_SECRETS_ARN", &missing)]),
        &stack.clients,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("GetSecretValue"), "{err}");
    let err = ingest::App::new(
        &stack.config(&[("WEBHOOK_SECRETS", r#"{"spotdraft":["%%%"]}"#)]),
        &stack.clients,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("base64"), "{err}");
}

/// A redelivery never moves a subject back (issue 16, item 1). Two time-less
/// SpotDraft events for one contract: A (DRAFT), then B (EXECUTED); A is
/// delivered again after its lease ran out while still unprocessed, so it is
/// re-enqueued. The new message must carry A's first arrival time, or A
/// would outrank B and the contract would end DRAFT.
#[tokio::test]
async fn a_redelivered_event_is_requeued_with_its_first_arrival_time() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[("LEDGER_LEASE_SECONDS", "1")]).await;
    let processor = stack.processor(&[]);
    let a = br#"{"activity":"CONTRACT_CREATED","contract_id":777001,"contract_status":"DRAFT"}"#;
    let b =
        br#"{"activity":"CONTRACT_EXECUTED","contract_id":777001,"contract_status":"EXECUTED"}"#;
    let deliver = |body: &[u8]| {
        signed_request(
            EventKind::ApiGatewayV2,
            Provider::SpotDraft,
            body,
            BodyFormat::Json,
        )
    };
    let pause = || tokio::time::sleep(std::time::Duration::from_millis(1100));
    assert_eq!(send(&app, deliver(a)).await.0, 202);
    pause().await;
    assert_eq!(send(&app, deliver(b)).await.0, 202);
    pause().await;
    let (status, answer) = send(&app, deliver(a)).await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );

    let messages = stack.drain_queue().await;
    assert_eq!(messages.len(), 3, "A, B, and A again: {messages:?}");
    let key_a = event_of(Provider::SpotDraft, a, BodyFormat::Json).ledger_key();
    let first = stack.ledger().get(&key_a).await.unwrap().unwrap();
    let times: Vec<i64> = messages
        .iter()
        .filter(|m| m.ledger_key == key_a)
        .map(|m| m.received_at_ms)
        .collect();
    assert_eq!(times, [first.received_at_ms; 2], "both of A's messages");
    // Only the re-enqueue says it is a send after the first (published as
    // `redelivered`).
    let resent: Vec<(bool, bool)> = messages
        .iter()
        .map(|m| (m.ledger_key == key_a, m.resent))
        .collect();
    assert_eq!(resent, [(true, false), (false, false), (true, true)]);

    // In queue order (A, B, A again), the contract ends EXECUTED.
    let records = messages
        .iter()
        .enumerate()
        .map(|(i, m)| {
            sqs_record(
                &format!("m{i}"),
                Some(&serde_json::to_string(m).unwrap()),
                1,
            )
        })
        .collect();
    let report = processor::process_batch(&processor, &sqs_event(records)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    let item = stack
        .status_table()
        .get(Provider::SpotDraft, "777001")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(item.status.as_deref(), Some("EXECUTED"));
}

/// What ingest answers 202 for, the processor can process (issue 16, item 4):
/// signed events at each limit an input-derived value can hit are accepted,
/// queued with bytes SQS accepts, and applied, with nothing left to fail on
/// every retry.
#[tokio::test]
async fn events_at_every_limit_are_accepted_and_processed() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    let processor = stack.processor(&[]);
    let long_uuid = "u".repeat(5000);
    let long_envelope = "e".repeat(2100);
    let nested = |depth: usize| {
        format!(
            r#"{{"activity":"CONTRACT_EDITED","contract_id":777002,"contract_status":"REDLINING","external_metadata":{}1{}}}"#,
            "[".repeat(depth),
            "]".repeat(depth)
        )
    };
    // The deepest metadata ingest's parser accepts.
    let depth = (1..200)
        .rev()
        .find(|d| {
            Event::parse(Provider::SpotDraft, BodyFormat::Json, nested(*d).as_bytes()).is_ok()
        })
        .unwrap();
    // Too large for an SQS message once U+FFFE is escaped (3 bytes in, 6 out):
    // sent by reference, read from the ledger by the processor.
    let big_metadata = format!(
        r#"{{"activity":"CONTRACT_EDITED","contract_id":777003,"contract_status":"DRAFT","contract_title":"{}","external_metadata":{{"blob":"{}"}}}}"#,
        "\u{FFFE}".repeat(20_000),
        "x".repeat(200_000)
    );
    let cases: Vec<(Provider, String, Option<&str>)> = vec![
        (
            Provider::Subnoto,
            format!(r#"{{"eventUuid":"{long_uuid}","eventType":"ENVELOPE_SENT","eventTime":1795341600000,"data":{{"envelopeUuid":"env-limits"}}}}"#),
            Some("env-limits"),
        ),
        (
            Provider::Subnoto,
            format!(r#"{{"eventUuid":"u-long-envelope","eventType":"ENVELOPE_SENT","eventTime":1795341600000,"data":{{"envelopeUuid":"{long_envelope}"}}}}"#),
            Some(long_envelope.as_str()),
        ),
        (Provider::SpotDraft, nested(depth), Some("777002")),
        (
            // Characters SQS refuses, and an event type that is empty.
            Provider::SpotDraft,
            "{\"activity\":\"\",\"contract_id\":777004,\"contract_status\":\"DRAFT\",\"contract_title\":\"a\u{FFFE}b\u{FFFF}\"}".to_owned(),
            Some("777004"),
        ),
        (Provider::SpotDraft, big_metadata, Some("777003")),
    ];
    for (provider, body, _) in &cases {
        let (status, answer) = send(
            &app,
            signed_request(
                EventKind::ApiGatewayV2,
                *provider,
                body.as_bytes(),
                BodyFormat::Json,
            ),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    let raw = stack.drain_queue_raw().await;
    assert_eq!(raw.len(), cases.len());
    let by_reference = raw
        .iter()
        .filter(|m| {
            store::QueueMessage::from_json(&m.body)
                .unwrap()
                .by_reference
        })
        .count();
    assert_eq!(by_reference, 1, "the oversized event goes by reference");
    for message in &raw {
        let body = message.body.as_str();
        assert!(
            body.len() <= domain::limits::SQS_MAX_MESSAGE_BYTES,
            "{}",
            body.len()
        );
        assert!(
            body.chars().all(domain::limits::sqs_allows),
            "bytes SQS refuses were sent"
        );
    }
    let records = raw
        .iter()
        .enumerate()
        .map(|(i, m)| sqs_record(&format!("l{i}"), Some(&m.body), 1))
        .collect();
    let report = processor::process_batch(&processor, &sqs_event(records)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.updated, cases.len());
    for (provider, _, subject) in &cases {
        let item = stack
            .status_table()
            .get(*provider, subject.unwrap())
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("no status item for {provider}"));
        assert_eq!(item.subject.len(), subject.unwrap().len().min(2048));
    }
    // The metadata too large to keep is replaced by a marker that says so.
    let big = stack
        .status_table()
        .get(Provider::SpotDraft, "777003")
        .await
        .unwrap()
        .unwrap();
    assert!(
        big.external_metadata
            .unwrap()
            .get()
            .contains("contract_hooks_omitted"),
        "marker"
    );
    let title = stack
        .status_table()
        .get(Provider::SpotDraft, "777004")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(title.title.as_deref(), Some("a\u{FFFE}b\u{FFFF}"));
}

/// A signed event is never refused for a field that is only read (issue 16,
/// item 3): missing or unreadable fields are left out and noted, the event is
/// stored and queued (a provider does not retry a 400).
#[tokio::test]
async fn signed_objects_missing_fields_are_kept() {
    let stack = Stack::new().await;
    let app = stack.ingest(&[]).await;
    for (provider, body) in [
        (Provider::Subnoto, &br#"{"data":{"envelopeUuid":"env-no-type"}}"#[..]),
        (Provider::SpotDraft, br#"{"contract_id":777005,"activity_data":{"timestamp":"22/11/2026 10:02:11"}}"#),
        (Provider::SpotDraft, br#"{"activity":"CONTRACT_SIGNED","contract_id":777006,"activity_data":{"timestamp":1795341731}}"#),
    ] {
        let (status, answer) = send(
            &app,
            signed_request(EventKind::ApiGatewayV2, provider, body, BodyFormat::Json),
        )
        .await;
        assert_eq!(status, 202, "{answer}");
    }
    let messages = stack.drain_queue().await;
    assert_eq!(messages.len(), 3);
    let epoch = messages
        .iter()
        .find(|m| m.event.subject.as_deref() == Some("777006"))
        .unwrap();
    assert_eq!(epoch.event.occurred_at_ms, Some(1_795_341_731_000));
    let unreadable = messages
        .iter()
        .find(|m| m.event.subject.as_deref() == Some("777005"))
        .unwrap();
    assert_eq!(
        unreadable.event.occurred_at_ms, None,
        "time-less, ranked by arrival"
    );
}
