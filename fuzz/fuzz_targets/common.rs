//! Checks shared by the payload targets.

use serde_json::Value;
use verify::{canonical_json, BodyFormat, Event, Provider};

#[path = "../../crates/verify/tests/support/subnoto_reference.rs"]
mod subnoto_reference;

/// Parses `body`; a parsed event must survive a serde_json round trip intact.
pub fn check_parse(provider: Provider, format: BodyFormat, body: &[u8]) {
    let Ok(event) = Event::parse(provider, format, body) else {
        return;
    };
    assert_eq!(event.provider, provider);
    let json = serde_json::to_string(&event).expect("an event always serialises");
    let back: Event = serde_json::from_str(&json).expect("a serialised event parses back");
    // The ledger key is built from the event alone and must not panic.
    let _ = event.ledger_key();
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

/// Where `json` is JSON by serde_json's own reading, Subnoto's member-by-member
/// reader gives the same event (or the same kind of refusal) as reading it
/// through a `serde_json::Value`. (Where it is not, the reader may still accept
/// it: values it skips are checked for syntax only.)
pub fn check_subnoto_against_value(json: &[u8]) {
    let Ok(text) = std::str::from_utf8(json) else {
        return;
    };
    let read = Event::parse(Provider::Subnoto, BodyFormat::Json, json);
    let reference = subnoto_reference::subnoto_reference(text);
    if reference == Err(subnoto_reference::Refusal::NotJson) {
        // Not JSON to serde_json: the reader must refuse it too, unless all that
        // is wrong sits in a value it skips (a number out of range, nesting past
        // 128, a lone surrogate), which it checks for syntax only.
        return;
    }
    assert_eq!(
        read.map_err(subnoto_reference::refusal),
        reference,
        "Subnoto reader and Value reading disagree on {text}"
    );
}
