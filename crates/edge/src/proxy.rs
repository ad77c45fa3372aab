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
    if b"PROXY".starts_with(&buf[..buf.len().min(5)]) {
        // `PROX` is a header's start, not yet a header or not one.
        return if buf.len() < 5 { Parsed::Incomplete } else { v1(buf) };
    }
    if !buf.starts_with(&V2_SIGNATURE[..buf.len().min(12)]) {
        return Parsed::Malformed("the connection did not start with a PROXY protocol header".into());
    }
    let result = HeaderResult::parse(buf);
    if result.is_incomplete() {
        // v2's length field bounds it (checked by ppp).
        return Parsed::Incomplete;
    }
    match result {
        HeaderResult::V2(Ok(h)) => {
            if let Some(Err(e)) = h.tlvs().find(Result::is_err) {
                return Parsed::Malformed(format!("v2 header: a truncated TLV ({e})"));
            }
            // SMTP runs over TCP: a datagram or unspecified protocol, or a non-IP family, is
            // not a client this edge can have.
            let client = match (h.command, h.protocol, h.addresses) {
                (v2::Command::Local, _, _) => ProxyHeader::Local,
                (v2::Command::Proxy, v2::Protocol::Stream, v2::Addresses::IPv4(a)) => {
                    ProxyHeader::Client(IpAddr::V4(a.source_address))
                }
                (v2::Command::Proxy, v2::Protocol::Stream, v2::Addresses::IPv6(a)) => {
                    ProxyHeader::Client(IpAddr::V6(a.source_address))
                }
                (v2::Command::Proxy, protocol, addresses) => {
                    return Parsed::Malformed(format!(
                        "v2 header for {protocol:?} over {:?}: only TCP over IPv4 or IPv6 (STREAM) is believed",
                        addresses.address_family()
                    ));
                }
            };
            Parsed::Header(client, h.len())
        }
        HeaderResult::V2(Err(e)) => Parsed::Malformed(format!("v2 header: {e}")),
        HeaderResult::V1(_) => Parsed::Malformed("a v1 header without its PROXY start".into()),
    }
}

/// A v1 header: one line, at most 107 bytes, ending with CRLF. `ppp` also ends it at a bare
/// LF, which would take the rest of that client's bytes for a header.
fn v1(buf: &[u8]) -> Parsed {
    let Some(lf) = buf.iter().position(|&b| b == b'\n') else {
        return if buf.len() > 107 {
            Parsed::Malformed("PROXY v1 header longer than 107 bytes".into())
        } else {
            Parsed::Incomplete
        };
    };
    let line = &buf[..=lf];
    if line.len() > 107 {
        return Parsed::Malformed("PROXY v1 header longer than 107 bytes".into());
    }
    if !line.ends_with(b"\r\n") || line[..lf - 1].contains(&b'\r') {
        return Parsed::Malformed("v1 header: a line ends with CRLF, not a bare CR or LF".into());
    }
    match HeaderResult::parse(line) {
        HeaderResult::V1(Ok(h)) if h.header.len() == line.len() => {
            let client = match h.addresses {
                ppp::v1::Addresses::Tcp4(a) => ProxyHeader::Client(IpAddr::V4(a.source_address)),
                ppp::v1::Addresses::Tcp6(a) => ProxyHeader::Client(IpAddr::V6(a.source_address)),
                ppp::v1::Addresses::Unknown => ProxyHeader::Local,
            };
            Parsed::Header(client, line.len())
        }
        HeaderResult::V1(Err(e)) => Parsed::Malformed(format!("v1 header: {e}")),
        _ => Parsed::Malformed("v1 header: not one whole line".into()),
    }
}

/// Whether the first bytes a client sent look like a PROXY header (from an untrusted peer
/// that means a protocol error, not a command).
pub fn looks_like_header(buf: &[u8]) -> bool {
    buf.starts_with(b"PROXY ") || (buf.len() >= 4 && buf.starts_with(&V2_SIGNATURE[..buf.len().min(12)]))
}

/// Whether `buf` may still become a PROXY v1 header: `PROX` is neither a header nor a
/// command yet, so an untrusted peer's split header gets the header's reply, not `500`.
/// (A v2 signature's start is decided by [`looks_like_header`] from its fourth byte.)
pub fn undecided(buf: &[u8]) -> bool {
    buf.len() < 6 && b"PROXY ".starts_with(buf)
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
        // Found in review: a header split within its first five bytes was refused.
        for n in 1..=5 {
            assert_eq!(parse(&v1[..n]), Parsed::Incomplete, "{n}");
        }
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
        // Found by fuzzing: `ppp` ended a v1 header at a bare LF.
        for bare in [
            &b"PROXY TCP6 2001:db8::9 2001:db8::1 4000 25 \nEHLO x\r\n"[..],
            b"PROXY UNKNOWN \nRSET\r\n",
            b"PROXY UNKNOWN\r\r\n",
        ] {
            assert!(matches!(parse(bare), Parsed::Malformed(_)), "{bare:?}");
        }
        assert_eq!(parse(b"PROXY UNKNOWN whatever\r\nEHLO x\r\n"), Parsed::Header(ProxyHeader::Local, 24));
        assert!(looks_like_header(b"PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"));
        assert!(looks_like_header(V2_SIGNATURE));
        assert!(!looks_like_header(b"\r\nEHLO"));
    }

    /// SMTP comes over TCP: from a trusted proxy, only STREAM over IPv4 or IPv6 names a client.
    #[test]
    fn only_tcp_is_believed_and_a_truncated_tlv_is_malformed() {
        let (client, server): (SocketAddr, SocketAddr) =
            ("203.0.113.9:4000".parse().unwrap(), "192.0.2.1:25".parse().unwrap());
        let with = |protocol| {
            v2::Builder::with_addresses(v2::Version::Two | v2::Command::Proxy, protocol, (client, server))
                .build()
                .unwrap()
        };
        let Parsed::Malformed(why) = parse(&with(v2::Protocol::Datagram)) else { panic!("DGRAM was believed") };
        assert_eq!(why, "v2 header for Datagram over IPv4: only TCP over IPv4 or IPv6 (STREAM) is believed");
        assert!(matches!(parse(&with(v2::Protocol::Unspecified)), Parsed::Malformed(_)));
        assert!(matches!(parse(&with(v2::Protocol::Stream)), Parsed::Header(ProxyHeader::Client(_), 28)));

        // TCP over IPv4, then a NOOP TLV that claims 5 bytes and has 2.
        let mut truncated = V2_SIGNATURE.to_vec();
        truncated.extend_from_slice(&[0x21, 0x11, 0x00, 17, 203, 0, 113, 9, 192, 0, 2, 1, 0x0f, 0xa0, 0, 25]);
        truncated.extend_from_slice(&[0x04, 0x00, 0x05, 0xaa, 0xbb]);
        let Parsed::Malformed(why) = parse(&truncated) else { panic!("a truncated TLV was believed") };
        assert!(why.starts_with("v2 header: a truncated TLV"), "{why}");
        // The same TLV whole is fine.
        let mut whole = truncated.clone();
        whole[15] = 20;
        whole.extend_from_slice(&[0xcc, 0xdd, 0xee]);
        assert!(matches!(parse(&whole), Parsed::Header(ProxyHeader::Client(_), 36)));
    }

    #[test]
    fn the_start_of_a_v1_header_is_undecided() {
        for n in 1..6 {
            assert!(undecided(&b"PROXY "[..n]), "{n}");
        }
        assert!(!undecided(b"PROXY "));
        assert!(!undecided(b"EHLO x\r\n"));
        assert!(!undecided(b"PRX"));
    }
}
