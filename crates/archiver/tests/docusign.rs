//! The archiver's DocuSign path against moto (over the wire) and a local
//! server reproducing DocuSign's OAuth JWT grant (`POST /oauth/token`: the
//! assertion's header, claims and RS256 signature are checked with the test
//! key's public half), `GET /oauth/userinfo` and the eSignature combined
//! document (method, path, `Authorization: Bearer` of an issued token).
//! The key is `tests/fixtures/docusign-test-only-key.pem`, generated for
//! these tests only.

mod common;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use archiver::batch::{process_batch, transient_backoff, Outcome};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Router;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use common::provider::pdf;
use common::{sha256_hex, ArchiveStack};
use serde_json::{json, Value};
use verify::Provider;

const KEY_PEM: &str = include_str!("fixtures/docusign-test-only-key.pem");
const INTEGRATION_KEY: &str = "0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6";
const USER_ID: &str = "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d";
const ACCOUNT: &str = "f1e2d3c4-b5a6-4798-8a9b-0c1d2e3f4a5b";
const ENVELOPE_A: &str = "aaaaaaaa-1111-4222-8333-444444444444";
const ENVELOPE_B: &str = "bbbbbbbb-1111-4222-8333-444444444444";

#[derive(Debug, Clone)]
enum Fault {
    /// The document answers this status (and headers).
    Status(u16, Vec<(&'static str, String)>),
    /// The document answers 200 with this body and content type.
    Body(Vec<u8>, &'static str),
}

#[derive(Default)]
struct DsState {
    host: String,
    public_key: Vec<u8>,
    issued: Vec<String>,
    token_calls: usize,
    userinfo_calls: usize,
    document_calls: Vec<String>,
    refused_assertions: Vec<String>,
    faults: VecDeque<Fault>,
    documents: std::collections::HashMap<String, Vec<u8>>,
    base: String,
    /// `expires_in` answered (0 = 28800, DocuSign's 8 hours).
    expires_in: u64,
}

#[derive(Clone)]
struct DsServer {
    base: String,
    state: Arc<Mutex<DsState>>,
}

fn reply(status: u16, content_type: &str, body: Vec<u8>) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap())
        .header("content-type", content_type)
        .body(Body::from(body))
        .unwrap()
}

/// Checks an assertion; `Err(why)` when DocuSign would refuse it.
fn check_assertion(state: &DsState, jwt: &str) -> Result<(), String> {
    let parts: Vec<&str> = jwt.split('.').collect();
    if parts.len() != 3 {
        return Err("not three parts".into());
    }
    let decode = |p: &str| URL_SAFE_NO_PAD.decode(p).map_err(|e| e.to_string());
    let header: Value = serde_json::from_slice(&decode(parts[0])?).map_err(|e| e.to_string())?;
    if header["alg"] != "RS256" || header["typ"] != "JWT" {
        return Err(format!("header {header}"));
    }
    let claims: Value = serde_json::from_slice(&decode(parts[1])?).map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc().unix_timestamp() as u64;
    let iat = claims["iat"].as_u64().ok_or("no iat")?;
    if claims["iss"] != INTEGRATION_KEY
        || claims["sub"] != USER_ID
        || claims["aud"] != state.host.as_str()
        || claims["scope"] != "signature impersonation"
        || claims["exp"].as_u64() != Some(iat + 3600)
        || iat.abs_diff(now) > 60
    {
        return Err(format!("claims {claims}"));
    }
    let signature = decode(parts[2])?;
    ring::signature::UnparsedPublicKey::new(
        &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        &state.public_key,
    )
    .verify(format!("{}.{}", parts[0], parts[1]).as_bytes(), &signature)
    .map_err(|_| "bad signature".to_string())
}

async fn answer(State(state): State<Arc<Mutex<DsState>>>, request: Request) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_owned();
    let bearer = request
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let accept = request
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let body = axum::body::to_bytes(request.into_body(), 1 << 20)
        .await
        .unwrap();
    let mut s = state.lock().unwrap();
    let authorized = bearer.as_ref().is_some_and(|b| s.issued.contains(b));
    match (method.as_str(), path.as_str()) {
        ("POST", "/oauth/token") => {
            s.token_calls += 1;
            let form: Vec<(String, String)> =
                url::form_urlencoded::parse(&body).into_owned().collect();
            let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            if field("grant_type").as_deref() != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
            {
                return reply(
                    400,
                    "application/json",
                    br#"{"error":"unsupported_grant_type"}"#.to_vec(),
                );
            }
            let assertion = field("assertion").unwrap_or_default();
            if let Err(why) = check_assertion(&s, &assertion) {
                s.refused_assertions.push(why);
                return reply(
                    400,
                    "application/json",
                    br#"{"error":"invalid_grant"}"#.to_vec(),
                );
            }
            let token = format!("ds-access-token-{}", s.token_calls);
            s.issued.push(token.clone());
            reply(
                200,
                "application/json",
                json!({"access_token": token, "token_type": "Bearer", "expires_in": if s.expires_in == 0 { 28800 } else { s.expires_in }})
                    .to_string()
                    .into_bytes(),
            )
        }
        ("GET", "/oauth/userinfo") => {
            s.userinfo_calls += 1;
            if !authorized {
                return reply(401, "application/json", b"{}".to_vec());
            }
            reply(
                200,
                "application/json",
                json!({"sub": USER_ID, "accounts": [
                    {"account_id": "00000000-0000-4000-8000-000000000000", "is_default": true, "base_uri": "https://elsewhere.example"},
                    {"account_id": ACCOUNT, "is_default": false, "base_uri": s.base.clone()}
                ]})
                .to_string()
                .into_bytes(),
            )
        }
        ("GET", p) => {
            s.document_calls.push(p.to_owned());
            let prefix = format!("/restapi/v2.1/accounts/{ACCOUNT}/envelopes/");
            let Some(envelope) = p
                .strip_prefix(&prefix)
                .and_then(|r| r.strip_suffix("/documents/combined"))
            else {
                return reply(404, "application/json", b"{}".to_vec());
            };
            if !authorized || accept.as_deref() != Some("application/pdf") {
                return reply(401, "application/json", b"{}".to_vec());
            }
            if let Some(fault) = s.faults.pop_front() {
                return match fault {
                    Fault::Status(code, headers) => {
                        if code == 401 {
                            // The token is revoked: only a new one works.
                            let b = bearer.clone().unwrap();
                            s.issued.retain(|t| *t != b);
                        }
                        let mut r = reply(code, "application/json", b"{}".to_vec());
                        for (k, v) in headers {
                            r.headers_mut().insert(k, v.parse().unwrap());
                        }
                        r
                    }
                    Fault::Body(body, ct) => reply(200, ct, body),
                };
            }
            match s.documents.get(envelope) {
                Some(d) => reply(200, "application/pdf", d.clone()),
                None => reply(404, "application/json", b"{}".to_vec()),
            }
        }
        _ => reply(404, "application/json", b"{}".to_vec()),
    }
}

impl DsServer {
    async fn start() -> DsServer {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let base = format!("http://{host}");
        let key = archiver::credentials::rsa_key_from_pem(KEY_PEM).unwrap();
        use ring::signature::KeyPair;
        let state = Arc::new(Mutex::new(DsState {
            host,
            public_key: key.public_key().as_ref().to_vec(),
            base: base.clone(),
            ..Default::default()
        }));
        let app = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        DsServer { base, state }
    }

    fn credentials(&self) -> String {
        json!({"integration_key": INTEGRATION_KEY, "user_id": USER_ID, "private_key": KEY_PEM})
            .to_string()
    }
}

fn docusign_executed(envelope: &str) -> Value {
    json!({
        "version": "1", "id": format!("docusign#evt-{envelope}"), "provider": "docusign", "subject": envelope,
        "provider_event_type": "envelope-completed", "status": "completed", "lifecycle": "executed",
        "occurred_at": "2026-11-22T10:00:00Z", "received_at": "2026-11-22T10:00:01Z", "rank": "4|x|y",
        "workspace": ACCOUNT
    })
}

async fn round(env: &ArchiveStack, app: &archiver::App) -> Vec<Outcome> {
    let event = env.receive().await;
    let report = process_batch(app, &event).await;
    env.settle(&event, &report.response()).await;
    report.outcomes.into_iter().map(|(_, o)| o).collect()
}

#[tokio::test]
async fn docusign_envelopes_are_archived_once_with_one_cached_token() {
    let env = ArchiveStack::new().await;
    let server = DsServer::start().await;
    let (doc_a, doc_b) = (pdf(150_000, 3), pdf(9000, 4));
    {
        let mut s = server.state.lock().unwrap();
        s.documents.insert(ENVELOPE_A.into(), doc_a.clone());
        s.documents.insert(ENVELOPE_B.into(), doc_b.clone());
    }
    env.seed_status(Provider::DocuSign, ENVELOPE_A).await;
    env.seed_status(Provider::DocuSign, ENVELOPE_B).await;
    let creds = server.credentials();
    // No DOCUSIGN_API_BASE_URL: the base comes from userinfo.
    let app = env
        .app(
            None,
            &[
                ("DOCUSIGN_AUTH_HOST", &server.base),
                ("DOCUSIGN_API_CREDENTIALS", &creds),
            ],
        )
        .await;
    env.publish(docusign_executed(ENVELOPE_A)).await;
    env.publish(docusign_executed(ENVELOPE_A)).await;
    env.publish(docusign_executed(ENVELOPE_B)).await;
    let mut outcomes = round(&env, &app).await;
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [
            Outcome::Done("already_archived"),
            Outcome::Done("archived"),
            Outcome::Done("archived")
        ]
    );
    for (envelope, doc) in [(ENVELOPE_A, &doc_a), (ENVELOPE_B, &doc_b)] {
        let key = format!("docusign/{envelope}/combined.pdf");
        assert_eq!(app.documents.get_bytes(&key).await.unwrap(), *doc);
        let record = env.document(Provider::DocuSign, envelope).await.unwrap();
        assert_eq!(record["sha256"], sha256_hex(doc));
        assert_eq!(record["version"], "combined");
        assert_eq!(
            env.object_versions(&format!("docusign/{envelope}/"))
                .await
                .len(),
            1
        );
    }
    // A later redelivery: nothing fetched, nothing duplicated.
    env.publish(docusign_executed(ENVELOPE_B)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("already_archived")]);
    assert_eq!(env.object_versions("docusign/").await.len(), 2);
    assert_eq!(env.archived_events().await.len(), 4);
    let s = server.state.lock().unwrap();
    assert!(
        s.refused_assertions.is_empty(),
        "{:?}",
        s.refused_assertions
    );
    assert_eq!(s.token_calls, 1, "one token for every envelope");
    assert_eq!(s.userinfo_calls, 1, "the base is cached per account");
    assert_eq!(s.document_calls.len(), 2);
}

#[tokio::test]
async fn docusign_refusals_throttling_and_bad_answers_are_retried() {
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
    let server = DsServer::start().await;
    let doc = pdf(20_000, 5);
    server
        .state
        .lock()
        .unwrap()
        .documents
        .insert(ENVELOPE_A.into(), doc.clone());
    env.seed_status(Provider::DocuSign, ENVELOPE_A).await;
    let creds = server.credentials();
    let app = env
        .app(
            None,
            &[
                ("DOCUSIGN_AUTH_HOST", &server.base),
                ("DOCUSIGN_API_BASE_URL", &server.base),
                ("DOCUSIGN_API_CREDENTIALS", &creds),
            ],
        )
        .await;
    {
        let mut s = server.state.lock().unwrap();
        // A revoked token, then a 429, then an HTML page answered 200.
        s.faults.push_back(Fault::Status(401, vec![]));
        s.faults
            .push_back(Fault::Status(429, vec![("retry-after", "7".into())]));
        s.faults.push_back(Fault::Body(
            b"<html><body>Maintenance</body></html>".to_vec(),
            "text/html",
        ));
    }
    env.publish(docusign_executed(ENVELOPE_A)).await;
    // 401: a new token, the same request again, then the 429.
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "throttled",
            after_secs: 7
        }]
    );
    assert_eq!(server.state.lock().unwrap().token_calls, 2);
    env.make_visible().await;
    let outcomes = round(&env, &app).await;
    assert_eq!(
        outcomes,
        [Outcome::Retrying {
            reason: "invalid_document",
            after_secs: transient_backoff(2)
        }]
    );
    assert!(env.object_versions("docusign/").await.is_empty());
    assert!(env.document(Provider::DocuSign, ENVELOPE_A).await.is_none());
    assert_eq!(env.open_uploads().await, 0);
    env.make_visible().await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    let key = format!("docusign/{ENVELOPE_A}/combined.pdf");
    assert_eq!(app.documents.get_bytes(&key).await.unwrap(), doc);
    let s = server.state.lock().unwrap();
    assert_eq!(s.token_calls, 2, "no token call after the refresh");
    assert_eq!(s.userinfo_calls, 0, "DOCUSIGN_API_BASE_URL is used");
    // 401 + the retry (429), the HTML page, the document.
    assert_eq!(s.document_calls.len(), 4);
    assert!(
        s.refused_assertions.is_empty(),
        "{:?}",
        s.refused_assertions
    );

    // No token, assertion, key, id of the grant or DocuSign URL in any line
    // (the envelope id is logged as `subject`, like every provider's).
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("access token refused"), "{logs}");
    let key_body = KEY_PEM.lines().nth(3).unwrap();
    for secret in [
        "ds-access-token",
        // The assertion's encoded header.
        "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9",
        "PRIVATE KEY",
        key_body,
        INTEGRATION_KEY,
        USER_ID,
        // DocuSign URLs (hyper's DEBUG "connecting to" names an address, not a URL).
        "/restapi/",
        "/oauth/",
    ] {
        let line = logs.lines().find(|l| l.contains(secret));
        assert!(line.is_none(), "{secret} logged: {line:?}");
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_refused_grant_is_refused_credentials_and_nothing_is_stored() {
    let env = ArchiveStack::new().await;
    let server = DsServer::start().await;
    env.seed_status(Provider::DocuSign, ENVELOPE_A).await;
    // Another integration key: DocuSign answers invalid_grant.
    let creds =
        json!({"integration_key": "not-the-key", "user_id": USER_ID, "private_key": KEY_PEM})
            .to_string();
    let app = env
        .app(
            None,
            &[
                ("DOCUSIGN_AUTH_HOST", &server.base),
                ("DOCUSIGN_API_BASE_URL", &server.base),
                ("DOCUSIGN_API_CREDENTIALS", &creds),
            ],
        )
        .await;
    env.publish(docusign_executed(ENVELOPE_A)).await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Retrying {
            reason: "credentials_rejected",
            after_secs: archiver::batch::CREDENTIALS_BACKOFF_SECS
        }]
    );
    let s = server.state.lock().unwrap();
    assert_eq!(s.refused_assertions.len(), 1);
    assert!(s.document_calls.is_empty());
}

#[tokio::test]
async fn a_token_is_renewed_before_it_expires() {
    let env = ArchiveStack::new().await;
    let server = DsServer::start().await;
    {
        let mut s = server.state.lock().unwrap();
        // Renewed at half its life when that is shorter than the margin.
        s.expires_in = 2;
        s.documents.insert(ENVELOPE_A.into(), pdf(3000, 6));
        s.documents.insert(ENVELOPE_B.into(), pdf(3000, 7));
    }
    env.seed_status(Provider::DocuSign, ENVELOPE_A).await;
    env.seed_status(Provider::DocuSign, ENVELOPE_B).await;
    let creds = server.credentials();
    let app = env
        .app(
            None,
            &[
                ("DOCUSIGN_AUTH_HOST", &server.base),
                ("DOCUSIGN_API_BASE_URL", &server.base),
                ("DOCUSIGN_API_CREDENTIALS", &creds),
            ],
        )
        .await;
    env.publish(docusign_executed(ENVELOPE_A)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    tokio::time::sleep(std::time::Duration::from_millis(1200)).await;
    env.publish(docusign_executed(ENVELOPE_B)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    let s = server.state.lock().unwrap();
    assert_eq!(s.token_calls, 2);
    assert_eq!(s.document_calls.len(), 2, "no call was refused");
}
