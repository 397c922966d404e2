//! The AWS adapters of contract-hooks: the DynamoDB ledger (accept-once) and
//! status table, the SQS queue message, the EventBridge bus, webhook secrets
//! and provider API credentials (inline or Secrets Manager, kept current by
//! [`Refreshing`]), the S3 document store (feature `archive`) and
//! configuration from the environment. Client building and error
//! classification are in one place ([`AwsClients`], [`StoreError`]).
//!
//! The rules these adapters apply (event order, the bus detail, field limits)
//! live in the `domain` crate, free of AWS types; the CloudWatch metric lines
//! are in [`metrics`].

#[cfg(feature = "archive")]
pub mod archive;
mod aws;
mod bus;
mod config;
mod error;
mod guarded;
mod ledger;
mod logging;
pub mod metadata;
pub mod metrics;
pub mod ops;
mod queue;
pub mod refreshing;
pub mod schema;
mod secrets;
mod status_table;

pub use aws::{AwsClients, CallCounter, Meter};
pub use bus::{chunks, entry_results, Bus, EntryError};
pub use config::{positive_integer, Config, ConfigError, SecretsSource};
pub use error::{error_chain, StoreError};
pub use ledger::{Accepted, Ledger, LedgerEntry, NewEntry, PendingEntry, Stored, ALLOWED_HEADERS};
pub use logging::init_json_logs;
pub use metrics::Metrics;
pub use queue::{Queue, QueueMessage, QUEUE_MESSAGE_VERSION, REDRIVEN_ATTRIBUTE};
pub use refreshing::{Decode, Refreshing};
pub use secrets::{parse_secrets, SecretsError, SecretsHandle, Verifiers, WebhookSecrets};
pub use status_table::{
    plain_json, Applied, Change, RecentCursor, RecentPage, RecentSubject, StatusItem, StatusTable,
    StatusView,
};
