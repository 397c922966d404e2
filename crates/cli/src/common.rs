//! Helpers shared by the operating commands: the async runtime, times, JSON
//! output and progress bars.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::error::CliError;
use crate::input::print_stdout;

/// A single-threaded runtime for one command.
pub fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow::anyhow!("cannot start the async runtime: {e}")))
}

/// Milliseconds since the epoch as RFC 3339 (UTC), or the number when out of range.
pub fn format_ms(ms: i64) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| ms.to_string())
}

/// Now as RFC 3339 (UTC).
pub fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_else(|_| "unknown".into())
}

/// Parses a point in time given as RFC 3339 (`2026-05-01T00:00:00Z`) or as
/// milliseconds since the epoch.
pub fn parse_time(s: &str) -> Result<i64, String> {
    let s = s.trim();
    if let Ok(ms) = s.parse::<i64>() {
        return Ok(ms);
    }
    OffsetDateTime::parse(s, &Rfc3339)
        .map(|t| (t.unix_timestamp_nanos() / 1_000_000) as i64)
        .map_err(|e| {
            format!("{s:?} is neither RFC 3339 (2026-05-01T00:00:00Z) nor milliseconds: {e}")
        })
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &serde_json::Value) -> Result<(), CliError> {
    let mut text = serde_json::to_string_pretty(value).unwrap_or_default();
    text.push('\n');
    print_stdout(&text)
}

/// Prints `text` and a newline on stdout.
pub fn print_line(text: &str) -> Result<(), CliError> {
    print_stdout(&format!("{text}\n"))
}

/// A progress bar of `len` steps on stderr; drawn only on a terminal and
/// never with `quiet` (JSON output).
pub fn bar(len: u64, what: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(Some(len), target(quiet));
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed})")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_owned());
    bar
}

/// A spinner with a running count on stderr, for work of unknown length.
pub fn spinner(what: &str, quiet: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target(quiet));
    bar.set_style(
        ProgressStyle::with_template("{spinner} {msg} {pos} ({elapsed})")
            .expect("a valid template"),
    );
    bar.set_message(what.to_owned());
    bar.enable_steady_tick(Duration::from_millis(120));
    bar
}

fn target(quiet: bool) -> ProgressDrawTarget {
    if quiet {
        ProgressDrawTarget::hidden()
    } else {
        // indicatif draws nothing when stderr is not a terminal.
        ProgressDrawTarget::stderr()
    }
}

/// An error and its sources on one line: the store's, for the CLI's messages.
pub use store::error_chain;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_chains_name_each_cause_once() {
        let err = anyhow::anyhow!("connection refused").context("SQS.SendMessage failed");
        assert_eq!(
            error_chain(err.as_ref()),
            "SQS.SendMessage failed: connection refused"
        );
        let repeated = anyhow::anyhow!("timed out").context("dispatch failure: timed out");
        assert_eq!(
            error_chain(repeated.as_ref()),
            "dispatch failure: timed out"
        );
    }

    #[test]
    fn times_parse_as_rfc3339_or_milliseconds() {
        assert_eq!(parse_time("1700000000000").unwrap(), 1_700_000_000_000);
        assert_eq!(
            parse_time("2023-11-14T22:13:20Z").unwrap(),
            1_700_000_000_000
        );
        assert_eq!(
            parse_time("2023-11-14T23:13:20.5+01:00").unwrap(),
            1_700_000_000_500
        );
        assert!(parse_time("yesterday").is_err());
        assert_eq!(format_ms(1_700_000_000_000), "2023-11-14T22:13:20Z");
    }
}
