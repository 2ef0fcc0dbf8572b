//! Requests from signed-out clients are limited per address: a page load or a guess of the
//! token costs one, and a client past the limit waits (429 with Retry-After). Signed-in
//! requests are never counted.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Requests a signed-out client may make in one window.
pub const SIGNED_OUT_REQUESTS: u32 = 30;
/// The window.
const WINDOW: Duration = Duration::from_secs(60);
/// Addresses remembered before expired windows are swept.
const SWEEP_AT: usize = 10_000;

/// The network a peer counts as: its IPv4 address, or the /64 of its IPv6 address (one
/// machine may use many addresses of its /64, changing them at will).
pub fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// The client a request comes from: its peer, or, when the peer is one of `proxies`, the
/// last address the proxy added to `X-Forwarded-For` (addresses before it are the
/// client's own word).
pub fn client(peer: IpAddr, forwarded: Option<&str>, proxies: &[IpAddr]) -> IpAddr {
    if !proxies.contains(&peer) {
        return peer;
    }
    forwarded
        .and_then(|f| f.rsplit(',').next())
        .and_then(|last| last.trim().parse::<IpAddr>().ok())
        .unwrap_or(peer)
}

/// Per-address counts of signed-out requests.
#[derive(Debug, Default)]
pub struct Limiter {
    seen: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl Limiter {
    /// Counts a request from `ip` at `now`; `Err` holds the seconds until it may try again.
    pub fn allow(&self, ip: IpAddr, now: Instant) -> Result<(), u64> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.len() >= SWEEP_AT {
            seen.retain(|_, (start, _)| now.duration_since(*start) < WINDOW);
        }
        let (start, count) = seen.entry(network(ip)).or_insert((now, 0));
        if now.duration_since(*start) >= WINDOW {
            (*start, *count) = (now, 0);
        }
        if *count >= SIGNED_OUT_REQUESTS {
            let left = WINDOW.saturating_sub(now.duration_since(*start));
            return Err(left.as_secs().max(1));
        }
        *count += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_trusted_proxy_the_client_is_the_one_it_names() {
        let proxy: IpAddr = "10.0.0.2".parse().unwrap();
        let other: IpAddr = "10.0.0.3".parse().unwrap();
        let said = Some("6.6.6.6, 192.168.5.17");
        assert_eq!(
            client(proxy, said, &[proxy]),
            "192.168.5.17".parse::<IpAddr>().unwrap()
        );
        assert_eq!(
            client(other, said, &[proxy]),
            other,
            "not a proxy: its own address"
        );
        assert_eq!(client(proxy, None, &[proxy]), proxy);
        assert_eq!(client(proxy, Some("nonsense"), &[proxy]), proxy);
    }

    #[test]
    fn an_ipv6_machine_is_its_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(network(a), network(b));
        assert_ne!(network(a), network(c));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(network(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());
        let limiter = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..SIGNED_OUT_REQUESTS {
            assert!(limiter.allow(a, t0).is_ok());
        }
        assert!(
            limiter.allow(b, t0).is_err(),
            "a new address of the same /64"
        );
        assert!(limiter.allow(c, t0).is_ok());
    }

    #[test]
    fn each_address_has_its_own_window() {
        let limiter = Limiter::default();
        let (a, b) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let t0 = Instant::now();
        for _ in 0..SIGNED_OUT_REQUESTS {
            assert!(limiter.allow(a, t0).is_ok());
        }
        let wait = limiter.allow(a, t0 + Duration::from_secs(15)).unwrap_err();
        assert_eq!(wait, 45);
        assert!(
            limiter.allow(b, t0).is_ok(),
            "another address is not held back"
        );
        assert!(limiter.allow(a, t0 + WINDOW).is_ok(), "a new window");
    }
}
