//! `contract-hooks spotdraft` against a local server that answers the way
//! SpotDraft's public webhook API documents: 201 with an integer `id` on
//! create, 204 on delete (404 when gone), 401/403 on bad credentials, a 302
//! for a wrong scheme or trailing slash. Every request the CLI makes is
//! recorded, so the tests assert the exact method, path, headers and body.

#[path = "../common/mod.rs"]
mod common;
mod errors;
mod hmac_key;
mod mock;
mod retrigger;
mod rotate;
mod subscriptions;

use std::path::Path;

use common::cli;
use mock::{Mock, CLIENT_ID, CLIENT_SECRET};
use serde_json::Value;

const RECEIVER: &str = "https://abc123.execute-api.eu-west-1.amazonaws.com/webhooks/spotdraft";
const RECEIVER_NEXT: &str = "https://hooks.example.com/webhooks/spotdraft";
/// base64 of "workspace-hmac-key-for-tests-0001".
const KEY: &str = "d29ya3NwYWNlLWhtYWMta2V5LWZvci10ZXN0cy0wMDAx";
/// base64 of "previous-workspace-key".
const OLD_KEY: &str = "cHJldmlvdXMtd29ya3NwYWNlLWtleQ==";

/// `contract-hooks spotdraft --base-url MOCK --state STATE` with the test credentials.
fn sd(mock: &Mock, state: &Path) -> assert_cmd::Command {
    let mut cmd = cli();
    for name in [
        "SPOTDRAFT_REGION",
        "SPOTDRAFT_BASE_URL",
        "SPOTDRAFT_STATE_FILE",
        "WEBHOOK_SECRETS_ARN",
    ] {
        cmd.env_remove(name);
    }
    cmd.env("SPOTDRAFT_CLIENT_ID", CLIENT_ID)
        .env("SPOTDRAFT_CLIENT_SECRET", CLIENT_SECRET)
        .args([
            "spotdraft",
            "--timeout",
            "10",
            "--base-url",
            &mock.base,
            "--state",
        ])
        .arg(state);
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `cmd`; asserts the credentials never appear in its output.
fn run(cmd: &mut assert_cmd::Command) -> Run {
    let out = cmd.output().expect("the CLI runs");
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    for secret in [CLIENT_ID, CLIENT_SECRET] {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a credential leaked into the output:\n{}\n{}",
            run.stdout,
            run.stderr
        );
    }
    run
}

fn ok(cmd: &mut assert_cmd::Command) -> Run {
    let run = run(cmd);
    assert_eq!(
        run.code, 0,
        "stdout:\n{}\nstderr:\n{}",
        run.stdout, run.stderr
    );
    run
}

fn records(state: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(state).expect("the state file exists");
    let v: Value = serde_json::from_str(&text).unwrap();
    v["subscriptions"].as_array().unwrap().clone()
}

fn record_ids(state: &Path) -> Vec<u64> {
    records(state)
        .iter()
        .map(|r| r["id"].as_u64().unwrap())
        .collect()
}

fn assert_credentials(seen: &mock::Seen) {
    assert_eq!(seen.header("client-id"), Some(CLIENT_ID), "{seen:?}");
    assert_eq!(
        seen.header("client-secret"),
        Some(CLIENT_SECRET),
        "{seen:?}"
    );
    assert_eq!(seen.header("accept"), Some("application/json"));
}
