//! `ingest` Lambda: thin main that builds config, clients and secrets once per
//! cold start and hands each request to [`ingest::handle`].

use lambda_http::{run, service_fn, Error, Request};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .init();

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
