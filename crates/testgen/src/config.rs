//! Random configs over the whole documented schema, as serde structs that mirror the TOML.
//!
//! Every field that has a default is an `Option` (or an empty list) left out of the TOML when
//! unset, so both "written" and "defaulted" are exercised. The strategies respect what
//! `check.rs` calls an error (a domain accepted twice, a restriction to nothing, an unknown
//! connector name in a rule, a rule without an action), because a config that does not load
//! tests nothing; warnings are fine and do occur. The repairs that keep a draw valid are done
//! in `prop_map`s, which are deterministic, so a shrunk draw is repaired the same way.

use doorman_config::{ConnectorType, DomainType, FromScope, RuleMode, SenderAddressLocation};
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;
use proptest::sample::{Index, select, subsequence};
use serde::Serialize;

use crate::ip::{GenIpEntry, IpForm, filter_entry, ip_entry};
use crate::pools::*;

/// A whole config. `Debug` prints it as TOML (see `print.rs`).
#[derive(Clone, PartialEq, Serialize)]
pub struct GenConfig {
    #[serde(skip_serializing_if = "GenServer::is_default")]
    pub server: GenServer,
    pub tenants: Vec<GenTenant>,
}

impl GenConfig {
    /// The config as TOML, serialised (never glued together), ready for `load_str`.
    pub fn toml(&self) -> String {
        toml::to_string(self).expect("a generated config serialises to TOML")
    }
}

/// Only the settings that change decisions; the rest keeps its defaults.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GenServer {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dnsbl_zones: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub trusted_proxies: Vec<GenIpEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<GenLimits>,
    /// `[server.authentication]`: whether copies are authenticated depends on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authentication: Option<GenAuthentication>,
    /// `[server.spam_filter]`: whether copies are scanned depends on it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spam_filter: Option<GenSpamFilter>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenAuthentication {
    pub enabled: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenSpamFilter {
    pub address: String,
}

impl GenServer {
    fn is_default(&self) -> bool {
        *self == GenServer::default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenLimits {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_recipients: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_message_size: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenTenant {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mx: Option<Vec<GenMx>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject_direct_send: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scl_junk_threshold: Option<i8>,
    /// The directory, inline.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipients: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub accepted_domains: Vec<GenAcceptedDomain>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inbound_connectors: Vec<GenConnector>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_filter: Option<GenFilter>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub transport_rules: Vec<GenRule>,
}

/// `"self"`, `"mx.gw.test"` or `{ host, addresses }`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum GenMx {
    Host(String),
    WithAddresses { host: String, addresses: Vec<GenIpEntry> },
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenAcceptedDomain {
    pub domain: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<DomainType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub match_subdomains: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenConnector {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConnectorType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// `None`: the default, `["*"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_domains: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sender_ip_addresses: Vec<GenIpEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_sender_certificate_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrict_domains_to_ip_addresses: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restrict_domains_to_certificate: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenFilter {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_allow_list: Vec<GenIpEntry>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ip_block_list: Vec<GenIpEntry>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenRule {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub priority: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<RuleMode>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sender_address_location: Option<SenderAddressLocation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_processing: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(skip_serializing_if = "GenPredicates::is_empty")]
    pub conditions: GenPredicates,
    #[serde(skip_serializing_if = "GenPredicates::is_empty")]
    pub exceptions: GenPredicates,
    pub actions: GenActions,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GenPredicates {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sender_ip_ranges: Vec<GenIpEntry>,
    /// Names of the tenant's own connectors (an unknown name is a config error).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inbound_connector: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tls_certificate_name: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sender_domain_is: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub recipient_domain_is: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_scope: Option<FromScope>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub header_contains: Vec<GenHeaderContains>,
}

impl GenPredicates {
    pub fn is_empty(&self) -> bool {
        *self == GenPredicates::default()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenHeaderContains {
    pub header: String,
    pub words: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GenActions {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_scl: Option<i8>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reject: Option<GenReject>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub delete: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quarantine: Option<bool>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub redirect_to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub set_header: Option<GenSetHeader>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prepend_subject: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenReject {
    pub enhanced_status_code: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct GenSetHeader {
    pub name: String,
    pub value: String,
}

// ---------------------------------------------------------------------------------------------
// strategies

/// A whole config: 1–3 tenants, each small, over the shared pools.
pub fn config() -> impl Strategy<Value = GenConfig> {
    (server(), vec(tenant(), 1..=3)).prop_map(|(server, mut tenants)| {
        // One owner per domain: a later claim is dropped, as a second claim is an error.
        let mut owned = Vec::new();
        for (i, t) in tenants.iter_mut().enumerate() {
            t.name = TENANT_NAMES[i % TENANT_NAMES.len()].to_string();
            t.accepted_domains.retain(|d| {
                let fresh = !owned.contains(&d.domain);
                owned.push(d.domain.clone());
                fresh
            });
        }
        GenConfig { server, tenants }
    })
}

fn server() -> impl Strategy<Value = GenServer> {
    let recipients = 1u32..=5;
    let size = 1000u64..200_000;
    let limits = prop_oneof![
        3 => recipients.clone().prop_map(|r| GenLimits { max_recipients: Some(r), max_message_size: None }),
        2 => size.clone().prop_map(|s| GenLimits { max_recipients: None, max_message_size: Some(s) }),
        1 => (recipients, size).prop_map(|(r, s)| GenLimits { max_recipients: Some(r), max_message_size: Some(s) }),
    ];
    let proxies =
        prop_oneof![Just(GenIpEntry { form: IpForm::Address([127, 0, 0, 1].into()), name: None }), ip_entry(),];
    (
        prop_oneof![3 => Just(Vec::new()), 1 => subsequence(DNSBL_ZONES, 1..=2)],
        prop_oneof![3 => Just(Vec::new()), 1 => vec(proxies, 1..=2)],
        option::weighted(0.25, limits),
        option::weighted(0.5, any::<bool>().prop_map(|enabled| GenAuthentication { enabled })),
        option::weighted(0.5, Just(GenSpamFilter { address: "127.0.0.1:11333".into() })),
    )
        .prop_map(|(zones, trusted_proxies, limits, authentication, spam_filter)| GenServer {
            dnsbl_zones: zones.into_iter().map(str::to_string).collect(),
            trusted_proxies,
            limits,
            authentication,
            spam_filter,
        })
}

fn mx() -> impl Strategy<Value = Option<Vec<GenMx>>> {
    let host = select(MX_HOSTS).prop_map(str::to_string);
    prop_oneof![
        1 => Just(None),
        2 => Just(Some(vec![GenMx::Host("self".into())])),
        1 => host.clone().prop_map(|h| Some(vec![GenMx::Host(h)])),
        2 => (host, vec(ip_entry(), 1..=2))
            .prop_map(|(host, addresses)| Some(vec![GenMx::WithAddresses { host, addresses }])),
    ]
}

fn accepted_domain() -> impl Strategy<Value = GenAcceptedDomain> {
    let kind = option::of(prop_oneof![Just(DomainType::Authoritative), Just(DomainType::InternalRelay)]);
    (select(DOMAINS), kind, option::of(any::<bool>())).prop_map(|(d, kind, match_subdomains)| GenAcceptedDomain {
        domain: d.to_string(),
        kind,
        match_subdomains,
    })
}

/// A directory entry as a local part, which of the tenant's drawn domains, and maybe a
/// subdomain label in front; resolved in [`tenant`].
fn directory_entry() -> impl Strategy<Value = (&'static str, Index, Option<&'static str>)> {
    (select(DIRECTORY_LOCALS), any::<Index>(), option::weighted(0.25, select(SUB_PREFIXES)))
}

fn tenant() -> impl Strategy<Value = GenTenant> {
    (
        mx(),
        option::of(any::<bool>()),
        option::weighted(0.3, 0i8..=9),
        vec(accepted_domain(), 1..=3),
        vec(directory_entry(), 0..=4),
        vec(connector(), 0..=3),
        option::weighted(0.4, filter()),
        vec(rule(), 0..=4),
    )
        .prop_map(
            |(
                mx,
                reject_direct_send,
                scl_junk_threshold,
                accepted_domains,
                directory,
                mut connectors,
                filter,
                rules,
            )| {
                let recipients = directory
                    .into_iter()
                    .map(|(local, i, sub)| {
                        let domain = &i.get(&accepted_domains).domain;
                        match sub {
                            Some(sub) => format!("{local}@{sub}.{domain}"),
                            None => format!("{local}@{domain}"),
                        }
                    })
                    .collect();
                let mut seen = Vec::new();
                for (i, c) in connectors.iter_mut().enumerate() {
                    if seen.contains(&c.name.to_lowercase()) {
                        c.name = format!("{} {}", c.name, i + 1);
                    }
                    seen.push(c.name.to_lowercase());
                }
                let names: Vec<String> = connectors.iter().map(|c| c.name.clone()).collect();
                let mut seen = Vec::new();
                let transport_rules = rules
                    .into_iter()
                    .enumerate()
                    .map(|(i, (mut rule, in_conditions, in_exceptions))| {
                        if seen.contains(&rule.name.to_lowercase()) {
                            rule.name = format!("{} {}", rule.name, i + 1);
                        }
                        seen.push(rule.name.to_lowercase());
                        rule.conditions.inbound_connector = connector_refs(&names, in_conditions);
                        rule.exceptions.inbound_connector = connector_refs(&names, in_exceptions);
                        rule
                    })
                    .collect();
                GenTenant {
                    name: String::new(),
                    mx,
                    reject_direct_send,
                    scl_junk_threshold,
                    recipients,
                    accepted_domains,
                    inbound_connectors: connectors,
                    connection_filter: filter,
                    transport_rules,
                }
            },
        )
}

/// A rule's `inbound_connector` values: picks among the tenant's connectors, now and then in
/// another case (names compare case-insensitively); none when the tenant has no connector.
fn connector_refs(names: &[String], picks: Vec<(Index, bool)>) -> Vec<String> {
    if names.is_empty() {
        return Vec::new();
    }
    picks.into_iter().map(|(i, upper)| if upper { i.get(names).to_uppercase() } else { i.get(names).clone() }).collect()
}

fn sender_domain_pattern() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => Just("*".to_string()),
        3 => pool_domain(),
        2 => pool_domain().prop_map(|d| format!("*.{d}")),
    ]
}

fn cert_pattern() -> impl Strategy<Value = String> {
    select(CERT_PATTERNS).prop_map(str::to_string)
}

fn connector() -> impl Strategy<Value = GenConnector> {
    let kind = prop_oneof![3 => Just(ConnectorType::Partner), 2 => Just(ConnectorType::OnPremises)];
    let ips = prop_oneof![1 => Just(Vec::new()), 3 => vec(ip_entry(), 1..=3)];
    let flag = || option::weighted(0.6, prop::bool::weighted(0.6));
    (
        (select(CONNECTOR_NAMES), kind, option::weighted(0.3, prop::bool::weighted(0.8))),
        option::weighted(0.7, vec(sender_domain_pattern(), 1..=3)),
        ips,
        option::weighted(0.4, cert_pattern()),
        (flag(), flag(), option::weighted(0.4, any::<bool>())),
        option::weighted(0.2, select(COMMENTS)),
    )
        .prop_map(|((name, kind, enabled), sender_domains, ips, cert, (to_ip, to_cert, require_tls), comment)| {
            // A restriction to nothing is an error, and so is an on-premises connector that
            // can never match: repair rather than discard, so shrinking keeps working.
            let restrict_ip = to_ip.filter(|&on| !on || !ips.is_empty());
            let restrict_cert = to_cert.filter(|&on| !on || cert.is_some());
            let kind = match kind {
                ConnectorType::OnPremises if ips.is_empty() && cert.is_none() => ConnectorType::Partner,
                k => k,
            };
            GenConnector {
                name: name.to_string(),
                kind,
                enabled,
                sender_domains,
                sender_ip_addresses: ips,
                tls_sender_certificate_name: cert,
                restrict_domains_to_ip_addresses: restrict_ip,
                restrict_domains_to_certificate: restrict_cert,
                require_tls,
                comment: comment.map(str::to_string),
            }
        })
}

fn filter() -> impl Strategy<Value = GenFilter> {
    (vec(filter_entry(), 0..=3), vec(filter_entry(), 0..=3))
        .prop_map(|(ip_allow_list, ip_block_list)| GenFilter { ip_allow_list, ip_block_list })
}

/// Predicates with each kind present now and then; the connector references are picks
/// resolved against the tenant's connectors in [`tenant`].
fn predicates(p: f64) -> impl Strategy<Value = (GenPredicates, Vec<(Index, bool)>)> {
    let domains = || option::weighted(p, vec(pool_domain(), 1..=2)).prop_map(Option::unwrap_or_default);
    let header = (select(HEADERS), vec(select(WORDS), 1..=2)).prop_map(|(h, w)| GenHeaderContains {
        header: h.to_string(),
        words: w.into_iter().map(str::to_string).collect(),
    });
    let scope = prop_oneof![Just(FromScope::InOrganization), Just(FromScope::NotInOrganization)];
    (
        option::weighted(p, vec(ip_entry(), 1..=2)).prop_map(Option::unwrap_or_default),
        option::weighted(p, vec((any::<Index>(), prop::bool::weighted(0.1)), 1..=2))
            .prop_map(Option::unwrap_or_default),
        option::weighted(p, vec(cert_pattern(), 1..=2)).prop_map(Option::unwrap_or_default),
        domains(),
        domains(),
        option::weighted(p, scope),
        option::weighted(p, vec(header, 1..=2)).prop_map(Option::unwrap_or_default),
    )
        .prop_map(
            |(
                sender_ip_ranges,
                connectors,
                tls_certificate_name,
                sender_domain_is,
                recipient_domain_is,
                from_scope,
                header_contains,
            )| {
                let p = GenPredicates {
                    sender_ip_ranges,
                    inbound_connector: Vec::new(),
                    tls_certificate_name,
                    sender_domain_is,
                    recipient_domain_is,
                    from_scope,
                    header_contains,
                };
                (p, connectors)
            },
        )
}

fn scl() -> impl Strategy<Value = i8> {
    prop_oneof![3 => Just(-1i8), 2 => -1i8..=9]
}

fn reject() -> impl Strategy<Value = GenReject> {
    let code = prop_oneof![
        2 => select(&["5.7.1", "5.7.0", "5.1.0"][..]).prop_map(str::to_string),
        1 => (0u16..=7, 0u16..=30).prop_map(|(s, d)| format!("5.{s}.{d}")),
    ];
    (code, select(REJECT_TEXTS))
        .prop_map(|(enhanced_status_code, text)| GenReject { enhanced_status_code, text: text.into() })
}

fn set_header() -> impl Strategy<Value = GenSetHeader> {
    (select(SET_HEADER_NAMES), select(&["1", "gateway", "spam"][..]))
        .prop_map(|(n, v)| GenSetHeader { name: n.into(), value: v.into() })
}

fn redirect_to() -> impl Strategy<Value = Vec<String>> {
    vec(select(REDIRECT_TO).prop_map(str::to_string), 1..=2)
}

/// One action of each kind for sure (a rule needs one), and now and then others beside it.
fn actions() -> impl Strategy<Value = GenActions> {
    let primary = prop_oneof![
        4 => scl().prop_map(|s| GenActions { set_scl: Some(s), ..GenActions::default() }),
        2 => reject().prop_map(|r| GenActions { reject: Some(r), ..GenActions::default() }),
        1 => Just(GenActions { delete: Some(true), ..GenActions::default() }),
        1 => Just(GenActions { quarantine: Some(true), ..GenActions::default() }),
        1 => redirect_to().prop_map(|r| GenActions { redirect_to: r, ..GenActions::default() }),
        1 => set_header().prop_map(|h| GenActions { set_header: Some(h), ..GenActions::default() }),
        1 => select(PREPEND_SUBJECTS).prop_map(|s| GenActions { prepend_subject: Some(s.into()), ..GenActions::default() }),
    ];
    let p = 0.1;
    let extras = (
        option::weighted(p, scl()),
        option::weighted(p, reject()),
        option::weighted(p, Just(true)),
        option::weighted(p, Just(true)),
        option::weighted(p, redirect_to()).prop_map(Option::unwrap_or_default),
        option::weighted(p, set_header()),
        option::weighted(p, select(PREPEND_SUBJECTS).prop_map(str::to_string)),
    );
    (primary, extras).prop_map(|(a, (scl, reject, delete, quarantine, redirect_to, set_header, prepend))| GenActions {
        set_scl: a.set_scl.or(scl),
        reject: a.reject.or(reject),
        delete: a.delete.or(delete),
        quarantine: a.quarantine.or(quarantine),
        redirect_to: if a.redirect_to.is_empty() { redirect_to } else { a.redirect_to },
        set_header: a.set_header.or(set_header),
        prepend_subject: a.prepend_subject.or(prepend),
    })
}

type RuleDraw = (GenRule, Vec<(Index, bool)>, Vec<(Index, bool)>);

fn rule() -> impl Strategy<Value = RuleDraw> {
    let mode = prop_oneof![Just(RuleMode::Enforce), Just(RuleMode::Audit)];
    let location = prop_oneof![
        Just(SenderAddressLocation::Header),
        Just(SenderAddressLocation::Envelope),
        Just(SenderAddressLocation::HeaderOrEnvelope),
    ];
    (
        (
            select(RULE_NAMES),
            option::of(0u32..=5),
            option::weighted(0.3, mode),
            option::weighted(0.3, prop::bool::weighted(0.8)),
        ),
        (
            option::weighted(0.5, location),
            option::weighted(0.3, any::<bool>()),
            option::weighted(0.1, select(COMMENTS)),
        ),
        predicates(0.3),
        predicates(0.1),
        actions(),
    )
        .prop_map(
            |(
                (name, priority, mode, enabled),
                (location, stop, comment),
                (conditions, c_refs),
                (exceptions, e_refs),
                actions,
            )| {
                let rule = GenRule {
                    name: name.to_string(),
                    priority,
                    mode,
                    enabled,
                    sender_address_location: location,
                    stop_processing: stop,
                    comment: comment.map(str::to_string),
                    conditions,
                    exceptions,
                    actions,
                };
                (rule, c_refs, e_refs)
            },
        )
}
