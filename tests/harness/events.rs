//! The events the functions are invoked with, as Lambda delivers them: SQS batches, schedules,
//! and HTTP requests signed as each provider signs them.

use base64::Engine;
use lambda_http::Request;
use serde_json::{json, Value};
use verify::{BodyFormat, Provider, SecretSet, Verifier};

use crate::{now_ms, secret_of};

/// One record of an SQS event source mapping batch, as Lambda delivers it.
/// `body: None` leaves the body out.
pub fn sqs_record(message_id: &str, body: Option<&str>, receive_count: u32) -> Value {
    let mut record = json!({
        "messageId": message_id,
        "receiptHandle": format!("rh-{message_id}"),
        "attributes": {
            "ApproximateReceiveCount": receive_count.to_string(),
            "SentTimestamp": now_ms().to_string(),
            "SenderId": "AIDAEXAMPLE",
            "ApproximateFirstReceiveTimestamp": now_ms().to_string()
        },
        "messageAttributes": {},
        "md5OfBody": "0",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:contract-hooks-events",
        "awsRegion": "us-east-1"
    });
    if let Some(body) = body {
        record["body"] = json!(body);
    }
    record
}

/// An SQS batch event of `records` (see [`sqs_record`]), as JSON.
pub fn sqs_event_json(records: Vec<Value>) -> Value {
    json!({ "Records": records })
}

/// An SQS batch event of `records`, parsed as the function's runtime does.
pub fn sqs_event(records: Vec<Value>) -> aws_lambda_events::event::sqs::SqsEvent {
    serde_json::from_value(sqs_event_json(records)).expect("a valid SQS event")
}

/// The EventBridge event a `rate(...)` schedule delivers.
pub fn scheduled_event() -> Value {
    json!({
        "version": "0",
        "id": uuid::Uuid::new_v4().to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-11-22T10:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/contract-hooks-sweep"],
        "detail": {}
    })
}

/// The headers `provider` would send for `body` signed with `secret` at `t_ms`.
pub fn signed_headers(
    provider: Provider,
    secret: &str,
    body: &[u8],
    t_ms: i64,
    format: BodyFormat,
) -> Vec<(String, String)> {
    let mut headers =
        Verifier::new(SecretSet::new(provider, [secret]).unwrap()).sign(body, t_ms, format);
    headers.push(("User-Agent".into(), format!("{provider}-webhooks/1.0")));
    if provider == Provider::Subnoto {
        headers.push((
            "X-Webhook-Id".into(),
            "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a".into(),
        ));
    }
    headers
}

/// What ingest answers a new event of `provider` with: 202, but 200 for
/// DocuSign, which counts no other code as delivered.
pub fn accepted_status(provider: Provider) -> u16 {
    match provider {
        Provider::DocuSign => 200,
        Provider::SpotDraft | Provider::Subnoto => 202,
    }
}

/// Form-encodes a JSON body as Subnoto does (`payload=<json>`).
pub fn form_encode(json: &[u8]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", std::str::from_utf8(json).unwrap())
        .finish()
        .into_bytes()
}

/// Which kind of Lambda event carries the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// API Gateway REST API (payload 1.0), stage `prod`.
    ApiGatewayV1,
    /// API Gateway HTTP API (payload 2.0), `$default` stage.
    ApiGatewayV2,
    /// Lambda function URL (payload 2.0).
    FunctionUrl,
}

impl EventKind {
    /// Every kind.
    pub const ALL: [EventKind; 3] = [
        EventKind::ApiGatewayV1,
        EventKind::ApiGatewayV2,
        EventKind::FunctionUrl,
    ];
}

/// The Lambda event JSON for an HTTP request, as API Gateway or a function URL
/// delivers it (header names lower-cased for payload 2.0; body base64-encoded
/// when `base64` or when it is not UTF-8).
pub fn http_event(
    kind: EventKind,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    base64: bool,
) -> Value {
    let (body_value, is_b64) = match std::str::from_utf8(body) {
        Ok(text) if !base64 => (Value::String(text.to_owned()), false),
        _ => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(body)),
            true,
        ),
    };
    let body_value = if body.is_empty() && !is_b64 {
        Value::Null
    } else {
        body_value
    };
    match kind {
        EventKind::ApiGatewayV1 => {
            let hdrs: serde_json::Map<String, Value> =
                headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let multi: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect();
            json!({
                "resource": "/webhooks/{provider}",
                "path": path,
                "httpMethod": method,
                "headers": hdrs,
                "multiValueHeaders": multi,
                "queryStringParameters": null,
                "multiValueQueryStringParameters": null,
                "pathParameters": {"provider": path.rsplit('/').next().unwrap_or("")},
                "stageVariables": null,
                "requestContext": {
                    "accountId": "123456789012",
                    "resourceId": "abc123",
                    "stage": "prod",
                    "requestId": uuid::Uuid::new_v4().to_string(),
                    "requestTimeEpoch": now_ms(),
                    "identity": {"sourceIp": "203.0.113.9", "userAgent": "test"},
                    "resourcePath": "/webhooks/{provider}",
                    "httpMethod": method,
                    "apiId": "abcdef1234",
                    "path": format!("/prod{path}"),
                    "protocol": "HTTP/1.1"
                },
                "body": body_value,
                "isBase64Encoded": is_b64
            })
        }
        EventKind::ApiGatewayV2 | EventKind::FunctionUrl => {
            let hdrs: serde_json::Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
                .collect();
            // A function URL (AuthType NONE) sends payload 2.0 with route key
            // `$default`, its url-id as apiId and domain prefix, no path
            // parameters and `authentication: null` (AWS Lambda developer
            // guide, "Invoking Lambda function URLs", request payload).
            let function_url = kind == EventKind::FunctionUrl;
            let domain = if function_url {
                "abcdefghijklmnopqrstuvwxyz012345.lambda-url.us-east-1.on.aws"
            } else {
                "abcdef1234.execute-api.us-east-1.amazonaws.com"
            };
            let route_key = if function_url {
                "$default"
            } else {
                "ANY /webhooks/{provider}"
            };
            let mut event = json!({
                "version": "2.0",
                "routeKey": route_key,
                "rawPath": path,
                "rawQueryString": "",
                "headers": hdrs,
                "requestContext": {
                    "accountId": "123456789012",
                    "apiId": domain.split('.').next().unwrap(),
                    "domainName": domain,
                    "domainPrefix": domain.split('.').next().unwrap(),
                    "http": {
                        "method": method,
                        "path": path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": "203.0.113.9",
                        "userAgent": "test"
                    },
                    "requestId": uuid::Uuid::new_v4().to_string(),
                    "routeKey": route_key,
                    "stage": "$default",
                    "time": "22/Nov/2026:10:00:00 +0000",
                    "timeEpoch": now_ms()
                },
                "body": body_value,
                "isBase64Encoded": is_b64
            });
            if function_url {
                event["requestContext"]["authentication"] = Value::Null;
            } else {
                event["pathParameters"] =
                    json!({"provider": path.rsplit('/').next().unwrap_or("")});
            }
            event
        }
    }
}

/// The `lambda_http` request for an event (the same parsing a deployed function does).
pub fn request(event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string()).expect("lambda_http parses the event")
}

/// A signed POST of `body` to `/webhooks/{provider}` as `kind` delivers it.
pub fn signed_request(
    kind: EventKind,
    provider: Provider,
    body: &[u8],
    format: BodyFormat,
) -> Request {
    let headers = signed_headers(provider, secret_of(provider), body, now_ms(), format);
    request(&http_event(
        kind,
        "POST",
        &format!("/webhooks/{provider}"),
        &headers,
        body,
        false,
    ))
}

/// Status and parsed JSON body of a response.
pub fn answer(response: lambda_http::Response<lambda_http::Body>) -> (u16, Value) {
    let status = response.status().as_u16();
    let body = serde_json::from_slice(response.body().as_ref()).unwrap_or(Value::Null);
    (status, body)
}
