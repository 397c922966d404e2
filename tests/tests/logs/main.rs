//! Secrets and personal data never reach the logs.
//!
//! A child process (this test binary re-run with one test selected, see
//! `integration_tests::child`) installs the functions' own log set-up
//! (`store::init_json_logs`, `RUST_LOG=info` as deployed) and goes through a
//! full run with the real handlers: every sample accepted (JSON and form),
//! duplicates, every kind of bad input (401/400/404/405/413/415), dependency
//! errors through the fault proxy (503s, a failed status update, a failed
//! secrets refresh), processing, a malformed queue record, the sweep, an
//! unknown invocation, and cold starts that fail. Every byte it writes to
//! stdout and stderr (JSON log lines, the EMF metric lines, anything else) is
//! captured and scanned for: the webhook secrets (raw and base64-decoded), the
//! signature header values sent, email addresses, the people's names in the
//! samples, and the payload bodies (any 20-character piece of one).
//!
//! The scan also checks that the run logged what it did (each outcome, the
//! metric lines), so an empty capture cannot pass, and a unit test shows the
//! scanner finds each kind of leak.

mod run;
mod scan;

use base64::Engine;
use integration_tests::*;
use serde::{Deserialize, Serialize};
use verify::{BodyFormat, Event, Provider};

/// The child test by its path in this binary, as `--exact` matches it.
const CHILD: &str = "run::child_full_run_with_the_functions_log_setup";
/// Where the child writes what it sent (signatures, bodies).
const REPORT_ENV: &str = "CONTRACT_HOOKS_LOG_SCAN_REPORT";

/// What the child sent, for the parent to look for.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Sent {
    /// Every signature header value sent.
    signatures: Vec<String>,
    /// Every request body sent, base64.
    bodies: Vec<String>,
    /// Every queue message body the processor was given.
    queue_bodies: Vec<String>,
    /// Identifiers the design logs on purpose: ledger keys, dedup keys, event
    /// types and providers of the events sent.
    identifiers: Vec<String>,
    /// Every processor invocation that logs its cost (a `batch` or a
    /// `sweep` line), in order.
    invocations: Vec<Invoked>,
}

/// One processor invocation, and the AWS requests the fault proxy saw it make.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Invoked {
    /// What it was, for messages; a few are checked by name.
    label: String,
    /// Requests that reached the proxy during the invocation: the calls
    /// actually made. `None` when an injected fault made the SDK retry (the
    /// proxy sees each attempt, `aws_calls` counts operations).
    wire_calls: Option<usize>,
}

impl Sent {
    fn request(&mut self, headers: &[(String, String)], body: &[u8]) {
        for (name, value) in headers {
            if name.eq_ignore_ascii_case("x-sd-webhook-content-hash")
                || name.eq_ignore_ascii_case("x-webhook-signature")
            {
                self.signatures.push(value.clone());
            }
        }
        self.bodies
            .push(base64::engine::general_purpose::STANDARD.encode(body));
    }

    fn event(&mut self, event: &Event) {
        self.identifiers.push(event.ledger_key());
        self.identifiers.push(event.key.clone());
        self.identifiers.push(event.event_type.clone());
        self.identifiers.push(event.provider.to_string());
    }
}

fn signed(
    provider: Provider,
    secret: &str,
    body: &[u8],
    format: BodyFormat,
) -> Vec<(String, String)> {
    signed_headers(provider, secret, body, now_ms(), format)
}
