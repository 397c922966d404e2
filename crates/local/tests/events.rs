//! `contract-hooks-local events`: what it writes, that the signed events verify with
//! the test secrets at generation time, that the archiver reads its messages as
//! the manifest says, that output is deterministic apart from timestamps, and
//! that a rerun replaces what an earlier run wrote.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use testkit::lambda_event::{body_of, headers_of};

use serde_json::Value;

/// `contract-hooks-local`, without a secret from the caller's environment.
fn cli() -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_contract-hooks-local"));
    cmd.env_remove("CONTRACT_HOOKS_SECRET");
    cmd
}

/// The repository root, where `vectors/` and `samples/` live (tracked in git).
fn data_dir() -> std::path::PathBuf {
    let dir = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    assert!(
        dir.join("vectors/signatures.json").is_file(),
        "test data not found under {}",
        dir.display()
    );
    dir
}
use verify::{Provider, SecretSet, Verifier};

/// The public test secrets the generator signs with (tests/harness's too).
const SPOTDRAFT_KEY: &str =
    "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
const SUBNOTO_SECRET: &str = "whsec_subnoto_public_test_secret_0001";
const T: i64 = 1_795_341_731_904;

fn generate(out: &Path, t_ms: i64) {
    generate_with(out, t_ms, &[]);
}

fn generate_with(out: &Path, t_ms: i64, extra: &[&str]) {
    cli()
        .args(["events", "--out"])
        .arg(out)
        .arg("--samples")
        .arg(data_dir().join("samples"))
        .args(["--timestamp-ms", &t_ms.to_string()])
        .args(extra)
        .assert()
        .success();
}

/// Every file under `dir`, relative path → contents.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path
                    .strip_prefix(dir)
                    .unwrap()
                    .to_string_lossy()
                    .into_owned();
                out.insert(rel, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    out
}

fn verifier(provider: Provider) -> Verifier {
    let secret = match provider {
        Provider::SpotDraft => SPOTDRAFT_KEY,
        Provider::Subnoto => SUBNOTO_SECRET,
        Provider::DocuSign => "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=",
    };
    Verifier::new(SecretSet::new(provider, [secret]).unwrap())
}

#[test]
fn events_cover_every_sample_and_verify_as_the_manifest_says() {
    let dir = tempfile::tempdir().unwrap();
    generate(dir.path(), T);
    let files = tree(dir.path());
    let manifest: Value = serde_json::from_str(&files["expected.json"]).unwrap();
    let expected = manifest["events"].as_object().unwrap();
    let listed: BTreeSet<&str> = expected.keys().map(String::as_str).collect();
    let written: BTreeSet<&str> = files
        .keys()
        .map(String::as_str)
        .filter(|f| {
            ["ingest/", "processor/", "archiver/"]
                .iter()
                .any(|d| f.starts_with(d))
        })
        .collect();
    assert_eq!(
        listed, written,
        "the manifest lists exactly the event files"
    );

    let mut samples: Vec<String> = std::fs::read_dir(data_dir().join("samples"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    samples.sort();
    for name in &samples {
        let stem = name.trim_end_matches(".json");
        let provider: Provider = stem.split('-').next().unwrap().parse().unwrap();
        let mut forms = vec![""];
        if provider == Provider::Subnoto {
            forms.push("-form");
        }
        for form in forms {
            for api in ["apigw-v1", "apigw-v2"] {
                let file = format!("ingest/{api}-{stem}{form}.json");
                // DocuSign counts only 200 as delivered.
                let accepted = if provider == Provider::DocuSign {
                    200
                } else {
                    202
                };
                assert_eq!(expected[&file]["statusCode"], accepted, "{file}");
            }
        }
    }

    let mut archive_requests = BTreeSet::new();
    for (file, want) in expected {
        let event: Value = serde_json::from_str(&files[file]).unwrap();
        if want["function"] == "ArchiverFunction" {
            archive_requests.extend(check_archiver_event(file, &event, want));
        } else if let Some(status) = want["statusCode"].as_u64() {
            assert_eq!(want["function"], "IngestFunction");
            let v2 = event["version"] == "2.0";
            assert_eq!(v2, file.contains("apigw-v2"), "{file}");
            let path = if v2 {
                event["rawPath"].as_str()
            } else {
                event["path"].as_str()
            }
            .unwrap();
            let Some(provider) = path
                .rsplit('/')
                .next()
                .and_then(|p| p.parse::<Provider>().ok())
            else {
                assert_eq!(status, 404, "{file}");
                continue;
            };
            let verdict =
                verifier(provider).verify_and_parse(&headers_of(&event), &body_of(&event), T);
            match status {
                // 200: DocuSign's "accepted".
                202 | 200 => {
                    let parsed = verdict.unwrap_or_else(|e| panic!("{file}: {e}"));
                    assert_eq!(want["ledger_key"], parsed.ledger_key(), "{file}");
                }
                401 => assert!(
                    matches!(verdict, Err(verify::Rejection::Verify(_))),
                    "{file}: {verdict:?}"
                ),
                415 => assert!(
                    matches!(
                        verdict,
                        Err(verify::Rejection::Verify(
                            verify::VerifyError::UnsupportedContentType { .. }
                        ))
                    ),
                    "{file}: {verdict:?}"
                ),
                400 => assert!(
                    matches!(verdict, Err(verify::Rejection::Parse(_))),
                    "{file}: {verdict:?}"
                ),
                405 => assert_eq!(event["httpMethod"], "GET", "{file}"),
                other => panic!("{file}: unexpected status {other}"),
            }
        } else if let Some(failures) = want["batchItemFailures"].as_array() {
            let records = event["Records"].as_array().unwrap();
            assert!(!records.is_empty() && records.len() <= 10, "{file}");
            let ids: BTreeSet<&str> = records
                .iter()
                .map(|r| r["messageId"].as_str().unwrap())
                .collect();
            assert_eq!(ids.len(), records.len(), "{file}: message ids are unique");
            for f in failures {
                assert!(
                    ids.contains(f["itemIdentifier"].as_str().unwrap()),
                    "{file}"
                );
            }
            for r in records {
                assert_eq!(r["eventSource"], "aws:sqs");
                let failing = failures
                    .iter()
                    .any(|f| f["itemIdentifier"] == r["messageId"]);
                let body: Result<Value, _> = serde_json::from_str(r["body"].as_str().unwrap());
                let good = body.as_ref().is_ok_and(|b| {
                    b["v"] == 1
                        && b["ledger_key"]
                            == format!(
                                "{}#{}",
                                b["event"]["provider"].as_str().unwrap_or(""),
                                b["event"]["key"].as_str().unwrap_or("")
                            )
                });
                assert_eq!(failing, !good, "{file}: {}", r["body"]);
            }
        } else {
            assert_eq!(want["sweep"], true, "{file}");
            assert_eq!(event["source"], "aws.events");
            assert_eq!(event["detail-type"], "Scheduled Event");
        }
    }

    // An executed contract of each provider, both kinds of metadata job.
    for want in [
        "archive spotdraft",
        "archive subnoto",
        "archive docusign",
        "metadata spotdraft Contract Metadata Requested",
        "metadata spotdraft Contract Event",
    ] {
        assert!(
            archive_requests.iter().any(|r| r.starts_with(want)),
            "no archiver event: {want} ({archive_requests:?})"
        );
    }

    let env: Value = serde_json::from_str(&files["env.json"]).unwrap();
    let secrets: Value =
        serde_json::from_str(env["IngestFunction"]["WEBHOOK_SECRETS"].as_str().unwrap()).unwrap();
    assert_eq!(secrets["spotdraft"][0], SPOTDRAFT_KEY);
    assert_eq!(secrets["subnoto"][0], SUBNOTO_SECRET);
    assert_eq!(env["ArchiverFunction"]["SPOTDRAFT_API_BASE_URL"], "");
}

/// One archive-queue event: one record (the archiver's BatchSize), an outcome
/// per record, the retried ones (only) as batch item failures, and a body the
/// archiver reads as its outcome needs. Returns what each record asks for.
fn check_archiver_event(file: &str, event: &Value, want: &Value) -> Vec<String> {
    use archiver::event::{parse, Request};
    let records = event["Records"].as_array().unwrap();
    assert_eq!(records.len(), 1, "{file}: BatchSize is 1");
    let outcomes = want["outcomes"].as_array().unwrap();
    assert_eq!(outcomes.len(), records.len(), "{file}");
    let retried: Vec<&Value> = outcomes
        .iter()
        .filter(|o| o["outcome"] == "retrying")
        .map(|o| &o["messageId"])
        .collect();
    let failures: Vec<&Value> = want["batchItemFailures"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["itemIdentifier"])
        .collect();
    assert_eq!(failures, retried, "{file}");
    let mut asked = Vec::new();
    for (record, outcome) in records.iter().zip(outcomes) {
        assert_eq!(record["eventSource"], "aws:sqs", "{file}");
        assert_eq!(record["messageId"], outcome["messageId"], "{file}");
        let body = record["body"].as_str().unwrap();
        let name = outcome["outcome"].as_str().unwrap();
        let reason = outcome["reason"].as_str();
        match parse(body) {
            Err(_) => assert_eq!(reason, Some("unusable_message"), "{file}"),
            Ok(Request::Ignore(_)) => assert_eq!(name, "ignored", "{file}"),
            Ok(Request::Archive(r)) => {
                assert!(
                    !["ignored", "metadata_captured"].contains(&name)
                        && reason != Some("unusable_message"),
                    "{file}: {name}"
                );
                asked.push(format!("archive {}", r.provider));
            }
            Ok(Request::Metadata(r)) => {
                assert!(
                    ["metadata_captured", "archive_not_configured"].contains(&name),
                    "{file}: {name}"
                );
                let delivered: Value = serde_json::from_str(body).unwrap();
                asked.push(format!(
                    "metadata {} {}",
                    r.provider,
                    delivered["detail-type"].as_str().unwrap()
                ));
            }
        }
        if ["dead_lettered", "retrying"].contains(&name) {
            assert!(reason.is_some(), "{file}: a {name} has a reason");
        }
    }
    asked
}

/// With the stand-in's URL, SpotDraft is configured in env.json and its jobs
/// expect the stand-in's answers; nothing else changes.
#[test]
fn the_spotdraft_standin_configures_spotdraft_and_its_expected_outcomes() {
    let plain = tempfile::tempdir().unwrap();
    let standin = tempfile::tempdir().unwrap();
    generate(plain.path(), T);
    let url = "http://host.docker.internal:40123";
    generate_with(standin.path(), T, &["--spotdraft-standin-url", url]);
    let (plain, standin) = (tree(plain.path()), tree(standin.path()));
    let json = |files: &BTreeMap<String, String>, name: &str| -> Value {
        serde_json::from_str(&files[name]).unwrap()
    };
    let env = json(&standin, "env.json");
    let archiver = &env["ArchiverFunction"];
    assert_eq!(archiver["SPOTDRAFT_API_BASE_URL"], url);
    let credentials: Value =
        serde_json::from_str(archiver["SPOTDRAFT_API_CREDENTIALS"].as_str().unwrap()).unwrap();
    assert_eq!(credentials["client_id"], "local-standin");
    let mut plain_env = json(&plain, "env.json");
    plain_env["ArchiverFunction"]["SPOTDRAFT_API_BASE_URL"] =
        archiver["SPOTDRAFT_API_BASE_URL"].clone();
    plain_env["ArchiverFunction"]["SPOTDRAFT_API_CREDENTIALS"] =
        archiver["SPOTDRAFT_API_CREDENTIALS"].clone();
    assert_eq!(plain_env, env, "only SpotDraft's settings differ");

    let (before, after) = (
        json(&plain, "expected.json"),
        json(&standin, "expected.json"),
    );
    let mut changed = BTreeMap::new();
    for (file, want) in after["events"].as_object().unwrap() {
        let was = &before["events"][file];
        assert_eq!(
            want["batchItemFailures"], was["batchItemFailures"],
            "{file}"
        );
        assert_eq!(plain[file], standin[file], "{file}: same event");
        if want != was {
            changed.insert(file.as_str(), want["outcomes"][0]["outcome"].clone());
            assert_eq!(
                was["outcomes"][0]["outcome"], "archive_not_configured",
                "{file}"
            );
        }
    }
    assert_eq!(
        changed,
        BTreeMap::from([
            (
                "archiver/sqs-spotdraft-executed.json",
                Value::from("dead_lettered")
            ),
            (
                "archiver/sqs-spotdraft-key-pointer-updated.json",
                Value::from("metadata_captured")
            ),
            (
                "archiver/sqs-spotdraft-metadata-requested.json",
                Value::from("metadata_captured")
            ),
        ])
    );
}

/// Drops what changes with the generation time.
fn normalise(value: &mut Value) {
    const VOLATILE: [&str; 11] = [
        "requestTimeEpoch",
        "requestTime",
        "timeEpoch",
        "time",
        "SentTimestamp",
        "ApproximateFirstReceiveTimestamp",
        "x-amzn-trace-id",
        "x-webhook-signature",
        "md5OfBody",
        "received_at_ms",
        "received_at",
    ];
    match value {
        Value::Object(map) => {
            map.retain(|k, _| !VOLATILE.iter().any(|v| v.eq_ignore_ascii_case(k)));
            for (k, v) in map.iter_mut() {
                if k == "body" {
                    if let Some(mut inner) = v
                        .as_str()
                        .and_then(|s| serde_json::from_str::<Value>(s).ok())
                    {
                        normalise(&mut inner);
                        *v = inner;
                    }
                }
                normalise(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalise),
        _ => {}
    }
}

#[test]
fn output_is_deterministic_apart_from_timestamps_and_reruns_replace_it() {
    let a = tempfile::tempdir().unwrap();
    let b = tempfile::tempdir().unwrap();
    generate(a.path(), T);
    generate(b.path(), T);
    assert_eq!(tree(a.path()), tree(b.path()), "same time, same bytes");

    let c = tempfile::tempdir().unwrap();
    generate(c.path(), T + 3_600_000);
    let (first, later) = (tree(a.path()), tree(c.path()));
    assert_eq!(
        first.keys().collect::<Vec<_>>(),
        later.keys().collect::<Vec<_>>()
    );
    let mut differing = 0;
    for (file, text) in &first {
        if *text != later[file] {
            differing += 1;
        }
        let mut x: Value = serde_json::from_str(text).unwrap();
        let mut y: Value = serde_json::from_str(&later[file]).unwrap();
        normalise(&mut x);
        normalise(&mut y);
        assert_eq!(x, y, "{file} differs in more than its timestamps");
    }
    assert!(differing > 0, "timestamps do change");

    // A rerun removes files the previous run's manifest listed and this one
    // does not write; anything else in the directory is left alone.
    let dir = a.path();
    let stale = dir.join("ingest/apigw-v2-retired-sample.json");
    std::fs::write(&stale, "{}").unwrap();
    let mine = dir.join("ingest/my-own-event.json");
    std::fs::write(&mine, "{}").unwrap();
    let manifest_path = dir.join("expected.json");
    let mut manifest: Value =
        serde_json::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    manifest["events"]["ingest/apigw-v2-retired-sample.json"] =
        serde_json::json!({"statusCode": 202});
    std::fs::write(&manifest_path, manifest.to_string()).unwrap();
    generate(dir, T);
    assert!(
        !stale.exists(),
        "a file the last manifest listed is removed"
    );
    assert!(mine.exists(), "files the generator never wrote are kept");
}

#[test]
fn a_missing_samples_directory_is_a_usage_error() {
    let dir = tempfile::tempdir().unwrap();
    cli()
        .args(["events", "--out"])
        .arg(dir.path())
        .args(["--samples", "/nonexistent/samples"])
        .assert()
        .code(2)
        .stderr(predicates::str::contains("--samples"));
}
