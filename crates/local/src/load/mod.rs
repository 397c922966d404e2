//! `contract-hooks-local load`: a load generator for the local stack (`make load`).
//!
//! Sends signed webhooks at increasing rates (steps, each bounded in time and
//! count) to a loopback ingest URL: new events made from `samples/` with fresh
//! ids and times, duplicates of already-accepted events, and forged ones (wrong
//! secret or a body changed after signing). Every request is signed just before
//! it is sent. At the end it waits (bounded) for the queue to drain and checks
//! the ledger: every accepted event `PROCESSED` exactly once, every forged one
//! nowhere; and the status table: every new event names a subject of its own,
//! so each accepted event must be its subject's last event. Exit 1 when an
//! event is lost, a forged one was stored or a status item disagrees.
//!
//! Without `--url` it starts its own stack (`contract-hooks-local dev` on free ports
//! with a temporary state folder) and stops it at the end.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use serde_json::Value;
use tokio::sync::Semaphore;
use verify::Provider;

use crate::dev;
use contract_hooks::error::{CliError, CliResult, EXIT_FAILURE};

mod args;
mod check;
mod generator;
mod report;
mod stack;

pub use args::LoadArgs;
use check::*;
use generator::*;
use report::*;
use stack::*;

/// Accepted genuine events (provider, body) that duplicates repeat.
type Pool = Vec<(Provider, Vec<u8>)>;

/// Runs `load`.
pub fn run(args: LoadArgs) -> CliResult {
    if args.rates.is_empty() || args.rates.contains(&0) {
        return Err(CliError::usage("--rates needs positive numbers"));
    }
    if !(0.0..=1.0).contains(&(args.duplicates + args.forged))
        || args.duplicates < 0.0
        || args.forged < 0.0
    {
        return Err(CliError::usage(
            "--duplicates and --forged must be fractions summing to at most 1",
        ));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow!("cannot start runtime: {e}")))?;
    let templates = load_templates(&args.samples)?;
    // Not `dev --stop-after`: with it, `dev` does not handle SIGINT and its
    // children (cargo-lambda, the functions) would outlive it. Dropping the
    // stack sends SIGINT, which `dev` answers by stopping everything.
    let stack = start_stack(&args)?;
    let report = runtime.block_on(run_async(&args, &stack, templates))?;
    drop(stack);
    let failed = report["lost"].as_u64() != Some(0)
        || report["forged_stored"].as_u64() != Some(0)
        || report["status_items_missing"].as_u64() != Some(0)
        || report["status_items_mismatched"].as_u64() != Some(0);
    if args.json {
        contract_hooks::common::print_json(&report)?;
    } else {
        contract_hooks::common::print_line(&text_report(&report))?;
    }
    Ok(if failed {
        ExitCode::from(EXIT_FAILURE)
    } else {
        ExitCode::SUCCESS
    })
}

async fn run_async(
    args: &LoadArgs,
    stack: &Stack,
    templates: Vec<(Provider, Value)>,
) -> anyhow::Result<Value> {
    let load_before = loadavg();
    let seed = args.seed.unwrap_or_else(|| now_ms() as u64);
    let generator = Generator::new(
        templates,
        &read_secret(&stack.secrets_dir, "spotdraft.key", dev::DEV_SPOTDRAFT_KEY),
        &read_secret(
            &stack.secrets_dir,
            "subnoto.secret",
            dev::DEV_SUBNOTO_SECRET,
        ),
        seed,
    )?;
    let generator = Arc::new(Mutex::new(generator));
    let mut plan_rng = Rng::new(seed ^ 0x5EED);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(args.concurrency)
        .build()?;
    let pool: Arc<Mutex<Pool>> = Arc::default();
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let semaphore = Arc::new(Semaphore::new(args.concurrency.max(1)));
    let mut steps = Vec::new();
    let run_started = Instant::now();

    for (step, &rate) in args.rates.iter().enumerate() {
        let kinds = plan(
            args.max_requests,
            args.duplicates,
            args.forged,
            &mut plan_rng,
        );
        let period = Duration::from_secs_f64(1.0 / f64::from(rate));
        let mut ticker = tokio::time::interval(period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        let limit = Duration::from_secs(args.duration);
        let mut tasks = tokio::task::JoinSet::new();
        let mut sent = 0;
        eprintln!("load: step {} at {rate} req/s", step + 1);
        for kind in kinds {
            ticker.tick().await;
            if started.elapsed() >= limit {
                break;
            }
            let permit = semaphore.clone().acquire_owned().await?;
            if started.elapsed() >= limit {
                break;
            }
            sent += 1;
            let (http, generator, pool, outcomes) = (
                http.clone(),
                generator.clone(),
                pool.clone(),
                outcomes.clone(),
            );
            let base = stack.base.clone();
            tasks.spawn(async move {
                let _permit = permit;
                // Signed just before sending (Subnoto's 5-minute window).
                let now = now_ms();
                let (kind, prepared) = {
                    let mut g = generator.lock().expect("generator lock");
                    match kind {
                        Kind::New(p) => {
                            let body = g.new_body(p, now);
                            (kind, g.sign(p, body, now))
                        }
                        Kind::Duplicate => {
                            let pool = pool.lock().expect("pool lock");
                            if pool.is_empty() {
                                let p = Provider::SpotDraft;
                                let body = g.new_body(p, now);
                                (Kind::New(p), g.sign(p, body, now))
                            } else {
                                let (p, body) = pool[g.pick(pool.len())].clone();
                                (kind, g.sign(p, body, now))
                            }
                        }
                        Kind::Forged(p) => (kind, g.forge(p, now)),
                    }
                };
                let mut request = http
                    .post(format!("{base}/{}", prepared.provider))
                    .body(prepared.body.clone());
                for (name, value) in &prepared.headers {
                    request = request.header(name, value);
                }
                let t0 = Instant::now();
                let result = request.send().await;
                let (status, error) = match result {
                    Ok(response) => {
                        let status = response.status().as_u16();
                        let _ = response.bytes().await;
                        (Some(status), None)
                    }
                    Err(e) => {
                        let class = if e.is_timeout() {
                            "timeout (30 s)"
                        } else if e.is_connect() {
                            "connect"
                        } else {
                            "other"
                        };
                        let source = std::error::Error::source(&e)
                            .map(|s| format!(": {s}"))
                            .unwrap_or_default();
                        (None, Some(format!("{class}{source}")))
                    }
                };
                let latency_ms = t0.elapsed().as_secs_f64() * 1000.0;
                if !matches!(kind, Kind::Forged(_)) && matches!(status, Some(200 | 202)) {
                    pool.lock()
                        .expect("pool lock")
                        .push((prepared.provider, prepared.body.clone()));
                }
                outcomes.lock().expect("outcomes lock").push(Outcome {
                    step,
                    kind: kind.label(),
                    provider: prepared.provider,
                    key: prepared.key,
                    status,
                    latency_ms,
                    error,
                });
            });
        }
        while tasks.join_next().await.is_some() {}
        steps.push(StepSummary {
            target_rps: rate,
            sent,
            wall_s: started.elapsed().as_secs_f64(),
        });
    }
    let send_s = run_started.elapsed().as_secs_f64();
    let load_after_send = loadavg();
    let outcomes = std::mem::take(&mut *outcomes.lock().expect("outcomes lock"));
    check(
        args,
        stack,
        steps,
        outcomes,
        send_s,
        load_before,
        load_after_send,
        seed,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use std::path::PathBuf;

    fn generator() -> Generator {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples");
        Generator::new(
            load_templates(&dir).unwrap(),
            dev::DEV_SPOTDRAFT_KEY,
            dev::DEV_SUBNOTO_SECRET,
            7,
        )
        .unwrap()
    }

    fn verifies(p: &Prepared, now: i64) -> bool {
        let secret = match p.provider {
            Provider::SpotDraft => dev::DEV_SPOTDRAFT_KEY,
            Provider::Subnoto => dev::DEV_SUBNOTO_SECRET,
            Provider::DocuSign => dev::DEV_DOCUSIGN_KEY,
        };
        verifier(p.provider, secret)
            .unwrap()
            .verify_and_parse(&p.headers, &p.body, now)
            .is_ok()
    }

    #[test]
    fn plan_has_the_requested_mix() {
        let kinds = plan(20_000, 0.30, 0.05, &mut Rng::new(42));
        let frac = |f: fn(&Kind) -> bool| kinds.iter().filter(|k| f(k)).count() as f64 / 20_000.0;
        let forged = frac(|k| matches!(k, Kind::Forged(_)));
        let dups = frac(|k| matches!(k, Kind::Duplicate));
        assert!((0.04..0.06).contains(&forged), "forged {forged}");
        assert!((0.28..0.32).contains(&dups), "duplicates {dups}");
        let spotdraft = frac(|k| matches!(k, Kind::New(Provider::SpotDraft)));
        assert!(
            (0.30..0.35).contains(&spotdraft),
            "spotdraft new {spotdraft}"
        );
    }

    #[test]
    fn new_events_verify_and_are_unique_forged_ones_fail() {
        let mut g = generator();
        let now = now_ms();
        let mut keys = HashSet::new();
        for i in 0..200 {
            let provider = Provider::ALL[i % 2];
            let body = g.new_body(provider, now);
            let p = g.sign(provider, body, now);
            assert!(verifies(&p, now), "{provider} event does not verify");
            assert!(keys.insert(p.key.clone()), "duplicate key {}", p.key);
            // A duplicate re-signed later is the same event (same key).
            let again = g.sign(provider, p.body.clone(), now + 1000);
            assert_eq!(again.key, p.key);
            assert!(verifies(&again, now + 1000));

            let forged = g.forge(provider, now);
            assert!(!verifies(&forged, now), "forged {provider} event verifies");
            assert!(keys.insert(forged.key.clone()), "forged key collides");
        }
    }

    #[test]
    fn only_loopback_urls() {
        assert!(is_loopback("http://127.0.0.1:9000/x"));
        assert!(is_loopback("http://localhost:9000/x"));
        assert!(is_loopback("http://[::1]:9000/x"));
        assert!(!is_loopback("https://example.com/webhooks"));
        assert!(!is_loopback("http://10.0.0.1/webhooks"));
    }
}
