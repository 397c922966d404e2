//! `SignatureHeader::parse` on arbitrary UTF-8: never panics, and what it
//! accepts obeys the documented shape.
#![no_main]

use libfuzzer_sys::fuzz_target;
use verify::subnoto::SignatureHeader;

fuzz_target!(|value: &str| {
    if let Ok(header) = SignatureHeader::parse(value) {
        assert!(header.timestamp_ms >= 0);
        assert_eq!(
            header.timestamp.parse::<i64>().ok(),
            Some(header.timestamp_ms)
        );
        assert!(!header.signatures().is_empty() && header.signatures().len() <= 8);
        assert!(value.contains(header.timestamp));
    }
});
