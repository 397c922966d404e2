//! `env.json`: each function's environment for `sam local invoke --env-vars`.

use serde_json::{json, Value};

use super::args::EventsArgs;
use super::fixtures::*;

/// `env.json` for `sam local invoke --env-vars`: the variables template.yaml
/// declares for each function, with inline test secrets instead of the ARNs.
pub(super) fn env_json(args: &EventsArgs) -> Value {
    let secrets = json!({
        "spotdraft": [SPOTDRAFT_TEST_KEY],
        "subnoto": [SUBNOTO_TEST_SECRET],
        "docusign": [DOCUSIGN_TEST_KEY],
    });
    let spotdraft_credentials = match &args.spotdraft_standin_url {
        Some(_) => json!({
            "client_id": crate::spotdraft_standin::CLIENT_ID,
            "client_secret": crate::spotdraft_standin::CLIENT_SECRET,
        })
        .to_string(),
        None => String::new(),
    };
    json!({
        INGEST_FUNCTION: {
            "EVENTS_TABLE": args.events_table,
            "STATUS_TABLE": args.status_table,
            "QUEUE_URL": args.queue_url,
            "WEBHOOK_SECRETS": secrets.to_string(),
            "WEBHOOK_SECRETS_ARN": "",
            "MAX_BODY_BYTES": "262144",
            "SIGNATURE_TOLERANCE_SECONDS": "300",
            "EVENT_RETENTION_DAYS": "30",
            "LEDGER_LEASE_SECONDS": "30",
            "SECRETS_REFRESH_SECONDS": "300",
            "RUST_LOG": "info"
        },
        PROCESSOR_FUNCTION: {
            "EVENTS_TABLE": args.events_table,
            "STATUS_TABLE": args.status_table,
            "QUEUE_URL": args.queue_url,
            "EVENT_RETENTION_DAYS": "30",
            "LEDGER_LEASE_SECONDS": "30",
            "SWEEP_AFTER_SECONDS": "600",
            "SWEEP_MAX_ATTEMPTS": "5",
            // Publishing off: set a bus name that exists where the function runs.
            "EVENT_BUS_NAME": "",
            "RUST_LOG": "info"
        },
        // Every variable the template gives the archiver: its !Ref / !GetAtt values
        // (tables, bucket, queues, bus, credential secrets) mean nothing to `sam local`.
        ARCHIVER_FUNCTION: {
            "STATUS_TABLE": args.status_table,
            "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
            "ARCHIVE_QUEUE_URL": args.archive_queue_url,
            "ARCHIVE_DLQ_URL": args.archive_dlq_url,
            // Publishing off, as for the processor.
            "EVENT_BUS_NAME": "",
            "SPOTDRAFT_API_BASE_URL": args.spotdraft_standin_url.clone().unwrap_or_default(),
            "SPOTDRAFT_API_CREDENTIALS": spotdraft_credentials,
            "SPOTDRAFT_API_CREDENTIALS_ARN": "",
            "SUBNOTO_API_URL": UNREACHABLE_SUBNOTO_PROXY,
            "SUBNOTO_API_CREDENTIALS": TEST_SUBNOTO_API_KEYS,
            "SUBNOTO_API_CREDENTIALS_ARN": "",
            // DocuSign not configured (its jobs: archive_not_configured).
            "DOCUSIGN_AUTH_HOST": "",
            "DOCUSIGN_API_BASE_URL": "",
            "DOCUSIGN_API_CREDENTIALS": "",
            "DOCUSIGN_API_CREDENTIALS_ARN": "",
            "MAX_DOCUMENT_BYTES": "268435456",
            "DOCUMENT_HOST_ALLOWLIST": "",
            "SECRETS_REFRESH_SECONDS": "300",
            "SPOTDRAFT_REQUESTS_PER_SECOND": "4",
            "RUST_LOG": "info"
        }
    })
}
