//! The scan of what the child wrote, and the scanner's own test.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::time::Duration;

use base64::Engine;
use integration_tests::*;
use serde_json::{json, Value};

use crate::{Sent, CHILD, REPORT_ENV};

/// Everything that must not appear, by category.
struct Forbidden {
    /// (category, exact text), matched case-insensitively.
    phrases: Vec<(&'static str, String)>,
    /// (category, source, window length): any window of the source with at
    /// least 5 distinct characters that is not inside an allowed identifier.
    windows: Vec<(&'static str, Vec<u8>, usize)>,
    /// Logged on purpose (ledger keys, event types).
    allowed: Vec<String>,
}

/// Values of name fields in the samples: people (and organisations).
fn sample_names() -> BTreeSet<String> {
    fn walk(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    let k_lower = k.to_ascii_lowercase();
                    if k_lower.ends_with("name") && k != "contract_type_name" {
                        if let Some(s) = v.as_str().filter(|s| *s != "SYSTEM") {
                            out.insert(s.to_owned());
                        }
                    }
                    walk(v, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|v| walk(v, out)),
            _ => {}
        }
    }
    let mut names = BTreeSet::new();
    for (_, name) in samples() {
        walk(&serde_json::from_slice(&sample(&name)).unwrap(), &mut names);
    }
    names
}

impl Forbidden {
    fn new(sent: &Sent) -> Forbidden {
        let b64 = base64::engine::general_purpose::STANDARD;
        let mut phrases = Vec::new();
        let mut windows = Vec::new();
        for secret in [SPOTDRAFT_KEY, SPOTDRAFT_KEY_NEXT] {
            let decoded = b64.decode(secret).unwrap();
            phrases.push(("secret", secret.to_owned()));
            windows.push(("secret", secret.as_bytes().to_vec(), 16));
            windows.push(("secret (base64-decoded)", decoded.clone(), 16));
            windows.push(("secret (decoded, hex)", hex_of(&decoded).into_bytes(), 16));
        }
        for secret in [SUBNOTO_SECRET, SUBNOTO_SECRET_NEXT, "whsec_x"] {
            phrases.push(("secret", secret.to_owned()));
            windows.push(("secret", secret.as_bytes().to_vec(), 16));
        }
        for signature in &sent.signatures {
            phrases.push(("signature", signature.clone()));
            windows.push(("signature", signature.as_bytes().to_vec(), 16));
        }
        for name in sample_names() {
            phrases.push(("name", name));
        }
        for body in &sent.bodies {
            windows.push(("payload body", b64.decode(body).unwrap(), 20));
        }
        for body in &sent.queue_bodies {
            windows.push(("queue message body", body.as_bytes().to_vec(), 20));
        }
        let allowed = sent.identifiers.clone();
        Forbidden {
            phrases,
            windows,
            allowed,
        }
    }

    /// Every leak in `text`, one line each, with where it was found.
    fn scan(&self, text: &str) -> Vec<String> {
        let mut leaks = BTreeSet::new();
        let line_of = |at: usize| text[..at].matches('\n').count() + 1;
        let lower = text.to_lowercase();
        for (category, phrase) in &self.phrases {
            if let Some(at) = lower.find(&phrase.to_lowercase()) {
                let line = lower[..at].matches('\n').count() + 1;
                leaks.insert(format!("{category} {phrase:?} on line {line}"));
            }
        }
        for at in email_addresses(text) {
            leaks.insert(format!("an email address on line {}", line_of(at)));
        }
        // Identifiers logged on purpose (with the JSON quoting around them) must
        // not count as pieces of a body: mask them before looking for windows.
        let mut masked = text.to_owned();
        let mut allowed: Vec<&String> = self.allowed.iter().collect();
        allowed.sort_by_key(|a| std::cmp::Reverse(a.len()));
        for identifier in allowed {
            masked = masked.replace(identifier.as_str(), "\u{1}");
        }
        let bytes = masked.as_bytes();
        let line_of = |at: usize| masked[..at].matches('\n').count() + 1;
        let mut by_len: BTreeMap<usize, HashSet<&[u8]>> = BTreeMap::new();
        for (_, _, len) in &self.windows {
            by_len
                .entry(*len)
                .or_insert_with(|| bytes.windows(*len).collect());
        }
        for (category, source, len) in &self.windows {
            let present = &by_len[len];
            for window in source.windows(*len) {
                let distinct: HashSet<&u8> = window.iter().collect();
                if distinct.len() < 5 || !present.contains(window) {
                    continue;
                }
                let at = bytes.windows(*len).position(|w| w == window).unwrap();
                leaks.insert(format!(
                    "{category}: {:?} on line {}",
                    String::from_utf8_lossy(window),
                    line_of(at)
                ));
                break;
            }
        }
        leaks.into_iter().collect()
    }
}

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Byte offsets of things shaped like `local@domain.tld`.
fn email_addresses(text: &str) -> Vec<usize> {
    let bytes = text.as_bytes();
    let local = |b: u8| b.is_ascii_alphanumeric() || b"._%+-".contains(&b);
    let domain = |b: u8| b.is_ascii_alphanumeric() || b".-".contains(&b);
    let mut found = Vec::new();
    for (at, _) in text.match_indices('@') {
        let start = bytes[..at].iter().rev().take_while(|b| local(**b)).count();
        let host: Vec<u8> = bytes[at + 1..]
            .iter()
            .copied()
            .take_while(|b| domain(*b))
            .collect();
        let host = String::from_utf8_lossy(&host);
        let host = host.trim_end_matches('.');
        let has_tld = host.rsplit_once('.').is_some_and(|(name, tld)| {
            !name.is_empty() && tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic())
        });
        if start > 0 && has_tld {
            found.push(at - start);
        }
    }
    found
}

#[test]
fn the_scanner_finds_each_kind_of_leak() {
    let body = sample("spotdraft-contract-signed.json");
    let signature = hex_of(
        &(0..64u8)
            .map(|i| i.wrapping_mul(37) ^ 0x5c)
            .collect::<Vec<_>>(),
    );
    let sent = Sent {
        signatures: vec![signature.clone()],
        bodies: vec![base64::engine::general_purpose::STANDARD.encode(&body)],
        queue_bodies: vec![],
        identifiers: vec!["CONTRACT_SIGNED".into()],
        invocations: vec![],
    };
    let forbidden = Forbidden::new(&sent);
    let clean = r#"{"level":"INFO","provider":"spotdraft","key":"spotdraft#ab12","outcome":"accepted","status":202,"event_type":"CONTRACT_SIGNED","message":"webhook"}"#;
    assert_eq!(forbidden.scan(clean), Vec::<String>::new());
    let decoded = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(SPOTDRAFT_KEY)
            .unwrap(),
    )
    .unwrap();
    for (leak, category) in [
        (format!("key={SPOTDRAFT_KEY}"), "secret"),
        (format!("k {}", &SUBNOTO_SECRET[3..25]), "secret"),
        (format!("k {}", &decoded[2..22]), "secret (base64-decoded)"),
        (format!("sig {}", &signature[..40]), "signature"),
        ("from priya.nair@example.com".to_owned(), "email"),
        ("by someone@corp.example.org.".to_owned(), "email"),
        ("signer LENA FISCHER".to_owned(), "name"),
        ("signer José Álvarez".to_owned(), "name"),
        (
            format!("body {}", String::from_utf8_lossy(&body[100..125])),
            "payload body",
        ),
    ] {
        let text = format!("{clean}\n{leak}\n");
        let leaks = forbidden.scan(&text);
        assert!(
            leaks
                .iter()
                .any(|l| l.contains(category) && l.contains("line 2")),
            "{leak:?} not found as {category}: {leaks:?}"
        );
    }
}

#[tokio::test]
async fn a_full_run_logs_no_secret_signature_email_name_or_payload() {
    scan_a_full_run("info").await;
}

/// `template.yaml` lets the operator choose `debug` too.
#[tokio::test]
async fn a_full_run_at_debug_level_logs_none_either() {
    scan_a_full_run("debug").await;
}

/// And `trace`: the AWS SDK's wire-level trace logs (whole requests and
/// responses) are capped at `debug` by `store::init_json_logs`.
#[tokio::test]
async fn a_full_run_at_trace_level_logs_none_either() {
    scan_a_full_run("trace").await;
}

async fn scan_a_full_run(level: &str) {
    let report =
        std::env::temp_dir().join(format!("log-scan-{}.json", uuid::Uuid::new_v4().simple()));
    let out = child::run_async(
        CHILD,
        &[("RUST_LOG", level), (REPORT_ENV, report.to_str().unwrap())],
        Duration::from_secs(180),
    )
    .await;
    let tail = |s: &str| {
        s.lines()
            .rev()
            .take(40)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert!(
        out.status.success(),
        "the child run failed ({:?}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        tail(&out.stdout),
        tail(&out.stderr)
    );
    let sent: Sent = serde_json::from_slice(&std::fs::read(&report).unwrap()).unwrap();
    let _ = std::fs::remove_file(&report);
    let text = format!("{}\n{}", out.stdout, out.stderr);
    // Kept for a look when an assertion below fails.
    let capture = std::env::temp_dir().join(format!("contract-hooks-log-scan-{level}.log"));
    std::fs::write(&capture, &text).unwrap();
    eprintln!("log scan: the child's output is in {}", capture.display());

    // The capture holds the whole run.
    let lines: Vec<Value> = text
        .lines()
        // libtest may print `test NAME ... ` in front of the first line.
        .filter_map(|l| serde_json::from_str::<Value>(&l[l.find('{')?..]).ok())
        .filter(Value::is_object)
        .collect();
    let emf = lines.iter().filter(|l| l.get("_aws").is_some()).count();
    let field_values = |message: &str, field: &str| -> BTreeSet<String> {
        lines
            .iter()
            .filter(|l| l["message"] == message)
            .filter_map(|l| match &l[field] {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect()
    };
    let outcomes = field_values("webhook", "outcome");
    for expected in [
        "accepted",
        "duplicate",
        "requeued",
        "unverified",
        "unreadable",
        "too_large",
        "not_found",
        "method_not_allowed",
        "dependency_failed",
    ] {
        assert!(
            outcomes.contains(expected),
            "no {expected} logged: {outcomes:?}"
        );
    }
    let statuses = field_values("webhook", "status");
    for expected in [
        "200", "202", "400", "401", "404", "405", "413", "415", "503",
    ] {
        assert!(
            statuses.contains(expected),
            "no {expected} logged: {statuses:?}"
        );
    }
    let records = field_values("record", "outcome");
    for expected in ["updated", "superseded", "failed", "malformed"] {
        assert!(
            records.contains(expected),
            "no record {expected}: {records:?}"
        );
    }
    for message in [
        "batch",
        "sweep",
        "swept",
        "invocation rejected",
        "webhook secrets refresh failed; keeping cached secrets",
        "ingest ready",
    ] {
        assert!(
            lines.iter().any(|l| l["message"] == message),
            "no {message:?} line"
        );
    }
    // Each processor invocation's line reports its latency and the AWS calls
    // it made: as many as reached the proxy.
    let costs: Vec<&Value> = lines
        .iter()
        .filter(|l| l["message"] == "batch" || l["message"] == "sweep")
        .collect();
    assert_eq!(
        costs.len(),
        sent.invocations.len(),
        "a batch or sweep line per invocation: {costs:?}"
    );
    let mut compared = 0;
    for (line, invoked) in costs.iter().zip(&sent.invocations) {
        let label = &invoked.label;
        let expected_message = if label == "sweep" { "sweep" } else { "batch" };
        assert_eq!(line["message"], expected_message, "{label}: {line}");
        assert!(
            line["latency_ms"].as_f64().is_some_and(|ms| ms >= 0.0),
            "{label}: {line}"
        );
        let calls = line["aws_calls"]
            .as_u64()
            .unwrap_or_else(|| panic!("{label}: no aws_calls in {line}"));
        if let Some(wire) = invoked.wire_calls {
            assert_eq!(calls, wire as u64, "{label}: {line}");
            compared += 1;
        }
        let expected = match label.as_str() {
            // Status UpdateItem + ledger UpdateItem.
            "new record" => Some(2),
            // The status UpdateItem fails its condition and returns an item
            // that already has the signer and fields: no fill-in. Then the
            // ledger UpdateItem.
            "same record again" => Some(2),
            "malformed record" => Some(0),
            // A Query per shard, the item's body, the lease, the enqueue.
            "sweep" => Some(store::schema::PENDING_SHARDS as u64 + 3),
            _ => None,
        };
        if let Some(expected) = expected {
            assert_eq!(calls, expected, "{label}: {line}");
        }
    }
    assert!(
        compared + 1 >= costs.len(),
        "at most the faulted batch goes unchecked"
    );

    // One metric line per request (the sweep's event was written directly).
    let ingest_emf = lines
        .iter()
        .filter(|l| l.get("_aws").is_some() && l["Function"] == "ingest")
        .count();
    assert_eq!(ingest_emf, sent.bodies.len() - 1, "an EMF line per request");
    assert_eq!(
        text.lines().filter(|l| l.starts_with("Error: ")).count(),
        2,
        "the failed cold starts' errors"
    );
    assert!(
        !sent.signatures.is_empty() && !sent.bodies.is_empty() && !sent.queue_bodies.is_empty()
    );

    let leaks = Forbidden::new(&sent).scan(&text);
    assert!(
        leaks.is_empty(),
        "{} leak(s) in the logs:\n{}",
        leaks.len(),
        leaks.join("\n")
    );
    figures(
        &format!("log_scan_{level}"),
        json!({"bytes": text.len(), "lines": text.lines().count(), "json_lines": lines.len(),
               "emf_lines": emf, "requests": sent.bodies.len() - 1, "signatures": sent.signatures.len(),
               "queue_messages": sent.queue_bodies.len(), "leaks": 0}),
    );
}
