//! `spotdraft hmac-key`: the request, the key store's rotation window, a key not in base64.

use serde_json::{json, Value};

use crate::mock::Mock;
use crate::{assert_credentials, ok, run, sd, KEY, OLD_KEY};

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
