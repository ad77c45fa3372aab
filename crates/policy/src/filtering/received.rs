//! Enhanced filtering for connectors: which client authentication judges when a gateway
//! delivered the message. Each skipped hop wrote the `Received` field that names the client
//! before it, so the chain is read from the top, one field per skipped hop, and no further:
//! fields below the first client were written by hosts nobody vouches for.

use std::net::IpAddr;

use doorman_config::EnhancedFiltering;
use serde::Serialize;

use crate::headers::MessageHeaders;

/// The client SPF, DMARC and the DNSBLs judge, and how it was found.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
pub struct AuthSubject {
    pub ip: IpAddr,
    /// The name the client gave in HELO (read from its `Received` field behind a gateway).
    pub helo: Option<String>,
    /// How many hops were skipped to reach it: 0 is the connecting client.
    pub hops_skipped: usize,
    /// When the `Received` chain could not be followed: the tenant's trusted ARC sealers,
    /// whose ARC-Authentication-Results may name the client instead (`smtp.remote-ip`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub arc_sealers: Vec<String>,
}

impl AuthSubject {
    pub fn connecting(ip: IpAddr, helo: Option<&str>) -> AuthSubject {
        AuthSubject { ip, helo: helo.map(str::to_string), hops_skipped: 0, arc_sealers: Vec::new() }
    }
}

/// The first client before the hops `ef` skips, starting from the connecting one.
/// `Err` says why the chain could not be followed; the caller then judges the connecting
/// client, as Exchange Online does.
pub fn first_client(
    connecting: IpAddr,
    helo: Option<&str>,
    headers: &MessageHeaders,
    ef: &EnhancedFiltering,
) -> Result<AuthSubject, String> {
    let mut subject = AuthSubject::connecting(connecting, helo);
    let mut fields = headers.values("received");
    loop {
        let last = subject.hops_skipped == 0 && ef.skip_last_ip;
        let listed = ef.skip_ips.iter().any(|e| e.contains(subject.ip));
        if !last && !listed {
            return Ok(subject);
        }
        let Some(field) = fields.next() else {
            return Err(format!("hop {} is skipped, but the message has no Received field it wrote", subject.ip));
        };
        let Some((helo, ip)) = received_from(field) else {
            return Err(format!(
                "hop {} is skipped, but its Received field names no client address: {:?}",
                subject.ip,
                field.chars().take(120).collect::<String>()
            ));
        };
        subject = AuthSubject { ip, helo, hops_skipped: subject.hops_skipped + 1, arc_sealers: Vec::new() };
    }
}

/// The client a `Received` field names in its `from` clause: the HELO name, and the address
/// the receiving host saw, in the comment after it: bracketed (`(mail.example [203.0.113.5])`,
/// `[IPv6:2001:db8::1]`) or bare (`(203.0.113.5)`, as Exchange writes it). The HELO name is the
/// client's own claim and is never taken for its address.
pub fn received_from(field: &str) -> Option<(Option<String>, IpAddr)> {
    let unfolded: String = field.split_whitespace().collect::<Vec<_>>().join(" ");
    let rest = unfolded.trim_start();
    let rest = rest.strip_prefix("from ").or_else(|| rest.strip_prefix("FROM "))?;
    let clause = match rest.find(" by ") {
        Some(i) => &rest[..i],
        None => rest,
    };
    let end = clause.find([' ', '(']).unwrap_or(clause.len());
    let helo = Some(clause[..end].to_string()).filter(|h| !h.is_empty());
    let comments: Vec<&str> = clause[end..].split('(').skip(1).filter_map(|c| c.split(')').next()).collect();
    let ip = comments.iter().find_map(|c| {
        let bracketed = c.split('[').skip(1).filter_map(|s| s.split(']').next());
        let bare = c.split_whitespace();
        bracketed.chain(bare).find_map(|s| {
            let s = s.strip_prefix("IPv6:").or_else(|| s.strip_prefix("ipv6:")).unwrap_or(s);
            s.parse::<IpAddr>().ok()
        })
    })?;
    Some((helo, doorman_config::net::canonical_ip(ip)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use doorman_config::net::IpEntry;

    fn headers(received: &[&str]) -> MessageHeaders {
        MessageHeaders::from_pairs(received.iter().map(|r| ("Received", *r)))
    }

    #[test]
    fn the_from_clause_names_the_client() {
        let postfix = "from mail.sender.test (mail.sender.test [198.51.100.7])\r\n\tby gw.test (Postfix) with ESMTPS id 4X; Tue, 1 Dec 2026 10:00:00 +0000";
        assert_eq!(received_from(postfix), Some((Some("mail.sender.test".into()), "198.51.100.7".parse().unwrap())));
        let exchange = "from EUR01-HE1.outbound.protection.outlook.com (40.107.1.2) by gw.test with SMTP";
        assert_eq!(received_from(exchange).unwrap().1, "40.107.1.2".parse::<IpAddr>().unwrap());
        let v6 = "from x ([IPv6:2001:db8::5]) by gw.test";
        assert_eq!(received_from(v6).unwrap().1, "2001:db8::5".parse::<IpAddr>().unwrap());
        // A HELO of an address literal is the client's claim, not what the gateway saw.
        let forged = "from [127.0.0.10] (unknown [203.0.113.66]) by gw.test";
        assert_eq!(received_from(forged).unwrap().1, "203.0.113.66".parse::<IpAddr>().unwrap());
        assert_eq!(received_from("from [127.0.0.10] by gw.test"), None);
        // An address after `by` is the receiver's, not the client's.
        assert_eq!(received_from("from x by gw.test [192.0.2.1]"), None);
        assert_eq!(received_from("by gw.test with LMTP"), None);
    }

    #[test]
    fn skip_last_ip_reads_one_field_and_skip_ips_follow_the_chain() {
        let gw: IpAddr = "192.0.2.10".parse().unwrap();
        let h = headers(&[
            "from inner.gw.test (inner.gw.test [192.0.2.11]) by gw.test",
            "from mail.sender.test ([198.51.100.7]) by inner.gw.test",
            "from forged.test ([203.0.113.66]) by mail.sender.test",
        ]);
        let last = EnhancedFiltering { skip_last_ip: true, ..Default::default() };
        let s = first_client(gw, Some("gw.test"), &h, &last).unwrap();
        assert_eq!((s.ip, s.hops_skipped), ("192.0.2.11".parse().unwrap(), 1));
        let both = EnhancedFiltering { skip_ips: vec![IpEntry::parse("192.0.2.0/28").unwrap()], ..Default::default() };
        let s = first_client(gw, None, &h, &both).unwrap();
        // The sender's own Received field (naming 203.0.113.66) is never believed.
        assert_eq!(
            (s.ip, s.helo.as_deref(), s.hops_skipped),
            ("198.51.100.7".parse().unwrap(), Some("mail.sender.test"), 2)
        );
        let none = EnhancedFiltering::default();
        assert_eq!(first_client(gw, None, &h, &none).unwrap().ip, gw);
        assert!(first_client(gw, None, &headers(&[]), &last).unwrap_err().contains("no Received field"));
    }
}
