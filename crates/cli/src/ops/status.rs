//! `contract-hooks status`: a contract's or envelope's synced status, as a
//! person reads it (status and lifecycle, title, parties, last event, the
//! archived document, the recorded metadata values), or the whole status
//! item with `--json`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use store::schema::attr;
use verify::Provider;

use crate::common::{format_ms, print_json, runtime};
use crate::devenv;
use crate::error::{CliError, CliResult, EXIT_FAILURE};
use crate::input::print_stdout;
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

/// `STATUS_TABLE` from the environment or the env file (`status`, `recent`).
pub(crate) fn status_table(vars: &BTreeMap<String, String>) -> Result<String, CliError> {
    devenv::setting(vars, "STATUS_TABLE").ok_or_else(|| {
        CliError::usage(
            "STATUS_TABLE is not set (and not in the env file): export it, or start `make dev`",
        )
    })
}

/// Runs `status`.
pub fn run(args: StatusArgs) -> CliResult {
    let vars = devenv::read_env_file_if_present(&args.env_file)?;
    let table = status_table(&vars)?;
    if args.id.trim().is_empty() {
        return Err(CliError::usage("the id is empty"));
    }
    let events_table = devenv::setting(&vars, "EVENTS_TABLE");
    let provider = Provider::from(args.provider);
    let key = store::StatusTable::key(provider, &args.id);
    let rt = runtime()?;
    rt.block_on(async {
        let sdk = devenv::sdk_config(&vars).await;
        let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
        let item = dynamodb
            .get_item()
            .table_name(&table)
            .key(attr::PK, AttributeValue::S(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| {
                CliError::Failed(anyhow::anyhow!(
                    "reading {table}: {}",
                    crate::common::error_chain(&e)
                ))
            })?
            .item;
        let Some(item) = item else {
            eprintln!(
                "not found: no status for {provider} {} in {table}. No event for it has been \
                 processed: check the id (`contract-hooks recent` lists the latest subjects), \
                 or look for it with `contract-hooks failed`",
                shown_id(&args.id)
            );
            return Ok(ExitCode::from(EXIT_FAILURE));
        };
        if args.json {
            let fields: serde_json::Map<String, Value> =
                item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
            print_json(&Value::Object(fields))?;
            return Ok(ExitCode::SUCCESS);
        }
        let received = match (&events_table, text(&item, attr::LAST_EVENT_KEY)) {
            (None, _) => Received::Unknown("EVENTS_TABLE is not set".into()),
            (Some(_), None) => Received::Unknown("the item names no event".into()),
            (Some(events), Some(event_key)) => {
                received_at(&dynamodb, events, &format!("{provider}#{event_key}")).await
            }
        };
        print_stdout(&render(provider, &args.id, &key, &item, &received))?;
        Ok(ExitCode::SUCCESS)
    })
}

/// The ledger item's `received_at` (projected: the body is not read).
async fn received_at(client: &aws_sdk_dynamodb::Client, table: &str, key: &str) -> Received {
    let out = client
        .get_item()
        .table_name(table)
        .key(attr::PK, AttributeValue::S(key.to_owned()))
        .projection_expression("#r")
        .expression_attribute_names("#r", attr::RECEIVED_AT)
        .send()
        .await;
    match out {
        Ok(out) => match out.item.as_ref().and_then(|i| number(i, attr::RECEIVED_AT)) {
            Some(ms) => Received::At(ms),
            None => Received::Unknown(
                "its ledger item has expired (retention) or was never there".into(),
            ),
        },
        Err(e) => Received::Unknown(format!(
            "reading {table}: {}",
            crate::common::error_chain(&e)
        )),
    }
}

fn text<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
        .filter(|s| !s.is_empty())
}

fn number(item: &HashMap<String, AttributeValue>, name: &str) -> Option<i64> {
    item.get(name)
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
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
    item: &HashMap<String, AttributeValue>,
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
    let status = text(item, attr::STATUS);
    let lifecycle = domain::events::lifecycle(provider, status);
    match status {
        Some(status) => {
            let mut value = shown(status);
            if let Some(previous) = text(item, attr::PREVIOUS_STATUS).filter(|p| *p != status) {
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
    line("title", &or_dash(text(item, attr::TITLE)));
    if provider == Provider::SpotDraft {
        line("reference", &or_dash(text(item, attr::REFERENCE)));
        line("counterparty", &or_dash(text(item, attr::COUNTERPARTY)));
    }
    let mut signers: Vec<String> = item
        .get(attr::SIGNERS)
        .and_then(|v| v.as_ss().ok())
        .map(|set| set.iter().map(|s| shown(s)).collect())
        .unwrap_or_default();
    signers.sort();
    line(
        "signers",
        &if signers.is_empty() {
            "-".to_owned()
        } else {
            signers.join(", ")
        },
    );
    let event_type = or_dash(text(item, attr::LAST_EVENT_TYPE));
    match number(item, attr::EVENT_TIME) {
        Some(ms) => line("last event", &format!("{event_type} at {}", format_ms(ms))),
        None => line("last event", &event_type),
    }
    match received {
        Received::At(ms) => line("received", &format_ms(*ms)),
        Received::Unknown(why) => line("received", &format!("unknown ({why})")),
    }
    if let Some(ms) = number(item, attr::UPDATED_AT) {
        line("applied", &format_ms(ms));
    }
    if let Some(kind) = text(item, attr::CONTRACT_KIND) {
        line("kind", &shown(kind));
    }
    if let Some(workspace) = text(item, attr::WORKSPACE) {
        line("workspace", &shown(workspace));
    }
    if let Some(document) = text(item, attr::DOCUMENT_ID) {
        line("document id", &shown(document));
    }
    if let Some(metadata) = text(item, attr::EXTERNAL_METADATA) {
        line("metadata", &shortened(metadata, 200));
    }
    match item
        .get(store::archive::DOCUMENT_ATTR)
        .and_then(store::archive::DocumentRecord::from_item)
    {
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
    render_values(&mut out, item);
    out
}

/// The metadata values (SpotDraft key pointers) the archiver recorded: one
/// line each, `field_name  value`, dates as RFC 3339 dates.
fn render_values(out: &mut String, item: &HashMap<String, AttributeValue>) {
    let Some(stored) = store::metadata::StoredMetadata::from_item(item) else {
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

/// A DynamoDB attribute as plain JSON.
pub fn to_json(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => Value::String(s.clone()),
        AttributeValue::N(n) => n
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| n.parse::<f64>().map(Value::from))
            .unwrap_or_else(|_| Value::String(n.clone())),
        AttributeValue::Bool(b) => Value::Bool(*b),
        AttributeValue::Null(_) => Value::Null,
        AttributeValue::Ss(items) => {
            let mut items = items.clone();
            items.sort();
            Value::from(items)
        }
        AttributeValue::Ns(items) => Value::from(items.clone()),
        AttributeValue::L(items) => Value::Array(items.iter().map(to_json).collect()),
        AttributeValue::M(map) => {
            Value::Object(map.iter().map(|(k, v)| (k.clone(), to_json(v))).collect())
        }
        AttributeValue::B(b) => Value::String(format!("<{} bytes>", b.as_ref().len())),
        _ => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> AttributeValue {
        AttributeValue::S(v.into())
    }

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
        let item = HashMap::from([
            (attr::STATUS.into(), s("EXECUTED")),
            ("key_pointers".into(), s(&values.to_string())),
            ("key_pointers_sha256".into(), s("ab")),
            ("key_pointers_at".into(), s("2026-12-06T02:00:00Z")),
        ]);
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
        let item = HashMap::from([
            (attr::PROVIDER.into(), s("subnoto")),
            (attr::SUBJECT.into(), s("env-1")),
            (attr::STATUS.into(), s("COMPLETED")),
            (attr::LAST_EVENT_TYPE.into(), s("ENVELOPE_COMPLETED")),
            (
                attr::EVENT_TIME.into(),
                AttributeValue::N("1700000000000".into()),
            ),
            ("title_rank".into(), s("4|09223373836854775807|k")),
        ]);
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
