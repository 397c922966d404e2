use tracing::Level;
use tracing_subscriber::filter::{filter_fn, EnvFilter};
use tracing_subscriber::prelude::*;

/// Crates whose `trace` output contains whole requests and responses (bodies,
/// names, emails): capped at `debug` whatever `RUST_LOG` asks for. The Lambda
/// runtime is one of them: at `trace` it logs every raw invocation event,
/// which for these functions is a whole webhook.
const WIRE_LEVEL_CRATES: &[&str] = &[
    "aws_",
    "hyper",
    "h2",
    "rustls",
    "reqwest",
    "tower",
    "lambda_runtime",
    "lambda_http",
];

fn is_wire_level(target: &str) -> bool {
    WIRE_LEVEL_CRATES
        .iter()
        .any(|prefix| target.starts_with(prefix))
}

/// Installs the functions' log format: one flattened JSON object per line on
/// stdout, level from `RUST_LOG` (default `info`), no timestamp (CloudWatch adds
/// one) and no span noise. Call once at cold start.
///
/// Even with `RUST_LOG=trace`, the AWS SDK and HTTP stack log at most `debug`:
/// their trace output carries payloads, and payloads carry personal data.
pub fn init_json_logs() {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let cap = filter_fn(|meta| !(*meta.level() == Level::TRACE && is_wire_level(meta.target())));
    let layer = tracing_subscriber::fmt::layer()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_target(false)
        .without_time()
        .with_filter(env)
        .with_filter(cap);
    tracing_subscriber::registry().with(layer).init();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sdk_and_http_crates_are_capped() {
        for target in [
            "aws_smithy_runtime::client",
            "aws_sdk_dynamodb",
            "hyper_util::client",
            "h2::codec",
            "rustls::conn",
            "lambda_runtime::layers::api_response",
            "lambda_runtime_api_client",
            "lambda_http::request",
        ] {
            assert!(is_wire_level(target), "{target}");
        }
        for target in ["ingest", "processor", "store::ledger"] {
            assert!(!is_wire_level(target), "{target}");
        }
    }
}
