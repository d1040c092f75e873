//! Slowing down password guessing: after repeated failures for one username or from one address,
//! further attempts are refused (429) for a while, whatever the password.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Failures allowed for one username within [`WINDOW`] before its attempts are refused.
const MAX_FAILURES: u32 = 10;
/// Failures allowed from one address (many users may share one behind a NAT or proxy).
const MAX_ADDR_FAILURES: u32 = 100;
const WINDOW: Duration = Duration::from_secs(60);
/// Entries kept at most (a flood of distinct names cannot grow memory without bound).
const MAX_ENTRIES: usize = 100_000;

#[derive(Default)]
pub struct Limiter {
    users: Mutex<HashMap<String, (u32, Instant)>>,
    addrs: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

fn blocked<K: std::hash::Hash + Eq>(
    map: &Mutex<HashMap<K, (u32, Instant)>>,
    k: &K,
    max: u32,
) -> bool {
    map.lock()
        .map(|m| {
            m.get(k)
                .is_some_and(|(n, since)| *n >= max && since.elapsed() < WINDOW)
        })
        .unwrap_or(false)
}

fn fail<K: std::hash::Hash + Eq>(map: &Mutex<HashMap<K, (u32, Instant)>>, k: K) {
    if let Ok(mut m) = map.lock() {
        if m.len() >= MAX_ENTRIES {
            m.retain(|_, (_, since)| since.elapsed() < WINDOW);
            if m.len() >= MAX_ENTRIES {
                m.clear();
            }
        }
        let e = m.entry(k).or_insert((0, Instant::now()));
        if e.1.elapsed() >= WINDOW {
            *e = (0, Instant::now());
        }
        e.0 += 1;
    }
}

impl Limiter {
    /// Whether attempts for this user or from this address are refused now.
    pub fn is_blocked(&self, username: Option<&str>, addr: Option<IpAddr>) -> bool {
        username.is_some_and(|u| blocked(&self.users, &u.to_owned(), MAX_FAILURES))
            || addr.is_some_and(|a| blocked(&self.addrs, &a, MAX_ADDR_FAILURES))
    }

    pub fn record_failure(&self, username: Option<&str>, addr: Option<IpAddr>) {
        if let Some(u) = username {
            fail(&self.users, u.to_owned());
        }
        if let Some(a) = addr {
            fail(&self.addrs, a);
        }
    }

    pub fn record_success(&self, username: &str) {
        if let Ok(mut m) = self.users.lock() {
            m.remove(username);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_failures_block_the_user_and_the_address() {
        let l = Limiter::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        for _ in 0..MAX_FAILURES {
            assert!(!l.is_blocked(Some("bob"), Some(a)));
            l.record_failure(Some("bob"), Some(a));
        }
        assert!(l.is_blocked(Some("bob"), None));
        assert!(!l.is_blocked(Some("alice"), Some(a)));
        for i in 0..MAX_ADDR_FAILURES {
            l.record_failure(Some(&format!("user{i}")), Some(a));
        }
        assert!(l.is_blocked(Some("alice"), Some(a)));
        assert!(!l.is_blocked(Some("alice"), Some("10.0.0.2".parse().unwrap())));
    }
}
