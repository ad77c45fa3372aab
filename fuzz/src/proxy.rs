//! PROXY v1 and v2 headers. A header is believed whole or refused: it is never believed from
//! part of its bytes, the length it reports is exactly its own (so every byte after it is
//! kept for SMTP), and what follows it changes nothing.

use std::net::IpAddr;

use doorman_edge::proxy::{Parsed, V2_SIGNATURE, parse};
use doorman_policy::ProxyHeader;

pub fn check(buf: &[u8]) {
    let parsed = parse(buf);
    match &parsed {
        Parsed::Header(h, n) => {
            let n = *n;
            assert!(n <= buf.len(), "a header of {n} bytes in {}", buf.len());
            // Exactly its own length: v1 to its first CRLF, v2 its 16 bytes and what they say.
            if buf.starts_with(b"PROXY") {
                let crlf = buf.windows(2).position(|w| w == b"\r\n").expect("a v1 header ends with CRLF");
                assert_eq!(n, crlf + 2, "v1 header length");
                assert!(n <= 107, "a v1 header is at most 107 bytes");
            } else {
                assert!(buf.starts_with(V2_SIGNATURE), "believed without the v2 signature");
                assert_eq!(n, 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]])), "v2 header length");
            }
            // The header alone, or with other bytes after it, is the same header.
            assert_eq!(parse(&buf[..n]), Parsed::Header(h.clone(), n));
            let mut other = buf[..n].to_vec();
            other.extend_from_slice(b"EHLO x\r\n");
            assert_eq!(parse(&other), Parsed::Header(h.clone(), n));
            // Part of it is only ever the start of a header: never believed, never refused.
            for k in 1..n {
                assert_eq!(parse(&buf[..k]), Parsed::Incomplete, "{k} of its {n} bytes");
            }
            // The client is the one the header names.
            if let ProxyHeader::Client(ip) = h {
                let named: IpAddr = if buf.starts_with(b"PROXY") {
                    let line = std::str::from_utf8(&buf[..n - 2]).expect("a believed v1 header is text");
                    line.split(' ').nth(2).and_then(|a| a.parse().ok()).expect("a v1 source address")
                } else if buf[13] & 0xf0 == 0x10 {
                    IpAddr::from(<[u8; 4]>::try_from(&buf[16..20]).unwrap())
                } else {
                    IpAddr::from(<[u8; 16]>::try_from(&buf[16..32]).unwrap())
                };
                assert_eq!(*ip, named, "the client is not the header's source address");
            }
        }
        Parsed::Malformed(why) => {
            assert!(!why.is_empty());
            // A refusal is final: more bytes do not make a header of it.
            let mut more = buf.to_vec();
            more.extend_from_slice(b"\r\n");
            assert!(!matches!(parse(&more), Parsed::Header(..)), "refused, then believed with more bytes");
        }
        Parsed::Incomplete => {
            // Only a header's own start is incomplete, and a v1 header cannot wait past 107 bytes.
            assert!(
                b"PROXY".starts_with(&buf[..buf.len().min(5)])
                    || V2_SIGNATURE.starts_with(&buf[..buf.len().min(12)])
                    || buf.starts_with(V2_SIGNATURE),
                "incomplete, yet not the start of a header"
            );
            if buf.starts_with(b"PROXY") {
                assert!(buf.len() <= 107, "a v1 header still incomplete after {} bytes", buf.len());
            } else if buf.len() >= 16 {
                assert!(
                    buf.len() < 16 + usize::from(u16::from_be_bytes([buf[14], buf[15]])),
                    "v2 incomplete though whole"
                );
            }
        }
    }
}
