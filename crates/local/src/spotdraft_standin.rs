//! A LOCAL STAND-IN for SpotDraft's document API, for `contract-hooks-local dev`
//! when no SpotDraft credentials are configured. It is not SpotDraft: it
//! answers the calls the archiver makes the way SpotDraft's API reference
//! documents them, for any contract id, with a generated PDF and sample
//! metadata values.
//!
//! - `GET /api/v2.1/public/contracts/?filter__contract_id=N` → `{"results": [{"id": "T-N"}]}`
//! - `POST /api/v2.1/public/contracts/T-N/download_link` `{"format": "PDF"}` →
//!   `{url, file_name, current_version_id}`, the URL pointing back here
//! - `GET /files/T-N/1.pdf?...` → the PDF (no credentials, like a presigned URL)
//! - `GET /api/v2.1/public/contracts/T-N/key_pointers` → a JSON array of
//!   `{id, value, label, field_name, data_type, format_option}`, one value of
//!   each documented `data_type` ([`key_pointers`])
//! - `POST /api/v2.1/public/contracts/webhooks/re_trigger_latest/`
//!   `{"contract_ids": [N, …]}` → 200 `{"message": "Success"}`, or 404
//!   `{"detail": "Not Found"}` when a contract has no webhook to re-send; then,
//!   like SpotDraft, it re-sends the latest webhook of each contract: in `make
//!   dev` ([`Resend`]), the body of the event that set the contract's status
//!   (status item → ledger), signed again with the dev key, to the local ingest.
//!
//! Requests without the stand-in's `client-id` / `client-secret` get 401.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, Method};
use axum::response::Response;
use axum::Router;
use serde_json::{json, Value};

/// The client id the stand-in accepts (and `dev` configures).
pub const CLIENT_ID: &str = "local-standin";
/// The client secret the stand-in accepts (a local dev value, not a secret).
pub const CLIENT_SECRET: &str = "local-standin-secret";

/// Where re-triggered webhooks come from and go to (the local stack).
#[derive(Debug, Clone)]
pub struct Resend {
    /// DynamoDB of the local stack.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// The status table (the contract's latest event).
    pub status_table: String,
    /// The ledger (that event's body, exactly as received).
    pub events_table: String,
    /// Ingest's SpotDraft URL.
    pub ingest_url: String,
    /// The workspace HMAC key (base64) the webhooks are signed with.
    pub hmac_key: String,
}

/// Path that re-sends the latest webhook of contracts.
const RETRIGGER: &str = "/api/v2.1/public/contracts/webhooks/re_trigger_latest/";

/// Starts the stand-in on a free loopback port; returns its base URL.
/// Without `resend`, re-trigger answers as documented but sends nothing.
pub async fn start(resend: Option<Resend>) -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let resend = resend.map(Arc::new);
    let app = Router::new().fallback({
        let base = base.clone();
        move |request: Request| answer(base.clone(), resend.clone(), request)
    });
    tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Ok(base)
}

fn authorised(headers: &HeaderMap) -> bool {
    let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
    get("client-id") == Some(CLIENT_ID) && get("client-secret") == Some(CLIENT_SECRET)
}

fn json_response(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

async fn answer(base: String, resend: Option<Arc<Resend>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let method = request.method().clone();
    let headers = request.headers().clone();
    const CONTRACTS: &str = "/api/v2.1/public/contracts/";
    if method == Method::POST && path == RETRIGGER {
        if !authorised(&headers) {
            return json_response(401, json!({"detail": "Invalid client credentials."}));
        }
        let body = axum::body::to_bytes(request.into_body(), 64 * 1024)
            .await
            .unwrap_or_default();
        return retrigger(resend, &headers, &body).await;
    }
    if method == Method::GET && path == CONTRACTS {
        if !authorised(&headers) {
            return json_response(401, json!({"detail": "Invalid client credentials."}));
        }
        let id = query
            .split('&')
            .find_map(|p| p.strip_prefix("filter__contract_id="))
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()));
        let results: Vec<Value> = id
            .map(|id| vec![json!({"id": format!("T-{id}")})])
            .unwrap_or_default();
        return json_response(
            200,
            json!({"count": results.len(), "next": null, "previous": null, "results": results}),
        );
    }
    if method == Method::POST && path.starts_with(CONTRACTS) && path.ends_with("/download_link") {
        if !authorised(&headers) {
            return json_response(401, json!({"detail": "Invalid client credentials."}));
        }
        let composite = &path[CONTRACTS.len()..path.len() - "/download_link".len()];
        if !composite.starts_with("T-") && !composite.starts_with("H-") {
            return json_response(404, json!({"detail": "Not found."}));
        }
        return json_response(
            200,
            json!({
                "url": format!("{base}/files/{composite}/1.pdf?X-Amz-Expires=300&X-Amz-Signature=local"),
                "file_name": format!("contract-{composite}.pdf"),
                "current_version_id": 1
            }),
        );
    }
    if method == Method::GET && path.starts_with(CONTRACTS) && path.ends_with("/key_pointers") {
        if !authorised(&headers) {
            return json_response(401, json!({"detail": "Invalid client credentials."}));
        }
        let composite = &path[CONTRACTS.len()..path.len() - "/key_pointers".len()];
        if !composite.starts_with("T-") && !composite.starts_with("H-") {
            return json_response(404, json!({"detail": "Not found."}));
        }
        return json_response(200, key_pointers(composite));
    }
    if method == Method::GET && path.starts_with("/files/") {
        let composite = path
            .trim_start_matches("/files/")
            .split('/')
            .next()
            .unwrap_or("")
            .to_owned();
        return Response::builder()
            .status(200)
            .header("content-type", "application/pdf")
            .body(Body::from(pdf(&composite)))
            .unwrap_or_default();
    }
    json_response(404, json!({"detail": "Not found."}))
}

/// Sample key pointers of a contract: one value of each documented
/// `data_type` (string, date, number, currency, duration, boolean).
pub fn key_pointers(composite: &str) -> Value {
    json!([
        {"id": 1, "field_name": "effective_date", "label": "Effective Date", "data_type": "date", "value": "2026-12-01", "format_option": "DD/MM/YYYY"},
        {"id": 2, "field_name": "expiry_date", "label": "Expiry Date", "data_type": "date", "value": "2028-11-30", "format_option": "DD/MM/YYYY"},
        {"id": 3, "field_name": "contract_value", "label": "Contract Value", "data_type": "currency", "value": {"currency": "EUR", "amount": 120000}, "format_option": null},
        {"id": 4, "field_name": "initial_term", "label": "Initial Term", "data_type": "duration", "value": {"type": "MONTHS", "value": 24}, "format_option": null},
        {"id": 5, "field_name": "seats", "label": "Seats", "data_type": "number", "value": 250, "format_option": null},
        {"id": 6, "field_name": "reference", "label": "Reference", "data_type": "string", "value": format!("local stand-in {composite}"), "format_option": null},
        {"id": 7, "field_name": "auto_renewal", "label": "Auto Renewal", "data_type": "boolean", "value": true, "format_option": null}
    ])
}

/// `re_trigger_latest`: the documented request and answers; with `resend`,
/// the latest webhook of each contract is found before answering (404 when
/// one has none) and sent after.
async fn retrigger(resend: Option<Arc<Resend>>, headers: &HeaderMap, body: &[u8]) -> Response {
    let json_body = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_body {
        return json_response(415, json!({"detail": "Unsupported media type in request."}));
    }
    let ids = serde_json::from_slice::<std::collections::HashMap<String, Value>>(body)
        .ok()
        .and_then(|mut request| request.remove("contract_ids"))
        .and_then(|ids| match ids {
            Value::Array(items) if !items.is_empty() => items
                .iter()
                .map(|i| i.as_u64().map(|n| n.to_string()))
                .collect::<Option<Vec<String>>>(),
            _ => None,
        });
    let Some(ids) = ids else {
        return json_response(
            400,
            json!({"contract_ids": ["A non-empty list of integers is required."]}),
        );
    };
    let Some(resend) = resend else {
        return json_response(200, json!({"message": "Success"}));
    };
    let mut bodies = Vec::new();
    for id in &ids {
        match latest_webhook(&resend, id).await {
            Some(body) => bodies.push((id.clone(), body)),
            None => return json_response(404, json!({"detail": "Not Found"})),
        }
    }
    // SpotDraft answers first and delivers after.
    tokio::spawn(async move {
        let http = reqwest::Client::new();
        for (id, body) in bodies {
            let Some(signature) = verify::spotdraft::sign(&resend.hmac_key, &body) else {
                eprintln!("spotdraft stand-in: the dev HMAC key is not base64; nothing re-sent");
                return;
            };
            let sent = http
                .post(&resend.ingest_url)
                .header("content-type", "application/json")
                .header(verify::spotdraft::SIGNATURE_HEADER, signature)
                .body(body)
                .send()
                .await;
            match sent {
                Ok(r) => eprintln!(
                    "spotdraft stand-in: re-sent the latest webhook of contract {id}: HTTP {}",
                    r.status()
                ),
                Err(e) => eprintln!(
                    "spotdraft stand-in: re-sending the latest webhook of contract {id} failed: {e}"
                ),
            }
        }
    });
    json_response(200, json!({"message": "Success"}))
}

/// The body, exactly as received, of the event that set contract `id`'s status.
async fn latest_webhook(resend: &Resend, id: &str) -> Option<Vec<u8>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let item = resend
        .dynamodb
        .get_item()
        .table_name(&resend.status_table)
        .key(
            store::schema::attr::PK,
            AttributeValue::S(store::StatusTable::key(verify::Provider::SpotDraft, id)),
        )
        .send()
        .await
        .ok()?
        .item?;
    let event_key = item.get(store::schema::attr::LAST_EVENT_KEY)?.as_s().ok()?;
    let ledger = store::Ledger::reader(resend.dynamodb.clone(), &resend.events_table);
    let entry = ledger.get(&format!("spotdraft#{event_key}")).await.ok()??;
    Some(entry.body)
}

/// A small valid one-page PDF naming the contract and saying where it came from.
pub fn pdf(composite: &str) -> Vec<u8> {
    let text: String = format!("contract-hooks local SpotDraft stand-in: contract {composite}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || " -:.".contains(*c))
        .collect();
    let content = format!("BT /F1 12 Tf 72 720 Td ({text}) Tj ET");
    let objects = [
        "<< /Type /Catalog /Pages 2 0 R >>".to_owned(),
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_owned(),
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>".to_owned(),
        format!("<< /Length {} >>\nstream\n{content}\nendstream", content.len()),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>".to_owned(),
    ];
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, object) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend_from_slice(format!("{} 0 obj\n{object}\nendobj\n", i + 1).as_bytes());
    }
    let xref = out.len();
    out.extend_from_slice(
        format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes(),
    );
    for o in offsets {
        out.extend_from_slice(format!("{o:010} 00000 n \n").as_bytes());
    }
    out.extend_from_slice(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn answers_the_documented_calls_with_a_pdf() {
        let base = start(None).await.unwrap();
        let http = reqwest::Client::new();
        let auth = |r: reqwest::RequestBuilder| {
            r.header("client-id", CLIENT_ID)
                .header("client-secret", CLIENT_SECRET)
        };
        let listing: Value = auth(http.get(format!("{base}{}", "/api/v2.1/public/contracts/")))
            .query(&[("filter__contract_id", "48213")])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(listing["results"][0]["id"], "T-48213");
        let link = auth(http.post(format!(
            "{base}/api/v2.1/public/contracts/T-48213/download_link"
        )))
        .json(&json!({"format": "PDF"}))
        .send()
        .await
        .unwrap();
        assert_eq!(link.status(), 200);
        let link: Value = link.json().await.unwrap();
        assert_eq!(link["current_version_id"], 1);
        let body = http
            .get(link["url"].as_str().unwrap())
            .send()
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(body.starts_with(b"%PDF-1.4") && body.ends_with(b"%%EOF\n"));
        let kp: Value = auth(http.get(format!(
            "{base}/api/v2.1/public/contracts/T-48213/key_pointers"
        )))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
        let read = archiver::keypointers::read(&kp).unwrap();
        assert_eq!(read.values.len(), 7);
        assert_eq!(read.dates.len(), 2);
        for t in archiver::keypointers::DATA_TYPES {
            assert!(read.values.iter().any(|v| v["data_type"] == t), "{t}");
        }
        let refused = http
            .post(format!(
                "{base}/api/v2.1/public/contracts/T-1/download_link"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        let retrigger = |body: Value| {
            auth(http.post(format!("{base}{RETRIGGER}")))
                .json(&body)
                .send()
        };
        let ok = retrigger(json!({"contract_ids": [48213, 48214]}))
            .await
            .unwrap();
        assert_eq!(ok.status(), 200);
        assert_eq!(
            ok.json::<Value>().await.unwrap(),
            json!({"message": "Success"})
        );
        for bad in [
            json!({}),
            json!({"contract_ids": []}),
            json!({"contract_ids": ["x"]}),
        ] {
            assert_eq!(retrigger(bad).await.unwrap().status(), 400);
        }
    }

    /// The re-send against the real thing: moto (the project's `.venv`) holds
    /// the ledger and status item ingest and the processor wrote; a loopback
    /// receiver stands for ingest and records what arrives.
    #[tokio::test]
    async fn retrigger_resends_the_latest_webhook_signed_to_ingest() {
        use std::sync::Mutex;

        let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let moto = testkit::MotoServer::start(&testkit::moto::python(&root), 0).unwrap();
        let sdk = testkit::sdk_config_for(moto.endpoint()).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let (status_table, events_table) = ("standin-status", "standin-events");
        testkit::resources::create_status_table(&dynamodb, status_table)
            .await
            .unwrap();
        testkit::resources::create_ledger_table(&dynamodb, events_table)
            .await
            .unwrap();
        // The executed contract as ingest stored it and the processor applied it.
        let body = std::fs::read(root.join("samples/spotdraft-contract-executed.json")).unwrap();
        let event =
            verify::Event::parse(verify::Provider::SpotDraft, verify::BodyFormat::Json, &body)
                .unwrap();
        store::Ledger::new(dynamodb.clone(), events_table, 30, 30_000)
            .accept(store::NewEntry {
                event: &event,
                body: body.clone(),
                headers: vec![("content-type".into(), "application/json".into())],
                received_at_ms: 1_795_341_732_000,
            })
            .await
            .unwrap();
        store::StatusTable::new(dynamodb.clone(), status_table)
            .apply_event(&event, 1_795_341_732_000)
            .await
            .unwrap();

        // "Ingest": records each request.
        type Seen = Arc<Mutex<Vec<(HeaderMap, Vec<u8>)>>>;
        let seen: Seen = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let ingest = format!(
            "http://{}/webhooks/spotdraft",
            listener.local_addr().unwrap()
        );
        let app = Router::new().fallback({
            let seen = seen.clone();
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                seen.lock().unwrap().push((headers, body.to_vec()));
                "{\"status\":\"duplicate\"}"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });

        let key = "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
        let base = start(Some(Resend {
            dynamodb,
            status_table: status_table.into(),
            events_table: events_table.into(),
            ingest_url: ingest,
            hmac_key: key.into(),
        }))
        .await
        .unwrap();
        let http = reqwest::Client::new();
        let post = |body: Value| {
            http.post(format!("{base}{RETRIGGER}"))
                .header("client-id", CLIENT_ID)
                .header("client-secret", CLIENT_SECRET)
                .json(&body)
                .send()
        };
        // A contract with no webhook: 404, nothing sent.
        let missing = post(json!({"contract_ids": [48213, 5]})).await.unwrap();
        assert_eq!(missing.status(), 404);
        assert_eq!(
            missing.json::<Value>().await.unwrap(),
            json!({"detail": "Not Found"})
        );
        let ok = post(json!({"contract_ids": [48213]})).await.unwrap();
        assert_eq!(ok.status(), 200);
        for _ in 0..100 {
            if !seen.lock().unwrap().is_empty() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen.len(), 1, "one re-send, none for the 404");
        let (headers, sent) = &seen[0];
        assert_eq!(sent, &body, "the stored body, byte for byte");
        let headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
            .collect();
        assert_eq!(
            verify::spotdraft::sign(key, &body).as_deref(),
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(verify::spotdraft::SIGNATURE_HEADER))
                .map(|(_, v)| v.as_str()),
            "signed with the workspace key"
        );
        drop(moto);
    }
}
