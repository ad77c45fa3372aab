//! The small shared pools every generator draws from.
//!
//! They are deliberately tiny: bugs live where two settings meet (a domain accepted by one
//! tenant and named in another's connector, a `*.d` pattern beside an exact `mail.d`, a
//! wildcard certificate name beside an exact one under it, an allow-list network inside a
//! block-list one), and independent random draws from large spaces almost never meet.

use proptest::prelude::*;
use proptest::sample::select;

/// Domains for accepted domains, connector patterns and rule predicates. Parents and
/// children (`contoso.test`, `eu.contoso.test`) and look-alikes (`evilcontoso.test`,
/// `contoso.test.evil.test`) are both here so that ownership and pattern edges meet.
pub const DOMAINS: &[&str] = &[
    "contoso.test",
    "fabrikam.test",
    "eu.contoso.test",
    "sub.fabrikam.test",
    "partner.test",
    "gw.test",
    "contoso.test.evil.test",
    "evilcontoso.test",
    "bücher.test",
];

/// Sender-domain entries add hosts under the pool, so that an exact `mail.partner.test` in
/// one connector meets `*.partner.test` in another.
pub const SENDER_DOMAINS: &[&str] = &["mail.partner.test", "mail.contoso.test", "mail.gw.test"];

/// Certificate names and patterns: each wildcard has an exact name under it, and `gw.test`
/// is the bare base a wildcard must not match.
pub const CERT_PATTERNS: &[&str] = &[
    "mail.gw.test",
    "*.gw.test",
    "gw.test",
    "mx1.partner.test",
    "*.partner.test",
    "relay.contoso.test",
    "*.contoso.test",
    "*.mail.gw.test",
];

/// Domains no config accepts, for senders and recipients from outside.
pub const FOREIGN_DOMAINS: &[&str] = &["example.net", "mail.example.org", "random.invalid", "gmail.test"];

/// Names a TLS client might present that no config mentions.
pub const FOREIGN_CERT_NAMES: &[&str] = &["mail.example.net", "smtp.example.org", "localhost"];

pub const DNSBL_ZONES: &[&str] = &["zen.dnsbl.test", "bl.spamcop.test"];

pub const MX_HOSTS: &[&str] = &["mx.gw.test", "mx1.partner.test", "mx.contoso-gateway.test"];

pub const TENANT_NAMES: &[&str] = &["contoso", "fabrikam", "northwind"];

pub const CONNECTOR_NAMES: &[&str] =
    &["Inbound only from Antispamrelay", "Partner fabrikam", "From on-premises", "gateway"];

pub const RULE_NAMES: &[&str] = &["Skip spam filtering for the gateway", "Block invoices", "Tag external", "rule"];

pub const ENTRY_NAMES: &[&str] = &["gateway", "office", "bad network"];

pub const COMMENTS: &[&str] = &["NoSpamProxy", "generated"];

/// Local parts for directory entries, senders and recipients.
pub const LOCALS: &[&str] = &["alice", "bob", "carol", "postmaster", "info"];

/// Local parts a directory may also hold: a route (`%`, `!`), which the edge refuses before
/// it looks at the directory, and one that needs SMTPUTF8.
pub const DIRECTORY_LOCALS: &[&str] = &["alice", "bob", "carol", "postmaster", "info", "ops%team", "a!b", "jörg"];

/// Local parts that need SMTPUTF8.
pub const UTF8_LOCALS: &[&str] = &["jörg", "用户", "δοκιμή"];

/// Subdomain labels put in front of pool domains: one label deep and two.
pub const SUB_PREFIXES: &[&str] = &["mail", "eu", "a.b", "x.y"];

/// Headers `header_contains` looks at; `From` and `Received` are also written by the
/// session generator for their own reasons, so rules on them meet real values.
pub const HEADERS: &[&str] = &["Subject", "X-Spam", "From", "Received"];

pub const WORDS: &[&str] = &["invoice", "URGENT", "[SPAM]", "wire transfer", "Yes"];

pub const SET_HEADER_NAMES: &[&str] = &["X-Doorman-Rule", "X-Gateway"];

pub const PREPEND_SUBJECTS: &[&str] = &["[EXTERNAL] ", "[SPAM?] "];

pub const REDIRECT_TO: &[&str] = &["quarantine@contoso.test", "admin@fabrikam.test", "x@example.net"];

pub const REJECT_TEXTS: &[&str] = &["Delivery not authorized, message refused", "Blocked by a transport rule"];

/// A pool domain or a sender-domain host, as connector patterns and rules name them.
pub fn pool_domain() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => select(DOMAINS),
        1 => select(SENDER_DOMAINS),
    ]
    .prop_map(str::to_string)
}

/// A random DNS label of letters and digits, for domains and names no pool holds.
pub fn random_label() -> impl Strategy<Value = String> {
    prop::collection::vec(select(b"abcdefghijklmnopqrstuvwxyz0123456789".as_slice()), 1..12)
        .prop_map(|b| String::from_utf8(b).expect("ASCII"))
}

/// A random external domain such as `k3x.test`.
pub fn random_domain() -> impl Strategy<Value = String> {
    (random_label(), select(&["test", "example", "invalid"][..])).prop_map(|(l, tld)| format!("{l}.{tld}"))
}
