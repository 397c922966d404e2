//! Webhook verification for contract-hooks: signature schemes, secret sets with
//! rotation, typed errors and normalisation of provider payloads into an [`Event`].
//!
//! Pure: no I/O, no AWS, no async. Verification works on the raw body bytes and
//! the request headers only; parsing is a separate, later step, so a correctly
//! signed body that is not JSON still verifies and then fails with its own error.
//!
//! ```
//! use verify::{Provider, SecretSet, Verifier};
//! let secrets = SecretSet::new(Provider::Subnoto, ["whsec_example"]).unwrap();
//! let verifier = Verifier::new(secrets);
//! let body = br#"{"eventUuid":"e1","eventType":"ENVELOPE_SENT","eventTime":1700000000000,"data":{"envelopeUuid":"env-1"}}"#;
//! let headers = verifier.sign(body, 1_700_000_000_000, verify::BodyFormat::Json);
//! let event = verifier.verify_and_parse(&headers, body, 1_700_000_000_500).unwrap();
//! assert_eq!(event.subject.as_deref(), Some("env-1"));
//! ```

mod content_type;
mod dedup;
mod error;
mod event;
mod fields;
mod headers;
mod json;
mod provider;
mod providers;
mod secret;
mod verifier;

pub use content_type::BodyFormat;
pub use dedup::{canonical_json, dedup_key_for_bytes};
pub use error::{ParseError, SecretError, VerifyError};
pub use event::{Event, JsonText, Signer};
pub use headers::Headers;
pub use provider::{Provider, UnknownProvider};
pub use providers::{docusign, spotdraft, subnoto};
pub use secret::SecretSet;
pub use verifier::{Rejection, Verifier, DEFAULT_TOLERANCE_MS};
