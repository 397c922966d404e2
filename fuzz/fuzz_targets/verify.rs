//! `Verifier::verify_and_parse` for both providers on arbitrary bytes and
//! header values: it must never panic, whatever the headers, clock or body.
//!
//! Input layout (so seeds can be written by hand, see `fuzz/seed_corpus.py`):
//!
//! ```text
//! byte 0      flags: bit 0 provider (0 SpotDraft, 1 Subnoto)
//!                    bit 1 replace the signature with a correct one at now_ms
//!                    bit 2 send the Content-Type line (else no header)
//!                    bit 3 send the signature line (else no header)
//!                    bit 4 header names in lower case
//! bytes 1..9  now_ms, i64 little-endian
//! bytes 9..13 tolerance_ms, u32 little-endian (0xFFFFFFFF = default)
//! then three lines ending in '\n': signature header value, Content-Type
//! value, secrets separated by '\t' (empty: the provider's test secret);
//! the rest is the body.
//! ```
#![no_main]

use libfuzzer_sys::fuzz_target;
use verify::{docusign, spotdraft, subnoto, Provider, Rejection, SecretSet, Verifier, VerifyError};

const SPOTDRAFT_KEY: &str =
    "c3BvdGRyYWZ0LXB1YmxpYy10ZXN0LWtleS0wMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDA=";
const SUBNOTO_SECRET: &str = "whsec_subnoto_public_test_secret_0001";
const DOCUSIGN_KEY: &str = "ZHMtY29ubmVjdC1wdWJsaWMtdGVzdC1rZXktb25lLTA=";

fn take<'a>(data: &mut &'a [u8], n: usize) -> &'a [u8] {
    let n = n.min(data.len());
    let (head, rest) = data.split_at(n);
    *data = rest;
    head
}

fn line(data: &mut &[u8]) -> String {
    let end = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let text = String::from_utf8_lossy(take(data, end)).into_owned();
    take(data, 1);
    text
}

fn int<const N: usize>(data: &mut &[u8]) -> [u8; N] {
    let mut buf = [0u8; N];
    let bytes = take(data, N);
    buf[..bytes.len()].copy_from_slice(bytes);
    buf
}

fuzz_target!(|data: &[u8]| {
    let mut data = data;
    let flags = take(&mut data, 1).first().copied().unwrap_or(0);
    let now_ms = i64::from_le_bytes(int(&mut data));
    let tolerance = u32::from_le_bytes(int(&mut data));
    let signature = line(&mut data);
    let content_type = line(&mut data);
    let secrets = line(&mut data);
    let body = data;

    let provider = match (flags & 1 != 0, flags & 32 != 0) {
        (false, false) => Provider::SpotDraft,
        (true, false) => Provider::Subnoto,
        (_, true) => Provider::DocuSign,
    };
    let secrets: Vec<&str> = if secrets.is_empty() {
        vec![match provider {
            Provider::SpotDraft => SPOTDRAFT_KEY,
            Provider::Subnoto => SUBNOTO_SECRET,
            Provider::DocuSign => DOCUSIGN_KEY,
        }]
    } else {
        secrets.split('\t').collect()
    };
    let Ok(set) = SecretSet::new(provider, &secrets) else {
        return;
    };
    let mut verifier = Verifier::new(set);
    if tolerance != u32::MAX {
        verifier = verifier.with_tolerance_ms(u64::from(tolerance));
    }

    let (sig_name, ct_name) = match (provider, flags & 16 != 0) {
        (Provider::SpotDraft, false) => (spotdraft::SIGNATURE_HEADER, "Content-Type"),
        (Provider::Subnoto, false) => (subnoto::SIGNATURE_HEADER, "Content-Type"),
        (Provider::SpotDraft, true) => ("x-sd-webhook-content-hash", "content-type"),
        (Provider::Subnoto, true) => ("x-webhook-signature", "content-type"),
        (Provider::DocuSign, false) => (docusign::SIGNATURE_HEADER, "Content-Type"),
        (Provider::DocuSign, true) => ("x-docusign-signature-1", "content-type"),
    };
    let mut headers: Vec<(String, String)> = Vec::new();
    if flags & 4 != 0 {
        headers.push((ct_name.to_owned(), content_type.clone()));
    }
    if flags & 2 != 0 {
        // A correct signature, so the parse step behind verification is reached.
        let format = verify::BodyFormat::from_content_type(provider, Some(&content_type))
            .unwrap_or(verify::BodyFormat::Json);
        // Every header the provider sends (DocuSign's digest header too), in
        // the case the flags chose.
        for (name, value) in verifier.sign(body, now_ms, format) {
            if !name.eq_ignore_ascii_case("content-type") {
                let name = if flags & 16 != 0 {
                    name.to_ascii_lowercase()
                } else {
                    name
                };
                headers.push((name, value));
            }
        }
    } else if flags & 8 != 0 {
        headers.push((sig_name.to_owned(), signature));
    }

    let verified = verifier.verify(&headers, body, now_ms);
    let result = verifier.verify_and_parse(&headers, body, now_ms);
    // The two entry points agree on whether the signature holds.
    match (&verified, &result) {
        (Ok(_), Err(Rejection::Verify(e))) => panic!("verify passed, verify_and_parse: {e}"),
        (Err(e), Ok(_)) => panic!("verify failed ({e}), verify_and_parse accepted"),
        _ => {}
    }
    // Nothing is accepted without the signature header.
    if !headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case(sig_name))
    {
        assert!(matches!(
            verified,
            Err(VerifyError::MissingHeader(_) | VerifyError::UnsupportedContentType { .. })
        ));
    }
    // A correct signature made at now_ms (non-negative, so `t` is digits) with
    // a supported content type always verifies.
    if flags & 2 != 0 && now_ms >= 0 && now_ms < 10_000_000_000_000_000 {
        if let Err(e) = &verified {
            assert!(
                matches!(e, VerifyError::UnsupportedContentType { .. }),
                "own signature rejected: {e}"
            );
        }
    }
    if let Ok(event) = &result {
        assert_eq!(event.provider, provider);
    }
});
