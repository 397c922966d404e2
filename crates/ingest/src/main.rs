//! `ingest` Lambda: thin main that builds config, clients and secrets once per
//! cold start and hands each request to [`ingest::handle`].

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
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
