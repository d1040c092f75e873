//! What a request may claim about where it comes from: the hosts the server answers to
//! (`--allowed-hosts`, against DNS rebinding), the web origins that may change data
//! (`--cors-allowed-origins`), the frame policy, and the proxies whose forwarding headers count
//! (`--trusted-proxies`). [`crate::api::guard`] applies it to every request.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderValue;

/// A CIDR block, `10.0.0.0/8` or `::1/128`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{s}' is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{s}' has an invalid prefix length"))?,
            None => max,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// Shell-style matching of `*` and `?`, ASCII case-insensitive (host names and origins).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// The guards' configuration.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Host header patterns; `*` allows every host.
    pub allowed_hosts: Vec<String>,
    /// Web origins (patterns) allowed to make cross-origin requests.
    pub allowed_origins: Vec<String>,
    /// X-Frame-Options value, or `None` to omit the header.
    pub frame_options: Option<HeaderValue>,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<Cidr>,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            allowed_hosts: default_allowed_hosts(None),
            allowed_origins: Vec::new(),
            frame_options: Some(HeaderValue::from_static("SAMEORIGIN")),
            trusted_proxies: Vec::new(),
        }
    }
}

/// Loopback and private-network hosts, any port, plus the host the server listens on.
pub fn default_allowed_hosts(listen_host: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = Vec::new();
    for h in ["localhost", "127.0.0.1", "[::1]", "0.0.0.0"] {
        v.push(h.to_owned());
        v.push(format!("{h}:*"));
    }
    v.extend(["10.*", "192.168.*", "[fc*", "[fd*"].map(str::to_owned));
    v.extend((16..32).map(|i| format!("172.{i}.*")));
    if let Some(h) = listen_host.map(str::trim).filter(|h| !h.is_empty()) {
        let unspecified = h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_unspecified());
        if !unspecified {
            let h = if h.contains(':') && !h.starts_with('[') {
                format!("[{h}]")
            } else {
                h.to_owned()
            };
            v.push(h.clone());
            v.push(format!("{h}:*"));
        }
    }
    v
}

/// The policy's settings as the command line gives them.
#[derive(Debug, Clone, Default)]
pub struct Settings<'a> {
    /// The address the server listens on (its name is allowed by default).
    pub listen_host: &'a str,
    pub allowed_hosts: &'a [String],
    pub cors_allowed_origins: &'a [String],
    pub x_frame_options: &'a str,
    pub trusted_proxies: &'a [String],
}

impl Policy {
    /// Build from the command line's settings; a malformed one is an error naming its flag.
    pub fn new(args: &Settings<'_>) -> Result<Policy, String> {
        let hosts: Vec<String> = args
            .allowed_hosts
            .iter()
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
        let allowed_hosts = if hosts.is_empty() {
            default_allowed_hosts(Some(args.listen_host))
        } else {
            hosts
        };
        let frame_options = match args.x_frame_options.trim().to_ascii_uppercase().as_str() {
            "" | "NONE" => None,
            v @ ("SAMEORIGIN" | "DENY") => Some(HeaderValue::from_static(if v == "DENY" {
                "DENY"
            } else {
                "SAMEORIGIN"
            })),
            other => {
                return Err(format!(
                    "--x-frame-options must be SAMEORIGIN, DENY or NONE, not '{other}'"
                ))
            }
        };
        let trusted_proxies = args
            .trusted_proxies
            .iter()
            .filter(|s| !s.trim().is_empty())
            .map(|s| Cidr::parse(s).map_err(|e| format!("--trusted-proxies: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(Policy {
            allowed_hosts,
            allowed_origins: args
                .cors_allowed_origins
                .iter()
                .map(|o| o.trim().trim_end_matches('/').to_owned())
                .filter(|o| !o.is_empty())
                .collect(),
            frame_options,
            trusted_proxies,
        })
    }

    pub fn host_allowed(&self, host: &str) -> bool {
        !host.is_empty() && self.allowed_hosts.iter().any(|p| glob_match(p, host))
    }

    pub fn origin_listed(&self, origin: &str) -> bool {
        self.allowed_origins.iter().any(|p| glob_match(p, origin))
    }

    /// Whether a request from `peer` may speak for the client in forwarding headers.
    pub fn trusts(&self, peer: Option<SocketAddr>) -> bool {
        peer.is_some_and(|p| self.trusted_proxies.iter().any(|c| c.contains(p.ip())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs() {
        assert!(glob_match("localhost:*", "localhost:5000"));
        assert!(glob_match("10.*", "10.1.2.3:80"));
        assert!(!glob_match("10.*", "100.1.2.3"));
        assert!(glob_match("*.example.com", "a.b.example.com"));
        assert!(!glob_match("*.example.com", "example.com.evil"));
        assert!(glob_match("[::1]:*", "[::1]:5000"));
        assert!(glob_match("*", "anything"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("localhost", "localhost.evil"));
    }

    #[test]
    fn default_hosts() {
        let p = Policy::default();
        for ok in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:1",
            "[::1]:5000",
            "10.0.0.1",
            "172.16.0.1:80",
            "172.31.255.255",
            "192.168.0.1:8080",
            "[fd00::1]:80",
        ] {
            assert!(p.host_allowed(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example",
            "localhost.evil.example",
            "172.32.0.1",
            "127.0.0.1.nip.io",
            "11.0.0.1",
        ] {
            assert!(!p.host_allowed(bad), "{bad}");
        }
        let with_name = default_allowed_hosts(Some("mlflow.local"));
        assert!(with_name.contains(&"mlflow.local:*".to_owned()));
        assert_eq!(
            default_allowed_hosts(Some("0.0.0.0")).len(),
            default_allowed_hosts(None).len(),
            "listening on every address adds no name"
        );
    }

    #[test]
    fn cidrs() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains("10.2.3.4".parse().unwrap()));
        assert!(!c.contains("11.2.3.4".parse().unwrap()));
        assert!(c.contains("::ffff:10.0.0.1".parse().unwrap()));
        let one = Cidr::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()));
        assert!(!one.contains("127.0.0.2".parse().unwrap()));
        assert!(Cidr::parse("::1/128")
            .unwrap()
            .contains("::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("nope").is_err());
    }
}
