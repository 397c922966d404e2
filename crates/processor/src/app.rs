//! The processor's state, built once per cold start, and its error.

use store::{AwsClients, Bus, CallCounter, Config, Ledger, Queue, StatusTable};

/// The function name in metrics.
pub const FUNCTION: &str = "processor";

/// Most pending-index items the sweep handles per shard and run; the rest wait
/// for the next run (keeps one run well inside the function's timeout).
pub const SWEEP_LIMIT_PER_SHARD: usize = 50;

/// Everything an invocation needs, built once per cold start.
#[derive(Debug, Clone)]
pub struct App {
    /// The status table.
    pub status: StatusTable,
    /// The ledger.
    pub ledger: Ledger,
    /// The event queue (the sweep re-enqueues onto it).
    pub queue: Queue,
    /// Where contract events are published (`EVENT_BUS_NAME`); `None`: off.
    pub bus: Option<Bus>,
    /// Age (ms) after which an unprocessed event is swept.
    pub sweep_after_ms: i64,
    /// Enqueues after which the sweep marks an event `FAILED`.
    pub sweep_max_attempts: u32,
    /// See [`SWEEP_LIMIT_PER_SHARD`].
    pub sweep_limit_per_shard: usize,
    /// AWS operations made through the app's clients (for the per-invocation
    /// log lines).
    pub calls: CallCounter,
}

impl App {
    /// Builds the app from configuration and clients.
    pub fn new(config: &Config, clients: &AwsClients) -> App {
        App {
            status: StatusTable::new(clients.dynamodb.clone(), &config.status_table),
            ledger: Ledger::from_config(config, clients.dynamodb.clone()),
            queue: Queue::new(clients.sqs.clone(), &config.queue_url),
            bus: config
                .event_bus_name
                .as_ref()
                .map(|name| Bus::new(clients.events.clone(), name)),
            sweep_after_ms: config.sweep_after_ms,
            sweep_max_attempts: config.sweep_max_attempts,
            sweep_limit_per_shard: SWEEP_LIMIT_PER_SHARD,
            calls: clients.calls.clone(),
        }
    }
}

/// An invocation fails as a whole (Lambda retries it, or sends it to the
/// function's failure destination).
#[derive(Debug, thiserror::Error)]
pub enum ProcessorError {
    /// Neither an SQS batch nor a scheduled sweep.
    #[error("unrecognised invocation: expected an SQS batch (Records with eventSource aws:sqs) or a scheduled event (source aws.events)")]
    UnknownInvocation,
    /// `Records` could not be read as SQS messages.
    #[error("malformed SQS event: {0}")]
    MalformedBatch(String),
    /// Records failed that carry no `messageId`, so they cannot be reported
    /// individually: the whole batch is failed instead of being lost.
    #[error("{0} failed record(s) have no messageId; failing the whole batch")]
    UnreportableFailures(usize),
}
