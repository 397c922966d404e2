//! Property tests: sign → verify round trips for arbitrary bodies and secrets;
//! any flipped byte fails; arbitrary input never panics.

use proptest::prelude::*;
use verify::{BodyFormat, Event, Provider, SecretSet, Verifier};

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
            let secret = match provider { Provider::SpotDraft => "c2VjcmV0", Provider::Subnoto => "secret" };
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
