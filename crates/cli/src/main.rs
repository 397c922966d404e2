//! `contract-hooks`: sign, verify and send test webhooks for SpotDraft, Subnoto and
//! DocuSign; manage SpotDraft subscriptions; show status; replay, redrive and list
//! failed events; re-archive documents. The local stack (`make dev`) is
//! `contract-hooks-local`, in crates/local.
//!
//! Exit codes: 0 success, 1 a signature did not verify or a request failed,
//! 2 usage or configuration errors (bad arguments, unusable secrets, unreadable files).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use contract_hooks::error::exit_code;
use contract_hooks::ops::{self, recent, recovery, spotdraft, status};
use contract_hooks::{send, sign, verify_cmd};

/// Sign, verify and send test webhooks the way SpotDraft and Subnoto do, and operate a
/// contract-hooks deployment.
#[derive(Debug, Parser)]
#[command(name = "contract-hooks", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the headers a provider would send with a body.
    Sign(sign::SignArgs),
    /// Check a body and its headers against one or more secrets.
    Verify(verify_cmd::VerifyArgs),
    /// Sign a body and POST it to a receiver.
    Send(send::SendArgs),
    /// Show the synced status of a contract or envelope.
    Status(status::StatusArgs),
    /// List the subjects with the newest events (scans the status table).
    Recent(recent::RecentArgs),
    /// SpotDraft webhook subscriptions, the workspace HMAC key, and re-sending webhooks.
    Spotdraft(spotdraft::SpotdraftArgs),
    /// Re-enqueue stored events from the ledger (the processor is idempotent).
    Replay(recovery::ReplayArgs),
    /// Move dead-letter queue messages back to the event queue.
    Redrive(recovery::RedriveArgs),
    /// List ledger events marked FAILED.
    Failed(recovery::FailedArgs),
    /// Re-archive a contract's or envelope's executed document (queues an archive request).
    Archive(ops::archive::ArchiveArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Sign(args) => sign::run(args),
        Command::Verify(args) => verify_cmd::run(args),
        Command::Send(args) => send::run(args),
        Command::Status(args) => status::run(args),
        Command::Recent(args) => recent::run(args),
        Command::Spotdraft(args) => spotdraft::run(args),
        Command::Replay(args) => recovery::replay(args),
        Command::Redrive(args) => recovery::redrive(args),
        Command::Failed(args) => recovery::failed_cmd(args),
        Command::Archive(args) => ops::archive::run(args),
    };
    exit_code(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
