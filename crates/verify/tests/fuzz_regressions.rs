//! Inputs found by `make fuzz` (fuzz/), each run through the same checks as the
//! fuzz target that found it. Add new findings here with the target's name.

use serde_json::Value;
use verify::{canonical_json, BodyFormat, Event, Provider};

/// The checks of fuzz/fuzz_targets/common.rs `check_parse`.
fn check_parse(provider: Provider, format: BodyFormat, body: &[u8]) {
    let Ok(event) = Event::parse(provider, format, body) else {
        return;
    };
    let json = serde_json::to_string(&event).unwrap();
    let back: Event = serde_json::from_str(&json).unwrap();
    // What could not be read is for the delivery's log line; it is not sent on.
    let sent = Event {
        unread_fields: Vec::new(),
        ..event
    };
    assert_eq!(
        back, sent,
        "event changed in a serde_json round trip: {json}"
    );
}

/// The checks of fuzz/fuzz_targets/common.rs `check_canonical`.
fn check_canonical(json: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let once = canonical_json(&value);
    let reparsed: Value = serde_json::from_str(&once).unwrap();
    assert_eq!(
        once,
        canonical_json(&reparsed),
        "canonical JSON is not idempotent"
    );
}

fn parse_json_target(body: &[u8]) {
    for provider in [Provider::SpotDraft, Provider::Subnoto] {
        check_parse(provider, BodyFormat::Json, body);
    }
    check_canonical(body);
}

/// parse_json, crash-9ce9bf93bb788b42181cc8d29c69ca1ebdaa5564: serde_json's default
/// float parser read `333312166662316E33` one ulp off, and its shortest rendering
/// then parsed to a different float, so canonical JSON changed on a second pass.
/// Fixed by serde_json's `float_roundtrip` feature (crates/verify/Cargo.toml).
#[test]
fn parse_json_float_canonical_idempotent() {
    parse_json_target(b"333312166662316E33");
}

/// The same float inside SpotDraft `external_metadata` changed when the event
/// went through serde_json (the queue message), before the fix.
#[test]
fn parse_json_float_in_external_metadata_round_trips() {
    let body =
        br#"{"activity":"CONTRACT_CREATED","external_metadata":{"score":333312166662316E33}}"#;
    parse_json_target(body);
    let event = Event::parse(Provider::SpotDraft, BodyFormat::Json, body).unwrap();
    // Kept exactly as sent (it used to go through f64).
    assert_eq!(
        event.external_metadata.as_ref().unwrap().get(),
        r#"{"score":333312166662316E33}"#
    );
}
