//! Where the operator's SpotDraft calls go: a region's API host or an explicit base URL.

use reqwest::Url;

/// SpotDraft's regions and their API hosts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Region {
    /// India: https://api.in.spotdraft.com
    In,
    /// United States: https://api.us.spotdraft.com
    Us,
    /// European Union: https://api.eu.spotdraft.com
    Eu,
    /// Middle East: https://api.me.spotdraft.com
    Me,
}

impl Region {
    /// The API base URL (paths start with `/api/...`).
    pub fn base_url(self) -> &'static str {
        match self {
            Region::In => "https://api.in.spotdraft.com",
            Region::Us => "https://api.us.spotdraft.com",
            Region::Eu => "https://api.eu.spotdraft.com",
            Region::Me => "https://api.me.spotdraft.com",
        }
    }
}

/// Normalises an explicit base URL: https (plain http only for a loopback
/// test server), no query, no trailing slash, and no trailing `/api` (the
/// paths carry it; SpotDraft's docs warn against a doubled `/api`).
pub fn normalise_base_url(raw: &str) -> Result<String, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("--base-url {raw:?}: {e}"))?;
    let loopback = match url.host_str() {
        Some("localhost") => true,
        Some(host) => host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback()),
        None => false,
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "--base-url {raw:?} uses http://: SpotDraft answers plain http with a redirect; use https://"
            ))
        }
        other => return Err(format!("--base-url {raw:?}: unsupported scheme {other}")),
    }
    if url.host_str().is_none() || url.query().is_some() || url.fragment().is_some() {
        return Err(format!(
            "--base-url {raw:?}: give scheme and host only, e.g. https://api.eu.spotdraft.com"
        ));
    }
    let mut base = url.as_str().trim_end_matches('/').to_owned();
    if let Some(stripped) = base.strip_suffix("/api") {
        base = stripped.to_owned();
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regions_are_spotdrafts_api_hosts() {
        assert_eq!(Region::In.base_url(), "https://api.in.spotdraft.com");
        assert_eq!(Region::Us.base_url(), "https://api.us.spotdraft.com");
        assert_eq!(Region::Eu.base_url(), "https://api.eu.spotdraft.com");
        assert_eq!(Region::Me.base_url(), "https://api.me.spotdraft.com");
    }

    #[test]
    fn base_urls_are_normalised_and_http_refused_off_loopback() {
        let ok = |s: &str| normalise_base_url(s).unwrap();
        assert_eq!(
            ok("https://api.eu.spotdraft.com/"),
            "https://api.eu.spotdraft.com"
        );
        assert_eq!(
            ok("https://api.eu.spotdraft.com/api/"),
            "https://api.eu.spotdraft.com"
        );
        assert_eq!(ok("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(ok("http://localhost:8080/api"), "http://localhost:8080");
        let err = normalise_base_url("http://api.eu.spotdraft.com").unwrap_err();
        assert!(err.contains("https"), "{err}");
        assert!(normalise_base_url("ftp://x").is_err());
        assert!(normalise_base_url("https://x/?a=b").is_err());
        assert!(normalise_base_url("not a url").is_err());
    }
}
