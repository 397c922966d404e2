//! Every sample in `samples/` parses into the expected normalised event.
//! Expected SpotDraft keys were computed independently (Python:
//! `sha256(json.dumps(d, sort_keys=True, separators=(",", ":"), ensure_ascii=False))`),
//! and DocuSign keys the same way over the body without `retryCount` and
//! `generatedDateTime`.

mod common;

use verify::{BodyFormat, Event, Provider};

fn sample(name: &str) -> Vec<u8> {
    common::read_data(&format!("samples/{name}"))
}

struct Expect {
    file: &'static str,
    key: &'static str,
    event_type: &'static str,
    subject: &'static str,
    time_ms: i64,
}

const EXPECTED: &[Expect] = &[
    Expect {
        file: "docusign-envelope-completed.json",
        key: "ac4b7629a0445b3f74aa42870f64e209ed1e7b4cd03d919227cc347fc7cb0220",
        event_type: "envelope-completed",
        subject: "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
        time_ms: 1795514710297,
    },
    Expect {
        file: "docusign-envelope-declined.json",
        key: "e5ccd6778b1513b326162767dd4d0fa05de17d2b28df5251a1938562cf2f7070",
        event_type: "envelope-declined",
        subject: "e2b74c19-6d0a-4f38-b5e1-2a9c8d7f6e54",
        time_ms: 1795625251552,
    },
    Expect {
        file: "docusign-envelope-delivered.json",
        key: "2169b35fcdd287bcd936fe7f0f11a8acb21a451e2b14072fedfc7c78de5014d5",
        event_type: "envelope-delivered",
        subject: "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
        time_ms: 1795514538118,
    },
    Expect {
        file: "docusign-envelope-sent.json",
        key: "cbce105ce504184785e654f1887800db63f157b36d47025da97acc9e35028a17",
        event_type: "envelope-sent",
        subject: "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
        time_ms: 1795511646291,
    },
    Expect {
        file: "docusign-envelope-voided.json",
        key: "f3ea9950ed4b79842122dfe04e06803ff69290d4bf6ab1f9f1e940fbd23466c9",
        event_type: "envelope-voided",
        subject: "f3d61a2b-9c8e-4b7d-a615-0e4f3c2b1a98",
        time_ms: 1795691526330,
    },
    Expect {
        file: "docusign-recipient-completed-1.json",
        key: "a96aa85b1d73a1d63c74a9131e28b189a0957646475ab5b3d4efd3149cad912f",
        event_type: "recipient-completed",
        subject: "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
        time_ms: 1795512703662,
    },
    Expect {
        file: "docusign-recipient-completed-2.json",
        key: "5ed2c17a833f3bb623a16ce75bd3024a34d61af8676cab70de659d3f13c9b0d0",
        event_type: "recipient-completed",
        subject: "c0a80f1e-3b2d-4e5f-9a8b-7c6d5e4f3a21",
        time_ms: 1795514710041,
    },
    Expect {
        file: "spotdraft-contract-created.json",
        key: "282f4ad14425b8d46e45f2de0a27608c5b3125149040a4b4c0f9cead7c825a52",
        event_type: "CONTRACT_CREATED",
        subject: "48213",
        time_ms: 1795166043600,
    },
    Expect {
        file: "spotdraft-contract-executed.json",
        key: "be620a0363c8885a7a3b41f10ba330e4d45b4532ce37a1981c80c77a0e634826",
        event_type: "CONTRACT_EXECUTED",
        subject: "48213",
        time_ms: 1795341731904,
    },
    Expect {
        file: "spotdraft-contract-sent-to-counterparty.json",
        key: "73af12465e2134c42996ac2b85cce2cdd2819434f86f47fd6795613a3adcf7f0",
        event_type: "CONTRACT_SENT_TO_COUNTERPARTY",
        subject: "48213",
        time_ms: 1795275627118,
    },
    Expect {
        file: "spotdraft-contract-signed.json",
        key: "e17af4f710c4e9a9a11b6bcadbdab7c48088ca79290adee0f280b4fd732f3cd8",
        event_type: "CONTRACT_SIGNED",
        subject: "48213",
        time_ms: 1795341520001,
    },
    Expect {
        file: "spotdraft-express-template-unknown-kind.json",
        key: "783ba938e694e03827650f034e3b83150e9f0f37201722e5592d61da8c98fa15",
        event_type: "CONTRACT_KEY_POINTER_UPDATION",
        subject: "51007",
        time_ms: 1795334405000,
    },
    Expect {
        file: "subnoto-envelope-completed-sparse.json",
        key: "c75eefd830b70fce529defa50bb5b4a35863f1290473e945a9fe3413da1f3ec9",
        event_type: "ENVELOPE_COMPLETED",
        subject: "77aa88bb-99cc-4ddd-8eee-ff0011223344",
        time_ms: 1795342000000,
    },
    Expect {
        file: "subnoto-envelope-completed.json",
        key: "f5a6c2d3-2e1b-4c7a-92ab-5e8f2d1c0b9a",
        event_type: "ENVELOPE_COMPLETED",
        subject: "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f",
        time_ms: 1795341900000,
    },
    Expect {
        file: "subnoto-envelope-declined.json",
        key: "3c4d5e6f-7081-4923-a4b5-c6d7e8f90a1b",
        event_type: "ENVELOPE_DECLINED",
        subject: "12345678-9abc-4def-8123-456789abcdef",
        time_ms: 1795342100000,
    },
    Expect {
        file: "subnoto-envelope-signed.json",
        key: "0f29a0a2-3a6f-44a4-b2a2-5d7b3f1b1f9b",
        event_type: "ENVELOPE_SIGNED",
        subject: "e0d1c2b3-a495-4867-8f90-1a2b3c4d5e6f",
        time_ms: 1795341600000,
    },
];

fn provider_of(file: &str) -> Provider {
    file.split('-').next().unwrap().parse().unwrap()
}

#[test]
fn every_sample_parses_to_the_expected_event() {
    let on_disk = std::fs::read_dir(common::data_dir().join("samples"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".json")
        })
        .count();
    assert_eq!(
        on_disk,
        EXPECTED.len(),
        "a sample was added or removed: extend EXPECTED"
    );
    for e in EXPECTED {
        let event = Event::parse(provider_of(e.file), BodyFormat::Json, &sample(e.file))
            .unwrap_or_else(|err| panic!("{}: {err}", e.file));
        assert_eq!(event.key, e.key, "{}", e.file);
        assert_eq!(event.event_type, e.event_type, "{}", e.file);
        assert_eq!(event.subject.as_deref(), Some(e.subject), "{}", e.file);
        assert_eq!(event.occurred_at_ms, Some(e.time_ms), "{}", e.file);
        assert_eq!(
            event.ledger_key(),
            format!("{}#{}", provider_of(e.file), e.key)
        );
    }
}

/// DocuSign sends a notification again with `retryCount` and
/// `generatedDateTime` changed: the retry has the first delivery's key.
#[test]
fn a_docusign_retry_has_the_key_of_the_first_delivery() {
    let first = Event::parse(
        Provider::DocuSign,
        BodyFormat::Json,
        &sample("docusign-envelope-completed.json"),
    )
    .unwrap();
    let retry = Event::parse(
        Provider::DocuSign,
        BodyFormat::Json,
        &sample("retries/docusign-envelope-completed-retry1.json"),
    )
    .unwrap();
    assert_ne!(
        sample("docusign-envelope-completed.json"),
        sample("retries/docusign-envelope-completed-retry1.json")
    );
    assert_eq!(first.key, retry.key);
    // Every other DocuSign notification has a key of its own.
    let keys: std::collections::BTreeSet<_> = EXPECTED
        .iter()
        .filter(|e| e.file.starts_with("docusign"))
        .map(|e| e.key)
        .collect();
    assert_eq!(keys.len(), 7);
}

#[test]
fn docusign_fields_are_extracted() {
    let signed = Event::parse(
        Provider::DocuSign,
        BodyFormat::Json,
        &sample("docusign-recipient-completed-1.json"),
    )
    .unwrap();
    assert_eq!(
        signed.status.as_deref(),
        Some("sent"),
        "the envelope's status"
    );
    assert_eq!(
        signed.workspace.as_deref(),
        Some("5f0c3d2e-8a41-4b6c-9e27-1d3f5a7b9c01"),
        "the account id"
    );
    assert_eq!(
        signed.title.as_deref(),
        Some("Please DocuSign: Master Services Agreement - Acme Corp.pdf")
    );
    let signer = signed.signer.unwrap();
    assert_eq!(signer.email.as_deref(), Some("priya.nair@example.com"));
    assert_eq!(signer.name.as_deref(), Some("Priya Nair"));
    let second = Event::parse(
        Provider::DocuSign,
        BodyFormat::Json,
        &sample("docusign-recipient-completed-2.json"),
    )
    .unwrap();
    assert_eq!(second.signer.unwrap().name.as_deref(), Some("Tomás Ortega"));
    let completed = Event::parse(
        Provider::DocuSign,
        BodyFormat::Json,
        &sample("docusign-envelope-completed.json"),
    )
    .unwrap();
    assert!(
        completed.signer.is_none(),
        "an envelope event names no signer"
    );
    assert!(
        completed.unread_fields.is_empty(),
        "{:?}",
        completed.unread_fields
    );
}

#[test]
fn form_encoded_bodies_parse_like_json() {
    for e in EXPECTED.iter().filter(|e| e.file.starts_with("subnoto")) {
        let json = sample(e.file);
        let form: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("payload", std::str::from_utf8(&json).unwrap())
            .finish();
        let from_form = Event::parse(Provider::Subnoto, BodyFormat::Form, form.as_bytes()).unwrap();
        let from_json = Event::parse(Provider::Subnoto, BodyFormat::Json, &json).unwrap();
        assert_eq!(from_form, from_json, "{}", e.file);
    }
}

#[test]
fn status_sync_fields_are_extracted() {
    let executed = Event::parse(
        Provider::SpotDraft,
        BodyFormat::Json,
        &sample("spotdraft-contract-executed.json"),
    )
    .unwrap();
    assert_eq!(executed.status.as_deref(), Some("EXECUTED"));
    assert_eq!(
        executed.title.as_deref(),
        Some("Master Services Agreement - Acme Corp")
    );
    assert_eq!(executed.reference.as_deref(), Some("MSA-2026-0042"));
    assert_eq!(executed.counterparty.as_deref(), Some("Acme Corp"));
    assert_eq!(
        executed
            .external_metadata
            .as_ref()
            .map(|m| serde_json::from_str::<serde_json::Value>(m.get()).unwrap())
            .and_then(|m| m.get("crm").and_then(|v| v.as_str()).map(str::to_owned))
            .as_deref(),
        Some("salesforce")
    );

    let signed = Event::parse(
        Provider::SpotDraft,
        BodyFormat::Json,
        &sample("spotdraft-contract-signed.json"),
    )
    .unwrap();
    assert_eq!(
        signed.signer.as_ref().and_then(|s| s.email.as_deref()),
        Some("lena.fischer@acme.example")
    );

    let unknown = Event::parse(
        Provider::SpotDraft,
        BodyFormat::Json,
        &sample("spotdraft-express-template-unknown-kind.json"),
    )
    .unwrap();
    assert_eq!(unknown.title.as_deref(), Some("NDA – Müller & Søn GmbH"));

    let envelope = Event::parse(
        Provider::Subnoto,
        BodyFormat::Json,
        &sample("subnoto-envelope-signed.json"),
    )
    .unwrap();
    assert_eq!(
        envelope.workspace.as_deref(),
        Some("a1b2c3d4-e5f6-4789-9abc-def012345678")
    );
    assert_eq!(
        envelope.signer.as_ref().and_then(|s| s.email.as_deref()),
        Some("john.doe@example.com")
    );
    assert_eq!(
        envelope.signer.as_ref().and_then(|s| s.name.as_deref()),
        Some("John Doe")
    );

    let completed = Event::parse(
        Provider::Subnoto,
        BodyFormat::Json,
        &sample("subnoto-envelope-completed.json"),
    )
    .unwrap();
    assert_eq!(
        completed.document_id.as_deref(),
        Some("d9c8b7a6-9584-4736-a2b1-c0d9e8f7a6b5")
    );
    assert_eq!(completed.signer, None);
}

#[test]
fn key_ignores_key_order_and_whitespace() {
    let a = br#"{"activity":"CONTRACT_SIGNED","contract_id":7,"activity_data":{"timestamp":"2026-01-01T00:00:00Z"}}"#;
    let b = b"{ \"contract_id\" : 7 ,\n \"activity_data\": {\"timestamp\": \"2026-01-01T00:00:00Z\"}, \"activity\": \"CONTRACT_SIGNED\" }";
    let ka = Event::parse(Provider::SpotDraft, BodyFormat::Json, a)
        .unwrap()
        .key;
    let kb = Event::parse(Provider::SpotDraft, BodyFormat::Json, b)
        .unwrap()
        .key;
    assert_eq!(ka, kb);
    let c = br#"{"activity":"CONTRACT_SIGNED","contract_id":8,"activity_data":{"timestamp":"2026-01-01T00:00:00Z"}}"#;
    assert_ne!(
        ka,
        Event::parse(Provider::SpotDraft, BodyFormat::Json, c)
            .unwrap()
            .key
    );
}

#[test]
fn integer_ids_beyond_2_pow_53_survive_exactly() {
    for id in [
        "9007199254740993",
        "18446744073709551615",
        "-9223372036854775808",
    ] {
        let body = format!(r#"{{"activity":"CONTRACT_CREATED","contract_id":{id}}}"#);
        let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body.as_bytes()).unwrap();
        assert_eq!(event.subject.as_deref(), Some(id));
        // …and through the queue message's JSON round trip.
        let back: Event = serde_json::from_str(&serde_json::to_string(&event).unwrap()).unwrap();
        assert_eq!(back.subject.as_deref(), Some(id));
    }
    // Past 64 bits serde_json would round: the digits are kept as sent.
    let body = br#"{"activity":"CONTRACT_CREATED","contract_id":123456789012345678901234567890}"#;
    let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body).unwrap();
    assert_eq!(
        event.subject.as_deref(),
        Some("123456789012345678901234567890")
    );
    // A fraction is no contract id: left out and noted, the event is kept.
    let body = br#"{"activity":"CONTRACT_CREATED","contract_id":48213.5}"#;
    let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body).unwrap();
    assert_eq!(
        (event.subject, event.unread_fields),
        (None, vec!["contract_id"])
    );
}

/// Two bodies that differ only in digits past what an `f64` holds are two
/// events: different keys, and each keeps its own number.
#[test]
fn numbers_are_kept_exactly_in_the_key_and_the_metadata() {
    let parse = |n: &str| {
        let body = format!(
            r#"{{"activity":"CONTRACT_EDITED","contract_id":1,"external_metadata":{{"amount":{n},"list":[{n},1.50]}}}}"#
        );
        Event::parse(Provider::SpotDraft, BodyFormat::Json, body.as_bytes()).unwrap()
    };
    let pairs = [
        ("1234567.12345678901", "1234567.123456789"),
        ("12345678901234567890123", "12345678901234567890124"),
        ("1.0", "1"),
        ("1e2", "100"),
        ("0.1", "0.10"),
    ];
    for (a, b) in pairs {
        let (ea, eb) = (parse(a), parse(b));
        assert_ne!(ea.key, eb.key, "{a} vs {b}");
        let meta = ea.external_metadata.as_ref().unwrap().get();
        assert_eq!(meta, format!(r#"{{"amount":{a},"list":[{a},1.50]}}"#));
        // The queue message carries it as JSON, digits intact.
        let json = serde_json::to_string(&ea).unwrap();
        assert!(
            json.contains(&format!(r#""external_metadata":{meta}"#)),
            "{json}"
        );
        let back: Event = serde_json::from_str(&json).unwrap();
        assert_eq!(back.external_metadata, ea.external_metadata);
    }
    // The same number written the same way is the same event.
    assert_eq!(parse("1.0").key, parse("1.0").key);
}

/// A signed event is never refused for a field that is only read: a time in
/// an unknown format makes the event time-less; epochs in s or ms are read.
#[test]
fn fields_that_cannot_be_read_are_noted_not_refused() {
    let sd = |activity_data: &str| {
        let body = format!(
            r#"{{"activity":"CONTRACT_SIGNED","contract_id":7,"contract_status":"SIGN","activity_data":{activity_data}}}"#
        );
        Event::parse(Provider::SpotDraft, BodyFormat::Json, body.as_bytes()).unwrap()
    };
    let z = 1_795_341_731_904;
    for (data, expected) in [
        (r#"{"timestamp":"2026-11-22T10:02:11.904Z"}"#, Some(z)),
        (r#"{"timestamp":1795341731904}"#, Some(z)),
        (r#"{"timestamp":"1795341731904"}"#, Some(z)),
        (r#"{"timestamp":1795341731.904}"#, Some(z)),
        (r#"{"timestamp":1795341731}"#, Some(z - 904)),
        (r#"{"timestamp":"1795341731"}"#, Some(z - 904)),
    ] {
        let e = sd(data);
        assert_eq!(e.occurred_at_ms, expected, "{data}");
        assert!(e.unread_fields.is_empty(), "{data}");
    }
    for data in [
        r#"{"timestamp":"22/11/2026 10:02:11"}"#,
        r#"{"timestamp":"soon"}"#,
        r#"{"timestamp":-5}"#,
        r#"{"timestamp":1e300}"#,
        r#"{"timestamp":{"at":1}}"#,
        r#"{"timestamp":true}"#,
    ] {
        let e = sd(data);
        assert_eq!(e.occurred_at_ms, None, "{data}");
        assert_eq!(e.unread_fields, ["activity_data.timestamp"], "{data}");
        assert_eq!(e.status.as_deref(), Some("SIGN"), "{data}");
        assert_eq!(e.subject.as_deref(), Some("7"), "{data}");
    }
    // Mistyped fields everywhere: still an event, each field noted once.
    let body = br#"{"activity":["X"],"contract_id":{},"contract_status":false,"contract_title":[1],"activity_data":"x"}"#;
    let e = Event::parse(Provider::SpotDraft, BodyFormat::Json, body).unwrap();
    assert_eq!(
        e.unread_fields,
        [
            "activity",
            "contract_id",
            "activity_data",
            "contract_status",
            "contract_title"
        ]
    );
    assert_eq!(
        (e.event_type.as_str(), e.subject, e.status),
        ("", None, None)
    );
    // Subnoto: the same for its members.
    let body = br#"{"eventUuid":"u1","eventType":"ENVELOPE_SENT","eventTime":"22/11/2026","data":{"envelopeUuid":"e1","title":{"t":1}}}"#;
    let e = Event::parse(Provider::Subnoto, BodyFormat::Json, body).unwrap();
    assert_eq!(e.unread_fields, ["eventTime", "data.title"]);
    assert_eq!((e.key.as_str(), e.subject.as_deref()), ("u1", Some("e1")));
    let body = br#"{"eventUuid":"u2","eventType":"ENVELOPE_SENT","data":"e1"}"#;
    let e = Event::parse(Provider::Subnoto, BodyFormat::Json, body).unwrap();
    assert_eq!((e.unread_fields, e.subject), (vec!["data"], None));
}

/// An `eventUuid` too long for a key is hashed; one that looks hashed is
/// hashed again, so no uuid can take another's key.
#[test]
fn long_event_uuids_are_hashed_into_keys() {
    let key = |uuid: &str| {
        let body = format!(r#"{{"eventUuid":"{uuid}","eventType":"ENVELOPE_SENT"}}"#);
        Event::parse(Provider::Subnoto, BodyFormat::Json, body.as_bytes())
            .unwrap()
            .key
    };
    let long = "a".repeat(5000);
    let hashed = key(&long);
    assert!(
        hashed.starts_with("uuid-sha256:") && hashed.len() == 12 + 64,
        "{hashed}"
    );
    assert_ne!(hashed, key(&"a".repeat(4999)));
    assert_eq!(key(&"b".repeat(128)), "b".repeat(128));
    assert!(key(&"b".repeat(129)).starts_with("uuid-sha256:"));
    // A short uuid spelled like a hashed key does not collide with the long one.
    assert_ne!(key(&hashed), hashed);
}

#[test]
fn unreadable_bodies_get_their_own_errors() {
    use verify::ParseError::*;
    let sd = Provider::SpotDraft;
    assert!(matches!(
        Event::parse(sd, BodyFormat::Json, b"not json"),
        Err(NotJson(_))
    ));
    assert_eq!(
        Event::parse(sd, BodyFormat::Json, b"[1,2]"),
        Err(NotAnObject)
    );
    assert_eq!(
        Event::parse(Provider::Subnoto, BodyFormat::Form, b"other=1"),
        Err(MissingFormPayload)
    );
    // Events without a subject are valid: subject is simply absent.
    let e = Event::parse(
        Provider::Subnoto,
        BodyFormat::Json,
        br#"{"eventType":"TEAM_UPDATED","eventTime":1}"#,
    )
    .unwrap();
    assert_eq!(e.subject, None);
}

#[test]
fn signed_non_json_verifies_then_fails_parsing() {
    use verify::{Rejection, SecretSet, Verifier};
    let verifier = Verifier::new(SecretSet::new(Provider::Subnoto, ["whsec_x"]).unwrap());
    let body = b"\x00\xffnot json at all";
    let headers = verifier.sign(body, 1_000_000, BodyFormat::Json);
    assert!(verifier.verify(&headers, body, 1_000_000).is_ok());
    assert!(matches!(
        verifier.verify_and_parse(&headers, body, 1_000_000),
        Err(Rejection::Parse(verify::ParseError::NotJson(_)))
    ));
    // Nothing of the body leaks into the message.
    let msg = verifier
        .verify_and_parse(&headers, body, 1_000_000)
        .unwrap_err()
        .to_string();
    assert!(!msg.contains("not json at all"), "{msg}");
}
