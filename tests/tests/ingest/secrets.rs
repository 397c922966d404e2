//! The webhook secrets: rotated in Secrets Manager, unusable at a cold start.

use integration_tests::*;
use verify::{BodyFormat, Provider};

use crate::send;

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
