//! Where the archiver may download a document from. SpotDraft's
//! `download_link` answers a URL the archiver then fetches: a URL the API
//! (or whoever answers in its name) chooses. It is fetched only when:
//!
//! - its scheme is `https` (plain `http` only with the local-development
//!   setting `ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS`);
//! - its host is a name, not an IP literal (loopback literals only with that
//!   setting), and carries no user info;
//! - its host ends with one of `DOCUMENT_HOST_ALLOWLIST`'s suffixes, when set;
//! - every address the name resolves to is a public unicast address:
//!   [`refused`] turns away loopback, private (RFC 1918, CGNAT, ULA),
//!   link-local, metadata, IPv4-mapped and other special addresses. This is
//!   checked by the download client's resolver ([`FilteringResolver`]), so at
//!   connect time, on the addresses actually used: a name that resolves
//!   differently the second time (DNS rebinding) cannot get around it.
//!
//! Redirects are never followed (see `http::download_client`), and the
//! download client ignores proxy settings, so the resolution is its own.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::{Ipv4Net, Ipv6Net};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Why a document URL or address is refused. Never carries the URL (it is a
/// bearer credential) nor the host.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefused {
    /// Not a URL.
    #[error("not a valid URL")]
    Malformed,
    /// `http` without the development setting, or another scheme.
    #[error("scheme is not https")]
    Scheme,
    /// User info (`user:pass@`) in the URL.
    #[error("the URL carries user info")]
    UserInfo,
    /// The host is an IP address, not a name.
    #[error("the host is an IP address literal")]
    IpLiteral,
    /// The host is not under `DOCUMENT_HOST_ALLOWLIST`.
    #[error("the host is not in DOCUMENT_HOST_ALLOWLIST")]
    NotAllowlisted,
    /// The name resolves to a refused address (or to none).
    #[error("the host resolves to a refused address ({0})")]
    Address(AddressKind),
}

/// The kind of a refused address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    /// 127.0.0.0/8, ::1.
    Loopback,
    /// 10/8, 172.16/12, 192.168/16.
    Private,
    /// 100.64.0.0/10 (carrier-grade NAT).
    SharedCgnat,
    /// fc00::/7 (unique local).
    UniqueLocal,
    /// 169.254.0.0/16, fe80::/10.
    LinkLocal,
    /// 169.254.169.254, fd00:ec2::254 (instance metadata), 169.254.170.2 (container credentials).
    Metadata,
    /// ::ffff:0:0/96 and the deprecated IPv4-compatible ::/96.
    Ipv4Mapped,
    /// 0.0.0.0, ::.
    Unspecified,
    /// Multicast and broadcast.
    Multicast,
    /// Documentation, benchmarking, reserved, protocol-assignment, NAT64,
    /// 6to4, Teredo and discard ranges: nothing a document is served from.
    Special,
    /// The name resolved to no address.
    NoAddress,
}

impl std::fmt::Display for AddressKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AddressKind::Loopback => "loopback",
            AddressKind::Private => "private",
            AddressKind::SharedCgnat => "shared CGNAT",
            AddressKind::UniqueLocal => "unique local",
            AddressKind::LinkLocal => "link-local",
            AddressKind::Metadata => "metadata",
            AddressKind::Ipv4Mapped => "IPv4-mapped",
            AddressKind::Unspecified => "unspecified",
            AddressKind::Multicast => "multicast",
            AddressKind::Special => "special-purpose",
            AddressKind::NoAddress => "no address",
        })
    }
}

fn v4(s: &str) -> Ipv4Net {
    s.parse().expect("a static IPv4 network")
}

fn v6(s: &str) -> Ipv6Net {
    s.parse().expect("a static IPv6 network")
}

/// Why `ip` may not be connected to for a document, or `None` for a public
/// unicast address.
pub fn refused(ip: IpAddr) -> Option<AddressKind> {
    match ip {
        IpAddr::V4(ip) => refused_v4(ip),
        IpAddr::V6(ip) => refused_v6(ip),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<AddressKind> {
    use AddressKind::*;
    const METADATA: [Ipv4Addr; 2] = [
        Ipv4Addr::new(169, 254, 169, 254),
        Ipv4Addr::new(169, 254, 170, 2),
    ];
    let special = [
        "0.0.0.0/8",       // "this network"
        "192.0.0.0/24",    // IETF protocol assignments
        "192.0.2.0/24",    // TEST-NET-1
        "198.51.100.0/24", // TEST-NET-2
        "203.0.113.0/24",  // TEST-NET-3
        "198.18.0.0/15",   // benchmarking
        "192.88.99.0/24",  // 6to4 relay anycast
        "240.0.0.0/4",     // reserved
    ];
    Some(if METADATA.contains(&ip) {
        Metadata
    } else if ip.is_unspecified() {
        Unspecified
    } else if ip.is_loopback() {
        Loopback
    } else if ip.is_private() {
        Private
    } else if v4("100.64.0.0/10").contains(&ip) {
        SharedCgnat
    } else if ip.is_link_local() {
        LinkLocal
    } else if ip.is_multicast() || ip.is_broadcast() {
        Multicast
    } else if special.iter().any(|n| v4(n).contains(&ip)) {
        Special
    } else {
        return None;
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<AddressKind> {
    use AddressKind::*;
    const METADATA: Ipv6Addr = Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254);
    let special = [
        "64:ff9b::/96",   // NAT64 (reaches IPv4 through a translator)
        "64:ff9b:1::/48", // local-use NAT64
        "100::/64",       // discard
        "2001::/32",      // Teredo
        "2001:db8::/32",  // documentation
        "2001:2::/48",    // benchmarking
        "2002::/16",      // 6to4 (embeds an IPv4 address)
        "fec0::/10",      // deprecated site-local
    ];
    Some(if ip == METADATA {
        Metadata
    } else if ip.is_unspecified() {
        Unspecified
    } else if ip.is_loopback() {
        Loopback
    } else if ip.to_ipv4_mapped().is_some() || v6("::/96").contains(&ip) {
        Ipv4Mapped
    } else if ip.is_unique_local() {
        UniqueLocal
    } else if ip.is_unicast_link_local() {
        LinkLocal
    } else if ip.is_multicast() {
        Multicast
    } else if special.iter().any(|n| v6(n).contains(&ip)) {
        Special
    } else {
        return None;
    })
}

/// What the download client may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DocumentUrlPolicy {
    /// `ARCHIVE_ALLOW_INSECURE_DOCUMENT_URLS` (local development and tests
    /// only): `http` and loopback addresses (literal or resolved) allowed.
    pub allow_insecure: bool,
    /// `DOCUMENT_HOST_ALLOWLIST`: host suffixes, lowercase, without a
    /// leading dot; empty = any public host.
    pub host_allowlist: Vec<String>,
}

impl DocumentUrlPolicy {
    /// Parses a comma-separated suffix list (`.amazonaws.com, spotdraft.com`).
    pub fn parse_allowlist(list: &str) -> Vec<String> {
        list.split(',')
            .map(|s| s.trim().trim_start_matches('.').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect()
    }

    /// Checks a URL before any request is made.
    pub fn check_url(&self, url: &str) -> Result<reqwest::Url, UrlRefused> {
        let parsed = reqwest::Url::parse(url).map_err(|_| UrlRefused::Malformed)?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_insecure => {}
            _ => return Err(UrlRefused::Scheme),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(UrlRefused::UserInfo);
        }
        let host = match parsed.host() {
            None => return Err(UrlRefused::Malformed),
            Some(url::Host::Domain(d)) => d.trim_end_matches('.').to_ascii_lowercase(),
            // An IP literal is not resolved (the resolver never sees it): it
            // is refused here, or, in development, allowed only on loopback.
            Some(url::Host::Ipv4(ip)) => return self.literal(IpAddr::V4(ip)).map(|()| parsed),
            Some(url::Host::Ipv6(ip)) => return self.literal(IpAddr::V6(ip)).map(|()| parsed),
        };
        if !self.host_allowlist.is_empty()
            && !self
                .host_allowlist
                .iter()
                .any(|s| host == *s || host.ends_with(&format!(".{s}")))
        {
            return Err(UrlRefused::NotAllowlisted);
        }
        Ok(parsed)
    }

    fn literal(&self, ip: IpAddr) -> Result<(), UrlRefused> {
        let dev_loopback = self.allow_insecure
            && self.host_allowlist.is_empty()
            && refused(ip) == Some(AddressKind::Loopback);
        if dev_loopback {
            Ok(())
        } else {
            Err(UrlRefused::IpLiteral)
        }
    }

    /// Whether an address the host resolved to may be connected to.
    pub fn address_allowed(&self, ip: IpAddr) -> Result<(), AddressKind> {
        match refused(ip) {
            None => Ok(()),
            Some(AddressKind::Loopback) if self.allow_insecure => Ok(()),
            Some(kind) => Err(kind),
        }
    }
}

/// The resolver of the download client: the system's resolution, then only
/// the addresses [`DocumentUrlPolicy::address_allowed`] accepts; none left is
/// an [`UrlRefused::Address`] error (the connection is never attempted).
#[derive(Debug, Clone)]
pub struct FilteringResolver {
    policy: Arc<DocumentUrlPolicy>,
}

impl FilteringResolver {
    /// A resolver enforcing `policy`.
    pub fn new(policy: Arc<DocumentUrlPolicy>) -> Self {
        FilteringResolver { policy }
    }

    /// Keeps the allowed addresses; the first refusal names the kind when
    /// none is left.
    pub fn filter(
        &self,
        addrs: impl IntoIterator<Item = SocketAddr>,
    ) -> Result<Vec<SocketAddr>, UrlRefused> {
        let mut first_refusal = AddressKind::NoAddress;
        let mut kept = Vec::new();
        for addr in addrs {
            match self.policy.address_allowed(addr.ip()) {
                Ok(()) => kept.push(addr),
                Err(kind) => {
                    if first_refusal == AddressKind::NoAddress {
                        first_refusal = kind;
                    }
                }
            }
        }
        if kept.is_empty() {
            Err(UrlRefused::Address(first_refusal))
        } else {
            Ok(kept)
        }
    }
}

impl Resolve for FilteringResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let this = self.clone();
        Box::pin(async move {
            // The port is the connector's; 0 here (as reqwest's own resolver).
            let resolved = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let kept = this.filter(resolved)?;
            let addrs: Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<AddressKind> {
        refused(s.parse().unwrap())
    }

    #[test]
    fn ipv4_ranges_are_refused_exactly_at_their_boundaries() {
        use AddressKind::*;
        let cases: &[(&str, Option<AddressKind>)] = &[
            ("0.0.0.0", Some(Unspecified)),
            ("0.255.255.255", Some(Special)),
            ("1.0.0.0", None),
            ("9.255.255.255", None),
            ("10.0.0.0", Some(Private)),
            ("10.255.255.255", Some(Private)),
            ("11.0.0.0", None),
            ("100.63.255.255", None),
            ("100.64.0.0", Some(SharedCgnat)),
            ("100.127.255.255", Some(SharedCgnat)),
            ("100.128.0.0", None),
            ("126.255.255.255", None),
            ("127.0.0.0", Some(Loopback)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.255.255", Some(Loopback)),
            ("128.0.0.0", None),
            ("169.253.255.255", None),
            ("169.254.0.0", Some(LinkLocal)),
            ("169.254.169.253", Some(LinkLocal)),
            ("169.254.169.254", Some(Metadata)),
            ("169.254.169.255", Some(LinkLocal)),
            ("169.254.170.2", Some(Metadata)),
            ("169.254.255.255", Some(LinkLocal)),
            ("169.255.0.0", None),
            ("172.15.255.255", None),
            ("172.16.0.0", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("172.32.0.0", None),
            ("192.0.0.0", Some(Special)),
            ("192.0.0.255", Some(Special)),
            ("192.0.1.0", None),
            ("192.0.2.0", Some(Special)),
            ("192.0.2.255", Some(Special)),
            ("192.0.3.0", None),
            ("192.88.99.1", Some(Special)),
            ("192.167.255.255", None),
            ("192.168.0.0", Some(Private)),
            ("192.168.255.255", Some(Private)),
            ("192.169.0.0", None),
            ("198.17.255.255", None),
            ("198.18.0.0", Some(Special)),
            ("198.19.255.255", Some(Special)),
            ("198.20.0.0", None),
            ("198.51.100.7", Some(Special)),
            ("203.0.113.255", Some(Special)),
            ("203.0.114.0", None),
            ("223.255.255.255", None),
            ("224.0.0.0", Some(Multicast)),
            ("239.255.255.255", Some(Multicast)),
            ("240.0.0.0", Some(Special)),
            ("255.255.255.254", Some(Special)),
            ("255.255.255.255", Some(Multicast)),
            ("52.95.110.1", None),
            ("8.8.8.8", None),
        ];
        for (ip, want) in cases {
            assert_eq!(kind(ip), *want, "{ip}");
        }
    }

    #[test]
    fn ipv6_ranges_are_refused_exactly_at_their_boundaries() {
        use AddressKind::*;
        let cases: &[(&str, Option<AddressKind>)] = &[
            ("::", Some(Unspecified)),
            ("::1", Some(Loopback)),
            ("::2", Some(Ipv4Mapped)),
            ("::7f00:1", Some(Ipv4Mapped)),
            ("::ffff:127.0.0.1", Some(Ipv4Mapped)),
            ("::ffff:169.254.169.254", Some(Ipv4Mapped)),
            ("::ffff:8.8.8.8", Some(Ipv4Mapped)),
            ("::1:0:0:0", None),
            ("64:ff9b::a9fe:a9fe", Some(Special)),
            ("64:ff9b:1::1", Some(Special)),
            ("100::1", Some(Special)),
            ("100:0:0:1::", None),
            ("2001::1", Some(Special)),
            ("2001:1::1", None),
            ("2001:db7:ffff::1", None),
            ("2001:db8::1", Some(Special)),
            ("2001:db9::1", None),
            ("2002::1", Some(Special)),
            ("2600:1f18::1", None),
            ("2a05:d018::1", None),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("fc00::", Some(UniqueLocal)),
            ("fd00:ec2::253", Some(UniqueLocal)),
            ("fd00:ec2::254", Some(Metadata)),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(UniqueLocal)),
            ("fe00::", None),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", None),
            ("fe80::", Some(LinkLocal)),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Some(LinkLocal)),
            ("fec0::1", Some(Special)),
            ("ff00::", Some(Multicast)),
            ("ff02::1", Some(Multicast)),
        ];
        for (ip, want) in cases {
            assert_eq!(kind(ip), *want, "{ip}");
        }
    }

    fn policy(insecure: bool, allow: &str) -> DocumentUrlPolicy {
        DocumentUrlPolicy {
            allow_insecure: insecure,
            host_allowlist: DocumentUrlPolicy::parse_allowlist(allow),
        }
    }

    #[test]
    fn urls_need_https_a_name_and_the_allowlist() {
        let p = policy(false, "");
        let ok = "https://bucket.s3.amazonaws.com/doc.pdf?X-Amz-Signature=x";
        assert!(p.check_url(ok).is_ok());
        for (url, why) in [
            ("http://bucket.s3.amazonaws.com/doc.pdf", UrlRefused::Scheme),
            ("ftp://bucket.s3.amazonaws.com/doc.pdf", UrlRefused::Scheme),
            ("file:///etc/passwd", UrlRefused::Scheme),
            ("https://127.0.0.1/latest/meta-data/", UrlRefused::IpLiteral),
            ("https://169.254.169.254/latest/", UrlRefused::IpLiteral),
            ("https://8.8.8.8/doc.pdf", UrlRefused::IpLiteral),
            ("https://[::1]/doc.pdf", UrlRefused::IpLiteral),
            ("https://[fd00:ec2::254]/", UrlRefused::IpLiteral),
            ("https://2130706433/doc.pdf", UrlRefused::IpLiteral),
            ("https://0x7f.1/doc.pdf", UrlRefused::IpLiteral),
            ("https://user:pw@example.com/doc.pdf", UrlRefused::UserInfo),
            ("not a url", UrlRefused::Malformed),
        ] {
            assert_eq!(p.check_url(url).unwrap_err(), why, "{url}");
        }
        let p = policy(false, " .amazonaws.com, Files.SpotDraft.com ,");
        assert_eq!(p.host_allowlist, ["amazonaws.com", "files.spotdraft.com"]);
        assert!(p.check_url(ok).is_ok());
        assert!(p.check_url("https://files.spotdraft.com./x").is_ok());
        assert!(p.check_url("https://AMAZONAWS.COM/x").is_ok());
        for url in [
            "https://evilamazonaws.com/x",
            "https://amazonaws.com.evil.net/x",
            "https://spotdraft.com/x",
        ] {
            assert_eq!(
                p.check_url(url).unwrap_err(),
                UrlRefused::NotAllowlisted,
                "{url}"
            );
        }
    }

    #[test]
    fn the_development_setting_allows_http_and_loopback_only() {
        let p = policy(true, "");
        assert!(p.check_url("http://127.0.0.1:9000/files/x.pdf").is_ok());
        assert!(p.check_url("http://[::1]:9000/x").is_ok());
        assert!(p.check_url("http://localhost:9000/x").is_ok());
        for url in [
            "http://169.254.169.254/latest/meta-data/",
            "http://10.0.0.1/x",
            "http://[fd00:ec2::254]/x",
            "http://[::ffff:127.0.0.1]/x",
            "http://8.8.8.8/x",
        ] {
            assert_eq!(
                p.check_url(url).unwrap_err(),
                UrlRefused::IpLiteral,
                "{url}"
            );
        }
        assert_eq!(p.address_allowed("127.0.0.1".parse().unwrap()), Ok(()));
        assert_eq!(
            p.address_allowed("169.254.169.254".parse().unwrap()),
            Err(AddressKind::Metadata)
        );
        assert_eq!(
            policy(false, "").address_allowed("127.0.0.1".parse().unwrap()),
            Err(AddressKind::Loopback)
        );
    }

    #[test]
    fn the_resolver_keeps_only_allowed_addresses() {
        let r = FilteringResolver::new(Arc::new(policy(false, "")));
        let addr = |s: &str| SocketAddr::new(s.parse().unwrap(), 0);
        assert_eq!(
            r.filter([addr("10.0.0.1"), addr("52.95.110.1")]).unwrap(),
            [addr("52.95.110.1")]
        );
        assert_eq!(
            r.filter([addr("127.0.0.1"), addr("::1")]).unwrap_err(),
            UrlRefused::Address(AddressKind::Loopback)
        );
        assert_eq!(
            r.filter([]).unwrap_err(),
            UrlRefused::Address(AddressKind::NoAddress)
        );
    }

    #[tokio::test]
    async fn a_name_resolving_to_loopback_is_refused_at_resolution() {
        let r = FilteringResolver::new(Arc::new(policy(false, "")));
        let err = r
            .resolve("localhost".parse().unwrap())
            .await
            .err()
            .expect("refused");
        assert_eq!(
            err.downcast_ref::<UrlRefused>(),
            Some(&UrlRefused::Address(AddressKind::Loopback))
        );
        let dev = FilteringResolver::new(Arc::new(policy(true, "")));
        assert!(dev.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
