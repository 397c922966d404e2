//! `spotdraft retrigger`: after an outage, have SpotDraft re-send the latest
//! webhook of contracts.

use std::process::ExitCode;

use clap::Args;

use super::api::RETRIGGER_PATH;
use super::call_error::CallError;
use super::contract_id::{contract_ids, ContractId};
use super::ApiArgs;
use crate::common::{print_line, runtime};
use crate::error::{CliError, CliResult};

/// Arguments of `spotdraft retrigger`.
#[derive(Debug, Args)]
#[command(
    after_help = "For recovery after an outage longer than SpotDraft's own retries: \
SpotDraft sends the latest webhook call of each contract again, signed as before, to the \
subscriptions of the workspace. Re-triggering a contract that was received is harmless: if \
SpotDraft re-sends the same body, the receiver answers 200 duplicate; if it builds the body \
anew (SpotDraft does not document which), the event is accepted as a new one, published again \
under a new id, and the status still converges on the latest event. \
Only the latest call of each contract is re-sent: events before it are not, and the status \
table converges on the latest one. Contract ids are the integer contract_id of the webhooks \
(`contract-hooks recent --provider spotdraft` lists them), any length, sent exactly as given. \
A 404 from SpotDraft means it does not know one of the ids (or has no webhook call for it); \
re-trigger the ids one at a time to find which. 429 and 5xx answers are retried (a repeat \
only re-sends again)."
)]
pub struct RetriggerArgs {
    /// A contract id; repeat the flag, give several after it, or separate them with commas.
    #[arg(
        long = "contract-id",
        value_name = "ID",
        required = true,
        num_args = 1..,
        value_delimiter = ','
    )]
    pub contract_ids: Vec<String>,
}

pub fn retrigger(args: &ApiArgs, cmd: RetriggerArgs) -> CliResult {
    // Every id is checked before credentials are read or anything is sent.
    let ids = contract_ids(&cmd.contract_ids)?;
    let api = args.api()?;
    let rt = runtime()?;
    let listed = ids
        .iter()
        .map(ContractId::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    let message = rt
        .block_on(api.retrigger_latest(&ids))
        .map_err(|e| match e {
            CallError::Status { status, body, .. } if status == reqwest::StatusCode::NOT_FOUND => {
                CliError::Failed(anyhow::anyhow!(
                    "SpotDraft answered 404 Not Found to POST {}{}: it does not know at least \
                     one of the contract ids {listed} in this workspace (or has no webhook call \
                     to re-send for it). Check the ids (the integer contract_id of the webhooks, \
                     not T-/H- ids) and the region; re-trigger them one at a time to find which. \
                     Response body: {body}",
                    api.base(),
                    RETRIGGER_PATH
                ))
            }
            other => other.into(),
        })?;
    if args.json {
        #[derive(serde::Serialize)]
        struct Out<'a> {
            contract_ids: Vec<Box<serde_json::value::RawValue>>,
            retriggered: bool,
            message: Option<&'a str>,
        }
        let out = Out {
            // Numbers exactly as sent (a serde_json::Value would round wide ones).
            contract_ids: ids
                .iter()
                .filter_map(|id| serde_json::value::RawValue::from_string(id.to_string()).ok())
                .collect(),
            retriggered: true,
            message: message.as_deref(),
        };
        let text = serde_json::to_string_pretty(&out).unwrap_or_default();
        print_line(&text)?;
    } else {
        print_line(&format!(
            "SpotDraft accepted re-sending the latest webhook of {} contract(s): {listed}{}",
            ids.len(),
            message
                .as_deref()
                .map(|m| format!(" (\"{}\")", crate::ops::status::shortened(m, 200)))
                .unwrap_or_default()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}
