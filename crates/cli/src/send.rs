//! `send`: sign a body and POST the exact bytes to a receiver.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use reqwest::Url;

use crate::error::{CliError, CliResult, EXIT_FAILURE};
use crate::input::{print_stdout, read_body};
use crate::signing::{header_lines, SigningArgs};

/// How long the whole request may take.
const TIMEOUT: Duration = Duration::from_secs(10);

/// Arguments of `contract-hooks send`.
#[derive(Debug, Args)]
#[command(after_help = "Prints the HTTP status line and the response body. \
Exits 0 on a 2xx answer, 1 otherwise.")]
pub struct SendArgs {
    /// Receiver URL, e.g. http://127.0.0.1:9000/webhooks/subnoto.
    #[arg(long, value_name = "URL", value_parser = parse_url)]
    pub url: Url,

    #[command(flatten)]
    pub signing: SigningArgs,

    /// Print the request headers on stderr before sending.
    #[arg(long, short = 'v')]
    pub verbose: bool,

    /// Body file, or `-` for stdin. Sent byte for byte (form-encoded with --form).
    #[arg(value_name = "BODY_FILE|-")]
    pub body: PathBuf,
}

/// Accepts absolute http(s) URLs only.
fn parse_url(s: &str) -> Result<Url, String> {
    let url = Url::parse(s).map_err(|e| e.to_string())?;
    match url.scheme() {
        "http" | "https" => Ok(url),
        other => Err(format!("unsupported scheme {other}: use http or https")),
    }
}

/// Runs `send`.
pub fn run(args: SendArgs) -> CliResult {
    let body = read_body(&args.body)?;
    let signed = args.signing.sign(body)?;
    if args.verbose {
        eprint!("POST {}\n{}", args.url, header_lines(&signed.headers));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let (status_line, success, response_body) =
        runtime.block_on(post(args.url, signed.headers, signed.body))?;
    let mut text = status_line;
    text.push('\n');
    text.push_str(&String::from_utf8_lossy(&response_body));
    if !text.ends_with('\n') {
        text.push('\n');
    }
    print_stdout(&text)?;
    Ok(if success {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(EXIT_FAILURE)
    })
}

/// POSTs `body` with `headers`; returns the status line, whether it is 2xx, and
/// the response body.
async fn post(
    url: Url,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
) -> Result<(String, bool, Vec<u8>), CliError> {
    let client = reqwest::Client::builder()
        .timeout(TIMEOUT)
        .user_agent(concat!("contract-hooks/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("cannot build the HTTP client")?;
    let mut request = client.post(url).body(body);
    for (name, value) in &headers {
        request = request.header(name.as_str(), value.as_str());
    }
    let response = request.send().await.context("request failed")?;
    let status = response.status();
    let status_line = format!("{:?} {}", response.version(), status);
    let bytes = response
        .bytes()
        .await
        .context("cannot read the response body")?;
    Ok((status_line, status.is_success(), bytes.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_http() {
        assert!(parse_url("http://127.0.0.1:9000/webhooks/subnoto").is_ok());
        assert!(parse_url("https://example.com/").is_ok());
        assert!(parse_url("ftp://example.com/").is_err());
        assert!(parse_url("not a url").is_err());
    }
}
