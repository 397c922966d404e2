//! `events`: writes Lambda test events for the three functions into `events/`.
//!
//! - `ingest/`: API Gateway REST (payload 1.0) and HTTP API (payload 2.0) events
//!   for every provider sample (Subnoto also form-encoded), signed with the public
//!   test secrets, plus negative cases (bad or stale signature, unknown provider,
//!   wrong method, unsupported content type, signed but unreadable body).
//! - `processor/`: SQS batches of queue messages (`{"v":1,"ledger_key",..}` as
//!   ingest sends them), malformed records, and an EventBridge scheduled sweep.
//! - `archiver/`: archive-queue messages, one per SQS event (`BatchSize: 1`),
//!   as the archive and key-pointer rules deliver them: executed `Contract
//!   Status Changed` of each provider, the metadata jobs, a status that is not
//!   executed, an unreadable body ([`archiver_events`]).
//! - `env.json`: per-function environment for `sam local invoke --env-vars`,
//!   with the same test secrets inline.
//! - `expected.json`: what each file must get back.
//!
//! Subnoto signatures expire after 5 minutes, so the files are regenerated
//! (`make events`) rather than kept fresh by hand. Everything but timestamps and
//! the signatures over them is deterministic.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use base64::Engine;
use clap::Args;
use serde_json::{json, Map, Value};
use verify::{BodyFormat, Event, Provider};

use contract_hooks::error::{CliError, CliResult};
use contract_hooks::input::{now_ms, print_stdout};
use contract_hooks::signing::form_encode;

/// The public SpotDraft test key (base64) the events are signed with; the same
/// as the test harness's `SPOTDRAFT_KEY` and `vectors/signatures.json`.
pub const SPOTDRAFT_TEST_KEY: &str =
    "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
/// The public Subnoto test secret; the harness's `SUBNOTO_SECRET`.
pub const SUBNOTO_TEST_SECRET: &str = "whsec_subnoto_public_test_secret_0001";
/// The public DocuSign Connect test key; the harness's `DOCUSIGN_KEY`.
pub const DOCUSIGN_TEST_KEY: &str = "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=";
/// A SpotDraft key the receiver does not have (base64 of "not-the-configured-spotdraft-key").
const WRONG_SPOTDRAFT_KEY: &str = "bm90LXRoZS1jb25maWd1cmVkLXNwb3RkcmFmdC1rZXk=";
/// A Subnoto secret the receiver does not have.
const WRONG_SUBNOTO_SECRET: &str = "whsec_not_the_configured_secret";
/// The subscription id Subnoto sends as `X-Webhook-Id`.
const SUBNOTO_WEBHOOK_ID: &str = "6c1f3a52-9d0e-4b8e-a0c4-1f2e3d4c5b6a";

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";
const API_ID: &str = "abcdef1234";
const SOURCE_IP: &str = "203.0.113.9";
const QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:contract-hooks-EventQueue";
const SWEEP_RULE_ARN: &str =
    "arn:aws:events:us-east-1:123456789012:rule/contract-hooks-ProcessorFunctionSweep";
const ARCHIVE_QUEUE_ARN: &str = "arn:aws:sqs:us-east-1:123456789012:contract-hooks-ArchiveQueue";
/// ARCHIVE_BUCKET in env.json (the bucket `contract-hooks-local dev` creates).
const ARCHIVE_BUCKET: &str = "contract-hooks-documents";
/// SUBNOTO_API_URL in env.json: nothing listens there (the discard port on
/// loopback, in a function's container as on the host), so a Subnoto job meets
/// a provider that cannot be reached and must come back as a batch item failure.
const UNREACHABLE_SUBNOTO_PROXY: &str = "http://127.0.0.1:9";
/// Subnoto API keys for env.json: test values, never sent anywhere that answers.
const TEST_SUBNOTO_API_KEYS: &str =
    r#"{"access_key":"local-test-access-key","secret_key":"local-test-secret-key"}"#;
/// Version of the queue message document (`store::QUEUE_MESSAGE_VERSION`).
const QUEUE_MESSAGE_VERSION: u32 = 1;

/// Function logical ids in `template.yaml`.
const INGEST_FUNCTION: &str = "IngestFunction";
const PROCESSOR_FUNCTION: &str = "ProcessorFunction";
const ARCHIVER_FUNCTION: &str = "ArchiverFunction";

/// Arguments of `contract-hooks-local events`.
#[derive(Debug, Args)]
#[command(
    after_help = "Writes ingest/*.json, processor/*.json, archiver/*.json, env.json and \
expected.json under --out, replacing files an earlier run wrote. Subnoto events are signed at \
--timestamp-ms (default: now) and go stale 5 minutes later: regenerate with `make events`."
)]
pub struct EventsArgs {
    /// Directory to write into (created if missing).
    #[arg(long, value_name = "DIR", default_value = "events")]
    pub out: PathBuf,

    /// Directory of provider samples (`spotdraft-*.json`, `subnoto-*.json`).
    #[arg(long, value_name = "DIR", default_value = "samples")]
    pub samples: PathBuf,

    /// Time to sign and stamp the events with, in Unix milliseconds. Defaults to now.
    #[arg(long, value_name = "MS")]
    pub timestamp_ms: Option<i64>,

    /// EVENTS_TABLE in env.json.
    #[arg(long, value_name = "NAME", default_value = "contract-hooks-events")]
    pub events_table: String,

    /// STATUS_TABLE in env.json.
    #[arg(long, value_name = "NAME", default_value = "contract-hooks-status")]
    pub status_table: String,

    /// QUEUE_URL in env.json.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://sqs.us-east-1.amazonaws.com/123456789012/contract-hooks-events"
    )]
    pub queue_url: String,

    /// ARCHIVE_QUEUE_URL in env.json.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://sqs.us-east-1.amazonaws.com/123456789012/contract-hooks-archive"
    )]
    pub archive_queue_url: String,

    /// ARCHIVE_DLQ_URL in env.json.
    #[arg(
        long,
        value_name = "URL",
        default_value = "https://sqs.us-east-1.amazonaws.com/123456789012/contract-hooks-archive-dlq"
    )]
    pub archive_dlq_url: String,

    /// SPOTDRAFT_API_BASE_URL in env.json: the local SpotDraft stand-in that
    /// `contract-hooks-local dev` starts, at an address the archiver reaches (with its
    /// credentials); expected.json then expects the stand-in's answers. Without
    /// it, SpotDraft is not configured (archive_not_configured).
    #[arg(long, value_name = "URL")]
    pub spotdraft_standin_url: Option<String>,
}

/// Runs `events`.
pub fn run(args: EventsArgs) -> CliResult {
    let t_ms = match args.timestamp_ms {
        Some(t) => t,
        None => now_ms()?,
    };
    let samples = read_samples(&args.samples)?;
    let set = generate(&samples, t_ms, &args)?;
    let written = write_all(&args.out, &set)?;
    print_stdout(&format!(
        "wrote {written} files under {} (signed at {t_ms}; Subnoto events are valid for 5 minutes)\n",
        args.out.display()
    ))?;
    Ok(ExitCode::SUCCESS)
}

/// A provider sample: its provider, file stem and exact bytes.
#[derive(Debug, Clone)]
pub struct Sample {
    provider: Provider,
    stem: String,
    body: Vec<u8>,
}

fn read_samples(dir: &Path) -> Result<Vec<Sample>, CliError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CliError::usage(format!(
            "cannot read the samples directory {}: {e} (pass --samples DIR)",
            dir.display()
        ))
    })?;
    let mut samples = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| CliError::usage(format!("{}: {e}", dir.display())))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(stem) = name.strip_suffix(".json") else {
            continue;
        };
        let Some(provider) = stem.split('-').next().and_then(|p| p.parse().ok()) else {
            return Err(CliError::usage(format!(
                "sample {name} does not start with a provider name (spotdraft-, subnoto-)"
            )));
        };
        let body = std::fs::read(entry.path())
            .map_err(|e| CliError::usage(format!("cannot read {}: {e}", entry.path().display())))?;
        samples.push(Sample {
            provider,
            stem: stem.to_owned(),
            body,
        });
    }
    samples.sort_by(|a, b| a.stem.cmp(&b.stem));
    if samples.is_empty() {
        return Err(CliError::usage(format!(
            "no *.json samples in {}",
            dir.display()
        )));
    }
    Ok(samples)
}

/// Generated files (path relative to the output directory → JSON) and the manifest.
#[derive(Debug, Default)]
struct EventSet {
    files: BTreeMap<String, Value>,
    expected: BTreeMap<String, Value>,
}

impl EventSet {
    fn add(&mut self, path: String, event: Value, expected: Value) {
        assert!(
            self.files.insert(path.clone(), event).is_none(),
            "duplicate event file {path}"
        );
        self.expected.insert(path, expected);
    }
}

/// Which API Gateway payload carries a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Api {
    /// REST API, payload format 1.0, stage `prod`.
    V1,
    /// HTTP API, payload format 2.0, `$default` stage (what template.yaml deploys).
    V2,
}

impl Api {
    fn prefix(self) -> &'static str {
        match self {
            Api::V1 => "apigw-v1",
            Api::V2 => "apigw-v2",
        }
    }
}

/// An HTTP request as the provider sends it.
struct HttpRequest {
    method: &'static str,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn generate(samples: &[Sample], t_ms: i64, args: &EventsArgs) -> Result<EventSet, CliError> {
    let clock = Clock::new(t_ms)?;
    let mut set = EventSet::default();

    // Every sample, both payload formats; Subnoto also form-encoded.
    for sample in samples {
        let event = Event::parse(sample.provider, BodyFormat::Json, &sample.body)
            .map_err(|e| CliError::usage(format!("sample {} does not parse: {e}", sample.stem)))?;
        let mut variants = vec![(BodyFormat::Json, "")];
        if sample.provider == Provider::Subnoto {
            variants.push((BodyFormat::Form, "-form"));
        }
        for (format, suffix) in variants {
            let body = match format {
                BodyFormat::Json => sample.body.clone(),
                BodyFormat::Form => form_encode(sample.body.clone())?.0,
            };
            let headers = signed_headers(
                sample.provider,
                signing_secret(sample.provider),
                &body,
                t_ms,
                format,
            );
            for api in [Api::V1, Api::V2] {
                let path = format!("ingest/{}-{}{suffix}.json", api.prefix(), sample.stem);
                let request = HttpRequest {
                    method: "POST",
                    path: format!("/webhooks/{}", sample.provider),
                    headers: headers.clone(),
                    body: body.clone(),
                };
                // HTTP APIs hand form bodies to Lambda base64-encoded; REST APIs
                // without binary media types pass them as text.
                let base64 = api == Api::V2 && format == BodyFormat::Form;
                set.add(
                    path.clone(),
                    http_event(api, &path, &request, base64, &clock),
                    json!({
                        "function": INGEST_FUNCTION,
                        "statusCode": sample.provider.accepted_status(),
                        "ledger_key": event.ledger_key(),
                    }),
                );
            }
        }
    }

    negative_ingest_events(samples, &clock, &mut set)?;
    processor_events(samples, &clock, &mut set)?;
    archiver_events(samples, &clock, args, &mut set)?;
    set.files.insert("env.json".to_owned(), env_json(args));
    Ok(set)
}

fn signing_secret(provider: Provider) -> &'static str {
    match provider {
        Provider::SpotDraft => SPOTDRAFT_TEST_KEY,
        Provider::Subnoto => SUBNOTO_TEST_SECRET,
        Provider::DocuSign => DOCUSIGN_TEST_KEY,
    }
}

/// The headers `provider` sends for `body` (already encoded as `format`), signed
/// with `secret` at `t_ms`.
fn signed_headers(
    provider: Provider,
    secret: &str,
    body: &[u8],
    t_ms: i64,
    format: BodyFormat,
) -> Vec<(String, String)> {
    let mut headers = vec![("Content-Type".to_owned(), format.content_type().to_owned())];
    match provider {
        Provider::SpotDraft => headers.push((
            verify::spotdraft::SIGNATURE_HEADER.to_owned(),
            verify::spotdraft::sign(secret, body).expect("test keys are valid base64"),
        )),
        Provider::Subnoto => {
            headers.push((
                verify::subnoto::SIGNATURE_HEADER.to_owned(),
                verify::subnoto::sign(secret, t_ms, body),
            ));
            headers.push((
                verify::subnoto::WEBHOOK_ID_HEADER.to_owned(),
                SUBNOTO_WEBHOOK_ID.to_owned(),
            ));
        }
        Provider::DocuSign => {
            headers.push((
                verify::docusign::SIGNATURE_HEADER.to_owned(),
                verify::docusign::sign(secret, body),
            ));
            headers.push((
                verify::docusign::DIGEST_HEADER.to_owned(),
                verify::docusign::DIGEST_VALUE.to_owned(),
            ));
        }
    }
    headers.push(("User-Agent".to_owned(), format!("{provider}-webhooks/1.0")));
    headers
}

fn first_sample(samples: &[Sample], provider: Provider) -> Result<&Sample, CliError> {
    samples
        .iter()
        .find(|s| s.provider == provider)
        .ok_or_else(|| CliError::usage(format!("no {provider} sample found")))
}

/// Requests that must be turned away, with the status the design gives them.
fn negative_ingest_events(
    samples: &[Sample],
    clock: &Clock,
    set: &mut EventSet,
) -> Result<(), CliError> {
    let spotdraft = first_sample(samples, Provider::SpotDraft)?;
    let subnoto = first_sample(samples, Provider::Subnoto)?;
    let t = clock.t_ms;
    let json = BodyFormat::Json;
    let post = |provider: &str, headers: Vec<(String, String)>, body: &[u8]| HttpRequest {
        method: "POST",
        path: format!("/webhooks/{provider}"),
        headers,
        body: body.to_vec(),
    };
    let mut unsigned = signed_headers(
        Provider::Subnoto,
        SUBNOTO_TEST_SECRET,
        &subnoto.body,
        t,
        json,
    );
    unsigned.retain(|(name, _)| name != verify::subnoto::SIGNATURE_HEADER);
    let mut text_plain = signed_headers(
        Provider::SpotDraft,
        SPOTDRAFT_TEST_KEY,
        &spotdraft.body,
        t,
        json,
    );
    text_plain[0].1 = "text/plain".to_owned();
    let not_json = b"CONTRACT_SIGNED 48213".as_slice();

    let cases: Vec<(Api, &str, HttpRequest, u16)> = vec![
        (
            Api::V2,
            "spotdraft-bad-signature",
            post(
                "spotdraft",
                signed_headers(
                    Provider::SpotDraft,
                    WRONG_SPOTDRAFT_KEY,
                    &spotdraft.body,
                    t,
                    json,
                ),
                &spotdraft.body,
            ),
            401,
        ),
        (
            Api::V1,
            "spotdraft-bad-signature",
            post(
                "spotdraft",
                signed_headers(
                    Provider::SpotDraft,
                    WRONG_SPOTDRAFT_KEY,
                    &spotdraft.body,
                    t,
                    json,
                ),
                &spotdraft.body,
            ),
            401,
        ),
        (
            Api::V2,
            "subnoto-bad-signature",
            post(
                "subnoto",
                signed_headers(
                    Provider::Subnoto,
                    WRONG_SUBNOTO_SECRET,
                    &subnoto.body,
                    t,
                    json,
                ),
                &subnoto.body,
            ),
            401,
        ),
        (
            Api::V2,
            "subnoto-stale-signature",
            post(
                "subnoto",
                // Ten minutes old: outside the 5-minute window whenever it is replayed.
                signed_headers(
                    Provider::Subnoto,
                    SUBNOTO_TEST_SECRET,
                    &subnoto.body,
                    t - 600_000,
                    json,
                ),
                &subnoto.body,
            ),
            401,
        ),
        (
            Api::V2,
            "subnoto-unsigned",
            post("subnoto", unsigned, &subnoto.body),
            401,
        ),
        (
            Api::V2,
            "unknown-provider",
            post(
                "adobesign",
                signed_headers(
                    Provider::SpotDraft,
                    SPOTDRAFT_TEST_KEY,
                    &spotdraft.body,
                    t,
                    json,
                ),
                &spotdraft.body,
            ),
            404,
        ),
        (
            Api::V1,
            "unknown-provider",
            post(
                "adobesign",
                signed_headers(
                    Provider::SpotDraft,
                    SPOTDRAFT_TEST_KEY,
                    &spotdraft.body,
                    t,
                    json,
                ),
                &spotdraft.body,
            ),
            404,
        ),
        (
            Api::V1,
            "spotdraft-method-not-allowed",
            HttpRequest {
                method: "GET",
                path: "/webhooks/spotdraft".to_owned(),
                headers: vec![("User-Agent".to_owned(), "curl/8.5.0".to_owned())],
                body: Vec::new(),
            },
            405,
        ),
        (
            Api::V2,
            "spotdraft-unsupported-content-type",
            post("spotdraft", text_plain, &spotdraft.body),
            415,
        ),
        (
            Api::V2,
            "spotdraft-signed-not-json",
            post(
                "spotdraft",
                signed_headers(Provider::SpotDraft, SPOTDRAFT_TEST_KEY, not_json, t, json),
                not_json,
            ),
            400,
        ),
    ];
    for (api, name, request, status) in cases {
        let path = format!("ingest/{}-{name}.json", api.prefix());
        set.add(
            path.clone(),
            http_event(api, &path, &request, false, clock),
            json!({"function": INGEST_FUNCTION, "statusCode": status}),
        );
    }
    Ok(())
}

/// The queue message ingest sends (`store::QueueMessage`), field for field and
/// in the same order.
fn queue_body(event: &Event, received_at_ms: i64, version: u32) -> String {
    let key = serde_json::to_string(&event.ledger_key()).expect("strings serialise");
    let event = serde_json::to_string(event).expect("events serialise");
    format!(
        r#"{{"v":{version},"ledger_key":{key},"received_at_ms":{received_at_ms},"event":{event}}}"#
    )
}

/// SQS batches for the processor and the scheduled sweep.
fn processor_events(samples: &[Sample], clock: &Clock, set: &mut EventSet) -> Result<(), CliError> {
    let t = clock.t_ms;
    let mut parsed = Vec::new();
    for sample in samples {
        let event = Event::parse(sample.provider, BodyFormat::Json, &sample.body)
            .map_err(|e| CliError::usage(format!("sample {} does not parse: {e}", sample.stem)))?;
        parsed.push((sample, event));
    }
    for provider in Provider::ALL {
        let path = format!("processor/sqs-{provider}.json");
        let records: Vec<Value> = parsed
            .iter()
            .filter(|(s, _)| s.provider == provider)
            .enumerate()
            .map(|(i, (s, event))| {
                sqs_record(
                    &format!("{path}#{i}"),
                    &queue_body(event, t, QUEUE_MESSAGE_VERSION),
                    Some(event),
                    &s.stem,
                    clock,
                )
            })
            .collect();
        if records.len() > 10 {
            return Err(CliError::usage(format!(
                "{} {provider} samples: an SQS batch holds at most 10 (BatchSize in template.yaml)",
                records.len()
            )));
        }
        set.add(
            path,
            json!({ "Records": records }),
            json!({"function": PROCESSOR_FUNCTION, "batchItemFailures": []}),
        );
    }

    // One good record and two the processor cannot use: they must come back as
    // batch item failures (and reach the DLQ after maxReceiveCount).
    let (good_sample, good) = &parsed[0];
    let path = "processor/sqs-mixed-malformed.json".to_owned();
    let records = vec![
        sqs_record(
            &format!("{path}#0"),
            &queue_body(good, t, QUEUE_MESSAGE_VERSION),
            Some(good),
            &good_sample.stem,
            clock,
        ),
        sqs_record(
            &format!("{path}#1"),
            &queue_body(good, t, 99),
            Some(good),
            "unsupported-version",
            clock,
        ),
        sqs_record(
            &format!("{path}#2"),
            r#"{"v":1,"ledger_key":"spotdraft#trunc"#,
            None,
            "truncated",
            clock,
        ),
    ];
    let failures: Vec<Value> = records[1..]
        .iter()
        .map(|r| json!({"itemIdentifier": r["messageId"]}))
        .collect();
    set.add(
        path,
        json!({ "Records": records }),
        json!({"function": PROCESSOR_FUNCTION, "batchItemFailures": failures}),
    );

    let path = "processor/schedule-sweep.json".to_owned();
    set.add(
        path.clone(),
        json!({
            "version": "0",
            "id": id_from(&path),
            "detail-type": "Scheduled Event",
            "source": "aws.events",
            "account": ACCOUNT,
            "time": clock.rfc3339,
            "region": REGION,
            "resources": [SWEEP_RULE_ARN],
            "detail": {}
        }),
        json!({"function": PROCESSOR_FUNCTION, "sweep": true}),
    );
    Ok(())
}

/// What the archiver must make of one archive-queue record: an outcome of
/// `archiver::batch` (`archived`, `ignored`, `dead_lettered`, …) and, for a
/// dead letter or a retry, its reason.
struct ArchiveOutcome {
    outcome: &'static str,
    reason: Option<&'static str>,
}

impl ArchiveOutcome {
    fn done(outcome: &'static str) -> Self {
        ArchiveOutcome {
            outcome,
            reason: None,
        }
    }

    fn because(outcome: &'static str, reason: &'static str) -> Self {
        ArchiveOutcome {
            outcome,
            reason: Some(reason),
        }
    }
}

/// The EventBridge event an SQS target receives (the archive rule delivers
/// the whole event).
fn eventbridge_body(seed: &str, detail_type: &str, detail: &str, clock: &Clock) -> String {
    let detail: Value = serde_json::from_str(detail).expect("details are JSON");
    json!({
        "version": "0",
        "id": id_from(seed),
        "detail-type": detail_type,
        "source": domain::events::SOURCE,
        "account": ACCOUNT,
        "time": clock.rfc3339,
        "region": REGION,
        "resources": [],
        "detail": detail
    })
    .to_string()
}

/// The processor's bus entry for an event that set its subject's first status.
fn first_status_entry(event: &Event, received_at_ms: i64) -> domain::events::BusEntry {
    domain::events::entry_for(
        event,
        &event.ledger_key(),
        received_at_ms,
        &domain::StatusChange::First,
        domain::events::Delivery::default(),
    )
}

/// The first sample of `provider` whose event reports a status of
/// `lifecycle` (or, with `not`, of another lifecycle).
fn sample_in<'s>(
    samples: &'s [Sample],
    provider: Provider,
    lifecycle: &str,
    not: bool,
) -> Result<(&'s Sample, Event), CliError> {
    for sample in samples.iter().filter(|s| s.provider == provider) {
        let event = Event::parse(provider, BodyFormat::Json, &sample.body)
            .map_err(|e| CliError::usage(format!("sample {} does not parse: {e}", sample.stem)))?;
        let entry = first_status_entry(&event, 0);
        if entry.detail_type != domain::events::STATUS_CHANGED {
            continue; // no status
        }
        let detail: Value = serde_json::from_str(&entry.detail).expect("details are JSON");
        if (detail["lifecycle"] == lifecycle) != not {
            return Ok((sample, event));
        }
    }
    Err(CliError::usage(format!(
        "no {provider} sample {}{lifecycle}",
        if not { "with a status other than " } else { "" }
    )))
}

/// Archive-queue messages for the archiver, one record per SQS event
/// (`BatchSize: 1` in template.yaml), each body what the rules deliver: the
/// processor's `Contract Status Changed` as the archive rule passes it on, the
/// same event rewritten by its metadata target, a key-pointer `Contract Event`.
///
/// The outcomes follow from env.json: SpotDraft is the local stand-in when
/// `--spotdraft-standin-url` is given (its download URL is plain http on
/// loopback, which the archiver's document policy refuses: a dead letter; its
/// key pointers are recorded), else not configured; Subnoto's proxy cannot be
/// reached (retried: the only batch item failure); DocuSign is not configured.
fn archiver_events(
    samples: &[Sample],
    clock: &Clock,
    args: &EventsArgs,
    set: &mut EventSet,
) -> Result<(), CliError> {
    use domain::events::{entry_for, Delivery, CONTRACT_EVENT, STATUS_CHANGED};

    let t = clock.t_ms;
    let standin = args.spotdraft_standin_url.is_some();
    let spotdraft_outcome = |configured: ArchiveOutcome| {
        if standin {
            configured
        } else {
            ArchiveOutcome::done("archive_not_configured")
        }
    };
    let changed = |seed: &str, event: &Event| {
        let entry = first_status_entry(event, t);
        assert_eq!(entry.detail_type, STATUS_CHANGED, "{seed}");
        eventbridge_body(seed, entry.detail_type, &entry.detail, clock)
    };

    let mut cases: Vec<(String, String, ArchiveOutcome)> = Vec::new();
    let (spotdraft_sample, spotdraft) = sample_in(samples, Provider::SpotDraft, "executed", false)?;
    let path = "archiver/sqs-spotdraft-executed.json".to_owned();
    cases.push((
        path.clone(),
        changed(&path, &spotdraft),
        spotdraft_outcome(ArchiveOutcome::because(
            "dead_lettered",
            "document_url_refused",
        )),
    ));

    // The archive rule's second target: the same event as a metadata job.
    let path = "archiver/sqs-spotdraft-metadata-requested.json".to_owned();
    let (_, template) = store::archive::metadata_target_input();
    let delivered: Value = serde_json::from_str(&changed(&path, &spotdraft)).expect("JSON");
    let body = template
        .replace("<id>", delivered["id"].as_str().unwrap_or_default())
        .replace("<detail>", &delivered["detail"].to_string());
    cases.push((
        path,
        body,
        spotdraft_outcome(ArchiveOutcome::done("metadata_captured")),
    ));

    // Key pointers updated on the executed contract: a `Contract Event` (the
    // status stays) that the key-pointer rule delivers as it is.
    let mut body: Value = serde_json::from_slice(&spotdraft_sample.body)
        .map_err(|e| CliError::usage(format!("sample {}: {e}", spotdraft_sample.stem)))?;
    body["activity"] = "CONTRACT_KEY_POINTER_UPDATION".into();
    let body = serde_json::to_vec(&body).expect("JSON");
    let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, &body)
        .map_err(|e| CliError::usage(format!("key pointer event: {e}")))?;
    let status = event.status.clone().unwrap_or_default();
    let entry = entry_for(
        &event,
        &event.ledger_key(),
        t,
        &domain::StatusChange::From(status),
        Delivery::default(),
    );
    assert_eq!(entry.detail_type, CONTRACT_EVENT);
    let path = "archiver/sqs-spotdraft-key-pointer-updated.json".to_owned();
    cases.push((
        path.clone(),
        eventbridge_body(&path, entry.detail_type, &entry.detail, clock),
        spotdraft_outcome(ArchiveOutcome::done("metadata_captured")),
    ));

    let (_, subnoto) = sample_in(samples, Provider::Subnoto, "executed", false)?;
    let path = "archiver/sqs-subnoto-executed.json".to_owned();
    cases.push((
        path.clone(),
        changed(&path, &subnoto),
        ArchiveOutcome::because("retrying", "provider_unavailable"),
    ));

    let (_, docusign) = sample_in(samples, Provider::DocuSign, "executed", false)?;
    let path = "archiver/sqs-docusign-executed.json".to_owned();
    cases.push((
        path.clone(),
        changed(&path, &docusign),
        ArchiveOutcome::done("archive_not_configured"),
    ));

    // A status that is not executed (the rule would not deliver it): skipped.
    let (_, draft) = sample_in(samples, Provider::SpotDraft, "executed", true)?;
    let path = format!(
        "archiver/sqs-spotdraft-{}.json",
        domain::events::lifecycle(Provider::SpotDraft, draft.status.as_deref())
    );
    cases.push((
        path.clone(),
        changed(&path, &draft),
        ArchiveOutcome::done("ignored"),
    ));

    // An unreadable body: dead-lettered at once, not retried.
    cases.push((
        "archiver/sqs-malformed.json".to_owned(),
        r#"{"version":"0","detail-type":"Contract Status Changed","source":"contract-hooks","detail":{"provider":"spotd"#.to_owned(),
        ArchiveOutcome::because("dead_lettered", "unusable_message"),
    ));

    for (path, body, expected) in cases {
        let record = archive_record(&format!("{path}#0"), &body, clock);
        let id = record["messageId"].clone();
        let failures: Vec<Value> = (expected.outcome == "retrying")
            .then(|| json!({"itemIdentifier": id}))
            .into_iter()
            .collect();
        let mut outcome = json!({"messageId": id, "outcome": expected.outcome});
        if let Some(reason) = expected.reason {
            outcome["reason"] = reason.into();
        }
        set.add(
            path,
            json!({ "Records": [record] }),
            json!({
                "function": ARCHIVER_FUNCTION,
                "batchItemFailures": failures,
                "outcomes": [outcome],
            }),
        );
    }
    Ok(())
}

/// One archive-queue record as the event source mapping delivers it: sent by
/// EventBridge, no message attributes.
fn archive_record(seed: &str, body: &str, clock: &Clock) -> Value {
    json!({
        "messageId": id_from(seed),
        "receiptHandle": format!("AQEB{}", base64::engine::general_purpose::STANDARD.encode(verify::dedup_key_for_bytes(seed.as_bytes()))),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": clock.t_ms.to_string(),
            "SenderId": "AIDAEXAMPLEEVENTBRIDGE",
            "ApproximateFirstReceiveTimestamp": (clock.t_ms + 20).to_string()
        },
        "messageAttributes": {},
        "md5OfBody": md5::hex(body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": ARCHIVE_QUEUE_ARN,
        "awsRegion": REGION
    })
}

/// One SQS record as the event source mapping delivers it.
fn sqs_record(seed: &str, body: &str, event: Option<&Event>, label: &str, clock: &Clock) -> Value {
    let mut attributes: BTreeMap<&str, &str> = BTreeMap::new();
    if let Some(event) = event {
        attributes.insert("provider", event.provider.as_str());
        attributes.insert("event_type", &event.event_type);
    } else {
        attributes.insert("provider", "spotdraft");
        attributes.insert("event_type", label);
    }
    let message_attributes: Map<String, Value> = attributes
        .iter()
        .map(|(name, value)| {
            (
                (*name).to_owned(),
                json!({
                    "stringValue": value,
                    "stringListValues": [],
                    "binaryListValues": [],
                    "dataType": "String"
                }),
            )
        })
        .collect();
    let digest = md5::hex(&md5::message_attributes_bytes(&attributes));
    json!({
        "messageId": id_from(seed),
        "receiptHandle": format!("AQEB{}", base64::engine::general_purpose::STANDARD.encode(verify::dedup_key_for_bytes(seed.as_bytes()))),
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": clock.t_ms.to_string(),
            "SenderId": "AROAEXAMPLEROLEID:contract-hooks-ingest",
            "ApproximateFirstReceiveTimestamp": (clock.t_ms + 20).to_string()
        },
        "messageAttributes": message_attributes,
        "md5OfMessageAttributes": digest,
        "md5OfBody": md5::hex(body.as_bytes()),
        "eventSource": "aws:sqs",
        "eventSourceARN": QUEUE_ARN,
        "awsRegion": REGION
    })
}

/// `env.json` for `sam local invoke --env-vars`: the variables template.yaml
/// declares for each function, with inline test secrets instead of the ARNs.
fn env_json(args: &EventsArgs) -> Value {
    let secrets = json!({
        "spotdraft": [SPOTDRAFT_TEST_KEY],
        "subnoto": [SUBNOTO_TEST_SECRET],
        "docusign": [DOCUSIGN_TEST_KEY],
    });
    let spotdraft_credentials = match &args.spotdraft_standin_url {
        Some(_) => json!({
            "client_id": crate::spotdraft_standin::CLIENT_ID,
            "client_secret": crate::spotdraft_standin::CLIENT_SECRET,
        })
        .to_string(),
        None => String::new(),
    };
    json!({
        INGEST_FUNCTION: {
            "EVENTS_TABLE": args.events_table,
            "STATUS_TABLE": args.status_table,
            "QUEUE_URL": args.queue_url,
            "WEBHOOK_SECRETS": secrets.to_string(),
            "WEBHOOK_SECRETS_ARN": "",
            "MAX_BODY_BYTES": "262144",
            "SIGNATURE_TOLERANCE_SECONDS": "300",
            "EVENT_RETENTION_DAYS": "30",
            "LEDGER_LEASE_SECONDS": "30",
            "SECRETS_REFRESH_SECONDS": "300",
            "RUST_LOG": "info"
        },
        PROCESSOR_FUNCTION: {
            "EVENTS_TABLE": args.events_table,
            "STATUS_TABLE": args.status_table,
            "QUEUE_URL": args.queue_url,
            "EVENT_RETENTION_DAYS": "30",
            "LEDGER_LEASE_SECONDS": "30",
            "SWEEP_AFTER_SECONDS": "600",
            "SWEEP_MAX_ATTEMPTS": "5",
            // Publishing off: set a bus name that exists where the function runs.
            "EVENT_BUS_NAME": "",
            "RUST_LOG": "info"
        },
        // Every variable the template gives the archiver: its !Ref / !GetAtt values
        // (tables, bucket, queues, bus, credential secrets) mean nothing to `sam local`.
        ARCHIVER_FUNCTION: {
            "STATUS_TABLE": args.status_table,
            "ARCHIVE_BUCKET": ARCHIVE_BUCKET,
            "ARCHIVE_QUEUE_URL": args.archive_queue_url,
            "ARCHIVE_DLQ_URL": args.archive_dlq_url,
            // Publishing off, as for the processor.
            "EVENT_BUS_NAME": "",
            "SPOTDRAFT_API_BASE_URL": args.spotdraft_standin_url.clone().unwrap_or_default(),
            "SPOTDRAFT_API_CREDENTIALS": spotdraft_credentials,
            "SPOTDRAFT_API_CREDENTIALS_ARN": "",
            "SUBNOTO_API_URL": UNREACHABLE_SUBNOTO_PROXY,
            "SUBNOTO_API_CREDENTIALS": TEST_SUBNOTO_API_KEYS,
            "SUBNOTO_API_CREDENTIALS_ARN": "",
            // DocuSign not configured (its jobs: archive_not_configured).
            "DOCUSIGN_AUTH_HOST": "",
            "DOCUSIGN_API_BASE_URL": "",
            "DOCUSIGN_API_CREDENTIALS": "",
            "DOCUSIGN_API_CREDENTIALS_ARN": "",
            "MAX_DOCUMENT_BYTES": "268435456",
            "DOCUMENT_HOST_ALLOWLIST": "",
            "SECRETS_REFRESH_SECONDS": "300",
            "SPOTDRAFT_REQUESTS_PER_SECOND": "4",
            "RUST_LOG": "info"
        }
    })
}

/// The event JSON API Gateway hands to Lambda for `request`.
fn http_event(api: Api, seed: &str, request: &HttpRequest, base64: bool, clock: &Clock) -> Value {
    let (body, is_base64) = match std::str::from_utf8(&request.body) {
        _ if request.body.is_empty() => (Value::Null, false),
        Ok(text) if !base64 => (Value::String(text.to_owned()), false),
        _ => (
            Value::String(base64::engine::general_purpose::STANDARD.encode(&request.body)),
            true,
        ),
    };
    let host = format!("{API_ID}.execute-api.{REGION}.amazonaws.com");
    let request_id = id_from(seed);
    let trace = format!(
        "Root=1-{:08x}-{}",
        clock.t_ms / 1000,
        &verify::dedup_key_for_bytes(seed.as_bytes())[..24]
    );
    // What the gateway adds to the provider's headers.
    let mut headers = request.headers.clone();
    if !request.body.is_empty() {
        headers.push(("Content-Length".to_owned(), request.body.len().to_string()));
    }
    headers.push(("Host".to_owned(), host.clone()));
    headers.push(("X-Amzn-Trace-Id".to_owned(), trace));
    headers.push(("X-Forwarded-For".to_owned(), SOURCE_IP.to_owned()));
    headers.push(("X-Forwarded-Port".to_owned(), "443".to_owned()));
    headers.push(("X-Forwarded-Proto".to_owned(), "https".to_owned()));
    let user_agent = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("user-agent"))
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let provider = request.path.rsplit('/').next().unwrap_or_default();
    match api {
        Api::V1 => {
            let single: Map<String, Value> =
                headers.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
            let multi: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.clone(), json!([v])))
                .collect();
            json!({
                "resource": "/webhooks/{provider}",
                "path": request.path,
                "httpMethod": request.method,
                "headers": single,
                "multiValueHeaders": multi,
                "queryStringParameters": null,
                "multiValueQueryStringParameters": null,
                "pathParameters": {"provider": provider},
                "stageVariables": null,
                "requestContext": {
                    "accountId": ACCOUNT,
                    "apiId": API_ID,
                    "domainName": host,
                    "domainPrefix": API_ID,
                    "extendedRequestId": short_id(seed),
                    "httpMethod": request.method,
                    "identity": {
                        "accessKey": null,
                        "accountId": null,
                        "caller": null,
                        "cognitoAuthenticationProvider": null,
                        "cognitoAuthenticationType": null,
                        "cognitoIdentityId": null,
                        "cognitoIdentityPoolId": null,
                        "principalOrgId": null,
                        "sourceIp": SOURCE_IP,
                        "user": null,
                        "userAgent": user_agent,
                        "userArn": null
                    },
                    "path": format!("/prod{}", request.path),
                    "protocol": "HTTP/1.1",
                    "requestId": request_id,
                    "requestTime": clock.clf,
                    "requestTimeEpoch": clock.t_ms,
                    "resourceId": "a1b2c3",
                    "resourcePath": "/webhooks/{provider}",
                    "stage": "prod"
                },
                "body": body,
                "isBase64Encoded": is_base64
            })
        }
        Api::V2 => {
            let lower: Map<String, Value> = headers
                .iter()
                .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
                .collect();
            let route = "POST /webhooks/{provider}";
            json!({
                "version": "2.0",
                "routeKey": route,
                "rawPath": request.path,
                "rawQueryString": "",
                "headers": lower,
                "pathParameters": {"provider": provider},
                "requestContext": {
                    "accountId": ACCOUNT,
                    "apiId": API_ID,
                    "domainName": host,
                    "domainPrefix": API_ID,
                    "http": {
                        "method": request.method,
                        "path": request.path,
                        "protocol": "HTTP/1.1",
                        "sourceIp": SOURCE_IP,
                        "userAgent": user_agent
                    },
                    "requestId": short_id(seed),
                    "routeKey": route,
                    "stage": "$default",
                    "time": clock.clf,
                    "timeEpoch": clock.t_ms
                },
                "body": body,
                "isBase64Encoded": is_base64
            })
        }
    }
}

/// A stable, uuid-shaped id derived from `seed`.
fn id_from(seed: &str) -> String {
    let h = verify::dedup_key_for_bytes(seed.as_bytes());
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

/// A stable id shaped like API Gateway's short request ids (`JKJaXmPLvHcESHA=`).
fn short_id(seed: &str) -> String {
    let h = verify::dedup_key_for_bytes(format!("{seed}#short").as_bytes());
    format!("{}=", &h[..15])
}

/// The generation time in the formats the events use.
struct Clock {
    t_ms: i64,
    /// `22/Nov/2026:10:00:00 +0000` (API Gateway's request time).
    clf: String,
    /// `2026-11-22T10:00:00Z` (EventBridge).
    rfc3339: String,
}

impl Clock {
    fn new(t_ms: i64) -> Result<Clock, CliError> {
        let at = time::OffsetDateTime::from_unix_timestamp(t_ms.div_euclid(1000))
            .map_err(|_| CliError::usage("--timestamp-ms is out of range"))?;
        let format = |description: &str| {
            let description = time::format_description::parse_borrowed::<2>(description)
                .expect("the format descriptions are valid");
            at.format(&description).expect("formats a valid date")
        };
        Ok(Clock {
            t_ms,
            clf: format("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000"),
            rfc3339: format("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
        })
    }
}

/// Writes every file and the manifest; removes files an earlier run listed in
/// its manifest that this run no longer produces (and nothing else).
fn write_all(out: &Path, set: &EventSet) -> Result<usize, CliError> {
    let manifest_path = out.join("expected.json");
    let previous: Vec<String> = std::fs::read(&manifest_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .and_then(|v| v.get("events").and_then(Value::as_object).cloned())
        .map(|events| events.keys().cloned().collect())
        .unwrap_or_default();
    for stale in previous {
        let ours = ["ingest/", "processor/", "archiver/"]
            .iter()
            .any(|dir| stale.starts_with(dir))
            && stale.ends_with(".json")
            && !stale.contains("..");
        if ours && !set.files.contains_key(&stale) {
            let _ = std::fs::remove_file(out.join(&stale));
        }
    }
    let manifest = json!({
        "about": "Expected answers for the events in this directory (regenerate with `make events`). \
    ingest: statusCode against a ledger that has not seen ledger_key yet; a later event with the same \
    ledger_key is a duplicate and gets 200. processor: batchItemFailures of the SQS response; \
    \"sweep\": the scheduled sweep, which must complete without error. archiver: batchItemFailures \
    of the SQS response, and outcomes: what the archiver logged for each record (its `outcome` and, \
    for a dead letter or a retry, its `reason`), with env.json's settings.",
        "events": set.expected,
    });
    let mut count = 0;
    for (path, value) in set
        .files
        .iter()
        .map(|(p, v)| (p.as_str(), v))
        .chain(std::iter::once(("expected.json", &manifest)))
    {
        let target = out.join(path);
        if let Some(dir) = target.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        let mut text = serde_json::to_string_pretty(value).expect("JSON values serialise");
        text.push('\n');
        std::fs::write(&target, text)
            .with_context(|| format!("cannot write {}", target.display()))?;
        count += 1;
    }
    Ok(count)
}

/// MD5, only for the `md5OfBody` / `md5OfMessageAttributes` fields SQS puts in
/// its records (a checksum there, not a security measure).
mod md5 {
    const S: [u32; 64] = [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5,
        9, 14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10,
        15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    /// MD5 of `data`, lowercase hex.
    pub fn hex(data: &[u8]) -> String {
        let k: Vec<u32> = (0..64)
            .map(|i| ((i as f64 + 1.0).sin().abs() * 4_294_967_296.0) as u32)
            .collect();
        let mut state: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];
        let mut message = data.to_vec();
        message.push(0x80);
        while message.len() % 64 != 56 {
            message.push(0);
        }
        message.extend_from_slice(&((data.len() as u64).wrapping_mul(8)).to_le_bytes());
        for chunk in message.chunks_exact(64) {
            let m: Vec<u32> = chunk
                .chunks_exact(4)
                .map(|w| u32::from_le_bytes([w[0], w[1], w[2], w[3]]))
                .collect();
            let [mut a, mut b, mut c, mut d] = state;
            for i in 0..64 {
                let (f, g) = match i / 16 {
                    0 => ((b & c) | (!b & d), i),
                    1 => ((d & b) | (!d & c), (5 * i + 1) % 16),
                    2 => (b ^ c ^ d, (3 * i + 5) % 16),
                    _ => (c ^ (b | !d), (7 * i) % 16),
                };
                let rotated = a
                    .wrapping_add(f)
                    .wrapping_add(k[i])
                    .wrapping_add(m[g])
                    .rotate_left(S[i]);
                a = d;
                d = c;
                c = b;
                b = b.wrapping_add(rotated);
            }
            for (s, v) in state.iter_mut().zip([a, b, c, d]) {
                *s = s.wrapping_add(v);
            }
        }
        state
            .iter()
            .flat_map(|w| w.to_le_bytes())
            .map(|byte| format!("{byte:02x}"))
            .collect()
    }

    /// The bytes SQS digests for `md5OfMessageAttributes`: per attribute, sorted
    /// by name, length-prefixed name and data type, transport type 1 (string),
    /// length-prefixed value.
    pub fn message_attributes_bytes(
        attributes: &std::collections::BTreeMap<&str, &str>,
    ) -> Vec<u8> {
        fn field(out: &mut Vec<u8>, bytes: &[u8]) {
            out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
            out.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        for (name, value) in attributes {
            field(&mut out, name.as_bytes());
            field(&mut out, b"String");
            out.push(1);
            field(&mut out, value.as_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_uuid_shaped() {
        let a = id_from("ingest/x.json");
        assert_eq!(a, id_from("ingest/x.json"));
        assert_ne!(a, id_from("ingest/y.json"));
        let groups: Vec<usize> = a.split('-').map(str::len).collect();
        assert_eq!(groups, [8, 4, 4, 4, 12]);
    }

    #[test]
    fn md5_matches_known_digests() {
        assert_eq!(md5::hex(b""), "d41d8cd98f00b204e9800998ecf8427e");
        assert_eq!(md5::hex(b"abc"), "900150983cd24fb0d6963f7d28e17f72");
        // The body of `sam local generate-event sqs receive-message`.
        assert_eq!(
            md5::hex(b"Hello from SQS!"),
            "7b270e59b47ff90a553787216d55d91d"
        );
        let long = [b'a'; 1000];
        assert_eq!(md5::hex(&long), "cabe45dcc9ae5b66ba86600cca6b8ba8");
    }

    #[test]
    fn clock_formats() {
        let c = Clock::new(1_795_341_731_904).unwrap();
        assert_eq!(c.clf, "22/Nov/2026:10:02:11 +0000");
        assert_eq!(c.rfc3339, "2026-11-22T10:02:11Z");
    }
}
