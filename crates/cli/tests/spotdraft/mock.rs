//! A local stand-in for SpotDraft's public webhook API.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use serde_json::{json, Value};

pub const CLIENT_ID: &str = "cid-test-7f3a0c";
pub const CLIENT_SECRET: &str = "csecret-test-91bd44e2";

/// One request as received.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: BTreeMap<String, String>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// An answer given before routing (rate limit, outage, validation error).
#[derive(Debug, Clone)]
pub struct Injected {
    status: u16,
    retry_after: Option<&'static str>,
    body: String,
}

impl Injected {
    pub fn status(status: u16, body: &str) -> Self {
        Injected {
            status,
            retry_after: None,
            body: body.into(),
        }
    }

    pub fn retry_after(status: u16, secs: &'static str) -> Self {
        Injected {
            status,
            retry_after: Some(secs),
            body: r#"{"detail":"Request was throttled."}"#.into(),
        }
    }
}

/// What the server does; change it with [`Mock::with`].
#[derive(Debug, Default)]
pub struct Behaviour {
    pub hmac_key: String,
    pub next_id: u64,
    pub webhooks: BTreeMap<u64, Value>,
    pub inject: VecDeque<Injected>,
    /// Answer every DELETE with this status.
    pub delete_status: Option<u16>,
    /// Answer everything with a 302 (as for http:// or a slash mistake).
    pub redirect_all: bool,
    /// Contract ids of the workspace (digits), for re-trigger.
    pub contracts: BTreeSet<String>,
    /// Each re-trigger request SpotDraft accepted: its ids, in order.
    pub retriggered: Vec<Vec<String>>,
}

struct Shared {
    behaviour: Mutex<Behaviour>,
    seen: Mutex<Vec<Seen>>,
    base: String,
}

pub struct Mock {
    pub base: String,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Mock {
    pub fn start() -> Mock {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let shared = Arc::new(Shared {
            behaviour: Mutex::new(Behaviour {
                hmac_key: "c3BvdGRyYWZ0LW1vY2sta2V5".into(),
                next_id: 511,
                ..Behaviour::default()
            }),
            seen: Mutex::new(Vec::new()),
            base: base.clone(),
        });
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = shared.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                let app = axum::Router::new().fallback(handle).with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = rx.await;
                    })
                    .await
                    .unwrap();
            });
        });
        Mock {
            base,
            shared,
            shutdown: Some(tx),
            thread: Some(thread),
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    pub fn with<T>(&self, f: impl FnOnce(&mut Behaviour) -> T) -> T {
        f(&mut self.shared.behaviour.lock().unwrap())
    }
}

impl Drop for Mock {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn answer(status: u16, headers: &[(&str, String)], body: String) -> Response {
    let mut builder = Response::builder().status(StatusCode::from_u16(status).unwrap());
    if !body.is_empty() {
        builder = builder.header("content-type", "application/json");
    }
    for (name, value) in headers {
        builder = builder.header(*name, value);
    }
    builder.body(axum::body::Body::from(body)).unwrap()
}

fn detail(status: u16, text: &str) -> Response {
    answer(status, &[], json!({ "detail": text }).to_string())
}

const COLLECTION: &str = "/api/v2.1/public/webhooks/";
const HMAC_KEY: &str = "/api/v2.1/public/webhooks/hmac_key/";
pub const RETRIGGER: &str = "/api/v2.1/public/contracts/webhooks/re_trigger_latest/";

/// `POST …/contracts/webhooks/re_trigger_latest/` as SpotDraft's OpenAPI
/// document declares it: a body `RetriggerLatestWebhooksRequest`
/// (`contract_ids`: required array of integers), 200 `{"message":
/// "Success"}`, 404 `{"detail": "Not Found"}`. The 400 answers (DRF's
/// validation messages) and the 415 are what the framework gives; the
/// document lists only 200 and 404. Ids are read as JSON number text, so
/// ids wider than 64 bits compare digit for digit.
fn retrigger(b: &mut Behaviour, headers: &HeaderMap, body: &[u8]) -> Response {
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type != "application/json" {
        return detail(415, "Unsupported media type in request.");
    }
    let Ok(request) =
        serde_json::from_slice::<BTreeMap<String, Box<serde_json::value::RawValue>>>(body)
    else {
        return detail(400, "JSON parse error");
    };
    let Some(list) = request.get("contract_ids") else {
        return answer(
            400,
            &[],
            json!({"contract_ids": ["This field is required."]}).to_string(),
        );
    };
    let Ok(items) = serde_json::from_str::<Vec<Box<serde_json::value::RawValue>>>(list.get())
    else {
        return answer(
            400,
            &[],
            json!({"contract_ids": ["Expected a list of items but got type \"str\"."]}).to_string(),
        );
    };
    if items.is_empty() {
        return answer(
            400,
            &[],
            json!({"contract_ids": ["This list may not be empty."]}).to_string(),
        );
    }
    let mut ids = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let text = item.get();
        if text.is_empty() || !text.bytes().all(|c| c.is_ascii_digit()) {
            return answer(
                400,
                &[],
                json!({"contract_ids": {i.to_string(): ["A valid integer is required."]}})
                    .to_string(),
            );
        }
        ids.push(text.to_owned());
    }
    if ids.iter().any(|id| !b.contracts.contains(id)) {
        return detail(404, "Not Found");
    }
    b.retriggered.push(ids);
    answer(200, &[], json!({"message": "Success"}).to_string())
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    shared.seen.lock().unwrap().push(Seen {
        method: method.to_string(),
        path: path.clone(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect(),
        body: body.to_vec(),
    });
    let mut b = shared.behaviour.lock().unwrap();

    let toggled = match path.strip_suffix('/') {
        Some(without) => without.to_owned(),
        None => format!("{path}/"),
    };
    if b.redirect_all {
        return answer(
            302,
            &[("location", format!("{}{toggled}", shared.base))],
            String::new(),
        );
    }

    // Authentication: unknown client id 401, known id with a wrong secret 403.
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (header("client-id"), header("client-secret")) {
        (Some(CLIENT_ID), Some(CLIENT_SECRET)) => {}
        (Some(CLIENT_ID), _) => {
            return detail(403, "You do not have permission to perform this action.")
        }
        _ => return detail(401, "Authentication credentials were not provided."),
    }

    if let Some(injected) = b.inject.pop_front() {
        let headers: Vec<(&str, String)> = injected
            .retry_after
            .map(|s| vec![("retry-after", s.to_owned())])
            .unwrap_or_default();
        return answer(injected.status, &headers, injected.body);
    }

    match (method.as_str(), path.as_str()) {
        ("POST", RETRIGGER) => retrigger(&mut b, &headers, &body),
        ("GET", HMAC_KEY) => answer(200, &[], json!({ "hmac_key": b.hmac_key }).to_string()),
        ("POST", COLLECTION) => {
            if header("content-type") != Some("application/json") {
                return detail(415, "Unsupported media type in request.");
            }
            let Ok(request) = serde_json::from_slice::<Value>(&body) else {
                return detail(400, "JSON parse error");
            };
            let title = request["title"].as_str().unwrap_or("");
            let url = request["url"].as_str().unwrap_or("");
            let activities = request["only_for_activities"].as_array();
            if title.is_empty() {
                return detail(400, "title: This field is required.");
            }
            if !url.starts_with("https://") {
                return detail(400, "url: Non-HTTPS URLs are rejected.");
            }
            if activities.is_none_or(|a| a.is_empty()) {
                return detail(400, "only_for_activities: The list cannot be empty.");
            }
            let id = b.next_id;
            b.next_id += 1;
            let created = json!({
                "id": id,
                "title": title,
                "only_for_activities": request["only_for_activities"],
                "url": url,
                "created_by_user": {"id": 17258, "name": "API user", "email": "api@example.com"},
                "description": request["description"],
                "custom_headers": {},
                "status": "ACTIVE",
            });
            b.webhooks.insert(id, created.clone());
            answer(201, &[], created.to_string())
        }
        ("DELETE", p) if p.starts_with(COLLECTION) => {
            let rest = &p[COLLECTION.len()..];
            let Ok(id) = rest.parse::<u64>() else {
                return detail(404, "Not found.");
            };
            if let Some(status) = b.delete_status {
                return answer(
                    status,
                    &[],
                    r#"{"detail":"A server error occurred."}"#.into(),
                );
            }
            if b.webhooks.remove(&id).is_some() {
                answer(204, &[], String::new())
            } else {
                detail(404, "Not found.")
            }
        }
        // Django's APPEND_SLASH: the documented collection paths without their slash.
        (_, p)
            if format!("{p}/") == COLLECTION
                || format!("{p}/") == HMAC_KEY
                || format!("{p}/") == RETRIGGER =>
        {
            answer(
                302,
                &[("location", format!("{}{p}/", shared.base))],
                String::new(),
            )
        }
        _ => detail(404, "Not found."),
    }
}
