//! The rules for channel targets: webhook and Slack URLs, email recipients, and which network
//! addresses an outgoing notification may reach (docs/decisions/outbound-webhooks.md).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// Longest URL (characters).
pub const MAX_URL_CHARS: usize = 2048;
/// How many recipients an email channel may have.
pub const MAX_RECIPIENTS: usize = 20;
/// Longest email address (RFC 5321's path limit).
pub const MAX_EMAIL_CHARS: usize = 254;

/// Why a target was refused. Messages never repeat a URL: a Slack URL is a secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    #[error("must be an absolute http:// or https:// URL of at most {MAX_URL_CHARS} characters")]
    NotHttpUrl,
    #[error("must not hold a user name or password")]
    Credentials,
    #[error("must not hold a fragment (#…)")]
    Fragment,
    #[error("points at a loopback, private, link-local or otherwise non-public address")]
    NonPublicAddress,
    #[error("must hold 1 to {MAX_RECIPIENTS} addresses")]
    RecipientCount,
    #[error("recipient {index} is not an email address")]
    Email { index: usize },
    #[error("recipient {index} appears twice")]
    DuplicateRecipient { index: usize },
}

/// A webhook or Slack URL: absolute http(s), a host, no credentials or fragment. An IP literal
/// must be public unless `allow_private`; names are checked when they are resolved, at every
/// delivery.
pub fn check_url(raw: &str, allow_private: bool) -> Result<Url, TargetError> {
    if raw.chars().count() > MAX_URL_CHARS || raw.chars().any(|c| c.is_control() || c == ' ') {
        return Err(TargetError::NotHttpUrl);
    }
    let url = Url::parse(raw).map_err(|_| TargetError::NotHttpUrl)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(TargetError::NotHttpUrl);
    }
    let host = url.host().ok_or(TargetError::NotHttpUrl)?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(TargetError::Credentials);
    }
    if url.fragment().is_some() {
        return Err(TargetError::Fragment);
    }
    if !allow_private {
        let literal = match host {
            Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
            Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
            Host::Domain(name) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                if name == "localhost" || name.ends_with(".localhost") {
                    return Err(TargetError::NonPublicAddress);
                }
                None
            }
        };
        if literal.is_some_and(|ip| !is_public(ip)) {
            return Err(TargetError::NonPublicAddress);
        }
    }
    Ok(url)
}

/// True for an address on the public internet: not loopback, private (RFC 1918, unique local),
/// link-local (cloud metadata services live there), carrier-grade NAT, unspecified, multicast,
/// broadcast, documentation or benchmarking ranges; IPv4-mapped IPv6 is judged as its IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            is_public_v6(v6)
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240) // reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local
        || (first & 0xffc0) == 0xfe80 // link-local
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b) // NAT64 reaches IPv4 of any kind
}

/// Email recipients: 1 to 20 distinct addresses (compared without case), each
/// `local@domain` of at most 254 characters, printable ASCII without spaces or the characters
/// that would let a value escape an address header, and a domain of dot-separated labels.
/// Returns them trimmed.
pub fn check_recipients(raw: &[String]) -> Result<Vec<String>, TargetError> {
    if raw.is_empty() || raw.len() > MAX_RECIPIENTS {
        return Err(TargetError::RecipientCount);
    }
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for (index, address) in raw.iter().enumerate() {
        let address = address.trim();
        if !is_email(address) {
            return Err(TargetError::Email { index });
        }
        if !seen.insert(address.to_ascii_lowercase()) {
            return Err(TargetError::DuplicateRecipient { index });
        }
        out.push(address.to_owned());
    }
    Ok(out)
}

/// The address rule of [`check_recipients`].
pub fn is_email(address: &str) -> bool {
    if address.len() > MAX_EMAIL_CHARS {
        return false;
    }
    let Some((local, domain)) = address.rsplit_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = labels.len() >= 2
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    local_ok && domain_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for ok in [
            "https://hooks.example.com/a?b=c",
            "http://example.com:8080/x",
            "https://93.184.216.34/hook",
        ] {
            assert!(check_url(ok, false).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("ftp://example.com/", TargetError::NotHttpUrl),
            ("example.com/hook", TargetError::NotHttpUrl),
            ("https://", TargetError::NotHttpUrl),
            ("https://exa mple.com", TargetError::NotHttpUrl),
            ("https://user:pw@example.com/", TargetError::Credentials),
            ("https://example.com/#x", TargetError::Fragment),
            ("http://127.0.0.1:9000/", TargetError::NonPublicAddress),
            ("http://localhost/", TargetError::NonPublicAddress),
            ("http://api.localhost./", TargetError::NonPublicAddress),
            (
                "http://169.254.169.254/latest/meta-data",
                TargetError::NonPublicAddress,
            ),
            ("http://10.1.2.3/", TargetError::NonPublicAddress),
            ("http://[::1]/", TargetError::NonPublicAddress),
            (
                "http://[::ffff:192.168.0.1]/",
                TargetError::NonPublicAddress,
            ),
            ("http://0.0.0.0/", TargetError::NonPublicAddress),
        ] {
            assert_eq!(check_url(bad, false).unwrap_err(), why, "{bad}");
        }
        assert!(check_url("http://127.0.0.1:9000/", true).is_ok());
        assert!(check_url(&format!("https://e.com/{}", "a".repeat(2048)), true).is_err());
    }

    #[test]
    fn addresses() {
        for public in ["8.8.8.8", "2606:4700::1111", "93.184.216.34"] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn recipients() {
        let ok = check_recipients(&[" ops@example.com ".into(), "a.b+c@mail.example.org".into()])
            .unwrap();
        assert_eq!(ok, vec!["ops@example.com", "a.b+c@mail.example.org"]);
        assert_eq!(check_recipients(&[]), Err(TargetError::RecipientCount));
        let many: Vec<String> = (0..21).map(|i| format!("u{i}@example.com")).collect();
        assert_eq!(check_recipients(&many), Err(TargetError::RecipientCount));
        assert_eq!(
            check_recipients(&["a@example.com".into(), "A@Example.com".into()]),
            Err(TargetError::DuplicateRecipient { index: 1 })
        );
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@localhost",
            "a b@example.com",
            "a@exa_mple.com",
            "a..b@example.com",
            "x@example.com>\r\nBcc: y@example.com",
            "<a@example.com>",
        ] {
            assert_eq!(
                check_recipients(&[bad.into()]),
                Err(TargetError::Email { index: 0 }),
                "{bad}"
            );
        }
    }
}
