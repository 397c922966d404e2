use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A webhook provider this receiver understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Provider {
    /// SpotDraft contract lifecycle events (`X-SD-WEBHOOK-CONTENT-HASH`, HMAC-SHA512).
    SpotDraft,
    /// Subnoto e-signature envelope events (`X-Webhook-Signature`, HMAC-SHA256 with timestamp).
    Subnoto,
    /// DocuSign Connect envelope and recipient events (`X-DocuSign-Signature-N`,
    /// base64 HMAC-SHA256, no timestamp).
    DocuSign,
}

impl Provider {
    /// Every provider, in a stable order.
    pub const ALL: [Provider; 3] = [Provider::SpotDraft, Provider::Subnoto, Provider::DocuSign];

    /// The lowercase name used in URLs, configuration and ledger keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::SpotDraft => "spotdraft",
            Provider::Subnoto => "subnoto",
            Provider::DocuSign => "docusign",
        }
    }

    /// The HTTP status a new, accepted event is answered with: 202, but 200
    /// for DocuSign, whose Connect counts no other code as delivered.
    pub fn accepted_status(self) -> u16 {
        match self {
            Provider::SpotDraft | Provider::Subnoto => 202,
            Provider::DocuSign => 200,
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name given is not a provider this receiver knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown provider (expected one of: spotdraft, subnoto, docusign)")]
pub struct UnknownProvider;

impl FromStr for Provider {
    type Err = UnknownProvider;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Provider::ALL
            .into_iter()
            .find(|p| s.eq_ignore_ascii_case(p.as_str()))
            .ok_or(UnknownProvider)
    }
}
