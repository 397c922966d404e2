//! Helpers shared by the CLI tests: the binary, the signature vectors (`vectors/`), temp files.
#![allow(dead_code)] // each test binary uses a different subset

use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

use base64::Engine;
use serde_json::Value;

/// The environment variable the CLI reads a secret from.
pub const SECRET_ENV: &str = "CONTRACT_HOOKS_SECRET";

/// A `contract-hooks` command with no secret inherited from the environment.
pub fn cli() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_contract-hooks"));
    cmd.env_remove(SECRET_ENV);
    cmd
}

/// The repository root, where `vectors/` and `samples/` live. Panics with a clear
/// message when the vectors are missing: these tests must never be skipped silently.
pub fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let vectors = dir.join("vectors/signatures.json");
    assert!(
        vectors.is_file(),
        "test data not found: {} does not exist (it is tracked in git)",
        vectors.display()
    );
    dir
}

/// One signature vector from `vectors/signatures.json`.
#[derive(Debug, Clone)]
pub struct Vector {
    pub name: String,
    pub provider: String,
    pub secrets: Vec<String>,
    pub content_type: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub now_ms: i64,
    pub valid: bool,
}

impl Vector {
    /// The value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `t` of a Subnoto signature header.
    pub fn subnoto_t(&self) -> i64 {
        let sig = self
            .header("X-Webhook-Signature")
            .expect("signature header");
        sig.split(',')
            .find_map(|p| p.strip_prefix("t="))
            .and_then(|t| t.parse().ok())
            .unwrap_or_else(|| panic!("{}: no numeric t in {sig}", self.name))
    }
}

fn field<'a>(v: &'a Value, name: &str, key: &str) -> &'a Value {
    v.get(key)
        .unwrap_or_else(|| panic!("vector {name}: missing field {key}"))
}

/// Every vector, parsed strictly.
pub fn vectors() -> Vec<Vector> {
    let path = data_dir().join("vectors/signatures.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let root: Value = serde_json::from_str(&text).expect("signatures.json is JSON");
    let list = root["vectors"].as_array().expect("`vectors` is an array");
    assert!(!list.is_empty(), "signatures.json holds no vectors");
    list.iter()
        .map(|v| {
            let name = v["name"].as_str().expect("vector name").to_owned();
            let s = |key: &str| {
                field(v, &name, key)
                    .as_str()
                    .unwrap_or_else(|| panic!("vector {name}: {key} is not a string"))
                    .to_owned()
            };
            let expect = s("expect");
            assert!(
                expect == "valid" || expect == "invalid",
                "vector {name}: unexpected expect {expect:?}"
            );
            Vector {
                provider: s("provider"),
                secrets: field(v, &name, "secrets")
                    .as_array()
                    .expect("secrets is an array")
                    .iter()
                    .map(|s| s.as_str().expect("secret is a string").to_owned())
                    .collect(),
                content_type: s("content_type"),
                headers: field(v, &name, "headers")
                    .as_object()
                    .expect("headers is an object")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().expect("header value").to_owned()))
                    .collect(),
                body: base64::engine::general_purpose::STANDARD
                    .decode(s("body_b64"))
                    .unwrap_or_else(|e| panic!("vector {name}: body_b64: {e}")),
                now_ms: field(v, &name, "now_ms")
                    .as_i64()
                    .expect("now_ms is an integer"),
                valid: expect == "valid",
                name,
            }
        })
        .collect()
}

/// The vector called `name`.
pub fn vector(name: &str) -> Vector {
    vectors()
        .into_iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector named {name}"))
}

/// A temp file holding `bytes`.
pub fn temp_file(bytes: &[u8]) -> tempfile::NamedTempFile {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(bytes).expect("write temp file");
    file.flush().expect("flush temp file");
    file
}

/// Parses `Name: value` lines as printed by `sign`.
pub fn parse_header_lines(stdout: &[u8]) -> Vec<(String, String)> {
    std::str::from_utf8(stdout)
        .expect("headers are UTF-8")
        .lines()
        .map(|line| {
            let (k, v) = line
                .split_once(": ")
                .unwrap_or_else(|| panic!("not a header line: {line:?}"));
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The `payload` field of a form-encoded body.
pub fn form_payload(body: &[u8]) -> String {
    form_urlencoded::parse(body)
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v.into_owned())
        .expect("form body has a payload field")
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// moto for this test binary (the project's `.venv`, or `MOTO_PYTHON`), on a
/// free loopback port; it stops when its stdin closes (when we exit). These
/// tests never skip: without moto they fail and say how to install it.
pub fn moto() -> &'static str {
    static MOTO: OnceLock<testkit::MotoServer> = OnceLock::new();
    MOTO.get_or_init(|| {
        testkit::MotoServer::start(&testkit::moto::python(&repo_root()), 0)
            .unwrap_or_else(|e| panic!("{e}; these tests never skip"))
    })
    .endpoint()
}

/// AWS clients (the store's, with its timeouts and retries) talking to [`moto`].
pub async fn moto_clients() -> store::AwsClients {
    store::AwsClients::new(&testkit::sdk_config_for(moto()).await)
}
