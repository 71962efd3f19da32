//! Who the client is: the peer address, or — when the peer is one of `TRUSTED_PROXIES` — the
//! nearest untrusted address in `X-Forwarded-For`, read right to left (the leftmost entries are
//! whatever the client wrote and must never decide a rate limit or an allowlist).

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use axum::extract::ConnectInfo;
use http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` is believed: single addresses or CIDR ranges.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    pub fn new(ranges: Vec<IpNet>) -> Self {
        TrustedProxies(ranges)
    }

    pub fn contains(&self, address: IpAddr) -> bool {
        let address = canonical(address);
        self.0.iter().any(|range| range.contains(&address))
    }

    /// The client of a request that came from `peer` with these headers.
    pub fn client_of(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.contains(peer) {
            return canonical(peer);
        }
        // Every hop appends the address it received from; walk back from our own proxy.
        let mut client = canonical(peer);
        // Several header lines form one list, in order.
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|list| list.split(','))
            .map(str::trim)
            .collect();
        for hop in hops.iter().rev() {
            let Ok(address) = hop.parse::<IpAddr>() else {
                // Not an address: what lies left of it cannot be vouched for.
                return client;
            };
            client = canonical(address);
            if !self.contains(client) {
                return client;
            }
        }
        client
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:10.0.0.1`) as the IPv4 address they carry.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4),
        v4 => v4,
    }
}

/// One `TRUSTED_PROXIES` entry: `10.0.0.7`, `10.0.0.0/8` or `fd00::/8`.
pub fn parse_range(text: &str) -> Result<IpNet, String> {
    let text = text.trim();
    if let Ok(range) = IpNet::from_str(text) {
        return Ok(range.trunc());
    }
    text.parse::<IpAddr>()
        .map(IpNet::from)
        .map_err(|_| format!("`{text}` is neither an IP address nor a CIDR range"))
}

/// The client address of a request whose connection info the server put in its extensions.
pub fn client_ip(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &TrustedProxies,
) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(trusted.client_of(peer, headers))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trusted(ranges: &[&str]) -> TrustedProxies {
        TrustedProxies::new(ranges.iter().map(|r| parse_range(r).unwrap()).collect())
    }

    fn forwarded(lines: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append("x-forwarded-for", line.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let proxies = trusted(&["10.0.0.0/8"]);
        assert_eq!(
            proxies.client_of(ip("203.0.113.9"), &forwarded(&["127.0.0.1"])),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn forwarded_for_is_read_right_to_left_past_trusted_hops() {
        let proxies = trusted(&["10.0.0.0/8", "192.0.2.1"]);
        // The client wrote `1.2.3.4` itself; our load balancer (10.0.0.2) saw 198.51.100.7.
        let headers = forwarded(&["1.2.3.4, 198.51.100.7, 192.0.2.1"]);
        assert_eq!(
            proxies.client_of(ip("10.0.0.2"), &headers),
            ip("198.51.100.7")
        );
        // Several header lines form one list.
        let headers = forwarded(&["1.2.3.4", "198.51.100.7"]);
        assert_eq!(
            proxies.client_of(ip("10.1.2.3"), &headers),
            ip("198.51.100.7")
        );
    }

    #[test]
    fn garbage_stops_the_walk_at_the_last_vouched_hop() {
        let proxies = trusted(&["10.0.0.0/8"]);
        let headers = forwarded(&["198.51.100.7, not-an-ip, 10.0.0.9"]);
        assert_eq!(proxies.client_of(ip("10.0.0.2"), &headers), ip("10.0.0.9"));
        // No header: the proxy itself.
        assert_eq!(
            proxies.client_of(ip("10.0.0.2"), &HeaderMap::new()),
            ip("10.0.0.2")
        );
    }

    #[test]
    fn ranges_accept_bare_addresses_and_mapped_v6() {
        let proxies = trusted(&["127.0.0.1", "fd00::/8"]);
        assert!(proxies.contains(ip("127.0.0.1")));
        assert!(proxies.contains(ip("::ffff:127.0.0.1")));
        assert!(proxies.contains(ip("fd12::1")));
        assert!(!proxies.contains(ip("127.0.0.2")));
        assert!(parse_range("10.0.0.0/33").is_err());
        assert!(parse_range("proxy").is_err());
    }
}
