/// Installs the functions' log format: one flattened JSON object per line on
/// stdout, level from `RUST_LOG` (default `info`), no timestamp (CloudWatch adds
/// one) and no span noise. Call once at cold start.
pub fn init_json_logs() {
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
}
