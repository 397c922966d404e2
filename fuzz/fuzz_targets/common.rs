//! Checks shared by the payload targets.

use serde_json::Value;
use verify::{canonical_json, BodyFormat, Event, Provider};

/// Parses `body`; a parsed event must survive a serde_json round trip intact.
pub fn check_parse(provider: Provider, format: BodyFormat, body: &[u8]) {
    let Ok(event) = Event::parse(provider, format, body) else {
        return;
    };
    assert_eq!(event.provider, provider);
    let json = serde_json::to_string(&event).expect("an event always serialises");
    let back: Event = serde_json::from_str(&json).expect("a serialised event parses back");
    assert_eq!(
        back, event,
        "event changed in a serde_json round trip: {json}"
    );
    // The ledger key is built from the event alone and must not panic.
    let _ = event.ledger_key();
}

/// If `json` is a JSON value, its canonical form is JSON again and canonical
/// JSON of that is the same string (idempotent).
pub fn check_canonical(json: &[u8]) {
    let Ok(value) = serde_json::from_slice::<Value>(json) else {
        return;
    };
    let once = canonical_json(&value);
    let reparsed: Value = serde_json::from_str(&once)
        .unwrap_or_else(|e| panic!("canonical JSON does not parse ({e}): {once}"));
    let twice = canonical_json(&reparsed);
    assert_eq!(once, twice, "canonical JSON is not idempotent");
}
