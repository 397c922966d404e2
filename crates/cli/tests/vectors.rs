//! The signature vectors (`vectors/signatures.json`) through the CLI: `verify` agrees with every
//! verdict, and `sign` reproduces every valid signature byte for byte.

mod common;

use common::{cli, form_payload, temp_file, vectors, Vector};

/// Runs `contract-hooks verify` on one vector; returns a mismatch description.
fn check_verdict(v: &Vector) -> Option<String> {
    let body = temp_file(&v.body);
    let mut cmd = cli();
    cmd.args(["verify", "--provider", &v.provider]);
    for secret in &v.secrets {
        cmd.args(["--secret", secret]);
    }
    cmd.args(["--header", &format!("Content-Type: {}", v.content_type)]);
    for (name, value) in &v.headers {
        cmd.args(["--header", &format!("{name}: {value}")]);
    }
    cmd.args(["--now-ms", &v.now_ms.to_string()])
        .arg(body.path());
    let out = cmd.output().expect("run contract-hooks");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let code = out.status.code();
    let ok = if v.valid {
        code == Some(0) && stdout == "valid\n" && stderr.is_empty()
    } else {
        code == Some(1) && stdout.is_empty() && stderr.starts_with("invalid: ")
    };
    (!ok).then(|| {
        format!(
            "{}: expected {}, got exit {code:?}, stdout {stdout:?}, stderr {stderr:?}",
            v.name,
            if v.valid { "valid" } else { "invalid" }
        )
    })
}

#[test]
fn verify_agrees_with_every_vector() {
    let all = vectors();
    // Two workers: the machine has two cores and each case is one process.
    let (left, right) = all.split_at(all.len() / 2);
    let failures: Vec<String> = std::thread::scope(|s| {
        let a = s.spawn(|| left.iter().filter_map(check_verdict).collect::<Vec<_>>());
        let b = s.spawn(|| right.iter().filter_map(check_verdict).collect::<Vec<_>>());
        let mut f = a.join().expect("worker");
        f.extend(b.join().expect("worker"));
        f
    });
    assert!(
        failures.is_empty(),
        "{} of {} vectors disagree:\n{}",
        failures.len(),
        all.len(),
        failures.join("\n")
    );
    assert!(
        all.len() >= 100,
        "expected the full vector set, got {}",
        all.len()
    );
}

/// The exact `sign` output a vector implies: Content-Type, then its headers in
/// the order the CLI prints them (signature, then X-Webhook-Id).
fn expected_output(v: &Vector) -> String {
    let mut out = format!("Content-Type: {}\n", v.content_type);
    for name in [
        "X-SD-WEBHOOK-CONTENT-HASH",
        "X-Webhook-Signature",
        "X-Webhook-Id",
        "X-DocuSign-Signature-1",
        "X-Authorization-Digest",
    ] {
        if let Some(value) = v.header(name) {
            out.push_str(&format!("{name}: {value}\n"));
        }
    }
    out
}

/// `sign` arguments reproducing a valid single-secret vector.
fn sign_cmd(v: &Vector) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.args(["sign", "--provider", &v.provider, "--secret", &v.secrets[0]]);
    if v.provider == "subnoto" {
        cmd.args(["--timestamp-ms", &v.subnoto_t().to_string()]);
        if let Some(id) = v.header("X-Webhook-Id") {
            cmd.args(["--webhook-id", id]);
        }
    }
    cmd
}

#[test]
fn sign_reproduces_every_valid_vector() {
    let signable: Vec<Vector> = vectors()
        .into_iter()
        .filter(|v| v.valid && v.name.contains("-valid-") && v.secrets.len() == 1)
        .collect();
    let forms = signable
        .iter()
        .filter(|v| v.name.starts_with("subnoto-form-encoded-valid-"))
        .count();
    assert!(signable.len() >= 12 && forms >= 1, "too few valid vectors");

    for v in &signable {
        let expected = expected_output(v);
        if v.content_type == "application/x-www-form-urlencoded" {
            // The decoded inner JSON, form-encoded by the CLI, gives the same bytes.
            let inner = temp_file(form_payload(&v.body).as_bytes());
            let out_dir = tempfile::tempdir().expect("temp dir");
            let body_out = out_dir.path().join("body");
            sign_cmd(v)
                .arg("--form")
                .arg("--body-out")
                .arg(&body_out)
                .arg(inner.path())
                .assert()
                .success()
                .stdout(expected.clone());
            let written = std::fs::read(&body_out).expect("--body-out written");
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&v.body),
                "{}: form-encoded body differs",
                v.name
            );
            assert_eq!(written, v.body, "{}: form-encoded bytes differ", v.name);
            // An already-encoded body is signed as is.
            let encoded = temp_file(&v.body);
            sign_cmd(v)
                .arg("--form")
                .arg(encoded.path())
                .assert()
                .success()
                .stdout(expected);
        } else {
            let body = temp_file(&v.body);
            sign_cmd(v)
                .arg(body.path())
                .assert()
                .success()
                .stdout(expected);
        }
    }
}
