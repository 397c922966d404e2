//! The command line of `contract-hooks-local events`.

use clap::Args;
use std::path::PathBuf;

/// Arguments of `contract-hooks-local events`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes ingest/*.json, processor/*.json, archiver/*.json, env.json and \
expected.json under --out, replacing files an earlier run wrote. Subnoto events are signed at \
--timestamp-ms (default: now) and go stale 5 minutes later: regenerate with `make events`."
)]
pub struct EventsArgs {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "events")]
    pub out: PathBuf,

    /// Directory of provider samples (`spotdraft-*.json`, `subnoto-*.json`).
    #[arg(long, value_name = "DIR", default_value = "samples")]
    pub samples: PathBuf,

    /// Time to sign and stamp the events with, in Unix milliseconds. Defaults to now.
    #[arg(long, value_name = "MS")]
    pub timestamp_ms: Option<i64>,

    /// EVENTS_TABLE in env.json.
    #[arg(long, value_name = "NAME", default_value = "contract-hooks-events")]
    pub events_table: String,

    /// STATUS_TABLE in env.json.
    #[arg(long, value_name = "NAME", default_value = "contract-hooks-status")]
    pub status_table: String,

    /// QUEUE_URL in env.json.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://sqs.us-east-1.amazonaws.com/123456789012/contract-hooks-events"
    )]
    pub queue_url: String,

    /// ARCHIVE_QUEUE_URL in env.json.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://sqs.us-east-1.amazonaws.com/123456789012/contract-hooks-archive"
    )]
    pub archive_queue_url: String,

    /// ARCHIVE_DLQ_URL in env.json.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://sqs.us-east-1.amazonaws.com/123456789012/contract-hooks-archive-dlq"
    )]
    pub archive_dlq_url: String,

    /// SPOTDRAFT_API_BASE_URL in env.json: the local SpotDraft stand-in that
    /// `contract-hooks-local dev` starts, at an address the archiver reaches (with its
    /// credentials); expected.json then expects the stand-in's answers. Without
    /// it, SpotDraft is not configured (archive_not_configured).
    #[arg(long, value_name = "URL")]
    pub spotdraft_standin_url: Option<String>,
}
