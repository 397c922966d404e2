//! The archiver's events: archive-queue messages as the archive and key-pointer
//! rules deliver them, with the outcome each must get.

use contract_hooks::error::CliError;
use serde_json::{json, Value};
use verify::{BodyFormat, Event, Provider};

use super::args::EventsArgs;
use super::fixtures::*;
use super::lambda::*;

/// What the archiver must make of one archive-queue record: an outcome of
/// `archiver::batch` (`archived`, `ignored`, `dead_lettered`, …) and, for a
/// dead letter or a retry, its reason.
pub(super) struct ArchiveOutcome {
    pub(super) outcome: &'static str,
    pub(super) reason: Option<&'static str>,
}

impl ArchiveOutcome {
    pub(super) fn done(outcome: &'static str) -> Self {
        ArchiveOutcome {
            outcome,
            reason: None,
        }
    }

    pub(super) fn because(outcome: &'static str, reason: &'static str) -> Self {
        ArchiveOutcome {
            outcome,
            reason: Some(reason),
        }
    }
}

/// The processor's bus entry for an event that set its subject's first status.
pub(super) fn first_status_entry(event: &Event, received_at_ms: i64) -> domain::events::BusEntry {
    domain::events::entry_for(
        event,
        &event.ledger_key(),
        received_at_ms,
        &domain::StatusChange::First,
        domain::events::Delivery::default(),
    )
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
pub(super) fn archiver_events(
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

/// The first sample of `provider` whose event reports a status of
/// `lifecycle` (or, with `not`, of another lifecycle).
pub(super) fn sample_in<'s>(
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
