//! `contract-hooks archive PROVIDER ID`: re-archive a contract's or
//! envelope's document on demand (an operator command, against a deployment
//! or the local stack); for SpotDraft, also fetch its metadata values again
//! (a second, independent message: a metadata job).
//!
//! It does not fetch anything itself: it puts an archive request on the
//! archive queue, so the archiver does the work with its own credentials,
//! pace, retries and dead-letter queue, exactly as for an execution. The
//! request carries what the status item knows (Subnoto workspace and
//! document). Reads `STATUS_TABLE`, `ARCHIVE_QUEUE_URL` and `AWS_ENDPOINT_URL`
//! from the environment, falling back to the file `make dev` writes; needs
//! `dynamodb:GetItem` on the status table and `sqs:SendMessage` on the
//! archive queue.

use std::path::PathBuf;
use std::process::ExitCode;

use archiver::event::{metadata_request_body, request_body, ArchiveRequest};
use serde_json::json;

use crate::common::runtime;
use crate::error::{CliResult, EXIT_FAILURE};
use crate::ops::context::{failed, OpsContext};
use crate::signing::ProviderArg;

/// Re-archive the executed document of a contract or envelope (SpotDraft:
/// and fetch its metadata values again).
#[derive(Debug, clap::Args)]
pub struct ArchiveArgs {
    /// spotdraft or subnoto.
    provider: ProviderArg,
    /// SpotDraft contract id or Subnoto envelope uuid.
    id: String,
    /// Print the queued request as JSON.
    #[arg(long)]
    json: bool,
    /// Environment file written by `make dev`, read for settings not in the environment.
    #[arg(long, value_name = "PATH", default_value = ".dev/env")]
    env_file: PathBuf,
}

/// Runs `archive`.
pub fn run(args: ArchiveArgs) -> CliResult {
    runtime()?.block_on(async {
        let context =
            OpsContext::load(&args.env_file, &["STATUS_TABLE", "ARCHIVE_QUEUE_URL"]).await?;
        let queue_url = context.setting("ARCHIVE_QUEUE_URL")?;
        let provider = verify::Provider::from(args.provider);
        let table = context.status_table()?;
        let view = table
            .view(provider, &args.id)
            .await
            .map_err(|e| failed(&format!("reading {}", table.table()), e))?;
        let Some(view) = view else {
            eprintln!(
                "no status for {provider} {}: the archiver records documents on status items, \
                 so a contract must have been seen first",
                args.id
            );
            return Ok(ExitCode::from(EXIT_FAILURE));
        };
        let request = ArchiveRequest {
            id: format!("archive-request#{}", uuid::Uuid::new_v4()),
            provider,
            subject: args.id.clone(),
            contract_kind: None,
            workspace: view.workspace,
            document_id: view.document_id,
        };
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let sqs = &context.clients.sqs;
        let send = |body: String| {
            let queue_url = queue_url.clone();
            async move {
                store::archive::queue_job(sqs, &queue_url, body)
                    .await
                    .map_err(|e| failed("sending to the archive queue", e))
            }
        };
        let message_id = send(request_body(&request, &now)).await?;
        let metadata_message_id = match provider {
            verify::Provider::SpotDraft => Some(send(metadata_request_body(&request, &now)).await?),
            verify::Provider::Subnoto | verify::Provider::DocuSign => None,
        };
        if args.json {
            let mut out = json!({"queued": true, "request": request.id, "message_id": message_id,
                   "provider": provider.as_str(), "subject": args.id});
            if let Some(id) = &metadata_message_id {
                out["metadata_message_id"] = id.clone().into();
            }
            println!("{out}");
        } else {
            println!(
                "queued {} for {provider} {} (message {message_id}); \
                 `contract-hooks status {provider} {}` shows the document once archived",
                request.id, args.id, args.id
            );
            if let Some(id) = metadata_message_id {
                println!("queued its metadata values too (message {id})");
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
