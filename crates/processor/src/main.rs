// The handler future (three concurrent phases per batch) nests deeper than
// the default type-layout limit.
#![recursion_limit = "256"]

//! `processor` Lambda: thin main that builds config and clients once per cold
//! start and hands each invocation (SQS batch or scheduled sweep) to
//! [`processor::handle`].

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread: Lambda hands the process one invocation at a time, and a batch
// spends its time waiting on AWS calls. A multi-thread runtime only adds
// cross-thread wake-ups: ingest measured ~25 % more CPU per delivery with it
// (BENCHMARKS.md, "Runtime flavour"), which Lambda at 128 MB bills ~14-fold.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    store::init_json_logs();

    let config = store::Config::from_env()?;
    let sdk = store::AwsClients::load_sdk_config().await;
    let clients = store::AwsClients::new(&sdk);
    let app = processor::App::new(&config, &clients);
    tracing::info!(
        events_table = %config.events_table,
        status_table = %config.status_table,
        sweep_after_ms = config.sweep_after_ms,
        sweep_max_attempts = config.sweep_max_attempts,
        "processor ready"
    );

    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        processor::handle(app, event.payload)
            .await
            .map_err(Error::from)
    }))
    .await
}
