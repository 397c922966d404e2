//! `contract-hooks spotdraft`: SpotDraft's webhook playbook, done safely —
//! fetch (and store) the workspace HMAC key, register a subscription, delete
//! it, and rotate it (create the new one before deleting the old one); and,
//! after an outage, have SpotDraft re-send the latest webhook of contracts.

pub mod activities;
pub mod api;
pub mod base_url;
pub mod call_error;
pub mod contract_id;
pub mod hmac_key;
pub mod retrigger;
pub mod state;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Subcommand};
use reqwest::Url;
use serde_json::json;

use crate::common::{now_rfc3339, print_json, print_line, runtime};
use crate::error::{CliError, CliResult};
use api::{credentials_from_env, Api, Deleted, NewWebhook, RetryPolicy};
use base_url::Region;
use hmac_key::{hmac_key, HmacKeyArgs};
use retrigger::{retrigger, RetriggerArgs};
use state::{State, Subscription, DEFAULT_STATE_FILE};

/// Manage SpotDraft webhook subscriptions and the workspace HMAC key.
///
/// Credentials come from SPOTDRAFT_CLIENT_ID and SPOTDRAFT_CLIENT_SECRET only
/// (never flags). Choose the workspace's region with --region or give
/// --base-url.
#[derive(Debug, Args)]
#[command(
    after_help = "Subscriptions this tool registers are recorded in a local file \
(--state, default .contract-hooks/spotdraft-subscriptions.json) so that delete and rotate act \
on ids it created."
)]
pub struct SpotdraftArgs {
    #[command(flatten)]
    pub api: ApiArgs,
    #[command(subcommand)]
    pub command: SpotdraftCommand,
}

/// Where and how to reach the API; valid before or after the subcommand.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The workspace's region: in, us, eu or me (api.{region}.spotdraft.com).
    #[arg(
        long,
        value_enum,
        ignore_case = true,
        global = true,
        env = "SPOTDRAFT_REGION"
    )]
    pub region: Option<Region>,

    /// An explicit API base URL instead of --region, e.g. https://api.eu.spotdraft.com.
    #[arg(
        long,
        value_name = "URL",
        global = true,
        env = "SPOTDRAFT_BASE_URL",
        conflicts_with = "region"
    )]
    pub base_url: Option<String>,

    /// Seconds one request may take.
    #[arg(long, value_name = "SECS", default_value_t = 30, global = true)]
    pub timeout: u64,

    /// The local record of registered subscriptions.
    #[arg(
        long = "state",
        value_name = "PATH",
        default_value = DEFAULT_STATE_FILE,
        global = true,
        env = "SPOTDRAFT_STATE_FILE"
    )]
    pub state: PathBuf,

    /// Print the result as JSON.
    #[arg(long, global = true)]
    pub json: bool,
}

/// The `spotdraft` subcommands.
#[derive(Debug, Subcommand)]
pub enum SpotdraftCommand {
    /// Fetch the workspace HMAC key (GET /api/v2.1/public/webhooks/hmac_key/); optionally store it.
    HmacKey(HmacKeyArgs),
    /// Register a webhook subscription (POST /api/v2.1/public/webhooks/) and record its id.
    Register(RegisterArgs),
    /// Delete a recorded subscription (DELETE /api/v2.1/public/webhooks/{id}).
    Delete(DeleteArgs),
    /// Replace the recorded subscription: register the new one, then delete the old one.
    Rotate(RotateArgs),
    /// List the recorded subscriptions (no API call).
    List,
    /// Have SpotDraft re-send the latest webhook of each contract
    /// (POST /api/v2.1/public/contracts/webhooks/re_trigger_latest/).
    Retrigger(RetriggerArgs),
}

/// Arguments of `spotdraft register`.
#[derive(Debug, Args)]
pub struct RegisterArgs {
    /// The receiver: your deployment's SpotDraftWebhookUrl (HTTPS only).
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Activity to subscribe to; repeat or separate with commas (at least one).
    #[arg(
        long = "activity",
        value_name = "ACTIVITY",
        value_delimiter = ',',
        required = true
    )]
    pub activities: Vec<String>,

    /// The subscription's title (SpotDraft requires one).
    #[arg(long, default_value = "contract-hooks")]
    pub title: String,

    /// An optional description.
    #[arg(long)]
    pub description: Option<String>,
}

/// Arguments of `spotdraft delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// The webhook id (default: the one recorded subscription at this base URL).
    #[arg(long)]
    pub id: Option<u64>,

    /// Delete an id this tool has no record of.
    #[arg(long)]
    pub force: bool,
}

/// Arguments of `spotdraft rotate`.
#[derive(Debug, Args)]
#[command(
    after_help = "Registers the new subscription and records it before deleting the \
old one, so no event window is missed. If the delete fails, both stay recorded: run \
`contract-hooks spotdraft delete --id OLD` later."
)]
pub struct RotateArgs {
    /// The new receiver URL (HTTPS only).
    #[arg(long, value_name = "URL")]
    pub url: String,

    /// Activities of the new subscription (default: the old one's).
    #[arg(long = "activity", value_name = "ACTIVITY", value_delimiter = ',')]
    pub activities: Vec<String>,

    /// Title of the new subscription (default: the old one's).
    #[arg(long)]
    pub title: Option<String>,

    /// The recorded subscription to replace (default: the only one at this base URL).
    #[arg(long, value_name = "ID")]
    pub old_id: Option<u64>,
}

/// Runs `spotdraft`.
pub fn run(args: SpotdraftArgs) -> CliResult {
    match args.command {
        SpotdraftCommand::List => list(&args.api),
        SpotdraftCommand::HmacKey(cmd) => hmac_key(&args.api, cmd),
        SpotdraftCommand::Register(cmd) => register(&args.api, cmd),
        SpotdraftCommand::Delete(cmd) => delete(&args.api, cmd),
        SpotdraftCommand::Rotate(cmd) => rotate(&args.api, cmd),
        SpotdraftCommand::Retrigger(cmd) => retrigger(&args.api, cmd),
    }
}

impl ApiArgs {
    fn base_url(&self) -> Result<String, CliError> {
        match (&self.base_url, self.region) {
            (Some(url), _) => base_url::normalise_base_url(url).map_err(CliError::usage),
            (None, Some(region)) => Ok(region.base_url().to_owned()),
            (None, None) => Err(CliError::usage(
                "choose the workspace's region with --region in|us|eu|me (or SPOTDRAFT_REGION), \
                 or give --base-url",
            )),
        }
    }

    /// The client; credentials are read before the base URL so that a missing
    /// credential is reported first, before any request.
    fn api(&self) -> Result<Api, CliError> {
        let credentials = credentials_from_env()?;
        let base = self.base_url()?;
        if self.timeout == 0 {
            return Err(CliError::usage("--timeout must be at least 1 second"));
        }
        Api::new(
            base,
            credentials,
            Duration::from_secs(self.timeout),
            RetryPolicy::default(),
        )
    }
}

/// Accepts absolute https URLs with a host only.
fn receiver_url(raw: &str) -> Result<String, CliError> {
    let url = Url::parse(raw.trim())
        .map_err(|e| CliError::usage(format!("--url {raw:?} is not a URL: {e}")))?;
    if url.scheme() != "https" {
        return Err(CliError::usage(format!(
            "--url {raw:?}: SpotDraft delivers only to HTTPS URLs (got {}://)",
            url.scheme()
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(CliError::usage(format!("--url {raw:?} has no host")));
    }
    Ok(url.to_string())
}

fn subscription_json(s: &Subscription) -> serde_json::Value {
    serde_json::to_value(s).unwrap_or_default()
}

fn list(args: &ApiArgs) -> CliResult {
    let state = State::load(&args.state)?;
    if args.json {
        print_json(&json!({
            "state_file": args.state.display().to_string(),
            "subscriptions": state.subscriptions.iter().map(subscription_json).collect::<Vec<_>>(),
        }))?;
    } else if state.subscriptions.is_empty() {
        print_line(&format!(
            "no subscriptions recorded in {}",
            args.state.display()
        ))?;
    } else {
        for s in &state.subscriptions {
            print_line(&format!(
                "{}  {}  {}  [{}]  created {}",
                s.id,
                s.base_url,
                s.url,
                s.activities.join(","),
                s.created_at
            ))?;
        }
        print_line(&format!(
            "{} subscription(s) recorded in {}",
            state.subscriptions.len(),
            args.state.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ register

/// Creates the subscription and records it; the record is written before
/// anything else happens, so a later step can never lose the id.
fn create_and_record(
    rt: &tokio::runtime::Runtime,
    api: &Api,
    args: &ApiArgs,
    webhook: &NewWebhook,
) -> Result<(Subscription, Option<String>), CliError> {
    // Read the record first: a broken file stops us before anything is created.
    let mut state = State::load(&args.state)?;
    let created = rt.block_on(api.create_webhook(webhook))?;
    let subscription = Subscription {
        id: created.id,
        base_url: api.base().to_owned(),
        url: webhook.url.clone(),
        activities: webhook.activities.clone(),
        title: webhook.title.clone(),
        created_at: now_rfc3339(),
    };
    state.add(subscription.clone());
    state.save(&args.state).map_err(|e| {
        CliError::Failed(anyhow::anyhow!(
            "SpotDraft created webhook {} but it could not be recorded ({}); record it by hand \
             or remove it with `contract-hooks spotdraft delete --id {} --force`",
            created.id,
            match e {
                CliError::Usage(m) => m,
                CliError::Failed(e) => format!("{e:#}"),
            },
            created.id
        ))
    })?;
    Ok((subscription, created.status))
}

fn register(args: &ApiArgs, cmd: RegisterArgs) -> CliResult {
    let url = receiver_url(&cmd.url)?;
    let activities = activities::validate(&cmd.activities).map_err(CliError::usage)?;
    if cmd.title.trim().is_empty() {
        return Err(CliError::usage("--title must not be empty"));
    }
    let api = args.api()?;
    let webhook = NewWebhook {
        title: cmd.title,
        url,
        activities,
        description: cmd.description,
    };
    let rt = runtime()?;
    let (subscription, status) = create_and_record(&rt, &api, args, &webhook)?;
    let others = State::load(&args.state)?.at(api.base()).len() - 1;
    if args.json {
        let mut out = subscription_json(&subscription);
        out["status"] = json!(status);
        out["state_file"] = json!(args.state.display().to_string());
        print_json(&out)?;
    } else {
        print_line(&format!(
            "registered SpotDraft webhook {} -> {} ({}){}; recorded in {}",
            subscription.id,
            subscription.url,
            subscription.activities.join(", "),
            status.map(|s| format!(", {s}")).unwrap_or_default(),
            args.state.display()
        ))?;
        if others > 0 {
            eprintln!(
                "note: {others} other subscription(s) are recorded at {}; each delivers every \
                 event it covers (`rotate` replaces one)",
                api.base()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ delete

fn delete(args: &ApiArgs, cmd: DeleteArgs) -> CliResult {
    let base = args.base_url()?;
    let mut state = State::load(&args.state)?;
    let id = match cmd.id {
        Some(id) => {
            if state.find(&base, id).is_none() && !cmd.force {
                return Err(CliError::usage(format!(
                    "webhook {id} at {base} is not recorded in {}: refusing to delete a \
                     subscription this tool did not register (pass --force to delete it anyway)",
                    args.state.display()
                )));
            }
            id
        }
        None => state.only_at(&base, &args.state)?.id,
    };
    let api = args.api()?;
    let rt = runtime()?;
    let outcome = rt.block_on(api.delete_webhook(id))?;
    let forgotten = state.remove(&base, id);
    if forgotten {
        state.save(&args.state)?;
    }
    let outcome_text = match outcome {
        Deleted::Deleted => "deleted",
        Deleted::NotFound => "already gone",
    };
    if args.json {
        print_json(&json!({
            "id": id,
            "outcome": outcome_text,
            "record_removed": forgotten,
            "state_file": args.state.display().to_string(),
        }))?;
    } else {
        let mut line = match outcome {
            Deleted::Deleted => format!("deleted SpotDraft webhook {id}"),
            Deleted::NotFound => format!("SpotDraft webhook {id} was already gone (404)"),
        };
        if forgotten {
            line.push_str(&format!("; record removed from {}", args.state.display()));
        }
        print_line(&line)?;
    }
    Ok(ExitCode::SUCCESS)
}

// ------------------------------------------------------------------ rotate

fn rotate(args: &ApiArgs, cmd: RotateArgs) -> CliResult {
    let url = receiver_url(&cmd.url)?;
    let base = args.base_url()?;
    let state = State::load(&args.state)?;
    let old = match cmd.old_id {
        Some(id) => state.find(&base, id).cloned().ok_or_else(|| {
            CliError::usage(format!(
                "webhook {id} at {base} is not recorded in {}: rotate replaces a subscription \
                 this tool registered",
                args.state.display()
            ))
        })?,
        None => state
            .only_at(&base, &args.state)
            .map_err(|e| match e {
                CliError::Usage(m) => CliError::usage(format!(
                    "{m}; to start, use `contract-hooks spotdraft register`"
                )),
                other => other,
            })?
            .clone(),
    };
    let activities = if cmd.activities.is_empty() {
        old.activities.clone()
    } else {
        cmd.activities.clone()
    };
    let activities = activities::validate(&activities).map_err(CliError::usage)?;
    let title = cmd.title.unwrap_or_else(|| old.title.clone());
    if title.trim().is_empty() {
        return Err(CliError::usage("--title must not be empty"));
    }
    let api = args.api()?;
    let rt = runtime()?;
    let webhook = NewWebhook {
        title,
        url,
        activities,
        description: None,
    };
    // 1. The new subscription, recorded, before anything is deleted.
    let (new, _) = create_and_record(&rt, &api, args, &webhook).map_err(|e| match e {
        CliError::Failed(e) => CliError::Failed(e.context(format!(
            "registering the new subscription failed; the old one ({}) is untouched",
            old.id
        ))),
        other => other,
    })?;
    if !args.json {
        eprintln!(
            "registered new SpotDraft webhook {} -> {}; deleting old webhook {}",
            new.id, new.url, old.id
        );
    }
    // 2. The old one; on failure both stay recorded.
    let outcome = rt.block_on(api.delete_webhook(old.id)).map_err(|e| {
        CliError::Failed(anyhow::anyhow!(
            "new webhook {} is registered and recorded, but deleting old webhook {} failed: {e}. \
             Both are recorded in {} and both deliver events until the old one is deleted; \
             retry with `contract-hooks spotdraft delete --id {}`",
            new.id,
            old.id,
            args.state.display(),
            old.id
        ))
    })?;
    let mut state = State::load(&args.state)?;
    state.remove(&base, old.id);
    state.save(&args.state)?;
    let outcome_text = match outcome {
        Deleted::Deleted => "deleted",
        Deleted::NotFound => "already gone",
    };
    if args.json {
        print_json(&json!({
            "new": subscription_json(&new),
            "old": {"id": old.id, "outcome": outcome_text},
            "state_file": args.state.display().to_string(),
        }))?;
    } else {
        print_line(&format!(
            "rotated: webhook {} -> {} replaces webhook {} ({outcome_text}); recorded in {}",
            new.id,
            new.url,
            old.id,
            args.state.display()
        ))?;
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn receivers_must_be_https() {
        assert!(receiver_url("https://example.com/webhooks/spotdraft").is_ok());
        for bad in [
            "http://example.com/x",
            "ftp://example.com",
            "not a url",
            "https://",
        ] {
            assert!(
                matches!(receiver_url(bad), Err(CliError::Usage(_))),
                "{bad}"
            );
        }
    }
}
