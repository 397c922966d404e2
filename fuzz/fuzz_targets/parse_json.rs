//! `Event::parse` of a JSON body for both providers: never panics; a parsed
//! event round-trips through serde_json; canonical JSON is idempotent; Subnoto's
//! member reader agrees with a `serde_json::Value` reading.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verify::{BodyFormat, Provider};

#[path = "common.rs"]
mod common;

fuzz_target!(|body: &[u8]| {
    for provider in [Provider::SpotDraft, Provider::Subnoto] {
        common::check_parse(provider, BodyFormat::Json, body);
    }
    common::check_canonical(body);
    common::check_subnoto_against_value(body);
});
