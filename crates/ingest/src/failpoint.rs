#![cfg(feature = "failpoints")]
//! Test-only crash points, compiled only with the `failpoints` feature (enabled
//! by the integration tests' dev-dependency on this crate, never by a deployed
//! build, so `template.yaml` does not and must not set the variable).
//!
//! With `CONTRACT_HOOKS_FAILPOINT` set to a point's name, the process aborts
//! when it reaches that point: no unwinding, no destructors, no answer, the
//! way a Lambda sandbox dies when it is killed, times out or runs out of memory.

/// The variable naming the failpoint to trigger.
pub const VAR: &str = "CONTRACT_HOOKS_FAILPOINT";

/// Right after `Ledger::accept` wrote a new event, before the queue send.
pub const AFTER_LEDGER_PUT: &str = "after_ledger_put";

/// Aborts the process if `CONTRACT_HOOKS_FAILPOINT` names `point`.
pub fn hit(point: &str) {
    if std::env::var("CONTRACT_HOOKS_FAILPOINT").is_ok_and(|v| v == point) {
        eprintln!("failpoint {point}: aborting");
        std::process::abort();
    }
}
