//! PROXY protocol headers on the wire: believed from trusted proxies only, only for TCP,
//! and never at the cost of the bytes that came with them.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::TENANTS;
use crate::support::{Edge, Raw};

const TRUSTED: &str = "trusted_proxies = [\"127.0.0.9\"]";

#[test]
fn a_proxy_header_from_an_untrusted_peer_or_a_malformed_one_closes_the_connection() {
    let edge = Edge::start("untrusted-proxy", "trusted_proxies = [\"127.0.0.9\"]", TENANTS);
    // Untrusted: greeted as a client, then the header is a protocol error.
    let mut c = Raw::connect("127.0.0.3", edge.port);
    c.send(b"PROXY TCP4 80.66.20.13 127.0.0.1 40000 25\r\nEHLO gw\r\nMAIL FROM:<x@example.net>\r\nRCPT TO:<carol@fabrikam.com>\r\nDATA\r\nSubject: x\r\n\r\nx\r\n.\r\n");
    assert!(c.reply().unwrap().starts_with("220 "));
    assert_eq!(
        c.reply().unwrap(),
        "421 4.7.0 PROXY protocol header from a peer that is not a trusted proxy, closing connection"
    );
    assert!(c.closed());
    // v2 from an untrusted peer.
    let mut c = Raw::connect("127.0.0.3", edge.port);
    c.send(b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c\x50\x42\x14\x0d\x7f\x00\x00\x01\x9c\x40\x00\x19EHLO gw\r\n");
    assert!(c.reply().unwrap().starts_with("220 "));
    assert!(c.reply().unwrap().starts_with("421 4.7.0 PROXY protocol header"));
    assert!(c.closed());
    // A trusted proxy with a malformed header, or none: refused instead of a greeting.
    let mut c = Raw::connect("127.0.0.9", edge.port);
    c.send(b"PROXY TCP4 not-an-address 127.0.0.1 1 2\r\n");
    let reply = c.reply().unwrap();
    assert!(
        reply.starts_with("421 4.7.0 Malformed PROXY protocol header from a trusted proxy: v1 header: "),
        "{reply}"
    );
    assert!(c.closed());
    let mut c = Raw::connect("127.0.0.9", edge.port);
    c.send(b"EHLO forgot-the-header\r\n");
    assert_eq!(
        c.reply().unwrap(),
        "421 4.7.0 Malformed PROXY protocol header from a trusted proxy: the connection did not start with a PROXY protocol header; closing connection"
    );
    assert!(c.closed());

    assert!(edge.spool().is_empty());
    assert_eq!(edge.wait_tracking_n(4, |l| l["stage"] == "connect").len(), 4);
}

/// A load balancer's first write often holds the header and the client's first bytes.
#[test]
fn bytes_in_the_same_read_as_a_trusted_header_are_kept_in_plain_text_and_tls() {
    let edge = Edge::start("proxy-same-read", TRUSTED, TENANTS);
    let mut c = Raw::connect("127.0.0.9", edge.port);
    c.set_timeout(Duration::from_secs(5));
    c.send(b"PROXY TCP4 203.0.113.9 127.0.0.1 40000 25\r\nEHLO lb.example\r\nNOOP\r\n");
    assert!(c.reply().expect("greeting").starts_with("220 edge.test"));
    let ehlo = c.reply().expect("the EHLO that came with the header is answered at once");
    assert!(ehlo.starts_with("250-edge.test Hello [203.0.113.9]"), "{ehlo}");
    assert_eq!(c.reply().as_deref(), Some("250 2.0.0 OK"));

    // Implicit TLS: the ClientHello in the same write as a v2 header starts the handshake.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients/proxy_then_tls.py");
    let out = Command::new("python3")
        .arg(script)
        .args([&edge.tls_port.to_string(), "127.0.0.9", "203.0.113.9"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<&str> = stdout.lines().collect();
    assert!(lines[0].starts_with("220 edge.test"), "{stdout}");
    assert_eq!(lines[1], "250-edge.test Hello [203.0.113.9]", "{stdout}");
}

/// The header's first bytes alone are neither a header nor a command: the rest is awaited,
/// and an untrusted peer gets the header's reply.
#[test]
fn a_split_header_from_an_untrusted_peer_gets_421() {
    let edge = Edge::start("proxy-split", TRUSTED, TENANTS);
    for split in [3, 5] {
        let header = b"PROXY TCP4 80.66.20.13 127.0.0.1 40000 25\r\n";
        let mut c = Raw::connect("127.0.0.3", edge.port);
        c.send(&header[..split]);
        assert!(c.reply().unwrap().starts_with("220 "));
        c.send(&header[split..]);
        assert_eq!(
            c.reply().unwrap(),
            "421 4.7.0 PROXY protocol header from a peer that is not a trusted proxy, closing connection",
            "split after {split} bytes"
        );
        assert!(c.closed());
    }
}

/// SMTP comes over TCP: a trusted proxy's DGRAM header, or one whose TLV is cut short, is a
/// protocol error, never a client address.
#[test]
fn a_trusted_proxys_datagram_or_truncated_header_is_refused() {
    let edge = Edge::start("proxy-dgram", TRUSTED, TENANTS);
    let addrs = [203, 0, 113, 9, 127, 0, 0, 1, 0x9c, 0x40, 0x00, 0x19];
    let v2 = |family_protocol: u8, tlv: &[u8], len: u8| {
        let mut h = b"\r\n\r\n\0\r\nQUIT\n\x21".to_vec();
        h.extend_from_slice(&[family_protocol, 0, len]);
        h.extend_from_slice(&addrs);
        h.extend_from_slice(tlv);
        h
    };
    let cases = [
        (v2(0x12, &[], 12), "v2 header for Datagram over IPv4: only TCP over IPv4 or IPv6 (STREAM) is believed"),
        (v2(0x11, &[0x04, 0x00, 0x05, 0xaa, 0xbb], 17), "v2 header: a truncated TLV"),
    ];
    for (header, why) in cases {
        let mut c = Raw::connect("127.0.0.9", edge.port);
        c.send(&[header.as_slice(), b"EHLO lb.example\r\n"].concat());
        let reply = c.reply().unwrap();
        assert!(
            reply.starts_with(&format!("421 4.7.0 Malformed PROXY protocol header from a trusted proxy: {why}")),
            "{reply}"
        );
        assert!(c.closed());
    }
    assert!(edge.spool().is_empty());
}
