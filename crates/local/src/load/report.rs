//! What `load` measured, per step and in all: outcomes, latency percentiles,
//! and the text report.

use serde_json::Value;
use std::fmt::Write as _;
use verify::Provider;

// ------------------------------------------------------------------ running

#[derive(Debug, Clone)]
pub(super) struct Outcome {
    pub(super) step: usize,
    pub(super) kind: &'static str,
    pub(super) provider: Provider,
    pub(super) key: String,
    pub(super) status: Option<u16>,
    pub(super) latency_ms: f64,
    pub(super) error: Option<String>,
}

#[derive(Debug, Clone)]
pub(super) struct StepSummary {
    pub(super) target_rps: u32,
    pub(super) sent: usize,
    pub(super) wall_s: f64,
}

pub(super) fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

pub(super) fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub(super) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

pub(super) fn text_report(r: &Value) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "load report (seed {}, concurrency {}, {})",
        r["seed"],
        r["concurrency"],
        r["stack"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "loadavg before {} / after sending {} / at end {}",
        r["loadavg_before"].as_str().unwrap_or(""),
        r["loadavg_after_send"].as_str().unwrap_or(""),
        r["loadavg_end"].as_str().unwrap_or("")
    );
    let _ = writeln!(
        out,
        "\n{:>8} {:>6} {:>7} {:>10} {:>8} {:>8} {:>8}  statuses",
        "target/s", "sent", "secs", "achieved/s", "p50 ms", "p99 ms", "errors"
    );
    for s in r["steps"].as_array().into_iter().flatten() {
        let f = |name: &str| s[name].to_string();
        let _ = writeln!(
            out,
            "{:>8} {:>6} {:>7} {:>10} {:>8} {:>8} {:>8}  {}",
            f("target_rps"),
            f("sent"),
            f("seconds"),
            f("achieved_rps"),
            f("p50_ms"),
            f("p99_ms"),
            f("errors"),
            f("by_status")
        );
    }
    let _ = writeln!(
        out,
        "\nrequests {} in {} s; by status {}; transport errors {}",
        r["requests"], r["send_seconds"], r["by_status"], r["transport_errors"]
    );
    let _ = writeln!(
        out,
        "accepted (202) keys {} {}; accepted more than once {}; 200 but never 202 {}",
        r["accepted_keys"],
        r["accepted_by_provider"],
        r["accepted_more_than_once"],
        r["answered_200_but_never_202"]
    );
    let _ = writeln!(
        out,
        "duplicates by status {}; forged by status {}",
        r["duplicates_by_status"], r["forged_by_status"]
    );
    let _ = writeln!(
        out,
        "drain {} s; queue depth at end {}; ledger items {} (corrupt {}, not sent by this run {}, keys with >1 item {})",
        r["drain_seconds"],
        r["queue_depth_end"],
        r["ledger_items"],
        r["ledger_corrupt"],
        r["ledger_items_not_sent_by_load"],
        r["keys_with_more_than_one_item"]
    );
    let _ = writeln!(
        out,
        "enqueue_attempts (attempts: events) {}; not processed {}",
        r["enqueue_attempts"], r["not_processed_by_status"]
    );
    let _ = writeln!(
        out,
        "status table: {} subjects checked, {} missing, {} naming another event",
        r["status_items_checked"], r["status_items_missing"], r["status_items_mismatched"]
    );
    let _ = write!(
        out,
        "lost = {}, forged stored = {}",
        r["lost"], r["forged_stored"]
    );
    out
}
