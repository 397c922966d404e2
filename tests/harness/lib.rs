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

mod bus;
mod events;
mod stack;

pub use bus::{bus_received, subscribe_to_bus, Subscriber};
pub use events::{
    accepted_status, answer, form_encode, http_event, request, scheduled_event, signed_headers,
    signed_request, sqs_event, sqs_event_json, sqs_record, EventKind,
};
pub use stack::{RawMessage, Stack};

use std::path::PathBuf;
use std::sync::OnceLock;

use aws_config::SdkConfig;
use serde_json::{json, Value};
use store::{AwsClients, CallCounter, SecretsSource};
use verify::Provider;

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

/// The test secret of `provider`.
pub fn secret_of(provider: Provider) -> &'static str {
    match provider {
        Provider::SpotDraft => SPOTDRAFT_KEY,
        Provider::Subnoto => SUBNOTO_SECRET,
        Provider::DocuSign => DOCUSIGN_KEY,
    }
}

/// Secrets source for an ARN.
pub fn arn_source(arn: &str) -> SecretsSource {
    SecretsSource::SecretsManager { arn: arn.into() }
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

/// Milliseconds now.
pub fn now_ms() -> i64 {
    domain::now_ms()
}
