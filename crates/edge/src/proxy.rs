//! PROXY protocol v1 and v2 (HAProxy's), read before the greeting from trusted proxies only.
//! Parsing is `ppp`'s; whether a header is believed is the policy's decision.

use std::net::{IpAddr, SocketAddr};

use doorman_policy::ProxyHeader;
use ppp::v2;
use ppp::{HeaderResult, PartialResult};

/// The v2 signature; a v1 header starts with `PROXY `.
pub const V2_SIGNATURE: &[u8] = b"\r\n\r\n\0\r\nQUIT\n";

#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Incomplete,
    /// The header (`Client` or `Local`) and how many bytes it took.
    Header(ProxyHeader, usize),
    Malformed(String),
}

impl Parsed {
    /// What the policy is told when this is all there is: an incomplete header is malformed.
    pub fn into_header(self) -> ProxyHeader {
        match self {
            Parsed::Header(h, _) => h,
            Parsed::Incomplete => ProxyHeader::Malformed("an incomplete PROXY header".into()),
            Parsed::Malformed(why) => ProxyHeader::Malformed(why),
        }
    }
}

/// Parses a header at the start of `buf`.
pub fn parse(buf: &[u8]) -> Parsed {
    if !(buf.starts_with(b"PROXY") || buf.starts_with(&V2_SIGNATURE[..buf.len().min(12)])) {
        return Parsed::Malformed("the connection did not start with a PROXY protocol header".into());
    }
    let result = HeaderResult::parse(buf);
    if result.is_incomplete() {
        // v1 is at most 107 bytes; v2's length field bounds it (checked by ppp).
        if buf.starts_with(b"PROXY") && buf.len() > 107 {
            return Parsed::Malformed("PROXY v1 header longer than 107 bytes".into());
        }
        return Parsed::Incomplete;
    }
    match result {
        HeaderResult::V1(Ok(h)) => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => ProxyHeader::Client(IpAddr::V4(a.source_address)),
                ppp::v1::Addresses::Tcp6(a) => ProxyHeader::Client(IpAddr::V6(a.source_address)),
                ppp::v1::Addresses::Unknown => ProxyHeader::Local,
            };
            Parsed::Header(client, h.header.len())
        }
        HeaderResult::V2(Ok(h)) => {
            let client = match (h.command, h.addresses) {
                (v2::Command::Local, _) => ProxyHeader::Local,
                (_, v2::Addresses::IPv4(a)) => ProxyHeader::Client(IpAddr::V4(a.source_address)),
                (_, v2::Addresses::IPv6(a)) => ProxyHeader::Client(IpAddr::V6(a.source_address)),
                _ => ProxyHeader::Local,
            };
            Parsed::Header(client, h.len())
        }
        HeaderResult::V1(Err(e)) => Parsed::Malformed(format!("v1 header: {e}")),
        HeaderResult::V2(Err(e)) => Parsed::Malformed(format!("v2 header: {e}")),
    }
}

/// Whether the first bytes a client sent look like a PROXY header (from an untrusted peer
/// that means a protocol error, not a command).
pub fn looks_like_header(buf: &[u8]) -> bool {
    buf.starts_with(b"PROXY ") || (buf.len() >= 4 && buf.starts_with(&V2_SIGNATURE[..buf.len().min(12)]))
}

/// A v2 header for `client` (used by tests and the bench to play a load balancer).
pub fn v2_header(client: SocketAddr, server: SocketAddr) -> Vec<u8> {
    v2::Builder::with_addresses(v2::Version::Two | v2::Command::Proxy, v2::Protocol::Stream, (client, server))
        .build()
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2() {
        let v1 = b"PROXY TCP4 203.0.113.9 192.0.2.1 40000 25\r\nEHLO x\r\n";
        assert_eq!(parse(v1), Parsed::Header(ProxyHeader::Client("203.0.113.9".parse().unwrap()), 43));
        assert_eq!(parse(&v1[..20]), Parsed::Incomplete);
        assert_eq!(parse(b"PROXY UNKNOWN\r\n"), Parsed::Header(ProxyHeader::Local, 15));
        let v2 = v2_header("[2001:db8::9]:4000".parse().unwrap(), "[2001:db8::1]:25".parse().unwrap());
        let mut wire = v2.clone();
        wire.extend_from_slice(b"EHLO x\r\n");
        assert_eq!(parse(&wire), Parsed::Header(ProxyHeader::Client("2001:db8::9".parse().unwrap()), v2.len()));
        assert_eq!(parse(&v2[..10]), Parsed::Incomplete);
    }

    #[test]
    fn malformed() {
        assert!(matches!(parse(b"EHLO x\r\n"), Parsed::Malformed(_)));
        assert!(matches!(parse(b"PROXY TCP4 nonsense here 1 2\r\n"), Parsed::Malformed(_)));
        assert!(matches!(parse(&[b'P', b'R', b'O', b'X', b'Y', b' '].repeat(30)), Parsed::Malformed(_)));
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
        assert!(looks_like_header(V2_SIGNATURE));
        assert!(!looks_like_header(b"\r\nEHLO"));
    }
}
