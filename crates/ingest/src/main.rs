//! `ingest` Lambda: thin main that builds config, clients and secrets once per
//! cold start and hands each request to [`ingest::handle`].

use lambda_http::{run, service_fn, Error, Request};

// One thread: Lambda hands the process one invocation at a time, and a request
// spends its time waiting on AWS calls. A multi-thread runtime only adds
// cross-thread wake-ups: ingest measured ~25 % more CPU per delivery with it
// (BENCHMARKS.md, "Runtime flavour"), which Lambda at 128 MB bills ~14-fold.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    store::init_json_logs();

    let config = store::Config::from_env()?;
    let sdk = store::AwsClients::load_sdk_config().await;
    let clients = store::AwsClients::new(&sdk);
    let app = ingest::App::new(&config, &clients).await?;
    tracing::info!(
        events_table = %config.events_table,
        max_body_bytes = config.max_body_bytes,
        "ingest ready"
    );

    let app = &app;
    run(service_fn(move |request: Request| async move {
        Ok::<_, Error>(ingest::handle(app, request).await)
    }))
    .await
}
