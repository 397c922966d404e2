//! `contract-hooks status` and `recent` as an operator runs them: the binary
//! against moto (started on a free loopback port), over items written by the
//! processor's own code path (`StatusTable::apply_event`, the archiver's
//! `StatusDocuments::record`) and the ledger ingest writes.

mod common;

use std::collections::BTreeSet;

use common::{moto, moto_clients};
use serde_json::{json, Value};
use store::archive::{DocumentRecord, StatusDocuments};
use store::{Ledger, NewEntry, StatusTable};
use verify::{BodyFormat, Event, Provider};

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

struct Stack {
    status: StatusTable,
    documents: StatusDocuments,
    ledger: Ledger,
    status_table: String,
    events_table: String,
}

async fn stack() -> Stack {
    let clients = moto_clients().await;
    let name = format!(
        "st{}-{}",
        std::process::id() ^ (domain::now_ms() as u32),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let (status_table, events_table) = (format!("{name}-status"), format!("{name}-events"));
    testkit::resources::create_status_table(&clients.dynamodb, &status_table)
        .await
        .unwrap();
    testkit::resources::create_ledger_table(&clients.dynamodb, &events_table)
        .await
        .unwrap();
    Stack {
        status: StatusTable::new(clients.dynamodb.clone(), &status_table),
        documents: StatusDocuments::new(clients.dynamodb.clone(), &status_table),
        ledger: Ledger::new(clients.dynamodb.clone(), &events_table, 30, 30_000),
        status_table,
        events_table,
    }
}

/// What ingest and the processor do with a body: the ledger item (received
/// at `received_at_ms`), then the status sync.
async fn deliver(stack: &Stack, provider: Provider, body: &[u8], received_at_ms: i64) -> Event {
    let event = Event::parse(provider, BodyFormat::Json, body).unwrap();
    stack
        .ledger
        .accept(NewEntry {
            event: &event,
            body: body.to_vec(),
            headers: vec![("content-type".into(), "application/json".into())],
            received_at_ms,
        })
        .await
        .unwrap();
    stack
        .status
        .apply_event(&event, received_at_ms)
        .await
        .unwrap();
    event
}

fn sample(name: &str) -> Value {
    let text = std::fs::read(common::data_dir().join("samples").join(name)).unwrap();
    serde_json::from_slice(&text).unwrap()
}

/// `contract-hooks ARGS` with settings in the environment only (no env file).
fn cli(stack: &Stack, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = common::cli();
    cmd.env("AWS_ENDPOINT_URL", moto())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("STATUS_TABLE", &stack.status_table)
        .env("EVENTS_TABLE", &stack.events_table)
        .args(args)
        .args(["--env-file", "/nonexistent/contract-hooks/env"]);
    cmd
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

fn run(cmd: &mut assert_cmd::Command) -> Run {
    let out = cmd.output().unwrap();
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn ok(cmd: &mut assert_cmd::Command) -> Run {
    let r = run(cmd);
    assert_eq!(r.code, 0, "stdout:\n{}\nstderr:\n{}", r.stdout, r.stderr);
    r
}

fn json_ok(cmd: &mut assert_cmd::Command) -> Value {
    serde_json::from_str(&ok(cmd).stdout).expect("JSON output")
}

/// The value printed after `label` on its line of `status` output.
fn field<'a>(text: &'a str, label: &str) -> &'a str {
    text.lines()
        .find_map(|l| {
            l.strip_prefix("  ")
                .and_then(|l| l.strip_prefix(label))
                .filter(|rest| rest.starts_with(' '))
        })
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {label:?} line in:\n{text}"))
}

#[tokio::test]
async fn status_summarises_a_processed_contract_and_its_document() {
    let stack = stack().await;
    // Signed by a counterparty first, executed later: the signer accumulates.
    let mut signed = sample("spotdraft-contract-executed.json");
    signed["activity"] = json!("CONTRACT_SIGNED");
    signed["contract_status"] = json!("SIGN");
    signed["activity_data"] = json!({
        "timestamp": "2026-11-22T09:30:00Z",
        "signatory": {"name": "Lena Fischer", "email": "lena.fischer@acme.example"}
    });
    deliver(
        &stack,
        Provider::SpotDraft,
        signed.to_string().as_bytes(),
        1_795_339_800_500,
    )
    .await;
    let executed = sample("spotdraft-contract-executed.json");
    let received_ms = 1_795_341_732_250; // 2026-11-22T10:02:12.250Z
    deliver(
        &stack,
        Provider::SpotDraft,
        executed.to_string().as_bytes(),
        received_ms,
    )
    .await;

    let out = ok(&mut cli(&stack, &["status", "spotdraft", "48213"]));
    let text = &out.stdout;
    assert!(text.starts_with("spotdraft contract 48213\n"), "{text}");
    assert_eq!(field(text, "status"), "EXECUTED (was SIGN)");
    assert_eq!(field(text, "lifecycle"), "executed");
    assert_eq!(
        field(text, "title"),
        "Master Services Agreement - Acme Corp"
    );
    assert_eq!(field(text, "reference"), "MSA-2026-0042");
    assert_eq!(field(text, "counterparty"), "Acme Corp");
    assert_eq!(field(text, "signers"), "lena.fischer@acme.example");
    assert_eq!(
        field(text, "last event"),
        "CONTRACT_EXECUTED at 2026-11-22T10:02:11.904Z"
    );
    assert_eq!(field(text, "received"), "2026-11-22T10:02:12.25Z");
    assert_eq!(field(text, "kind"), "TEMPLATE_CONTRACT");
    assert!(
        field(text, "document").starts_with("not archived yet"),
        "{text}"
    );
    // No internal attribute, no raw rank, no bare millisecond integer.
    for hidden in [
        "_rank",
        "rank_class",
        "|0922",
        "1795341731904",
        "last_event_key",
    ] {
        assert!(!text.contains(hidden), "{hidden} shown:\n{text}");
    }

    // The archiver records the document: bucket, key, checksum and size.
    let doc = DocumentRecord {
        s3_uri: "s3://contract-hooks-archive/spotdraft/48213/v7.pdf".into(),
        sha256: "ab".repeat(32),
        bytes: 48_213,
        content_type: "application/pdf".into(),
        version: "7".into(),
        file_name: Some("msa.pdf".into()),
        archived_at: "2026-11-22T10:03:00Z".into(),
        s3_version_id: None,
        fetched_at_ms: 1,
    };
    stack
        .documents
        .record(Provider::SpotDraft, "48213", &doc)
        .await
        .unwrap();
    let text = ok(&mut cli(&stack, &["status", "spotdraft", "48213"])).stdout;
    assert_eq!(field(&text, "document"), doc.s3_uri);
    assert_eq!(field(&text, "  bucket"), "contract-hooks-archive");
    assert_eq!(field(&text, "  key"), "spotdraft/48213/v7.pdf");
    assert_eq!(field(&text, "  sha256"), doc.sha256);
    assert_eq!(field(&text, "  size"), "48213 bytes");
    assert!(!text.contains("document_rank"), "{text}");

    // --json keeps the whole item, internal attributes included.
    let item = json_ok(&mut cli(
        &stack,
        &["status", "spotdraft", "48213", "--json"],
    ));
    assert_eq!(item["pk"], "spotdraft#48213");
    assert_eq!(item["status"], "EXECUTED");
    assert!(
        item["title_rank"].as_str().unwrap().starts_with("1|"),
        "{item}"
    );
    assert!(item["document_rank"].is_string(), "{item}");
    assert_eq!(item["document"]["sha256"], doc.sha256.as_str());
    assert_eq!(item["event_time"], 1_795_341_731_904i64);

    // Without EVENTS_TABLE the received time is unknown, and says why.
    let text = ok(cli(&stack, &["status", "spotdraft", "48213"]).env_remove("EVENTS_TABLE")).stdout;
    assert_eq!(
        field(&text, "received"),
        "unknown (EVENTS_TABLE is not set)"
    );
}

#[tokio::test]
async fn status_finds_hashed_long_ids_and_reports_what_is_missing() {
    let stack = stack().await;
    let long = format!("e{}", "0123456789".repeat(210)); // 2,101 characters
    let mut completed = sample("subnoto-envelope-completed.json");
    completed["data"]["envelopeUuid"] = json!(long);
    deliver(
        &stack,
        Provider::Subnoto,
        completed.to_string().as_bytes(),
        1_795_341_900_100,
    )
    .await;
    let key = StatusTable::key(Provider::Subnoto, &long);
    assert!(key.starts_with("subnoto#subject-sha256:"), "{key}");

    let text = ok(&mut cli(&stack, &["status", "subnoto", &long])).stdout;
    assert!(text.starts_with("subnoto envelope e0123456789"), "{text}");
    assert!(text.lines().next().unwrap().contains("(2101 characters)"));
    assert!(field(&text, "key").starts_with(&key), "{text}");
    assert_eq!(field(&text, "status"), "COMPLETED");
    assert_eq!(
        field(&text, "lifecycle"),
        "executed",
        "Subnoto COMPLETED too"
    );
    assert_eq!(field(&text, "title"), "-");
    assert_eq!(field(&text, "received"), "2026-11-22T10:05:00.1Z");
    assert!(field(&text, "workspace").starts_with("a1b2c3d4"), "{text}");
    let item = json_ok(&mut cli(&stack, &["status", "subnoto", &long, "--json"]));
    assert_eq!(item["pk"], key.as_str());

    // Not found: exit 1 and a hint; no stdout.
    let missing = run(&mut cli(&stack, &["status", "spotdraft", "999999"]));
    assert_eq!(missing.code, 1, "{}", missing.stderr);
    assert!(missing.stdout.is_empty());
    assert!(
        missing.stderr.contains("not found") && missing.stderr.contains("contract-hooks recent"),
        "{}",
        missing.stderr
    );
    let missing = run(&mut cli(
        &stack,
        &["status", "spotdraft", "999999", "--json"],
    ));
    assert_eq!(missing.code, 1);

    // Usage errors: exit 2, nothing read.
    let no_table = run(cli(&stack, &["status", "spotdraft", "1"]).env_remove("STATUS_TABLE"));
    assert_eq!(no_table.code, 2);
    assert!(no_table.stderr.contains("STATUS_TABLE"));
    assert_eq!(run(&mut cli(&stack, &["status", "spotdraft", " "])).code, 2);
    assert_eq!(run(&mut cli(&stack, &["status", "adobesign", "1"])).code, 2);
}

/// A status-bearing event for `subject` at `time_ms`, through the processor's path.
async fn event_at(stack: &Stack, provider: &str, subject: &str, status: &str, time_ms: i64) {
    let event_type = match provider {
        "subnoto" => "ENVELOPE_SENT",
        _ => "CONTRACT_SENT_TO_COUNTERPARTY",
    };
    let event: Event = serde_json::from_value(json!({
        "provider": provider, "key": format!("k-{subject}-{time_ms}"),
        "event_type": event_type, "subject": subject, "occurred_at_ms": time_ms,
        "status": status, "title": format!("Title of {subject}"),
    }))
    .unwrap();
    stack.status.apply_event(&event, time_ms).await.unwrap();
}

#[tokio::test]
async fn recent_lists_the_newest_subjects_across_scan_pages() {
    let stack = stack().await;
    let now = domain::now_ms();
    let hour = 3_600_000;
    // 9 recent subjects (one per hour back), and 3 older than 30 days.
    let mut expected = Vec::new();
    for i in 0..9i64 {
        let (provider, subject, status) = if i % 3 == 2 {
            ("subnoto", format!("env-{i}"), "SENT")
        } else {
            ("spotdraft", format!("{}", 1000 + i), "SIGN")
        };
        event_at(&stack, provider, &subject, status, now - (i + 1) * hour).await;
        expected.push((provider.to_owned(), subject));
    }
    for i in 0..3i64 {
        event_at(
            &stack,
            "spotdraft",
            &format!("{}", 9000 + i),
            "DRAFT",
            now - (31 + i) * 24 * hour,
        )
        .await;
    }
    let ids = |v: &Value| -> Vec<(String, String)> {
        v["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["provider"].as_str().unwrap().to_owned(),
                    s["id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    };

    // Pages of 2 items: 12 items take several Scan requests; same answer.
    let paged = json_ok(&mut cli(&stack, &["recent", "--json", "--page-size", "2"]));
    assert!(paged["pages"].as_u64().unwrap() >= 6, "{paged}");
    assert_eq!(paged["scanned"], 12);
    assert_eq!(ids(&paged), expected, "newest first, 7 days by default");
    let whole = json_ok(&mut cli(&stack, &["recent", "--json"]));
    assert_eq!(ids(&whole), expected);
    let first = &whole["subjects"][0];
    assert_eq!(
        first["key"],
        format!(
            "{}#{}",
            first["provider"].as_str().unwrap(),
            first["id"].as_str().unwrap()
        )
    );
    assert_eq!(first["status"], "SIGN");
    assert_eq!(first["lifecycle"], "out_for_signature");
    assert_eq!(first["title"], "Title of 1000");
    assert_eq!(first["last_event_type"], "CONTRACT_SENT_TO_COUNTERPARTY");
    assert_eq!(first["last_event_at_ms"], now - hour);

    // --since as a duration and as RFC 3339; --provider; --limit.
    let four_h = json_ok(&mut cli(&stack, &["recent", "--json", "--since", "270m"]));
    assert_eq!(ids(&four_h), expected[..4]);
    let all = json_ok(&mut cli(
        &stack,
        &["recent", "--json", "--since", "2000-01-01T00:00:00Z"],
    ));
    assert_eq!(all["matched"], 12);
    assert_eq!(ids(&all)[9].1, "9000", "the old ones after the recent ones");
    let subnoto = json_ok(&mut cli(
        &stack,
        &[
            "recent",
            "--json",
            "--provider",
            "subnoto",
            "--page-size",
            "3",
        ],
    ));
    let subnoto_expected: Vec<_> = expected
        .iter()
        .filter(|(p, _)| p == "subnoto")
        .cloned()
        .collect();
    assert_eq!(ids(&subnoto), subnoto_expected);
    assert_eq!(subnoto["subjects"][0]["lifecycle"], "out_for_signature");
    let two = json_ok(&mut cli(
        &stack,
        &["recent", "--json", "--limit", "2", "--page-size", "5"],
    ));
    assert_eq!(ids(&two), expected[..2]);
    assert_eq!(two["matched"], 9);

    // For people: a header, one line per subject in the same order, a summary.
    let text = ok(&mut cli(&stack, &["recent", "--limit", "3"])).stdout;
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("LAST EVENT"), "{text}");
    assert_eq!(lines.len(), 5, "{text}");
    for (line, (provider, id)) in lines[1..4].iter().zip(&expected) {
        assert!(
            line.contains(provider.as_str()) && line.contains(id.as_str()),
            "{line}"
        );
    }
    assert!(lines[1].contains("SIGN (out_for_signature)") && lines[1].ends_with("Title of 1000"));
    assert!(lines[4].starts_with("3 of 9 subject(s)"), "{text}");
    let seen: BTreeSet<&str> = lines[1..4].iter().map(|l| &l[..24]).collect();
    assert_eq!(seen.len(), 3, "one time per line");

    // Nothing that recent; bad values are usage errors.
    let none = ok(&mut cli(
        &stack,
        &["recent", "--since", "1s", "--provider", "subnoto"],
    ));
    assert!(
        none.stdout.starts_with("no subject with an event since"),
        "{}",
        none.stdout
    );
    for bad in [
        vec!["recent", "--since", "24"],
        vec!["recent", "--since", "yesterday"],
        vec!["recent", "--limit", "0"],
        vec!["recent", "--provider", "adobesign"],
    ] {
        let r = run(&mut cli(&stack, &bad));
        assert_eq!(r.code, 2, "{bad:?}: {}", r.stderr);
    }
    let no_table = run(cli(&stack, &["recent"]).env_remove("STATUS_TABLE"));
    assert_eq!(no_table.code, 2);

    // The help says what it costs.
    let help = ok(common::cli().args(["recent", "--help"])).stdout;
    assert!(
        help.contains("Scans the whole table") && help.contains("read request units"),
        "{help}"
    );
}
