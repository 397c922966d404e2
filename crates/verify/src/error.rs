use crate::provider::Provider;

/// Why a request's signature was not accepted. Every variant means "answer 401"
/// except [`VerifyError::UnsupportedContentType`] (415). No variant carries a
/// secret or a computed signature.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// The provider's signature header is absent.
    #[error("missing signature header {0}")]
    MissingHeader(&'static str),
    /// The signature header is present but not in the provider's format.
    #[error("malformed signature header {header}: {reason}")]
    MalformedHeader {
        /// Header name as the provider documents it.
        header: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The signature timestamp is not a Unix time in milliseconds.
    #[error("bad signature timestamp: not a Unix time in milliseconds")]
    BadTimestamp,
    /// The signature timestamp is further from the receiver's clock than allowed.
    #[error("signature timestamp outside tolerance: {skew_ms} ms from the receiver's clock (tolerance {tolerance_ms} ms)")]
    TimestampOutsideTolerance {
        /// Receiver clock minus signature time: positive when the signature is old,
        /// negative when it is from the future.
        skew_ms: i64,
        /// The configured tolerance.
        tolerance_ms: u64,
    },
    /// No configured secret produces the signature that was sent.
    #[error("signature mismatch: no configured secret matches")]
    SignatureMismatch,
    /// The content type is not one the provider sends.
    #[error("unsupported content type for {provider}: {content_type}")]
    UnsupportedContentType {
        /// The provider addressed.
        provider: Provider,
        /// The media type received (parameters dropped).
        content_type: String,
    },
}

/// Why a verified body could not be turned into an [`crate::Event`] (answer 400).
/// Messages name fields, never their values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The body (or form `payload` field) is not valid JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The JSON is valid but not an object.
    #[error("body is not a JSON object")]
    NotAnObject,
    /// A form-encoded body has no `payload` field.
    #[error("form body has no payload field")]
    MissingFormPayload,
}

/// A secret from configuration that cannot be used. Never shows the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No secret configured for the provider.
    #[error("no {0} secret configured")]
    Empty(Provider),
    /// A secret is the empty string.
    #[error("{provider} secret #{index} is empty")]
    EmptySecret {
        /// The provider.
        provider: Provider,
        /// Position in the configured list (0 = current).
        index: usize,
    },
    /// A SpotDraft key is not valid base64 (SpotDraft hands out base64 keys).
    #[error("{provider} secret #{index} is not valid base64")]
    NotBase64 {
        /// The provider.
        provider: Provider,
        /// Position in the configured list (0 = current).
        index: usize,
    },
}
