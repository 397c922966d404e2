//! The domain of contract-hooks, free of AWS: the order of a subject's events
//! ([`sync`]: ranks, forward-only statuses), the lifecycle vocabulary and the
//! bus detail built from an event ([`events`]), what the bus takes as a number
//! ([`bus_numbers`]), the size limits of every stored or sent field
//! ([`limits`]) and whether an event changed its subject's status
//! ([`StatusChange`]).
//!
//! The adapters in `store` turn these rules into DynamoDB, SQS and EventBridge
//! calls; nothing here performs I/O.

pub mod bus_numbers;
mod change;
pub mod events;
pub mod limits;
pub mod sync;

pub use change::{metadata_marker, StatusChange};

/// Milliseconds since the Unix epoch, from the system clock.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
