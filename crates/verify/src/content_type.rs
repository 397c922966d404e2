use crate::error::VerifyError;
use crate::provider::Provider;

/// How a webhook body is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// `application/json`: the body is the payload.
    Json,
    /// `application/x-www-form-urlencoded` with one field `payload=<json>` (Subnoto only).
    Form,
}

impl BodyFormat {
    /// The `Content-Type` value a provider sends for this format.
    pub fn content_type(self) -> &'static str {
        match self {
            BodyFormat::Json => "application/json",
            BodyFormat::Form => "application/x-www-form-urlencoded",
        }
    }

    /// Classifies a `Content-Type` header for `provider`. Parameters such as
    /// `charset` are ignored and the media type is matched without regard to case.
    /// A missing header is read as JSON, the only format both providers send.
    pub fn from_content_type(
        provider: Provider,
        content_type: Option<&str>,
    ) -> Result<Self, VerifyError> {
        let Some(value) = content_type else {
            return Ok(BodyFormat::Json);
        };
        let media = value.split(';').next().unwrap_or("").trim();
        if media.eq_ignore_ascii_case("application/json") {
            return Ok(BodyFormat::Json);
        }
        if provider == Provider::Subnoto
            && media.eq_ignore_ascii_case("application/x-www-form-urlencoded")
        {
            return Ok(BodyFormat::Form);
        }
        Err(VerifyError::UnsupportedContentType {
            provider,
            content_type: media.chars().take(100).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_media_types() {
        use BodyFormat::*;
        let sd = Provider::SpotDraft;
        let sn = Provider::Subnoto;
        assert_eq!(BodyFormat::from_content_type(sd, None), Ok(Json));
        assert_eq!(
            BodyFormat::from_content_type(sd, Some("Application/JSON; charset=utf-8")),
            Ok(Json)
        );
        assert_eq!(
            BodyFormat::from_content_type(sn, Some("application/x-www-form-urlencoded")),
            Ok(Form)
        );
        assert!(matches!(
            BodyFormat::from_content_type(sd, Some("application/x-www-form-urlencoded")),
            Err(VerifyError::UnsupportedContentType { .. })
        ));
        assert!(matches!(
            BodyFormat::from_content_type(sn, Some("text/plain")),
            Err(VerifyError::UnsupportedContentType { .. })
        ));
    }
}
