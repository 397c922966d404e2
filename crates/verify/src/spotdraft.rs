//! SpotDraft: `X-SD-WEBHOOK-CONTENT-HASH` is the lowercase hex HMAC-SHA512 of the
//! raw body, keyed with the base64-decoded workspace HMAC key. No timestamp, no
//! delivery id.

use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::event::{field_str, object_field, parse_rfc3339_ms};
use crate::json::{Node, Object};
use crate::secret::{decode_spotdraft_key, PreparedKey};
use crate::{Event, Headers, ParseError, Provider, Signer, VerifyError};

/// The signature header SpotDraft sends.
pub const SIGNATURE_HEADER: &str = "X-SD-WEBHOOK-CONTENT-HASH";

const SIGNATURE_BYTES: usize = 64;

/// The header value SpotDraft would send for `body`, from the base64 workspace
/// key. Returns `None` when the key is not base64.
pub fn sign(base64_key: &str, body: &[u8]) -> Option<String> {
    let key = decode_spotdraft_key(base64_key)?;
    let mut mac = Hmac::<Sha512>::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(body);
    Some(const_hex::encode(mac.finalize().into_bytes()))
}

pub(crate) fn sign_prepared(key: &PreparedKey, body: &[u8]) -> String {
    let PreparedKey::Sha512(mac) = key else {
        unreachable!("SpotDraft secret sets hold SHA-512 keys")
    };
    let mut mac = mac.clone();
    mac.update(body);
    const_hex::encode(mac.finalize().into_bytes())
}

pub(crate) fn verify<H: Headers + ?Sized>(
    keys: &[PreparedKey],
    headers: &H,
    body: &[u8],
) -> Result<(), VerifyError> {
    let value = headers
        .header(SIGNATURE_HEADER)
        .ok_or(VerifyError::MissingHeader(SIGNATURE_HEADER))?
        .trim();
    if value.len() != SIGNATURE_BYTES * 2 {
        return Err(VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "expected 128 hex characters (HMAC-SHA512)",
        });
    }
    let mut expected = [0u8; SIGNATURE_BYTES];
    const_hex::decode_to_slice(value, &mut expected).map_err(|_| VerifyError::MalformedHeader {
        header: SIGNATURE_HEADER,
        reason: "not hexadecimal",
    })?;
    let mut matched = false;
    for key in keys {
        let PreparedKey::Sha512(mac) = key else {
            continue;
        };
        let mut mac = mac.clone();
        mac.update(body);
        // `verify_slice` compares in constant time. Every key is tried so the time
        // taken does not reveal which one matched.
        matched |= mac.verify_slice(&expected).is_ok();
    }
    if matched {
        Ok(())
    } else {
        Err(VerifyError::SignatureMismatch)
    }
}

/// Normalises a SpotDraft payload object into an [`Event`].
pub(crate) fn parse(root: &Object<'_>, key: String) -> Result<Event, ParseError> {
    let event_type = field_str(root, "activity")?
        .ok_or(ParseError::MissingField("activity"))?
        .to_owned();
    let subject = match root.get("contract_id") {
        None | Some(Node::Null) => None,
        Some(Node::Number(n)) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Some(Node::String(s)) if !s.is_empty() => Some(s.clone().into_owned()),
        Some(_) => {
            return Err(ParseError::InvalidField {
                field: "contract_id",
                reason: "not an integer",
            })
        }
    };
    let activity = object_field(root, "activity_data")?;
    let occurred_at_ms = match activity.map(|a| field_str(a, "timestamp")).transpose()? {
        Some(Some(ts)) => Some(parse_rfc3339_ms(ts).ok_or(ParseError::InvalidField {
            field: "activity_data.timestamp",
            reason: "not an RFC 3339 date-time",
        })?),
        _ => None,
    };
    let signer = match activity.map(|a| object_field(a, "signatory")).transpose()? {
        Some(Some(s)) => Signer::from_parts(field_str(s, "name")?, field_str(s, "email")?),
        _ => None,
    };
    let counterparty = root
        .get("counterparties")
        .and_then(Node::as_array)
        .and_then(|list| list.first())
        .and_then(Node::as_object)
        .and_then(|c| {
            ["organization_name", "name", "poc_name"]
                .iter()
                .find_map(|k| c.get(k).and_then(Node::as_str))
        })
        .map(str::to_owned);
    Ok(Event {
        provider: Provider::SpotDraft,
        key,
        event_type,
        subject,
        occurred_at_ms,
        status: field_str(root, "contract_status")?.map(str::to_owned),
        title: field_str(root, "contract_title")?.map(str::to_owned),
        reference: field_str(root, "contract_reference_id")?.map(str::to_owned),
        external_metadata: root
            .get("external_metadata")
            .filter(|v| **v != Node::Null)
            .map(Node::to_value),
        workspace: None,
        document_id: None,
        counterparty,
        signer,
    })
}
