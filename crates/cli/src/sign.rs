//! `sign`: print the headers a provider would send with a body.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use crate::error::{CliError, CliResult};
use crate::input::{print_stdout, read_body, write_file};
use crate::signing::{header_lines, SigningArgs};

/// Arguments of `contract-hooks sign`.
#[derive(Debug, Args)]
#[command(
    after_help = "Prints one `Name: value` line per header, Content-Type included.\n\
With --form the signed bytes differ from the input: use --body-out to get them."
)]
pub struct SignArgs {
    #[command(flatten)]
    pub signing: SigningArgs,

    /// Write the exact bytes that were signed to FILE (needed with --form).
    #[arg(long, value_name = "FILE")]
    pub body_out: Option<PathBuf>,

    /// Body file, or `-` for stdin. Signed byte for byte (a trailing newline counts).
    #[arg(value_name = "BODY_FILE|-")]
    pub body: PathBuf,
}

/// Runs `sign`.
pub fn run(args: SignArgs) -> CliResult {
    if args.body_out.as_deref() == Some(std::path::Path::new("-")) {
        return Err(CliError::usage(
            "--body-out needs a file path: stdout carries the headers",
        ));
    }
    let body = read_body(&args.body)?;
    let signed = args.signing.sign(body)?;
    match &args.body_out {
        Some(path) => write_file(path, &signed.body)?,
        None if signed.encoded_here => eprintln!(
            "note: the signed body is the form-encoded input, not the file itself; \
             pass --body-out FILE to get the exact bytes"
        ),
        None => {}
    }
    print_stdout(&header_lines(&signed.headers))?;
    Ok(ExitCode::SUCCESS)
}
