//! `verify`: check a body and its headers as the receiver would.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use verify::{Provider, Verifier};

use crate::error::{CliResult, EXIT_FAILURE};
use crate::input::{now_ms, print_stdout, read_body};
use crate::secrets::SecretArgs;
use crate::signing::{parse_header_value, ProviderArg};

/// Arguments of `contract-hooks verify`.
#[derive(Debug, Args)]
#[command(
    after_help = "Prints `valid` and exits 0, or prints the reason on stderr and exits 1.\n\
The content type is taken from a Content-Type header (default application/json)."
)]
pub struct VerifyArgs {
    /// Provider whose signing scheme to check.
    #[arg(long, value_enum, ignore_case = true)]
    pub provider: ProviderArg,

    #[command(flatten)]
    pub secrets: SecretArgs,

    /// A request header as `Name: value` (repeatable), e.g. the signature header.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE", value_parser = parse_header)]
    pub headers: Vec<(String, String)>,

    /// The receiver's clock in Unix milliseconds (default: now).
    #[arg(long, value_name = "MS")]
    pub now_ms: Option<i64>,

    /// How far a Subnoto signature time may be from the clock, either way.
    #[arg(long, value_name = "N", default_value_t = 300)]
    pub tolerance_seconds: u64,

    /// Body file, or `-` for stdin: the exact bytes received.
    #[arg(value_name = "BODY_FILE|-")]
    pub body: PathBuf,
}

/// Parses `Name: value`; the value is trimmed, the name must be a header token.
fn parse_header(s: &str) -> Result<(String, String), String> {
    let (name, value) = s
        .split_once(':')
        .ok_or_else(|| "expected `Name: value`".to_owned())?;
    let name = name.trim();
    let valid_name = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !valid_name {
        return Err("the header name is empty or not a valid token".to_owned());
    }
    Ok((name.to_owned(), parse_header_value(value.trim())?))
}

/// Runs `verify`.
pub fn run(args: VerifyArgs) -> CliResult {
    let provider = Provider::from(args.provider);
    let verifier = Verifier::new(args.secrets.load(provider)?)
        .with_tolerance_ms(args.tolerance_seconds.saturating_mul(1000));
    let body = read_body(&args.body)?;
    let now = match args.now_ms {
        Some(t) => t,
        None => now_ms()?,
    };
    match verifier.verify(&args.headers, &body, now) {
        Ok(_format) => {
            print_stdout("valid\n")?;
            Ok(ExitCode::SUCCESS)
        }
        Err(reason) => {
            eprintln!("invalid: {reason}");
            Ok(ExitCode::from(EXIT_FAILURE))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_headers() {
        assert_eq!(
            parse_header("X-Webhook-Signature: t=1,v1=ab"),
            Ok(("X-Webhook-Signature".into(), "t=1,v1=ab".into()))
        );
        assert_eq!(
            parse_header("X-Empty:"),
            Ok(("X-Empty".into(), String::new()))
        );
        assert!(parse_header("no colon").is_err());
        assert!(parse_header(": value").is_err());
        assert!(parse_header("bad name: v").is_err());
    }
}
