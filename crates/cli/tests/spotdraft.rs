//! `contract-hooks spotdraft` against a local server that answers the way
//! SpotDraft's public webhook API documents: 201 with an integer `id` on
//! create, 204 on delete (404 when gone), 401/403 on bad credentials, a 302
//! for a wrong scheme or trailing slash. Every request the CLI makes is
//! recorded, so the tests assert the exact method, path, headers and body.

mod common;

use std::path::Path;

use common::cli;
use mock::{Injected, Mock, CLIENT_ID, CLIENT_SECRET};
use serde_json::{json, Value};

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

#[test]
fn hmac_key_sends_the_documented_request_and_never_prints_the_key_unasked() {
    let mock = Mock::start();
    mock.with(|b| b.hmac_key = KEY.into());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");

    let quiet = ok(sd(&mock, &state).arg("hmac-key"));
    assert!(!quiet.stdout.contains(KEY) && !quiet.stderr.contains(KEY));
    assert!(quiet.stdout.contains("33 bytes"), "{}", quiet.stdout);
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/api/v2.1/public/webhooks/hmac_key/")
    );
    assert_credentials(&seen[0]);
    assert!(seen[0].body.is_empty());

    let shown = ok(sd(&mock, &state).args(["hmac-key", "--show"]));
    assert_eq!(
        shown.stdout,
        format!("{KEY}\n"),
        "the key is stdout's only line"
    );

    let json_out = ok(sd(&mock, &state).args(["hmac-key", "--json"]));
    let v: Value = serde_json::from_str(&json_out.stdout).unwrap();
    assert_eq!(v["key_bytes"], 33);
    assert_eq!(v["stored"], false);
    assert!(v.get("hmac_key").is_none());
    assert!(
        !state.exists(),
        "hmac-key never touches the subscription record"
    );
}

#[test]
fn hmac_key_store_file_keeps_the_previous_key_for_the_rotation_window() {
    let mock = Mock::start();
    mock.with(|b| b.hmac_key = KEY.into());
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    let secrets = dir.path().join("secrets.json");
    std::fs::write(
        &secrets,
        json!({"spotdraft": [OLD_KEY], "subnoto": ["whsec_keep_me"]}).to_string(),
    )
    .unwrap();
    let store = |mock: &Mock| {
        let mut cmd = sd(mock, &state);
        cmd.args(["hmac-key", "--store", "file", "--file"])
            .arg(&secrets);
        cmd
    };
    let read =
        || -> Value { serde_json::from_str(&std::fs::read_to_string(&secrets).unwrap()).unwrap() };

    let first = ok(&mut store(&mock));
    assert!(!first.stdout.contains(KEY));
    assert!(
        first.stdout.contains("previous key kept"),
        "{}",
        first.stdout
    );
    assert_eq!(
        read(),
        json!({"spotdraft": [KEY, OLD_KEY], "subnoto": ["whsec_keep_me"]})
    );
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&secrets).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // The same key again: nothing written, no duplicate.
    let again = ok(&mut store(&mock));
    assert!(
        again.stdout.contains("already the current key"),
        "{}",
        again.stdout
    );
    assert_eq!(read()["spotdraft"], json!([KEY, OLD_KEY]));

    // A newer key: at most two kept, the oldest dropped.
    let newer = "bmV3ZXN0LXdvcmtzcGFjZS1rZXk=";
    mock.with(|b| b.hmac_key = newer.into());
    ok(&mut store(&mock));
    assert_eq!(read()["spotdraft"], json!([newer, KEY]));
    assert_eq!(read()["subnoto"], json!(["whsec_keep_me"]));
}

#[test]
fn hmac_key_that_is_not_base64_is_never_stored_or_printed() {
    let mock = Mock::start();
    let bad = "this is not base64 !!";
    mock.with(|b| b.hmac_key = bad.into());
    let dir = tempfile::tempdir().unwrap();
    let secrets = dir.path().join("secrets.json");
    let before = json!({"spotdraft": [OLD_KEY]}).to_string();
    std::fs::write(&secrets, &before).unwrap();
    let out = run(sd(&mock, &dir.path().join("s.json"))
        .args(["hmac-key", "--show", "--store", "file", "--file"])
        .arg(&secrets));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("not base64"), "{}", out.stderr);
    assert!(!out.stdout.contains(bad) && !out.stderr.contains(bad));
    assert_eq!(std::fs::read_to_string(&secrets).unwrap(), before);
}

#[test]
fn bad_credentials_are_reported_with_the_answer_and_missing_ones_send_nothing() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");

    let wrong_secret = run(sd(&mock, &state)
        .env("SPOTDRAFT_CLIENT_SECRET", "not-the-secret")
        .arg("hmac-key"));
    assert_eq!(wrong_secret.code, 1);
    assert!(
        wrong_secret.stderr.contains("403"),
        "{}",
        wrong_secret.stderr
    );
    assert!(wrong_secret.stderr.contains("SPOTDRAFT_CLIENT_SECRET"));
    assert!(
        wrong_secret.stderr.contains("You do not have permission"),
        "the body is shown: {}",
        wrong_secret.stderr
    );
    assert!(!wrong_secret.stderr.contains("not-the-secret"));

    let unknown_id = run(sd(&mock, &state)
        .env("SPOTDRAFT_CLIENT_ID", "someone-else")
        .arg("hmac-key"));
    assert_eq!(unknown_id.code, 1);
    assert!(unknown_id.stderr.contains("401"), "{}", unknown_id.stderr);
    assert_eq!(mock.seen().len(), 2, "401 and 403 are not retried");

    let missing = run(sd(&mock, &state)
        .env_remove("SPOTDRAFT_CLIENT_SECRET")
        .args([
            "register",
            "--url",
            RECEIVER,
            "--activity",
            "CONTRACT_SIGNED",
        ]));
    assert_eq!(missing.code, 2, "{}", missing.stderr);
    assert!(missing.stderr.contains("SPOTDRAFT_CLIENT_SECRET"));
    assert_eq!(mock.seen().len(), 2, "no request without credentials");
}

#[test]
fn register_then_delete_uses_the_persisted_id() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir
        .path()
        .join(".contract-hooks/spotdraft-subscriptions.json");

    let out = ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "contract_executed,CONTRACT_SIGNED",
        "--activity",
        "CONTRACT_VOIDED",
        "--title",
        "contract-hooks prod",
        "--json",
    ]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["id"], 511);
    assert_eq!(v["status"], "ACTIVE");

    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    let create = &seen[0];
    assert_eq!(
        (create.method.as_str(), create.path.as_str()),
        ("POST", "/api/v2.1/public/webhooks/")
    );
    assert_credentials(create);
    assert_eq!(create.header("content-type"), Some("application/json"));
    assert_eq!(
        create.json(),
        json!({
            "title": "contract-hooks prod",
            "url": RECEIVER,
            "only_for_activities": ["CONTRACT_EXECUTED", "CONTRACT_SIGNED", "CONTRACT_VOIDED"],
        })
    );

    let recorded = records(&state);
    assert_eq!(recorded.len(), 1);
    assert_eq!(recorded[0]["id"], 511);
    assert_eq!(recorded[0]["url"], RECEIVER);
    assert_eq!(recorded[0]["base_url"], mock.base.as_str());
    assert_eq!(
        recorded[0]["activities"],
        json!(["CONTRACT_EXECUTED", "CONTRACT_SIGNED", "CONTRACT_VOIDED"])
    );
    assert!(recorded[0]["created_at"].as_str().unwrap().ends_with('Z'));

    let out = ok(sd(&mock, &state).arg("delete"));
    assert!(
        out.stdout.contains("deleted SpotDraft webhook 511"),
        "{}",
        out.stdout
    );
    let seen = mock.seen();
    assert_eq!(seen.len(), 2);
    assert_eq!(
        (seen[1].method.as_str(), seen[1].path.as_str()),
        ("DELETE", "/api/v2.1/public/webhooks/511"),
        "the persisted id, no trailing slash"
    );
    assert_credentials(&seen[1]);
    assert!(record_ids(&state).is_empty());
    assert!(
        mock.with(|b| b.webhooks.is_empty()),
        "gone at SpotDraft too"
    );

    // Nothing recorded any more: delete without --id refuses and sends nothing.
    let none = run(sd(&mock, &state).arg("delete"));
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert_eq!(mock.seen().len(), 2);
}

#[test]
fn register_refuses_http_urls_and_unknown_activities_before_any_request() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    let http = run(sd(&mock, &state).args([
        "register",
        "--url",
        "http://example.com/webhooks/spotdraft",
        "--activity",
        "CONTRACT_SIGNED",
    ]));
    assert_eq!(http.code, 2);
    assert!(http.stderr.contains("HTTPS"), "{}", http.stderr);

    let unknown = run(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED,CONTRACT_EXPLODED",
    ]));
    assert_eq!(unknown.code, 2);
    assert!(
        unknown.stderr.contains("CONTRACT_EXPLODED"),
        "{}",
        unknown.stderr
    );
    for documented in [
        "CONTRACT_CREATED",
        "CONTRACT_SENT_TO_COUNTERPARTY",
        "CONTRACT_ENTITY_UPDATED",
    ] {
        assert!(unknown.stderr.contains(documented), "the list is shown");
    }
    let no_activity = run(sd(&mock, &state).args(["register", "--url", RECEIVER]));
    assert_eq!(no_activity.code, 2);
    assert!(mock.seen().is_empty());
    assert!(!state.exists());
}

#[test]
fn delete_refuses_an_unrecorded_id_unless_forced() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED",
    ]));

    let refused = run(sd(&mock, &state).args(["delete", "--id", "999"]));
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(mock.seen().len(), 1, "nothing sent");

    // Forced: SpotDraft has no such webhook (404), which is reported, not fatal.
    let forced = ok(sd(&mock, &state).args(["delete", "--id", "999", "--force"]));
    assert!(forced.stdout.contains("already gone"), "{}", forced.stdout);
    let last = mock.seen().pop().unwrap();
    assert_eq!(
        (last.method.as_str(), last.path.as_str()),
        ("DELETE", "/api/v2.1/public/webhooks/999")
    );
    assert_eq!(record_ids(&state), [511], "the recorded one is untouched");

    // A recorded id already deleted at SpotDraft: 404 removes the record.
    mock.with(|b| b.webhooks.clear());
    let gone = ok(sd(&mock, &state).args(["delete", "--id", "511", "--json"]));
    let v: Value = serde_json::from_str(&gone.stdout).unwrap();
    assert_eq!(v["outcome"], "already gone");
    assert_eq!(v["record_removed"], true);
    assert!(record_ids(&state).is_empty());
}

#[test]
fn rotate_creates_the_new_subscription_before_deleting_the_old_one() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED,CONTRACT_EXECUTED",
        "--title",
        "old",
    ]));

    let out = ok(sd(&mock, &state).args(["rotate", "--url", RECEIVER_NEXT, "--json"]));
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["new"]["id"], 512);
    assert_eq!(v["old"]["id"], 511);

    let seen = mock.seen();
    let calls: Vec<(&str, &str)> = seen
        .iter()
        .map(|s| (s.method.as_str(), s.path.as_str()))
        .collect();
    assert_eq!(
        calls,
        [
            ("POST", "/api/v2.1/public/webhooks/"),
            ("POST", "/api/v2.1/public/webhooks/"),
            ("DELETE", "/api/v2.1/public/webhooks/511"),
        ],
        "create before delete"
    );
    // The new subscription inherits the old one's activities and title.
    assert_eq!(
        seen[1].json(),
        json!({"title": "old", "url": RECEIVER_NEXT,
               "only_for_activities": ["CONTRACT_SIGNED", "CONTRACT_EXECUTED"]})
    );
    assert_eq!(record_ids(&state), [512]);
    assert_eq!(records(&state)[0]["url"], RECEIVER_NEXT);
    assert_eq!(
        mock.with(|b| b.webhooks.keys().copied().collect::<Vec<_>>()),
        [512]
    );
}

#[test]
fn a_failure_between_create_and_delete_leaves_both_recorded() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED",
    ]));
    mock.with(|b| b.delete_status = Some(500));

    let out = run(sd(&mock, &state).args([
        "rotate",
        "--url",
        RECEIVER_NEXT,
        "--activity",
        "CONTRACT_SIGNED,CONTRACT_VOIDED",
    ]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("512"), "{}", out.stderr);
    assert!(out.stderr.contains("511"), "{}", out.stderr);
    assert!(out.stderr.contains("500"), "{}", out.stderr);
    assert!(
        out.stderr.contains("delete --id 511"),
        "says how to finish: {}",
        out.stderr
    );
    let deletes = mock.seen().iter().filter(|s| s.method == "DELETE").count();
    assert_eq!(deletes, 3, "a 500 is retried, three attempts in all");
    let mut ids = record_ids(&state);
    ids.sort();
    assert_eq!(ids, [511, 512], "both recorded, never neither");

    // With two recorded, a bare delete must be told which; the old one then goes.
    mock.with(|b| b.delete_status = None);
    assert_eq!(run(sd(&mock, &state).arg("delete")).code, 2);
    ok(sd(&mock, &state).args(["delete", "--id", "511"]));
    assert_eq!(record_ids(&state), [512]);
}

#[test]
fn a_failed_create_in_rotate_deletes_nothing() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED",
    ]));
    mock.with(|b| {
        b.inject.push_back(Injected::status(
            400,
            r#"{"detail":"url: Enter a valid URL."}"#,
        ));
    });
    let out = run(sd(&mock, &state).args(["rotate", "--url", RECEIVER_NEXT]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("untouched"), "{}", out.stderr);
    assert!(
        out.stderr.contains("Enter a valid URL"),
        "4xx bodies are shown: {}",
        out.stderr
    );
    assert!(mock.seen().iter().all(|s| s.method != "DELETE"));
    assert_eq!(record_ids(&state), [511]);
}

#[test]
fn rate_limits_and_server_errors_are_retried_until_success() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    mock.with(|b| {
        b.inject.push_back(Injected::retry_after(429, "0"));
        b.inject
            .push_back(Injected::status(503, "upstream unavailable"));
    });
    let out = ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED",
    ]));
    assert!(
        out.stderr.contains("429") && out.stderr.contains("503"),
        "{}",
        out.stderr
    );
    let posts = mock.seen();
    assert_eq!(posts.len(), 3);
    assert!(posts.iter().all(|s| s.method == "POST"));
    assert_eq!(posts[0].body, posts[2].body, "the same body each time");
    assert_eq!(record_ids(&state), [511], "one subscription, recorded once");

    // A Retry-After longer than the command waits ends the retries at once.
    mock.with(|b| b.inject.push_back(Injected::retry_after(429, "3600")));
    let out = run(sd(&mock, &state).arg("hmac-key"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("3600"), "{}", out.stderr);
    assert_eq!(mock.seen().len(), 4);

    // Three failures in a row: the error says so and shows the last body.
    mock.with(|b| {
        for _ in 0..3 {
            b.inject
                .push_back(Injected::status(502, "bad gateway body"));
        }
    });
    let out = run(sd(&mock, &state).arg("hmac-key"));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("after 3 attempts"), "{}", out.stderr);
    assert!(out.stderr.contains("bad gateway body"), "{}", out.stderr);
}

#[test]
fn a_redirect_is_not_followed_and_explained() {
    let mock = Mock::start();
    mock.with(|b| b.redirect_all = true);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    let out = run(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED",
    ]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("302"), "{}", out.stderr);
    assert!(out.stderr.contains("not followed"), "{}", out.stderr);
    assert!(out.stderr.contains("https://"), "{}", out.stderr);
    assert!(out.stderr.contains("trailing slash"), "{}", out.stderr);
    assert_eq!(mock.seen().len(), 1, "the redirect was not followed");
    assert!(!state.exists(), "nothing recorded");
}

#[test]
fn regions_and_base_urls_are_checked_before_any_request() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = cli();
    cmd.env_remove("SPOTDRAFT_REGION")
        .env_remove("SPOTDRAFT_BASE_URL")
        .env("SPOTDRAFT_CLIENT_ID", CLIENT_ID)
        .env("SPOTDRAFT_CLIENT_SECRET", CLIENT_SECRET)
        .current_dir(dir.path())
        .args(["spotdraft", "hmac-key"]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("--region in|us|eu|me"),
        "{}",
        out.stderr
    );

    let mut cmd = cli();
    cmd.env("SPOTDRAFT_CLIENT_ID", CLIENT_ID)
        .env("SPOTDRAFT_CLIENT_SECRET", CLIENT_SECRET)
        .current_dir(dir.path())
        .args([
            "spotdraft",
            "--base-url",
            "http://api.eu.spotdraft.com",
            "hmac-key",
        ]);
    let out = run(&mut cmd);
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("https"), "{}", out.stderr);

    let mut cmd = cli();
    cmd.args(["spotdraft", "--region", "mars", "hmac-key"]);
    assert_eq!(run(&mut cmd).code, 2);
}

#[test]
fn list_shows_the_record_without_credentials() {
    let mock = Mock::start();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");
    ok(sd(&mock, &state).args([
        "register",
        "--url",
        RECEIVER,
        "--activity",
        "CONTRACT_SIGNED",
    ]));
    let mut cmd = cli();
    cmd.env_remove("SPOTDRAFT_CLIENT_ID")
        .env_remove("SPOTDRAFT_CLIENT_SECRET")
        .args(["spotdraft", "list", "--json", "--state"])
        .arg(&state);
    let out = ok(&mut cmd);
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["subscriptions"][0]["id"], 511);
    assert_eq!(mock.seen().len(), 1, "list makes no API call");
}

/// Wider than u64 and u128: kept digit for digit, as the receiver keeps them.
const WIDE_ID: &str = "123456789012345678901234567890123456789012";

fn workspace_contracts(mock: &Mock) {
    mock.with(|b| {
        b.contracts = ["48213", "48214", "77", WIDE_ID]
            .into_iter()
            .map(String::from)
            .collect()
    });
}

#[test]
fn retrigger_sends_the_documented_request_with_ids_exactly_as_given() {
    let mock = Mock::start();
    workspace_contracts(&mock);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");

    // Repeated flag, several values after one flag, commas: one request, each id once.
    let out = ok(sd(&mock, &state).args([
        "retrigger",
        "--contract-id",
        &format!("48213,{WIDE_ID}"),
        "--contract-id",
        "48213",
        "77",
    ]));
    let seen = mock.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("POST", mock::RETRIGGER)
    );
    assert_credentials(&seen[0]);
    assert_eq!(seen[0].header("content-type"), Some("application/json"));
    assert_eq!(
        String::from_utf8(seen[0].body.clone()).unwrap(),
        format!(r#"{{"contract_ids":[48213,{WIDE_ID},77]}}"#),
        "JSON numbers, digit for digit, in the order given"
    );
    assert_eq!(
        mock.with(|b| b.retriggered.clone()),
        [vec![
            "48213".to_owned(),
            WIDE_ID.to_owned(),
            "77".to_owned()
        ]]
    );
    assert!(
        out.stdout.contains("3 contract(s): 48213, 1234567890")
            && out.stdout.contains("\"Success\""),
        "{}",
        out.stdout
    );
    assert!(!state.exists(), "retrigger records nothing");

    // --json: the ids as numbers, exact (not strings, not rounded).
    let out = ok(sd(&mock, &state).args(["retrigger", "--contract-id", WIDE_ID, "--json"]));
    assert!(
        out.stdout.contains(&format!("\n    {WIDE_ID}\n")),
        "{}",
        out.stdout
    );
    let v: Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["retriggered"], true);
    assert_eq!(v["message"], "Success");
    assert_eq!(
        String::from_utf8(mock.seen()[1].body.clone()).unwrap(),
        format!(r#"{{"contract_ids":[{WIDE_ID}]}}"#)
    );
}

#[test]
fn retrigger_refuses_bad_ids_before_any_request_and_maps_errors() {
    let mock = Mock::start();
    workspace_contracts(&mock);
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("subs.json");

    for bad in ["12a", "-5", "1.0", "007", "T-48213", "", "1e3"] {
        let out = run(sd(&mock, &state).args([
            "retrigger",
            "--contract-id",
            "48213",
            "--contract-id",
            bad,
        ]));
        assert_eq!(out.code, 2, "{bad}: {}", out.stderr);
        assert!(out.stderr.contains("--contract-id"), "{}", out.stderr);
    }
    let composite = run(sd(&mock, &state).args(["retrigger", "--contract-id", "T-48213"]));
    assert!(
        composite.stderr.contains("probably 48213"),
        "{}",
        composite.stderr
    );
    assert_eq!(
        run(sd(&mock, &state).arg("retrigger")).code,
        2,
        "an id is required"
    );
    let no_credentials = run(sd(&mock, &state).env_remove("SPOTDRAFT_CLIENT_ID").args([
        "retrigger",
        "--contract-id",
        "48213",
    ]));
    assert_eq!(no_credentials.code, 2);
    assert!(mock.seen().is_empty(), "no request for a usage error");

    // 404 (an id SpotDraft does not know): exit 1, explained, body shown.
    let out = run(sd(&mock, &state).args(["retrigger", "--contract-id", "48213,99999"]));
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("404")
            && out.stderr.contains("48213, 99999")
            && out.stderr.contains("one at a time")
            && out.stderr.contains(r#"{"detail":"Not Found"}"#),
        "{}",
        out.stderr
    );
    assert!(mock.with(|b| b.retriggered.is_empty()));
    assert_eq!(mock.seen().len(), 1, "a 404 is not retried");

    // Another 4xx: its body shown, not retried.
    mock.with(|b| {
        b.inject.push_back(Injected::status(
            400,
            r#"{"contract_ids":{"0":["A valid integer is required."]}}"#,
        ))
    });
    let out = run(sd(&mock, &state).args(["retrigger", "--contract-id", "48213"]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("400") && out.stderr.contains("A valid integer is required."),
        "{}",
        out.stderr
    );
    assert_eq!(mock.seen().len(), 2);

    // Wrong credentials: the auth explanation.
    let out = run(sd(&mock, &state)
        .env("SPOTDRAFT_CLIENT_SECRET", "wrong")
        .args(["retrigger", "--contract-id", "48213"]));
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("403") && out.stderr.contains("SPOTDRAFT_CLIENT_SECRET"));

    // 5xx: retried (a repeat only re-sends again); success after one 503.
    mock.with(|b| {
        b.inject
            .push_back(Injected::status(503, "upstream unavailable"))
    });
    let out = ok(sd(&mock, &state).args(["retrigger", "--contract-id", "48214"]));
    assert!(out.stderr.contains("503"), "{}", out.stderr);
    assert_eq!(
        mock.with(|b| b.retriggered.clone()),
        [vec!["48214".to_owned()]]
    );
    // Three in a row: exit 1, the last body shown.
    mock.with(|b| {
        for _ in 0..3 {
            b.inject.push_back(Injected::status(
                500,
                r#"{"detail":"A server error occurred."}"#,
            ));
        }
    });
    let out = run(sd(&mock, &state).args(["retrigger", "--contract-id", "48214"]));
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("after 3 attempts") && out.stderr.contains("A server error occurred."),
        "{}",
        out.stderr
    );
}

/// A local stand-in for SpotDraft's public webhook API.
mod mock {
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
                json!({"contract_ids": ["Expected a list of items but got type \"str\"."]})
                    .to_string(),
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
}
