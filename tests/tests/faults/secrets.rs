//! Secrets Manager unreachable: at a cold start, and during a refresh.

use std::time::{Duration, Instant};

use integration_tests::faults::{target, Call, Fault, Times};
use integration_tests::*;
use serde_json::json;
use verify::{BodyFormat, Event, Provider};

use crate::{assert_applied, elapsed_ms, fresh_subnoto, Delivery, Rig, FUNCTION_TIMEOUT};

#[tokio::test]
async fn secrets_manager_unreachable_at_cold_start_fails_init_loudly() {
    let rig = Rig::new().await;
    let arn = rig.stack.create_secret(&secrets_json()).await;
    let extra = [("WEBHOOK_SECRETS_ARN", arn.as_str())];
    let get = || Call::new(target::GET_SECRET_VALUE);
    let mut outcomes = Vec::new();
    for fault in [
        Fault::ServerError,
        Fault::Throttle,
        Fault::Reset,
        Fault::Hang(Duration::from_secs(8)),
    ] {
        let rule = rig.proxy.fail(get(), fault, Times::UntilCleared);
        let started = Instant::now();
        let err = rig
            .stack
            .ingest_with(
                &function_clients_via(rig.proxy.endpoint(), iam::Function::Ingest).await,
                &extra,
            )
            .await
            .expect_err("no app without secrets");
        let took = started.elapsed();
        rig.proxy.clear();
        let text = err.to_string();
        assert!(
            matches!(
                err,
                ingest::InitError::Secrets(store::SecretsError::Fetch(_))
            ),
            "{fault:?}: {text}"
        );
        assert!(text.contains("GetSecretValue"), "{fault:?}: {text}");
        assert!(
            took < FUNCTION_TIMEOUT,
            "{fault:?}: init took {took:?}, not bounded by the SDK timeouts"
        );
        assert!(rig.proxy.hits(rule) >= 2, "{fault:?}: retried");
        for secret in [SPOTDRAFT_KEY, SUBNOTO_SECRET] {
            assert!(!text.contains(secret));
        }
        outcomes.push(json!({"fault": format!("{fault:?}"), "init": "failed",
                             "attempts": rig.proxy.hits(rule), "ms": took.as_millis() as u64}));
    }
    assert_eq!(rig.stack.ledger_count().await, 0);

    // Reachable again: the same configuration starts, and still refuses
    // unsigned requests.
    let app = rig.ingest(&extra).await;
    let body = sample("spotdraft-contract-created.json");
    let mut unsigned = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_KEY,
        &body,
        now_ms(),
        BodyFormat::Json,
    );
    unsigned.retain(|(k, _)| !k.eq_ignore_ascii_case("X-SD-WEBHOOK-CONTENT-HASH"));
    let event = http_event(
        EventKind::ApiGatewayV2,
        "POST",
        "/webhooks/spotdraft",
        &unsigned,
        &body,
        false,
    );
    let unsigned = Delivery {
        body: body.clone(),
        event_json: event,
        event: Event::parse(Provider::SpotDraft, BodyFormat::Json, &body).unwrap(),
    };
    assert_eq!(rig.send(&app, &unsigned).await.0, 401);
    assert_eq!(rig.stack.ledger_count().await, 0);
    let signed = Delivery::new(Provider::SpotDraft, body);
    assert_eq!(rig.send(&app, &signed).await.0, 202);
    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!((tally.messages, tally.updated), (1, 1));
    assert_applied(&rig, &signed, "DRAFT").await;
    rig.report(
        "secrets_unreachable_at_cold_start",
        &[&signed],
        json!({"cold_starts": outcomes, "after_recovery": "unsigned 401, signed 202"}),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_manager_unreachable_during_refresh_keeps_the_cached_secrets_verifying() {
    let rig = Rig::new().await;
    let doc = |sn: &str| json!({"spotdraft": [SPOTDRAFT_KEY], "subnoto": [sn]}).to_string();
    let arn = rig.stack.create_secret(&doc(SUBNOTO_SECRET)).await;
    let app = rig
        .ingest(&[
            ("WEBHOOK_SECRETS_ARN", &arn),
            ("SECRETS_REFRESH_SECONDS", "1"),
        ])
        .await;
    let rule = rig.proxy.fail(
        Call::new(target::GET_SECRET_VALUE),
        Fault::Reset,
        Times::UntilCleared,
    );
    // The secret is rotated meanwhile (old one dropped): only a refresh that
    // got through could stop the old secret verifying.
    rig.stack.put_secret(&arn, &doc(SUBNOTO_SECRET_NEXT)).await;

    let started = Instant::now();
    let deadline = started + Duration::from_secs(20);
    let mut delivered = Vec::new();
    let mut slowest = Duration::ZERO;
    // Deliver for at least 4 s and until a whole refresh (three attempts) failed.
    while started.elapsed() < Duration::from_secs(4) || rig.proxy.hits(rule) < 3 {
        assert!(Instant::now() < deadline, "the refresh was never attempted");
        let d = Delivery::signed_with(
            Provider::Subnoto,
            SUBNOTO_SECRET,
            fresh_subnoto("ENVELOPE_COMPLETED"),
        );
        let t = Instant::now();
        let (status, answer) = rig.send(&app, &d).await;
        slowest = slowest.max(t.elapsed());
        assert_eq!(status, 202, "cached secret refused: {answer}");
        delivered.push(d);
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let failed_attempts = rig.proxy.hits(rule);
    assert!(
        slowest < FUNCTION_TIMEOUT,
        "a request waited for the refresh ({slowest:?})"
    );

    // Secrets Manager is back: the next refresh applies the rotation.
    rig.proxy.clear();
    let cleared = Instant::now();
    loop {
        let d = Delivery::signed_with(
            Provider::Subnoto,
            SUBNOTO_SECRET,
            fresh_subnoto("ENVELOPE_COMPLETED"),
        );
        let (status, _) = rig.send(&app, &d).await;
        if status == 401 {
            break;
        }
        assert_eq!(status, 202);
        delivered.push(d);
        assert!(
            cleared.elapsed() < Duration::from_secs(20),
            "refresh never succeeded"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let d = Delivery::signed_with(
        Provider::Subnoto,
        SUBNOTO_SECRET_NEXT,
        fresh_subnoto("ENVELOPE_COMPLETED"),
    );
    assert_eq!(rig.send(&app, &d).await.0, 202);
    delivered.push(d);

    let tally = rig.process(&rig.processor(&[])).await;
    assert_eq!(tally.messages, delivered.len());
    assert_eq!(tally.updated, delivered.len());
    for d in &delivered {
        assert_applied(&rig, d, "COMPLETED").await;
    }
    let events: Vec<&Delivery> = delivered.iter().collect();
    rig.report(
        "secrets_unreachable_during_refresh",
        &events,
        json!({"fault": "GetSecretValue connection reset until cleared, refresh every 1 s",
               "failed_refresh_attempts": failed_attempts,
               "slowest_request_while_unreachable_ms": slowest.as_millis() as u64,
               "rotation_in_force_after_recovery_ms": elapsed_ms(cleared),
               "old_secret_after_rotation": 401}),
    )
    .await;
}
