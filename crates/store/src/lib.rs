//! The only crate that talks to AWS: the DynamoDB ledger (accept-once) and status
//! table, the SQS queue message, webhook secrets (inline or Secrets Manager) and
//! configuration from the environment. The pure rules of the status sync live
//! in [`sync`], the CloudWatch metric lines in [`metrics`].
//!
//! Clients are built once per cold start ([`AwsClients::new`]) and shared by the
//! adapters; the domain types they carry come from the `verify` crate.

#[cfg(feature = "archive")]
pub mod archive;
mod aws;
mod bus;
pub mod bus_numbers;
mod config;
mod error;
pub mod events;
mod ledger;
pub mod limits;
mod logging;
pub mod metadata;
pub mod metrics;
pub mod ops;
mod queue;
pub mod schema;
mod secrets;
mod status_table;
pub mod sync;

pub use aws::{AwsClients, CallCounter, Meter};
pub use bus::{chunks, entry_results, Bus};
pub use config::{positive_integer, Config, ConfigError, SecretsSource};
pub use error::{error_chain, StoreError};
pub use ledger::{Accepted, Ledger, LedgerEntry, NewEntry, PendingEntry, Stored, ALLOWED_HEADERS};
pub use logging::init_json_logs;
pub use metrics::Metrics;
pub use queue::{Queue, QueueMessage, QUEUE_MESSAGE_VERSION, REDRIVEN_ATTRIBUTE};
pub use secrets::{parse_secrets, SecretsError, SecretsHandle, Verifiers};
pub use status_table::{metadata_marker, Applied, Change, StatusChange, StatusItem, StatusTable};

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
