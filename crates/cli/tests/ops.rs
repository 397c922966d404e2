//! `contract-hooks failed`, `replay` and `redrive` as an operator runs them:
//! the binary against moto (the project's `.venv`, started on a free loopback
//! port), configured through the environment or an env file like `status`.
//! The pipeline behaviour itself (replay rebuilds the same status table,
//! redrive moves each message once) is tested in `tests/tests/ops.rs`.

mod common;

use common::{moto, moto_clients};

use serde_json::Value;
use store::{AwsClients, Ledger, NewEntry, QueueMessage};
use verify::{BodyFormat, Event, Provider};

struct Stack {
    clients: AwsClients,
    ledger: Ledger,
    events_table: String,
    queue_url: String,
    dlq_url: String,
}

async fn stack() -> Stack {
    let clients = moto_clients().await;
    let name = format!("cli{}", std::process::id() ^ (domain::now_ms() as u32));
    let name = format!(
        "{name}-{}",
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let events_table = format!("{name}-events");
    testkit::resources::create_ledger_table(&clients.dynamodb, &events_table)
        .await
        .unwrap();
    let (queue_url, dlq_url) =
        testkit::resources::create_queues(&clients.sqs, &format!("{name}-q"))
            .await
            .unwrap();
    Stack {
        ledger: Ledger::new(clients.dynamodb.clone(), &events_table, 30, 30_000),
        clients,
        events_table,
        queue_url,
        dlq_url,
    }
}

static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// Accepts a sample into the ledger the way ingest does; returns its key.
async fn accept(stack: &Stack, name: &str, received_at_ms: i64) -> String {
    let provider: Provider = name.split('-').next().unwrap().parse().unwrap();
    let body = std::fs::read(common::data_dir().join("samples").join(name)).unwrap();
    let event = Event::parse(provider, BodyFormat::Json, &body).unwrap();
    stack
        .ledger
        .accept(NewEntry {
            event: &event,
            body,
            headers: vec![("content-type".into(), "application/json".into())],
            received_at_ms,
        })
        .await
        .unwrap();
    event.ledger_key()
}

/// The CLI with settings in the environment only (the env file does not exist).
fn cli(stack: &Stack) -> assert_cmd::Command {
    let mut cmd = common::cli();
    cmd.env("AWS_ENDPOINT_URL", moto())
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("EVENTS_TABLE", &stack.events_table)
        .env("QUEUE_URL", &stack.queue_url)
        .env("DLQ_URL", &stack.dlq_url)
        .env_remove("STATUS_TABLE");
    cmd
}

fn no_env_file(cmd: &mut assert_cmd::Command) -> &mut assert_cmd::Command {
    cmd.args(["--env-file", "/nonexistent/contract-hooks/env"])
}

fn json_ok(cmd: &mut assert_cmd::Command) -> Value {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON output")
}

async fn queue_bodies(stack: &Stack, url: &str) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let batch = stack
            .clients
            .sqs
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .send()
            .await
            .unwrap();
        let messages = batch.messages.unwrap_or_default();
        if messages.is_empty() {
            out.sort();
            return out;
        }
        for m in messages {
            out.push(m.body().unwrap().to_owned());
            stack
                .clients
                .sqs
                .delete_message()
                .queue_url(url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
}

#[tokio::test]
async fn failed_and_replay_read_the_ledger_and_enqueue_what_they_list() {
    let stack = stack().await;
    let keys = [
        accept(&stack, "spotdraft-contract-created.json", 1_700_000_000_000).await,
        accept(&stack, "subnoto-envelope-declined.json", 1_700_000_100_000).await,
        accept(&stack, "subnoto-envelope-signed.json", 1_700_000_200_000).await,
    ];

    let none = json_ok(no_env_file(cli(&stack).args(["failed", "--json"])));
    assert_eq!(none["count"], 0);
    assert!(stack
        .ledger
        .mark_failed(&keys[1], domain::now_ms())
        .await
        .unwrap());
    let listed = json_ok(no_env_file(cli(&stack).args(["failed", "--json"])));
    assert_eq!(listed["count"], 1);
    assert_eq!(listed["events"][0]["key"], keys[1].as_str());
    assert_eq!(listed["events"][0]["event_type"], "ENVELOPE_DECLINED");
    let human = no_env_file(cli(&stack).arg("failed")).output().unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(
        text.contains(&keys[1]) && text.contains("1 FAILED event(s)"),
        "{text}"
    );

    // A dry run lists and sends nothing.
    let dry = json_ok(no_env_file(cli(&stack).args([
        "replay",
        "--since",
        "2023-11-14T22:15:00Z",
        "--dry-run",
        "--json",
    ])));
    assert_eq!(dry["matched"], 2, "{dry}");
    assert_eq!(dry["replayed"], 0);
    assert!(queue_bodies(&stack, &stack.queue_url).await.is_empty());

    // --key: exactly the stored event's queue message.
    let one = json_ok(no_env_file(
        cli(&stack).args(["replay", "--key", &keys[1], "--json"]),
    ));
    assert_eq!(one["replayed"], 1);
    let entry = stack.ledger.get(&keys[1]).await.unwrap().unwrap();
    let expected = serde_json::to_string(
        &QueueMessage::new(entry.event().unwrap(), entry.received_at_ms).resent(),
    )
    .unwrap();
    assert_eq!(queue_bodies(&stack, &stack.queue_url).await, [expected]);

    // --since (ms) with --provider and --status filters.
    let subnoto = json_ok(no_env_file(cli(&stack).args([
        "replay",
        "--since",
        "1700000000000",
        "--provider",
        "subnoto",
        "--status",
        "RECEIVED",
        "--json",
    ])));
    assert_eq!(subnoto["replayed"], 1, "{subnoto}");
    assert_eq!(subnoto["keys"][0], keys[2].as_str());
    let bodies = queue_bodies(&stack, &stack.queue_url).await;
    assert_eq!(bodies.len(), 1);
    assert_eq!(
        QueueMessage::from_json(&bodies[0]).unwrap().ledger_key,
        keys[2]
    );

    // An unknown key fails; --key and --since are exclusive; one is required.
    let missing = no_env_file(cli(&stack).args(["replay", "--key", "subnoto#nope"]))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(1));
    for args in [vec!["replay"], vec!["replay", "--key", "k", "--since", "0"]] {
        let out = no_env_file(cli(&stack).args(&args)).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[tokio::test]
async fn redrive_moves_dead_letters_and_reads_settings_from_the_env_file() {
    let stack = stack().await;
    for i in 0..12 {
        stack
            .clients
            .sqs
            .send_message()
            .queue_url(&stack.dlq_url)
            .message_body(format!("{{\"n\":{i}}}"))
            .send()
            .await
            .unwrap();
    }
    // Settings from an env file like the one `make dev` writes, none in the environment.
    let dir = tempfile::tempdir().unwrap();
    let env_file = dir.path().join("env");
    std::fs::write(
        &env_file,
        format!(
            "AWS_ENDPOINT_URL='{}'\nAWS_REGION='us-east-1'\nAWS_ACCESS_KEY_ID='testing'\n\
             AWS_SECRET_ACCESS_KEY='testing'\nQUEUE_URL='{}'\nDLQ_URL='{}'\n",
            moto(),
            stack.queue_url,
            stack.dlq_url
        ),
    )
    .unwrap();
    let from_file = |args: &[&str]| {
        let mut cmd = common::cli();
        for name in ["AWS_ENDPOINT_URL", "QUEUE_URL", "DLQ_URL", "EVENTS_TABLE"] {
            cmd.env_remove(name);
        }
        cmd.args(args).arg("--env-file").arg(&env_file);
        cmd
    };

    let dry = json_ok(&mut from_file(&["redrive", "--dry-run", "--json"]));
    assert_eq!(
        (dry["waiting"].as_u64(), dry["moved"].as_u64()),
        (Some(12), Some(0))
    );
    let some = json_ok(&mut from_file(&["redrive", "--max", "5", "--json"]));
    assert_eq!(some["moved"], 5);
    let rest = from_file(&["redrive"]).output().unwrap();
    assert!(rest.status.success());
    assert!(
        String::from_utf8_lossy(&rest.stdout).contains("moved 7 message(s)"),
        "{}",
        String::from_utf8_lossy(&rest.stdout)
    );
    let moved = queue_bodies(&stack, &stack.queue_url).await;
    let mut expected: Vec<String> = (0..12).map(|i| format!("{{\"n\":{i}}}")).collect();
    expected.sort();
    assert_eq!(moved, expected, "each message once");
    assert!(queue_bodies(&stack, &stack.dlq_url).await.is_empty());

    // Without DLQ_URL anywhere: a usage error naming it.
    let out = common::cli()
        .env_remove("DLQ_URL")
        .env("QUEUE_URL", &stack.queue_url)
        .args(["redrive", "--env-file", "/nonexistent/env"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("DLQ_URL"));
}

/// `archive` queues the document request and, for SpotDraft, a metadata job
/// beside it: two messages the archiver reads as two independent jobs.
#[tokio::test]
async fn archive_queues_a_document_and_a_metadata_job_for_spotdraft() {
    let stack = stack().await;
    let status_table = format!("{}-status", stack.events_table);
    testkit::resources::create_status_table(&stack.clients.dynamodb, &status_table)
        .await
        .unwrap();
    for (provider, subject) in [(Provider::SpotDraft, "48213"), (Provider::Subnoto, "e1")] {
        stack
            .clients
            .dynamodb
            .put_item()
            .table_name(&status_table)
            .item(
                "pk",
                aws_sdk_dynamodb::types::AttributeValue::S(store::StatusTable::key(
                    provider, subject,
                )),
            )
            .send()
            .await
            .unwrap();
    }
    let run = |provider: &str, id: &str| {
        let mut cmd = cli(&stack);
        cmd.env("STATUS_TABLE", &status_table)
            .env("ARCHIVE_QUEUE_URL", &stack.queue_url)
            .args(["archive", provider, id, "--json"]);
        no_env_file(&mut cmd);
        json_ok(&mut cmd)
    };
    let out = run("spotdraft", "48213");
    assert!(out["metadata_message_id"].is_string(), "{out}");
    let jobs: Vec<_> = queue_bodies(&stack, &stack.queue_url)
        .await
        .iter()
        .map(|b| archiver::event::parse(b).unwrap())
        .collect();
    assert_eq!(jobs.len(), 2);
    assert!(jobs
        .iter()
        .any(|j| matches!(j, archiver::event::Request::Archive(r) if r.subject == "48213")));
    assert!(jobs
        .iter()
        .any(|j| matches!(j, archiver::event::Request::Metadata(r) if r.subject == "48213")));
    let out = run("subnoto", "e1");
    assert!(out.get("metadata_message_id").is_none(), "{out}");
    assert_eq!(queue_bodies(&stack, &stack.queue_url).await.len(), 1);
}
