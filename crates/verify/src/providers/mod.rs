//! The provider registry: each provider is one module here (its signature scheme and its
//! parsing into the common [`Event`]), and this file is the one list that routes
//! verification, signing and parsing to it. Adding a provider: `docs/ARCHITECTURE.md`.

pub mod docusign;
pub mod spotdraft;
pub mod subnoto;

use crate::content_type::BodyFormat;
use crate::error::{ParseError, VerifyError};
use crate::event::Event;
use crate::fields::{canonical_key, not_json};
use crate::headers::Headers;
use crate::json::{self, Node};
use crate::provider::Provider;
use crate::secret::PreparedKey;

/// Checks `provider`'s signature headers over the raw `body` against `keys`
/// (any key may match); `now_ms` and `tolerance_ms` bound a signed timestamp
/// where the scheme has one.
pub(crate) fn verify_signature<H: Headers + ?Sized>(
    provider: Provider,
    keys: &[PreparedKey],
    headers: &H,
    body: &[u8],
    now_ms: i64,
    tolerance_ms: u64,
) -> Result<(), VerifyError> {
    match provider {
        Provider::SpotDraft => spotdraft::verify(keys, headers, body),
        Provider::Subnoto => subnoto::verify(keys, headers, body, now_ms, tolerance_ms),
        Provider::DocuSign => docusign::verify(keys, headers, body),
    }
}

/// The signature headers `provider` sends for `body`, signed with `key` at
/// `timestamp_ms` (for schemes that sign a timestamp).
pub(crate) fn signature_headers(
    provider: Provider,
    key: &PreparedKey,
    body: &[u8],
    timestamp_ms: i64,
) -> Vec<(String, String)> {
    match provider {
        Provider::SpotDraft => vec![(
            spotdraft::SIGNATURE_HEADER.to_owned(),
            spotdraft::sign_prepared(key, body),
        )],
        Provider::Subnoto => vec![(
            subnoto::SIGNATURE_HEADER.to_owned(),
            subnoto::sign_prepared(key, timestamp_ms, body),
        )],
        Provider::DocuSign => vec![
            (
                docusign::SIGNATURE_HEADER.to_owned(),
                docusign::sign_prepared(key, body),
            ),
            (
                docusign::DIGEST_HEADER.to_owned(),
                docusign::DIGEST_VALUE.to_owned(),
            ),
        ],
    }
}

impl Event {
    /// Parses a verified body. For form bodies the `payload` field is
    /// percent-decoded here, after the signature was checked over the raw bytes.
    pub fn parse(provider: Provider, format: BodyFormat, body: &[u8]) -> Result<Event, ParseError> {
        match format {
            BodyFormat::Json => Self::parse_json(provider, body),
            BodyFormat::Form => {
                let payload = form_urlencoded::parse(body)
                    .find(|(name, _)| name == "payload")
                    .map(|(_, value)| value)
                    .ok_or(ParseError::MissingFormPayload)?;
                Self::parse_json(provider, payload.as_bytes())
            }
        }
    }

    fn parse_json(provider: Provider, json: &[u8]) -> Result<Event, ParseError> {
        match provider {
            Provider::SpotDraft => {
                // The dedup key hashes the whole document, so all of it is read.
                let node = Node::from_slice(json).map_err(not_json)?;
                let root = node.as_object().ok_or(ParseError::NotAnObject)?;
                Ok(spotdraft::parse(root, canonical_key(&node, json.len())))
            }
            Provider::DocuSign => {
                // No delivery id: the key hashes the document, less what a
                // retry changes.
                let node = Node::from_slice(json).map_err(not_json)?;
                let root = node.as_object().ok_or(ParseError::NotAnObject)?;
                let key = canonical_key(&docusign::key_object(root), json.len());
                Ok(docusign::parse(root, key))
            }
            Provider::Subnoto => {
                // Subnoto names each event: the rest of the body is only checked.
                let mut payload = subnoto::Payload::default();
                let shape = json::read_members(json, &mut payload).map_err(not_json)?;
                if shape != json::Shape::Object {
                    return Err(ParseError::NotAnObject);
                }
                subnoto::parse(&payload, || {
                    let node = Node::from_slice(json).map_err(not_json)?;
                    Ok(canonical_key(&node, json.len()))
                })
            }
        }
    }
}
