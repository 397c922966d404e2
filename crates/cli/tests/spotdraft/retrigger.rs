//! `spotdraft retrigger`: the documented request with ids exactly as given, bad ids, mapped errors.

use serde_json::Value;

use crate::mock;
use crate::mock::{Injected, Mock};
use crate::{assert_credentials, ok, run, sd};

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
