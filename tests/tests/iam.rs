//! Every AWS call a function makes, checked against its role in
//! `template.yaml` (issue 21, item 5). moto enforces no IAM: a missing grant
//! would otherwise show only on AWS.
//!
//! Ingest and the processor (sweep included) are checked in every suite that
//! builds them through a `Stack` (its drop runs the check). Here: the
//! archiver, driven against moto through a recorder in the ways that make
//! every kind of call it has (a multipart upload, a redelivery that reads the
//! whole-document hash back by version, a lost tag recomputed from the
//! object's version, credentials from Secrets Manager, back-off and the DLQ);
//! the checker refusing what the role before issue 21 item 4 lacked; the check
//! of a `Stack` failing for a call outside the role; IAM wildcards and the
//! template's intrinsic functions in a role.
//!
//! The archiver's test stack and its fake SpotDraft API are the archiver
//! crate's own test helpers, compiled here unchanged.

#[path = "../../crates/archiver/tests/common/mod.rs"]
mod archiver_common;

use std::collections::BTreeSet;

use archiver::batch::{process_batch, Outcome};
use archiver_common::provider::{pdf, CLIENT_ID, CLIENT_SECRET};
use archiver_common::{spotdraft_executed, ArchiveStack, Fault, ProviderServer, Route};
use integration_tests::iam::{Authorization, Deployed, Function, Role, RoleRecorder};
use integration_tests::{clients_via, sdk_config_for, Stack};
use serde_json::json;
use store::archive::{ArchiveClients, DocumentStore};
use verify::Provider;

/// An archiver over `env` whose AWS calls go through `recorder`, reading its
/// SpotDraft credentials from the secret `arn`.
async fn archiver_via(
    env: &ArchiveStack,
    recorder: &RoleRecorder,
    server: &ProviderServer,
    arn: &str,
) -> archiver::App {
    let clients = clients_via(recorder.endpoint()).await;
    let archive = ArchiveClients::new(&sdk_config_for(recorder.endpoint()).await, &clients.calls);
    let mut config = env.config(Some(server), &[]);
    config.spotdraft.as_mut().unwrap().credentials = store::SecretsSource::SecretsManager {
        arn: arn.to_owned(),
    };
    let mut app = archiver::App::new(&config, &clients, &archive)
        .await
        .unwrap();
    // Small parts, so moto sees a multipart upload.
    app.documents =
        DocumentStore::new(archive.s3.clone(), &env.bucket).with_part_bytes(5 * 1024 * 1024);
    app
}

/// Receives, processes and settles one round.
async fn round(env: &ArchiveStack, app: &archiver::App) -> Vec<Outcome> {
    let event = env.receive().await;
    let report = process_batch(app, &event).await;
    env.settle(&event, &report.response()).await;
    report.outcomes.into_iter().map(|(_, o)| o).collect()
}

fn actions(auths: &BTreeSet<Authorization>) -> BTreeSet<&str> {
    auths.iter().map(|a| a.action.as_str()).collect()
}

/// The archiver's recorded calls for a run that makes every kind of call it
/// has, with the stack they were made on.
async fn archiver_run() -> (ArchiveStack, RoleRecorder) {
    let env = ArchiveStack::new().await;
    let secret = env
        .stack
        .clients
        .secrets
        .create_secret()
        .name(format!("{}-spotdraft-api-credentials", env.stack.name))
        .secret_string(json!({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}).to_string())
        .send()
        .await
        .unwrap();
    let document = pdf(12 * 1024 * 1024 + 5, 3);
    let server = ProviderServer::start("H-700", document).await;
    env.seed_status(Provider::SpotDraft, "700").await;
    let recorder = RoleRecorder::start(Function::Archiver);
    let app = archiver_via(&env, &recorder, &server, secret.arn().unwrap()).await;

    // Stored in parts, then tagged with its SHA-256 by version.
    env.publish(spotdraft_executed("700", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("archived")]);
    // A redelivery reads the hash back from that version's tag.
    env.publish(spotdraft_executed("700", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("already_archived")]);
    // The tag lost (a crash between completing the upload and tagging it):
    // the version's bytes are hashed and the version tagged again.
    env.archive
        .s3
        .delete_object_tagging()
        .bucket(&env.bucket)
        .key("spotdraft/700/1.pdf")
        .send()
        .await
        .unwrap();
    env.publish(spotdraft_executed("700", None)).await;
    assert_eq!(round(&env, &app).await, [Outcome::Done("already_archived")]);
    // Throttled: backs off through the message's visibility.
    server.fault(
        Route::Listing,
        Fault::Status(429, vec![("retry-after", "7".into())]),
    );
    env.seed_status(Provider::SpotDraft, "701").await;
    env.publish(spotdraft_executed("701", None)).await;
    assert!(
        matches!(
            round(&env, &app).await[..],
            [Outcome::Retrying {
                reason: "throttled",
                ..
            }]
        ),
        "throttled"
    );
    // Unusable: straight to the DLQ.
    env.stack
        .clients
        .sqs
        .send_message()
        .queue_url(&env.queue_url)
        .message_body("not json")
        .send()
        .await
        .unwrap();
    assert_eq!(
        round(&env, &app).await,
        [Outcome::DeadLettered("unusable_message")]
    );
    // A metadata job (key pointers changed): recorded, published, marked.
    env.route_metadata().await;
    env.publish_as(
        "Contract Event",
        json!({"id": "spotdraft#700-kp", "provider": "spotdraft", "subject": "700",
            "provider_event_type": "CONTRACT_KEY_POINTER_UPDATION", "lifecycle": "executed"}),
    )
    .await;
    assert_eq!(
        round(&env, &app).await,
        [Outcome::Done("metadata_captured")]
    );
    (env, recorder)
}

#[tokio::test]
async fn every_archiver_call_is_allowed_by_its_role_and_the_old_role_refuses_the_versioned_ones() {
    let (env, recorder) = archiver_run().await;
    let deployed = env.stack.deployed();
    let auths = recorder
        .check(&deployed)
        .unwrap_or_else(|refused| panic!("{refused}"));
    let bucket = format!("arn:aws:s3:::{}", env.bucket);
    let object = format!("{bucket}/spotdraft/700/1.pdf");
    // Every kind of call was made (so the check above was not vacuous), on
    // the resources the role names.
    for (action, resource) in [
        ("s3:GetObject", object.as_str()),
        ("s3:ListBucket", bucket.as_str()),
        ("s3:PutObject", object.as_str()),
        ("s3:PutObjectVersionTagging", object.as_str()),
        ("s3:GetObjectVersionTagging", object.as_str()),
        ("s3:GetObjectVersion", object.as_str()),
    ] {
        assert!(
            auths
                .iter()
                .any(|a| a.action == action && a.resource == resource),
            "no {action} on {resource} among {auths:#?}"
        );
    }
    let made = actions(&auths);
    for action in [
        "dynamodb:UpdateItem",
        "events:PutEvents",
        "secretsmanager:GetSecretValue",
        "sqs:ChangeMessageVisibility",
        "sqs:SendMessage",
    ] {
        assert!(made.contains(action), "{action} not made: {made:?}");
    }

    // The role as it was before issue 21 item 4 refuses the versioned calls,
    // naming each.
    let old = Role::of(Function::Archiver, &deployed, &[])
        .without("s3:GetObjectVersion")
        .without("s3:GetObjectVersionTagging")
        .without("s3:PutObjectVersionTagging");
    let refused = old.check(&recorder.calls()).unwrap_err();
    for action in [
        "s3:GetObjectVersion",
        "s3:GetObjectVersionTagging",
        "s3:PutObjectVersionTagging",
    ] {
        let line = format!("archiver refused: {action} on {object} (");
        assert!(refused.contains(&line), "{line} not in:\n{refused}");
    }
    assert!(
        refused.contains("?versionId=") || refused.contains("&versionId="),
        "the refused call is shown with its versionId:\n{refused}"
    );
    // Only those.
    assert_eq!(refused.matches("archiver refused:").count(), 3, "{refused}");
}

#[tokio::test]
async fn a_stack_check_names_a_call_outside_the_role_and_passes_once_it_is_expected() {
    let stack = Stack::new().await;
    // Ingest's and the processor's calls, through the stack's recorders.
    let app = stack
        .ingest(&[(
            "WEBHOOK_SECRETS_ARN",
            &stack
                .create_secret(&integration_tests::secrets_json())
                .await,
        )])
        .await;
    let body = integration_tests::sample("spotdraft-contract-executed.json");
    let (status, _) = integration_tests::answer(
        ingest::handle(
            &app,
            integration_tests::signed_request(
                integration_tests::EventKind::ApiGatewayV2,
                Provider::SpotDraft,
                &body,
                verify::BodyFormat::Json,
            ),
        )
        .await,
    );
    assert_eq!(status, 202);
    let messages = stack.drain_queue_raw().await;
    let records = messages
        .iter()
        .enumerate()
        .map(|(i, m)| integration_tests::sqs_record(&format!("m{i}"), Some(&m.body), 1))
        .collect();
    let sub = integration_tests::subscribe_to_bus(&stack).await;
    let processor = stack.processor(&[("EVENT_BUS_NAME", &sub.bus)]);
    let report = processor::process_batch(&processor, &integration_tests::sqs_event(records)).await;
    assert!(report.failed.is_empty(), "{report:?}");
    processor::sweep(&processor, integration_tests::now_ms()).await;

    let checked = stack.check_roles().unwrap_or_else(|e| panic!("{e}"));
    let made = |f: Function| {
        checked
            .iter()
            .find(|(g, _)| *g == f)
            .map(|(_, a)| actions(a).into_iter().map(str::to_owned).collect())
            .unwrap_or_else(BTreeSet::new)
    };
    assert_eq!(
        made(Function::Ingest),
        BTreeSet::from(
            [
                "dynamodb:PutItem",
                "secretsmanager:GetSecretValue",
                "sqs:SendMessage"
            ]
            .map(String::from)
        )
    );
    let processor_made = made(Function::Processor);
    for action in ["dynamodb:UpdateItem", "dynamodb:Query", "events:PutEvents"] {
        assert!(
            processor_made.contains(action),
            "{action} not made: {processor_made:?}"
        );
    }

    // The processor pointed at a table outside its role: named.
    let foreign = format!("{}-foreign", stack.name);
    testkit::resources::create_status_table(&stack.clients.dynamodb, &foreign)
        .await
        .unwrap();
    let stray = stack.processor(&[("STATUS_TABLE", &foreign)]);
    let again = integration_tests::sqs_record("m9", Some(&messages[0].body), 2);
    processor::process_batch(&stray, &integration_tests::sqs_event(vec![again])).await;
    let refused = stack.check_roles().unwrap_err();
    let line = format!(
        "processor refused: dynamodb:UpdateItem on arn:aws:dynamodb:us-east-1:123456789012:table/{foreign} (DynamoDB_20120810.UpdateItem)"
    );
    assert!(refused.contains(&line), "{line} not in:\n{refused}");
    // Declared on purpose, it no longer fails the stack's drop.
    stack.expect_refused(Function::Processor, &format!("table/{foreign}"));
    stack.check_roles().unwrap();
}

/// A template with one role, to check rendering and wildcards in isolation.
fn small_template(resources: &str) -> serde_yaml::Value {
    serde_yaml::from_str(&format!(
        r#"
Parameters:
  ExistingEventBusName:
    Type: String
    Default: ""
Conditions:
  CreateEventBus: !Equals [!Ref ExistingEventBusName, ""]
Resources:
  ArchiverRole:
    Type: AWS::IAM::Role
    Properties:
      Policies:
        - PolicyName: p
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [s3:GetObject]
                Resource: {resources}
              - Effect: Allow
                Action: events:PutEvents
                Resource: !If
                  - CreateEventBus
                  - !GetAtt EventBus.Arn
                  - !Sub arn:${{AWS::Partition}}:events:${{AWS::Region}}:${{AWS::AccountId}}:event-bus/${{ExistingEventBusName}}
Outputs: {{}}
"#
    ))
    .unwrap()
}

fn get(resource: &str) -> Authorization {
    Authorization {
        action: "s3:GetObject".into(),
        resource: resource.into(),
        call: "test".into(),
    }
}

#[test]
fn roles_are_rendered_for_the_test_stack_and_matched_with_iam_wildcards() {
    let deployed = Deployed { name: "t1".into() };
    let role = Role::from_template(
        &small_template(r#"[!Sub "${ArchiveBucket.Arn}/spotdraft/?/*.pdf"]"#),
        Function::Archiver,
        &deployed,
        &[],
    );
    assert!(role.allows(&get("arn:aws:s3:::t1-documents/spotdraft/7/1.pdf")));
    // `?` is one character, `*` any run (also across `/`).
    assert!(role.allows(&get("arn:aws:s3:::t1-documents/spotdraft/7/a/b.pdf")));
    assert!(!role.allows(&get("arn:aws:s3:::t1-documents/spotdraft/77/1.pdf")));
    assert!(!role.allows(&get("arn:aws:s3:::t1-documents/subnoto/7/1.pdf")));
    assert!(!role.allows(&get("arn:aws:s3:::t2-documents/spotdraft/7/1.pdf")));
    // Actions are matched as IAM does, case-insensitively, and only those granted.
    let mut head = get("arn:aws:s3:::t1-documents/spotdraft/7/1.pdf");
    head.action = "S3:getobject".into();
    assert!(role.allows(&head));
    head.action = "s3:GetObjectVersion".into();
    assert!(!role.allows(&head));

    // `!If` decided by the parameters: the stack's bus, or the existing one named.
    let bus = |name: &str| Authorization {
        action: "events:PutEvents".into(),
        resource: format!("arn:aws:events:us-east-1:123456789012:event-bus/{name}"),
        call: "test".into(),
    };
    assert!(role.allows(&bus("t1-bus")));
    assert!(!role.allows(&bus("shared")));
    let existing = Role::from_template(
        &small_template("!GetAtt ArchiveBucket.Arn"),
        Function::Archiver,
        &deployed,
        &[("ExistingEventBusName", "shared")],
    );
    assert!(existing.allows(&bus("shared")));
    assert!(!existing.allows(&bus("t1-bus")));
    // A bucket ARN grants nothing on its objects.
    assert!(!existing.allows(&get("arn:aws:s3:::t1-documents/k")));
}
