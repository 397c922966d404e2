//! Every case in `vectors/signatures.json` (computed with each provider's
//! own reference code) must get its expected verdict.

mod common;

use base64::Engine;
use serde::Deserialize;
use verify::{Provider, SecretSet, Verifier};

#[derive(Deserialize)]
struct File {
    vectors: Vec<Vector>,
}

#[derive(Deserialize)]
struct Vector {
    name: String,
    provider: String,
    secrets: Vec<String>,
    content_type: String,
    headers: std::collections::BTreeMap<String, String>,
    body_b64: String,
    now_ms: i64,
    expect: String,
}

#[test]
fn every_vector_gets_its_expected_verdict() {
    let file: File = serde_json::from_slice(&common::read_data("vectors/signatures.json")).unwrap();
    assert!(
        file.vectors.len() >= 100,
        "expected the full vector set, got {}",
        file.vectors.len()
    );
    let mut failures = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for v in &file.vectors {
        let provider: Provider = v.provider.parse().unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(&v.body_b64)
            .unwrap();
        let verifier = Verifier::new(SecretSet::new(provider, &v.secrets).unwrap());
        let mut headers: Vec<(String, String)> = v.headers.clone().into_iter().collect();
        headers.push(("Content-Type".into(), v.content_type.clone()));
        let verdict = verifier.verify(&headers, &body, v.now_ms);
        let ok = match v.expect.as_str() {
            "valid" => {
                valid += 1;
                verdict.is_ok()
            }
            "invalid" => {
                invalid += 1;
                verdict.is_err()
            }
            other => panic!("{}: unknown expectation {other}", v.name),
        };
        if !ok {
            failures.push(format!(
                "{}: expected {}, got {:?}",
                v.name, v.expect, verdict
            ));
        }
        // Header names arrive lower-cased from API Gateway v2: same verdict.
        let lower: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
            .collect();
        assert_eq!(
            verifier.verify(&lower, &body, v.now_ms).is_ok(),
            verdict.is_ok(),
            "{}: lower-cased header names changed the verdict",
            v.name
        );
    }
    assert!(
        failures.is_empty(),
        "{} vectors disagree:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(valid > 0 && invalid > 0);
}

#[test]
fn rejections_name_the_precise_reason() {
    use verify::VerifyError::*;
    let file: File = serde_json::from_slice(&common::read_data("vectors/signatures.json")).unwrap();
    for v in &file.vectors {
        let provider: Provider = v.provider.parse().unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(&v.body_b64)
            .unwrap();
        let verifier = Verifier::new(SecretSet::new(provider, &v.secrets).unwrap());
        let mut headers: Vec<(String, String)> = v.headers.clone().into_iter().collect();
        headers.push(("Content-Type".into(), v.content_type.clone()));
        let err = verifier.verify(&headers, &body, v.now_ms).err();
        let kind = v.name.rsplit_once('-').map(|(k, _)| k).unwrap_or(&v.name);
        let kind = kind.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-');
        match kind {
            "spotdraft-missing-header" | "subnoto-missing-signature" => {
                assert!(matches!(err, Some(MissingHeader(_))), "{}: {err:?}", v.name)
            }
            "subnoto-stale-timestamp" => assert!(
                matches!(err, Some(TimestampOutsideTolerance { skew_ms, .. }) if skew_ms > 0),
                "{}: {err:?}",
                v.name
            ),
            "subnoto-future-timestamp" => assert!(
                matches!(err, Some(TimestampOutsideTolerance { skew_ms, .. }) if skew_ms < 0),
                "{}: {err:?}",
                v.name
            ),
            "spotdraft-tampered-body"
            | "spotdraft-wrong-key"
            | "spotdraft-reserialized-json"
            | "subnoto-tampered"
            | "subnoto-wrong-secret"
            | "subnoto-timestamp-swapped"
            | "subnoto-form-signature-over-inner-json" => {
                assert_eq!(err, Some(SignatureMismatch), "{}", v.name)
            }
            "spotdraft-truncated-hash" | "spotdraft-sha256-instead" => {
                assert!(
                    matches!(err, Some(MalformedHeader { .. })),
                    "{}: {err:?}",
                    v.name
                )
            }
            _ => {}
        }
    }
}

/// Both providers' reference receivers compare the received digest as text
/// with their lowercase `hexdigest()`: every valid vector, with its digest
/// in upper case (or mixed case), is refused, as they refuse it.
#[test]
fn digests_in_upper_case_are_refused_like_the_reference_receivers() {
    use verify::VerifyError::MalformedHeader;
    let file: File = serde_json::from_slice(&common::read_data("vectors/signatures.json")).unwrap();
    let mut checked = 0;
    for v in file.vectors.iter().filter(|v| v.expect == "valid") {
        let provider: Provider = v.provider.parse().unwrap();
        let body = base64::engine::general_purpose::STANDARD
            .decode(&v.body_b64)
            .unwrap();
        let verifier = Verifier::new(SecretSet::new(provider, &v.secrets).unwrap());
        for (name, value) in &v.headers {
            let lower = name.to_ascii_lowercase();
            if lower != "x-sd-webhook-content-hash" && lower != "x-webhook-signature" {
                continue;
            }
            // Upper-case the hex digits only (`t=` and `v1=` stay as sent).
            let digest_start = value.rfind('=').map_or(0, |i| i + 1);
            for variant in [
                format!(
                    "{}{}",
                    &value[..digest_start],
                    value[digest_start..].to_ascii_uppercase()
                ),
                format!(
                    "{}{}{}",
                    &value[..digest_start],
                    value[digest_start..digest_start + 1].to_ascii_uppercase(),
                    &value[digest_start + 1..]
                ),
            ] {
                if variant == *value {
                    continue; // the first digit was a number
                }
                let mut headers: Vec<(String, String)> = v
                    .headers
                    .iter()
                    .map(|(k, x)| {
                        (
                            k.clone(),
                            if k == name {
                                variant.clone()
                            } else {
                                x.clone()
                            },
                        )
                    })
                    .collect();
                headers.push(("Content-Type".into(), v.content_type.clone()));
                let err = verifier.verify(&headers, &body, v.now_ms).err();
                assert!(
                    matches!(err, Some(MalformedHeader { .. })),
                    "{} {variant}: {err:?}",
                    v.name
                );
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "only {checked} upper-case variants checked");
}
