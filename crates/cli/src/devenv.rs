//! The local stack's environment file (`.dev/env`) and AWS clients built from it.

use std::collections::BTreeMap;
use std::path::Path;

use aws_config::{BehaviorVersion, Region, SdkConfig};

use crate::error::CliError;

/// Reads a dotenv file written by `contract-hooks-local dev` (`NAME='value'` lines).
pub fn read_env_file(path: &Path) -> Result<BTreeMap<String, String>, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))?;
    Ok(text
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| {
            let v = v.trim();
            let v = v
                .strip_prefix('\'')
                .and_then(|v| v.strip_suffix('\''))
                .unwrap_or(v);
            (k.trim().to_owned(), v.to_owned())
        })
        .collect())
}

/// [`read_env_file`] when `path` exists, else no settings.
pub fn read_env_file_if_present(path: &Path) -> Result<BTreeMap<String, String>, CliError> {
    if path.exists() {
        read_env_file(path)
    } else {
        Ok(BTreeMap::new())
    }
}

/// Writes `vars` as a dotenv file that cargo-lambda and shells both read.
pub fn write_env_file(path: &Path, vars: &BTreeMap<String, String>) -> Result<(), CliError> {
    let mut text =
        String::from("# Written by `contract-hooks-local dev`; local emulator settings.\n");
    for (k, v) in vars {
        text.push_str(&format!("{k}='{v}'\n"));
    }
    std::fs::write(path, text).map_err(|e| {
        CliError::Failed(anyhow::anyhow!(format!(
            "cannot write {}: {e}",
            path.display()
        )))
    })
}

/// A setting from the process environment, else from the env file.
pub fn setting(vars: &BTreeMap<String, String>, name: &str) -> Option<String> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .or_else(|| vars.get(name).cloned())
}

/// SDK configuration: a local emulator when `AWS_ENDPOINT_URL` is known (from
/// the environment or the env file), otherwise the standard AWS chain.
pub async fn sdk_config(vars: &BTreeMap<String, String>) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .timeout_config(store::AwsClients::timeouts())
        .retry_config(store::AwsClients::retries());
    if let Some(endpoint) = setting(vars, "AWS_ENDPOINT_URL") {
        loader = loader
            .endpoint_url(endpoint)
            .region(Region::new(
                setting(vars, "AWS_REGION").unwrap_or_else(|| "us-east-1".into()),
            ))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
                setting(vars, "AWS_ACCESS_KEY_ID").unwrap_or_else(|| "testing".into()),
                setting(vars, "AWS_SECRET_ACCESS_KEY").unwrap_or_else(|| "testing".into()),
                None,
                None,
                "contract-hooks-dev",
            ));
    }
    loader.load().await
}
