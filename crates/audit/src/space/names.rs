//! Representatives for sets of name patterns: one name for each region of their Venn
//! diagram, chosen so that it matches exactly that region's patterns.
//!
//! A name's region is decided by the patterns themselves (the dimension computes it with the
//! engine's own matching functions and keeps one candidate per region it finds). What this
//! module guarantees is that the candidates reach every region:
//! - domains: a domain either is one of the base domains, or lies under some of them (the
//!   deepest one decides which: all others it lies under are that one's ancestors), or under
//!   none. So each base, a fresh subdomain of each base, and one domain outside them all reach
//!   every region;
//! - certificate names: a name matches an exact pattern only by being its name, and a
//!   wildcard `*.b` by being one label under `b` (or `*.b` itself, which matches nothing
//!   else). So each exact name and a fresh name one label under each wildcard's base reach
//!   every region.

use std::collections::HashSet;

use doorman_config::address::parse_domain_name;
use doorman_config::names::{CertNamePattern, is_same_or_subdomain};

/// Labels tried for a fresh subdomain, readable ones first.
const LABELS: [&str; 4] = ["mail", "sub", "host", "relay"];

/// Labels for fresh names, readable ones first.
pub fn fresh_labels() -> impl Iterator<Item = String> {
    LABELS.iter().map(|l| l.to_string()).chain((1..).map(|n| format!("x{n}"))).take(1000)
}

/// `label.base` for the first label whose name is not itself a base (so it lies under `base`
/// and is none of the bases).
fn fresh_child(base: &str, taken: &HashSet<&str>) -> Option<String> {
    fresh_labels().map(|l| format!("{l}.{base}")).find(|d| !taken.contains(d.as_str()) && parse_domain_name(d).is_ok())
}

/// A domain under none of `bases`, nor equal to any.
fn outside(bases: &[&str]) -> String {
    let tlds = ["invalid", "example", "test", "zz"];
    let candidates =
        tlds.iter().map(|t| format!("doorman-audit.{t}")).chain((1..).map(|n| format!("doorman-audit.x{n}")));
    candidates
        .take(10_000)
        .find(|d| !bases.iter().any(|b| is_same_or_subdomain(d, b) || is_same_or_subdomain(b, d)))
        .expect("some domain lies outside finitely many")
}

/// Candidate domains reaching every region of predicates on `bases` (see the module docs).
pub fn domain_candidates(bases: &[&str]) -> Vec<String> {
    let taken: HashSet<&str> = bases.iter().copied().collect();
    let mut out: Vec<String> = Vec::new();
    let mut seen: HashSet<String> = HashSet::new();
    let mut push = |d: String, out: &mut Vec<String>| {
        if seen.insert(d.clone()) {
            out.push(d);
        }
    };
    for b in bases {
        push(b.to_string(), &mut out);
    }
    for b in bases {
        if let Some(d) = fresh_child(b, &taken) {
            push(d, &mut out);
        }
    }
    push(outside(bases), &mut out);
    out
}

/// Candidate certificate names reaching every region of `patterns` (see the module docs).
pub fn certificate_candidates(patterns: &[CertNamePattern]) -> Vec<String> {
    let texts: Vec<String> = patterns.iter().map(|p| p.to_string()).collect();
    let exact: HashSet<&str> = texts.iter().filter(|t| !t.starts_with("*.")).map(String::as_str).collect();
    let mut out: Vec<String> = Vec::new();
    for t in &texts {
        let name = match t.strip_prefix("*.") {
            None => Some(t.clone()),
            Some(base) => fresh_child(base, &exact),
        };
        if let Some(n) = name
            && !out.contains(&n)
        {
            out.push(n);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_subdomains_avoid_the_bases() {
        let c = domain_candidates(&["partner.test", "mail.partner.test"]);
        assert_eq!(
            c,
            [
                "partner.test",
                "mail.partner.test",
                "sub.partner.test",
                "mail.mail.partner.test",
                "doorman-audit.invalid"
            ]
        );
        let c = domain_candidates(&["invalid"]);
        assert_eq!(c.last().unwrap(), "doorman-audit.example");
    }

    #[test]
    fn a_wildcard_is_tried_with_a_name_no_exact_pattern_has() {
        let p = |s| CertNamePattern::parse(s).unwrap();
        let c = certificate_candidates(&[p("mx.relay.test"), p("*.relay.test"), p("mail.relay.test")]);
        assert_eq!(c, ["mx.relay.test", "sub.relay.test", "mail.relay.test"]);
    }
}
