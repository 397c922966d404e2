//! The shapes AWS hands a function: API Gateway REST (1.0) and HTTP API (2.0)
//! requests, SQS records, and EventBridge events.

use base64::Engine;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use verify::Event;

use super::fixtures::*;

/// Which API Gateway payload carries a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Api {
    /// REST API, payload format 1.0, stage `prod`.
    V1,
    /// HTTP API, payload format 2.0, `$default` stage (what template.yaml deploys).
    V2,
}

impl Api {
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Api::V1 => "apigw-v1",
            Api::V2 => "apigw-v2",
        }
    }
}

/// An HTTP request as the provider sends it.
pub(super) struct HttpRequest {
    pub(super) method: &'static str,
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

/// The EventBridge event an SQS target receives (the archive rule delivers
/// the whole event).
pub(super) fn eventbridge_body(
    seed: &str,
    detail_type: &str,
    detail: &str,
    clock: &Clock,
) -> String {
    let detail: Value = serde_json::from_str(detail).expect("details are JSON");
    json!({
        "version": "0",
        "id": id_from(seed),
        "detail-type": detail_type,
        "source": domain::events::SOURCE,
        "account": ACCOUNT,
        "time": clock.rfc3339,
        "region": REGION,
        "resources": [],
        "detail": detail
    })
    .to_string()
}

/// One archive-queue record as the event source mapping delivers it: sent by
/// EventBridge, no message attributes.
pub(super) fn archive_record(seed: &str, body: &str, clock: &Clock) -> Value {
    json!({
        "messageId": id_from(seed),
        "receiptHandle": format!("AQEB{}", base64::engine::general_purpose::STANDARD.encode(verify::dedup_key_for_bytes(seed.as_bytes()))),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": clock.t_ms.to_string(),
            "SenderId": "AIDAEXAMPLEEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": (clock.t_ms + 20).to_string()
        },
        "messageAttributes": {},
        "md5OfBody": md5::hex(body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": ARCHIVE_QUEUE_ARN,
        "awsRegion": REGION
    })
}

/// One SQS record as the event source mapping delivers it.
pub(super) fn sqs_record(
    seed: &str,
    body: &str,
    event: Option<&Event>,
    label: &str,
    clock: &Clock,
) -> Value {
    let mut attributes: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(event) = event {
        attributes.insert("provider", event.provider.as_str());
        attributes.insert("event_type", &event.event_type);
    } else {
        attributes.insert("provider", "spotdraft");
        attributes.insert("event_type", label);
    }
    let message_attributes: Map<String, Value> = attributes
        .iter()
        .map(|(name, value)| {
            (
                (*name).to_owned(),
                json!({
                    "stringValue": value,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "String"
                }),
            )
        })
        .collect();
    let digest = md5::hex(&md5::message_attributes_bytes(&attributes));
    json!({
        "messageId": id_from(seed),
        "receiptHandle": format!("AQEB{}", base64::engine::general_purpose::STANDARD.encode(verify::dedup_key_for_bytes(seed.as_bytes()))),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": clock.t_ms.to_string(),
            "SenderId": "AROAEXAMPLEROLEID:contract-hooks-ingest",
            "ApproximateFirstReceiveTimestamp": (clock.t_ms + 20).to_string()
        },
        "messageAttributes": message_attributes,
        "md5OfMessageAttributes": digest,
        "md5OfBody": md5::hex(body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION
    })
}

/// The event JSON API Gateway hands to Lambda for `request`.
pub(super) fn http_event(
    api: Api,
    seed: &str,
    request: &HttpRequest,
    base64: bool,
    clock: &Clock,
) -> Value {
    let (body, is_base64) = match std::str::from_utf8(&request.body) {
        _ if request.body.is_empty() => (Value::Null, false),
        Ok(text) if !base64 => (Value::String(text.to_owned()), false),
        _ => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(&request.body)),
            true,
        ),
    };
    let host = format!("{API_ID}.execute-api.{REGION}.amazonaws.com");
    let request_id = id_from(seed);
    let trace = format!(
        "Root=1-{:08x}-{}",
        clock.t_ms / 1000,
        &verify::dedup_key_for_bytes(seed.as_bytes())[..24]
    );
    // What the gateway adds to the provider's headers.
    let mut headers = request.headers.clone();
    if !request.body.is_empty() {
        headers.push(("Content-Length".to_owned(), request.body.len().to_string()));
    }
    headers.push(("Host".to_owned(), host.clone()));
    headers.push(("X-Amzn-Trace-Id".to_owned(), trace));
    headers.push(("X-Forwarded-For".to_owned(), SOURCE_IP.to_owned()));
    headers.push(("X-Forwarded-Port".to_owned(), "443".to_owned()));
    headers.push(("X-Forwarded-Proto".to_owned(), "https".to_owned()));
    let user_agent = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let provider = request.path.rsplit('/').next().unwrap_or_default();
    match api {
        Api::V1 => {
            let single: Map<String, Value> =
                headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let multi: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect();
            json!({
                "resource": "/webhooks/{provider}",
                "path": request.path,
                "httpMethod": request.method,
                "headers": single,
                "multiValueHeaders": multi,
                "queryStringParameters": null,
                "multiValueQueryStringParameters": null,
                "pathParameters": {"provider": provider},
                "stageVariables": null,
                "requestContext": {
                    "accountId": ACCOUNT,
                    "apiId": API_ID,
                    "domainName": host,
                    "domainPrefix": API_ID,
                    "extendedRequestId": short_id(seed),
                    "httpMethod": request.method,
                    "identity": {
                        "accessKey": null,
                        "accountId": null,
                        "caller": null,
                        "cognitoAuthenticationProvider": null,
                        "cognitoAuthenticationType": null,
                        "cognitoIdentityId": null,
                        "cognitoIdentityPoolId": null,
                        "principalOrgId": null,
                        "sourceIp": SOURCE_IP,
                        "user": null,
                        "userAgent": user_agent,
                        "userArn": null
                    },
                    "path": format!("/prod{}", request.path),
                    "protocol": "HTTP/1.1",
                    "requestId": request_id,
                    "requestTime": clock.clf,
                    "requestTimeEpoch": clock.t_ms,
                    "resourceId": "a1b2c3",
                    "resourcePath": "/webhooks/{provider}",
                    "stage": "prod"
                },
                "body": body,
                "isBase64Encoded": is_base64
            })
        }
        Api::V2 => {
            let lower: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
                .collect();
            let route = "POST /webhooks/{provider}";
            json!({
                "version": "2.0",
                "routeKey": route,
                "rawPath": request.path,
                "rawQueryString": "",
                "headers": lower,
                "pathParameters": {"provider": provider},
                "requestContext": {
                    "accountId": ACCOUNT,
                    "apiId": API_ID,
                    "domainName": host,
                    "domainPrefix": API_ID,
                    "http": {
                        "method": request.method,
                        "path": request.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": SOURCE_IP,
                        "userAgent": user_agent
                    },
                    "requestId": short_id(seed),
                    "routeKey": route,
                    "stage": "$default",
                    "time": clock.clf,
                    "timeEpoch": clock.t_ms
                },
                "body": body,
                "isBase64Encoded": is_base64
            })
        }
    }
}
