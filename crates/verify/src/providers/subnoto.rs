//! Subnoto: `X-Webhook-Signature: t=<unix ms>,v1=<hex>`, where `v1` is the
//! HMAC-SHA256 of `t:` + t + `:` + raw body, keyed with the secret's UTF-8 bytes.
//! `X-Webhook-Id` names the subscription, not the delivery.

use hmac::{Hmac, Mac};
use serde::de::MapAccess;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::error::{ParseError, VerifyError};
use crate::event::{Event, Signer};
use crate::fields::{Epoch, Lenient};
use crate::headers::Headers;
use crate::json::{Members, Node, ReadInto, Shape};
use crate::provider::Provider;
use crate::secret::PreparedKey;

/// The signature header Subnoto sends.
pub const SIGNATURE_HEADER: &str = "X-Webhook-Signature";
/// The subscription id header Subnoto sends.
pub const WEBHOOK_ID_HEADER: &str = "X-Webhook-Id";

const SIGNATURE_BYTES: usize = 32;
/// More `v1` entries than this is not a rotation, it is an attempt to make the
/// receiver do work.
const MAX_SIGNATURES: usize = 8;

/// A parsed `X-Webhook-Signature` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureHeader<'a> {
    /// `t` exactly as sent: the MAC covers these characters, not a re-rendering.
    pub timestamp: &'a str,
    /// `t` as Unix milliseconds.
    pub timestamp_ms: i64,
    signatures: [[u8; SIGNATURE_BYTES]; MAX_SIGNATURES],
    count: usize,
}

fn malformed(reason: &'static str) -> VerifyError {
    VerifyError::MalformedHeader {
        header: SIGNATURE_HEADER,
        reason,
    }
}

impl<'a> SignatureHeader<'a> {
    /// Parses `t=<ms>,v1=<hex>[,v1=<hex>…]`. Unknown keys (future schemes) are
    /// ignored; `t` and at least one `v1` are required. Spaces and tabs around
    /// parts, keys and values are allowed.
    pub fn parse(value: &'a str) -> Result<Self, VerifyError> {
        let mut timestamp = None;
        let mut signatures = [[0u8; SIGNATURE_BYTES]; MAX_SIGNATURES];
        let mut count = 0;
        // Byte-wise: every delimiter is ASCII, so the pieces are whole UTF-8.
        // `memchr` finds them with SIMD: a `v1` part is 67 bytes long.
        let mut rest = Some(value.as_bytes());
        while let Some(text) = rest {
            let part = match memchr::memchr(b',', text) {
                Some(comma) => {
                    rest = Some(&text[comma + 1..]);
                    &text[..comma]
                }
                None => {
                    rest = None;
                    text
                }
            };
            let part = part.trim_ascii();
            if part.is_empty() {
                continue;
            }
            let eq = memchr::memchr(b'=', part)
                .ok_or_else(|| malformed("expected comma-separated key=value pairs"))?;
            let (key, val) = (part[..eq].trim_ascii(), part[eq + 1..].trim_ascii());
            match key {
                b"t" => {
                    if timestamp.is_some() {
                        return Err(malformed("more than one t"));
                    }
                    timestamp =
                        Some(std::str::from_utf8(val).map_err(|_| VerifyError::BadTimestamp)?);
                }
                b"v1" => {
                    if count == MAX_SIGNATURES {
                        return Err(malformed("too many v1 signatures"));
                    }
                    if val.len() != SIGNATURE_BYTES * 2 {
                        return Err(malformed("v1 must be 64 hex characters (HMAC-SHA256)"));
                    }
                    // Subnoto's own receiver compares the text with its lowercase
                    // `hexdigest()`: an upper-case digest is not Subnoto's.
                    if !crate::secret::is_lower_hex(val) {
                        return Err(malformed("v1 is not lowercase hexadecimal"));
                    }
                    const_hex::decode_to_slice(val, &mut signatures[count])
                        .map_err(|_| malformed("v1 is not hexadecimal"))?;
                    count += 1;
                }
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or_else(|| malformed("no t= timestamp"))?;
        if count == 0 {
            return Err(malformed("no v1= signature"));
        }
        let timestamp_ms = parse_timestamp(timestamp)?;
        Ok(SignatureHeader {
            timestamp,
            timestamp_ms,
            signatures,
            count,
        })
    }

    /// Every `v1` value, in order (a sender may list several during a rotation).
    pub fn signatures(&self) -> &[[u8; SIGNATURE_BYTES]] {
        &self.signatures[..self.count]
    }
}

fn parse_timestamp(t: &str) -> Result<i64, VerifyError> {
    if t.is_empty() || t.len() > 16 || !t.bytes().all(|b| b.is_ascii_digit()) {
        return Err(VerifyError::BadTimestamp);
    }
    t.parse().map_err(|_| VerifyError::BadTimestamp)
}

fn mac_over(mut mac: Hmac<Sha256>, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    mac.update(b"t:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Webhook-Signature` value Subnoto would send for `body` at `timestamp_ms`.
pub fn sign(secret: &str, timestamp_ms: i64, body: &[u8]) -> String {
    let mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    header_value(mac, timestamp_ms, body)
}

fn header_value(mac: Hmac<Sha256>, timestamp_ms: i64, body: &[u8]) -> String {
    let t = timestamp_ms.to_string();
    let sig = mac_over(mac, &t, body).finalize().into_bytes();
    format!("t={t},v1={}", const_hex::encode(sig))
}

pub(crate) fn sign_prepared(key: &PreparedKey, timestamp_ms: i64, body: &[u8]) -> String {
    let PreparedKey::Sha256(mac) = key else {
        unreachable!("Subnoto secret sets hold SHA-256 keys")
    };
    header_value(mac.clone(), timestamp_ms, body)
}

pub(crate) fn verify<H: Headers + ?Sized>(
    keys: &[PreparedKey],
    headers: &H,
    body: &[u8],
    now_ms: i64,
    tolerance_ms: u64,
) -> Result<(), VerifyError> {
    let value = headers
        .header(SIGNATURE_HEADER)
        .ok_or(VerifyError::MissingHeader(SIGNATURE_HEADER))?;
    let header = SignatureHeader::parse(value)?;
    let skew_ms = now_ms.saturating_sub(header.timestamp_ms);
    if skew_ms.unsigned_abs() > tolerance_ms {
        return Err(VerifyError::TimestampOutsideTolerance {
            skew_ms,
            tolerance_ms,
        });
    }
    let mut matched = false;
    for key in keys {
        let PreparedKey::Sha256(mac) = key else {
            continue;
        };
        let computed = mac_over(mac.clone(), header.timestamp, body)
            .finalize()
            .into_bytes();
        for sig in header.signatures() {
            // Constant-time comparison; every pair is tried.
            matched |= bool::from(computed.as_slice().ct_eq(sig));
        }
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// The members of a payload that [`parse`] reads. serde_json checks the
/// others for syntax and skips them; nothing is built for them.
#[derive(Debug, Default)]
pub(crate) struct Payload<'a> {
    event_uuid: Option<Node<'a>>,
    event_type: Option<Node<'a>>,
    event_time: Option<Node<'a>>,
    /// What `data` was, if sent; its members are in `data` when an object.
    data_shape: Option<Shape>,
    data: Data<'a>,
}

/// The members of `data` that [`parse`] reads.
#[derive(Debug, Default)]
pub(crate) struct Data<'a> {
    envelope_uuid: Option<Node<'a>>,
    title: Option<Node<'a>>,
    envelope_title: Option<Node<'a>>,
    workspace_uuid: Option<Node<'a>>,
    document_uuid: Option<Node<'a>>,
    recipient_name: Option<Node<'a>>,
    recipient_email: Option<Node<'a>>,
}

impl<'de> Members<'de> for Payload<'de> {
    fn read<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<bool, A::Error> {
        // Matching against literals lets the compiler compare names inline.
        match name {
            "eventUuid" => self.event_uuid = Some(map.next_value()?),
            "eventType" => self.event_type = Some(map.next_value()?),
            "eventTime" => self.event_time = Some(map.next_value()?),
            "data" => self.data_shape = Some(map.next_value_seed(ReadInto(&mut self.data))?),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

impl<'de> Members<'de> for Data<'de> {
    fn read<A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<bool, A::Error> {
        let slot = match name {
            "envelopeUuid" => &mut self.envelope_uuid,
            "title" => &mut self.title,
            "envelopeTitle" => &mut self.envelope_title,
            "workspaceUuid" => &mut self.workspace_uuid,
            "documentUuid" => &mut self.document_uuid,
            "recipientName" => &mut self.recipient_name,
            "recipientEmail" => &mut self.recipient_email,
            _ => return Ok(false),
        };
        *slot = Some(map.next_value()?);
        Ok(true)
    }
}

/// Event uuids longer than this (bytes) are not used as keys as they are, and
/// neither is one that starts with [`HASHED_KEY_PREFIX`]: see [`event_key`].
pub const MAX_VERBATIM_KEY_BYTES: usize = 128;
/// What a hashed event uuid key starts with.
pub const HASHED_KEY_PREFIX: &str = "uuid-sha256:";

/// The dedup key for an `eventUuid`: the uuid itself, or, when it is longer
/// than [`MAX_VERBATIM_KEY_BYTES`] (DynamoDB keys stop at 2,048 bytes, and a
/// key is carried in every log line), `uuid-sha256:` + the SHA-256 of it. A
/// short uuid that starts with that prefix is hashed too, so no uuid can take
/// another one's key.
pub fn event_key(uuid: &str) -> String {
    if uuid.len() <= MAX_VERBATIM_KEY_BYTES && !uuid.starts_with(HASHED_KEY_PREFIX) {
        uuid.to_owned()
    } else {
        format!(
            "{HASHED_KEY_PREFIX}{}",
            crate::dedup::sha256_hex(uuid.as_bytes())
        )
    }
}

/// Normalises a Subnoto payload into an [`Event`]. `canonical_key` is called
/// only for an event without `eventUuid`; it fails only when the body cannot
/// be read as a whole. A member that cannot be read is left out and noted in
/// [`Event::unread_fields`].
pub(crate) fn parse(
    payload: &Payload<'_>,
    canonical_key: impl FnOnce() -> Result<String, ParseError>,
) -> Result<Event, ParseError> {
    let mut read = Lenient::default();
    let event_type = read
        .owned(payload.event_type.as_ref(), "eventType")
        .unwrap_or_else(|| read.unread::<String>("eventType").unwrap_or_default());
    // A uuid that is a fraction or a huge number is not used as a key: its
    // text here is serde_json's rounding. The canonical key stands in.
    let uuid = match &payload.event_uuid {
        Some(Node::Decimal(..)) => None,
        uuid => read.owned(uuid.as_ref(), "eventUuid"),
    };
    let key = match uuid {
        Some(uuid) => event_key(&uuid),
        None => canonical_key()?,
    };
    let occurred_at_ms = read.time_ms(payload.event_time.as_ref(), "eventTime", Epoch::Millis);
    // `data` holds defaults (every member absent) unless it was an object.
    let data = &payload.data;
    if payload.data_shape == Some(Shape::Other) {
        read.unread::<()>("data");
    }
    let signer = if event_type == "ENVELOPE_SIGNED" {
        let name = read.owned(data.recipient_name.as_ref(), "data.recipientName");
        let email = read.owned(data.recipient_email.as_ref(), "data.recipientEmail");
        Signer::from_parts(name.as_deref(), email.as_deref())
    } else {
        None
    };
    let title = read.owned(data.title.as_ref(), "data.title");
    let envelope_title = read.owned(data.envelope_title.as_ref(), "data.envelopeTitle");
    Ok(Event {
        provider: Provider::Subnoto,
        key,
        event_type,
        subject: read.owned(data.envelope_uuid.as_ref(), "data.envelopeUuid"),
        occurred_at_ms,
        status: None,
        title: title.or(envelope_title),
        reference: None,
        external_metadata: None,
        contract_kind: None,
        workspace: read.owned(data.workspace_uuid.as_ref(), "data.workspaceUuid"),
        document_id: read.owned(data.document_uuid.as_ref(), "data.documentUuid"),
        counterparty: None,
        signer,
        unread_fields: read.unread,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_forms() {
        let sig = "ab".repeat(32);
        let one = format!("t=1700000000000,v1={sig}");
        let h = SignatureHeader::parse(&one).unwrap();
        assert_eq!(h.timestamp_ms, 1_700_000_000_000);
        assert_eq!(h.signatures(), &[[0xab; 32]]);
        let two = format!(" v1={sig} , t=5 ,v0=zz,v1={sig}");
        let h = SignatureHeader::parse(&two).unwrap();
        assert_eq!((h.timestamp, h.signatures().len()), ("5", 2));
        let tabs = format!("\tt = 7 ,\tv1 =\t{sig}\t");
        assert_eq!(SignatureHeader::parse(&tabs).unwrap().timestamp, "7");
        let commas = format!(",t=1,,v1={sig}, ,");
        let h = SignatureHeader::parse(&commas).unwrap();
        assert_eq!((h.timestamp, h.signatures().len()), ("1", 1));
        let eight = format!("t=1{}", format!(",v1={sig}").repeat(8));
        assert_eq!(
            SignatureHeader::parse(&eight).unwrap().signatures().len(),
            8
        );
        for bad in [
            "",
            "garbage",
            "t=1",
            "t=1,v1=",
            &format!("v1={sig}"),
            &format!("t=1,t=2,v1={sig}"),
            &format!("t=1,v1={}", "zz".repeat(32)),
            &format!("t=1{}", format!(",v1={sig}").repeat(9)),
            &format!("t=1,v1={sig}ab"),
            "t=1,v1=,",
        ] {
            assert!(
                matches!(
                    SignatureHeader::parse(bad),
                    Err(VerifyError::MalformedHeader { .. })
                ),
                "{bad:?}"
            );
        }
        for bad in ["abc", "-5", "1.5", "99999999999999999999"] {
            assert_eq!(
                SignatureHeader::parse(&format!("t={bad},v1={sig}")),
                Err(VerifyError::BadTimestamp),
                "{bad}"
            );
        }
    }
}
