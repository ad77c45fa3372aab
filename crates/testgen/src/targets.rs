//! What a config gives the session generator to aim at: every boundary, name, domain,
//! directory entry and header word it holds, with their near misses.
//!
//! The lists are rebuilt from the config each time a case is resolved, and session draws
//! index into them (see `session.rs`), so a config that shrinks keeps its sessions pointed at
//! what is left of it instead of drawing new ones at random.

use std::collections::HashSet;
use std::net::IpAddr;

use crate::config::{GenConfig, GenMx, GenPredicates};
use crate::ip::{GenIpEntry, boundaries, other_form};
use crate::pools::*;

/// Everything a config gives the session generator to aim at, in a fixed order (so a draw
/// resolves the same way against the same config, and shrinking moves towards the first
/// entries). No list is empty.
pub(crate) struct Targets {
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) cert_names: Vec<String>,
    pub(crate) helos: Vec<String>,
    pub(crate) sender_domains: Vec<String>,
    pub(crate) members: Vec<String>,
    pub(crate) rcpt_domains: Vec<String>,
    pub(crate) accepted: Vec<String>,
    pub(crate) zones: Vec<String>,
    /// Header names `header_contains` reads (From and Received aside), with their words.
    pub(crate) headers: Vec<(String, Vec<String>)>,
    pub(crate) received_words: Vec<String>,
    /// Display names for `From`, the rules' `From` words among them.
    pub(crate) displays: Vec<String>,
}

/// Appends `s` unless it is there already: the pools stay small and their order stable.
fn add(list: &mut Vec<String>, s: impl Into<String>) {
    let s = s.into();
    if !list.contains(&s) {
        list.push(s);
    }
}

/// A domain and its near misses: `mail.d`, `a.b.d`, `d.evil.test`, `evild`.
fn around(list: &mut Vec<String>, d: &str) {
    add(list, d);
    for sub in ["mail", "a.b"] {
        add(list, format!("{sub}.{d}"));
    }
    add(list, format!("{d}.evil.test"));
    add(list, format!("evil{d}"));
}

fn all_predicates(cfg: &GenConfig) -> impl Iterator<Item = &GenPredicates> {
    cfg.tenants.iter().flat_map(|t| t.transport_rules.iter()).flat_map(|r| [&r.conditions, &r.exceptions])
}

fn all_ip_entries(cfg: &GenConfig) -> Vec<&GenIpEntry> {
    let mut out = Vec::new();
    for t in &cfg.tenants {
        for mx in t.mx.iter().flatten() {
            if let GenMx::WithAddresses { addresses, .. } = mx {
                out.extend(addresses);
            }
        }
        for c in &t.inbound_connectors {
            out.extend(&c.sender_ip_addresses);
        }
        if let Some(f) = &t.connection_filter {
            out.extend(&f.ip_allow_list);
            out.extend(&f.ip_block_list);
        }
    }
    for p in all_predicates(cfg) {
        out.extend(&p.sender_ip_ranges);
    }
    out
}

impl Targets {
    pub(crate) fn of(cfg: &GenConfig) -> Targets {
        let ip = |s: &str| s.parse::<IpAddr>().expect("a pool address");
        // An outsider first, then every boundary of the config, then the edges of the
        // IPv4-mapped block and the documentation prefix.
        let mut ips = vec![ip("203.0.113.9")];
        for entry in all_ip_entries(cfg) {
            let (lo, hi) = entry.form.span();
            for b in boundaries(lo, hi) {
                ips.push(b);
                ips.extend(other_form(b));
            }
        }
        for s in ["::fffe:ffff:ffff", "::ffff:0:0", "::ffff:ffff:ffff", "::1:0:0:0", "2001:db8::1", "192.0.2.1"] {
            ips.push(ip(s));
        }
        let mut seen = HashSet::new();
        ips.retain(|a| seen.insert(*a));

        let mut patterns: Vec<String> = Vec::new();
        for c in cfg.tenants.iter().flat_map(|t| &t.inbound_connectors) {
            patterns.extend(c.tls_sender_certificate_name.clone());
        }
        for p in all_predicates(cfg) {
            patterns.extend(p.tls_certificate_name.iter().cloned());
        }
        if patterns.is_empty() {
            patterns.extend(CERT_PATTERNS.iter().take(2).map(|s| s.to_string()));
        }
        let mut cert_names = Vec::new();
        let mut helos = vec!["mail.example.net".to_string(), "localhost".into(), "[192.0.2.1]".into()];
        for p in &patterns {
            match p.strip_prefix("*.") {
                Some(base) => {
                    for n in [format!("x.{base}"), format!("mx.{base}"), p.clone(), base.into(), format!("a.b.{base}")]
                    {
                        add(&mut cert_names, n);
                    }
                    add(&mut cert_names, format!("{base}.evil.test"));
                    add(&mut cert_names, format!("evil{base}"));
                    add(&mut helos, format!("mx.{base}"));
                }
                None => {
                    add(&mut cert_names, p.clone());
                    add(&mut cert_names, p.to_uppercase());
                    add(&mut cert_names, format!("x.{p}"));
                    add(&mut cert_names, format!("{p}.evil.test"));
                    add(&mut cert_names, format!("evil{p}"));
                    add(&mut helos, p.clone());
                }
            }
        }
        for n in FOREIGN_CERT_NAMES {
            add(&mut cert_names, *n);
        }

        let mut accepted = Vec::new();
        for d in cfg.tenants.iter().flat_map(|t| &t.accepted_domains) {
            add(&mut accepted, d.domain.clone());
        }
        let mut sender_domains: Vec<String> = FOREIGN_DOMAINS.iter().map(|d| d.to_string()).collect();
        for d in &accepted {
            around(&mut sender_domains, d);
        }
        for c in cfg.tenants.iter().flat_map(|t| &t.inbound_connectors) {
            for p in c.sender_domains.iter().flatten() {
                match p.strip_prefix("*.") {
                    Some(base) => {
                        around(&mut sender_domains, base);
                        add(&mut sender_domains, format!("x.y.{base}"));
                    }
                    None if p == "*" => {}
                    None => around(&mut sender_domains, p),
                }
            }
        }
        for p in all_predicates(cfg) {
            for d in &p.sender_domain_is {
                around(&mut sender_domains, d);
            }
        }

        let mut members = Vec::new();
        for m in cfg.tenants.iter().flat_map(|t| &t.recipients) {
            add(&mut members, format!("<{m}>"));
        }
        for m in cfg.tenants.iter().flat_map(|t| &t.recipients) {
            add(&mut members, format!("<{}>", capitalize(m)));
        }
        if members.is_empty() {
            members.push(format!("<postmaster@{}>", accepted.first().map_or("contoso.test", String::as_str)));
        }
        let mut rcpt_domains = Vec::new();
        for d in &accepted {
            add(&mut rcpt_domains, d.clone());
            for sub in ["eu", "a.b"] {
                add(&mut rcpt_domains, format!("{sub}.{d}"));
            }
        }
        for p in all_predicates(cfg) {
            for d in &p.recipient_domain_is {
                add(&mut rcpt_domains, d.clone());
                add(&mut rcpt_domains, format!("mail.{d}"));
            }
        }
        for d in DOMAINS.iter().chain(FOREIGN_DOMAINS) {
            add(&mut rcpt_domains, *d);
        }
        if accepted.is_empty() {
            accepted.push(DOMAINS[0].to_string());
        }

        let mut headers: Vec<(String, Vec<String>)> = vec![("Subject".into(), Vec::new())];
        let (mut from_words, mut received_words) = (Vec::new(), Vec::new());
        for h in all_predicates(cfg).flat_map(|p| &p.header_contains) {
            let words = match h.header.to_ascii_lowercase().as_str() {
                "from" => &mut from_words,
                "received" => &mut received_words,
                name => match headers.iter().position(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some(i) => &mut headers[i].1,
                    None => {
                        headers.push((h.header.clone(), Vec::new()));
                        &mut headers.last_mut().expect("just pushed").1
                    }
                },
            };
            for w in &h.words {
                add(words, w.clone());
            }
        }
        for list in headers.iter_mut().map(|(_, w)| w).chain([&mut from_words, &mut received_words]) {
            if list.is_empty() {
                list.extend(WORDS.iter().map(|w| w.to_string()));
            }
        }

        let displays = ["Alice", "Billing"].iter().map(|s| s.to_string()).chain(from_words).collect();
        Targets {
            displays,
            ips,
            cert_names,
            helos,
            sender_domains,
            members,
            rcpt_domains,
            accepted,
            zones: cfg.server.dnsbl_zones.clone(),
            headers,
            received_words,
        }
    }
}

pub(crate) fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
