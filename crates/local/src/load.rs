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

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ExitCode, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use serde_json::{json, Value};
use store::ops::LedgerFilter;
use store::{Ledger, StatusTable};
use time::format_description::well_known::Rfc3339;
use tokio::sync::Semaphore;
use verify::{BodyFormat, Event, Provider, SecretSet, Verifier};

use crate::dev;
use contract_hooks::devenv;
use contract_hooks::error::{CliError, CliResult, EXIT_FAILURE};

/// Drive the local stack at increasing rates and check nothing is lost or forged.
#[derive(Debug, clap::Args)]
pub struct LoadArgs {
    /// Base URL of a running ingest (loopback only), up to `/webhooks`, e.g.
    /// `http://127.0.0.1:9000/lambda-url/ingest/webhooks`. Without it a stack is
    /// started (`contract-hooks-local dev` on free ports) and stopped at the end.
    #[arg(long)]
    url: Option<String>,
    /// Env file of the running stack (with `--url`).
    #[arg(long, default_value = ".dev/env")]
    env_file: PathBuf,
    /// Target rates (requests per second), one step each.
    #[arg(long, value_delimiter = ',', default_value = "20,50,100")]
    rates: Vec<u32>,
    /// Seconds per step at most.
    #[arg(long, default_value_t = 15)]
    duration: u64,
    /// Requests per step at most.
    #[arg(long, default_value_t = 1500)]
    max_requests: usize,
    /// Requests in flight at most.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Fraction of requests that repeat an already-accepted event.
    #[arg(long, default_value_t = 0.30)]
    duplicates: f64,
    /// Fraction of requests with a bad signature.
    #[arg(long, default_value_t = 0.05)]
    forged: f64,
    /// Seconds to wait at the end for every accepted event to be processed.
    #[arg(long, default_value_t = 300)]
    drain_timeout: u64,
    /// Folder with the sample payloads used as templates.
    #[arg(long, default_value = "samples")]
    samples: PathBuf,
    /// Seed of the request mix (default: from the clock).
    #[arg(long)]
    seed: Option<u64>,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

// ------------------------------------------------------------------ the plan

/// SplitMix64: small, seedable, good enough for a request mix and ids.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    /// A random (version 4) UUID, lowercase.
    pub fn uuid(&mut self) -> String {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        b[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        b[6] = (b[6] & 0x0f) | 0x40;
        b[8] = (b[8] & 0x3f) | 0x80;
        let h = hex::encode(b);
        format!(
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

/// What one request of the plan sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A new event.
    New(Provider),
    /// An already-accepted event again (falls back to new when none is yet).
    Duplicate,
    /// A new event with a bad signature.
    Forged(Provider),
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Kind::New(_) => "new",
            Kind::Duplicate => "duplicate",
            Kind::Forged(_) => "forged",
        }
    }
}

/// The providers the load mixes (half each): the two whose figures are in
/// BENCHMARKS.md. DocuSign's ingest path is the same code with another
/// verifier; it is not in the mix yet.
pub const LOAD_PROVIDERS: [Provider; 2] = [Provider::SpotDraft, Provider::Subnoto];

/// `n` request kinds: about `duplicates` and `forged` of them as such, the
/// rest new, providers half and half.
pub fn plan(n: usize, duplicates: f64, forged: f64, rng: &mut Rng) -> Vec<Kind> {
    (0..n)
        .map(|_| {
            let r = rng.unit();
            let provider = if rng.next_u64() & 1 == 0 {
                Provider::SpotDraft
            } else {
                Provider::Subnoto
            };
            if r < forged {
                Kind::Forged(provider)
            } else if r < forged + duplicates {
                Kind::Duplicate
            } else {
                Kind::New(provider)
            }
        })
        .collect()
}

/// A signed request ready to send.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub provider: Provider,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The ledger key the body maps to.
    pub key: String,
}

/// Makes unique events from the samples and signs them.
pub struct Generator {
    templates: Vec<(Provider, Value)>,
    genuine: HashMap<Provider, Verifier>,
    wrong: HashMap<Provider, Verifier>,
    rng: Rng,
    /// A per-run base so SpotDraft contract ids differ between runs.
    id_base: i64,
    counter: i64,
}

fn verifier(provider: Provider, secret: &str) -> anyhow::Result<Verifier> {
    Ok(Verifier::new(
        SecretSet::new(provider, [secret]).map_err(|e| anyhow!("{provider} secret: {e}"))?,
    ))
}

impl Generator {
    /// `templates`: sample payloads; `secrets`: the stack's (SpotDraft key, Subnoto secret).
    pub fn new(
        templates: Vec<(Provider, Value)>,
        spotdraft_key: &str,
        subnoto_secret: &str,
        seed: u64,
    ) -> anyhow::Result<Self> {
        for provider in LOAD_PROVIDERS {
            if !templates.iter().any(|(p, _)| *p == provider) {
                return Err(anyhow!("no {provider} sample"));
            }
        }
        let mut rng = Rng::new(seed);
        let id_base = 100_000_000 + (rng.next_u64() % 800_000) as i64 * 1_000_000;
        Ok(Generator {
            templates,
            genuine: HashMap::from([
                (
                    Provider::SpotDraft,
                    verifier(Provider::SpotDraft, spotdraft_key)?,
                ),
                (
                    Provider::Subnoto,
                    verifier(Provider::Subnoto, subnoto_secret)?,
                ),
            ]),
            wrong: HashMap::from([
                (
                    Provider::SpotDraft,
                    verifier(
                        Provider::SpotDraft,
                        "Zm9yZ2VkLWtleS1ub3QtdGhlLXJlY2VpdmVycy1rZXktMDAwMDAwMDA=",
                    )?,
                ),
                (
                    Provider::Subnoto,
                    verifier(Provider::Subnoto, "whsec_forged")?,
                ),
            ]),
            rng,
            id_base,
            counter: 0,
        })
    }

    /// A fresh, unique event body of `provider` from a random sample.
    pub fn new_body(&mut self, provider: Provider, now_ms: i64) -> Vec<u8> {
        let candidates: Vec<&Value> = self
            .templates
            .iter()
            .filter(|(p, _)| *p == provider)
            .map(|(_, v)| v)
            .collect();
        let mut value = candidates[self.rng.below(candidates.len())].clone();
        self.counter += 1;
        match provider {
            Provider::SpotDraft => {
                let now =
                    time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(now_ms) * 1_000_000)
                        .ok()
                        .and_then(|t| t.format(&Rfc3339).ok())
                        .unwrap_or_default();
                value["contract_id"] = json!(self.id_base + self.counter);
                if value.get("activity_data").is_some_and(Value::is_object) {
                    value["activity_data"]["timestamp"] = json!(now);
                }
            }
            Provider::Subnoto => {
                if value.get("eventUuid").is_some() {
                    value["eventUuid"] = json!(self.rng.uuid());
                }
                value["eventTime"] = json!(now_ms);
                if value.get("data").is_some_and(Value::is_object) {
                    value["data"]["envelopeUuid"] = json!(self.rng.uuid());
                }
            }
            // `Generator::new` holds templates of LOAD_PROVIDERS only, so no
            // DocuSign body is ever asked for (`candidates` would be empty).
            Provider::DocuSign => unreachable!("DocuSign is not in LOAD_PROVIDERS"),
        }
        serde_json::to_vec(&value).expect("JSON values serialise")
    }

    /// Signs `body` the way the provider does, at `now_ms`.
    pub fn sign(&self, provider: Provider, body: Vec<u8>, now_ms: i64) -> Prepared {
        let headers = self.genuine[&provider].sign(&body, now_ms, BodyFormat::Json);
        let key = ledger_key(provider, &body);
        Prepared {
            provider,
            headers,
            body,
            key,
        }
    }

    /// A new event with a bad signature: signed with the wrong secret, or
    /// signed right and then changed (one trailing space: same event, other bytes).
    pub fn forge(&mut self, provider: Provider, now_ms: i64) -> Prepared {
        let mut body = self.new_body(provider, now_ms);
        let headers = if self.rng.next_u64() & 1 == 0 {
            self.wrong[&provider].sign(&body, now_ms, BodyFormat::Json)
        } else {
            let headers = self.genuine[&provider].sign(&body, now_ms, BodyFormat::Json);
            body.push(b' ');
            headers
        };
        let key = ledger_key(provider, &body);
        Prepared {
            provider,
            headers,
            body,
            key,
        }
    }

    fn pick(&mut self, n: usize) -> usize {
        self.rng.below(n)
    }
}

/// The ledger key ingest would store `body` under (also for forged bodies,
/// so their absence can be checked).
pub fn ledger_key(provider: Provider, body: &[u8]) -> String {
    Event::parse(provider, BodyFormat::Json, body)
        .map(|e| e.ledger_key())
        .unwrap_or_else(|_| format!("{provider}#{}", verify::dedup_key_for_bytes(body)))
}

fn now_ms() -> i64 {
    domain::now_ms()
}

// ------------------------------------------------------------------ running

#[derive(Debug, Clone)]
struct Outcome {
    step: usize,
    kind: &'static str,
    provider: Provider,
    key: String,
    status: Option<u16>,
    latency_ms: f64,
    error: Option<String>,
}

#[derive(Debug, Clone)]
struct StepSummary {
    target_rps: u32,
    sent: usize,
    wall_s: f64,
}

/// Accepted genuine events (provider, body) that duplicates repeat.
type Pool = Vec<(Provider, Vec<u8>)>;

/// The stack under load: its URL base and env file, and the child when we started it.
struct Stack {
    base: String,
    env_file: PathBuf,
    secrets_dir: PathBuf,
    child: Option<Child>,
    state_dir: Option<PathBuf>,
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // SIGINT lets `dev` stop cargo-lambda and moto like Ctrl-C does.
            let _ = std::process::Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                if let Ok(Some(_)) = child.try_wait() {
                    break;
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        if let Some(dir) = &self.state_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

fn is_loopback(url: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_owned))
        .is_some_and(|host| {
            host == "localhost"
                || host
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        })
}

fn start_stack(args: &LoadArgs) -> anyhow::Result<Stack> {
    if let Some(url) = &args.url {
        if !is_loopback(url) {
            return Err(anyhow!(
                "--url must be a loopback address (127.0.0.1, ::1, localhost)"
            ));
        }
        let secrets_dir = args
            .env_file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        return Ok(Stack {
            base: url.trim_end_matches('/').to_owned(),
            env_file: args.env_file.clone(),
            secrets_dir,
            child: None,
            state_dir: None,
        });
    }
    let state = std::env::temp_dir().join(format!("contract-hooks-load-{}", std::process::id()));
    std::fs::create_dir_all(&state)?;
    let port = free_port()?;
    let log = std::fs::File::create(state.join("dev.log"))?;
    let mut child = std::process::Command::new(std::env::current_exe()?)
        // --no-reload: an edit in the workspace must not restart the functions
        // mid-run (RELIABILITY.md, "Found while running it" 1).
        .args(["dev", "--no-reload", "--moto-port", "0", "--port"])
        .arg(port.to_string())
        .arg("--state-dir")
        .arg(&state)
        .env_remove("CONTRACT_HOOKS_SECRET")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log))
        .spawn()
        .context("starting contract-hooks-local dev")?;
    let stdout = child.stdout.take().expect("piped");
    let stack = Stack {
        base: format!("http://127.0.0.1:{port}/lambda-url/ingest/webhooks"),
        env_file: state.join("env"),
        secrets_dir: state.clone(),
        child: Some(child),
        state_dir: Some(state),
    };
    // Keep draining dev's stdout (a full pipe would block it); report the banner.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    eprintln!("load: starting the local stack on 127.0.0.1:{port} (first start compiles)…");
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .map_err(|_| anyhow!("the dev stack did not come up (see its log)"))?;
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    Ok(stack)
}

fn read_secret(dir: &Path, file: &str, default: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .ok()
        .and_then(|s| s.lines().next().map(str::to_owned))
        .filter(|s| !s.trim().is_empty())
        .unwrap_or_else(|| default.to_owned())
}

fn load_templates(dir: &Path) -> anyhow::Result<Vec<(Provider, Value)>> {
    let mut out = Vec::new();
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading samples from {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    for path in paths {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        let provider = if name.starts_with("spotdraft") {
            Provider::SpotDraft
        } else if name.starts_with("subnoto") {
            Provider::Subnoto
        } else {
            continue;
        };
        let value: Value = serde_json::from_slice(&std::fs::read(&path)?)
            .with_context(|| format!("{} is not JSON", path.display()))?;
        out.push((provider, value));
    }
    Ok(out)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

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

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

#[allow(clippy::too_many_arguments)]
async fn check(
    args: &LoadArgs,
    stack: &Stack,
    steps: Vec<StepSummary>,
    outcomes: Vec<Outcome>,
    send_s: f64,
    load_before: String,
    load_after_send: String,
    seed: u64,
) -> anyhow::Result<Value> {
    // Per step: throughput, latency, statuses.
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

    // What the answers say should be stored.
    let mut accepted: HashMap<&str, usize> = HashMap::new(); // key -> 202 count
    let mut genuine_2xx: HashSet<&str> = HashSet::new();
    let mut forged_keys: HashSet<&str> = HashSet::new();
    let mut forged_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut dup_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut errors: BTreeMap<String, usize> = BTreeMap::new();
    for o in &outcomes {
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
    let ledger = Ledger::new(clients.dynamodb.clone(), table, 30, 30_000);
    let drain_started = Instant::now();
    let drain_deadline = drain_started + Duration::from_secs(args.drain_timeout);
    let listing = loop {
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
    };
    let drain_s = drain_started.elapsed().as_secs_f64();
    let queue_depth = match &queue_url {
        Some(url) => clients
            .sqs
            .get_queue_attributes()
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
            }),
        None => None,
    };

    // The ledger against the answers.
    let mut items: HashMap<&str, Vec<&store::ops::ScannedEntry>> = HashMap::new();
    for e in &listing.entries {
        items.entry(e.entry.key.as_str()).or_default().push(e);
    }
    let mut lost = 0usize;
    let mut not_processed_statuses: BTreeMap<String, usize> = BTreeMap::new();
    let mut multiple_items = 0usize;
    let mut attempts: BTreeMap<u32, usize> = BTreeMap::new();
    for key in &genuine_2xx {
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
    let forged_stored = forged_keys
        .iter()
        .filter(|k| items.contains_key(*k))
        .count();

    // The status table against the ledger: each new event has a subject of its
    // own (fresh contract id / envelope uuid), so its status item must name it.
    let status_table = devenv::setting(&vars, "STATUS_TABLE")
        .ok_or_else(|| anyhow!("STATUS_TABLE not in {}", stack.env_file.display()))?;
    let status_table = StatusTable::new(clients.dynamodb.clone(), status_table);
    let mut status_checked = 0usize;
    let mut status_missing = 0usize;
    let mut status_mismatched = 0usize;
    for key in &genuine_2xx {
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

fn text_report(r: &Value) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

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
