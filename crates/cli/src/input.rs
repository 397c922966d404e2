//! Reading bodies, writing output, and the clock.

use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;

use crate::error::CliError;

/// Reads a body from `path`, or from stdin when `path` is `-`. Bytes are kept
/// exactly as read: a trailing newline is part of the body.
pub fn read_body(path: &Path) -> Result<Vec<u8>, CliError> {
    if path == Path::new("-") {
        let mut body = Vec::new();
        io::stdin()
            .lock()
            .read_to_end(&mut body)
            .map_err(|e| CliError::usage(format!("cannot read the body from stdin: {e}")))?;
        Ok(body)
    } else {
        std::fs::read(path)
            .map_err(|e| CliError::usage(format!("cannot read body file {}: {e}", path.display())))
    }
}

/// Writes `bytes` to `path` exactly.
pub fn write_file(path: &Path, bytes: &[u8]) -> Result<(), CliError> {
    std::fs::write(path, bytes)
        .with_context(|| format!("cannot write {}", path.display()))
        .map_err(CliError::Failed)
}

/// Writes `text` to stdout without panicking on a closed pipe.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())
        .and_then(|()| out.flush())
        .context("cannot write to stdout")
        .map_err(CliError::Failed)
}

/// The current time in Unix milliseconds.
pub fn now_ms() -> Result<i64, CliError> {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .ok_or_else(|| CliError::usage("the system clock is before 1970; pass the time explicitly"))
}
