//! Where a webhook may send: allowed schemes, and (unless private addresses are allowed) only
//! public IP addresses, checked when a webhook is saved, before each send, and on the addresses
//! the connection actually uses (the resolver below), so DNS rebinding cannot reach inside.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use crate::error::{Error, Result};

/// MLflow's settings for webhook targets.
#[derive(Debug, Clone)]
pub struct Targets {
    /// `MLFLOW_WEBHOOK_ALLOWED_SCHEMES`, lower case.
    pub allowed_schemes: Vec<String>,
    /// `MLFLOW_WEBHOOK_ALLOW_PRIVATE_IPS`.
    pub allow_private_ips: bool,
}

/// Checks what can be checked without the network: not blank, parses, allowed scheme, a host,
/// and an IP-literal host's address.
pub fn check_shape(url: &str, t: &Targets) -> Result<url::Url> {
    if url.trim().is_empty() {
        return Err(Error::invalid(format!(
            "Webhook URL cannot be empty or just whitespace: {url:?}"
        )));
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid(format!("Invalid webhook URL {url:?}: {e}")))?;
    if !t.allowed_schemes.iter().any(|s| s == parsed.scheme()) {
        return Err(Error::invalid(format!(
            "Invalid webhook URL scheme: {:?}. Allowed schemes are: {}.",
            parsed.scheme(),
            t.allowed_schemes.join(", ")
        )));
    }
    let host = match parsed.host() {
        Some(h) => h,
        None => {
            return Err(Error::invalid(format!(
                "Webhook URL must include a hostname: {url:?}"
            )))
        }
    };
    if !t.allow_private_ips {
        let literal = match host {
            url::Host::Ipv4(a) => Some(IpAddr::V4(a)),
            url::Host::Ipv6(a) => Some(IpAddr::V6(a)),
            url::Host::Domain(_) => None,
        };
        if let Some(ip) = literal {
            refuse_private(&host.to_string(), ip)?;
        }
    }
    Ok(parsed)
}

/// The full check at save time: the shape, then every address the host resolves to.
pub async fn check(url: &str, t: &Targets) -> Result<()> {
    let parsed = check_shape(url, t)?;
    if t.allow_private_ips {
        return Ok(());
    }
    if let Some(url::Host::Domain(name)) = parsed.host() {
        resolve_public(name).await?;
    }
    Ok(())
}

fn refuse_private(host: &str, ip: IpAddr) -> Result<()> {
    if is_global(ip) {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "Webhook URL must not resolve to a non-public IP address. {host:?} resolves to {ip}."
        )))
    }
}

/// Resolves `name` and refuses it if any address is not public.
async fn resolve_public(name: &str) -> Result<Vec<SocketAddr>> {
    let lookup = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        tokio::net::lookup_host((name, 0)),
    )
    .await
    .map_err(|_| {
        Error::invalid(format!(
            "Cannot resolve webhook URL hostname {name:?}: timed out"
        ))
    })?
    .map_err(|e| Error::invalid(format!("Cannot resolve webhook URL hostname {name:?}: {e}")))?;
    let addrs: Vec<SocketAddr> = lookup.collect();
    for a in &addrs {
        refuse_private(name, a.ip())?;
    }
    if addrs.is_empty() {
        return Err(Error::invalid(format!(
            "Cannot resolve webhook URL hostname {name:?}: no addresses"
        )));
    }
    Ok(addrs)
}

/// reqwest's resolver for webhook sends: the connection uses exactly the addresses checked.
#[derive(Debug, Clone)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let name = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = resolve_public(&name)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.message.into() })?;
            let it: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(it)
        })
    }
}

/// The resolver to give the HTTP client, if private addresses are refused.
pub fn resolver(t: &Targets) -> Option<Arc<PublicOnly>> {
    (!t.allow_private_ips).then(|| Arc::new(PublicOnly))
}

/// Whether an address is publicly routable (what Python's `ipaddress.is_global` says).
pub fn is_global(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => is_global_v4(a),
        IpAddr::V6(a) => is_global_v6(a),
    }
}

fn is_global_v4(a: Ipv4Addr) -> bool {
    let o = a.octets();
    let in_net = |net: [u8; 4], bits: u32| {
        let mask = if bits == 0 {
            0
        } else {
            u32::MAX << (32 - bits)
        };
        (u32::from(a) & mask) == (u32::from(Ipv4Addr::from(net)) & mask)
    };
    !(a.is_private()
        || a.is_loopback()
        || a.is_link_local()
        || a.is_broadcast()
        || a.is_documentation()
        || a.is_unspecified()
        || a.is_multicast()
        || o[0] == 0
        || in_net([100, 64, 0, 0], 10)
        || in_net([192, 0, 0, 0], 24)
        || in_net([198, 18, 0, 0], 15)
        || in_net([240, 0, 0, 0], 4))
}

fn is_global_v6(a: Ipv6Addr) -> bool {
    if let Some(v4) = a.to_ipv4_mapped() {
        return is_global_v4(v4);
    }
    let s = a.segments();
    // NAT64 (64:ff9b::/96) carries an IPv4 address in its last 32 bits.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6].iter().all(|x| *x == 0) {
        return is_global_v4(Ipv4Addr::new(
            (s[6] >> 8) as u8,
            s[6] as u8,
            (s[7] >> 8) as u8,
            s[7] as u8,
        ));
    }
    !(a.is_loopback()
        || a.is_unspecified()
        || a.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00 // unique local
        || (s[0] & 0xffc0) == 0xfe80 // link local
        || (s[0] & 0xffc0) == 0xfec0 // site local (deprecated)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
        || (s[0] == 0x0100 && s[1..4].iter().all(|x| *x == 0)) // discard
        || (s[0] == 0x2001 && s[1] < 0x0200) // IETF protocol assignments (Teredo, ...)
        || s[0] == 0x2002 // 6to4
        || s[..6].iter().all(|x| *x == 0)) // IPv4-compatible, deprecated
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strict() -> Targets {
        Targets {
            allowed_schemes: vec!["https".into()],
            allow_private_ips: false,
        }
    }

    #[test]
    fn private_and_special_addresses_are_not_global() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2001:db8::1",
        ] {
            assert!(!is_global(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "2606:4700:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_global(ip.parse().unwrap()), "{ip}");
        }
    }

    #[test]
    fn shapes_mlflow_refuses() {
        let t = strict();
        let msg = |u: &str| check_shape(u, &t).unwrap_err().message;
        assert!(msg("   ").contains("cannot be empty or just whitespace"));
        assert!(msg("ftp://example.com").contains("Invalid webhook URL scheme"));
        assert!(msg("http://[invalid").contains("Invalid webhook URL"));
        assert!(msg("https://127.0.0.1/hook").contains("non-public IP"));
        assert!(msg("https://[::1]/hook").contains("non-public IP"));
        assert!(msg("https://169.254.169.254/latest").contains("non-public IP"));
        assert!(check_shape("https://8.8.8.8/hook", &t).is_ok());
        let open = Targets {
            allowed_schemes: vec!["http".into(), "https".into()],
            allow_private_ips: true,
        };
        assert!(check_shape("http://127.0.0.1:9/hook", &open).is_ok());
    }

    #[tokio::test]
    async fn names_resolving_to_loopback_are_refused() {
        let e = check("https://localhost/hook", &strict())
            .await
            .unwrap_err();
        assert!(e.message.contains("non-public IP"), "{}", e.message);
    }
}
