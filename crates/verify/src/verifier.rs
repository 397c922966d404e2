use crate::content_type::BodyFormat;
use crate::error::{ParseError, VerifyError};
use crate::event::Event;
use crate::headers::Headers;
use crate::provider::Provider;
use crate::providers::{signature_headers, verify_signature};
use crate::secret::SecretSet;

/// Default tolerance for Subnoto's signature timestamp: 5 minutes either way.
pub const DEFAULT_TOLERANCE_MS: u64 = 300_000;

/// Verifies one provider's webhooks against its secret set.
#[derive(Debug, Clone)]
pub struct Verifier {
    secrets: SecretSet,
    tolerance_ms: u64,
}

/// Why a request was turned away after routing: the signature (401/415) or the
/// signed body (400).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// Not verified: nothing about the body can be trusted.
    #[error(transparent)]
    Verify(#[from] VerifyError),
    /// Verified but unreadable.
    #[error(transparent)]
    Parse(#[from] ParseError),
}

impl Verifier {
    /// A verifier with the default timestamp tolerance.
    pub fn new(secrets: SecretSet) -> Self {
        Verifier {
            secrets,
            tolerance_ms: DEFAULT_TOLERANCE_MS,
        }
    }

    /// Sets how far (either way) a signature timestamp may be from the clock.
    pub fn with_tolerance_ms(mut self, tolerance_ms: u64) -> Self {
        self.tolerance_ms = tolerance_ms;
        self
    }

    /// The provider this verifier is for.
    pub fn provider(&self) -> Provider {
        self.secrets.provider()
    }

    /// Checks the content type and the signature over the raw `body`, with
    /// `now_ms` as the receiver's clock. Returns how the body is encoded.
    pub fn verify<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now_ms: i64,
    ) -> Result<BodyFormat, VerifyError> {
        let format =
            BodyFormat::from_content_type(self.provider(), headers.header("content-type"))?;
        verify_signature(
            self.provider(),
            self.secrets.keys(),
            headers,
            body,
            now_ms,
            self.tolerance_ms,
        )?;
        Ok(format)
    }

    /// [`Verifier::verify`], then [`Event::parse`].
    pub fn verify_and_parse<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now_ms: i64,
    ) -> Result<Event, Rejection> {
        let format = self.verify(headers, body, now_ms)?;
        Ok(Event::parse(self.provider(), format, body)?)
    }

    /// The headers the provider would send for `body` (already encoded as
    /// `format`), signed with the current secret at `timestamp_ms` (ignored by
    /// SpotDraft, which signs without a timestamp).
    pub fn sign(
        &self,
        body: &[u8],
        timestamp_ms: i64,
        format: BodyFormat,
    ) -> Vec<(String, String)> {
        let mut headers = vec![("Content-Type".to_owned(), format.content_type().to_owned())];
        let current = self.secrets.current();
        headers.extend(signature_headers(
            self.provider(),
            current,
            body,
            timestamp_ms,
        ));
        headers
    }
}
