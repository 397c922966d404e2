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

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use serde_json::{json, Value};
use verify::{BodyFormat, Event, Provider};

use contract_hooks::error::{CliError, CliResult};
use contract_hooks::input::{now_ms, print_stdout};
use contract_hooks::signing::form_encode;

mod archiver;
mod args;
mod env;
mod fixtures;
mod ingest;
mod lambda;
mod processor;

use archiver::*;
pub use args::EventsArgs;
use env::*;
use fixtures::*;
use ingest::*;
use lambda::*;
use processor::*;

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
