use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::{DecodePaddingMode, Engine};
use hmac::{Hmac, Mac};
use sha2::{Sha256, Sha512};

use crate::error::SecretError;
use crate::provider::Provider;

/// Standard base64, padding optional: SpotDraft keys are copied by hand from an
/// API response and trailing `=` are easily lost.
const BASE64_LENIENT: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A keyed MAC state, prepared once when the secrets are loaded and cloned per
/// request (cheaper than re-keying, and the key bytes are never kept in clear).
#[derive(Clone)]
pub(crate) enum PreparedKey {
    Sha512(Hmac<Sha512>),
    Sha256(Hmac<Sha256>),
}

/// The secrets one provider may sign with. The first is the current secret; the
/// rest stay accepted during a rotation. Any match verifies.
///
/// Secrets are validated when the set is built (a SpotDraft key that is not
/// base64 is a configuration error), and `Debug` shows only how many there are.
#[derive(Clone)]
pub struct SecretSet {
    provider: Provider,
    keys: Vec<PreparedKey>,
}

impl SecretSet {
    /// Builds the set for `provider` from secrets as configured: SpotDraft keys in
    /// base64 (as the HMAC-key endpoint returns them), Subnoto secrets and
    /// DocuSign Connect keys as text.
    pub fn new<I, S>(provider: Provider, secrets: I) -> Result<Self, SecretError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut keys = Vec::new();
        for (index, secret) in secrets.into_iter().enumerate() {
            // Subnoto secrets are used byte for byte; SpotDraft keys are base64,
            // where surrounding whitespace is never part of the key.
            let secret = match provider {
                Provider::SpotDraft => secret.as_ref().trim(),
                Provider::Subnoto | Provider::DocuSign => secret.as_ref(),
            };
            if secret.trim().is_empty() {
                return Err(SecretError::EmptySecret { provider, index });
            }
            keys.push(match provider {
                Provider::SpotDraft => {
                    let raw = decode_spotdraft_key(secret)
                        .ok_or(SecretError::NotBase64 { provider, index })?;
                    PreparedKey::Sha512(
                        Hmac::new_from_slice(&raw).expect("HMAC accepts keys of any length"),
                    )
                }
                // DocuSign's Connect key is used as text too (its reference
                // code keys the HMAC with the key string's UTF-8 bytes).
                Provider::Subnoto | Provider::DocuSign => PreparedKey::Sha256(
                    Hmac::new_from_slice(secret.as_bytes())
                        .expect("HMAC accepts keys of any length"),
                ),
            });
        }
        if keys.is_empty() {
            return Err(SecretError::Empty(provider));
        }
        Ok(SecretSet { provider, keys })
    }

    /// The provider these secrets belong to.
    pub fn provider(&self) -> Provider {
        self.provider
    }

    /// How many secrets are accepted (1 outside a rotation).
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Always false: a set holds at least one secret.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    pub(crate) fn keys(&self) -> &[PreparedKey] {
        &self.keys
    }

    pub(crate) fn current(&self) -> &PreparedKey {
        &self.keys[0]
    }
}

/// Decodes a SpotDraft workspace key (standard base64, padding optional).
pub(crate) fn decode_spotdraft_key(key: &str) -> Option<Vec<u8>> {
    BASE64_LENIENT
        .decode(key.trim())
        .ok()
        .filter(|k| !k.is_empty())
}

impl fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SecretSet")
            .field("provider", &self.provider)
            .field("secrets", &format_args!("<{} redacted>", self.keys.len()))
            .finish()
    }
}

/// True when `hex` is all lowercase hexadecimal digits (both providers' own
/// receivers compare digests with their lowercase `hexdigest()` text).
pub(crate) fn is_lower_hex(hex: &[u8]) -> bool {
    hex.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_at_load() {
        assert_eq!(
            SecretSet::new(Provider::SpotDraft, Vec::<String>::new()).unwrap_err(),
            SecretError::Empty(Provider::SpotDraft)
        );
        assert_eq!(
            SecretSet::new(Provider::SpotDraft, ["c2VjcmV0", "not base64!"]).unwrap_err(),
            SecretError::NotBase64 {
                provider: Provider::SpotDraft,
                index: 1
            }
        );
        assert_eq!(
            SecretSet::new(Provider::Subnoto, ["a", " "]).unwrap_err(),
            SecretError::EmptySecret {
                provider: Provider::Subnoto,
                index: 1
            }
        );
        // Subnoto secrets are text, so anything non-empty is fine.
        assert_eq!(
            SecretSet::new(Provider::Subnoto, ["not base64!"])
                .unwrap()
                .len(),
            1
        );
        // Padding is optional for SpotDraft keys.
        assert!(SecretSet::new(Provider::SpotDraft, ["c2VjcmV0MQ"]).is_ok());
    }

    #[test]
    fn debug_hides_secrets() {
        let set = SecretSet::new(Provider::Subnoto, ["whsec_topsecret", "whsec_older"]).unwrap();
        let shown = format!("{set:?}");
        assert!(!shown.contains("topsecret"), "{shown}");
        assert!(!shown.contains("older"), "{shown}");
        assert!(shown.contains("2 redacted"), "{shown}");
        let err = SecretSet::new(Provider::SpotDraft, ["sekrit!!"]).unwrap_err();
        assert!(!err.to_string().contains("sekrit"));
    }
}
