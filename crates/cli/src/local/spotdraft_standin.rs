//! A LOCAL STAND-IN for SpotDraft's document API, for `contract-hooks dev`
//! when no SpotDraft credentials are configured. It is not SpotDraft: it
//! answers the two calls the archiver makes the way SpotDraft's API reference
//! documents them, for any contract id, with a generated PDF.
//!
//! - `GET /api/v2.1/public/contracts/?filter__contract_id=N` → `{"results": [{"id": "T-N"}]}`
//! - `POST /api/v2.1/public/contracts/T-N/download_link` `{"format": "PDF"}` →
//!   `{url, file_name, current_version_id}`, the URL pointing back here
//! - `GET /files/T-N/1.pdf?...` → the PDF (no credentials, like a presigned URL)
//!
//! Requests without the stand-in's `client-id` / `client-secret` get 401.

use std::net::SocketAddr;

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

/// Starts the stand-in on a free loopback port; returns its base URL.
pub async fn start() -> std::io::Result<String> {
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let base = format!("http://{}", listener.local_addr()?);
    let app = Router::new().fallback({
        let base = base.clone();
        move |request: Request| answer(base.clone(), request)
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

async fn answer(base: String, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let query = request.uri().query().unwrap_or("").to_owned();
    let method = request.method().clone();
    let headers = request.headers().clone();
    const CONTRACTS: &str = "/api/v2.1/public/contracts/";
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
        let base = start().await.unwrap();
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
        let refused = http
            .post(format!(
                "{base}/api/v2.1/public/contracts/T-1/download_link"
            ))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
    }
}
