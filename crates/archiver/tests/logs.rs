//! The archiver's log lines (JSON, as in Lambda) through success and every
//! failure path never carry the temporary download URL, a credential, the
//! file name or the names and emails in the event.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use archiver::batch::{process_batch, Outcome};
use common::provider::{pdf, CLIENT_ID, CLIENT_SECRET, URL_SIGNATURE};
use common::{spotdraft_executed, ArchiveStack, Fault, ProviderServer, Route};
use serde_json::json;
use verify::Provider;

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn log_lines_never_carry_urls_credentials_or_names() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_max_level(tracing::Level::DEBUG)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let env = ArchiveStack::new().await;
    let server = ProviderServer::start("H-91", pdf(2000, 20)).await;
    let mut app = env.app(Some(&server), &[]).await;
    app.spotdraft = app
        .spotdraft
        .take()
        .map(|api| api.with_timeouts(Duration::from_millis(300), Duration::from_millis(300)));
    env.seed_status(Provider::SpotDraft, "91").await;
    // Expired URL, then a timeout, then a redirect of the document, then success.
    server.fault(Route::Document, Fault::Status(403, vec![]));
    server.fault(Route::Document, Fault::Stall(Duration::from_secs(2)));
    let mut outcomes = Vec::new();
    env.publish(spotdraft_executed("91", None)).await;
    for _ in 0..2 {
        let event = env.receive().await;
        let report = process_batch(&app, &event).await;
        env.settle(&event, &report.response()).await;
        outcomes.extend(report.outcomes.into_iter().map(|(_, o)| o));
        env.make_visible().await;
    }
    server.fault(
        Route::Document,
        Fault::Status(
            302,
            vec![(
                "location",
                format!("{}/files/elsewhere?{URL_SIGNATURE}", server.base),
            )],
        ),
    );
    env.seed_status(Provider::SpotDraft, "92").await;
    let server92 = ProviderServer::start("H-92", pdf(2000, 21)).await;
    server92.fault(
        Route::Document,
        Fault::Status(
            302,
            vec![("location", format!("{}/x?{URL_SIGNATURE}", server92.base))],
        ),
    );
    let app92 = env.app(Some(&server92), &[]).await;
    env.publish(spotdraft_executed("92", None)).await;
    let event = env.receive().await;
    let report = process_batch(&app92, &event).await;
    env.settle(&event, &report.response()).await;
    outcomes.extend(report.outcomes.into_iter().map(|(_, o)| o));
    // Refused credentials.
    let wrong = json!({"client_id": CLIENT_ID, "client_secret": "wrong-secret-value"}).to_string();
    let app_wrong = env
        .app(Some(&server), &[("SPOTDRAFT_API_CREDENTIALS", &wrong)])
        .await;
    env.publish(spotdraft_executed("91", None)).await;
    let event = env.receive().await;
    let report = process_batch(&app_wrong, &event).await;
    outcomes.extend(report.outcomes.into_iter().map(|(_, o)| o));

    // Metadata values naming a person: captured, a hostile answer refused.
    env.route_metadata().await;
    server.serve_key_pointers(json!([
        {"id": 1, "field_name": "signatory", "label": "Signed for Jane", "data_type": "string", "value": "Jane Doe <jane@example.com>"}
    ]));
    let key_pointer_event = json!({"id": "spotdraft#91-kp", "provider": "spotdraft", "subject": "91",
        "provider_event_type": "CONTRACT_KEY_POINTER_UPDATION", "lifecycle": "executed"});
    server.fault(
        Route::KeyPointers,
        Fault::Body(b"<html>Jane Doe</html>".to_vec(), vec![]),
    );
    for _ in 0..2 {
        env.publish_as("Contract Event", key_pointer_event.clone())
            .await;
        let event = env.receive().await;
        let report = process_batch(&app, &event).await;
        env.settle(&event, &report.response()).await;
        outcomes.extend(report.outcomes.into_iter().map(|(_, o)| o));
    }
    assert!(
        outcomes.contains(&Outcome::Done("metadata_captured")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Outcome::DeadLettered("unexpected_answer")),
        "{outcomes:?}"
    );

    assert!(
        outcomes.contains(&Outcome::Done("archived")),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&Outcome::DeadLettered("redirect")),
        "{outcomes:?}"
    );
    assert!(outcomes.iter().any(|o| matches!(
        o,
        Outcome::Retrying {
            reason: "credentials_rejected",
            ..
        }
    )));
    assert!(outcomes.iter().any(|o| matches!(
        o,
        Outcome::Retrying {
            reason: "provider_unavailable",
            ..
        }
    )));

    let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.iter().any(|l| l.contains("\"outcome\":\"archived\"")),
        "{text}"
    );
    assert!(
        lines.iter().any(|l| l.contains("download URL refused")),
        "{text}"
    );
    for forbidden in [
        URL_SIGNATURE,
        "tmp-url-secret",
        "/files/",
        CLIENT_SECRET,
        "wrong-secret-value",
        "Jane",
        "jane@example.com",
        "Master Services Agreement",
    ] {
        let hits: Vec<_> = lines.iter().filter(|l| l.contains(forbidden)).collect();
        assert!(hits.is_empty(), "logs contain {forbidden:?}: {hits:?}");
    }
}
