//! Command behaviour: round trips, exit codes, secret sources, and `send`
//! against a one-shot local HTTP server.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use common::{cli, form_payload, parse_header_lines, temp_file, vector, SECRET_ENV};
use predicates::prelude::*;

const SUBNOTO_SECRET: &str = "whsec_cli_test_secret";
/// base64 of "cli-test-spotdraft-key".
const SPOTDRAFT_KEY: &str = "Y2xpLXRlc3Qtc3BvdGRyYWZ0LWtleQ==";

fn sample(name: &str) -> Vec<u8> {
    let path = common::data_dir().join("samples").join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Signs `body` with the CLI; returns the headers and the bytes that were signed.
fn sign(provider: &str, secret: &str, body: &[u8], form: bool) -> (Vec<(String, String)>, Vec<u8>) {
    let input = temp_file(body);
    let dir = tempfile::tempdir().unwrap();
    let body_out = dir.path().join("body");
    let mut cmd = cli();
    cmd.args(["sign", "--provider", provider, "--secret", secret]);
    if form {
        cmd.arg("--form");
    }
    let out = cmd
        .arg("--body-out")
        .arg(&body_out)
        .arg(input.path())
        .assert()
        .success()
        .get_output()
        .clone();
    (
        parse_header_lines(&out.stdout),
        std::fs::read(&body_out).unwrap(),
    )
}

/// A `verify` command with `headers` and `body` set up (body file kept alive by the caller).
fn verify_cmd(
    provider: &str,
    secret: &str,
    headers: &[(String, String)],
    body: &tempfile::NamedTempFile,
) -> assert_cmd::Command {
    let mut cmd = cli();
    cmd.args(["verify", "--provider", provider, "--secret", secret]);
    for (k, v) in headers {
        cmd.args(["-H", &format!("{k}: {v}")]);
    }
    cmd.arg(body.path());
    cmd
}

#[test]
fn round_trips_and_tamper_detection() {
    let cases = [
        (
            "spotdraft",
            SPOTDRAFT_KEY,
            "spotdraft-contract-signed.json",
            false,
        ),
        (
            "subnoto",
            SUBNOTO_SECRET,
            "subnoto-envelope-signed.json",
            false,
        ),
        (
            "subnoto",
            SUBNOTO_SECRET,
            "subnoto-envelope-completed.json",
            true,
        ),
    ];
    for (provider, secret, file, form) in cases {
        let json = sample(file);
        let (headers, body) = sign(provider, secret, &json, form);
        let content_type = if form {
            "application/x-www-form-urlencoded"
        } else {
            "application/json"
        };
        assert_eq!(headers[0], ("Content-Type".into(), content_type.into()));
        if form {
            assert!(body.starts_with(b"payload=%7B"), "{file}: not form-encoded");
            assert_eq!(form_payload(&body).as_bytes(), json.as_slice());
        } else {
            assert_eq!(body, json, "{file}: JSON body changed");
        }
        let good = temp_file(&body);
        verify_cmd(provider, secret, &headers, &good)
            .assert()
            .code(0)
            .stdout("valid\n")
            .stderr("");

        let mut tampered = body.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 0x01;
        let bad = temp_file(&tampered);
        verify_cmd(provider, secret, &headers, &bad)
            .assert()
            .code(1)
            .stdout("")
            .stderr(predicate::str::starts_with(
                "invalid: signature mismatch: no configured secret matches",
            ));
    }
}

#[test]
fn stdin_body_and_content_type_checks() {
    let json = sample("subnoto-envelope-signed.json");
    let out = cli()
        .args([
            "sign",
            "--provider",
            "subnoto",
            "--secret",
            SUBNOTO_SECRET,
            "-",
        ])
        .write_stdin(json.clone())
        .assert()
        .success()
        .get_output()
        .clone();
    let headers = parse_header_lines(&out.stdout);
    let sig = format!("{}: {}", headers[1].0, headers[1].1);
    cli()
        .args([
            "verify",
            "--provider",
            "subnoto",
            "--secret",
            SUBNOTO_SECRET,
        ])
        .args(["-H", &sig, "-"])
        .write_stdin(json.clone())
        .assert()
        .code(0)
        .stdout("valid\n");
    // A content type the provider never sends is rejected with the reason.
    cli()
        .args([
            "verify",
            "--provider",
            "subnoto",
            "--secret",
            SUBNOTO_SECRET,
        ])
        .args(["-H", &sig, "-H", "Content-Type: text/plain", "-"])
        .write_stdin(json)
        .assert()
        .code(1)
        .stderr(predicate::str::contains("unsupported content type"));
}

#[test]
fn stale_subnoto_signature_respects_tolerance() {
    let v = vector("subnoto-stale-timestamp-0");
    let body = temp_file(&v.body);
    let sig = format!(
        "X-Webhook-Signature: {}",
        v.header("X-Webhook-Signature").unwrap()
    );
    let base = || {
        let mut cmd = cli();
        cmd.args(["verify", "--provider", "subnoto", "--secret", &v.secrets[0]])
            .args(["-H", &sig, "--now-ms", &v.now_ms.to_string()]);
        cmd
    };
    base()
        .arg(body.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("outside tolerance"));
    base()
        .args(["--tolerance-seconds", "600"])
        .arg(body.path())
        .assert()
        .code(0)
        .stdout("valid\n");
}

#[test]
fn usage_errors_exit_2() {
    let body = temp_file(b"{}");
    let path = body.path().to_str().unwrap();
    // Unknown provider.
    cli()
        .args(["sign", "--provider", "adobesign", "--secret", "x", path])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("invalid value 'adobesign'"));
    cli()
        .args(["verify", "--provider", "nope", "--secret", "x", path])
        .assert()
        .code(2);
    // No secret at all, for every command.
    for args in [
        vec!["sign", "--provider", "subnoto", path],
        vec!["verify", "--provider", "subnoto", path],
        vec![
            "send",
            "--provider",
            "subnoto",
            "--url",
            "http://127.0.0.1:9/",
            path,
        ],
    ] {
        cli()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("no secret given"));
    }
    // --form is Subnoto only.
    cli()
        .args([
            "sign",
            "--provider",
            "spotdraft",
            "--secret",
            SPOTDRAFT_KEY,
            "--form",
            path,
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--form is for subnoto only"));
    // Malformed header argument, missing body file, bad URL.
    cli()
        .args([
            "verify",
            "--provider",
            "subnoto",
            "--secret",
            "x",
            "-H",
            "nocolon",
            path,
        ])
        .assert()
        .code(2);
    cli()
        .args([
            "verify",
            "--provider",
            "subnoto",
            "--secret",
            "x",
            "/nonexistent/body.json",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read body file"));
    cli()
        .args([
            "send",
            "--provider",
            "subnoto",
            "--secret",
            "x",
            "--url",
            "ftp://h/",
            path,
        ])
        .assert()
        .code(2);
    // Every command has --help.
    for cmd in [&[][..], &["sign"][..], &["verify"][..], &["send"][..]] {
        cli()
            .args(cmd)
            .arg("--help")
            .assert()
            .code(0)
            .stdout(predicate::str::contains("Usage: contract-hooks"));
    }
}

#[test]
fn bad_secrets_are_config_errors_and_never_echoed() {
    let body = temp_file(b"{}");
    let secret = "NOT-base64-s3cr3t!!";
    for cmd in ["sign", "verify"] {
        let out = cli()
            .args([cmd, "--provider", "spotdraft", "--secret", secret])
            .arg(body.path())
            .assert()
            .code(2)
            .stderr(predicate::str::contains("secret #0 is not valid base64"))
            .get_output()
            .clone();
        let all = [out.stdout, out.stderr].concat();
        assert!(!String::from_utf8_lossy(&all).contains(secret));
    }
    // Neither a failed verification nor --help shows a secret from the environment.
    let out = cli()
        .env(SECRET_ENV, "env-s3cr3t-value")
        .args([
            "verify",
            "--provider",
            "subnoto",
            "-H",
            "X-Webhook-Signature: garbage",
        ])
        .arg(body.path())
        .assert()
        .code(1)
        .get_output()
        .clone();
    let help = cli()
        .env(SECRET_ENV, "env-s3cr3t-value")
        .args(["sign", "--help"])
        .assert()
        .success()
        .get_output()
        .clone();
    let all = [out.stdout, out.stderr, help.stdout, help.stderr].concat();
    assert!(!String::from_utf8_lossy(&all).contains("env-s3cr3t-value"));
}

#[test]
fn secrets_from_file_and_environment() {
    let json = sample("subnoto-envelope-signed.json");
    let body = temp_file(&json);
    let sign = || {
        let mut cmd = cli();
        cmd.args([
            "sign",
            "--provider",
            "subnoto",
            "--timestamp-ms",
            "1795341600000",
        ]);
        cmd
    };
    let expected = sign()
        .args(["--secret", SUBNOTO_SECRET])
        .arg(body.path())
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();

    // The environment variable.
    sign()
        .env(SECRET_ENV, SUBNOTO_SECRET)
        .arg(body.path())
        .assert()
        .success()
        .stdout(expected.clone());

    // A file: blank lines and CRLF ignored; the first secret signs.
    let file = temp_file(format!("\n{SUBNOTO_SECRET}\r\n\n whsec_older \n").as_bytes());
    sign()
        .arg("--secret-file")
        .arg(file.path())
        .arg(body.path())
        .assert()
        .success()
        .stdout(expected.clone());

    // verify accepts any secret in the file (rotation), and from the environment.
    let headers = parse_header_lines(&expected);
    let sig = format!("{}: {}", headers[1].0, headers[1].1);
    let rotated = temp_file(format!("whsec_newer\n{SUBNOTO_SECRET}\n").as_bytes());
    for setup in [
        |c: &mut assert_cmd::Command, f: &std::path::Path| {
            c.arg("--secret-file").arg(f);
        },
        |c: &mut assert_cmd::Command, _: &std::path::Path| {
            c.env(SECRET_ENV, SUBNOTO_SECRET);
        },
    ] {
        let mut cmd = cli();
        cmd.args([
            "verify",
            "--provider",
            "subnoto",
            "--now-ms",
            "1795341601234",
        ])
        .args(["-H", &sig]);
        setup(&mut cmd, rotated.path());
        cmd.arg(body.path()).assert().code(0).stdout("valid\n");
    }

    // An empty or missing file is a configuration error.
    let empty = temp_file(b"\n \n");
    cli()
        .args(["verify", "--provider", "subnoto", "--secret-file"])
        .arg(empty.path())
        .arg(body.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("holds no secret"));
    cli()
        .args([
            "verify",
            "--provider",
            "subnoto",
            "--secret-file",
            "/nonexistent/secrets",
        ])
        .arg(body.path())
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot read secret file"));
}

#[test]
fn form_without_body_out_tells_the_user() {
    let body = temp_file(&sample("subnoto-envelope-signed.json"));
    cli()
        .args([
            "sign",
            "--provider",
            "subnoto",
            "--secret",
            SUBNOTO_SECRET,
            "--form",
        ])
        .arg(body.path())
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "Content-Type: application/x-www-form-urlencoded\nX-Webhook-Signature: t=",
        ))
        .stderr(predicate::str::contains("--body-out"));
}

/// One request as the test server saw it.
#[derive(Debug)]
struct Recorded {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Recorded {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves exactly one request on 127.0.0.1 and answers `status` with `body`.
/// Returns the base URL and a handle yielding what was received.
fn one_shot_server(status: &'static str, body: &'static str) -> (String, JoinHandle<Recorded>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let deadline = Instant::now() + Duration::from_secs(20);
        let (stream, _) = loop {
            match listener.accept() {
                Ok(conn) => break conn,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "no request arrived");
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut headers = Vec::new();
        loop {
            line.clear();
            reader.read_line(&mut line).unwrap();
            let trimmed = line.trim_end();
            if trimmed.is_empty() {
                break;
            }
            let (k, v) = trimmed.split_once(':').expect("header line");
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map(|(_, v)| v.parse().unwrap())
            .unwrap_or(0);
        let mut received = vec![0; length];
        reader.read_exact(&mut received).unwrap();
        let mut stream = stream;
        write!(
            stream,
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        stream.flush().unwrap();
        Recorded {
            method,
            path,
            headers,
            body: received,
        }
    });
    (url, handle)
}

#[test]
fn send_posts_the_exact_signed_form_bytes() {
    let v = vector("subnoto-form-encoded-valid-0");
    let inner = temp_file(form_payload(&v.body).as_bytes());
    let (base, server) = one_shot_server("202 Accepted", r#"{"status":"accepted","key":"k1"}"#);
    cli()
        .args(["send", "--provider", "subnoto", "--form"])
        .args(["--url", &format!("{base}/webhooks/subnoto")])
        .args(["--timestamp-ms", &v.subnoto_t().to_string()])
        .args(["--webhook-id", v.header("X-Webhook-Id").unwrap()])
        .env(SECRET_ENV, &v.secrets[0])
        .arg(inner.path())
        .assert()
        .code(0)
        .stdout("HTTP/1.1 202 Accepted\n{\"status\":\"accepted\",\"key\":\"k1\"}\n");
    let got = server.join().expect("server thread");
    assert_eq!(
        (got.method.as_str(), got.path.as_str()),
        ("POST", "/webhooks/subnoto")
    );
    assert_eq!(got.body, v.body, "the exact form-encoded bytes");
    assert_eq!(
        got.header("x-webhook-signature"),
        v.header("X-Webhook-Signature")
    );
    assert_eq!(got.header("x-webhook-id"), v.header("X-Webhook-Id"));
    assert_eq!(
        got.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
}

#[test]
fn send_spotdraft_json_and_report_failures() {
    let v = vector("spotdraft-valid-0");
    let body = temp_file(&v.body);
    let (base, server) = one_shot_server("202 Accepted", r#"{"status":"accepted"}"#);
    cli()
        .args(["send", "--provider", "spotdraft", "--secret", &v.secrets[0]])
        .args(["--url", &format!("{base}/webhooks/spotdraft")])
        .arg(body.path())
        .assert()
        .code(0)
        .stdout(predicate::str::starts_with("HTTP/1.1 202 Accepted\n"));
    let got = server.join().expect("server thread");
    assert_eq!(got.body, v.body);
    assert_eq!(
        got.header("x-sd-webhook-content-hash"),
        v.header("X-SD-WEBHOOK-CONTENT-HASH")
    );
    assert_eq!(got.header("content-type"), Some("application/json"));

    // A non-2xx answer: exit 1, status and body still printed.
    let (base, server) = one_shot_server("401 Unauthorized", r#"{"error":"invalid signature"}"#);
    cli()
        .args(["send", "--provider", "spotdraft", "--secret", &v.secrets[0]])
        .args(["--url", &base])
        .arg(body.path())
        .assert()
        .code(1)
        .stdout("HTTP/1.1 401 Unauthorized\n{\"error\":\"invalid signature\"}\n");
    server.join().expect("server thread");

    // Nobody listening: exit 1 with the reason.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    cli()
        .args(["send", "--provider", "spotdraft", "--secret", &v.secrets[0]])
        .args(["--url", &format!("http://127.0.0.1:{port}/")])
        .arg(body.path())
        .assert()
        .code(1)
        .stderr(predicate::str::contains("request failed"));
}
