//! Test harness: moto (DynamoDB, SQS, Secrets Manager) in server mode on a free
//! loopback port, uniquely named resources per test, signed requests, and real
//! API Gateway v1 / v2 / function-URL events turned into `lambda_http` requests.
//!
//! moto comes from the project's virtualenv (`make venv`). When it is missing the
//! harness panics with instructions: integration tests never skip.
//!
//! [`faults`] puts a fault-injecting proxy between the functions and moto;
//! [`child`] runs part of a test in a process of its own (crash, log capture).
//!
//! The functions a [`Stack`] builds ([`Stack::ingest`], [`Stack::processor`])
//! talk to moto through recorders, and when the stack is dropped every call
//! they made is checked against the function's role in `template.yaml`
//! ([`iam`]); a call the role does not allow fails the test.

pub mod cfn;
pub mod child;
pub mod eventbridge;
pub mod faults;
pub mod iam;

use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use lambda_http::Request;
use serde_json::{json, Value};
use store::{AwsClients, CallCounter, Config, SecretsSource};
use verify::{BodyFormat, Provider, SecretSet, Verifier};

/// The SpotDraft test key (base64), as in `vectors/signatures.json`.
pub const SPOTDRAFT_KEY: &str =
    "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
/// A second SpotDraft key, for rotation.
pub const SPOTDRAFT_KEY_NEXT: &str = "bmV4dC1zcG90ZHJhZnQta2V5LTIyMjIyMjIyMjIyMjIyMjI=";
/// The Subnoto test secret, as in `vectors/signatures.json`.
pub const SUBNOTO_SECRET: &str = "whsec_subnoto_public_test_secret_0001";
/// A second Subnoto secret, for rotation.
pub const SUBNOTO_SECRET_NEXT: &str = "whsec_subnoto_next_secret_0002";
/// The DocuSign Connect test key (used as text, as DocuSign does), as in the
/// vectors.
pub const DOCUSIGN_KEY: &str = "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=";

/// The secrets document for the test secrets.
pub fn secrets_json() -> String {
    json!({"spotdraft": [SPOTDRAFT_KEY], "subnoto": [SUBNOTO_SECRET], "docusign": [DOCUSIGN_KEY]})
        .to_string()
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `samples/` in the repository: the providers' realistic payloads.
pub fn samples_dir() -> PathBuf {
    let dir = repo_root().join("samples");
    assert!(
        dir.is_dir(),
        "samples not found at {} (tracked in git)",
        dir.display()
    );
    dir
}

/// A provider sample's exact bytes.
pub fn sample(name: &str) -> Vec<u8> {
    let path = samples_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Every sample file name with its provider.
pub fn samples() -> Vec<(Provider, String)> {
    let mut names: Vec<String> = std::fs::read_dir(samples_dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no samples found");
    names
        .into_iter()
        .map(|n| (n.split('-').next().unwrap().parse().unwrap(), n))
        .collect()
}

/// A running moto server.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    /// The server (none when the parent process owns it).
    _server: Option<testkit::MotoServer>,
}

/// The process-wide moto server, started on first use on a free loopback port.
/// It stops when this test process exits (it watches its standard input). A
/// child process ([`child`]) uses its parent's instead.
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| {
        if let Ok(endpoint) = std::env::var(child::MOTO_ENDPOINT_ENV) {
            return Moto {
                endpoint,
                _server: None,
            };
        }
        let server = testkit::MotoServer::start(&testkit::moto::python(&repo_root()), 0)
            .unwrap_or_else(|e| panic!("{e}; integration tests need moto[server] and never skip"));
        Moto {
            endpoint: server.endpoint().to_owned(),
            _server: Some(server),
        }
    })
}

/// SDK configuration pointing at `endpoint` with dummy credentials and the
/// project's timeouts and retries.
pub async fn sdk_config_for(endpoint: &str) -> SdkConfig {
    testkit::sdk_config_for(endpoint).await
}

/// Clients for a function under test whose AWS traffic goes to `endpoint`
/// (typically a [`faults::FaultProxy`]): the project's timeouts and retries
/// ([`sdk_config_for`]) and a call counter, built as [`AwsClients::new`] does,
/// plus a retry partition of their own. The SDK's standard retry quota (a token
/// bucket) is process-wide per partition; a Lambda sandbox has its own process,
/// so without this, faults injected by one test would drain the retry quota of
/// the next and make its retry counts depend on test order.
pub async fn clients_via(endpoint: &str) -> AwsClients {
    tagged_clients_via(endpoint, None).await
}

/// [`clients_via`] for `function`: every request carries the function's name
/// ([`iam::FUNCTION_HEADER`]), so a proxy shared by several functions' clients
/// can tell whose call it saw ([`iam::by_function`]).
pub async fn function_clients_via(endpoint: &str, function: iam::Function) -> AwsClients {
    tagged_clients_via(endpoint, Some(function)).await
}

async fn tagged_clients_via(endpoint: &str, function: Option<iam::Function>) -> AwsClients {
    use aws_sdk_dynamodb::config::retry::RetryPartition;
    let tag = iam::FunctionTag(function);
    let sdk = sdk_config_for(endpoint).await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let partition = |service: &str| RetryPartition::new(format!("{service}-{id}"));
    let calls = CallCounter::default();
    AwsClients {
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(&sdk)
                .retry_partition(partition("dynamodb"))
                .interceptor(calls.clone())
                .interceptor(tag)
                .build(),
        ),
        sqs: aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::from(&sdk)
                .retry_partition(partition("sqs"))
                .interceptor(calls.clone())
                .interceptor(tag)
                .build(),
        ),
        secrets: aws_sdk_secretsmanager::Client::from_conf(
            aws_sdk_secretsmanager::config::Builder::from(&sdk)
                .retry_partition(partition("secretsmanager"))
                .interceptor(calls.clone())
                .interceptor(tag)
                .build(),
        ),
        events: aws_sdk_eventbridge::Client::from_conf(
            aws_sdk_eventbridge::config::Builder::from(&sdk)
                .retry_partition(partition("eventbridge"))
                .interceptor(calls.clone())
                .interceptor(tag)
                .build(),
        ),
        calls,
    }
}

/// Prints one line of figures for `RELIABILITY.md` (seen with `--nocapture`).
pub fn figures(case: &str, figures: Value) {
    eprintln!("RELIABILITY {}", json!({"case": case, "figures": figures}));
}

/// A fresh, uniquely named set of resources in moto.
///
/// Dropping it checks the calls of the functions it built against their roles
/// (see [`Stack::check_roles`]).
pub struct Stack {
    /// Name prefix of every resource.
    pub name: String,
    /// Clients pointing at moto.
    pub clients: AwsClients,
    /// Ledger table name.
    pub events_table: String,
    /// Status table name.
    pub status_table: String,
    /// Queue URL.
    pub queue_url: String,
    /// Dead-letter queue URL.
    pub dlq_url: String,
    /// The functions' own clients, each behind a recorder.
    roles: Vec<(iam::RoleRecorder, AwsClients)>,
    /// Refusals a test causes on purpose: (function, text in the resource).
    expected_refusals: Mutex<Vec<(iam::Function, String)>>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        // A test that already failed says why; a second panic would abort.
        if !std::thread::panicking() {
            if let Err(refused) = self.check_roles() {
                panic!("{refused}");
            }
        }
    }
}

impl Stack {
    /// Creates the tables and queues under a unique name.
    pub async fn new() -> Stack {
        let sdk = sdk_config_for(&moto().endpoint).await;
        let clients = AwsClients::new(&sdk);
        let name = format!("t{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
        let events_table = format!("{name}-events");
        let status_table = format!("{name}-status");
        testkit::resources::create_ledger_table(&clients.dynamodb, &events_table)
            .await
            .unwrap();
        testkit::resources::create_status_table(&clients.dynamodb, &status_table)
            .await
            .unwrap();
        let (queue_url, dlq_url) =
            testkit::resources::create_queues(&clients.sqs, &format!("{name}-queue"))
                .await
                .unwrap();
        let mut roles = Vec::new();
        for function in [iam::Function::Ingest, iam::Function::Processor] {
            let recorder = iam::RoleRecorder::start(function);
            let clients = clients_via(recorder.endpoint()).await;
            roles.push((recorder, clients));
        }
        Stack {
            name,
            clients,
            events_table,
            status_table,
            queue_url,
            dlq_url,
            roles,
            expected_refusals: Mutex::new(Vec::new()),
        }
    }

    /// The clients [`Stack::ingest`] / [`Stack::processor`] give `function`:
    /// moto through a recorder whose calls [`Stack::check_roles`] checks.
    pub fn function_clients(&self, function: iam::Function) -> &AwsClients {
        &self
            .roles
            .iter()
            .find(|(r, _)| r.function == function)
            .unwrap_or_else(|| panic!("the stack builds no {}", function.name()))
            .1
    }

    /// The names this stack gives the template's resources.
    pub fn deployed(&self) -> iam::Deployed {
        iam::Deployed {
            name: self.name.clone(),
        }
    }

    /// Declares that `function` is pointed, on purpose, at a resource outside
    /// this stack whose ARN contains `resource`: its calls there are not held
    /// against the role (on AWS they would be refused, which is what such a
    /// test stands for: the resource is unusable).
    pub fn expect_refused(&self, function: iam::Function, resource: &str) {
        self.expected_refusals
            .lock()
            .unwrap()
            .push((function, resource.to_owned()));
    }

    /// Every call the functions made through [`Stack::function_clients`],
    /// checked against their roles: `Ok` with the authorizations made per
    /// function, or `Err` naming each call a role does not allow.
    pub fn check_roles(
        &self,
    ) -> Result<
        Vec<(
            iam::Function,
            std::collections::BTreeSet<iam::Authorization>,
        )>,
        String,
    > {
        let expected = self.expected_refusals.lock().unwrap().clone();
        let deployed = self.deployed();
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for (recorder, _) in &self.roles {
            let function = recorder.function;
            let outside: Vec<String> = expected
                .iter()
                .filter(|(f, _)| *f == function)
                .map(|(_, r)| r.clone())
                .collect();
            match iam::check_calls(function, recorder.calls(), &deployed, &outside) {
                Ok(auths) => out.push((function, auths)),
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(errors.join("\n"))
        }
    }

    /// The configuration the functions would read, plus `extra` variables.
    pub fn config(&self, extra: &[(&str, &str)]) -> Config {
        let mut vars: std::collections::HashMap<String, String> = [
            ("EVENTS_TABLE", self.events_table.as_str()),
            ("STATUS_TABLE", self.status_table.as_str()),
            ("QUEUE_URL", self.queue_url.as_str()),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        if !extra.iter().any(|(k, _)| k.starts_with("WEBHOOK_SECRETS")) {
            vars.insert("WEBHOOK_SECRETS".into(), secrets_json());
        }
        for (k, v) in extra {
            vars.insert(k.to_string(), v.to_string());
        }
        Config::from_lookup(|k| vars.get(k).cloned()).unwrap()
    }

    /// An ingest app over this stack (its calls checked against `IngestRole`).
    pub async fn ingest(&self, extra: &[(&str, &str)]) -> ingest::App {
        ingest::App::new(
            &self.config(extra),
            self.function_clients(iam::Function::Ingest),
        )
        .await
        .unwrap()
    }

    /// An ingest app over this stack using `clients` (e.g. [`clients_via`] a
    /// fault proxy); the error is the one the function's init would fail with.
    pub async fn ingest_with(
        &self,
        clients: &AwsClients,
        extra: &[(&str, &str)],
    ) -> Result<ingest::App, ingest::InitError> {
        ingest::App::new(&self.config(extra), clients).await
    }

    /// A processor app over this stack using `clients`.
    pub fn processor_with(&self, clients: &AwsClients, extra: &[(&str, &str)]) -> processor::App {
        processor::App::new(&self.config(extra), clients)
    }

    /// The ledger of this stack.
    pub fn ledger(&self) -> store::Ledger {
        store::Ledger::new(
            self.clients.dynamodb.clone(),
            &self.events_table,
            30,
            30_000,
        )
    }

    /// The status table of this stack, read with the test's own clients (not
    /// a function's: a test's reads are not the function's calls).
    pub fn status_table(&self) -> store::StatusTable {
        store::StatusTable::new(self.clients.dynamodb.clone(), &self.status_table)
    }

    /// Number of ledger items (scan).
    pub async fn ledger_count(&self) -> usize {
        let out = self
            .clients
            .dynamodb
            .scan()
            .table_name(&self.events_table)
            .select(aws_sdk_dynamodb::types::Select::Count)
            .send()
            .await
            .unwrap();
        out.count() as usize
    }

    /// Messages currently visible on `queue_url` (moto's count is exact).
    pub async fn queue_depth(&self, queue_url: &str) -> usize {
        use aws_sdk_sqs::types::QueueAttributeName as A;
        let out = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(queue_url)
            .attribute_names(A::ApproximateNumberOfMessages)
            .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes.unwrap_or_default();
        let get = |a: A| {
            attrs
                .get(&a)
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0)
        };
        get(A::ApproximateNumberOfMessages) + get(A::ApproximateNumberOfMessagesNotVisible)
    }

    /// Receives (and deletes) every message on the event queue.
    pub async fn drain_queue(&self) -> Vec<store::QueueMessage> {
        self.drain_queue_raw()
            .await
            .iter()
            .map(|m| store::QueueMessage::from_json(&m.body).unwrap())
            .collect()
    }

    /// Receives (and deletes) every message on the event queue, bodies as sent.
    pub async fn drain_queue_raw(&self) -> Vec<RawMessage> {
        let mut out = Vec::new();
        loop {
            let batch = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .wait_time_seconds(0)
                .send()
                .await
                .unwrap();
            let messages = batch.messages.unwrap_or_default();
            if messages.is_empty() {
                return out;
            }
            for m in messages {
                out.push(RawMessage {
                    message_id: m.message_id().unwrap().to_owned(),
                    body: m.body().unwrap().to_owned(),
                });
                self.clients
                    .sqs
                    .delete_message()
                    .queue_url(&self.queue_url)
                    .receipt_handle(m.receipt_handle().unwrap())
                    .send()
                    .await
                    .unwrap();
            }
        }
    }

    /// A processor app over this stack, plus `extra` variables (its calls,
    /// the sweep's too, checked against `ProcessorRole`).
    pub fn processor(&self, extra: &[(&str, &str)]) -> processor::App {
        processor::App::new(
            &self.config(extra),
            self.function_clients(iam::Function::Processor),
        )
    }

    /// Every status item by key (scan), string sets sorted so that items
    /// compare by content.
    pub async fn status_items(
        &self,
    ) -> std::collections::BTreeMap<String, std::collections::HashMap<String, AttributeValue>> {
        let mut out = std::collections::BTreeMap::new();
        let mut start = None;
        loop {
            let page = self
                .clients
                .dynamodb
                .scan()
                .table_name(&self.status_table)
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .unwrap();
            for mut item in page.items.unwrap_or_default() {
                for value in item.values_mut() {
                    if let AttributeValue::Ss(set) = value {
                        set.sort();
                    }
                }
                let pk = item["pk"].as_s().unwrap().clone();
                out.insert(pk, item);
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return out;
            }
        }
    }

    /// The status changes kept on status items until published
    /// (`unpublished#{event key}` attributes), as (item key, event key, status
    /// before), sorted.
    pub async fn kept_changes(&self) -> Vec<(String, String, String)> {
        let prefix = store::schema::attr::UNPUBLISHED_PREFIX;
        let mut out = Vec::new();
        for (pk, item) in self.status_items().await {
            for (name, value) in item {
                if let Some(event_key) = name.strip_prefix(prefix) {
                    out.push((
                        pk.clone(),
                        event_key.to_owned(),
                        value.as_s().unwrap().clone(),
                    ));
                }
            }
        }
        out.sort();
        out
    }

    /// Creates a Secrets Manager secret holding `json`; returns its ARN.
    pub async fn create_secret(&self, json: &str) -> String {
        self.clients
            .secrets
            .create_secret()
            .name(format!("{}-webhook-secrets", self.name))
            .secret_string(json)
            .send()
            .await
            .unwrap()
            .arn()
            .unwrap()
            .to_owned()
    }

    /// Replaces the secret's value.
    pub async fn put_secret(&self, arn: &str, json: &str) {
        self.clients
            .secrets
            .put_secret_value()
            .secret_id(arn)
            .secret_string(json)
            .send()
            .await
            .unwrap();
    }
}

/// A queue message as received, before parsing.
#[derive(Debug, Clone)]
pub struct RawMessage {
    /// SQS message id.
    pub message_id: String,
    /// The body exactly as ingest sent it.
    pub body: String,
}

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

/// Secrets source for an ARN.
pub fn arn_source(arn: &str) -> SecretsSource {
    SecretsSource::SecretsManager { arn: arn.into() }
}

/// Milliseconds now.
pub fn now_ms() -> i64 {
    domain::now_ms()
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

/// The test secret of `provider`.
pub fn secret_of(provider: Provider) -> &'static str {
    match provider {
        Provider::SpotDraft => SPOTDRAFT_KEY,
        Provider::Subnoto => SUBNOTO_SECRET,
        Provider::DocuSign => DOCUSIGN_KEY,
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

// ------------------------------------------------------------------ the bus

/// A bus with a rule that sends every contract-hooks event to a queue.
pub struct Subscriber {
    /// The bus name.
    pub bus: String,
    /// The subscriber queue.
    pub queue_url: String,
}

/// Creates a bus for `stack` and a rule sending every contract-hooks event
/// on it to a new queue (what a user's own system would subscribe).
pub async fn subscribe_to_bus(stack: &Stack) -> Subscriber {
    let bus = format!("{}-bus", stack.name);
    let events = &stack.clients.events;
    events.create_event_bus().name(&bus).send().await.unwrap();
    let (queue_url, _) =
        testkit::resources::create_queues(&stack.clients.sqs, &format!("{}-sub", stack.name))
            .await
            .unwrap();
    testkit::resources::route_to_queue(
        events,
        &stack.clients.sqs,
        &bus,
        "all-contract-events",
        r#"{"source":["contract-hooks"]}"#,
        &queue_url,
        "queue",
    )
    .await
    .unwrap();
    Subscriber { bus, queue_url }
}

/// Every EventBridge event (as JSON) the subscriber's queue received.
pub async fn bus_received(stack: &Stack, sub: &Subscriber) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let page = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(&sub.queue_url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = page.messages();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            out.push(serde_json::from_str(m.body().unwrap()).unwrap());
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(&sub.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    out
}
