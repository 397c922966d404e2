//! `spotdraft hmac-key`: fetch the workspace HMAC key, check it, and store it
//! as the current SpotDraft webhook secret (Secrets Manager or a local file).

use std::collections::BTreeMap;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use serde_json::json;
use store::ops::{rotate_secret_in_secrets_manager, rotate_secrets_document, KeyChange};
use verify::Provider;

use super::ApiArgs;
use crate::common::{print_json, print_line, runtime};
use crate::devenv;
use crate::error::{CliError, CliResult};

/// Where `hmac-key --store` puts the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum KeyStore {
    /// The Secrets Manager secret ingest reads (WEBHOOK_SECRETS_ARN).
    SecretsManager,
    /// A local JSON file in the same format.
    File,
}

/// Arguments of `spotdraft hmac-key`.
#[derive(Debug, Args)]
#[command(
    after_help = "Without --store the key is only checked (base64) and described, \
never printed unless --show. --store puts it first in the \"spotdraft\" list of the secrets \
document {\"spotdraft\":[...],\"subnoto\":[...]}, keeps the previous key second (still \
accepted during the rotation window) and drops older ones."
)]
pub struct HmacKeyArgs {
    /// Store the key as the current SpotDraft secret.
    #[arg(long, value_enum)]
    pub store: Option<KeyStore>,

    /// Secret ARN or name for --store secrets-manager (default: WEBHOOK_SECRETS_ARN, from the
    /// environment or the env file).
    #[arg(long, value_name = "ARN")]
    pub secret_id: Option<String>,

    /// Secrets file for --store file (created if missing, written with mode 0600).
    #[arg(long, value_name = "PATH", required_if_eq("store", "file"))]
    pub file: Option<PathBuf>,

    /// Print the key on stdout.
    #[arg(long)]
    pub show: bool,

    /// Environment file written by `make dev` (AWS endpoint, WEBHOOK_SECRETS_ARN).
    #[arg(long, value_name = "PATH", default_value = ".dev/env")]
    pub env_file: PathBuf,
}

pub fn hmac_key(args: &ApiArgs, cmd: HmacKeyArgs) -> CliResult {
    let api = args.api()?;
    let vars = if cmd.store == Some(KeyStore::SecretsManager) && cmd.env_file.exists() {
        devenv::read_env_file(&cmd.env_file)?
    } else {
        BTreeMap::new()
    };
    let secret_id = match cmd.store {
        Some(KeyStore::SecretsManager) => Some(
            cmd.secret_id
                .clone()
                .or_else(|| devenv::setting(&vars, "WEBHOOK_SECRETS_ARN"))
                .ok_or_else(|| {
                    CliError::usage(
                        "--store secrets-manager needs --secret-id ARN (or WEBHOOK_SECRETS_ARN)",
                    )
                })?,
        ),
        _ => None,
    };
    let rt = runtime()?;
    let key = rt.block_on(api.hmac_key())?;
    let decoded_len = verify::SecretSet::new(Provider::SpotDraft, [&key])
        .map(|_| key_bytes(&key))
        .map_err(|_| {
            CliError::Failed(anyhow::anyhow!(
                "SpotDraft returned an HMAC key that is not base64; nothing was stored"
            ))
        })?;

    let (destination, change) = match cmd.store {
        None => (None, None),
        Some(KeyStore::File) => {
            let path = cmd.file.as_deref().expect("clap requires --file");
            let change = store_in_file(path, &key)?;
            (Some(path.display().to_string()), Some(change))
        }
        Some(KeyStore::SecretsManager) => {
            let id = secret_id.expect("resolved above");
            let change = rt.block_on(async {
                let clients = store::AwsClients::new(&devenv::sdk_config(&vars).await);
                rotate_secret_in_secrets_manager(&clients.secrets, &id, Provider::SpotDraft, &key)
                    .await
            });
            let change = change
                .map_err(|e| CliError::Failed(anyhow::anyhow!("storing the key in {id}: {e}")))?;
            (Some(id), Some(change))
        }
    };

    let outcome = match &change {
        None => "not stored",
        Some(KeyChange::Unchanged) => "unchanged",
        Some(KeyChange::Rotated {
            kept_previous: true,
        }) => "stored; previous key kept",
        Some(KeyChange::Rotated {
            kept_previous: false,
        }) => "stored",
    };
    if args.json {
        let mut out = json!({
            "key_bytes": decoded_len,
            "stored": change.as_ref().is_some_and(|c| *c != KeyChange::Unchanged),
            "outcome": outcome,
            "destination": destination,
        });
        if cmd.show {
            out["hmac_key"] = json!(key);
        }
        print_json(&out)?;
    } else {
        if cmd.show {
            print_line(&key)?;
        }
        let mut line = format!("fetched the workspace HMAC key ({decoded_len} bytes)");
        match (&destination, &change) {
            (Some(dest), Some(KeyChange::Unchanged)) => line.push_str(&format!(
                "; already the current key in {dest}, nothing written"
            )),
            (Some(dest), Some(KeyChange::Rotated { kept_previous })) => {
                line.push_str(&format!("; stored as the current key in {dest}"));
                if *kept_previous {
                    line.push_str(", previous key kept for the rotation window");
                }
            }
            _ if !cmd.show => {
                line.push_str("; not shown (--show prints it, --store saves it)");
            }
            _ => {}
        }
        // With --show the key is stdout's only line; the summary goes to stderr.
        if cmd.show {
            eprintln!("{line}");
        } else {
            print_line(&line)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn key_bytes(key: &str) -> usize {
    use base64::Engine;
    let engine = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    engine.decode(key.trim()).map(|b| b.len()).unwrap_or(0)
}

/// Rotates the key into a local secrets file (created with mode 0600).
fn store_in_file(path: &Path, key: &str) -> Result<KeyChange, CliError> {
    let current = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => {
            return Err(CliError::usage(format!(
                "cannot read {}: {e}",
                path.display()
            )))
        }
    };
    let (text, change) = rotate_secrets_document(current.as_deref(), Provider::SpotDraft, key)
        .map_err(|e| match e {
            store::SecretsError::Secret(_) => CliError::Failed(anyhow::anyhow!(
                "SpotDraft returned an HMAC key that is not usable ({e}); nothing was stored"
            )),
            other => CliError::usage(format!(
                "{} cannot be updated: {other}; nothing was stored",
                path.display()
            )),
        })?;
    if change == KeyChange::Unchanged {
        return Ok(change);
    }
    let pretty = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| serde_json::to_string_pretty(&v).ok())
        .unwrap_or(text);
    write_private(path, format!("{pretty}\n").as_bytes())?;
    Ok(change)
}

/// Writes `bytes` to `path` atomically with mode 0600.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    use std::io::Write;
    let fail = |e: std::io::Error| {
        CliError::Failed(anyhow::anyhow!("cannot write {}: {e}", path.display()))
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(fail)?;
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "secrets".into());
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(fail)?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(fail)?;
    drop(file);
    std::fs::rename(&tmp, path).map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        fail(e)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_bytes_counts_the_decoded_key() {
        assert_eq!(key_bytes("c3BvdGRyYWZ0"), 9);
        assert_eq!(key_bytes("c3BvdGRyYWZ0LWE"), 11);
    }
}
