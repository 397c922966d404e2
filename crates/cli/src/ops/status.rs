//! `contract-hooks status`: a contract's or envelope's synced status.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;

use crate::devenv;
use crate::error::CliError;
use crate::signing::ProviderArg;

/// Show the synced status of a SpotDraft contract or Subnoto envelope.
///
/// Reads `STATUS_TABLE` (and `AWS_ENDPOINT_URL` for a local emulator) from the
/// environment, falling back to the file `make dev` writes.
#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// spotdraft or subnoto.
    provider: ProviderArg,
    /// SpotDraft contract id or Subnoto envelope uuid.
    id: String,
    /// Print the item as JSON.
    #[arg(long)]
    json: bool,
    /// Environment file written by `make dev`.
    #[arg(long, default_value = ".dev/env")]
    env_file: PathBuf,
}

/// Runs `status`.
pub fn run(args: StatusArgs) -> Result<ExitCode, CliError> {
    let vars = if args.env_file.exists() {
        devenv::read_env_file(&args.env_file)?
    } else {
        BTreeMap::new()
    };
    let table = devenv::setting(&vars, "STATUS_TABLE").ok_or_else(|| {
        CliError::usage("STATUS_TABLE is not set (and no .dev/env): start `make dev` or export it")
    })?;
    let provider = verify::Provider::from(args.provider);
    let key = format!("{provider}#{}", args.id);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!(format!("cannot start runtime: {e}"))))?;
    let item = runtime.block_on(async {
        let sdk = devenv::sdk_config(&vars).await;
        aws_sdk_dynamodb::Client::new(&sdk)
            .get_item()
            .table_name(&table)
            .key("pk", AttributeValue::S(key.clone()))
            .consistent_read(true)
            .send()
            .await
    });
    let item = item
        .map_err(|e| {
            CliError::Failed(anyhow::anyhow!(format!(
                "reading {table}: {}",
                store_error(&e)
            )))
        })?
        .item;
    let Some(item) = item else {
        eprintln!("no status for {key} yet");
        return Ok(ExitCode::from(1));
    };
    let fields: BTreeMap<String, Value> =
        item.iter().map(|(k, v)| (k.clone(), to_json(v))).collect();
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&fields).unwrap_or_default()
        );
    } else {
        println!("{key}");
        let archive_attrs = [
            store::archive::DOCUMENT_ATTR,
            store::archive::DOCUMENT_RANK_ATTR,
        ];
        for (k, v) in fields
            .iter()
            .filter(|(k, _)| k.as_str() != "pk" && !archive_attrs.contains(&k.as_str()))
        {
            let shown = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            println!("  {k}: {shown}");
        }
        // The archived document (archiver): where it is and its checksum.
        if let Some(Value::Object(doc)) = fields.get(store::archive::DOCUMENT_ATTR) {
            println!("  document:");
            for (k, v) in doc {
                let shown = match v {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                println!("    {k}: {shown}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn store_error(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
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
