//! Random sessions drawn from a config, so that they land on the config's own boundaries:
//! the first and last address of each network and the ones just outside, each certificate
//! pattern's instances and near misses, each sender-domain pattern's domains and look-alikes,
//! each directory entry and the non-members beside it, each rule's header words.
//!
//! A session is described the way the engine and `doorman explain` take it: the client IP
//! after any PROXY header, the TLS state, and the envelope and headers as written on the wire.
//!
//! Sessions are drawn in two steps. A [`Draw`] holds the random choices, with each pick from
//! the config's targets as an [`Index`]; [`Draw::resolve`] turns it into a [`GenSession`]
//! against one config. Because the draw does not depend on the config, a [`crate::Case`]
//! needs no `prop_flat_map`: when proptest shrinks the config, the same draw resolves against
//! what is left of it, so the failure usually survives and shrinking goes on.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::ops::Range;

use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select};

use crate::config::GenConfig;
use crate::pools::*;
use crate::targets::{Targets, capitalize};

/// One SMTP session with one message. `Debug` prints it as a `doorman explain` command line.
#[derive(Clone, PartialEq, Eq)]
pub struct GenSession {
    /// As the socket or PROXY header shows it: may be an IPv4-mapped IPv6 address.
    pub client_ip: IpAddr,
    pub tls: GenTls,
    pub helo: String,
    /// As written in MAIL FROM: `<a@b.test>`, `<>`, `<a@[192.0.2.1]>`.
    pub mail_from: String,
    pub smtputf8: bool,
    /// 1–4, as written in RCPT TO: `<a@b.test>`.
    pub rcpts: Vec<String>,
    /// Message header fields in order, usually with a `From`.
    pub headers: Vec<(String, String)>,
    /// Answers for the config's zones only; usually all `NotListed`, or none at all.
    pub dnsbl: Vec<(String, GenDnsbl)>,
}

/// The TLS state of a session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenTls {
    None,
    /// TLS, but the client presented no certificate.
    NoCertificate,
    /// A certificate that did not verify: its names must not count.
    Unverified,
    /// A verified certificate with these DNS names (1–3).
    Verified(Vec<String>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GenDnsbl {
    Listed,
    NotListed,
    /// No answer (timeout, SERVFAIL).
    Failed,
}

/// The same word in another case, as a case-insensitive match must still find it.
fn vary_case(s: &str, how: u8) -> String {
    match how {
        0 => s.to_string(),
        1 => s.to_uppercase(),
        2 => s.to_lowercase(),
        _ => s
            .chars()
            .enumerate()
            .map(|(i, c)| if i % 2 == 0 { c.to_ascii_uppercase() } else { c.to_ascii_lowercase() })
            .collect(),
    }
}

/// An RFC 2047 Q-encoded word, which `header_contains` must decode before it matches.
fn encoded_word(s: &str) -> String {
    let mut out = String::from("=?utf-8?Q?");
    for b in s.bytes() {
        match b {
            b' ' => out.push('_'),
            b if b.is_ascii_alphanumeric() => out.push(b as char),
            b => out.push_str(&format!("={b:02X}")),
        }
    }
    out + "?="
}

// ---------------------------------------------------------------------------------------------
// draws: the random choices of one session, independent of the config

/// A name from the config's targets, or one no config holds.
#[derive(Clone, Debug)]
enum Name {
    Target(Index),
    Random(String),
}

fn name() -> impl Strategy<Value = Name> {
    prop_oneof![6 => any::<Index>().prop_map(Name::Target), 1 => random_domain().prop_map(Name::Random)]
}

impl Name {
    fn get(&self, list: &[String]) -> String {
        match self {
            Name::Target(i) => i.get(list).clone(),
            Name::Random(d) => d.clone(),
        }
    }
}

#[derive(Clone, Debug)]
enum ClientIp {
    /// A boundary of the config, or a fixed address near the IPv4-mapped block.
    Target(Index),
    V4(Ipv4Addr),
    /// A random IPv4 address as a dual-stack socket shows it.
    Mapped(Ipv4Addr),
    V6(Ipv6Addr),
}

fn client_ip() -> impl Strategy<Value = ClientIp> {
    prop_oneof![
        8 => any::<Index>().prop_map(ClientIp::Target),
        1 => any::<u32>().prop_map(|a| ClientIp::V4(a.into())),
        1 => any::<u32>().prop_map(|a| ClientIp::Mapped(a.into())),
        1 => any::<u128>().prop_map(|a| ClientIp::V6(a.into())),
        1 => any::<u128>().prop_map(|a| ClientIp::V6(((0x2001_0db8u128 << 96) | (a >> 32)).into())),
    ]
}

#[derive(Clone, Debug)]
enum Tls {
    None,
    NoCertificate,
    Unverified,
    Verified(Vec<Name>),
}

fn tls() -> impl Strategy<Value = Tls> {
    prop_oneof![
        3 => Just(Tls::None),
        1 => Just(Tls::NoCertificate),
        1 => Just(Tls::Unverified),
        3 => vec(name(), 1..=3).prop_map(Tls::Verified),
    ]
}

#[derive(Clone, Debug)]
enum Sender {
    Null,
    Literal(&'static str),
    /// `case`: 0 as drawn, 1 the domain in upper case, 2 the local part capitalised.
    Ascii {
        local: &'static str,
        domain: Name,
        case: u8,
        smtputf8: bool,
    },
    /// A local part that needs SMTPUTF8, with or without it.
    Utf8 {
        local: &'static str,
        domain: Name,
        smtputf8: bool,
    },
}

fn sender() -> impl Strategy<Value = Sender> {
    prop_oneof![
        1 => Just(Sender::Null),
        1 => select(&["user@[192.0.2.1]", "user@[IPv6:2001:db8::1]"][..]).prop_map(Sender::Literal),
        8 => (select(LOCALS), name(), prop_oneof![3 => Just(0u8), 1 => 1u8..=2], prop::bool::weighted(0.1))
            .prop_map(|(local, domain, case, smtputf8)| Sender::Ascii { local, domain, case, smtputf8 }),
        1 => (select(UTF8_LOCALS), name(), any::<bool>())
            .prop_map(|(local, domain, smtputf8)| Sender::Utf8 { local, domain, smtputf8 }),
    ]
}

#[derive(Clone, Debug)]
enum Rcpt {
    /// A directory entry (or the same in another case).
    Member(Index),
    /// A local part at an accepted domain: a member or not.
    AtAccepted(&'static str, Index),
    /// A local part at a subdomain of an accepted domain, a rule's domain or the pool.
    At(&'static str, Index),
    /// `user%foreign@accepted` or, when `bang`, `foreign!user@accepted`.
    Routed {
        foreign: &'static str,
        accepted: Index,
        bang: bool,
    },
    Literal(&'static str),
    Foreign(&'static str, String),
}

const RCPT_LOCALS: &[&str] = &["alice", "bob", "carol", "postmaster", "info", "nobody"];

fn rcpt() -> impl Strategy<Value = Rcpt> {
    prop_oneof![
        4 => any::<Index>().prop_map(Rcpt::Member),
        3 => (select(RCPT_LOCALS), any::<Index>()).prop_map(|(l, d)| Rcpt::AtAccepted(l, d)),
        2 => (select(RCPT_LOCALS), any::<Index>()).prop_map(|(l, d)| Rcpt::At(l, d)),
        1 => (select(FOREIGN_DOMAINS), any::<Index>(), any::<bool>())
            .prop_map(|(foreign, accepted, bang)| Rcpt::Routed { foreign, accepted, bang }),
        1 => select(&["<postmaster@[192.0.2.1]>", "<postmaster@[IPv6:2001:db8::1]>"][..]).prop_map(Rcpt::Literal),
        1 => (select(RCPT_LOCALS), random_domain()).prop_map(|(l, d)| Rcpt::Foreign(l, d)),
    ]
}

/// A value for a header some rule reads: absent, plain, or holding one of the rule's words
/// in any case, now and then RFC 2047-encoded.
#[derive(Clone, Debug)]
enum Header {
    Absent,
    Plain(&'static str),
    Word { word: Index, case: u8, prefix: &'static str, encode: bool },
}

fn header() -> impl Strategy<Value = Header> {
    prop_oneof![
        1 => Just(Header::Absent),
        2 => select(&["Hello", "Meeting notes", "Re: lunch", "1"][..]).prop_map(Header::Plain),
        3 => (any::<Index>(), 0u8..4, select(&["", "Re: ", "FW: your "][..]), prop::bool::weighted(0.2))
            .prop_map(|(word, case, prefix, encode)| Header::Word { word, case, prefix, encode }),
    ]
}

/// Header choices drawn for this many rule-read headers; a config with more reuses them.
const HEADER_SLOTS: usize = 3;

/// Where the `From` header points.
#[derive(Clone, Copy, Debug)]
enum FromIs {
    Envelope,
    Other,
    Absent,
}

#[derive(Clone, Debug)]
struct From {
    is: FromIs,
    /// For `Other`, and for `Envelope` when the envelope has no address.
    other: (&'static str, Index),
    display: Option<Index>,
}

fn from() -> impl Strategy<Value = From> {
    (
        prop_oneof![5 => Just(FromIs::Envelope), 3 => Just(FromIs::Other), 1 => Just(FromIs::Absent)],
        (select(LOCALS), any::<Index>()),
        option::weighted(0.4, any::<Index>()),
    )
        .prop_map(|(is, other, display)| From { is, other, display })
}

#[derive(Clone, Debug)]
enum Dnsbl {
    AllClear,
    NoAnswers,
    /// One answer per zone, reused if the config has more zones than answers.
    Each(Vec<GenDnsbl>),
}

fn dnsbl() -> impl Strategy<Value = Dnsbl> {
    let answer = prop_oneof![Just(GenDnsbl::NotListed), Just(GenDnsbl::Listed), Just(GenDnsbl::Failed)];
    prop_oneof![4 => Just(Dnsbl::AllClear), 2 => Just(Dnsbl::NoAnswers), 3 => vec(answer, DNSBL_ZONES.len()).prop_map(Dnsbl::Each)]
}

/// The random choices of one session. Resolve it against a config with [`Draw::resolve`].
#[derive(Clone, Debug)]
pub(crate) struct Draw {
    ip: ClientIp,
    tls: Tls,
    helo: Name,
    sender: Sender,
    rcpts: Vec<Rcpt>,
    /// Repeat the first recipient at the end.
    duplicate: bool,
    from: From,
    headers: Vec<Header>,
    /// How many `Received` fields (rarely a loop's worth), and a rule word for them to hold.
    received: (usize, Option<Index>),
    dnsbl: Dnsbl,
}

pub(crate) fn draw() -> impl Strategy<Value = Draw> {
    (
        client_ip(),
        tls(),
        name(),
        sender(),
        (vec(rcpt(), 1..=4), prop::bool::weighted(0.15)),
        from(),
        vec(header(), HEADER_SLOTS),
        (prop_oneof![12 => 0usize..=2, 1 => 50usize..=60], option::weighted(0.3, any::<Index>())),
        dnsbl(),
    )
        .prop_map(|(ip, tls, helo, sender, (rcpts, duplicate), from, headers, received, dnsbl)| Draw {
            ip,
            tls,
            helo,
            sender,
            rcpts,
            duplicate,
            from,
            headers,
            received,
            dnsbl,
        })
}

impl Draw {
    /// The session these choices make against the config `t` was built from.
    pub(crate) fn resolve(&self, t: &Targets) -> GenSession {
        let client_ip = match &self.ip {
            ClientIp::Target(i) => *i.get(&t.ips),
            ClientIp::V4(a) => IpAddr::V4(*a),
            ClientIp::Mapped(a) => IpAddr::V6(a.to_ipv6_mapped()),
            ClientIp::V6(a) => IpAddr::V6(*a),
        };
        let tls = match &self.tls {
            Tls::None => GenTls::None,
            Tls::NoCertificate => GenTls::NoCertificate,
            Tls::Unverified => GenTls::Unverified,
            Tls::Verified(names) => GenTls::Verified(names.iter().map(|n| n.get(&t.cert_names)).collect()),
        };
        let helo = self.helo.get(&t.helos);
        let (addr, smtputf8) = match &self.sender {
            Sender::Null => (None, false),
            Sender::Literal(a) => (Some(a.to_string()), false),
            Sender::Ascii { local, domain, case, smtputf8 } => {
                let domain = domain.get(&t.sender_domains);
                let addr = match case {
                    0 => format!("{local}@{domain}"),
                    1 => format!("{local}@{}", domain.to_uppercase()),
                    _ => format!("{}@{domain}", capitalize(local)),
                };
                (Some(addr), *smtputf8)
            }
            Sender::Utf8 { local, domain, smtputf8 } => {
                (Some(format!("{local}@{}", domain.get(&t.sender_domains))), *smtputf8)
            }
        };
        let mail_from = format!("<{}>", addr.as_deref().unwrap_or(""));
        let mut rcpts: Vec<String> = self.rcpts.iter().map(|r| r.resolve(t)).collect();
        if self.duplicate && rcpts.len() < 4 {
            rcpts.push(rcpts[0].clone());
        }
        GenSession {
            client_ip,
            tls,
            helo,
            mail_from,
            smtputf8,
            rcpts,
            headers: self.headers(t, addr),
            dnsbl: self.dnsbl(t),
        }
    }

    /// `Received` fields first, as a relay chain leaves them, then `From`, then the headers
    /// the config's rules read.
    fn headers(&self, t: &Targets, envelope: Option<String>) -> Vec<(String, String)> {
        let mut headers = Vec::new();
        let (count, word) = &self.received;
        let word = word.as_ref().map(|i| format!(" ({})", i.get(&t.received_words))).unwrap_or_default();
        for i in 0..*count {
            let v = format!("from mail{i}.example.net ([192.0.2.1]) by gw.test{word}; Tue, 1 Jul 2025 10:00:00 +0000");
            headers.push(("Received".to_string(), v));
        }
        let other = || format!("{}@{}", self.from.other.0, self.from.other.1.get(&t.sender_domains));
        let from = match (self.from.is, envelope) {
            (FromIs::Absent, _) => None,
            (FromIs::Envelope, Some(a)) => Some(a),
            (FromIs::Envelope, None) | (FromIs::Other, _) => Some(other()),
        };
        if let Some(a) = from {
            let v = match &self.from.display {
                Some(d) => format!("{} <{a}>", d.get(&t.displays)),
                None => a,
            };
            headers.push(("From".to_string(), v));
        }
        for (i, (name, words)) in t.headers.iter().enumerate() {
            let value = match &self.headers[i % self.headers.len()] {
                Header::Absent => continue,
                Header::Plain(v) => v.to_string(),
                Header::Word { word, case, prefix, encode } => {
                    let w = vary_case(word.get::<String>(words), *case);
                    if *encode { encoded_word(&format!("{prefix}{w}")) } else { format!("{prefix}{w} today") }
                }
            };
            headers.push((name.clone(), value));
        }
        headers
    }

    fn dnsbl(&self, t: &Targets) -> Vec<(String, GenDnsbl)> {
        match &self.dnsbl {
            Dnsbl::NoAnswers => Vec::new(),
            Dnsbl::AllClear => t.zones.iter().map(|z| (z.clone(), GenDnsbl::NotListed)).collect(),
            Dnsbl::Each(answers) => {
                t.zones.iter().enumerate().map(|(i, z)| (z.clone(), answers[i % answers.len()])).collect()
            }
        }
    }
}

impl Rcpt {
    fn resolve(&self, t: &Targets) -> String {
        match self {
            Rcpt::Member(i) => i.get(&t.members).clone(),
            Rcpt::AtAccepted(local, d) => format!("<{local}@{}>", d.get(&t.accepted)),
            Rcpt::At(local, d) => format!("<{local}@{}>", d.get(&t.rcpt_domains)),
            Rcpt::Routed { foreign, accepted, bang: true } => format!("<{foreign}!user@{}>", accepted.get(&t.accepted)),
            Rcpt::Routed { foreign, accepted, bang: false } => {
                format!("<user%{foreign}@{}>", accepted.get(&t.accepted))
            }
            Rcpt::Literal(r) => r.to_string(),
            Rcpt::Foreign(local, d) => format!("<{local}@{d}>"),
        }
    }
}

/// `count` sessions against `cfg`, each aimed at the config's own boundaries.
pub fn sessions(cfg: &GenConfig, count: Range<usize>) -> impl Strategy<Value = Vec<GenSession>> + use<> {
    let targets = Targets::of(cfg);
    vec(draw(), count).prop_map(move |draws| draws.iter().map(|d| d.resolve(&targets)).collect())
}

impl GenSession {
    /// The session as the engine is told it after MAIL FROM's parameters: what `doorman
    /// explain` runs for [`GenSession::explain_args`], and what the edge sees on the wire.
    pub fn transaction(&self) -> doorman_policy::Transaction {
        use doorman_policy::{ClientCertificate, DnsblAnswer, DnsblResult, MessageHeaders, TlsInfo, Transaction};
        let rcpts: Vec<&str> = self.rcpts.iter().map(String::as_str).collect();
        let mut tx = Transaction::new(self.client_ip, self.mail_from.clone(), &rcpts);
        tx.smtputf8 = self.smtputf8;
        tx.session.helo = Some(self.helo.clone());
        let cert = match &self.tls {
            GenTls::None => None,
            GenTls::NoCertificate => Some(ClientCertificate::None),
            GenTls::Unverified => Some(ClientCertificate::Unverified),
            GenTls::Verified(names) => Some(ClientCertificate::Verified { names: names.clone() }),
        };
        tx.session.tls = cert.map(|c| TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", c));
        tx.session.dnsbl = self
            .dnsbl
            .iter()
            .map(|(zone, a)| DnsblAnswer {
                zone: zone.clone(),
                result: match a {
                    GenDnsbl::Listed => DnsblResult::Listed("127.0.0.2".into()),
                    GenDnsbl::NotListed => DnsblResult::NotListed,
                    GenDnsbl::Failed => DnsblResult::Failed("no answer".into()),
                },
            })
            .collect();
        tx.headers = MessageHeaders::from_pairs(self.headers.iter().map(|(n, v)| (n.as_str(), v.as_str())));
        tx
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_and_encoding() {
        assert_eq!(vary_case("Invoice", 3), "InVoIcE");
        assert_eq!(encoded_word("wire [x]"), "=?utf-8?Q?wire_=5Bx=5D?=");
        assert_eq!(capitalize("alice@x.test"), "Alice@x.test");
    }
}
