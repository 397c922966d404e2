//! Deliveries: every sample stored and queued once, base64 bodies, retries, stage paths.

use integration_tests::*;
use verify::{BodyFormat, Provider};

use crate::{event_of, send};

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
