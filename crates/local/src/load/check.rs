//! The end check: every accepted event `PROCESSED` exactly once, every forged
//! one nowhere, every status item naming its subject's last event.

use anyhow::anyhow;
use contract_hooks::devenv;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};
use store::ops::LedgerFilter;
use store::{Ledger, StatusTable};
use verify::Provider;

use super::args::LoadArgs;
use super::report::*;
use super::stack::*;

#[allow(clippy::too_many_arguments)]
pub(super) async fn check(
    args: &LoadArgs,
    stack: &Stack,
    steps: Vec<StepSummary>,
    outcomes: Vec<Outcome>,
    send_s: f64,
    load_before: String,
    load_after_send: String,
    seed: u64,
) -> anyhow::Result<Value> {
    let step_reports = step_reports(&steps, &outcomes);
    let Answers {
        accepted,
        genuine_2xx,
        forged_keys,
        forged_status,
        dup_status,
        errors,
        accepted_by_provider,
    } = Answers::tally(&outcomes);
    let accepted_twice = accepted.values().filter(|&&n| n > 1).count();
    let answered_200_never_202 = genuine_2xx
        .iter()
        .filter(|k| !accepted.contains_key(*k))
        .count();

    // Wait (bounded) for every accepted event to be processed.
    let vars = devenv::read_env_file(&stack.env_file).map_err(|e| anyhow!("{e:?}"))?;
    let sdk = devenv::sdk_config(&vars).await;
    let clients = store::AwsClients::new(&sdk);
    let table = devenv::setting(&vars, "EVENTS_TABLE")
        .ok_or_else(|| anyhow!("EVENTS_TABLE not in {}", stack.env_file.display()))?;
    let queue_url = devenv::setting(&vars, "QUEUE_URL");
    let ledger = Ledger::reader(clients.dynamodb.clone(), table);
    let drain_started = Instant::now();
    let listing = drain(&ledger, &genuine_2xx, args.drain_timeout).await?;
    let drain_s = drain_started.elapsed().as_secs_f64();
    let queue_depth = match &queue_url {
        Some(url) => queue_depth(&clients.sqs, url).await,
        None => None,
    };

    // The ledger against the answers.
    let items = by_key(&listing);
    let LedgerCheck {
        lost,
        not_processed_statuses,
        multiple_items,
        attempts,
    } = LedgerCheck::of(&items, &genuine_2xx);
    let forged_stored = forged_keys
        .iter()
        .filter(|k| items.contains_key(*k))
        .count();

    // The status table against the ledger: each new event has a subject of its
    // own (fresh contract id / envelope uuid), so its status item must name it.
    let status_table = devenv::setting(&vars, "STATUS_TABLE")
        .ok_or_else(|| anyhow!("STATUS_TABLE not in {}", stack.env_file.display()))?;
    let status_table = StatusTable::new(clients.dynamodb.clone(), status_table);
    let (status_checked, status_missing, status_mismatched) =
        check_status_items(&status_table, &items, &genuine_2xx).await?;
    let sent_keys: HashSet<&str> = outcomes.iter().map(|o| o.key.as_str()).collect();
    let unknown_items = items.keys().filter(|k| !sent_keys.contains(*k)).count();

    let mut all_status: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
        let k = o
            .status
            .map_or_else(|| "error".to_owned(), |c| c.to_string());
        *all_status.entry(k).or_default() += 1;
    }
    Ok(json!({
        "seed": seed,
        "base_url": stack.base,
        "stack": if stack.child.is_some() { "started by load (contract-hooks-local dev, debug functions under cargo lambda watch)" } else { "given with --url" },
        "concurrency": args.concurrency,
        "mix": {"duplicates": args.duplicates, "forged": args.forged},
        "loadavg_before": load_before,
        "loadavg_after_send": load_after_send,
        "loadavg_end": loadavg(),
        "send_seconds": round1(send_s),
        "steps": step_reports,
        "requests": outcomes.len(),
        "by_status": all_status,
        "transport_errors": errors,
        "accepted_keys": accepted.len(),
        "accepted_by_provider": accepted_by_provider,
        "accepted_more_than_once": accepted_twice,
        "answered_200_but_never_202": answered_200_never_202,
        "duplicates_by_status": dup_status,
        "forged_by_status": forged_status,
        "drain_seconds": round1(drain_s),
        "queue_depth_end": queue_depth,
        "ledger_items": listing.entries.len(),
        "ledger_corrupt": listing.corrupt.len(),
        "ledger_items_not_sent_by_load": unknown_items,
        "keys_with_more_than_one_item": multiple_items,
        "not_processed_by_status": not_processed_statuses,
        "enqueue_attempts": attempts.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
        "status_items_checked": status_checked,
        "status_items_missing": status_missing,
        "status_items_mismatched": status_mismatched,
        "lost": lost,
        "forged_stored": forged_stored,
    }))
}

/// Per step: throughput, latency, statuses.
fn step_reports(steps: &[StepSummary], outcomes: &[Outcome]) -> Vec<Value> {
    let mut step_reports = Vec::new();
    for (i, s) in steps.iter().enumerate() {
        let mine: Vec<&Outcome> = outcomes.iter().filter(|o| o.step == i).collect();
        let mut lat: Vec<f64> = mine
            .iter()
            .filter(|o| o.status.is_some())
            .map(|o| o.latency_ms)
            .collect();
        lat.sort_by(f64::total_cmp);
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        for o in &mine {
            let k = o
                .status
                .map_or_else(|| "error".to_owned(), |c| c.to_string());
            *by_status.entry(k).or_default() += 1;
        }
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        for o in &mine {
            *by_kind.entry(o.kind).or_default() += 1;
        }
        step_reports.push(json!({
            "target_rps": s.target_rps,
            "sent": s.sent,
            "seconds": round1(s.wall_s),
            "achieved_rps": round1(s.sent as f64 / s.wall_s.max(1e-9)),
            "p50_ms": round1(percentile(&lat, 50.0)),
            "p99_ms": round1(percentile(&lat, 99.0)),
            "max_ms": round1(lat.last().copied().unwrap_or(0.0)),
            "by_status": by_status,
            "by_kind": by_kind,
            "errors": mine.iter().filter(|o| o.error.is_some()).count(),
        }));
    }
    step_reports
}

/// What the answers say should be stored.
struct Answers<'a> {
    /// Key -> number of 202 answers.
    accepted: HashMap<&'a str, usize>,
    genuine_2xx: HashSet<&'a str>,
    forged_keys: HashSet<&'a str>,
    forged_status: BTreeMap<String, usize>,
    dup_status: BTreeMap<String, usize>,
    errors: BTreeMap<String, usize>,
    accepted_by_provider: BTreeMap<&'a str, usize>,
}

impl<'a> Answers<'a> {
    fn tally(outcomes: &'a [Outcome]) -> Self {
        let mut accepted: HashMap<&str, usize> = HashMap::new();
        let mut genuine_2xx: HashSet<&str> = HashSet::new();
        let mut forged_keys: HashSet<&str> = HashSet::new();
        let mut forged_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut dup_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut errors: BTreeMap<String, usize> = BTreeMap::new();
        for o in outcomes {
            let status = o
                .status
                .map_or_else(|| "error".to_owned(), |c| c.to_string());
            if let Some(e) = &o.error {
                *errors.entry(e.chars().take(120).collect()).or_default() += 1;
            }
            match o.kind {
                "forged" => {
                    forged_keys.insert(&o.key);
                    *forged_status.entry(status).or_default() += 1;
                }
                kind => {
                    if kind == "duplicate" {
                        *dup_status.entry(status).or_default() += 1;
                    }
                    if o.status == Some(202) {
                        *accepted.entry(&o.key).or_default() += 1;
                    }
                    if matches!(o.status, Some(200 | 202)) {
                        genuine_2xx.insert(&o.key);
                    }
                }
            }
        }
        let mut accepted_by_provider: BTreeMap<&str, usize> = BTreeMap::new();
        for o in outcomes.iter().filter(|o| o.status == Some(202)) {
            *accepted_by_provider.entry(o.provider.as_str()).or_default() += 1;
        }
        Answers {
            accepted,
            genuine_2xx,
            forged_keys,
            forged_status,
            dup_status,
            errors,
            accepted_by_provider,
        }
    }
}

/// Waits (at most `timeout_s`) until every genuinely accepted key is
/// `PROCESSED` in the ledger; returns the last listing.
async fn drain(
    ledger: &Ledger,
    genuine_2xx: &HashSet<&str>,
    timeout_s: u64,
) -> anyhow::Result<store::ops::Listing> {
    let drain_deadline = Instant::now() + Duration::from_secs(timeout_s);
    Ok(loop {
        let listing = ledger
            .scan_all(&LedgerFilter::default(), |_| {})
            .await
            .map_err(|e| anyhow!("scanning the ledger: {e}"))?;
        let processed: HashSet<&str> = listing
            .entries
            .iter()
            .filter(|e| e.entry.status == store::schema::status::PROCESSED)
            .map(|e| e.entry.key.as_str())
            .collect();
        let waiting = genuine_2xx
            .iter()
            .filter(|k| !processed.contains(*k))
            .count();
        if waiting == 0 || Instant::now() >= drain_deadline {
            break listing;
        }
        eprintln!("load: waiting for {waiting} events to be processed…");
        tokio::time::sleep(Duration::from_secs(3)).await;
    })
}

/// Messages left on the queue (visible and in flight), when SQS answers.
async fn queue_depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Option<u64> {
    sqs.get_queue_attributes()
        .queue_url(url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(
            aws_sdk_sqs::types::QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        )
        .send()
        .await
        .ok()
        .and_then(|a| a.attributes)
        .map(|a| {
            a.values()
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>()
        })
}

/// The ledger's items by key.
fn by_key(listing: &store::ops::Listing) -> HashMap<&str, Vec<&store::ops::ScannedEntry>> {
    let mut items: HashMap<&str, Vec<&store::ops::ScannedEntry>> = HashMap::new();
    for e in &listing.entries {
        items.entry(e.entry.key.as_str()).or_default().push(e);
    }
    items
}

/// The ledger against the answers: accepted keys lost or not processed.
struct LedgerCheck {
    lost: usize,
    not_processed_statuses: BTreeMap<String, usize>,
    multiple_items: usize,
    attempts: BTreeMap<u32, usize>,
}

impl LedgerCheck {
    fn of(
        items: &HashMap<&str, Vec<&store::ops::ScannedEntry>>,
        genuine_2xx: &HashSet<&str>,
    ) -> Self {
        let mut lost = 0usize;
        let mut not_processed_statuses: BTreeMap<String, usize> = BTreeMap::new();
        let mut multiple_items = 0usize;
        let mut attempts: BTreeMap<u32, usize> = BTreeMap::new();
        for key in genuine_2xx {
            match items.get(key) {
                None => {
                    lost += 1;
                    *not_processed_statuses.entry("missing".into()).or_default() += 1;
                }
                Some(found) => {
                    if found.len() > 1 {
                        multiple_items += 1;
                    }
                    let e = &found[0].entry;
                    *attempts.entry(e.enqueue_attempts).or_default() += 1;
                    if e.status != store::schema::status::PROCESSED {
                        lost += 1;
                        *not_processed_statuses.entry(e.status.clone()).or_default() += 1;
                    }
                }
            }
        }
        LedgerCheck {
            lost,
            not_processed_statuses,
            multiple_items,
            attempts,
        }
    }
}

/// Each accepted event's status item must name it (its subject is its own):
/// (checked, missing, naming another event).
async fn check_status_items(
    status_table: &StatusTable,
    items: &HashMap<&str, Vec<&store::ops::ScannedEntry>>,
    genuine_2xx: &HashSet<&str>,
) -> anyhow::Result<(usize, usize, usize)> {
    let mut status_checked = 0usize;
    let mut status_missing = 0usize;
    let mut status_mismatched = 0usize;
    for key in genuine_2xx {
        let Some(e) = items.get(key).map(|found| &found[0].entry) else {
            continue;
        };
        let (Ok(provider), Some(subject)) = (e.provider.parse::<Provider>(), &e.subject) else {
            continue;
        };
        status_checked += 1;
        let dedup_key = key.split_once('#').map_or("", |(_, k)| k);
        match status_table
            .get(provider, subject)
            .await
            .map_err(|e| anyhow!("reading the status table: {e}"))?
        {
            None => status_missing += 1,
            Some(item) if item.last_event_key != dedup_key => status_mismatched += 1,
            Some(_) => {}
        }
    }
    Ok((status_checked, status_missing, status_mismatched))
}
