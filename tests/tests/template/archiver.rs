//! The archiver function: its settings, queue, rule, bucket and alarms against its code.

use std::collections::{BTreeMap, BTreeSet};

use aws_sdk_sqs::types::QueueAttributeName;
use integration_tests::cfn::{at, show, template};
use integration_tests::{repo_root, Stack};
use serde_json::Value as Json;

use crate::{
    alarms, direct_env_reads, env_of, events_of, find_alarm_on, number, parameter_default, props,
    quoted_env_names, read, resource, timeout_secs, without_tests, ARCHIVER,
};

#[test]
fn the_archiver_sets_exactly_the_settings_its_config_reads() {
    let t = template();
    let text = read(&repo_root().join("crates/archiver/src/config.rs"));
    let mut required = quoted_env_names(without_tests(&text));
    assert_eq!(
        required,
        archiver::config::ENV_NAMES
            .iter()
            .map(|n| n.to_string())
            .collect::<BTreeSet<_>>(),
        "archiver::config::ENV_NAMES lists what config.rs reads"
    );
    required.extend(direct_env_reads("archiver"));
    required.insert("RUST_LOG".into());
    // Local development and tests only (http and loopback download URLs):
    // the deployed function never has them.
    for dev_only in archiver::config::DEV_ONLY_ENV_NAMES {
        assert!(
            required.remove(*dev_only),
            "{dev_only} is read by config.rs"
        );
    }
    let env = env_of(&t, ARCHIVER);
    let declared: BTreeSet<String> = env.keys().cloned().collect();
    assert_eq!(declared, required, "{ARCHIVER} environment");
    assert_eq!(env["DOCUMENT_HOST_ALLOWLIST"], "Ref(DocumentHostAllowlist)");
    assert_eq!(env["STATUS_TABLE"], "Ref(StatusTable)");
    assert_eq!(env["ARCHIVE_BUCKET"], "Ref(ArchiveBucket)");
    assert_eq!(env["ARCHIVE_QUEUE_URL"], "Ref(ArchiveQueue)");
    assert_eq!(env["ARCHIVE_DLQ_URL"], "Ref(ArchiveDeadLetterQueue)");
    let bus = "If(CreateEventBus, Ref(EventBus), Ref(ExistingEventBusName))";
    assert_eq!(env["EVENT_BUS_NAME"], bus);
    assert_eq!(
        env["SPOTDRAFT_API_CREDENTIALS_ARN"],
        "Ref(SpotDraftApiCredentials)"
    );
    assert_eq!(
        env["SUBNOTO_API_CREDENTIALS_ARN"],
        "Ref(SubnotoApiCredentials)"
    );
    assert_eq!(
        env["DOCUSIGN_API_CREDENTIALS_ARN"],
        "Ref(DocuSignApiCredentials)"
    );
    assert_eq!(env["DOCUSIGN_AUTH_HOST"], "Ref(DocuSignAuthHost)");
    assert_eq!(env["DOCUSIGN_API_BASE_URL"], "Ref(DocuSignApiBaseUrl)");
    for inline in [
        "SPOTDRAFT_API_CREDENTIALS",
        "SUBNOTO_API_CREDENTIALS",
        "DOCUSIGN_API_CREDENTIALS",
    ] {
        assert_eq!(env[inline], "", "credentials never go into the template");
    }

    // Parameters at their defaults give a valid configuration with both
    // providers off (nothing is archived until a base URL is set) and the
    // code's own limits.
    let resolved: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| {
            let value = match v.strip_prefix("Ref(").and_then(|r| r.strip_suffix(')')) {
                Some(p) if t.get("Parameters").and_then(|ps| ps.get(p)).is_some() => {
                    parameter_default(&t, p)
                }
                Some(_) => "from-the-stack".to_owned(),
                None if v.starts_with("If(") => "bus".to_owned(),
                None => v.clone(),
            };
            (k.clone(), value)
        })
        .collect();
    let c = archiver::ArchiverConfig::from_lookup(|k| resolved.get(k).cloned())
        .unwrap_or_else(|e| panic!("the archiver's template environment is not valid: {e}"));
    assert!(c.spotdraft.is_none() && c.subnoto.is_none() && c.docusign.is_none());
    // Either DocuSign auth host the template allows gives a DocuSign client
    // whose assertion audience is that host.
    for host in ["account-d.docusign.com", "account.docusign.com"] {
        let mut with = resolved.clone();
        with.insert("DOCUSIGN_AUTH_HOST".into(), host.into());
        let c = archiver::ArchiverConfig::from_lookup(|k| with.get(k).cloned()).unwrap();
        let ds = c.docusign.expect("DocuSign configured");
        assert_eq!(ds.auth, format!("https://{host}"));
        assert_eq!(
            ds.credentials,
            store::SecretsSource::SecretsManager {
                arn: "from-the-stack".into()
            }
        );
    }
    let defaults = archiver::ArchiverConfig::from_lookup(|k| match k {
        "STATUS_TABLE" | "ARCHIVE_BUCKET" | "ARCHIVE_QUEUE_URL" | "ARCHIVE_DLQ_URL" => {
            Some("x".into())
        }
        _ => None,
    })
    .unwrap();
    assert_eq!(c.max_document_bytes, defaults.max_document_bytes);
    assert_eq!(c.secrets_refresh, defaults.secrets_refresh);
    assert_eq!(c.spotdraft_rps, defaults.spotdraft_rps);
    assert_eq!(c.document_urls, defaults.document_urls);
    assert!(!c.document_urls.allow_insecure);
    // SpotDraft allows 10 requests/s per workspace: the event source mapping's
    // concurrency times each instance's pace stays under it.
    let sqs = events_of(&t, ARCHIVER, "SQS");
    assert_eq!(sqs.len(), 1);
    let concurrency = number(
        at(sqs[0], &["ScalingConfig", "MaximumConcurrency"]),
        "MaximumConcurrency",
    );
    assert!(
        concurrency * u64::from(c.spotdraft_rps) <= 10,
        "{concurrency} x {} requests/s exceeds SpotDraft's 10/s",
        c.spotdraft_rps
    );
}

#[tokio::test]
async fn archive_queue_rule_and_bucket_match_the_code() {
    let t = template();
    use store::archive::{
        ARCHIVE_MAX_RECEIVE_COUNT, ARCHIVE_RETENTION_SECS, ARCHIVE_VISIBILITY_TIMEOUT_SECS,
    };
    let q = props(&t, "ArchiveQueue", "AWS::SQS::Queue");
    let dlq = props(&t, "ArchiveDeadLetterQueue", "AWS::SQS::Queue");
    let visibility = number(at(q, &["VisibilityTimeout"]), "VisibilityTimeout");
    assert_eq!(visibility, u64::from(ARCHIVE_VISIBILITY_TIMEOUT_SECS));
    assert!(visibility >= 6 * timeout_secs(&t, ARCHIVER));
    assert_eq!(
        number(
            at(q, &["RedrivePolicy", "maxReceiveCount"]),
            "maxReceiveCount"
        ),
        u64::from(ARCHIVE_MAX_RECEIVE_COUNT)
    );
    assert_eq!(
        show(at(q, &["RedrivePolicy", "deadLetterTargetArn"])),
        "GetAtt(ArchiveDeadLetterQueue.Arn)"
    );
    assert_eq!(
        number(at(dlq, &["MessageRetentionPeriod"]), "retention"),
        14 * 86_400
    );
    // Retries are bounded by time: the window (plus SQS's longest back-off)
    // ends before the queue would drop the message by age.
    let retention = number(at(q, &["MessageRetentionPeriod"]), "retention");
    assert_eq!(retention, u64::from(ARCHIVE_RETENTION_SECS));
    assert!(archiver::batch::RETRY_WINDOW.as_secs() + 43_200 < retention);
    for queue in [q, dlq] {
        assert_eq!(show(at(queue, &["SqsManagedSseEnabled"])), "true");
    }
    // The event source: batches of one, partial failures, low concurrency.
    let sqs = events_of(&t, ARCHIVER, "SQS")[0];
    assert_eq!(show(at(sqs, &["Queue"])), "GetAtt(ArchiveQueue.Arn)");
    assert_eq!(number(at(sqs, &["BatchSize"]), "BatchSize"), 1);
    assert_eq!(
        show(at(sqs, &["FunctionResponseTypes"])),
        "[ReportBatchItemFailures]"
    );
    // The queues `make dev` and the tests create agree.
    let stack = Stack::new().await;
    let (url, _) = testkit::resources::create_archive_queues(&stack.clients.sqs, &stack.name)
        .await
        .unwrap();
    let attrs = stack
        .clients
        .sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::All)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert_eq!(
        attrs[&QueueAttributeName::VisibilityTimeout],
        visibility.to_string()
    );
    let redrive: Json = serde_json::from_str(&attrs[&QueueAttributeName::RedrivePolicy]).unwrap();
    assert_eq!(redrive["maxReceiveCount"], ARCHIVE_MAX_RECEIVE_COUNT);
    assert_eq!(
        attrs[&QueueAttributeName::MessageRetentionPeriod],
        retention.to_string()
    );

    // The rule: exactly the archiver's pattern, on the bus the archiver
    // publishes to, into the archive queue, which lets only this rule send.
    let rule = props(&t, "ArchiveRule", "AWS::Events::Rule");
    let pattern: Json = serde_json::to_value(at(rule, &["EventPattern"])).unwrap();
    assert_eq!(pattern, store::archive::archive_rule_pattern());
    assert_eq!(
        show(at(rule, &["EventBusName"])),
        env_of(&t, ARCHIVER)["EVENT_BUS_NAME"]
    );
    let targets = at(rule, &["Targets"]).as_sequence().unwrap();
    assert_eq!(targets.len(), 2);
    for target in targets {
        assert_eq!(show(at(target, &["Arn"])), "GetAtt(ArchiveQueue.Arn)");
        assert_eq!(
            show(at(target, &["DeadLetterConfig", "Arn"])),
            "GetAtt(ArchiveDeadLetterQueue.Arn)"
        );
    }
    assert!(targets[0].get("InputTransformer").is_none());
    // The second: the same execution as a metadata job, exactly as the
    // archiver reads it (archiver::event::METADATA_REQUESTED).
    let (paths, template) = store::archive::metadata_target_input();
    let transformer = at(&targets[1], &["InputTransformer"]);
    assert_eq!(
        serde_json::to_value(at(transformer, &["InputPathsMap"])).unwrap(),
        paths
    );
    assert_eq!(show(at(transformer, &["InputTemplate"])), template);
    assert_eq!(
        store::archive::METADATA_REQUESTED,
        archiver::event::METADATA_REQUESTED
    );
    // Key pointers changed on an executed SpotDraft contract: a metadata job too.
    let kp = props(&t, "KeyPointerRule", "AWS::Events::Rule");
    let pattern: Json = serde_json::to_value(at(kp, &["EventPattern"])).unwrap();
    assert_eq!(pattern, store::archive::key_pointer_rule_pattern());
    assert_eq!(
        pattern["detail"]["provider_event_type"],
        serde_json::json!(archiver::event::KEY_POINTER_ACTIVITIES)
    );
    assert_eq!(
        show(at(kp, &["EventBusName"])),
        show(at(rule, &["EventBusName"]))
    );
    let targets = at(kp, &["Targets"]).as_sequence().unwrap();
    assert_eq!(targets.len(), 1);
    assert_eq!(show(at(&targets[0], &["Arn"])), "GetAtt(ArchiveQueue.Arn)");
    let policy = props(&t, "ArchiveQueuePolicy", "AWS::SQS::QueuePolicy");
    let statement = &at(policy, &["PolicyDocument", "Statement"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(
        show(at(statement, &["Principal", "Service"])),
        "events.amazonaws.com"
    );
    assert_eq!(
        show(at(statement, &["Condition", "ArnEquals", "aws:SourceArn"])),
        "[GetAtt(ArchiveRule.Arn), GetAtt(KeyPointerRule.Arn)]"
    );
    let bus = resource(&t, "EventBus", "AWS::Events::EventBus");
    assert_eq!(show(at(bus, &["Condition"])), "CreateEventBus");

    // The bucket: versioned, encrypted, never public, TLS only, WORM optional.
    let b = props(&t, "ArchiveBucket", "AWS::S3::Bucket");
    assert_eq!(
        show(at(b, &["VersioningConfiguration", "Status"])),
        "Enabled"
    );
    at(
        b,
        &["BucketEncryption", "ServerSideEncryptionConfiguration"],
    );
    for flag in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(
            show(at(b, &["PublicAccessBlockConfiguration", flag])),
            "true"
        );
    }
    assert!(show(at(b, &["ObjectLockConfiguration"])).starts_with("If(HasObjectLock"));
    let bp = props(&t, "ArchiveBucketPolicy", "AWS::S3::BucketPolicy");
    let deny = &at(bp, &["PolicyDocument", "Statement"])
        .as_sequence()
        .unwrap()[0];
    assert_eq!(show(at(deny, &["Effect"])), "Deny");
    assert_eq!(
        show(at(deny, &["Condition", "Bool", "aws:SecureTransport"])),
        "false"
    );
}

#[test]
fn archiver_alarms_watch_its_dlq_refused_credentials_and_errors() {
    let t = template();
    find_alarm_on(
        &t,
        "AWS/SQS",
        "ApproximateNumberOfMessagesVisible",
        "(ArchiveDeadLetterQueue.",
    );
    find_alarm_on(&t, "AWS/Lambda", "Errors", "(ArchiverFunction)");
    let (_, _, d) = find_alarm_on(
        &t,
        store::metrics::NAMESPACE,
        "credentials_rejected",
        "(ArchiverFunction)",
    );
    assert_eq!(
        d.keys().cloned().collect::<Vec<_>>(),
        [store::metrics::FUNCTION_DIMENSION]
    );
    // The metric is one the archiver counts.
    let code = read(&repo_root().join("crates/archiver/src/archive.rs"));
    assert!(code.contains("\"credentials_rejected\""));

    // The archive queue's backlog: an execution waiting long, alarmed well
    // before the archiver's retry window ends.
    let found: Vec<_> = alarms(&t)
        .into_iter()
        .filter(|(_, f, d)| {
            f.get("MetricName").map(String::as_str) == Some("ApproximateAgeOfOldestMessage")
                && d.values().any(|v| v.contains("(ArchiveQueue."))
        })
        .collect();
    assert_eq!(found.len(), 1, "one age alarm on the archive queue");
    let (name, f, d) = &found[0];
    assert_eq!(f["Namespace"], "AWS/SQS", "{name}");
    assert_eq!(
        d,
        &BTreeMap::from([(
            "QueueName".to_owned(),
            "GetAtt(ArchiveQueue.QueueName)".to_owned()
        )])
    );
    assert_eq!(f["ComparisonOperator"], "GreaterThanThreshold", "{name}");
    let threshold: u64 = f["Threshold"].parse().unwrap();
    assert!(
        threshold > u64::from(archiver::batch::MAX_CREDENTIALS_BACKOFF_SECS)
            && threshold * 4 <= archiver::batch::RETRY_WINDOW.as_secs(),
        "{name}: {threshold} s"
    );
    assert!(f["AlarmActions"].contains("AlarmTopicArn"), "{name}");
}
