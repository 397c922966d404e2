//! `Event::parse` of a form body (`payload=<json>`) for both providers: never
//! panics; a parsed event round-trips through serde_json; canonical JSON of the
//! decoded payload is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verify::{BodyFormat, Provider};

#[path = "common.rs"]
mod common;

fuzz_target!(|body: &[u8]| {
    for provider in [Provider::SpotDraft, Provider::Subnoto] {
        common::check_parse(provider, BodyFormat::Form, body);
    }
    // The same lookup as `Event::parse`: the first `payload` field, decoded.
    if let Some((_, payload)) = form_urlencoded::parse(body).find(|(name, _)| name == "payload") {
        common::check_canonical(payload.as_bytes());
    }
});
