//! The command line of `contract-hooks-local load`.

use std::path::PathBuf;

/// Drive the local stack at increasing rates and check nothing is lost or forged.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Base URL of a running ingest (loopback only), up to `/webhooks`, e.g.
    /// `http://127.0.0.1:9000/lambda-url/ingest/webhooks`. Without it a stack is
    /// started (`contract-hooks-local dev` on free ports) and stopped at the end.
    #[arg(long)]
    pub(super) url: Option<String>,
    /// Env file of the running stack (with `--url`).
    #[arg(long, default_value = ".dev/env")]
    pub(super) env_file: PathBuf,
    /// Target rates (requests per second), one step each.
    #[arg(long, value_delimiter = ',', default_value = "20,50,100")]
    pub(super) rates: Vec<u32>,
    /// Seconds per step at most.
    #[arg(long, default_value_t = 15)]
    pub(super) duration: u64,
    /// Requests per step at most.
    #[arg(long, default_value_t = 1500)]
    pub(super) max_requests: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    pub(super) concurrency: usize,
    /// Fraction of requests that repeat an already-accepted event.
    #[arg(long, default_value_t = 0.30)]
    pub(super) duplicates: f64,
    /// Fraction of requests with a bad signature.
    #[arg(long, default_value_t = 0.05)]
    pub(super) forged: f64,
    /// Seconds to wait at the end for every accepted event to be processed.
    #[arg(long, default_value_t = 300)]
    pub(super) drain_timeout: u64,
    /// Folder with the sample payloads used as templates.
    #[arg(long, default_value = "samples")]
    pub(super) samples: PathBuf,
    /// Seed of the request mix (default: from the clock).
    #[arg(long)]
    pub(super) seed: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    pub(super) json: bool,
}
