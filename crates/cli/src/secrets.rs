//! Where secrets come from: `--secret`, the `CONTRACT_HOOKS_SECRET` environment
//! variable, or `--secret-file`. Secrets are never printed, not even by `Debug`.

use std::fmt;
use std::path::PathBuf;

use clap::Args;
use verify::{Provider, SecretSet};

use crate::error::CliError;

/// Environment variable holding one secret (an alternative to `--secret`).
pub const SECRET_ENV: &str = "CONTRACT_HOOKS_SECRET";

/// A secret as given on the command line; `Debug` shows only `<redacted>`.
#[derive(Clone)]
pub struct Secret(String);

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Secret sources shared by every command. At least one secret is required.
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// Secret: SpotDraft's base64 workspace HMAC key, or Subnoto's webhook secret
    /// (text). Repeat to list rotated secrets; the first is the current one. Visible
    /// in process lists: prefer --secret-file or the environment variable.
    #[arg(
        long = "secret",
        value_name = "SECRET",
        env = SECRET_ENV,
        hide_env_values = true
    )]
    secrets: Vec<Secret>,

    /// File with one secret per line (blank lines ignored), read after --secret.
    #[arg(long, value_name = "PATH")]
    secret_file: Option<PathBuf>,
}

impl SecretArgs {
    /// Collects every secret, in order: `--secret` (or the environment), then the file.
    fn collect(&self) -> Result<Vec<String>, CliError> {
        let mut all: Vec<String> = self.secrets.iter().map(|s| s.0.clone()).collect();
        if let Some(path) = &self.secret_file {
            // The error names the file, never its content.
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::usage(format!("cannot read secret file {}: {e}", path.display()))
            })?;
            let before = all.len();
            all.extend(
                text.lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .map(str::to_owned),
            );
            if all.len() == before {
                return Err(CliError::usage(format!(
                    "secret file {} holds no secret",
                    path.display()
                )));
            }
        }
        if all.is_empty() {
            return Err(CliError::usage(format!(
                "no secret given: pass --secret, --secret-file or set {SECRET_ENV}"
            )));
        }
        Ok(all)
    }

    /// Builds the validated secret set for `provider`.
    pub fn load(&self, provider: Provider) -> Result<SecretSet, CliError> {
        let secrets = self.collect()?;
        SecretSet::new(provider, &secrets).map_err(|e| {
            // `SecretError` names the position, never the value.
            CliError::usage(format!(
                "{e} (secrets are numbered from 0: --secret or {SECRET_ENV} first, then --secret-file lines)"
            ))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_redacts() {
        let args = SecretArgs {
            secrets: vec![Secret("hunter2".into())],
            secret_file: None,
        };
        let shown = format!("{args:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("<redacted>"), "{shown}");
    }

    #[test]
    fn bad_spotdraft_key_is_a_usage_error_without_the_key() {
        let args = SecretArgs {
            secrets: vec![Secret("not base64!!".into())],
            secret_file: None,
        };
        match args.load(Provider::SpotDraft) {
            Err(CliError::Usage(msg)) => {
                assert!(msg.contains("not valid base64"), "{msg}");
                assert!(!msg.contains("not base64!!"), "{msg}");
            }
            other => panic!("expected a usage error, got {other:?}"),
        }
    }

    #[test]
    fn nothing_given_is_a_usage_error() {
        let args = SecretArgs {
            secrets: vec![],
            secret_file: None,
        };
        assert!(matches!(
            args.load(Provider::Subnoto),
            Err(CliError::Usage(_))
        ));
    }
}
