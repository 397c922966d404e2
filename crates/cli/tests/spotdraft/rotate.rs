//! `spotdraft rotate`: create the new subscription, then delete the old; failures between.

use serde_json::{json, Value};

use crate::mock::{Injected, Mock};
use crate::{ok, record_ids, records, run, sd, RECEIVER, RECEIVER_NEXT};

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
