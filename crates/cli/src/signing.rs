//! Signing shared by `sign` and `send`: provider choice, form encoding, headers.

use clap::{Args, ValueEnum};
use verify::{BodyFormat, Provider, Verifier};

use crate::error::CliError;
use crate::input::now_ms;
use crate::secrets::SecretArgs;

/// A provider as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ProviderArg {
    /// SpotDraft: X-SD-WEBHOOK-CONTENT-HASH (HMAC-SHA512 of the body).
    Spotdraft,
    /// Subnoto: X-Webhook-Signature (t=<ms>,v1=HMAC-SHA256).
    Subnoto,
    /// DocuSign Connect: X-DocuSign-Signature-1 (base64 HMAC-SHA256 of the
    /// body, keyed with the Connect key as text).
    Docusign,
}

impl From<ProviderArg> for Provider {
    fn from(p: ProviderArg) -> Self {
        match p {
            ProviderArg::Spotdraft => Provider::SpotDraft,
            ProviderArg::Subnoto => Provider::Subnoto,
            ProviderArg::Docusign => Provider::DocuSign,
        }
    }
}

/// Options for producing a signed request, shared by `sign` and `send`.
#[derive(Debug, Args)]
pub struct SigningArgs {
    /// Provider whose signing scheme to use.
    #[arg(long, value_enum, ignore_case = true)]
    pub provider: ProviderArg,

    #[command(flatten)]
    pub secrets: SecretArgs,

    /// Signature time in Unix milliseconds (Subnoto; SpotDraft signs without one).
    /// Defaults to now.
    #[arg(long, value_name = "MS")]
    pub timestamp_ms: Option<i64>,

    /// Subnoto only: send the JSON body form-encoded as `payload=<json>`
    /// (application/x-www-form-urlencoded) and sign the encoded bytes. A body that
    /// already starts with `payload=` is used as is.
    #[arg(long)]
    pub form: bool,

    /// Subnoto only: add `X-Webhook-Id: <ID>` (the subscription id).
    #[arg(long, value_name = "ID", value_parser = parse_header_value)]
    pub webhook_id: Option<String>,
}

/// A body as it goes on the wire, with the headers that sign it.
#[derive(Debug)]
pub struct SignedRequest {
    /// Headers in the order a provider sends them, Content-Type first.
    pub headers: Vec<(String, String)>,
    /// The exact bytes that were signed.
    pub body: Vec<u8>,
    /// True when `body` differs from the input (it was form-encoded here).
    pub encoded_here: bool,
}

impl SigningArgs {
    /// Encodes (when `--form`) and signs `body` with the current (first) secret.
    pub fn sign(&self, body: Vec<u8>) -> Result<SignedRequest, CliError> {
        let provider = Provider::from(self.provider);
        if provider != Provider::Subnoto {
            if self.form {
                return Err(CliError::usage(
                    "--form is for subnoto only: SpotDraft and DocuSign always send application/json",
                ));
            }
            if self.webhook_id.is_some() {
                return Err(CliError::usage(
                    "--webhook-id is for subnoto only: SpotDraft and DocuSign send no X-Webhook-Id",
                ));
            }
        }
        let verifier = Verifier::new(self.secrets.load(provider)?);
        let timestamp_ms = match self.timestamp_ms {
            Some(t) => t,
            None => now_ms()?,
        };
        let (body, format, encoded_here) = if self.form {
            let (encoded, changed) = form_encode(body)?;
            (encoded, BodyFormat::Form, changed)
        } else {
            (body, BodyFormat::Json, false)
        };
        let mut headers = verifier.sign(&body, timestamp_ms, format);
        if let Some(id) = &self.webhook_id {
            headers.push((verify::subnoto::WEBHOOK_ID_HEADER.to_owned(), id.clone()));
        }
        Ok(SignedRequest {
            headers,
            body,
            encoded_here,
        })
    }
}

/// Form-encodes a JSON body as Subnoto does: one field, `payload=<json>`. A body
/// already starting with `payload=` is returned unchanged. Returns the bytes and
/// whether they differ from the input.
pub fn form_encode(body: Vec<u8>) -> Result<(Vec<u8>, bool), CliError> {
    if body.starts_with(b"payload=") {
        return Ok((body, false));
    }
    let json = std::str::from_utf8(&body)
        .map_err(|_| CliError::usage("--form needs a UTF-8 (JSON) body"))?;
    let encoded = form_urlencoded::Serializer::new(String::new())
        .append_pair("payload", json)
        .finish();
    Ok((encoded.into_bytes(), true))
}

/// Accepts a header value without control characters (a newline would split it).
pub fn parse_header_value(s: &str) -> Result<String, String> {
    if s.chars().any(|c| c.is_control()) {
        Err("header values cannot contain control characters".to_owned())
    } else {
        Ok(s.to_owned())
    }
}

/// Formats headers as `Name: value` lines.
pub fn header_lines(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .map(|(name, value)| format!("{name}: {value}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_matches_the_provider() {
        let (encoded, changed) = form_encode(br#"{"a":"b c&d=e/f*~"}"#.to_vec()).unwrap();
        assert!(changed);
        assert_eq!(
            String::from_utf8(encoded).unwrap(),
            "payload=%7B%22a%22%3A%22b+c%26d%3De%2Ff*%7E%22%7D"
        );
        let (same, changed) = form_encode(b"payload=%7B%7D".to_vec()).unwrap();
        assert_eq!((same.as_slice(), changed), (&b"payload=%7B%7D"[..], false));
        assert!(matches!(
            form_encode(vec![0xff, 0xfe]),
            Err(CliError::Usage(_))
        ));
    }

    #[test]
    fn header_values_reject_newlines() {
        assert!(parse_header_value("abc").is_ok());
        assert!(parse_header_value("a\r\nX-Evil: 1").is_err());
    }
}
