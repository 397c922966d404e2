//! `contract-hooks-local dev`: the whole pipeline on this machine.
//!
//! moto (DynamoDB, SQS, Secrets Manager) on loopback with the same tables, index,
//! queue and secret the template creates; both functions under `cargo lambda
//! watch` (the Lambda Runtime API a deployed function uses), ingest reachable
//! over HTTP; an event-source-mapping loop that feeds SQS batches to the
//! processor and honours partial batch failures; and the sweep on a timer.
//!
//! The archiver runs too: a versioned bucket, the archive queue and its DLQ
//! filled by the bus rule (executed contracts), the same polling loop feeding
//! the archiver. With no SpotDraft credentials in the environment
//! (`SPOTDRAFT_API_BASE_URL` + `SPOTDRAFT_API_CREDENTIALS`), SpotDraft is the
//! local stand-in of `crate::spotdraft_standin`, and the output says so.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, Context};
use aws_sdk_sqs::types::{DeleteMessageBatchRequestEntry, MessageSystemAttributeName};
use serde_json::{json, Value};
use testkit::{MotoError, MotoServer};
use tokio::process::{Child, Command};

use contract_hooks::devenv;
use contract_hooks::error::CliError;

/// Public test secrets (the ones in `vectors/signatures.json`): never use them in AWS.
pub const DEV_SPOTDRAFT_KEY: &str =
    "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
/// See [`DEV_SPOTDRAFT_KEY`].
pub const DEV_SUBNOTO_SECRET: &str = "whsec_subnoto_public_test_secret_0001";
/// See [`DEV_SPOTDRAFT_KEY`] (a Connect key is used as text).
pub const DEV_DOCUSIGN_KEY: &str = "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=";

/// Run the local stack: emulator, both functions, queue poller and sweep.
#[derive(Debug, clap::Args)]
pub struct DevArgs {
    /// Port of the local AWS emulator (moto).
    #[arg(long, default_value_t = 4566)]
    moto_port: u16,
    /// Port where cargo-lambda serves the functions.
    #[arg(long, default_value_t = 9000)]
    port: u16,
    /// Folder for the environment file and dev secrets.
    #[arg(long, default_value = ".dev")]
    state_dir: PathBuf,
    /// Seconds between sweeps of unprocessed events.
    #[arg(long, default_value_t = 60)]
    sweep_every: u64,
    /// Python that has moto[server] (`make venv` makes one).
    #[arg(long, env = "MOTO_PYTHON", default_value = ".venv/bin/python")]
    python: PathBuf,
    /// The cargo-lambda executable [default: .venv/bin/cargo-lambda, else from PATH].
    #[arg(long, env = "CARGO_LAMBDA")]
    cargo_lambda: Option<PathBuf>,
    /// Keep the functions running as built: do not rebuild and restart them when
    /// workspace files change (a restart drops the requests in flight).
    #[arg(long)]
    no_reload: bool,
    /// Stop after this many seconds (for scripted runs); 0 runs until Ctrl-C.
    #[arg(long, default_value_t = 0)]
    stop_after: u64,
    /// Only moto with the template's resources (tables, queues, secret) and the
    /// environment file; no functions, queue poller or sweep. For `make sam-test`,
    /// where SAM runs the functions. Port 0 for --moto-port picks a free one.
    #[arg(long)]
    resources_only: bool,
}

/// Runs `dev`.
pub fn run(args: DevArgs) -> Result<ExitCode, CliError> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| CliError::Failed(anyhow!("cannot start runtime: {e}")))?;
    runtime.block_on(run_async(args))?;
    Ok(ExitCode::SUCCESS)
}

fn start_moto(args: &DevArgs) -> anyhow::Result<(MotoServer, String)> {
    let moto = MotoServer::start(&args.python, args.moto_port).map_err(|e| match e {
        MotoError::NoPython(path) => anyhow!(
            "{} not found: run `make venv` (or `make dev`, which does) to install moto",
            path.display()
        ),
        MotoError::NoPort { port, .. } => {
            anyhow!("moto did not start on port {port} (in use? try --moto-port)")
        }
        other => anyhow!(other),
    })?;
    let endpoint = moto.endpoint().to_owned();
    Ok((moto, endpoint))
}

async fn run_async(args: DevArgs) -> anyhow::Result<()> {
    let (_moto, endpoint) = start_moto(&args)?;
    std::fs::create_dir_all(&args.state_dir)?;
    let mut vars = BTreeMap::from([
        ("AWS_ENDPOINT_URL".to_string(), endpoint.clone()),
        ("AWS_REGION".into(), "us-east-1".into()),
        ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
        ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
        ("RUST_LOG".into(), "info".into()),
    ]);
    let sdk = devenv::sdk_config(&vars).await;
    let clients = store::AwsClients::new(&sdk);
    let stack = create_stack(&args, &sdk, &clients, &mut vars).await?;
    if args.resources_only {
        println!(
            "moto with the template's resources: {endpoint} (settings in {})",
            stack.env_file.display()
        );
        stop_signal(args.stop_after).await;
        return Ok(());
    }
    // The contract events the processor publishes, as a subscriber sees them.
    let bus_tail = crate::bus_tail::start(&clients.events, &clients.sqs, BUS).await?;
    let (mut watch, http, base) = start_functions(&args, &stack.env_file).await?;
    println!("{}", banner(&args, &stack, &base, &endpoint));
    let served = serve(&args, &clients, &http, &base, &stack, &mut watch).await;
    println!("stopping…");
    bus_tail.abort();
    let _ = watch.kill().await;
    served
}

/// The template's resource names, as `dev` creates them on moto.
const EVENTS_TABLE: &str = "contract-hooks-events";
const STATUS_TABLE: &str = "contract-hooks-status";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:contract-hooks-events";
const BUCKET: &str = "contract-hooks-documents";
const BUS: &str = "contract-hooks";
const ARCHIVE_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:contract-hooks-archive";

/// What `create_stack` made: the settings file the functions read, and the
/// queues the pollers drain.
struct Stack {
    env_file: PathBuf,
    queue_url: String,
    archive_queue_url: String,
    spotdraft: SpotDraftApi,
}

/// Where the archiver fetches SpotDraft documents: a real workspace, or the
/// local stand-in.
struct SpotDraftApi {
    url: String,
    credentials: String,
    stand_in: bool,
}

/// The template's resources on moto (tables, queues, secret, bucket, bus
/// rules), the SpotDraft API the archiver uses, and the env file and key
/// files that say where everything is.
async fn create_stack(
    args: &DevArgs,
    sdk: &aws_config::SdkConfig,
    clients: &store::AwsClients,
    vars: &mut BTreeMap<String, String>,
) -> anyhow::Result<Stack> {
    let (events_table, status_table, bucket, bus) = (EVENTS_TABLE, STATUS_TABLE, BUCKET, BUS);
    testkit::resources::create_ledger_table(&clients.dynamodb, events_table).await?;
    testkit::resources::create_status_table(&clients.dynamodb, status_table).await?;
    let (queue_url, dlq_url) =
        testkit::resources::create_queues(&clients.sqs, "contract-hooks-events").await?;
    let secrets = json!({
        "spotdraft": [DEV_SPOTDRAFT_KEY],
        "subnoto": [DEV_SUBNOTO_SECRET],
        "docusign": [DEV_DOCUSIGN_KEY],
    });
    let secret_arn = clients
        .secrets
        .create_secret()
        .name("contract-hooks/webhook-secrets")
        .secret_string(secrets.to_string())
        .send()
        .await
        .context("creating the webhook secret")?
        .arn
        .unwrap_or_default();

    // The archiver's side: bucket, archive queue + DLQ, bus and rule.
    let archive = store::archive::ArchiveClients::new(sdk, &clients.calls);
    testkit::resources::create_bucket(&archive.s3, bucket).await?;
    let (archive_queue_url, archive_dlq_url) =
        testkit::resources::create_archive_queues(&clients.sqs, "contract-hooks-archive").await?;
    testkit::resources::create_archive_route(
        &clients.events,
        &clients.sqs,
        bus,
        &archive_queue_url,
    )
    .await?;
    // Metadata jobs, as deployed: the archive rule's second target and the key-pointer rule.
    testkit::resources::create_metadata_routes(
        &clients.events,
        &clients.sqs,
        bus,
        &archive_queue_url,
    )
    .await?;
    let spotdraft = spotdraft_api(args, clients).await?;
    vars.extend([
        ("EVENTS_TABLE".to_string(), events_table.to_string()),
        ("STATUS_TABLE".into(), status_table.into()),
        ("QUEUE_URL".into(), queue_url.clone()),
        ("DLQ_URL".into(), dlq_url.clone()),
        ("WEBHOOK_SECRETS_ARN".into(), secret_arn),
        ("SECRETS_REFRESH_SECONDS".into(), "30".into()),
        ("SWEEP_AFTER_SECONDS".into(), "60".into()),
        ("ARCHIVE_BUCKET".into(), bucket.into()),
        ("ARCHIVE_QUEUE_URL".into(), archive_queue_url.clone()),
        ("ARCHIVE_DLQ_URL".into(), archive_dlq_url),
        ("EVENT_BUS_NAME".into(), bus.into()),
        ("SPOTDRAFT_API_BASE_URL".into(), spotdraft.url.clone()),
        (
            "SPOTDRAFT_API_CREDENTIALS".into(),
            spotdraft.credentials.clone(),
        ),
        // The local SpotDraft stand-in serves documents over http on
        // loopback; the deployed archiver never allows that.
        ("ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS".into(), "true".into()),
    ]);
    let env_file = args.state_dir.join("env");
    devenv::write_env_file(&env_file, vars).map_err(|e| anyhow!("{e:?}"))?;
    std::fs::write(
        args.state_dir.join("spotdraft.key"),
        format!("{DEV_SPOTDRAFT_KEY}\n"),
    )?;
    std::fs::write(
        args.state_dir.join("subnoto.secret"),
        format!("{DEV_SUBNOTO_SECRET}\n"),
    )?;
    std::fs::write(
        args.state_dir.join("docusign.key"),
        format!("{DEV_DOCUSIGN_KEY}\n"),
    )?;

    Ok(Stack {
        env_file,
        queue_url,
        archive_queue_url,
        spotdraft,
    })
}

/// `SPOTDRAFT_API_BASE_URL` and `SPOTDRAFT_API_CREDENTIALS` when both are set,
/// else the local stand-in, started here.
async fn spotdraft_api(
    args: &DevArgs,
    clients: &store::AwsClients,
) -> anyhow::Result<SpotDraftApi> {
    Ok(
        match (
            std::env::var("SPOTDRAFT_API_BASE_URL")
                .ok()
                .filter(|v| !v.is_empty()),
            std::env::var("SPOTDRAFT_API_CREDENTIALS")
                .ok()
                .filter(|v| !v.is_empty()),
        ) {
            (Some(url), Some(credentials)) => {
                eprintln!("archiver: SpotDraft documents from {url} (SPOTDRAFT_API_BASE_URL)");
                SpotDraftApi {
                    url,
                    credentials,
                    stand_in: false,
                }
            }
            _ => {
                let url = crate::spotdraft_standin::start(Some(crate::spotdraft_standin::Resend {
                    dynamodb: clients.dynamodb.clone(),
                    status_table: STATUS_TABLE.into(),
                    events_table: EVENTS_TABLE.into(),
                    ingest_url: format!(
                        "http://127.0.0.1:{}/lambda-url/ingest/webhooks/spotdraft",
                        args.port
                    ),
                    hmac_key: DEV_SPOTDRAFT_KEY.into(),
                }))
                .await?;
                let credentials = json!({
                    "client_id": crate::spotdraft_standin::CLIENT_ID,
                    "client_secret": crate::spotdraft_standin::CLIENT_SECRET,
                });
                SpotDraftApi {
                    url,
                    credentials: credentials.to_string(),
                    stand_in: true,
                }
            }
        },
    )
}

/// `cargo lambda watch` serving the functions on `args.port`, warmed up; the
/// HTTP client and base URL that reach it.
async fn start_functions(
    args: &DevArgs,
    env_file: &std::path::Path,
) -> anyhow::Result<(Child, reqwest::Client, String)> {
    let cargo_lambda = args.cargo_lambda.clone().unwrap_or_else(|| {
        let venv = PathBuf::from(".venv/bin/cargo-lambda");
        if venv.exists() {
            venv
        } else {
            PathBuf::from("cargo-lambda")
        }
    });
    let mut watch = Command::new(&cargo_lambda);
    watch.args(["lambda", "watch", "--env-file"]).arg(env_file);
    if args.no_reload {
        watch.arg("--ignore-changes");
    }
    let mut watch = watch
        .args(["--invoke-address", "127.0.0.1", "--invoke-port"])
        .arg(args.port.to_string())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| {
            format!(
                "starting {} lambda watch (make venv installs it)",
                cargo_lambda.display()
            )
        })?;
    wait_for_port(args.port, &mut watch).await?;

    let base = format!("http://127.0.0.1:{}", args.port);
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()?;
    // cargo-lambda builds a function on its first invocation; do that now (a GET
    // answers 405 without touching AWS) so the first webhook is not held up.
    eprintln!("building and starting the ingest function…");
    http.get(format!("{base}/lambda-url/ingest/webhooks/spotdraft"))
        .send()
        .await
        .context("warming up the ingest function")?;
    Ok((watch, http, base))
}

/// What `dev` prints once the stack is up: the URLs, a first command, where
/// documents and events go.
fn banner(args: &DevArgs, stack: &Stack, base: &str, endpoint: &str) -> String {
    let (bucket, bus, spotdraft_api) = (BUCKET, BUS, &stack.spotdraft);
    format!(
        "\ncontract-hooks is running locally.\n\n\
         Webhook URLs (POST):\n  {base}/lambda-url/ingest/webhooks/spotdraft\n  {base}/lambda-url/ingest/webhooks/subnoto\n  {base}/lambda-url/ingest/webhooks/docusign\n\n\
         Send a signed sample:\n  \
         cargo run -q -p contract-hooks -- send --provider spotdraft --secret-file {state}/spotdraft.key \\\n    \
         --url {base}/lambda-url/ingest/webhooks/spotdraft samples/spotdraft-contract-executed.json\n\n\
         See the synced status:\n  cargo run -q -p contract-hooks -- status spotdraft 48213\n\n\
         Executed contracts are archived to s3://{bucket}/ (re-archive on demand:\n  \
         cargo run -q -p contract-hooks -- archive spotdraft 48213)\n{spotdraft}\n\
         Contract events on the bus {bus} are printed below as `bus: …` lines, each event\n\
         once: `Contract Status Changed` when it changed the status, else `Contract Event`.\n\
         AWS emulator: {endpoint} (settings in {env})\nCtrl-C stops everything.\n",
        state = args.state_dir.display(),
        env = stack.env_file.display(),
        spotdraft = if spotdraft_api.stand_in {
            format!(
                "SpotDraft documents: LOCAL STAND-IN at {url} (not SpotDraft: it serves a generated \
                 PDF for any contract; set SPOTDRAFT_API_BASE_URL and SPOTDRAFT_API_CREDENTIALS \
                 to use a real workspace). It re-sends a contract's latest webhook too:\n  \
                 SPOTDRAFT_CLIENT_ID={id} SPOTDRAFT_CLIENT_SECRET={secret} cargo run -q -p \
                 contract-hooks -- \\\n    spotdraft --base-url {url} retrigger --contract-id 48213\n",
                url = spotdraft_api.url,
                id = crate::spotdraft_standin::CLIENT_ID,
                secret = crate::spotdraft_standin::CLIENT_SECRET,
            )
        } else {
            format!("SpotDraft documents: {}\n", spotdraft_api.url)
        },
    )
}

/// Runs the queue pollers (processor and archiver) and the sweep until Ctrl-C,
/// the deadline, or the functions' exit.
async fn serve(
    args: &DevArgs,
    clients: &store::AwsClients,
    http: &reqwest::Client,
    base: &str,
    stack: &Stack,
    watch: &mut Child,
) -> anyhow::Result<()> {
    let (queue_url, queue_arn) = (&stack.queue_url, QUEUE_ARN);
    let invoke_url = format!("{base}/2015-03-31/functions/processor/invocations");
    let archiver_url = format!("{base}/2015-03-31/functions/archiver/invocations");
    // The archive queue's poller runs on its own: a select! would cancel a
    // poll mid-invocation and leave its messages hidden for the archive
    // queue's 12-minute visibility timeout.
    let archive_poller = {
        let (sqs, http) = (clients.sqs.clone(), http.clone());
        let archive_queue_url = stack.archive_queue_url.clone();
        tokio::spawn(async move {
            loop {
                let polled = poll_once(
                    &sqs,
                    &http,
                    &archive_queue_url,
                    ARCHIVE_QUEUE_ARN,
                    &archiver_url,
                    "archiver",
                )
                .await;
                if let Err(e) = polled {
                    eprintln!("archive queue poller: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
    };
    let mut sweep = tokio::time::interval(Duration::from_secs(args.sweep_every.max(1)));
    sweep.tick().await;
    let stop = stop_signal(args.stop_after);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            _ = &mut stop => break,
            status = watch.wait() => return Err(anyhow!("cargo lambda watch exited: {status:?}")),
            _ = sweep.tick() => {
                let event = scheduled_event();
                match http.post(&invoke_url).json(&event).send().await {
                    Ok(r) => eprintln!("sweep: {}", r.text().await.unwrap_or_default()),
                    Err(e) => eprintln!("sweep failed: {e}"),
                }
            }
            polled = poll_once(&clients.sqs, http, queue_url, queue_arn, &invoke_url, "processor") => {
                if let Err(e) = polled {
                    eprintln!("queue poller: {e:#}");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }

        }
    }
    archive_poller.abort();
    Ok(())
}

/// Ctrl-C (SIGINT) always stops cleanly; `stop_after` seconds (0: never) adds a deadline.
async fn stop_signal(stop_after: u64) {
    let deadline = async {
        if stop_after > 0 {
            tokio::time::sleep(Duration::from_secs(stop_after)).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = deadline => {}
    }
}

async fn wait_for_port(port: u16, watch: &mut Child) -> anyhow::Result<()> {
    for _ in 0..600 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if let Some(status) = watch.try_wait()? {
            return Err(anyhow!("cargo lambda watch exited early: {status}"));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Err(anyhow!("cargo lambda watch did not listen on port {port}"))
}

/// One round of Lambda's SQS event source mapping: receive up to 10 messages,
/// invoke `function` (the processor, or the archiver for the archive queue)
/// with them, delete those not reported as failures.
/// Failed ones become visible again after the visibility timeout and reach the
/// DLQ after the queue's max receive count.
async fn poll_once(
    sqs: &aws_sdk_sqs::Client,
    http: &reqwest::Client,
    queue_url: &str,
    queue_arn: &str,
    invoke_url: &str,
    function: &str,
) -> anyhow::Result<()> {
    let received = sqs
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        // moto answers at once; a short sleep stands in for long polling, which
        // would outlast the SDK's 2 s attempt timeout.
        .wait_time_seconds(0)
        .message_system_attribute_names(MessageSystemAttributeName::All)
        .message_attribute_names("All")
        .send()
        .await?;
    let messages = received.messages.unwrap_or_default();
    if messages.is_empty() {
        tokio::time::sleep(Duration::from_millis(500)).await;
        return Ok(());
    }
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: serde_json::Map<String, Value> = m
                .attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| (k.as_str().to_owned(), json!(v)))
                        .collect()
                })
                .unwrap_or_default();
            let message_attributes: serde_json::Map<String, Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({
                                    "stringValue": v.string_value(),
                                    "stringListValues": [],
                                    "binaryListValues": [],
                                    "dataType": v.data_type(),
                                }),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": attributes,
                "messageAttributes": message_attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": "us-east-1",
            })
        })
        .collect();
    let response = http
        .post(invoke_url)
        .json(&json!({"Records": records}))
        .send()
        .await?;
    let ok = response.status().is_success();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    if !ok || body.get("errorType").is_some() {
        eprintln!(
            "{function} invocation failed; {} messages return after the visibility timeout",
            messages.len()
        );
        return Ok(());
    }
    let failed: Vec<&str> = body["batchItemFailures"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|i| i["itemIdentifier"].as_str())
                .collect()
        })
        .unwrap_or_default();
    let done: Vec<DeleteMessageBatchRequestEntry> = messages
        .iter()
        .filter(|m| !failed.contains(&m.message_id().unwrap_or_default()))
        .enumerate()
        .filter_map(|(i, m)| {
            DeleteMessageBatchRequestEntry::builder()
                .id(i.to_string())
                .receipt_handle(m.receipt_handle()?)
                .build()
                .ok()
        })
        .collect();
    eprintln!(
        "{function}: {} processed, {} failed (retried after the visibility timeout)",
        done.len(),
        failed.len()
    );
    if !done.is_empty() {
        sqs.delete_message_batch()
            .queue_url(queue_url)
            .set_entries(Some(done))
            .send()
            .await?;
    }
    Ok(())
}

/// The EventBridge scheduled event the sweep rule sends.
pub fn scheduled_event() -> Value {
    let now = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc());
    json!({
        "version": "0",
        "id": format!("{:x}", now.unix_timestamp_nanos()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": now.format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
        "region": "us-east-1",
        "resources": ["arn:aws:events:us-east-1:123456789012:rule/contract-hooks-sweep"],
        "detail": {}
    })
}
