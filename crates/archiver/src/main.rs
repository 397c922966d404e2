//! `archiver` Lambda: thin main that builds config, clients and provider
//! credentials once per cold start and hands each archive-queue batch to
//! [`archiver::handle`].

use lambda_runtime::{run, service_fn, Error, LambdaEvent};
use serde_json::Value;

// One thread, as the other functions: a batch is handled one record at a
// time and waits on the network.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    store::init_json_logs();

    let config = archiver::ArchiverConfig::from_env()?;
    let sdk = store::AwsClients::load_sdk_config().await;
    let clients = store::AwsClients::new(&sdk);
    let archive = store::archive::ArchiveClients::new(&sdk, &clients.calls);
    let app = archiver::App::new(&config, &clients, &archive).await?;
    tracing::info!(
        bucket = %config.bucket,
        status_table = %config.status_table,
        spotdraft = config.spotdraft.is_some(),
        subnoto = config.subnoto.is_some(),
        publish = config.event_bus.is_some(),
        max_document_bytes = config.max_document_bytes,
        document_host_allowlist = config.document_urls.host_allowlist.len(),
        "archiver ready"
    );
    if config.document_urls.allow_insecure {
        tracing::warn!(
            "ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS is set: http and loopback download URLs are \
             allowed (local development only)"
        );
    }

    let app = &app;
    run(service_fn(move |event: LambdaEvent<Value>| async move {
        let deadline = archiver::batch::invocation_deadline(event.context.deadline);
        archiver::handle(app, event.payload, deadline)
            .await
            .map_err(Error::from)
    }))
    .await
}
