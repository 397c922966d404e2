//! A local server reproducing the provider calls the archiver makes, as
//! documented: SpotDraft's contracts listing, `download_link` and the
//! temporary URL it answers; Subnoto's `envelope/get` and
//! `envelope/get-document` behind its proxy. It records every request
//! (method, path, query, headers, body) and answers from a script of faults,
//! so tests assert exactly what was sent and how each failure is met.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// SpotDraft credentials the server accepts.
pub const CLIENT_ID: &str = "test-client-id";
/// See [`CLIENT_ID`].
pub const CLIENT_SECRET: &str = "test-client-secret-do-not-log";
/// Subnoto keys the proxy accepts.
pub const ACCESS_KEY: &str = "AK-test";
/// See [`ACCESS_KEY`].
pub const SECRET_KEY: &str = "SK-test-do-not-log";
/// The signature part of every temporary URL (must never be logged).
pub const URL_SIGNATURE: &str = "X-Amz-Signature=tmp-url-secret";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// Method.
    pub method: Method,
    /// Path.
    pub path: String,
    /// Query string.
    pub query: Option<String>,
    /// Headers.
    pub headers: HeaderMap,
    /// Body.
    pub body: Vec<u8>,
}

impl Seen {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The body as JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }
}

/// Which call a fault applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `GET /api/v2.1/public/contracts/?filter__contract_id=`.
    Listing,
    /// `POST .../download_link`.
    Link,
    /// `GET` of the temporary URL.
    Document,
    /// `GET .../key_pointers`.
    KeyPointers,
    /// Subnoto `POST /public/envelope/get`.
    Envelope,
    /// Subnoto `POST /public/envelope/get-document`.
    SubnotoDocument,
}

/// A scripted answer.
#[derive(Debug, Clone)]
pub enum Fault {
    /// This status, with these headers and an empty JSON error body.
    Status(u16, Vec<(&'static str, String)>),
    /// Wait, then answer normally.
    Stall(Duration),
    /// Answer the document as a chunked body (no Content-Length) of this many bytes.
    Chunked(usize),
    /// Answer 200 with this body and these headers instead (a hostile or
    /// broken answer: HTML, empty, a wrong checksum).
    Body(Vec<u8>, Vec<(&'static str, String)>),
    /// Answer the document's first `first` bytes at once, then one byte per
    /// `every` (chunked, no Content-Length).
    Trickle {
        /// Bytes sent at once.
        first: usize,
        /// Pause before each later byte.
        every: Duration,
    },
    /// `download_link` answers this `url` (the rest as usual).
    LinkUrl(String),
    /// `download_link` answers a valid link padded to this many bytes of
    /// JSON, chunked (no Content-Length).
    HugeLink(usize),
}

/// The server's state.
#[derive(Debug)]
pub struct ServerState {
    /// Every request, in order.
    pub seen: Vec<Seen>,
    /// Faults: the first one whose route matches a request is used, once.
    pub faults: VecDeque<(Route, Fault)>,
    /// The contract's composite id (`T-…` or `H-…`).
    pub composite: String,
    /// `current_version_id`.
    pub version: u64,
    /// The document served.
    pub document: Vec<u8>,
    /// Subnoto: the envelope's document uuid.
    pub subnoto_document: String,
    /// The contract's key pointers (`GET .../key_pointers` answers them).
    pub key_pointers: Value,
    base: String,
    links: u32,
}

/// A running provider server.
#[derive(Clone)]
pub struct ProviderServer {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Its state.
    pub state: Arc<Mutex<ServerState>>,
}

/// Key pointers of every documented `data_type`, as SpotDraft answers them:
/// a JSON array of `{id, value, label, field_name, data_type, format_option}`.
pub fn key_pointers_of_every_type() -> Value {
    json!([
        {"id": 101, "field_name": "effective_date", "label": "Effective Date", "data_type": "date", "value": "2026-12-01", "format_option": "DD/MM/YYYY"},
        {"id": 102, "field_name": "expiry_date", "label": "Expiry Date", "data_type": "date", "value": "2028-11-30T00:00:00Z", "format_option": null},
        {"id": 103, "field_name": "contract_value", "label": "Contract Value", "data_type": "currency", "value": {"currency": "EUR", "amount": 120000.5}, "format_option": null},
        {"id": 104, "field_name": "initial_term", "label": "Initial Term", "data_type": "duration", "value": {"type": "MONTHS", "value": 24}, "format_option": null},
        {"id": 105, "field_name": "seats", "label": "Seats", "data_type": "number", "value": 250, "format_option": null},
        {"id": 106, "field_name": "governing_law", "label": "Governing Law", "data_type": "string", "value": "England and Wales", "format_option": null},
        {"id": 107, "field_name": "auto_renewal", "label": "Auto Renewal", "data_type": "boolean", "value": true, "format_option": null}
    ])
}

/// A deterministic fake PDF of `len` bytes (at least the header).
pub fn pdf(len: usize, seed: u8) -> Vec<u8> {
    let mut out = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n".to_vec();
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        out.push((x & 0xff) as u8);
    }
    out.truncate(len.max(8));
    out
}

impl ProviderServer {
    /// Starts a server for SpotDraft contract `composite` (e.g. `T-48213`).
    pub async fn start(composite: &str, document: Vec<u8>) -> ProviderServer {
        let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
            .await
            .unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(ServerState {
            seen: Vec::new(),
            faults: VecDeque::new(),
            composite: composite.into(),
            version: 1,
            document,
            subnoto_document: "0a1b2c3d-4e5f-4a6b-8c7d-9e8f7a6b5c4d".into(),
            key_pointers: key_pointers_of_every_type(),
            base: base.clone(),
            links: 0,
        }));
        let app = Router::new().fallback(answer).with_state(state.clone());
        tokio::spawn(async move {
            axum::serve(listener, app).await.ok();
        });
        ProviderServer { base, state }
    }

    /// Adds a fault.
    pub fn fault(&self, route: Route, fault: Fault) {
        self.state.lock().unwrap().faults.push_back((route, fault));
    }

    /// Sets the version and document served from now on.
    pub fn serve(&self, version: u64, document: Vec<u8>) {
        let mut s = self.state.lock().unwrap();
        s.version = version;
        s.document = document;
    }

    /// Sets the key pointers answered from now on.
    pub fn serve_key_pointers(&self, values: Value) {
        self.state.lock().unwrap().key_pointers = values;
    }

    /// The requests so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Requests to `route` so far.
    pub fn count(&self, route: Route) -> usize {
        self.seen()
            .iter()
            .filter(|s| route_of(s) == Some(route))
            .count()
    }
}

fn route_of(seen: &Seen) -> Option<Route> {
    let p = seen.path.as_str();
    match (&seen.method, p) {
        (&Method::GET, "/api/v2.1/public/contracts/") => Some(Route::Listing),
        (&Method::POST, _)
            if p.starts_with("/api/v2.1/public/contracts/") && p.ends_with("/download_link") =>
        {
            Some(Route::Link)
        }
        (&Method::GET, _)
            if p.starts_with("/api/v2.1/public/contracts/") && p.ends_with("/key_pointers") =>
        {
            Some(Route::KeyPointers)
        }
        (&Method::GET, _) if p.starts_with("/files/") => Some(Route::Document),
        (&Method::POST, "/public/envelope/get") => Some(Route::Envelope),
        (&Method::POST, "/public/envelope/get-document") => Some(Route::SubnotoDocument),
        _ => None,
    }
}

fn json_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap()
}

async fn answer(State(state): State<Arc<Mutex<ServerState>>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, usize::MAX)
        .await
        .unwrap_or_default()
        .to_vec();
    let seen = Seen {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers.clone(),
        body,
    };
    let route = route_of(&seen);
    let fault = {
        let mut s = state.lock().unwrap();
        s.seen.push(seen.clone());
        let at = s.faults.iter().position(|(r, _)| Some(*r) == route);
        at.and_then(|i| s.faults.remove(i)).map(|(_, f)| f)
    };
    let Some(route) = route else {
        return json_response(404, json!({"detail": "Not found."}));
    };
    let mut chunked = None;
    let mut link_url = None;
    let mut huge_link = None;
    let mut trickle = None;
    match fault {
        Some(Fault::Body(body, headers)) => {
            let mut r = Response::builder().status(200);
            for (k, v) in headers {
                r = r.header(k, v);
            }
            return r.body(Body::from(body)).unwrap();
        }
        Some(Fault::Trickle { first, every }) => trickle = Some((first, every)),
        Some(Fault::LinkUrl(url)) => link_url = Some(url),
        Some(Fault::HugeLink(n)) => huge_link = Some(n),
        Some(Fault::Status(code, headers)) => {
            let mut r = Response::builder()
                .status(code)
                .header("content-type", "application/json");
            for (k, v) in headers {
                r = r.header(k, v);
            }
            return r.body(Body::from(r#"{"detail":"scripted"}"#)).unwrap();
        }
        Some(Fault::Stall(d)) => tokio::time::sleep(d).await,
        Some(Fault::Chunked(n)) => chunked = Some(n),
        None => {}
    }
    let spotdraft_auth = seen.header("client-id") == Some(CLIENT_ID)
        && seen.header("client-secret") == Some(CLIENT_SECRET);
    let subnoto_auth =
        seen.header("authorization") == Some(&format!("Bearer {ACCESS_KEY}:{SECRET_KEY}"));
    let mut s = state.lock().unwrap();
    match route {
        Route::Listing => {
            if !spotdraft_auth {
                return json_response(
                    401,
                    json!({"detail": "Authentication credentials were not provided."}),
                );
            }
            let wanted = seen
                .query
                .as_deref()
                .and_then(|q| q.strip_prefix("filter__contract_id="))
                .unwrap_or("");
            let results: Vec<Value> = if s.composite.split_once('-').map(|(_, id)| id)
                == Some(wanted)
            {
                vec![
                    json!({"id": s.composite, "contract_status": "EXECUTED", "title": "Master Services Agreement"}),
                ]
            } else {
                vec![]
            };
            json_response(
                200,
                json!({"count": results.len(), "next": null, "previous": null, "results": results}),
            )
        }
        Route::Link => {
            if !spotdraft_auth {
                return json_response(401, json!({"detail": "Invalid client credentials."}));
            }
            let composite = seen
                .path
                .trim_start_matches("/api/v2.1/public/contracts/")
                .trim_end_matches("/download_link")
                .to_owned();
            if composite != s.composite {
                return json_response(404, json!({"detail": "Not found."}));
            }
            s.links += 1;
            let url = link_url.unwrap_or_else(|| {
                format!(
                    "{}/files/{}/{}.pdf?X-Amz-Expires=300&{URL_SIGNATURE}-{}",
                    s.base, composite, s.version, s.links
                )
            });
            let answer = json!({"url": url, "file_name": "Master Services Agreement - Jane Doe.pdf", "current_version_id": s.version});
            match huge_link {
                None => json_response(200, answer),
                Some(n) => {
                    // {"padding": "xxx…", <the answer's fields>}, streamed.
                    let head = b"{\"padding\": \"".to_vec();
                    let tail = format!("\", {}", &answer.to_string()[1..]).into_bytes();
                    let pad = n.saturating_sub(head.len() + tail.len());
                    let mut chunks: Vec<Result<Vec<u8>, std::io::Error>> = vec![Ok(head)];
                    chunks.extend(
                        (0..pad.div_ceil(65536))
                            .map(|i| Ok(vec![b'x'; 65536.min(pad - i * 65536)])),
                    );
                    chunks.push(Ok(tail));
                    Response::builder()
                        .status(200)
                        .header("content-type", "application/json")
                        .body(Body::from_stream(futures::stream::iter(chunks)))
                        .unwrap()
                }
            }
        }
        Route::KeyPointers => {
            if !spotdraft_auth {
                return json_response(401, json!({"detail": "Invalid client credentials."}));
            }
            let composite = seen
                .path
                .trim_start_matches("/api/v2.1/public/contracts/")
                .trim_end_matches("/key_pointers");
            if composite != s.composite {
                return json_response(404, json!({"detail": "Not found."}));
            }
            json_response(200, s.key_pointers.clone())
        }
        Route::Document => {
            let document = s.document.clone();
            drop(s);
            if let Some((first, every)) = trickle {
                let rest = document[first..].to_vec();
                let head = futures::stream::once(async move {
                    Ok::<_, std::io::Error>(document[..first].to_vec())
                });
                let drip = futures::stream::unfold(rest.into_iter(), move |mut bytes| async move {
                    tokio::time::sleep(every).await;
                    let b = bytes.next()?;
                    Some((Ok::<_, std::io::Error>(vec![b]), bytes))
                });
                return Response::builder()
                    .status(200)
                    .header("content-type", "application/pdf")
                    .body(Body::from_stream(futures::StreamExt::chain(head, drip)))
                    .unwrap();
            }
            match chunked {
                Some(n) => {
                    // A PDF's signature, then filler.
                    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = (0..n.div_ceil(65536))
                        .map(|i| {
                            let mut c = vec![b'x'; 65536.min(n - i * 65536)];
                            if i == 0 {
                                let sig = b"%PDF-1.7\n";
                                let k = sig.len().min(c.len());
                                c[..k].copy_from_slice(&sig[..k]);
                            }
                            Ok(c)
                        })
                        .collect();
                    Response::builder()
                        .status(200)
                        .header("content-type", "application/pdf")
                        .body(Body::from_stream(futures::stream::iter(chunks)))
                        .unwrap()
                }
                None => Response::builder()
                    .status(StatusCode::OK)
                    .header("content-type", "application/pdf")
                    .body(Body::from(document))
                    .unwrap(),
            }
        }
        Route::Envelope => {
            if !subnoto_auth {
                return json_response(401, json!({"error": "unauthorized"}));
            }
            let body = seen.json();
            json_response(
                200,
                json!({
                    "uuid": body["envelopeUuid"], "status": "COMPLETED", "title": "NDA",
                    "documents": [{"uuid": s.subnoto_document, "title": "NDA.pdf"}]
                }),
            )
        }
        Route::SubnotoDocument => {
            if !subnoto_auth {
                return json_response(401, json!({"error": "unauthorized"}));
            }
            if seen.json()["documentUuid"] != json!(s.subnoto_document) {
                return json_response(404, json!({"error": "document not found"}));
            }
            Response::builder()
                .status(200)
                .header("content-type", "application/pdf")
                .body(Body::from(s.document.clone()))
                .unwrap()
        }
    }
}
