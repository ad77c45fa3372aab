//! Semantic checks: what a well-typed config can still get wrong. Errors are settings that
//! cannot mean what the administrator intended (a domain owned twice, a restriction to
//! nothing); warnings are settings that work but probably not as meant.

use std::collections::{BTreeMap, HashMap, HashSet};

use crate::diag::Finding;
use crate::model::{Config, ConnectorType, DomainType, Predicates, Routing, Tenant, is_name_char};
use crate::net::IpEntry;

pub fn check(config: &Config) -> Vec<Finding> {
    let mut out = Vec::new();
    check_server(config, &mut out);
    check_cluster(config, &mut out);
    check_domain_ownership(config, &mut out);
    if config.tenants.is_empty() && config.cluster.is_none() {
        out.push(Finding::warning(
            "tenants".to_string(),
            "the config has no tenants, so every recipient is refused (550 5.7.64); an empty or half-written file looks like this",
        ));
    }
    let mut tenant_names = HashMap::new();
    for (t, tenant) in config.tenants.iter().enumerate() {
        let at = format!("tenants[{t}]");
        if let Some(first) = tenant_names.insert(tenant.name.to_lowercase(), t) {
            out.push(Finding::error(
                format!("{at}.name"),
                format!("tenant name {:?} is already used by tenants[{first}]", tenant.name),
            ));
        }
        check_tenant_shape(tenant, &at, &mut out);
        check_connectors(tenant, &at, &mut out);
        check_filter(tenant, &at, &mut out);
        check_rules(tenant, &at, &mut out);
        check_routing(tenant, &at, &mut out);
    }
    out
}

fn check_cluster(config: &Config, out: &mut Vec<Finding>) {
    let Some(cluster) = &config.cluster else { return };
    let names = [("cluster.bucket", Some(&cluster.bucket)), ("cluster.node_name", cluster.node_name.as_ref())];
    for (key, name) in names {
        if let Some(name) = name
            && (name.is_empty() || !name.chars().all(is_name_char))
        {
            out.push(Finding::error(
                key,
                format!("{name:?}: use letters, digits, - and _ only (it names NATS subjects and keys)"),
            ));
        }
    }
    if cluster.url.trim().is_empty() {
        out.push(Finding::error("cluster.url", "names no NATS server"));
    }
    if cluster.trace_buffer == 0 {
        out.push(Finding::error("cluster.trace_buffer", "must be at least 1"));
    }
    if cluster.heartbeat.0.is_zero() {
        out.push(Finding::error("cluster.heartbeat", "must be longer than 0s"));
    }
    if cluster.tls.certificate.is_some() != cluster.tls.key.is_some() {
        let key = if cluster.tls.certificate.is_some() { "cluster.tls.certificate" } else { "cluster.tls.key" };
        out.push(Finding::error(key, "certificate and key must be given together"));
    }
}

fn check_server(config: &Config, out: &mut Vec<Finding>) {
    let server = &config.server;
    host_bits(&server.trusted_proxies, "server.trusted_proxies", out);
    let mut seen = HashSet::new();
    for (i, l) in server.listeners.iter().enumerate() {
        // Port 0 asks the system for a free port: each such listener gets its own.
        if l.address.port() != 0 && !seen.insert(l.address) {
            out.push(Finding::error(
                format!("server.listeners[{i}].address"),
                format!("{} is listed twice", l.address),
            ));
        }
    }
    if server.tls.certificate.is_some() != server.tls.key.is_some() {
        let key = if server.tls.certificate.is_some() { "server.tls.certificate" } else { "server.tls.key" };
        out.push(Finding::error(key, "certificate and key must be given together"));
    }
    let limits = &server.limits;
    for (key, value) in [
        ("max_recipients", limits.max_recipients as u64),
        ("max_connections", limits.max_connections as u64),
        ("max_connections_per_ip", limits.max_connections_per_ip as u64),
        ("max_message_size", limits.max_message_size),
    ] {
        if value == 0 {
            out.push(Finding::error(format!("server.limits.{key}"), "must be at least 1"));
        }
    }
    if server.spam_filter.as_ref().is_some_and(|f| f.max_concurrent_scans == 0) {
        out.push(Finding::error("server.spam_filter.max_concurrent_scans", "must be at least 1"));
    }
    if limits.max_connections_per_network == 0 {
        out.push(Finding::error("server.limits.max_connections_per_network", "must be at least 1"));
    }
    for (key, value, max) in [
        ("network_prefix_v4", limits.network_prefix_v4, 32),
        ("network_prefix_v6", limits.network_prefix_v6, 128),
        ("stress_threshold", limits.stress_threshold, 100),
    ] {
        if value > max {
            out.push(Finding::error(format!("server.limits.{key}"), format!("must be at most {max}")));
        }
    }
    for (key, value) in [
        ("command_timeout", limits.command_timeout),
        ("data_timeout", limits.data_timeout),
        ("session_timeout", limits.session_timeout),
        ("stress_command_timeout", limits.stress_command_timeout),
    ] {
        if value.0.is_zero() {
            out.push(Finding::error(format!("server.limits.{key}"), "must be longer than 0s"));
        }
    }
}

/// A domain must belong to one tenant, or recipient attribution is ambiguous.
fn check_domain_ownership(config: &Config, out: &mut Vec<Finding>) {
    let mut owner: HashMap<&str, (usize, usize)> = HashMap::new();
    for (t, tenant) in config.tenants.iter().enumerate() {
        for (d, ad) in tenant.accepted_domains.iter().enumerate() {
            let key = format!("tenants[{t}].accepted_domains[{d}].domain");
            match owner.insert(ad.domain.as_str(), (t, d)) {
                Some((ot, _)) if ot != t => out.push(Finding::error(
                    key,
                    format!(
                        "{} is already an accepted domain of tenant {:?}: a domain can belong to one tenant only",
                        ad.domain, config.tenants[ot].name
                    ),
                )),
                Some((_, od)) => out
                    .push(Finding::error(key, format!("{} is listed twice (also accepted_domains[{od}])", ad.domain))),
                None => {}
            }
        }
    }
}

fn check_tenant_shape(tenant: &Tenant, at: &str, out: &mut Vec<Finding>) {
    // Exchange's SCLJunkThreshold runs from 0 to 9; -1 would send every copy with an SCL to Junk.
    if tenant.scl_junk_threshold.0 < 0 {
        out.push(Finding::error(
            format!("{at}.scl_junk_threshold"),
            "scl_junk_threshold runs from 0 to 9: a copy whose SCL is above it goes to the Junk Email folder",
        ));
    }
    let spam = &tenant.anti_spam;
    if spam.spam_scl.0 < 1 {
        out.push(Finding::error(
            format!("{at}.anti_spam.spam_scl"),
            "spam_scl runs from 1 to 9: at 0 or below every scanned copy would be spam",
        ));
    }
    if spam.high_confidence_scl < spam.spam_scl {
        out.push(Finding::error(
            format!("{at}.anti_spam.high_confidence_scl"),
            format!(
                "high_confidence_scl ({}) is below spam_scl ({}): high confidence spam is spam with a higher SCL",
                spam.high_confidence_scl, spam.spam_scl
            ),
        ));
    }
    if tenant.accepted_domains.is_empty() {
        out.push(Finding::warning(
            at.to_string(),
            format!("tenant {:?} has no accepted domain, so it receives no mail", tenant.name),
        ));
    }
    if tenant.mx.is_empty() {
        out.push(Finding::warning(
            format!("{at}.name"),
            "mx is not set: set mx = [\"self\"] when doorman is the MX, or the gateway's host names, so the analyzer can tell the front door from a side door",
        ));
    }
    let authoritative: Vec<_> =
        tenant.accepted_domains.iter().filter(|d| d.kind == DomainType::Authoritative).collect();
    if !authoritative.is_empty() && tenant.directory().next().is_none() {
        out.push(Finding::warning(
            format!("{at}.recipients"),
            format!(
                "the directory is empty, so every recipient of the authoritative domain {} is rejected",
                authoritative[0].domain
            ),
        ));
    }
    let in_tenant = |domain: &str| {
        tenant
            .accepted_domains
            .iter()
            .any(|ad| ad.domain.as_str() == domain || (ad.match_subdomains && ad.domain.covers(domain)))
    };
    for (i, m) in tenant.recipients.iter().enumerate() {
        if !m.domain_name().is_some_and(in_tenant) {
            out.push(Finding::warning(
                format!("{at}.recipients[{i}]"),
                format!("{m} is not in an accepted domain of this tenant and can never receive mail"),
            ));
        }
    }
}

fn check_connectors(tenant: &Tenant, at: &str, out: &mut Vec<Finding>) {
    let mut names: HashMap<String, usize> = HashMap::new();
    for (c, conn) in tenant.inbound_connectors.iter().enumerate() {
        let at = format!("{at}.inbound_connectors[{c}]");
        if let Some(first) = names.insert(conn.name.to_lowercase(), c) {
            out.push(Finding::error(
                format!("{at}.name"),
                format!("connector name {:?} is already used by inbound_connectors[{first}]", conn.name),
            ));
        }
        if conn.sender_domains.is_empty() {
            out.push(Finding::error(format!("{at}.sender_domains"), "covers no sender: use [\"*\"] for every sender"));
        }
        let has_ips = !conn.sender_ip_addresses.is_empty();
        let has_cert = conn.tls_sender_certificate_name.is_some();
        if conn.restrict_domains_to_ip_addresses && !has_ips {
            out.push(Finding::error(
                format!("{at}.restrict_domains_to_ip_addresses"),
                "restricts to IP addresses, but sender_ip_addresses is empty: every covered sender would be rejected",
            ));
        }
        if conn.restrict_domains_to_certificate && !has_cert {
            out.push(Finding::error(
                format!("{at}.restrict_domains_to_certificate"),
                "restricts to a certificate, but tls_sender_certificate_name is not set: every covered sender would be rejected",
            ));
        }
        match conn.kind {
            ConnectorType::Partner if has_ips && has_cert => out.push(Finding::warning(
                format!("{at}.tls_sender_certificate_name"),
                "a partner connector holds both IP addresses and a certificate name; Microsoft advises one connector for each",
            )),
            ConnectorType::OnPremises if !has_ips && !has_cert => out.push(Finding::error(
                at.clone(),
                "an on_premises connector needs sender_ip_addresses or tls_sender_certificate_name, or it can never match",
            )),
            ConnectorType::OnPremises if conn.restricts() => out.push(Finding::warning(
                at.clone(),
                "restrict_domains_to_* has effect on partner connectors only; an on_premises connector matches by IP or certificate anyway",
            )),
            _ => {}
        }
        host_bits(&conn.sender_ip_addresses, &format!("{at}.sender_ip_addresses"), out);
    }
}

fn check_filter(tenant: &Tenant, at: &str, out: &mut Vec<Finding>) {
    host_bits(&tenant.connection_filter.ip_allow_list, &format!("{at}.connection_filter.ip_allow_list"), out);
    host_bits(&tenant.connection_filter.ip_block_list, &format!("{at}.connection_filter.ip_block_list"), out);
}

fn check_rules(tenant: &Tenant, at: &str, out: &mut Vec<Finding>) {
    let connectors: HashSet<String> = tenant.inbound_connectors.iter().map(|c| c.name.to_lowercase()).collect();
    let mut names: HashMap<String, usize> = HashMap::new();
    let mut priorities: BTreeMap<u32, usize> = BTreeMap::new();
    for (r, rule) in tenant.transport_rules.iter().enumerate() {
        let at = format!("{at}.transport_rules[{r}]");
        if let Some(first) = names.insert(rule.name.to_lowercase(), r) {
            out.push(Finding::error(
                format!("{at}.name"),
                format!("rule name {:?} is already used by transport_rules[{first}]", rule.name),
            ));
        }
        if let Some(p) = rule.priority
            && let Some(first) = priorities.insert(p, r)
        {
            out.push(Finding::warning(
                format!("{at}.priority"),
                format!(
                    "priority {p} is also held by transport_rules[{first}]; the earlier one in the file runs first"
                ),
            ));
        }
        if rule.actions.is_empty() {
            out.push(Finding::error(format!("{at}.actions"), "the rule has no action"));
        }
        for (which, preds) in [("conditions", &rule.conditions), ("exceptions", &rule.exceptions)] {
            check_predicates(preds, &format!("{at}.{which}"), &connectors, out);
        }
    }
}

fn check_predicates(p: &Predicates, at: &str, connectors: &HashSet<String>, out: &mut Vec<Finding>) {
    for (i, name) in p.inbound_connector.iter().enumerate() {
        if !connectors.contains(&name.to_lowercase()) {
            out.push(Finding::error(
                format!("{at}.inbound_connector[{i}]"),
                format!("no inbound connector of this tenant is named {name:?}"),
            ));
        }
    }
    for (i, h) in p.header_contains.iter().enumerate() {
        if h.words.is_empty() {
            out.push(Finding::error(
                format!("{at}.header_contains[{i}].words"),
                "no words given, so the predicate can never match",
            ));
        }
    }
    host_bits(&p.sender_ip_ranges, &format!("{at}.sender_ip_ranges"), out);
}

fn check_routing(tenant: &Tenant, at: &str, out: &mut Vec<Finding>) {
    let Some(routing) = &tenant.routing else {
        out.push(Finding::warning(
            format!("{at}.name"),
            format!(
                "tenant {:?} has no routing, so its mail is accepted and then waits in the queue until server.queue.max_age, when it bounces: give routing = {{ type = \"relay\", … }} or {{ type = \"maildir\", … }}",
                tenant.name
            ),
        ));
        return;
    };
    if let Routing::Relay(relay) = routing
        && relay.next_hops.is_empty()
    {
        out.push(Finding::error(format!("{at}.routing.next_hops"), "relay routing needs at least one next hop"));
    }
}

/// `10.1.2.3/8` works (it means `10.0.0.0/8`) but usually hides a typo.
fn host_bits(entries: &[IpEntry], at: &str, out: &mut Vec<Finding>) {
    for (i, e) in entries.iter().enumerate() {
        if let Some(fixed) = e.corrected() {
            out.push(Finding::warning(
                format!("{at}[{i}]"),
                format!("{:?} has host bits set; it means {fixed}", e.text.trim()),
            ));
        }
    }
}
