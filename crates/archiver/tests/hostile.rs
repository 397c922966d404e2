//! The archiver against a SpotDraft API that misbehaves (issue 21, items
//! 6–9), over the wire: moto and the local provider server with hostile
//! answers. Each test fails without its fix.

mod common;

use std::time::Duration;

use archiver::batch::{process_batch, process_batch_until, Outcome, DEADLINE_MARGIN};
use archiver::download::DownloadLimits;
use base64::Engine;
use common::provider::{pdf, URL_SIGNATURE};
use common::{aged, sha256_hex, spotdraft_executed, ArchiveStack, Fault, ProviderServer, Route};
use verify::Provider;

async fn round(env: &ArchiveStack, app: &archiver::App) -> Vec<Outcome> {
    let event = env.receive().await;
    let report = process_batch(app, &event).await;
    env.settle(&event, &report.response()).await;
    report.outcomes.into_iter().map(|(_, o)| o).collect()
}

fn retrying(reason: &'static str, after_secs: u32) -> Vec<Outcome> {
    vec![Outcome::Retrying { reason, after_secs }]
}

fn b64_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(bytes))
}

// ------------------------------------------------------------------ item 6

/// A 200 that is not the document (HTML, empty, wrong checksum) is retried
/// and never stored under the version's key, so the existing-object shortcut
/// cannot make it the document forever; the next good answer is archived.
#[tokio::test]
async fn a_bad_answer_is_retried_and_never_becomes_the_document() {
    let env = ArchiveStack::new().await;
    let document = pdf(3000, 30);
    let server = ProviderServer::start("H-601", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "601").await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("601", None)).await;

    let html = b"<!doctype html><html><body>Service unavailable</body></html>".to_vec();
    let bad_answers = [
        Fault::Body(html, vec![("content-type", "text/html".into())]),
        Fault::Body(vec![], vec![("content-type", "application/pdf".into())]),
        Fault::Body(
            document.clone(),
            vec![
                ("content-type", "application/pdf".into()),
                ("x-amz-checksum-sha256", b64_sha256(b"another document")),
            ],
        ),
    ];
    for (receive, bad) in (1..).zip(bad_answers) {
        server.fault(Route::Document, bad.clone());
        assert_eq!(
            round(&env, &app).await,
            retrying(
                "invalid_document",
                archiver::batch::transient_backoff(receive)
            ),
            "{bad:?}"
        );
        assert!(env.object_versions("spotdraft/601/").await.is_empty());
        assert!(env.document(Provider::SpotDraft, "601").await.is_none());
        assert!(env.archived_events().await.is_empty());
        env.make_visible().await;
    }
    assert_eq!(env.depth(&env.dlq_url).await, (0, 0));

    // The provider answers properly (with a matching checksum): archived.
    server.fault(
        Route::Document,
        Fault::Body(
            document.clone(),
            vec![("x-amz-checksum-sha256", b64_sha256(&document))],
        ),
    );
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    let versions = env.object_versions("spotdraft/601/").await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(
        app.documents
            .get_bytes("spotdraft/601/1.pdf")
            .await
            .unwrap(),
        document
    );
    let doc = env.document(Provider::SpotDraft, "601").await.unwrap();
    assert_eq!(doc["sha256"], sha256_hex(&document));
    assert_eq!(doc["content_type"], "application/pdf");
}

/// The same for a document large enough for a multipart upload: a wrong
/// start never opens one; a wrong checksum, found at the end, aborts it
/// before completion. Nothing is stored and no upload is left open.
#[tokio::test]
async fn a_bad_large_answer_leaves_no_object_and_no_open_upload() {
    let env = ArchiveStack::new().await;
    let document = pdf(12 * 1024 * 1024, 31);
    let server = ProviderServer::start("H-602", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "602").await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("602", None)).await;

    let mut not_pdf = document.clone();
    not_pdf[..5].copy_from_slice(b"<html");
    server.fault(Route::Document, Fault::Body(not_pdf, vec![]));
    assert_eq!(
        round(&env, &app).await,
        retrying("invalid_document", archiver::batch::transient_backoff(1))
    );
    assert_eq!(env.open_uploads().await, 0);
    env.make_visible().await;
    server.fault(
        Route::Document,
        Fault::Body(
            document.clone(),
            vec![("x-amz-checksum-sha256", b64_sha256(b"not this"))],
        ),
    );
    assert_eq!(
        round(&env, &app).await,
        retrying("invalid_document", archiver::batch::transient_backoff(2))
    );
    assert_eq!(env.open_uploads().await, 0);
    assert!(env.object_versions("spotdraft/602/").await.is_empty());
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(
        env.document(Provider::SpotDraft, "602").await.unwrap()["sha256"],
        sha256_hex(&document)
    );
}

// ------------------------------------------------------------------ item 7

/// Without the development setting, `download_link`'s URL must be https to a
/// public host: plain http, an IP literal (the metadata service) and a name
/// resolving to loopback are refused before any connection, and the message
/// goes to the DLQ with a reason that never shows the URL.
#[tokio::test]
async fn a_download_url_outside_the_policy_is_never_fetched() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-701", pdf(2000, 32)).await;
    env.seed_status(Provider::SpotDraft, "701").await;
    let port = server.base.rsplit(':').next().unwrap().to_owned();
    let app = env
        .app(
            Some(&server),
            &[("ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS", "")],
        )
        .await;
    let cases = [
        // The server's own link: http on 127.0.0.1.
        (None, "scheme is not https"),
        (
            Some(format!(
                "https://127.0.0.1:{port}/latest/meta-data/iam/security-credentials/"
            )),
            "IP address literal",
        ),
        (
            Some("https://169.254.169.254/latest/meta-data/".to_owned()),
            "IP address literal",
        ),
        (
            Some("https://[fd00:ec2::254]/latest/meta-data/".to_owned()),
            "IP address literal",
        ),
        // A name: resolved, and every address it has is loopback.
        (
            Some(format!(
                "https://localhost:{port}/files/H-701/1.pdf?{URL_SIGNATURE}"
            )),
            "resolves to a refused address (loopback)",
        ),
    ];
    for (url, why) in cases {
        if let Some(url) = &url {
            server.fault(Route::Link, Fault::LinkUrl(url.clone()));
        }
        env.publish(spotdraft_executed("701", None)).await;
        assert_eq!(
            round(&env, &app).await,
            [Outcome::DeadLettered("document_url_refused")],
            "{url:?}"
        );
        let dead = env.drain(&env.dlq_url).await;
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0].1["error"], "document_url_refused");
        let message = &dead[0].1["error_message"];
        assert!(message.contains(why), "{url:?}: {message}");
        assert!(
            !message.contains("tmp-url-secret") && !message.contains("://"),
            "{message}"
        );
    }
    assert_eq!(server.count(Route::Document), 0, "nothing was fetched");
    assert!(server.seen().iter().all(|s| !s.path.starts_with("/latest")));
    assert!(env.object_versions("spotdraft/701/").await.is_empty());

    // The development setting allows loopback, but not the metadata service,
    // and the allowlist still applies.
    let dev = env.app(Some(&server), &[]).await;
    server.fault(
        Route::Link,
        Fault::LinkUrl("http://169.254.169.254/latest/meta-data/".into()),
    );
    env.publish(spotdraft_executed("701", None)).await;
    assert_eq!(
        round(&env, &dev).await,
        [Outcome::DeadLettered("document_url_refused")]
    );
    let listed = env
        .app(
            Some(&server),
            &[("DOCUMENT_HOST_ALLOWLIST", ".amazonaws.com")],
        )
        .await;
    server.fault(
        Route::Link,
        Fault::LinkUrl(format!("http://localhost:{port}/files/H-701/1.pdf")),
    );
    env.publish(spotdraft_executed("701", None)).await;
    assert_eq!(
        round(&env, &listed).await,
        [Outcome::DeadLettered("document_url_refused")]
    );
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead.len(), 2);
    assert!(dead
        .iter()
        .any(|(_, a)| a["error_message"].contains("DOCUMENT_HOST_ALLOWLIST")));
    assert_eq!(server.count(Route::Document), 0);
    // And a name it allows is fetched.
    let listed = env
        .app(Some(&server), &[("DOCUMENT_HOST_ALLOWLIST", "localhost")])
        .await;
    server.fault(
        Route::Link,
        Fault::LinkUrl(format!("http://localhost:{port}/files/H-701/1.pdf")),
    );
    env.publish(spotdraft_executed("701", None)).await;
    assert_eq!(round(&env, &listed).await, [Outcome::Done("archived")]);
}

// ------------------------------------------------------------------ item 8

/// A 27 MB JSON answer to `download_link` (chunked: no Content-Length to
/// refuse it by) is read up to the cap and fails cleanly; it is retried, and
/// the next normal answer is archived.
#[tokio::test]
async fn a_huge_api_answer_fails_cleanly() {
    let env = ArchiveStack::new().await;
    let document = pdf(2000, 33);
    let server = ProviderServer::start("H-801", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "801").await;
    let app = env.app(Some(&server), &[]).await;
    server.fault(Route::Link, Fault::HugeLink(27_000_000));
    env.publish(spotdraft_executed("801", None)).await;
    assert_eq!(
        round(&env, &app).await,
        retrying("answer_too_large", archiver::batch::transient_backoff(1))
    );
    assert_eq!(server.count(Route::Document), 0);
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(
        env.document(Provider::SpotDraft, "801").await.unwrap()["sha256"],
        sha256_hex(&document)
    );
}

/// A body that trickles after 8.5 MiB (a multipart part already sent) is
/// aborted by the throughput floor, and another by the invocation's
/// deadline; each time the multipart upload is aborted (none left open in
/// ListMultipartUploads) and the record is retried with back-off.
#[tokio::test]
async fn a_trickling_download_is_aborted_and_leaves_no_open_upload() {
    let env = ArchiveStack::new().await;
    let document = pdf(9 * 1024 * 1024, 34);
    let server = ProviderServer::start("H-802", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "802").await;
    let trickle = Fault::Trickle {
        first: 8 * 1024 * 1024 + 512 * 1024,
        every: Duration::from_millis(500),
    };
    env.publish(spotdraft_executed("802", None)).await;

    // The throughput floor (a short window, so the test is quick).
    let mut app = env.app(Some(&server), &[]).await;
    app.spotdraft = app.spotdraft.take().map(|api| {
        api.with_download_limits(DownloadLimits {
            stall: Duration::from_secs(5),
            window: Duration::from_secs(2),
            min_bytes_per_window: 64 * 1024,
        })
    });
    server.fault(Route::Document, trickle.clone());
    let outcomes = tokio::time::timeout(Duration::from_secs(60), round(&env, &app))
        .await
        .expect("the trickle was not aborted");
    assert_eq!(
        outcomes,
        retrying("download_too_slow", archiver::batch::transient_backoff(1))
    );
    assert_eq!(
        env.open_uploads().await,
        0,
        "the multipart upload is aborted"
    );
    assert!(env.object_versions("spotdraft/802/").await.is_empty());

    // The deadline: no throughput floor, a read every 500 ms (under the
    // stall bound), but the invocation ends 3 s after its margin.
    let mut app = env.app(Some(&server), &[]).await;
    app.spotdraft = app.spotdraft.take().map(|api| {
        api.with_download_limits(DownloadLimits {
            stall: Duration::from_secs(5),
            window: Duration::from_secs(3600),
            min_bytes_per_window: 0,
        })
    });
    server.fault(Route::Document, trickle);
    env.make_visible().await;
    let event = env.receive().await;
    let deadline = tokio::time::Instant::now() + DEADLINE_MARGIN + Duration::from_secs(3);
    let started = std::time::Instant::now();
    let report = tokio::time::timeout(
        Duration::from_secs(60),
        process_batch_until(&app, &event, deadline),
    )
    .await
    .expect("the deadline did not end the download");
    env.settle(&event, &report.response()).await;
    assert_eq!(
        report.outcomes[0].1,
        Outcome::Retrying {
            reason: "download_too_slow",
            after_secs: archiver::batch::transient_backoff(2)
        }
    );
    assert!(
        started.elapsed() < DEADLINE_MARGIN,
        "{:?}",
        started.elapsed()
    );
    assert_eq!(env.open_uploads().await, 0);
    assert!(env.object_versions("spotdraft/802/").await.is_empty());

    // Retried later, it is archived.
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(env.open_uploads().await, 0);
}

// ------------------------------------------------------------------ item 9

/// Ten and more 429s with `Retry-After: 1`, and refused credentials, retry
/// with growing back-offs for as long as the retry window lasts, never
/// spending a receive budget: nothing reaches the DLQ in a busy hour. Only
/// past the window (by the message's `SentTimestamp`) is it dead-lettered.
#[tokio::test]
async fn throttling_and_refused_credentials_are_bounded_by_time_not_receives() {
    let env = ArchiveStack::new().await;
    let document = pdf(2000, 35);
    let server = ProviderServer::start("H-901", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "901").await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("901", None)).await;
    for _ in 0..14 {
        server.fault(
            Route::Listing,
            Fault::Status(429, vec![("retry-after", "1".into())]),
        );
    }
    for receive in 1..=14 {
        assert_eq!(
            round(&env, &app).await,
            retrying("throttled", archiver::batch::throttled_backoff(1, receive)),
            "receive {receive}"
        );
        env.make_visible().await;
    }
    assert_eq!(env.depth(&env.dlq_url).await, (0, 0));
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);

    // Refused credentials, a dozen receives: still retrying.
    env.seed_status(Provider::SpotDraft, "902").await;
    let server = ProviderServer::start("H-902", document.clone()).await;
    let wrong = serde_json::json!({"client_id": "x", "client_secret": "rotated-away"}).to_string();
    let app = env
        .app(Some(&server), &[("SPOTDRAFT_API_CREDENTIALS", &wrong)])
        .await;
    env.publish(spotdraft_executed("902", None)).await;
    for receive in 1..=12 {
        assert_eq!(
            round(&env, &app).await,
            retrying(
                "credentials_rejected",
                archiver::batch::credentials_backoff(receive)
            ),
            "receive {receive}"
        );
        env.make_visible().await;
    }
    assert_eq!(env.depth(&env.dlq_url).await, (0, 0));
    // Past the window: dead-lettered with the reason.
    let event = aged(
        env.receive().await,
        archiver::batch::RETRY_WINDOW + Duration::from_secs(1),
    );
    let report = process_batch(&app, &event).await;
    env.settle(&event, &report.response()).await;
    assert_eq!(
        report.outcomes[0].1,
        Outcome::DeadLettered("credentials_rejected")
    );
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["error"], "credentials_rejected");
    assert_eq!(env.depth(&env.queue_url).await, (0, 0));
}
