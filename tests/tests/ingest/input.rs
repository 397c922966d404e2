//! What ingest refuses and what it accepts: bad input, events at every limit, missing fields.

use integration_tests::*;
use verify::{BodyFormat, Event, Provider};

use crate::send;

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
