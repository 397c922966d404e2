//! SpotDraft: `X-SD-WEBHOOK-CONTENT-HASH` is the lowercase hex HMAC-SHA512 of the
//! raw body, keyed with the base64-decoded workspace HMAC key. No timestamp, no
//! delivery id.

use hmac::{Hmac, Mac};
use sha2::Sha512;

use crate::error::VerifyError;
use crate::event::JsonText;
use crate::event::{Event, Signer};
use crate::fields::{Epoch, Lenient};
use crate::headers::Headers;
use crate::json::{Node, Object};
use crate::provider::Provider;
use crate::secret::{decode_spotdraft_key, PreparedKey};

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
    if !crate::secret::is_lower_hex(value.as_bytes()) {
        // SpotDraft's own receiver compares the text with its lowercase
        // `hexdigest()`: an upper-case digest is not SpotDraft's.
        return Err(VerifyError::MalformedHeader {
            header: SIGNATURE_HEADER,
            reason: "not lowercase hexadecimal",
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

/// Normalises a SpotDraft payload object into an [`Event`]. Never refuses: the
/// signature and the key already hold, and a field that cannot be read is left
/// out and noted in [`Event::unread_fields`].
pub(crate) fn parse(root: &Object<'_>, key: String) -> Event {
    let mut read = Lenient::default();
    let event_type = read.owned(root.get("activity"), "activity");
    let event_type =
        event_type.unwrap_or_else(|| read.unread::<String>("activity").unwrap_or_default());
    let subject = match root.get("contract_id") {
        None | Some(Node::Null) => None,
        Some(Node::Number(n)) => Some(n.to_string()),
        // An integer of more than 64 bits, kept digit for digit.
        Some(Node::Decimal(_, text)) if is_integer_text(text) => Some(text.clone().into_owned()),
        Some(Node::String(s)) if !s.is_empty() => Some(s.clone().into_owned()),
        Some(_) => read.unread("contract_id"),
    };
    let activity = read.object(root.get("activity_data"), "activity_data");
    let occurred_at_ms = activity.and_then(|a| {
        read.time_ms(
            a.get("timestamp"),
            "activity_data.timestamp",
            Epoch::SecondsOrMillis,
        )
    });
    let signer = activity
        .and_then(|a| read.object(a.get("signatory"), "activity_data.signatory"))
        .and_then(|s| {
            let name = read.owned(s.get("name"), "activity_data.signatory.name");
            let email = read.owned(s.get("email"), "activity_data.signatory.email");
            Signer::from_parts(name.as_deref(), email.as_deref())
        });
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
    let external_metadata = root
        .get("external_metadata")
        .filter(|v| **v != Node::Null)
        .and_then(|v| {
            let mut text = Vec::new();
            v.write_canonical(&mut text);
            String::from_utf8(text).ok().and_then(JsonText::new)
        });
    Event {
        provider: Provider::SpotDraft,
        key,
        event_type,
        subject,
        occurred_at_ms,
        status: read.owned(root.get("contract_status"), "contract_status"),
        title: read.owned(root.get("contract_title"), "contract_title"),
        reference: read.owned(root.get("contract_reference_id"), "contract_reference_id"),
        external_metadata,
        contract_kind: read.owned(root.get("contract_kind"), "contract_kind"),
        workspace: None,
        document_id: None,
        counterparty,
        signer,
        unread_fields: read.unread,
    }
}

/// True for `-?[0-9]+`: an integer written without fraction or exponent.
fn is_integer_text(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}
