//! The one context of an operator command: its settings (the environment,
//! then the env file `make dev` writes) and the AWS clients built once from
//! them, handing out the store's adapters.

use std::collections::BTreeMap;
use std::path::Path;

use store::{AwsClients, Ledger, StatusTable};

use crate::devenv;
use crate::error::CliError;

/// Settings and clients of one command.
pub struct OpsContext {
    vars: BTreeMap<String, String>,
    /// The SDK clients, built once.
    pub clients: AwsClients,
}

impl OpsContext {
    /// Reads the settings; checks that `required` are all set before any AWS
    /// configuration is loaded.
    pub async fn load(env_file: &Path, required: &[&str]) -> Result<OpsContext, CliError> {
        let vars = devenv::read_env_file_if_present(env_file)?;
        for name in required {
            setting(&vars, name)?;
        }
        let sdk = devenv::sdk_config(&vars).await;
        Ok(OpsContext {
            clients: AwsClients::new(&sdk),
            vars,
        })
    }

    /// A required setting.
    pub fn setting(&self, name: &str) -> Result<String, CliError> {
        setting(&self.vars, name)
    }

    /// An optional setting.
    pub fn optional(&self, name: &str) -> Option<String> {
        devenv::setting(&self.vars, name)
    }

    /// The ledger of `EVENTS_TABLE`, for reading.
    pub fn ledger(&self) -> Result<Ledger, CliError> {
        Ok(Ledger::reader(
            self.clients.dynamodb.clone(),
            self.setting("EVENTS_TABLE")?,
        ))
    }

    /// The status table of `STATUS_TABLE`.
    pub fn status_table(&self) -> Result<StatusTable, CliError> {
        Ok(StatusTable::new(
            self.clients.dynamodb.clone(),
            self.setting("STATUS_TABLE")?,
        ))
    }
}

/// `name` from the environment or the env file, or a usage error that says
/// how to set it.
pub fn setting(vars: &BTreeMap<String, String>, name: &str) -> Result<String, CliError> {
    devenv::setting(vars, name).ok_or_else(|| {
        CliError::usage(format!(
            "{name} is not set (and not in the env file): export it, or start `make dev`"
        ))
    })
}

/// A failed read or write, with what it was doing.
pub fn failed(context: &str, err: impl std::fmt::Display) -> CliError {
    CliError::Failed(anyhow::anyhow!("{context}: {err}"))
}
