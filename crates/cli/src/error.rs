//! Errors that end a command, and the exit code each maps to.

use std::process::ExitCode;

/// Exit code for an invalid signature or a failed request.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for usage and configuration errors (clap uses the same).
pub const EXIT_USAGE: u8 = 2;

/// A command that could not complete. Messages never contain secrets.
#[derive(Debug)]
pub enum CliError {
    /// Bad arguments or configuration: exit 2.
    Usage(String),
    /// The work itself failed (network, I/O on output): exit 1.
    Failed(anyhow::Error),
}

impl CliError {
    /// A usage error with `message`.
    pub fn usage(message: impl Into<String>) -> Self {
        CliError::Usage(message.into())
    }

    /// Prints the error on stderr and returns its exit code.
    pub fn report(self) -> ExitCode {
        match self {
            CliError::Usage(message) => {
                eprintln!("error: {message}");
                ExitCode::from(EXIT_USAGE)
            }
            CliError::Failed(err) => {
                eprintln!("error: {err:#}");
                ExitCode::from(EXIT_FAILURE)
            }
        }
    }
}

impl From<anyhow::Error> for CliError {
    fn from(err: anyhow::Error) -> Self {
        CliError::Failed(err)
    }
}

/// Result of a command: the exit code to use on success paths.
pub type CliResult = Result<ExitCode, CliError>;

/// The process's exit code for a command's result (an error is printed).
pub fn exit_code(result: CliResult) -> ExitCode {
    result.unwrap_or_else(CliError::report)
}
