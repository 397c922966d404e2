//! The archiver against moto (S3, SQS, EventBridge, DynamoDB, over the wire)
//! and a local server reproducing the documented SpotDraft and Subnoto calls.
//! Events reach the archive queue the deployed way: PutEvents on the bus, the
//! archive rule, its SQS target.

mod common;

use std::time::Duration;

use archiver::batch::{process_batch, Outcome};
use common::provider::{pdf, ACCESS_KEY, CLIENT_ID, CLIENT_SECRET, SECRET_KEY, URL_SIGNATURE};
use common::{aged, sha256_hex, spotdraft_executed, ArchiveStack, Fault, ProviderServer, Route};
use serde_json::json;
use verify::Provider;

/// Publishes, receives and processes one round; returns the outcomes.
async fn round(env: &ArchiveStack, app: &archiver::App) -> Vec<Outcome> {
    let event = env.receive().await;
    let report = process_batch(app, &event).await;
    env.settle(&event, &report.response()).await;
    report.outcomes.into_iter().map(|(_, o)| o).collect()
}

#[tokio::test]
async fn an_executed_contract_is_stored_once_whatever_the_deliveries() {
    let env = ArchiveStack::new().await;
    let document = pdf(200_000, 1);
    let server = ProviderServer::start("H-48213", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "48213").await;
    let app = env.app(Some(&server), &[]).await;

    // A status change that is not an execution never reaches the queue.
    let mut signing = spotdraft_executed("48213", None);
    signing["lifecycle"] = "signing".into();
    env.publish(signing).await;
    // The execution, delivered three times by the bus (at least once).
    for _ in 0..3 {
        env.publish(spotdraft_executed("48213", Some("EXECUTED_CONTRACT")))
            .await;
    }
    let outcomes = round(&env, &app).await;
    assert_eq!(outcomes.len(), 3, "{outcomes:?}");
    assert_eq!(outcomes[0], Outcome::Done("archived"));
    assert!(
        outcomes[1..]
            .iter()
            .all(|o| *o == Outcome::Done("already_archived")),
        "{outcomes:?}"
    );

    // Two more copies at once, in two function instances.
    env.publish(spotdraft_executed("48213", None)).await;
    env.publish(spotdraft_executed("48213", None)).await;
    let event = env.receive().await;
    let other = env.app(Some(&server), &[]).await;
    assert_eq!(event.records.len(), 2);
    let (mut first, mut second) = (event.clone(), event.clone());
    first.records.truncate(1);
    second.records.remove(0);
    let (a, b) = tokio::join!(process_batch(&app, &first), process_batch(&other, &second));
    env.settle(&first, &a.response()).await;
    env.settle(&second, &b.response()).await;
    for r in [&a, &b] {
        assert!(
            matches!(
                r.outcomes[0].1,
                Outcome::Done("already_archived" | "archived")
            ),
            "{r:?}"
        );
    }

    // Exactly one object (one S3 version), equal to what the server served.
    let versions = env.object_versions("spotdraft/48213/").await;
    assert_eq!(versions.len(), 1, "{versions:?}");
    assert_eq!(versions[0].0, "spotdraft/48213/1.pdf");
    let stored = app
        .documents
        .get_bytes("spotdraft/48213/1.pdf")
        .await
        .unwrap();
    assert_eq!(stored, document);
    let head = app
        .documents
        .head("spotdraft/48213/1.pdf")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(head.sha256, sha256_hex(&document));
    assert_eq!(head.content_type, "application/pdf");

    // The status item says so.
    let doc = env.document(Provider::SpotDraft, "48213").await.unwrap();
    assert_eq!(
        doc["s3_uri"],
        format!("s3://{}/spotdraft/48213/1.pdf", env.bucket)
    );
    assert_eq!(doc["sha256"], sha256_hex(&document));
    assert_eq!(doc["bytes"], document.len());
    assert_eq!(doc["version"], "1");
    assert_eq!(doc["file_name"], "Master Services Agreement - Jane Doe.pdf");

    // So does the bus, once per delivery, all naming the same document.
    let events = env.archived_events().await;
    assert_eq!(events.len(), 5, "{events:?}");
    for e in &events {
        assert_eq!(e["version"], "1");
        assert_eq!(e["provider"], "spotdraft");
        assert_eq!(e["subject"], "48213");
        assert_eq!(e["document"]["sha256"], sha256_hex(&document));
        assert_eq!(e["document"]["bytes"], document.len());
        assert_eq!(e["document"]["version"], "1");
    }
    assert!(events.iter().any(|e| e["id"] == "spotdraft#48213-executed"));

    // What SpotDraft saw: the listing (no kind settles H-), download links
    // with the credential and {"format": "PDF"}, one document download
    // without any credential.
    let seen = server.seen();
    let listing = seen
        .iter()
        .find(|s| s.path == "/api/v2.1/public/contracts/")
        .unwrap();
    assert_eq!(listing.method, "GET");
    assert_eq!(listing.query.as_deref(), Some("filter__contract_id=48213"));
    assert_eq!(listing.header("client-id"), Some(CLIENT_ID));
    assert_eq!(listing.header("client-secret"), Some(CLIENT_SECRET));
    let links: Vec<_> = seen
        .iter()
        .filter(|s| s.path.ends_with("/download_link"))
        .collect();
    assert_eq!(links.len(), 5);
    for l in &links {
        assert_eq!(l.method, "POST");
        assert_eq!(l.path, "/api/v2.1/public/contracts/H-48213/download_link");
        assert_eq!(l.json(), json!({"format": "PDF"}));
        assert_eq!(l.header("content-type"), Some("application/json"));
        assert_eq!(l.header("client-id"), Some(CLIENT_ID));
        assert_eq!(l.header("client-secret"), Some(CLIENT_SECRET));
    }
    let downloads: Vec<_> = seen
        .iter()
        .filter(|s| s.path.starts_with("/files/"))
        .collect();
    assert_eq!(
        downloads.len(),
        1,
        "one download; later deliveries find the object"
    );
    assert_eq!(downloads[0].method, "GET");
    assert!(downloads[0]
        .query
        .as_deref()
        .unwrap()
        .contains(URL_SIGNATURE));
    for h in ["client-id", "client-secret", "authorization"] {
        assert!(
            downloads[0].header(h).is_none(),
            "{h} sent to the temporary URL"
        );
    }
}

#[tokio::test]
async fn a_template_contract_skips_the_listing_and_a_wrong_guess_falls_back_to_it() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("T-501", pdf(1000, 2)).await;
    env.seed_status(Provider::SpotDraft, "501").await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("501", Some("TEMPLATE_CONTRACT")))
        .await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(server.count(Route::Listing), 0);
    assert_eq!(server.count(Route::Link), 1);

    // TEMPLATE_CONTRACT read as T- is a guess: an H- contract answers 404, the listing settles it.
    let server = ProviderServer::start("H-502", pdf(1000, 3)).await;
    env.seed_status(Provider::SpotDraft, "502").await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("502", Some("TEMPLATE_CONTRACT")))
        .await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    let paths: Vec<_> = server.seen().iter().map(|s| s.path.clone()).collect();
    assert_eq!(
        paths[..3],
        [
            "/api/v2.1/public/contracts/T-502/download_link",
            "/api/v2.1/public/contracts/",
            "/api/v2.1/public/contracts/H-502/download_link"
        ]
    );
    assert_eq!(
        env.document(Provider::SpotDraft, "502").await.unwrap()["sha256"],
        sha256_hex(&pdf(1000, 3))
    );
}

#[tokio::test]
async fn an_older_version_never_replaces_a_newer_one() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-7", pdf(3000, 4)).await;
    env.seed_status(Provider::SpotDraft, "7").await;
    let app = env.app(Some(&server), &[]).await;
    server.serve(2, pdf(3000, 5));
    env.publish(spotdraft_executed("7", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    // A delivery that got the older version (a lagging answer) comes last.
    server.serve(1, pdf(3000, 4));
    env.publish(spotdraft_executed("7", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("superseded")]);
    let doc = env.document(Provider::SpotDraft, "7").await.unwrap();
    assert_eq!(doc["version"], "2");
    assert_eq!(doc["sha256"], sha256_hex(&pdf(3000, 5)));
    // One object per version; only the winning one was announced.
    let mut keys: Vec<_> = env
        .object_versions("spotdraft/7/")
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    keys.sort();
    assert_eq!(keys, ["spotdraft/7/1.pdf", "spotdraft/7/2.pdf"]);
    let events = env.archived_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["document"]["version"], "2");
}

#[tokio::test]
async fn a_large_document_goes_up_in_parts_with_its_sha256() {
    let env = ArchiveStack::new().await;
    let document = pdf(12 * 1024 * 1024 + 5, 6);
    let server = ProviderServer::start("H-900", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "900").await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("900", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(
        app.documents
            .get_bytes("spotdraft/900/1.pdf")
            .await
            .unwrap(),
        document
    );
    // The whole-document hash (a tag on a multipart object), read back by a redelivery.
    env.publish(spotdraft_executed("900", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("already_archived")]);
    let doc = env.document(Provider::SpotDraft, "900").await.unwrap();
    assert_eq!(doc["sha256"], sha256_hex(&document));
    assert_eq!(doc["bytes"], document.len());
    assert_eq!(env.object_versions("spotdraft/900/").await.len(), 1);
    assert_eq!(server.count(Route::Document), 1);
}

#[tokio::test]
async fn a_429_backs_off_by_retry_after_through_the_message_visibility() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-11", pdf(1000, 7)).await;
    env.seed_status(Provider::SpotDraft, "11").await;
    env.seed_status(Provider::SpotDraft, "12").await;
    let app = env.app(Some(&server), &[]).await;
    server.fault(
        Route::Listing,
        Fault::Status(429, vec![("retry-after", "7".into())]),
    );
    env.publish(spotdraft_executed("11", None)).await;
    env.publish(spotdraft_executed("12", None)).await;
    let outcomes = round(&env, &app).await;
    assert_eq!(
        outcomes,
        [
            Outcome::Retrying {
                reason: "throttled",
                after_secs: 7
            },
            // Not asked again in this batch: deferred as long.
            Outcome::Retrying {
                reason: "throttled",
                after_secs: 7
            },
        ]
    );
    assert_eq!(server.seen().len(), 1);
    // Both hidden (visibility set), neither deleted, nothing dead-lettered.
    assert_eq!(env.depth(&env.queue_url).await, (0, 2));
    assert_eq!(env.depth(&env.dlq_url).await, (0, 0));
}

#[tokio::test]
async fn server_errors_and_timeouts_are_retried_and_end_in_the_dlq() {
    let env = ArchiveStack::new().await;
    let document = pdf(1000, 8);
    let server = ProviderServer::start("H-21", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "21").await;
    let mut app = env.app(Some(&server), &[]).await;
    app.spotdraft = app
        .spotdraft
        .take()
        .map(|api| api.with_timeouts(Duration::from_millis(300), Duration::from_millis(300)));
    env.publish(spotdraft_executed("21", None)).await;

    // A 503, then a timeout: retried with back-off; then it succeeds.
    server.fault(Route::Listing, Fault::Status(503, vec![]));
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "provider_unavailable",
            after_secs: 30
        }]
    );
    server.fault(Route::Link, Fault::Stall(Duration::from_secs(2)));
    env.make_visible().await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "provider_unavailable",
            after_secs: 60
        }]
    );
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(
        app.documents.get_bytes("spotdraft/21/1.pdf").await.unwrap(),
        document
    );

    // An outage that does not end: retried with back-off, receive after
    // receive (more than the old budget of 10), until the retry window has
    // passed since the message was queued; then the archiver dead-letters it
    // with the last reason. It never retries forever.
    env.seed_status(Provider::SpotDraft, "22").await;
    env.publish(spotdraft_executed("22", None)).await;
    for _ in 0..20 {
        server.fault(Route::Listing, Fault::Status(500, vec![]));
    }
    for receives in 1..=12 {
        assert_eq!(
            round(&env, &app).await,
            [Outcome::Retrying {
                reason: "provider_unavailable",
                after_secs: archiver::batch::transient_backoff(receives)
            }],
            "receive {receives}"
        );
        env.make_visible().await;
    }
    assert_eq!(env.depth(&env.dlq_url).await, (0, 0));
    let window = archiver::batch::RETRY_WINDOW;
    let event = aged(env.receive().await, window + Duration::from_secs(60));
    let report = process_batch(&app, &event).await;
    env.settle(&event, &report.response()).await;
    assert_eq!(
        report.outcomes[0].1,
        Outcome::DeadLettered("provider_unavailable")
    );
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead.len(), 1);
    let body: serde_json::Value = serde_json::from_str(&dead[0].0).unwrap();
    assert_eq!(body["detail"]["subject"], "22");
    assert_eq!(dead[0].1["error"], "provider_unavailable");
    assert!(
        dead[0].1["error_message"].contains("retried for 72 h"),
        "{:?}",
        dead[0].1
    );
    assert_eq!(env.depth(&env.queue_url).await, (0, 0));
}

#[tokio::test]
async fn refused_credentials_fail_fast_without_a_hot_loop() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-31", pdf(1000, 9)).await;
    env.seed_status(Provider::SpotDraft, "31").await;
    env.seed_status(Provider::SpotDraft, "32").await;
    let wrong = json!({"client_id": CLIENT_ID, "client_secret": "rotated-away"}).to_string();
    let app = env
        .app(Some(&server), &[("SPOTDRAFT_API_CREDENTIALS", &wrong)])
        .await;
    env.publish(spotdraft_executed("31", None)).await;
    env.publish(spotdraft_executed("32", None)).await;
    let event = env.receive().await;
    let report = process_batch(&app, &event).await;
    env.settle(&event, &report.response()).await;
    let secs = archiver::batch::CREDENTIALS_BACKOFF_SECS;
    assert_eq!(
        report
            .outcomes
            .iter()
            .map(|(_, o)| o.clone())
            .collect::<Vec<_>>(),
        [
            Outcome::Retrying {
                reason: "credentials_rejected",
                after_secs: secs
            },
            Outcome::Retrying {
                reason: "credentials_rejected",
                after_secs: secs
            },
        ]
    );
    // One request for the whole batch; both messages hidden for the long back-off.
    assert_eq!(server.seen().len(), 1);
    assert_eq!(env.depth(&env.queue_url).await, (0, 2));
    // The metric the alarm watches.
    assert_eq!(report.metrics().get("credentials_rejected"), 2);
}

#[tokio::test]
async fn credentials_from_secrets_manager_are_used_and_reread_after_a_refusal() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-33", pdf(1000, 10)).await;
    env.seed_status(Provider::SpotDraft, "33").await;
    let arn = env
        .stack
        .create_secret(&json!({"client_id": CLIENT_ID, "client_secret": "old"}).to_string())
        .await;
    let mut config = env.config(Some(&server), &[]);
    config.spotdraft.as_mut().unwrap().credentials =
        store::SecretsSource::SecretsManager { arn: arn.clone() };
    let app = archiver::App::new(&config, &env.stack.clients, &env.archive)
        .await
        .unwrap();
    env.publish(spotdraft_executed("33", None)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "credentials_rejected",
            after_secs: archiver::batch::CREDENTIALS_BACKOFF_SECS
        }]
    );
    // The operator rotates the secret; the next attempt (after the back-off) uses it.
    env.stack
        .put_secret(
            &arn,
            &json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).to_string(),
        )
        .await;
    let refreshed = app
        .spotdraft
        .as_ref()
        .unwrap()
        .credentials()
        .refresh_after_refusal()
        .await;
    // Read less than a minute ago: not re-read on every refusal (no hot loop on Secrets Manager).
    assert!(!refreshed);
    env.make_visible().await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "credentials_rejected",
            // The second receive: the back-off doubles.
            after_secs: archiver::batch::credentials_backoff(2)
        }]
    );
    // A cold start reads the rotated secret.
    let app = archiver::App::new(&config, &env.stack.clients, &env.archive)
        .await
        .unwrap();
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
}

#[tokio::test]
async fn an_expired_download_url_gets_a_new_link() {
    let env = ArchiveStack::new().await;
    let document = pdf(4000, 11);
    let server = ProviderServer::start("H-41", document.clone()).await;
    env.seed_status(Provider::SpotDraft, "41").await;
    let app = env.app(Some(&server), &[]).await;
    // What S3 answers a presigned URL past its expiry.
    server.fault(Route::Document, Fault::Status(403, vec![]));
    env.publish(spotdraft_executed("41", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    assert_eq!(server.count(Route::Link), 2);
    assert_eq!(server.count(Route::Document), 2);
    let urls: Vec<_> = server
        .seen()
        .iter()
        .filter(|s| s.path.starts_with("/files/"))
        .map(|s| s.query.clone())
        .collect();
    assert_ne!(urls[0], urls[1], "the second download uses the new link");
    assert_eq!(
        app.documents.get_bytes("spotdraft/41/1.pdf").await.unwrap(),
        document
    );

    // A URL refused every time: retried later, not forever now.
    env.seed_status(Provider::SpotDraft, "42").await;
    let server = ProviderServer::start("H-42", document.clone()).await;
    let app = env.app(Some(&server), &[]).await;
    for _ in 0..archiver::archive::LINKS_PER_ATTEMPT {
        server.fault(Route::Document, Fault::Status(403, vec![]));
    }
    env.publish(spotdraft_executed("42", None)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "link_expired",
            after_secs: 30
        }]
    );
    assert_eq!(
        server.count(Route::Link),
        archiver::archive::LINKS_PER_ATTEMPT
    );
}

#[tokio::test]
async fn redirects_are_never_followed() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-51", pdf(1000, 12)).await;
    env.seed_status(Provider::SpotDraft, "51").await;
    let app = env.app(Some(&server), &[]).await;
    let elsewhere = format!("{}/elsewhere", server.base);
    server.fault(
        Route::Link,
        Fault::Status(301, vec![("location", elsewhere.clone())]),
    );
    env.publish(spotdraft_executed("51", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::DeadLettered("redirect")]);
    assert!(server.seen().iter().all(|s| s.path != "/elsewhere"));
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].1["error"], "redirect");
    assert!(dead[0].1["error_message"].contains("redirects are not followed"));
    // Deleted from the archive queue: not retried.
    assert_eq!(env.depth(&env.queue_url).await, (0, 0));

    // The temporary URL redirecting: not followed either.
    env.seed_status(Provider::SpotDraft, "52").await;
    let server = ProviderServer::start("H-52", pdf(1000, 12)).await;
    let app = env.app(Some(&server), &[]).await;
    server.fault(
        Route::Document,
        Fault::Status(
            302,
            vec![("location", format!("{}/elsewhere", server.base))],
        ),
    );
    env.publish(spotdraft_executed("52", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::DeadLettered("redirect")]);
    assert!(server.seen().iter().all(|s| s.path != "/elsewhere"));
}

#[tokio::test]
async fn a_document_over_the_limit_fails_clearly_and_leaves_nothing() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-61", pdf(5000, 13)).await;
    env.seed_status(Provider::SpotDraft, "61").await;
    // Declared too large (Content-Length): refused before reading it.
    let app = env
        .app(Some(&server), &[("MAX_DOCUMENT_BYTES", "4096")])
        .await;
    env.publish(spotdraft_executed("61", None)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::DeadLettered("too_large")]
    );
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead[0].1["error"], "too_large");
    assert!(
        dead[0].1["error_message"].contains("MAX_DOCUMENT_BYTES"),
        "{:?}",
        dead[0].1
    );

    // Undeclared (chunked) and larger than the limit: found while streaming,
    // after parts went up; the multipart upload is aborted.
    let app = env
        .app(Some(&server), &[("MAX_DOCUMENT_BYTES", "11000000")])
        .await;
    server.fault(Route::Document, Fault::Chunked(12 * 1024 * 1024));
    env.publish(spotdraft_executed("61", None)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::DeadLettered("too_large")]
    );
    assert!(env.object_versions("spotdraft/61/").await.is_empty());
    let uploads = env
        .archive
        .s3
        .list_multipart_uploads()
        .bucket(&env.bucket)
        .send()
        .await
        .unwrap();
    assert!(uploads.uploads().is_empty(), "{:?}", uploads.uploads());
    assert!(env.document(Provider::SpotDraft, "61").await.is_none());
}

#[tokio::test]
async fn s3_failing_is_retried_and_nothing_is_recorded() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-71", pdf(1000, 14)).await;
    env.seed_status(Provider::SpotDraft, "71").await;
    let mut app = env.app(Some(&server), &[]).await;
    app.documents = store::archive::DocumentStore::new(
        env.archive.s3.clone(),
        format!("{}-missing", env.bucket),
    );
    env.publish(spotdraft_executed("71", None)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "aws_failed",
            after_secs: 30
        }]
    );
    assert!(env.document(Provider::SpotDraft, "71").await.is_none());
    assert!(env.archived_events().await.is_empty());
    // Once S3 is back, the retry stores it.
    let app = env.app(Some(&server), &[]).await;
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
}

#[tokio::test]
async fn no_status_item_yet_is_retried_not_lost() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-81", pdf(1000, 15)).await;
    let app = env.app(Some(&server), &[]).await;
    env.publish(spotdraft_executed("81", None)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "no_status_item",
            after_secs: 30
        }]
    );
    env.seed_status(Provider::SpotDraft, "81").await;
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("already_archived")]);
    assert!(env.document(Provider::SpotDraft, "81").await.is_some());
}

fn subnoto_executed(envelope: &str, workspace: &str, document: Option<&str>) -> serde_json::Value {
    let mut detail = json!({
        "version": "1", "id": format!("subnoto#evt-{envelope}"), "provider": "subnoto", "subject": envelope,
        "provider_event_type": "ENVELOPE_COMPLETED", "status": "COMPLETED", "lifecycle": "executed",
        "occurred_at": "2026-11-22T10:00:00Z", "received_at": "2026-11-22T10:00:01Z", "rank": "4|x|y",
        "workspace": workspace
    });
    if let Some(d) = document {
        detail["document_id"] = d.into();
    }
    detail
}

#[tokio::test]
async fn subnoto_without_a_proxy_is_counted_not_failed() {
    let env = ArchiveStack::new().await;
    let app = env.app(None, &[]).await;
    env.publish(subnoto_executed(
        "5f0c7a2e-9c1b-4a53-8f0e-2b4d6e8a1c3f",
        "a1b2c3d4-0000-4000-8000-000000000001",
        None,
    ))
    .await;
    let event = env.receive().await;
    let report = process_batch(&app, &event).await;
    env.settle(&event, &report.response()).await;
    assert_eq!(
        report.outcomes[0].1,
        Outcome::Skipped("archive_not_configured")
    );
    assert_eq!(report.metrics().get("archive_not_configured"), 1);
    assert!(report.response().batch_item_failures.is_empty());
    assert_eq!(env.depth(&env.queue_url).await, (0, 0));
    assert_eq!(env.depth(&env.dlq_url).await, (0, 0));
}

#[tokio::test]
async fn subnoto_documents_come_through_the_proxy() {
    let env = ArchiveStack::new().await;
    let document = pdf(7000, 16);
    let server = ProviderServer::start("H-0", document.clone()).await;
    let (envelope, workspace) = (
        "5f0c7a2e-9c1b-4a53-8f0e-2b4d6e8a1c3f",
        "a1b2c3d4-0000-4000-8000-000000000001",
    );
    let doc_id = server.state.lock().unwrap().subnoto_document.clone();
    env.seed_status(Provider::Subnoto, envelope).await;
    let creds = json!({"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}).to_string();
    let app = env
        .app(
            None,
            &[
                ("SUBNOTO_API_URL", &server.base),
                ("SUBNOTO_API_CREDENTIALS", &creds),
            ],
        )
        .await;
    env.publish(subnoto_executed(envelope, workspace, Some(&doc_id)))
        .await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    let key = format!("subnoto/{envelope}/{doc_id}.pdf");
    assert_eq!(app.documents.get_bytes(&key).await.unwrap(), document);
    let doc = env.document(Provider::Subnoto, envelope).await.unwrap();
    assert_eq!(doc["sha256"], sha256_hex(&document));
    assert_eq!(doc["version"], doc_id);
    let seen = server.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/public/envelope/get");
    assert_eq!(
        seen[0].json(),
        json!({"workspaceUuid": workspace, "envelopeUuid": envelope})
    );
    assert_eq!(seen[1].path, "/public/envelope/get-document");
    assert_eq!(
        seen[1].json(),
        json!({"workspaceUuid": workspace, "envelopeUuid": envelope, "documentUuid": doc_id})
    );
    for s in &seen {
        assert_eq!(
            s.header("authorization"),
            Some(format!("Bearer {ACCESS_KEY}:{SECRET_KEY}").as_str())
        );
        assert_eq!(s.header("content-type"), Some("application/json"));
    }
    let events = env.archived_events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["provider"], "subnoto");

    // Refused keys: the same fail-fast path as SpotDraft.
    let bad = json!({"access_key": ACCESS_KEY, "secret_key": "wrong"}).to_string();
    let app = env
        .app(
            None,
            &[
                ("SUBNOTO_API_URL", &server.base),
                ("SUBNOTO_API_CREDENTIALS", &bad),
            ],
        )
        .await;
    env.publish(subnoto_executed(envelope, workspace, None))
        .await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "credentials_rejected",
            after_secs: archiver::batch::CREDENTIALS_BACKOFF_SECS
        }]
    );
}

#[tokio::test]
async fn unusable_messages_go_straight_to_the_dlq_with_the_reason() {
    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-1", pdf(100, 17)).await;
    let sqs = &env.stack.clients.sqs;
    for body in [
        "not json".to_owned(),
        json!({"source": "contract-hooks", "detail-type": "Contract Status Changed",
               "detail": {"id": "k", "provider": "spotdraft", "subject": "../1", "lifecycle": "executed"}})
        .to_string(),
        json!({"source": "contract-hooks", "detail-type": "Contract Status Changed",
               "detail": {"id": "k", "provider": "subnoto", "subject": "5f0c7a2e", "lifecycle": "executed"}})
        .to_string(),
    ] {
        sqs.send_message().queue_url(&env.queue_url).message_body(body).send().await.unwrap();
    }
    let subnoto_creds = json!({"access_key": ACCESS_KEY, "secret_key": SECRET_KEY}).to_string();
    let app = env
        .app(
            Some(&server),
            &[
                ("SUBNOTO_API_URL", &server.base),
                ("SUBNOTO_API_CREDENTIALS", &subnoto_creds),
            ],
        )
        .await;
    let mut outcomes = round(&env, &app).await;
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [
            Outcome::DeadLettered("invalid_request"),
            Outcome::DeadLettered("invalid_request"),
            Outcome::DeadLettered("unusable_message"),
        ]
    );
    assert!(server.seen().is_empty());
    let dead = env.drain(&env.dlq_url).await;
    assert_eq!(dead.len(), 3);
    assert!(dead
        .iter()
        .any(|(body, a)| body == "not json" && a["error"] == "unusable_message"));
}
