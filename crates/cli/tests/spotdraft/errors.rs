//! Errors and checks: credentials, rate limits, redirects, regions and base URLs.

use crate::common::cli;
use crate::mock::{Injected, Mock, CLIENT_ID, CLIENT_SECRET};
use crate::{ok, record_ids, run, sd, RECEIVER};

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
