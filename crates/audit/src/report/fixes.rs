//! The changes that close what was found, as a typed [`Change`] and as TOML written by the
//! serializer.

use doorman_config::{ConnectorType, Tenant};

use crate::doors::Gateway;

use super::*;

pub(super) fn gateway_certificate(cfg: &Tenant) -> Option<String> {
    cfg.inbound_connectors
        .iter()
        .filter(|c| c.enabled)
        .find_map(|c| c.tls_sender_certificate_name.as_ref().map(|p| p.to_string()))
}

/// The smallest change that closes the side door: restrict a Partner connector for every
/// sender domain to what the gateway is known by.
pub(super) fn gateway_fix(cfg: &Tenant, gateway: &Gateway) -> Fix {
    let existing = cfg.inbound_connectors.iter().find(|c| {
        c.enabled
            && c.kind == ConnectorType::Partner
            && c.sender_domains.contains(&doorman_config::names::SenderDomainPattern::Any)
            && !c.restricts()
            && (!c.sender_ip_addresses.is_empty() || c.tls_sender_certificate_name.is_some())
    });
    if let Some(c) = existing {
        let (by, key) = if c.sender_ip_addresses.is_empty() {
            (Restriction::Certificate, "restrict_domains_to_certificate")
        } else {
            (Restriction::IpAddresses, "restrict_domains_to_ip_addresses")
        };
        // A snippet cannot name one element of an array of tables, so a comment says which;
        // `{:?}` escapes every control character, so the name cannot end the comment.
        let mut change = toml_edit::DocumentMut::new();
        change[key] = toml_edit::value(true);
        change.decor_mut().set_prefix(format!("# in the [[tenants.inbound_connectors]] named {:?}:\n", c.name));
        return Fix {
            title: format!("Restrict the existing Partner connector {:?} to its gateway", c.name),
            closes: FindingCode::SideDoor,
            change: Change::RestrictConnector { connector: c.name.clone(), by },
            toml: change.to_string(),
        };
    }
    let mut ips: Vec<String> = gateway.networks.iter().map(|e| e.to_string()).collect();
    ips.sort();
    ips.dedup();
    let cert = gateway_certificate(cfg);
    let mut connector = toml_edit::Table::new();
    connector["name"] = toml_edit::value("Inbound only from the gateway");
    connector["type"] = toml_edit::value("partner");
    connector["sender_domains"] = toml_edit::value(toml_edit::Array::from_iter(["*"]));
    match &cert {
        _ if !ips.is_empty() => {
            connector["sender_ip_addresses"] =
                toml_edit::value(toml_edit::Array::from_iter(ips.iter().map(String::as_str)));
            connector["restrict_domains_to_ip_addresses"] = toml_edit::value(true);
        }
        Some(name) => {
            connector["tls_sender_certificate_name"] = toml_edit::value(name.as_str());
            connector["restrict_domains_to_certificate"] = toml_edit::value(true);
        }
        None => {
            connector["sender_ip_addresses"] =
                toml_edit::value(toml_edit::Array::from_iter(["GATEWAY-NETWORK/PREFIX"]));
            if let Some(v) = connector["sender_ip_addresses"].as_value_mut() {
                v.decor_mut().set_suffix("  # your gateway's outbound addresses");
            }
            connector["restrict_domains_to_ip_addresses"] = toml_edit::value(true);
        }
    }
    connector["require_tls"] = toml_edit::value(true);
    Fix {
        title: "Accept mail only from the gateway (a Partner connector for every sender domain)".into(),
        closes: FindingCode::SideDoor,
        change: Change::GatewayConnector { sender_ip_addresses: ips, gateway_certificate: cert },
        toml: connector_toml(connector),
    }
}

/// `[[tenants.inbound_connectors]]` holding `connector`, written by the TOML serializer.
pub(super) fn connector_toml(connector: toml_edit::Table) -> String {
    tenant_snippet("inbound_connectors", connector)
}

/// `table` as one `[[tenants.<key>]]` element (a connector, a rule), written by the TOML
/// serializer, to paste into a tenant's section.
pub fn tenant_snippet(key: &str, table: toml_edit::Table) -> String {
    let mut items = toml_edit::ArrayOfTables::new();
    items.push(table);
    let mut tenant = toml_edit::Table::new();
    tenant.set_implicit(true);
    tenant.insert(key, toml_edit::Item::ArrayOfTables(items));
    let mut doc = toml_edit::DocumentMut::new();
    doc.insert("tenants", toml_edit::Item::Table(tenant));
    doc.to_string()
}
