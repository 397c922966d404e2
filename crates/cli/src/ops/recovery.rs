//! `contract-hooks replay`, `redrive` and `failed`: the tools an operator
//! reaches for when something went wrong.
//!
//! They read their settings like `status` does: `EVENTS_TABLE`, `QUEUE_URL`,
//! `DLQ_URL` (CLI only: the dead-letter queue) and `AWS_ENDPOINT_URL` from the
//! environment, falling back to the file `make dev` writes.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::{json, Value};
use store::ops::{replay_message, CorruptItem, LedgerFilter, Redrive, ScannedEntry};
use store::Queue;

use crate::common::{bar, format_ms, parse_time, print_json, print_line, runtime, spinner};
use crate::error::{CliError, CliResult, EXIT_FAILURE};
use crate::ops::context::{failed, OpsContext};
use crate::signing::ProviderArg;

/// Where the settings come from.
#[derive(Debug, Args)]
pub struct EnvArgs {
    /// Environment file written by `make dev`, read for settings not in the environment.
    #[arg(long, value_name = "PATH", default_value = ".dev/env")]
    pub env_file: PathBuf,
}

/// A ledger status, for filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
#[value(rename_all = "UPPER")]
pub enum LedgerStatus {
    /// Accepted, not yet applied.
    Received,
    /// Applied to the status table.
    Processed,
    /// Given up on by the sweep.
    Failed,
}

impl LedgerStatus {
    fn as_str(self) -> &'static str {
        match self {
            LedgerStatus::Received => store::schema::status::RECEIVED,
            LedgerStatus::Processed => store::schema::status::PROCESSED,
            LedgerStatus::Failed => store::schema::status::FAILED,
        }
    }
}

fn entry_json(scanned: &ScannedEntry) -> Value {
    let e = &scanned.entry;
    json!({
        "key": e.key,
        "provider": e.provider,
        "event_type": e.event_type,
        "subject": e.subject,
        "status": e.status,
        "received_at": format_ms(e.received_at_ms),
        "received_at_ms": e.received_at_ms,
        "enqueue_attempts": e.enqueue_attempts,
        "processed_at_ms": scanned.processed_at_ms,
        "failed_at_ms": scanned.failed_at_ms,
    })
}

fn corrupt_json(items: &[CorruptItem]) -> Value {
    Value::Array(
        items
            .iter()
            .map(|c| json!({"key": c.key, "reason": c.reason}))
            .collect(),
    )
}

// ------------------------------------------------------------------ replay

/// Re-enqueue stored events from the ledger.
///
/// Rebuilds each event's queue message from the ledger item (the stored,
/// normalised event and its arrival time) and sends it to QUEUE_URL. The
/// processor is idempotent: an event it already applied changes nothing, and
/// a FAILED one is applied and marked PROCESSED.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["key", "since"])))]
pub struct ReplayArgs {
    /// One ledger key, `{provider}#{dedup key}` (as `failed` lists them).
    #[arg(long, conflicts_with_all = ["since", "provider", "status"])]
    pub key: Option<String>,

    /// Every event received at or after this time: RFC 3339 or Unix milliseconds.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<i64>,

    /// Only this provider's events (with --since).
    #[arg(long, value_enum, ignore_case = true)]
    pub provider: Option<ProviderArg>,

    /// Only events with this ledger status (with --since).
    #[arg(long, value_enum, ignore_case = true)]
    pub status: Option<LedgerStatus>,

    /// List what would be replayed; send nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub env: EnvArgs,
}

/// Runs `replay`.
pub fn replay(args: ReplayArgs) -> CliResult {
    let rt = runtime()?;
    rt.block_on(replay_async(args))
}

async fn replay_async(args: ReplayArgs) -> CliResult {
    let env = OpsContext::load(&args.env.env_file, &["EVENTS_TABLE", "QUEUE_URL"]).await?;
    let ledger = env.ledger()?;
    let queue_url = env.setting("QUEUE_URL")?;
    let queue = Queue::new(env.clients.sqs.clone(), &queue_url);

    let (entries, corrupt) = match &args.key {
        Some(key) => {
            let entry = ledger
                .get(key)
                .await
                .map_err(|e| failed(&format!("reading {key}"), e))?
                .ok_or_else(|| {
                    CliError::Failed(anyhow::anyhow!(
                        "no ledger item {key} in {} (expired after the retention, or a typo?)",
                        ledger.table()
                    ))
                })?;
            (
                vec![ScannedEntry {
                    entry,
                    processed_at_ms: None,
                    failed_at_ms: None,
                }],
                Vec::new(),
            )
        }
        None => {
            let filter = LedgerFilter {
                since_ms: args.since,
                provider: args.provider.map(Into::into),
                status: args.status.map(|s| s.as_str().to_owned()),
            };
            let progress = spinner("scanning the ledger: matched", args.json);
            let listing = ledger
                .scan_all(&filter, |page| progress.inc(page.entries.len() as u64))
                .await
                .map_err(|e| failed(&format!("scanning {}", ledger.table()), e))?;
            progress.finish_and_clear();
            (listing.entries, listing.corrupt)
        }
    };
    for c in &corrupt {
        eprintln!("skipped {}: {}", c.key, c.reason);
    }

    if args.dry_run {
        if args.json {
            print_json(&json!({
                "dry_run": true,
                "queue_url": queue_url,
                "matched": entries.len(),
                "replayed": 0,
                "events": entries.iter().map(entry_json).collect::<Vec<_>>(),
                "corrupt": corrupt_json(&corrupt),
            }))?;
        } else {
            for s in &entries {
                print_line(&format!(
                    "{}  {}  {}  {}",
                    s.entry.key,
                    s.entry.event_type,
                    s.entry.status,
                    format_ms(s.entry.received_at_ms)
                ))?;
            }
            print_line(&format!(
                "dry run: would replay {} event(s) onto {queue_url}",
                entries.len()
            ))?;
        }
        return Ok(ExitCode::SUCCESS);
    }

    let progress = bar(entries.len() as u64, "replaying", args.json);
    let mut replayed = Vec::new();
    let mut failures = Vec::new();
    for s in &entries {
        let result = match replay_message(&s.entry) {
            Ok(message) => queue.send(&message).await.map(|_| ()),
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => replayed.push(s.entry.key.clone()),
            Err(e) => {
                progress.suspend(|| eprintln!("replaying {} failed: {e}", s.entry.key));
                failures.push(json!({"key": s.entry.key, "error": e.to_string()}));
            }
        }
        progress.inc(1);
    }
    progress.finish_and_clear();
    if args.json {
        print_json(&json!({
            "dry_run": false,
            "queue_url": queue_url,
            "matched": entries.len(),
            "replayed": replayed.len(),
            "keys": replayed,
            "failed": failures,
            "corrupt": corrupt_json(&corrupt),
        }))?;
    } else {
        print_line(&format!(
            "replayed {} event(s) onto {queue_url}{}",
            replayed.len(),
            if failures.is_empty() {
                String::new()
            } else {
                format!("; {} failed", failures.len())
            }
        ))?;
    }
    Ok(if failures.is_empty() && corrupt.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

// ------------------------------------------------------------------ redrive

/// Move messages from the dead-letter queue (DLQ_URL) back to QUEUE_URL.
///
/// Each message is sent to the queue with its body and attributes unchanged
/// and deleted from the dead-letter queue only after the send succeeded.
#[derive(Debug, Args)]
pub struct RedriveArgs {
    /// Show how many messages wait on the dead-letter queue; move nothing.
    #[arg(long)]
    pub dry_run: bool,

    /// Move at most this many messages.
    #[arg(long, value_name = "N")]
    pub max: Option<usize>,

    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub env: EnvArgs,
}

/// Runs `redrive`.
pub fn redrive(args: RedriveArgs) -> CliResult {
    let rt = runtime()?;
    rt.block_on(redrive_async(args))
}

async fn redrive_async(args: RedriveArgs) -> CliResult {
    if args.max == Some(0) {
        return Err(CliError::usage("--max must be at least 1"));
    }
    let env = OpsContext::load(&args.env.env_file, &["QUEUE_URL", "DLQ_URL"]).await?;
    let queue_url = env.setting("QUEUE_URL")?;
    let dlq_url = env.setting("DLQ_URL")?;
    if queue_url == dlq_url {
        return Err(CliError::usage("DLQ_URL and QUEUE_URL are the same queue"));
    }
    let redrive = Redrive::new(env.clients.sqs.clone(), &dlq_url, &queue_url);
    let depth = redrive
        .depth()
        .await
        .map_err(|e| failed("reading the dead-letter queue", e))?;
    let max = args.max.unwrap_or(usize::MAX);
    if args.dry_run {
        if args.json {
            print_json(&json!({
                "dry_run": true, "dlq_url": dlq_url, "queue_url": queue_url,
                "waiting": depth, "moved": 0,
            }))?;
        } else {
            print_line(&format!(
                "dry run: about {depth} message(s) wait on {dlq_url}; would move {} to {queue_url}",
                depth.min(max)
            ))?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let progress = bar(depth.min(max) as u64, "redriving", args.json);
    let mut moved = 0u64;
    let report = redrive
        .run(max, |step| {
            moved += step.moved as u64;
            if progress.length().is_some_and(|len| moved > len) {
                progress.set_length(moved);
            }
            progress.set_position(moved);
        })
        .await;
    progress.finish_and_clear();
    let error = report.error.as_ref().map(ToString::to_string);
    if args.json {
        print_json(&json!({
            "dry_run": false, "dlq_url": dlq_url, "queue_url": queue_url,
            "moved": report.moved, "send_failed": report.send_failed,
            "delete_failed": report.delete_failed, "error": error,
        }))?;
    } else {
        print_line(&format!(
            "moved {} message(s) from {dlq_url} to {queue_url}",
            report.moved
        ))?;
        if report.send_failed > 0 {
            eprintln!(
                "{} message(s) could not be sent and stay on the dead-letter queue",
                report.send_failed
            );
        }
        if report.delete_failed > 0 {
            eprintln!(
                "{} message(s) were sent but not deleted from the dead-letter queue: a later \
                 redrive moves them again (the processor absorbs the duplicate)",
                report.delete_failed
            );
        }
        if let Some(e) = &error {
            eprintln!("error: {e}");
        }
    }
    Ok(if report.is_clean() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

// ------------------------------------------------------------------ failed

/// List ledger events the sweep marked FAILED (accepted, never processed).
///
/// Replay one with `contract-hooks replay --key KEY`, or all of them with
/// `contract-hooks replay --since 0 --status FAILED`.
#[derive(Debug, Args)]
pub struct FailedArgs {
    /// Only this provider's events.
    #[arg(long, value_enum, ignore_case = true)]
    pub provider: Option<ProviderArg>,

    /// Print the items as JSON.
    #[arg(long)]
    pub json: bool,

    #[command(flatten)]
    pub env: EnvArgs,
}

/// Runs `failed`.
pub fn failed_cmd(args: FailedArgs) -> CliResult {
    let rt = runtime()?;
    rt.block_on(async {
        let env = OpsContext::load(&args.env.env_file, &["EVENTS_TABLE"]).await?;
        let ledger = env.ledger()?;
        let filter = LedgerFilter {
            provider: args.provider.map(Into::into),
            ..LedgerFilter::failed()
        };
        let progress = spinner("scanning the ledger: FAILED", args.json);
        let listing = ledger
            .scan_all(&filter, |page| progress.inc(page.entries.len() as u64))
            .await
            .map_err(|e| failed(&format!("scanning {}", ledger.table()), e))?;
        progress.finish_and_clear();
        for c in &listing.corrupt {
            eprintln!("unreadable FAILED item {}: {}", c.key, c.reason);
        }
        if args.json {
            print_json(&json!({
                "count": listing.entries.len(),
                "events": listing.entries.iter().map(entry_json).collect::<Vec<_>>(),
                "corrupt": corrupt_json(&listing.corrupt),
            }))?;
        } else if listing.entries.is_empty() {
            print_line("no FAILED events")?;
        } else {
            for s in &listing.entries {
                let e = &s.entry;
                print_line(&format!(
                    "{}  {}  subject={}  received={}  attempts={}  failed_at={}",
                    e.key,
                    e.event_type,
                    e.subject.as_deref().unwrap_or("-"),
                    format_ms(e.received_at_ms),
                    e.enqueue_attempts,
                    s.failed_at_ms.map(format_ms).unwrap_or_else(|| "-".into()),
                ))?;
            }
            print_line(&format!(
                "{} FAILED event(s); replay with `contract-hooks replay --key KEY`",
                listing.entries.len()
            ))?;
        }
        Ok(ExitCode::SUCCESS)
    })
}
