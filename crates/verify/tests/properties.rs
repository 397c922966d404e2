//! Property tests: sign → verify round trips for arbitrary bodies and secrets;
//! any flipped byte fails; arbitrary input never panics.

use proptest::prelude::*;
use verify::{BodyFormat, Event, Provider, SecretSet, Verifier};

#[path = "support/subnoto_reference.rs"]
mod subnoto_reference;
use subnoto_reference::{exact_canonical, refusal, subnoto_reference};

const NOW: i64 = 1_795_341_601_234;

fn spotdraft_secret() -> impl Strategy<Value = String> {
    prop::collection::vec(any::<u8>(), 1..96).prop_map(|k| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(k)
    })
}

fn subnoto_secret() -> impl Strategy<Value = String> {
    "[!-~]{1,64}"
}

fn header_value(headers: &[(String, String)], name: &str) -> String {
    headers.iter().find(|(k, _)| k == name).unwrap().1.clone()
}

fn with_header(headers: &[(String, String)], name: &str, value: String) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| (k.clone(), if k == name { value.clone() } else { v.clone() }))
        .collect()
}

/// Flips one hex digit of a hex string at `index` to a different hex digit.
fn flip_hex(s: &str, index: usize) -> String {
    let mut bytes = s.as_bytes().to_vec();
    let i = index % bytes.len();
    bytes[i] = if bytes[i] == b'0' { b'1' } else { b'0' };
    String::from_utf8(bytes).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn spotdraft_round_trip_and_tamper(secret in spotdraft_secret(), body in prop::collection::vec(any::<u8>(), 0..2048), flip in any::<usize>(), bit in 0u8..8) {
        let v = Verifier::new(SecretSet::new(Provider::SpotDraft, [&secret]).unwrap());
        let headers = v.sign(&body, 0, BodyFormat::Json);
        prop_assert!(v.verify(&headers, &body, NOW).is_ok());
        // The free function agrees with the prepared-key signer.
        let sig = header_value(&headers, verify::spotdraft::SIGNATURE_HEADER);
        prop_assert_eq!(verify::spotdraft::sign(&secret, &body), Some(sig.clone()));
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip % body.len()] ^= 1 << bit;
            prop_assert!(v.verify(&headers, &tampered, NOW).is_err());
        }
        let bad = with_header(&headers, verify::spotdraft::SIGNATURE_HEADER, flip_hex(&sig, flip));
        prop_assert!(v.verify(&bad, &body, NOW).is_err());
    }

    #[test]
    fn subnoto_round_trip_and_tamper(secret in subnoto_secret(), body in prop::collection::vec(any::<u8>(), 0..2048), skew in -300_000i64..=300_000, flip in any::<usize>(), bit in 0u8..8) {
        let v = Verifier::new(SecretSet::new(Provider::Subnoto, [&secret]).unwrap());
        let t = NOW - skew;
        let headers = v.sign(&body, t, BodyFormat::Json);
        prop_assert!(v.verify(&headers, &body, NOW).is_ok());
        let value = header_value(&headers, verify::subnoto::SIGNATURE_HEADER);
        prop_assert_eq!(verify::subnoto::sign(&secret, t, &body), value.clone());
        if !body.is_empty() {
            let mut tampered = body.clone();
            tampered[flip % body.len()] ^= 1 << bit;
            prop_assert!(v.verify(&headers, &tampered, NOW).is_err());
        }
        // Flip a hex digit of the signature.
        let (ts, sig) = value.split_once(",v1=").unwrap();
        let bad = with_header(&headers, verify::subnoto::SIGNATURE_HEADER, format!("{ts},v1={}", flip_hex(sig, flip)));
        prop_assert!(v.verify(&bad, &body, NOW).is_err());
        // Change the timestamp by one millisecond (still within tolerance).
        let moved = t + if skew > 0 { 1 } else { -1 };
        let bad = with_header(&headers, verify::subnoto::SIGNATURE_HEADER, format!("t={moved},v1={sig}"));
        prop_assert_eq!(v.verify(&bad, &body, NOW), Err(verify::VerifyError::SignatureMismatch));
    }

    #[test]
    fn outside_tolerance_is_rejected_both_ways(secret in subnoto_secret(), past in 300_001i64..10_000_000_000, future in any::<bool>()) {
        let v = Verifier::new(SecretSet::new(Provider::Subnoto, [&secret]).unwrap());
        let t = if future { NOW + past } else { NOW - past };
        let headers = v.sign(b"{}", t, BodyFormat::Json);
        let is_outside = matches!(v.verify(&headers, b"{}", NOW), Err(verify::VerifyError::TimestampOutsideTolerance { .. }));
        prop_assert!(is_outside);
    }

    #[test]
    fn rotation_accepts_any_listed_secret(a in subnoto_secret(), b in subnoto_secret(), body in prop::collection::vec(any::<u8>(), 0..256)) {
        prop_assume!(a != b);
        let old = Verifier::new(SecretSet::new(Provider::Subnoto, [&b]).unwrap());
        let both = Verifier::new(SecretSet::new(Provider::Subnoto, [&a, &b]).unwrap());
        let only_new = Verifier::new(SecretSet::new(Provider::Subnoto, [&a]).unwrap());
        let headers = old.sign(&body, NOW, BodyFormat::Json);
        prop_assert!(both.verify(&headers, &body, NOW).is_ok());
        prop_assert_eq!(only_new.verify(&headers, &body, NOW), Err(verify::VerifyError::SignatureMismatch));
    }

    #[test]
    fn arbitrary_input_never_panics(sig in ".{0,200}", ct in ".{0,60}", body in prop::collection::vec(any::<u8>(), 0..512)) {
        for provider in Provider::ALL {
            let secret = match provider { Provider::SpotDraft => "c2VjcmV0", Provider::Subnoto | Provider::DocuSign => "secret" };
            let v = Verifier::new(SecretSet::new(provider, [secret]).unwrap());
            let headers = vec![
                ("content-type".to_string(), ct.clone()),
                (verify::spotdraft::SIGNATURE_HEADER.to_string(), sig.clone()),
                (verify::subnoto::SIGNATURE_HEADER.to_string(), sig.clone()),
            ];
            let _ = v.verify_and_parse(&headers, &body, NOW);
            let _ = Event::parse(provider, BodyFormat::Json, &body);
            let _ = Event::parse(provider, BodyFormat::Form, &body);
        }
    }

    #[test]
    fn arbitrary_json_values_never_panic(s in "\\{(\"[a-zA-Z_]{1,12}\":(null|true|-?[0-9]{1,25}|\"[^\"\\\\]{0,10}\"|\\{\\}|\\[\\]),?){0,8}\\}") {
        for provider in Provider::ALL {
            let _ = Event::parse(provider, BodyFormat::Json, s.as_bytes());
        }
    }
}

/// A Subnoto body: mostly a payload object with known members (repeated, in
/// any order, names sometimes escaped, values of the right type or not) among
/// unknown ones; sometimes other JSON, trailing garbage or nothing.
fn subnoto_payload() -> impl Strategy<Value = String> {
    // A member name as sent: plain, or with one character escaped.
    fn name(n: &'static str) -> impl Strategy<Value = String> {
        prop_oneof![
            4 => Just(format!("\"{n}\"")),
            1 => Just(format!("\"{}\\u{:04x}{}\"", &n[..1], n.as_bytes()[1], &n[2..])),
        ]
    }
    let string = prop_oneof![
        Just("\"\"".to_owned()),
        "[a-z0-9-]{1,12}".prop_map(|s| format!("\"{s}\"")),
        Just("\"M\\u00fcller\\n\"".to_owned()),
    ];
    let value = prop_oneof![
        6 => string.clone(),
        1 => Just("null".to_owned()),
        1 => json_text(),
    ];
    let ws = prop_oneof![4 => Just(""), 1 => Just(" "), 1 => Just("\n\t ")];
    let data_member = (
        prop_oneof![
            Just("envelopeUuid"),
            Just("title"),
            Just("envelopeTitle"),
            Just("workspaceUuid"),
            Just("documentUuid"),
            Just("recipientName"),
            Just("recipientEmail"),
            Just("other"),
        ]
        .prop_flat_map(name),
        value.clone(),
        ws.clone(),
    )
        .prop_map(|(k, v, ws)| format!("{k}{ws}:{ws}{v}"));
    let data = prop_oneof![
        8 => prop::collection::vec(data_member, 0..10).prop_map(|m| format!("{{{}}}", m.join(","))),
        1 => Just("null".to_owned()),
        1 => json_text(),
    ];
    let event_type = prop_oneof![
        4 => Just("\"ENVELOPE_SIGNED\"".to_owned()),
        2 => Just("\"ENVELOPE_SENT\"".to_owned()),
        1 => value.clone(),
    ];
    let time = prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| format!("\"{n}\"")),
        Just("1.5".to_owned()),
        Just("18446744073709551615".to_owned()),
        value.clone(),
    ];
    let member = prop_oneof![
        2 => (name("eventUuid"), value.clone()),
        2 => (name("eventType"), event_type),
        2 => (name("eventTime"), time),
        3 => (name("data"), data),
        1 => ("[a-z]{1,9}".prop_map(|k| format!("\"{k}\"")), json_text()),
    ];
    let object = (
        prop::collection::vec((member, ws.clone()), 0..8),
        ws.clone(),
    )
        .prop_map(|(members, ws)| {
            let members: Vec<String> = members
                .into_iter()
                .map(|((k, v), ws)| format!("{ws}{k}{ws}:{ws}{v}{ws}"))
                .collect();
            format!("{ws}{{{}}}{ws}", members.join(","))
        });
    prop_oneof![
        12 => object.clone(),
        1 => json_text(),
        1 => object.prop_map(|o| format!("{o} x")),
        1 => Just(String::new()),
    ]
}

/// JSON text with nesting, escapes, non-ASCII, floats, big integers, odd
/// whitespace and repeated member names: what a canonical form must not depend on.
fn json_text() -> impl Strategy<Value = String> {
    let name = prop_oneof![
        "[a-z]{1,3}",
        Just("a".to_owned()),
        Just("\\u00e9t\\u00e9".to_owned()),
        Just("été".to_owned()),
        Just("a\\nb".to_owned()),
    ]
    .prop_map(|n| format!("\"{n}\""));
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("false".to_owned()),
        any::<i64>().prop_map(|n| n.to_string()),
        any::<u64>().prop_map(|n| n.to_string()),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| format!("{f:e}")),
        "-?(0|[1-9][0-9]{0,2})\\.[0-9]{1,20}(e[+-]?[0-9]{1,2})?",
        "[ -~]{0,12}".prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("\"M\\u00fcller \\\"&\\\" S\\u00f8n\\n\\ud83d\\ude00\"".to_owned()),
        Just("\"x\\/y\"".to_owned()),
    ];
    leaf.prop_recursive(4, 48, 6, move |inner| {
        let ws = prop_oneof![Just(""), Just(" "), Just("\n\t ")];
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..6), ws.clone())
                .prop_map(|(items, ws)| format!("[{ws}{}]", items.join(&format!(",{ws}")))),
            (prop::collection::vec((name.clone(), inner), 0..6), ws).prop_map(|(members, ws)| {
                let members: Vec<String> = members
                    .into_iter()
                    .map(|(k, v)| format!("{k}{ws}:{ws}{v}"))
                    .collect();
                format!("{{{ws}{}{ws}}}", members.join(","))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// The SpotDraft dedup key agrees with the plain route: parse into a
    /// `serde_json::Value` (numbers kept as their text), `canonical_json`,
    /// SHA-256. The parser computes it from its own borrowed tree, so this
    /// checks the two cannot drift.
    #[test]
    fn spotdraft_key_is_sha256_of_canonical_json(inner in json_text(), extra in json_text()) {
        let body = format!(r#"{{"extra":{extra},"activity":"CONTRACT_EDITED","data":{inner},"activity":"CONTRACT_EDITED"}}"#);
        let expected = const_hex::encode(<sha2::Sha256 as sha2::Digest>::digest(exact_canonical(&body).as_bytes()));
        let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body.as_bytes()).unwrap();
        prop_assert_eq!(event.key, expected);
    }

    /// `external_metadata` comes out as the canonical JSON of what was sent,
    /// every number exactly as written.
    #[test]
    fn spotdraft_external_metadata_is_exact(meta in json_text()) {
        let body = format!(r#"{{"activity":"CONTRACT_EDITED","external_metadata":{meta}}}"#);
        let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body.as_bytes()).unwrap();
        let expected = exact_canonical(&meta);
        prop_assert_eq!(event.external_metadata.as_ref().map(|m| m.get()), (expected != "null").then_some(expected.as_str()));
    }

    /// Reading Subnoto member by member gives what a full `serde_json::Value`
    /// reading gives: the same event, or the same kind of refusal, whatever the
    /// order, repetition, spelling and types of the members.
    #[test]
    fn subnoto_agrees_with_a_value_reading(body in subnoto_payload()) {
        let read = Event::parse(Provider::Subnoto, BodyFormat::Json, body.as_bytes());
        prop_assert_eq!(read.map_err(refusal), subnoto_reference(&body), "{}", body);
    }

    /// Subnoto reads only its members and checks the rest: extra members of any
    /// shape change nothing, and without `eventUuid` the key is the SHA-256 of
    /// the canonical JSON, as for SpotDraft.
    #[test]
    fn subnoto_extra_members_do_not_matter(extra in json_text(), with_uuid in any::<bool>()) {
        let uuid = if with_uuid { r#""eventUuid":"0f29a0a2-3a6f-44a4-b2a2-5d7b3f1b1f9b","# } else { "" };
        let plain = format!(r#"{{{uuid}"eventType":"ENVELOPE_SIGNED","eventTime":1795341600000,"data":{{"envelopeUuid":"e1","recipientEmail":"j@example.com"}}}}"#);
        let padded = format!(r#"{{"x":{extra},{uuid}"eventType":"ENVELOPE_SIGNED","y":{extra},"eventTime":1795341600000,"data":{{"envelopeUuid":"e1","z":{extra},"recipientEmail":"j@example.com"}}}}"#);
        let a = Event::parse(Provider::Subnoto, BodyFormat::Json, plain.as_bytes()).unwrap();
        let b = Event::parse(Provider::Subnoto, BodyFormat::Json, padded.as_bytes()).unwrap();
        if with_uuid {
            prop_assert_eq!(a, b);
        } else {
            let expected = const_hex::encode(<sha2::Sha256 as sha2::Digest>::digest(exact_canonical(&padded).as_bytes()));
            prop_assert_eq!(&b.key, &expected);
            prop_assert_eq!(Event { key: a.key.clone(), ..b }, a);
        }
    }
}
