//! Every sample, delivered in file order, drives the status table to the state expected of it.

use std::collections::{BTreeSet, HashMap};

use integration_tests::*;
use store::{StatusItem, StatusTable};

use crate::{
    assert_all_processed, batch, ingest_all, parsed, sample_event, DOCUMENT, DS_ACCOUNT,
    DS_ENVELOPE, DS_MSA, ENVELOPE, MSA, WORKSPACE,
};

/// The expected state of a subject after a sample was applied.
struct Expect {
    sample: &'static str,
    /// True when the sample becomes the state, false when it is superseded.
    updates: bool,
    subject: &'static str,
    /// The sample whose event the state is from.
    winner: &'static str,
    status: &'static str,
    title: Option<&'static str>,
    reference: Option<&'static str>,
    counterparty: Option<&'static str>,
    workspace: Option<&'static str>,
    document_id: Option<&'static str>,
    metadata: bool,
    signers: &'static [&'static str],
}

/// In file order, which delivers SpotDraft's executed event before the sent
/// and signed ones, Subnoto's signed event after its envelope completed, and
/// DocuSign's envelope completed before it was sent, delivered and signed
/// (each signer still recorded).
const EXPECTED: &[Expect] = &[
    Expect {
        sample: "docusign-envelope-completed.json",
        updates: true,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-declined.json",
        updates: true,
        subject: "e2b74c19-6d0a-4f38-b5e1-2a9c8d7f6e54",
        winner: "docusign-envelope-declined.json",
        status: "DECLINED",
        title: Some("Please DocuSign: Order Form 2026-118 - Globex Ltd.pdf"),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-delivered.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-sent.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-envelope-voided.json",
        updates: true,
        subject: "f3d61a2b-9c8e-4b7d-a615-0e4f3c2b1a98",
        winner: "docusign-envelope-voided.json",
        status: "VOIDED",
        title: Some("Please DocuSign: NDA - Initech.pdf"),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "docusign-recipient-completed-1.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &["priya.nair@example.com"],
    },
    Expect {
        sample: "docusign-recipient-completed-2.json",
        updates: false,
        subject: DS_ENVELOPE,
        winner: "docusign-envelope-completed.json",
        status: "COMPLETED",
        title: Some(DS_MSA),
        reference: None,
        counterparty: None,
        workspace: Some(DS_ACCOUNT),
        document_id: None,
        metadata: false,
        signers: &["priya.nair@example.com", "tomas.ortega@example.com"],
    },
    Expect {
        sample: "spotdraft-contract-created.json",
        updates: true,
        subject: "48213",
        winner: "spotdraft-contract-created.json",
        status: "DRAFT",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: None,
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &[],
    },
    Expect {
        sample: "spotdraft-contract-executed.json",
        updates: true,
        subject: "48213",
        winner: "spotdraft-contract-executed.json",
        status: "EXECUTED",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: Some("Acme Corp"),
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &[],
    },
    Expect {
        sample: "spotdraft-contract-sent-to-counterparty.json",
        updates: false,
        subject: "48213",
        winner: "spotdraft-contract-executed.json",
        status: "EXECUTED",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: Some("Acme Corp"),
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &[],
    },
    Expect {
        sample: "spotdraft-contract-signed.json",
        updates: false,
        subject: "48213",
        winner: "spotdraft-contract-executed.json",
        status: "EXECUTED",
        title: Some(MSA),
        reference: Some("MSA-2026-0042"),
        counterparty: Some("Acme Corp"),
        workspace: None,
        document_id: None,
        metadata: true,
        signers: &["lena.fischer@acme.example"],
    },
    Expect {
        sample: "spotdraft-express-template-unknown-kind.json",
        updates: true,
        subject: "51007",
        winner: "spotdraft-express-template-unknown-kind.json",
        status: "DRAFT",
        title: Some("NDA – Müller & Søn GmbH"),
        reference: None,
        counterparty: None,
        workspace: None,
        document_id: None,
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-completed-sparse.json",
        updates: true,
        subject: "77aa88bb-99cc-4ddd-8eee-ff0011223344",
        winner: "subnoto-envelope-completed-sparse.json",
        status: "COMPLETED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: Some(DOCUMENT),
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-completed.json",
        updates: true,
        subject: ENVELOPE,
        winner: "subnoto-envelope-completed.json",
        status: "COMPLETED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: Some(DOCUMENT),
        metadata: false,
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-declined.json",
        updates: true,
        subject: "12345678-9abc-4def-8123-456789abcdef",
        winner: "subnoto-envelope-declined.json",
        status: "DECLINED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: None,
        metadata: false,
        // Whoever declined did not sign.
        signers: &[],
    },
    Expect {
        sample: "subnoto-envelope-signed.json",
        updates: false,
        subject: ENVELOPE,
        winner: "subnoto-envelope-completed.json",
        status: "COMPLETED",
        title: None,
        reference: None,
        counterparty: None,
        workspace: Some(WORKSPACE),
        document_id: Some(DOCUMENT),
        metadata: false,
        signers: &["john.doe@example.com"],
    },
];

#[tokio::test]
async fn every_sample_drives_the_status_table_to_the_expected_state() {
    let on_disk: Vec<String> = samples().into_iter().map(|(_, n)| n).collect();
    let listed: Vec<&str> = EXPECTED.iter().map(|e| e.sample).collect();
    assert_eq!(
        on_disk, listed,
        "a sample was added or removed: extend EXPECTED"
    );

    let stack = Stack::new().await;
    let bodies: Vec<_> = samples()
        .into_iter()
        .map(|(p, n)| (p, sample(&n)))
        .collect();
    let messages = ingest_all(&stack, &bodies).await;
    let by_key: HashMap<String, &RawMessage> =
        messages.iter().map(|m| (parsed(m).ledger_key, m)).collect();
    let app = stack.processor(&[]);
    let table = StatusTable::new(stack.clients.dynamodb.clone(), &stack.status_table);

    for (i, e) in EXPECTED.iter().enumerate() {
        let event = sample_event(e.sample);
        let message = by_key[&event.ledger_key()];
        let report =
            processor::process_batch(&app, &sqs_event(batch(&[message], &format!("s{i}-"), 1)))
                .await;
        assert!(report.failed.is_empty(), "{}: {report:?}", e.sample);
        assert_eq!(
            (report.updated, report.superseded),
            if e.updates { (1, 0) } else { (0, 1) },
            "{}",
            e.sample
        );

        let provider = event.provider;
        let item: StatusItem = table
            .get(provider, e.subject)
            .await
            .unwrap()
            .unwrap_or_else(|| panic!("{}: no status item", e.sample));
        let winner = sample_event(e.winner);
        let ctx = e.sample;
        assert_eq!(item.provider, provider.as_str(), "{ctx}");
        assert_eq!(item.subject, e.subject, "{ctx}");
        assert_eq!(item.status.as_deref(), Some(e.status), "{ctx}");
        assert_eq!(item.last_event_type, winner.event_type, "{ctx}");
        assert_eq!(item.last_event_key, winner.key, "{ctx}");
        assert_eq!(Some(item.event_time_ms), winner.occurred_at_ms, "{ctx}");
        assert_eq!(item.title.as_deref(), e.title, "{ctx}");
        assert_eq!(item.reference.as_deref(), e.reference, "{ctx}");
        assert_eq!(item.counterparty.as_deref(), e.counterparty, "{ctx}");
        assert_eq!(item.workspace.as_deref(), e.workspace, "{ctx}");
        assert_eq!(item.document_id.as_deref(), e.document_id, "{ctx}");
        assert_eq!(
            item.external_metadata.as_ref().map(|m| m.get()),
            e.metadata
                .then_some(r#"{"crm":"salesforce","opportunity_id":"0065g00000XyZ12"}"#),
            "{ctx}"
        );
        let signers: BTreeSet<String> = e.signers.iter().map(|s| s.to_string()).collect();
        assert_eq!(item.signers, signers, "{ctx}");
    }
    assert_eq!(stack.status_items().await.len(), 8, "one item per subject");
    assert_all_processed(&stack, by_key.keys().cloned()).await;

    // Everything again, as one concurrent batch: nothing changes, not even
    // updated_at.
    let before = stack.status_items().await;
    let all: Vec<&RawMessage> = messages.iter().collect();
    let report = processor::process_batch(&app, &sqs_event(batch(&all, "again-", 2))).await;
    assert!(report.failed.is_empty(), "{report:?}");
    assert_eq!(report.superseded, all.len());
    assert_eq!(stack.status_items().await, before);
}
