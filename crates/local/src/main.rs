//! `contract-hooks-local`: the local-stack tooling. `dev` runs the whole pipeline on
//! this machine (moto with the template's resources, the three functions under
//! cargo-lambda, the queue pollers, the sweep, a SpotDraft stand-in and a bus
//! tail); `events` writes the Lambda test events and env.json that `sam local`
//! and `make sam-test` use; `load` drives the local stack at increasing rates
//! and checks that nothing is lost or forged. Nothing here talks to a real
//! provider or a deployment: that is `contract-hooks` (crates/cli).

mod bus_tail;
mod dev;
mod events;
mod load;
mod spotdraft_standin;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use contract_hooks::error::exit_code;

/// The local stack: run it, write its test events, load it.
#[derive(Debug, Parser)]
#[command(name = "contract-hooks-local", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole pipeline locally (moto, the functions, queue pollers, sweep).
    Dev(dev::DevArgs),
    /// Write Lambda test events (API Gateway, SQS, schedule) and env.json for the functions.
    Events(events::EventsArgs),
    /// Drive the local stack at increasing rates; check nothing is lost or forged.
    Load(load::LoadArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Events(args) => events::run(args),
        Command::Load(args) => load::run(args),
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
