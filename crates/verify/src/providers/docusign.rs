//! DocuSign Connect: each active Connect HMAC key adds one header,
//! `X-DocuSign-Signature-1`, `-2`, …, holding the base64 HMAC-SHA256 of the raw
//! body keyed with that key's text. A delivery is authentic when any header
//! matches any configured key. No timestamp: replays are caught by the
//! ledger's dedup, nothing else (see the README).

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::VerifyError;
use crate::event::{Event, Signer};
use crate::fields::{Epoch, Lenient};
use crate::headers::Headers;
use crate::json::{Node, Object};
use crate::provider::Provider;
use crate::secret::PreparedKey;

/// The first signature header; the others count on (`-2`, `-3`, …).
pub const SIGNATURE_HEADER: &str = "X-DocuSign-Signature-1";
/// The header naming the algorithm, as DocuSign sends it beside the
/// signatures (informational: verification does not depend on it).
pub const DIGEST_HEADER: &str = "X-Authorization-Digest";
/// [`DIGEST_HEADER`]'s value.
pub const DIGEST_VALUE: &str = "HMACSHA256";
/// What every signature header's name starts with.
pub const SIGNATURE_HEADER_PREFIX: &str = "X-DocuSign-Signature-";
/// Signature headers read at most (DocuSign allows an account a handful of
/// active keys; anything past this is not DocuSign's).
pub const MAX_SIGNATURE_HEADERS: usize = 100;

const SIGNATURE_BYTES: usize = 32;

/// The header value DocuSign would send for `body` with the Connect key `key`.
pub fn sign(key: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("HMAC takes any key");
    mac.update(body);
    STANDARD.encode(mac.finalize().into_bytes())
}

pub(crate) fn sign_prepared(key: &PreparedKey, body: &[u8]) -> String {
    STANDARD.encode(digest(key, body))
}

fn digest(key: &PreparedKey, body: &[u8]) -> [u8; SIGNATURE_BYTES] {
    let PreparedKey::Sha256(mac) = key else {
        unreachable!("DocuSign secret sets hold SHA-256 keys")
    };
    let mut mac = mac.clone();
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// The signature headers present, in order (`-1`, `-2`, … as sent; a gap
/// does not end the scan, since a deleted key may leave one).
fn signature_headers<H: Headers + ?Sized>(headers: &H) -> Vec<&str> {
    let mut name = String::with_capacity(SIGNATURE_HEADER_PREFIX.len() + 3);
    (1..=MAX_SIGNATURE_HEADERS)
        .filter_map(|i| {
            name.clear();
            name.push_str(SIGNATURE_HEADER_PREFIX);
            name.push_str(&i.to_string());
            headers.header(&name)
        })
        .collect()
}

pub(crate) fn verify<H: Headers + ?Sized>(
    keys: &[PreparedKey],
    headers: &H,
    body: &[u8],
) -> Result<(), VerifyError> {
    let sent = signature_headers(headers);
    if sent.is_empty() {
        return Err(VerifyError::MissingHeader(SIGNATURE_HEADER));
    }
    let decoded: Vec<[u8; SIGNATURE_BYTES]> = sent
        .iter()
        .filter_map(|value| {
            let bytes = STANDARD.decode(value.trim()).ok()?;
            <[u8; SIGNATURE_BYTES]>::try_from(bytes.as_slice()).ok()
        })
        .collect();
    if decoded.is_empty() {
        return Err(VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "no header holds a base64 HMAC-SHA256 (32 bytes)",
        });
    }
    // One digest per key; every key against every header, in constant time
    // each, and all of them, so timing tells nothing of which matched.
    let mut matched = subtle::Choice::from(0);
    for key in keys {
        let expected = digest(key, body);
        for sent in &decoded {
            matched |= expected.ct_eq(sent);
        }
    }
    if bool::from(matched) {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// Top-level members DocuSign changes when it sends one notification again
/// (its retry count, and when this copy was generated): left out of the dedup
/// key, so every retry of a notification has the key of the first delivery.
pub const RETRY_FIELDS: [&str; 2] = ["retryCount", "generatedDateTime"];

/// The dedup key source: the payload object without [`RETRY_FIELDS`].
pub(crate) fn key_object<'a>(root: &Object<'a>) -> Node<'a> {
    Node::Object(root.without(&RETRY_FIELDS))
}

/// Normalises a Connect JSON payload into an [`Event`]. Never refuses: a
/// field that cannot be read is left out and noted in
/// [`Event::unread_fields`]. `status` is the envelope's status as DocuSign
/// reports it (`envelopeSummary.status`); the status table derives its own
/// from the event type and that (`domain::sync`).
pub(crate) fn parse(root: &Object<'_>, key: String) -> Event {
    let mut read = Lenient::default();
    let event_type = read
        .owned(root.get("event"), "event")
        .unwrap_or_else(|| read.unread::<String>("event").unwrap_or_default());
    let data = read.object(root.get("data"), "data");
    let summary = data.and_then(|d| read.object(d.get("envelopeSummary"), "data.envelopeSummary"));
    let subject = data
        .and_then(|d| read.owned(d.get("envelopeId"), "data.envelopeId"))
        .or_else(|| {
            summary.and_then(|s| read.owned(s.get("envelopeId"), "data.envelopeSummary.envelopeId"))
        });
    let occurred_at_ms = read
        .time_ms(
            root.get("generatedDateTime"),
            "generatedDateTime",
            Epoch::Millis,
        )
        .or_else(|| {
            summary.and_then(|s| {
                read.time_ms(
                    s.get("statusChangedDateTime"),
                    "data.envelopeSummary.statusChangedDateTime",
                    Epoch::Millis,
                )
            })
        });
    let recipient_id = data.and_then(|d| read.owned(d.get("recipientId"), "data.recipientId"));
    let signer = match (recipient_id.as_deref(), summary) {
        (Some(id), Some(summary)) => recipient(summary, id),
        _ => None,
    };
    Event {
        provider: Provider::DocuSign,
        key,
        event_type,
        subject,
        occurred_at_ms,
        status: summary.and_then(|s| read.owned(s.get("status"), "data.envelopeSummary.status")),
        title: summary
            .and_then(|s| read.owned(s.get("emailSubject"), "data.envelopeSummary.emailSubject")),
        reference: None,
        external_metadata: None,
        contract_kind: None,
        workspace: data.and_then(|d| read.owned(d.get("accountId"), "data.accountId")),
        document_id: None,
        counterparty: None,
        signer,
        unread_fields: read.unread,
    }
}

/// The recipient `id` among the envelope's recipients (signers first), as a
/// signer; `None` when the summary does not list it.
fn recipient(summary: &Object<'_>, id: &str) -> Option<Signer> {
    let recipients = summary.get("recipients")?.as_object()?;
    [
        "signers",
        "carbonCopies",
        "certifiedDeliveries",
        "inPersonSigners",
        "agents",
        "editors",
        "intermediaries",
        "witnesses",
    ]
    .iter()
    .filter_map(|group| recipients.get(group)?.as_array())
    .flatten()
    .filter_map(Node::as_object)
    .find(|r| {
        r.get("recipientId")
            .and_then(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .or_else(|| v.number_text().map(|t| t.into_owned()))
            })
            .as_deref()
            == Some(id)
    })
    .and_then(|r| {
        let text = |name| r.get(name).and_then(Node::as_str).filter(|s| !s.is_empty());
        Signer::from_parts(text("name"), text("email"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;
    use crate::secret::SecretSet;

    fn keys(secrets: &[&str]) -> SecretSet {
        SecretSet::new(Provider::DocuSign, secrets.iter().copied()).unwrap()
    }

    #[test]
    fn any_header_matching_any_key_verifies() {
        let body = br#"{"event":"envelope-sent"}"#;
        let set = keys(&["old-key", "new-key"]);
        let good = sign("new-key", body);
        let other = sign("someone-else", body);
        for headers in [
            vec![("X-DocuSign-Signature-1", good.as_str())],
            vec![
                ("X-DocuSign-Signature-1", other.as_str()),
                ("x-docusign-signature-2", good.as_str()),
            ],
            // A gap where a deleted key was.
            vec![
                ("X-DocuSign-Signature-1", other.as_str()),
                ("X-DocuSign-Signature-3", good.as_str()),
            ],
        ] {
            assert_eq!(verify(set.keys(), &headers, body), Ok(()), "{headers:?}");
        }
        let only_other = vec![("X-DocuSign-Signature-1", other.as_str())];
        assert_eq!(
            verify(set.keys(), &only_other, body),
            Err(VerifyError::SignatureMismatch)
        );
        let tampered = vec![("X-DocuSign-Signature-1", good.as_str())];
        assert_eq!(
            verify(set.keys(), &tampered, br#"{"event":"envelope-voided"}"#),
            Err(VerifyError::SignatureMismatch)
        );
    }

    #[test]
    fn missing_and_malformed_headers_are_told_apart() {
        let set = keys(&["k"]);
        let none: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
        assert_eq!(
            verify(set.keys(), &none, b"{}"),
            Err(VerifyError::MissingHeader(SIGNATURE_HEADER))
        );
        for bad in ["not base64!!", "c2hvcnQ=", ""] {
            let headers = vec![("X-DocuSign-Signature-1", bad)];
            assert!(
                matches!(
                    verify(set.keys(), &headers, b"{}"),
                    Err(VerifyError::MalformedHeader { .. })
                ),
                "{bad}"
            );
        }
        // One bad header beside a good one does not spoil it.
        let good = sign("k", b"{}");
        let headers = vec![
            ("X-DocuSign-Signature-1", "@@@"),
            ("X-DocuSign-Signature-2", good.as_str()),
        ];
        assert_eq!(verify(set.keys(), &headers, b"{}"), Ok(()));
    }
}
