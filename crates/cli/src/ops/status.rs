//! `contract-hooks status`: a contract's or envelope's synced status, as a
//! person reads it (status and lifecycle, title, parties, last event, the
//! archived document, the recorded metadata values), or the whole status
//! item with `--json`.

use std::path::PathBuf;
use std::process::ExitCode;

use serde_json::Value;
use store::StatusView;
use verify::Provider;

use crate::common::{format_ms, print_json, runtime};
use crate::error::{CliError, CliResult, EXIT_FAILURE};
use crate::input::print_stdout;
use crate::ops::context::{failed, OpsContext};
use crate::signing::ProviderArg;

/// Show the synced status of a SpotDraft contract or Subnoto envelope.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Prints status and lifecycle (SpotDraft EXECUTED and Subnoto COMPLETED \
are both `executed`), title, reference, counterparty, signers, the last event and when it \
happened, when it was received and applied, and the archived document once there is one \
(bucket, key, sha256, size), and the SpotDraft metadata values (key pointers) the archiver \
recorded, dates as RFC 3339 dates. Names and emails are shown: this is the operator's terminal. \
--json prints the whole status item, internal attributes included.\n\n\
Reads STATUS_TABLE (EVENTS_TABLE for the received time, AWS_ENDPOINT_URL for a local emulator) \
from the environment, then from the env file `make dev` writes. Needs dynamodb:GetItem.\n\n\
Exit codes: 0 shown; 1 not found (no event for the id was processed) or a read failed; \
2 usage errors."
)]
pub struct StatusArgs {
    /// spotdraft or subnoto.
    provider: ProviderArg,
    /// SpotDraft contract id or Subnoto envelope uuid.
    id: String,
    /// Print the whole status item as JSON (internal attributes included).
    #[arg(long)]
    json: bool,
    /// Environment file written by `make dev`.
    #[arg(long, default_value = ".dev/env")]
    env_file: PathBuf,
}

/// When the winning event reached ingest, read from its ledger item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// `received_at`, ms.
    At(i64),
    /// Why it is not known.
    Unknown(String),
}

/// Runs `status`.
pub fn run(args: StatusArgs) -> CliResult {
    let rt = runtime()?;
    rt.block_on(async {
        let context = OpsContext::load(&args.env_file, &["STATUS_TABLE"]).await?;
        if args.id.trim().is_empty() {
            return Err(CliError::usage("the id is empty"));
        }
        let provider = Provider::from(args.provider);
        let key = store::StatusTable::key(provider, &args.id);
        let table = context.status_table()?;
        let view = table
            .view(provider, &args.id)
            .await
            .map_err(|e| failed(&format!("reading {}", table.table()), e))?;
        let Some(view) = view else {
            eprintln!(
                "not found: no status for {provider} {} in {}. No event for it has been \
                 processed: check the id (`contract-hooks recent` lists the latest subjects), \
                 or look for it with `contract-hooks failed`",
                shown_id(&args.id),
                table.table()
            );
            return Ok(ExitCode::from(EXIT_FAILURE));
        };
        if args.json {
            print_json(&view.item)?;
            return Ok(ExitCode::SUCCESS);
        }
        let received = match (context.optional("EVENTS_TABLE"), &view.last_event_key) {
            (None, _) => Received::Unknown("EVENTS_TABLE is not set".into()),
            (Some(_), None) => Received::Unknown("the item names no event".into()),
            (Some(events), Some(event_key)) => {
                let ledger = store::Ledger::reader(context.clients.dynamodb.clone(), &events);
                match ledger.received_at(&format!("{provider}#{event_key}")).await {
                    Ok(Some(ms)) => Received::At(ms),
                    Ok(None) => Received::Unknown(
                        "its ledger item has expired (retention) or was never there".into(),
                    ),
                    Err(e) => Received::Unknown(format!("reading {events}: {e}")),
                }
            }
        };
        print_stdout(&render(provider, &args.id, &key, &view, &received))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// Text from a webhook made safe for a terminal: control characters (escape
/// sequences included) are shown escaped, never interpreted.
pub fn shown(text: &str) -> String {
    if !text.chars().any(char::is_control) {
        return text.to_owned();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// At most `max` characters of `text` (safe for a terminal), with an ellipsis
/// when cut.
pub fn shortened(text: &str, max: usize) -> String {
    let count = text.chars().count();
    if count <= max {
        return shown(text);
    }
    let head: String = text.chars().take(max.saturating_sub(1)).collect();
    format!("{}…", shown(&head))
}

/// An id as shown in a line: long ones shortened, with their length.
fn shown_id(id: &str) -> String {
    let count = id.chars().count();
    if count <= 80 {
        shown(id)
    } else {
        format!("{} ({count} characters)", shortened(id, 60))
    }
}

/// The human summary of a status item. `key` is the item's key (hashed for
/// a long id).
pub fn render(
    provider: Provider,
    id: &str,
    key: &str,
    view: &StatusView,
    received: &Received,
) -> String {
    let mut out = String::new();
    let noun = match provider {
        Provider::SpotDraft => "contract",
        Provider::Subnoto | Provider::DocuSign => "envelope",
    };
    // The id asked for: the item keeps the subject capped at 2 KB.
    out.push_str(&format!("{provider} {noun} {}\n", shown_id(id)));
    let mut line = |label: &str, value: &str| {
        out.push_str(&format!("  {label:<13} {value}\n"));
    };
    if key.contains(domain::limits::HASHED_SUBJECT_PREFIX) {
        line("key", &format!("{key} (the id is too long for a key)"));
    }
    let status = view.status.as_deref();
    let lifecycle = domain::events::lifecycle(provider, status);
    match status {
        Some(status) => {
            let mut value = shown(status);
            if let Some(previous) = view.previous_status.as_deref().filter(|p| *p != status) {
                value.push_str(&format!(" (was {})", shown(previous)));
            }
            line("status", &value);
        }
        None => line(
            "status",
            "none yet (only events that carry no status were seen)",
        ),
    }
    line("lifecycle", lifecycle);
    let or_dash = |v: Option<&str>| v.map(shown).unwrap_or_else(|| "-".into());
    line("title", &or_dash(view.title.as_deref()));
    if provider == Provider::SpotDraft {
        line("reference", &or_dash(view.reference.as_deref()));
        line("counterparty", &or_dash(view.counterparty.as_deref()));
    }
    let signers: Vec<String> = view.signers.iter().map(|s| shown(s)).collect();
    line(
        "signers",
        &if signers.is_empty() {
            "-".to_owned()
        } else {
            signers.join(", ")
        },
    );
    let event_type = or_dash(view.last_event_type.as_deref());
    match view.event_time_ms {
        Some(ms) => line("last event", &format!("{event_type} at {}", format_ms(ms))),
        None => line("last event", &event_type),
    }
    match received {
        Received::At(ms) => line("received", &format_ms(*ms)),
        Received::Unknown(why) => line("received", &format!("unknown ({why})")),
    }
    if let Some(ms) = view.updated_at_ms {
        line("applied", &format_ms(ms));
    }
    if let Some(kind) = &view.contract_kind {
        line("kind", &shown(kind));
    }
    if let Some(workspace) = &view.workspace {
        line("workspace", &shown(workspace));
    }
    if let Some(document) = &view.document_id {
        line("document id", &shown(document));
    }
    if let Some(metadata) = &view.external_metadata {
        line("metadata", &shortened(metadata, 200));
    }
    match &view.document {
        Some(doc) => {
            line("document", &shown(&doc.s3_uri));
            let (bucket, object) = doc
                .s3_uri
                .strip_prefix("s3://")
                .and_then(|rest| rest.split_once('/'))
                .unwrap_or(("-", "-"));
            line("  bucket", &shown(bucket));
            line("  key", &shown(object));
            line("  sha256", &shown(&doc.sha256));
            line("  size", &format!("{} bytes", doc.bytes));
            if !doc.version.is_empty() {
                line("  version", &shown(&doc.version));
            }
            if !doc.archived_at.is_empty() {
                line("  archived", &shown(&doc.archived_at));
            }
        }
        None if lifecycle == "executed" => line(
            "document",
            &format!("not archived yet (`contract-hooks archive {provider} ID` queues it again)"),
        ),
        None => line("document", "-"),
    }
    render_values(&mut out, view);
    out
}

/// The metadata values (SpotDraft key pointers) the archiver recorded: one
/// line each, `field_name  value`, dates as RFC 3339 dates.
fn render_values(out: &mut String, view: &StatusView) {
    let Some(stored) = &view.metadata else {
        return;
    };
    let values: Vec<Value> = serde_json::from_str(&stored.values).unwrap_or_default();
    out.push_str(&format!(
        "  {:<13} {} (fetched {})\n",
        "values",
        values.len(),
        shown(&stored.fetched_at)
    ));
    for v in &values {
        let name = v["field_name"].as_str().unwrap_or("-");
        let shown_value = match (&v["data_type"], &v["value"]) {
            (t, value) if t == "date" => archiver::keypointers::full_date(value)
                .unwrap_or_else(|| shortened(&value.to_string(), 120)),
            (_, Value::String(text)) => shortened(text, 120),
            (_, value) => shortened(&value.to_string(), 120),
        };
        out.push_str(&format!("    {:<24} {shown_value}\n", shortened(name, 24)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminal_text_is_escaped_and_long_text_shortened() {
        assert_eq!(shown("plain"), "plain");
        assert_eq!(shown("a\u{1b}[31mred\n"), "a\\u{1b}[31mred\\n");
        assert_eq!(shortened("abcdef", 4), "abc…");
        assert_eq!(shortened("abc", 4), "abc");
    }

    #[test]
    fn recorded_values_are_listed() {
        let values = serde_json::json!([
            {"field_name": "effective_date", "data_type": "date", "value": "2026-12-01T00:00:00Z"},
            {"field_name": "initial_term", "data_type": "duration", "value": {"type": "MONTHS", "value": 24}},
            {"field_name": "governing_law", "data_type": "string", "value": "England\u{1b}[31m"}
        ]);
        let item = StatusView {
            status: Some("EXECUTED".into()),
            metadata: Some(store::metadata::StoredMetadata {
                values: values.to_string(),
                sha256: "ab".into(),
                fetched_at: "2026-12-06T02:00:00Z".into(),
            }),
            ..StatusView::default()
        };
        let text = render(
            Provider::SpotDraft,
            "1",
            "spotdraft#1",
            &item,
            &Received::Unknown("-".into()),
        );
        assert!(
            text.contains("  values        3 (fetched 2026-12-06T02:00:00Z)\n"),
            "{text}"
        );
        assert!(
            text.contains("    effective_date           2026-12-01\n"),
            "{text}"
        );
        assert!(
            text.contains(r#"    initial_term             {"type":"MONTHS","value":24}"#),
            "{text}"
        );
        assert!(text.contains("England\\u{1b}[31m"), "{text}");
    }

    #[test]
    fn a_subnoto_item_without_document_or_parties() {
        let item = StatusView {
            status: Some("COMPLETED".into()),
            last_event_type: Some("ENVELOPE_COMPLETED".into()),
            event_time_ms: Some(1_700_000_000_000),
            ..StatusView::default()
        };
        let text = render(
            Provider::Subnoto,
            "env-1",
            "subnoto#env-1",
            &item,
            &Received::Unknown("EVENTS_TABLE is not set".into()),
        );
        assert!(text.starts_with("subnoto envelope env-1\n"), "{text}");
        assert!(text.contains("  status        COMPLETED\n"), "{text}");
        assert!(text.contains("  lifecycle     executed\n"), "{text}");
        assert!(
            text.contains("ENVELOPE_COMPLETED at 2023-11-14T22:13:20Z"),
            "{text}"
        );
        assert!(text.contains("not archived yet"), "{text}");
        assert!(
            !text.contains("rank") && !text.contains("counterparty"),
            "{text}"
        );
    }
}
