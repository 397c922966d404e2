//! Registering, deleting and listing subscriptions, and what is refused before any request.

use serde_json::{json, Value};

use crate::common::cli;
use crate::mock::Mock;
use crate::{assert_credentials, ok, record_ids, records, run, sd, RECEIVER};

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
