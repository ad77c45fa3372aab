//! The generators' own guarantees: every config loads, every session is well formed and
//! drawn from its config, and the draws reach the corners they are meant to reach.

use std::cell::RefCell;
use std::collections::HashSet;
use std::net::IpAddr;
use std::path::Path;

use doorman_config::address::{parse_domain_name, parse_mailbox, parse_reverse_path};
use doorman_testgen::{Case, GenConfig, GenIpEntry, GenTls, IpForm, case, config, sessions};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// XorShift: seeding proptest's lazily built union arms with ChaCha costs most of the time
/// a debug build spends drawing a config, and these tests need no cryptographic randomness.
fn runner(cases: u32) -> Config {
    Config { cases, failure_persistence: None, rng_algorithm: RngAlgorithm::XorShift, ..Config::default() }
}

/// What the 2,000 configs of [`every_generated_config_loads`] showed between them.
#[derive(Default)]
struct Seen {
    keys: HashSet<&'static str>,
    configs: usize,
    small: usize,
    nested_domains: bool,
}

/// TOML fragments that show each part of the schema was drawn, in each of its forms.
const KEYS: &[&str] = &[
    "dnsbl_zones",
    "trusted_proxies",
    "max_recipients",
    "max_message_size",
    "mx = [\"self\"]",
    "addresses = ",
    "reject_direct_send = true",
    "reject_direct_send = false",
    "scl_junk_threshold = ",
    "type = \"authoritative\"",
    "type = \"internal_relay\"",
    "match_subdomains = true",
    "type = \"partner\"",
    "type = \"on_premises\"",
    "enabled = false",
    "sender_domains = [\"*\"",
    "\"*.",
    "::ffff:",
    "::fffe:ffff:ffff",
    "::1:0:0:0",
    "tls_sender_certificate_name = \"*.",
    "restrict_domains_to_ip_addresses = true",
    "restrict_domains_to_certificate = true",
    "require_tls = true",
    "ip_allow_list",
    "ip_block_list",
    "\"0.0.0.0/0\"",
    "\"::/0\"",
    "name = \"gateway\"",
    "priority = ",
    "mode = \"audit\"",
    "stop_processing = true",
    "sender_address_location = \"header_or_envelope\"",
    "sender_address_location = \"envelope\"",
    "sender_ip_ranges",
    "inbound_connector = ",
    "tls_certificate_name",
    "sender_domain_is",
    "recipient_domain_is",
    "from_scope = \"in_organization\"",
    "from_scope = \"not_in_organization\"",
    "header_contains",
    "[tenants.transport_rules.exceptions",
    "set_scl = -1",
    "enhanced_status_code = \"5.",
    "delete = true",
    "quarantine = true",
    "redirect_to",
    "set_header",
    "prepend_subject",
];

/// One tenant accepts a subdomain of another tenant's accepted domain.
fn has_nested_domains(cfg: &GenConfig) -> bool {
    let owners: Vec<(usize, &str)> = cfg
        .tenants
        .iter()
        .enumerate()
        .flat_map(|(i, t)| t.accepted_domains.iter().map(move |d| (i, d.domain.as_str())))
        .collect();
    owners.iter().any(|(i, d)| owners.iter().any(|(j, p)| i != j && d.ends_with(&format!(".{p}"))))
}

/// The crate's promise: every config loads (warnings allowed). On failure proptest shrinks
/// the config and the message holds the loader's errors and the TOML. The same draws are
/// then checked to reach every part of the schema.
#[test]
fn every_generated_config_loads() {
    let seen = RefCell::new(Seen::default());
    let mut runner = TestRunner::new(runner(2_000));
    let result = runner.run(&config(), |cfg| {
        let text = cfg.toml();
        let loaded = doorman_config::load_str("case.toml", &text, Path::new("."));
        prop_assert!(loaded.is_ok(), "the config does not load:\n{}\n{}", loaded.unwrap_err(), text);
        let mut seen = seen.borrow_mut();
        seen.configs += 1;
        seen.small += usize::from(cfg.tenants.len() <= 2);
        seen.nested_domains |= has_nested_domains(&cfg);
        for key in KEYS {
            if text.contains(key) {
                seen.keys.insert(key);
            }
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
    let seen = seen.into_inner();
    assert!(seen.configs >= 2_000, "only {} configs were drawn", seen.configs);
    for key in KEYS {
        assert!(seen.keys.contains(key), "no generated config has {key:?}");
    }
    assert!(seen.small * 2 > seen.configs, "{} of {} configs have at most two tenants", seen.small, seen.configs);
    assert!(seen.nested_domains, "no config accepts a subdomain of another tenant's domain");
}

fn check_session_shape(case: &Case) -> Result<(), TestCaseError> {
    let zones: HashSet<&String> = case.config.server.dnsbl_zones.iter().collect();
    for s in &case.sessions {
        prop_assert!((1..=4).contains(&s.rcpts.len()), "{s:?}");
        prop_assert!(parse_reverse_path(&s.mail_from).is_ok(), "MAIL FROM {}", s.mail_from);
        for r in &s.rcpts {
            prop_assert!(r.starts_with('<') && parse_mailbox(r).is_ok(), "RCPT TO {r}");
        }
        if let GenTls::Verified(names) = &s.tls {
            prop_assert!((1..=3).contains(&names.len()));
            for n in names {
                let bare = n.strip_prefix("*.").unwrap_or(n);
                prop_assert!(parse_domain_name(bare).is_ok(), "certificate name {n}");
            }
        }
        for (name, value) in &s.headers {
            prop_assert!(!name.is_empty() && !name.contains([':', ' ']), "header name {name:?}");
            prop_assert!(!value.contains(['\r', '\n']), "header value {value:?}");
        }
        for (zone, _) in &s.dnsbl {
            prop_assert!(zones.contains(zone), "{zone} is not a zone of the config");
        }
        prop_assert!(!s.helo.is_empty());
        let args = s.explain_args();
        prop_assert_eq!(&args[..2], &["--client-ip".to_string(), s.client_ip.to_string()]);
    }
    Ok(())
}

proptest! {
    #![proptest_config(runner(300))]

    #[test]
    fn sessions_are_well_formed(case in case(1..4)) {
        check_session_shape(&case)?;
    }
}

/// Draws `n` values without shrinking, to look at what a strategy covers.
fn draw<S: Strategy>(strategy: S, n: usize) -> Vec<S::Value> {
    let mut runner = TestRunner::new_with_rng(runner(1), TestRng::deterministic_rng(RngAlgorithm::XorShift));
    (0..n).map(|_| strategy.new_tree(&mut runner).expect("a value").current()).collect()
}

fn entry(form: IpForm) -> GenIpEntry {
    GenIpEntry { form, name: None }
}

#[test]
fn sessions_land_on_the_boundaries_of_their_config() {
    let mut cfg = draw(config(), 1).remove(0);
    cfg.tenants.truncate(1);
    let t = &mut cfg.tenants[0];
    t.inbound_connectors.clear();
    t.transport_rules.clear();
    t.connection_filter = Some(doorman_testgen::GenFilter {
        ip_allow_list: vec![entry(IpForm::Network("80.66.20.0".parse().unwrap(), 28))],
        ip_block_list: vec![entry(IpForm::Range("2001:db8::10".parse().unwrap(), "2001:db8::20".parse().unwrap()))],
    });
    let seen: HashSet<IpAddr> = draw(sessions(&cfg, 50..51), 40).into_iter().flatten().map(|s| s.client_ip).collect();
    for want in [
        "80.66.20.0",
        "80.66.20.15",
        "80.66.20.7",
        "80.66.19.255",
        "80.66.20.16",
        "::ffff:80.66.20.0",
        "::ffff:80.66.20.16",
        "2001:db8::10",
        "2001:db8::20",
        "2001:db8::f",
        "2001:db8::21",
        "::fffe:ffff:ffff",
        "::ffff:0:0",
        "::ffff:ffff:ffff",
        "::1:0:0:0",
    ] {
        assert!(seen.contains(&want.parse().unwrap()), "no session comes from {want}");
    }
}

#[test]
fn sessions_reach_every_kind() {
    let cases = draw(case(3..4), 500);
    let sessions: Vec<_> = cases.iter().flat_map(|c| &c.sessions).collect();
    let any = |f: &dyn Fn(&doorman_testgen::GenSession) -> bool| sessions.iter().any(|s| f(s));
    assert!(any(&|s| s.tls == GenTls::None));
    assert!(any(&|s| s.tls == GenTls::NoCertificate));
    assert!(any(&|s| s.tls == GenTls::Unverified));
    assert!(any(&|s| matches!(&s.tls, GenTls::Verified(n) if n.len() > 1)));
    assert!(any(&|s| matches!(&s.tls, GenTls::Verified(n) if n.iter().any(|n| n.starts_with("*.")))));
    assert!(any(&|s| s.mail_from == "<>"));
    assert!(any(&|s| s.mail_from.contains("@[")));
    assert!(any(&|s| !s.mail_from.is_ascii() && s.smtputf8));
    assert!(any(&|s| !s.mail_from.is_ascii() && !s.smtputf8));
    assert!(any(&|s| s.mail_from.chars().any(|c| c.is_ascii_uppercase())));
    assert!(any(&|s| s.rcpts.iter().any(|r| r.contains('%'))));
    assert!(any(&|s| s.rcpts.iter().any(|r| r.contains('!'))));
    assert!(any(&|s| s.rcpts.iter().any(|r| r.contains("@["))));
    assert!(any(&|s| (1..s.rcpts.len()).any(|i| s.rcpts[..i].contains(&s.rcpts[i]))));
    assert!(any(&|s| !s.headers.iter().any(|(n, _)| n == "From")));
    assert!(any(&|s| s.headers.iter().any(|(_, v)| v.starts_with("=?utf-8?Q?"))));
    assert!(any(&|s| s.headers.iter().filter(|(n, _)| n == "Received").count() >= 50));
    assert!(any(&|s| matches!(s.client_ip, IpAddr::V6(a) if a.to_ipv4_mapped().is_some())));
    assert!(any(&|s| s.dnsbl.iter().any(|(_, a)| *a == doorman_testgen::GenDnsbl::Listed)));
    assert!(any(&|s| s.dnsbl.iter().any(|(_, a)| *a == doorman_testgen::GenDnsbl::Failed)));
    let with_from = sessions.iter().filter(|s| s.headers.iter().any(|(n, _)| n == "From")).count();
    assert!(with_from * 4 > sessions.len() * 3, "only {with_from} of {} sessions have a From", sessions.len());
}

#[test]
fn a_case_prints_as_a_config_file_and_explain_commands() {
    let case = draw(case(2..3), 1).remove(0);
    let printed = format!("{case:?}");
    assert!(printed.contains("cat > case.toml <<'END_OF_CASE_TOML'\n"), "{printed}");
    assert!(printed.contains(&case.config.toml()), "{printed}");
    assert_eq!(printed.matches("doorman explain --config case.toml --client-ip '").count(), 2, "{printed}");
}
