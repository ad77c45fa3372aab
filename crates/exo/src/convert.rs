//! The export as doorman TOML, and the notes on what Exchange Online does differently.

use serde_json::Value;

use crate::Export;
use crate::shapes::{boolean, date, enum_name, sender_domain, strings, text};

#[derive(Debug)]
pub struct Import {
    /// A doorman config holding the tenant.
    pub toml: String,
    pub notes: Vec<Note>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NoteKind {
    /// A field doorman does not understand; it was left out.
    Unsupported,
    /// Something Exchange Online refuses or limits.
    ExoLimit,
    /// Exchange Online behaves differently from doorman's edge here.
    Semantics,
    /// An assumption the import had to make.
    Assumption,
}

#[derive(Debug)]
pub struct Note {
    pub kind: NoteKind,
    pub what: String,
}

/// Properties that describe an object rather than configure it.
const METADATA: [&str; 22] = [
    "Name",
    "Identity",
    "Guid",
    "Id",
    "DistinguishedName",
    "WhenChanged",
    "WhenCreated",
    "WhenChangedUTC",
    "WhenCreatedUTC",
    "ExchangeVersion",
    "ObjectCategory",
    "ObjectClass",
    "OrganizationId",
    "OriginatingServer",
    "IsValid",
    "ObjectState",
    "AdminDisplayName",
    "Description",
    "RuleVersion",
    "ImmutableId",
    "PSComputerName",
    "RunspaceId",
];

/// EXO's limits on the connection filter's IP lists.
const EXO_MAX_IP_ENTRIES: usize = 1273;

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

fn list_of(items: &[String]) -> String {
    format!("[{}]", items.iter().map(|s| q(s)).collect::<Vec<_>>().join(", "))
}

/// `mx`: the tenant's MX hosts as found by `--mx` or DNS; Exchange Online's own hosts become
/// `self` (Exchange Online is the edge), anything else is a gateway in front of it.
pub fn import(e: &Export, mx: &[String]) -> Import {
    let mut notes = Vec::new();
    let mut t = String::new();
    t.push_str(&format!(
        "# Imported from an Exchange Online export by `doorman import exo`.\n\n[[tenants]]\nname = {}\n",
        q(&e.tenant)
    ));
    let mx_entries: Vec<String> =
        mx.iter().map(|h| if is_exo_host(h) { "self".to_string() } else { h.clone() }).collect();
    if mx_entries.is_empty() {
        notes.push(Note {
            kind: NoteKind::Assumption,
            what: "no MX given: the analyzer cannot tell the front door; pass --mx".into(),
        });
    }
    t.push_str(&format!("mx = {}\n", list_of(&mx_entries)));
    if e.from_scubagear {
        notes.push(Note {
            kind: NoteKind::Assumption,
            what: "ScubaGear's export has no inbound connectors: none are imported. Export them with scripts/export-exo.ps1 for a complete audit".into(),
        });
    }
    let org = e.organization_config.as_ref();
    let reject_direct_send = org.and_then(|o| boolean(o, "RejectDirectSend"));
    if reject_direct_send.is_none() {
        notes.push(Note {
            kind: NoteKind::Assumption,
            what: "OrganizationConfig has no RejectDirectSend: taken as off (Exchange Online's default)".into(),
        });
    }
    t.push_str(&format!("reject_direct_send = {}\n", reject_direct_send.unwrap_or(false)));

    // Accepted domains, and a stand-in directory: the export has no mailboxes.
    let mut domains = Vec::new();
    let mut directory = Vec::new();
    for d in &e.accepted_domains {
        let Some(name) = text(d, "DomainName").or_else(|| text(d, "Name")) else { continue };
        let kind = enum_name(d, "DomainType", &[(0, "Authoritative"), (1, "ExternalRelay"), (2, "InternalRelay")])
            .unwrap_or_else(|| "Authoritative".into());
        let kind = match kind.to_ascii_lowercase().as_str() {
            "authoritative" => "authoritative",
            "internalrelay" => "internal_relay",
            other => {
                notes.push(Note {
                    kind: NoteKind::Unsupported,
                    what: format!("accepted domain {name}: DomainType {other} is imported as authoritative"),
                });
                "authoritative"
            }
        };
        if kind == "authoritative" {
            directory.push(format!("postmaster@{}", name.to_ascii_lowercase()));
        }
        let subs = boolean(d, "MatchSubDomains").unwrap_or(false);
        domains.push(format!(
            "{{ domain = {}, type = {}, match_subdomains = {subs} }}",
            q(&name.to_ascii_lowercase()),
            q(kind)
        ));
    }
    t.push_str(&format!("accepted_domains = [{}]\n", domains.join(", ")));
    if !directory.is_empty() {
        notes.push(Note {
            kind: NoteKind::Assumption,
            what: "the export holds no mailboxes: postmaster@ each authoritative domain stands in for the directory"
                .into(),
        });
        t.push_str(&format!("recipients = {}\n", list_of(&directory)));
    }

    connection_filter(e, &mut t, &mut notes);
    for c in &e.inbound_connectors {
        connector(c, &mut t, &mut notes);
    }
    for r in &e.transport_rules {
        rule(r, &mut t, &mut notes);
    }
    Import { toml: t, notes }
}

/// `*.mail.protection.outlook.com` and `*.mx.microsoft`.
pub fn is_exo_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h.ends_with(".mail.protection.outlook.com") || h.ends_with(".mx.microsoft")
}

fn unsupported(kind: &str, name: &str, item: &Value, known: &[&str], notes: &mut Vec<Note>) {
    let Some(obj) = item.as_object() else { return };
    for (k, v) in obj {
        if known.iter().any(|x| x.eq_ignore_ascii_case(k)) || METADATA.iter().any(|x| x.eq_ignore_ascii_case(k)) {
            continue;
        }
        let meaningful = match v {
            Value::Null | Value::Bool(false) => false,
            Value::Array(a) => !a.is_empty(),
            Value::String(s) => !s.trim().is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        };
        if meaningful {
            notes.push(Note {
                kind: NoteKind::Unsupported,
                what: format!("{kind} {name:?}: {k} = {v} is not modelled; left out"),
            });
        }
    }
}

fn connection_filter(e: &Export, t: &mut String, notes: &mut Vec<Note>) {
    let policy = e
        .connection_filter_policies
        .iter()
        .find(|p| {
            boolean(p, "IsDefault") == Some(true) || text(p, "Name").is_some_and(|n| n.eq_ignore_ascii_case("Default"))
        })
        .or(e.connection_filter_policies.first());
    let Some(p) = policy else { return };
    let (allow, block) = (strings(p, "IPAllowList"), strings(p, "IPBlockList"));
    for (list_name, entries) in [("IPAllowList", &allow), ("IPBlockList", &block)] {
        if entries.len() > EXO_MAX_IP_ENTRIES {
            notes.push(Note {
                kind: NoteKind::ExoLimit,
                what: format!(
                    "{list_name} has {} entries; Exchange Online takes at most {EXO_MAX_IP_ENTRIES}",
                    entries.len()
                ),
            });
        }
        for entry in entries.iter() {
            if let Some(why) = exo_refuses(entry) {
                notes.push(Note { kind: NoteKind::ExoLimit, what: format!("{list_name} entry {entry}: {why}") });
            }
        }
    }
    t.push_str(&format!(
        "\n[tenants.connection_filter]\nip_allow_list = {}\nip_block_list = {}\n",
        list_of(&allow),
        list_of(&block)
    ));
    unsupported(
        "connection filter policy",
        &text(p, "Name").unwrap_or_default(),
        p,
        &["IPAllowList", "IPBlockList", "IsDefault", "EnableSafeList"],
        notes,
    );
}

/// Exchange Online's connection filter takes IPv4 only, as an address, a /24 to /32, or a range.
pub fn exo_refuses(entry: &str) -> Option<&'static str> {
    if entry.contains(':') {
        return Some("Exchange Online's IP lists take IPv4 only");
    }
    if let Some((_, len)) = entry.split_once('/') {
        match len.trim().parse::<u8>() {
            Ok(n) if (24..=32).contains(&n) => None,
            _ => Some("Exchange Online takes CIDRs from /24 to /32 only"),
        }
    } else {
        None
    }
}

fn connector(c: &Value, t: &mut String, notes: &mut Vec<Note>) {
    let name = text(c, "Name").unwrap_or_else(|| "connector".into());
    let kind = enum_name(c, "ConnectorType", &[(1, "OnPremises"), (2, "Partner")]).unwrap_or_else(|| "Partner".into());
    let partner = !kind.eq_ignore_ascii_case("OnPremises");
    t.push_str(&format!(
        "\n[[tenants.inbound_connectors]]\nname = {}\ntype = {}\nenabled = {}\n",
        q(&name),
        q(if partner { "partner" } else { "on_premises" }),
        boolean(c, "Enabled").unwrap_or(true)
    ));
    if boolean(c, "Enabled") == Some(false) {
        let when = date(c, "WhenChanged").map(|d| format!(" (changed {d})")).unwrap_or_default();
        notes.push(Note {
            kind: NoteKind::Semantics,
            what: format!("connector {name:?} is disabled{when}: it attributes nothing"),
        });
    }
    let domains: Vec<String> = strings(c, "SenderDomains").iter().map(|d| sender_domain(d)).collect();
    let ips = strings(c, "SenderIPAddresses");
    let cert = text(c, "TlsSenderCertificateName");
    t.push_str(&format!("sender_domains = {}\nsender_ip_addresses = {}\n", list_of(&domains), list_of(&ips)));
    if let Some(cert) = &cert {
        t.push_str(&format!("tls_sender_certificate_name = {}\n", q(cert)));
    }
    let restrict_ip = boolean(c, "RestrictDomainsToIPAddresses").unwrap_or(false);
    let restrict_cert = boolean(c, "RestrictDomainsToCertificate").unwrap_or(false);
    if !partner && (restrict_ip || restrict_cert) {
        notes.push(Note {
            kind: NoteKind::Semantics,
            what: format!("connector {name:?}: restrict flags work only on Partner connectors; Exchange Online ignores them on OnPremises"),
        });
    } else {
        if restrict_ip && ips.is_empty() {
            notes.push(Note {
                kind: NoteKind::Semantics,
                what: format!(
                    "connector {name:?}: RestrictDomainsToIPAddresses without SenderIPAddresses restricts nothing"
                ),
            });
        } else if restrict_ip {
            t.push_str("restrict_domains_to_ip_addresses = true\n");
        }
        if restrict_cert && cert.is_none() {
            notes.push(Note { kind: NoteKind::Semantics, what: format!("connector {name:?}: RestrictDomainsToCertificate without TlsSenderCertificateName restricts nothing") });
        } else if restrict_cert {
            t.push_str("restrict_domains_to_certificate = true\n");
        }
    }
    t.push_str(&format!("require_tls = {}\n", boolean(c, "RequireTls").unwrap_or(false)));
    if let Some(comment) = text(c, "Comment") {
        t.push_str(&format!("comment = {}\n", q(&comment)));
    }
    unsupported(
        "connector",
        &name,
        c,
        &[
            "ConnectorType",
            "Enabled",
            "SenderDomains",
            "SenderIPAddresses",
            "TlsSenderCertificateName",
            "RestrictDomainsToIPAddresses",
            "RestrictDomainsToCertificate",
            "RequireTls",
            "Comment",
            "ConnectorSource",
            "CloudServicesMailEnabled",
            "EFSkipLastIP",
            "EFSkipIPs",
            "EFUsers",
            "ScanAndDropRecipients",
            "AssociatedAcceptedDomains",
            "TreatMessagesAsInternal",
            "TrustedOrganizations",
            "EFTestMode",
            "EFSkipMailGateway",
        ],
        notes,
    );
}

fn rule(r: &Value, t: &mut String, notes: &mut Vec<Note>) {
    let name = text(r, "Name").unwrap_or_else(|| "rule".into());
    let enabled = text(r, "State").is_none_or(|s| !s.eq_ignore_ascii_case("Disabled"));
    let mode = text(r, "Mode").unwrap_or_else(|| "Enforce".into());
    let mode = if mode.to_ascii_lowercase().starts_with("audit") { "audit" } else { "enforce" };
    t.push_str(&format!(
        "\n[[tenants.transport_rules]]\nname = {}\nenabled = {enabled}\nmode = {}\n",
        q(&name),
        q(mode)
    ));
    if let Some(p) = text(r, "Priority").and_then(|p| p.parse::<u32>().ok()) {
        t.push_str(&format!("priority = {p}\n"));
    }
    if let Some(loc) = text(r, "SenderAddressLocation") {
        let loc = match loc.to_ascii_lowercase().as_str() {
            "envelope" => "envelope",
            "headerorenvelope" => "header_or_envelope",
            _ => "header",
        };
        t.push_str(&format!("sender_address_location = {}\n", q(loc)));
    }
    if boolean(r, "StopRuleProcessing") == Some(true) {
        t.push_str("stop_processing = true\n");
    }
    for (table, prefix) in [("conditions", ""), ("exceptions", "ExceptIf")] {
        let mut lines = Vec::new();
        let ips = strings(r, &format!("{prefix}SenderIpRanges"));
        if !ips.is_empty() {
            lines.push(format!("sender_ip_ranges = {}", list_of(&ips)));
        }
        let domains = strings(r, &format!("{prefix}SenderDomainIs"));
        if !domains.is_empty() {
            lines.push(format!("sender_domain_is = {}", list_of(&domains)));
        }
        if let Some(scope) = text(r, &format!("{prefix}FromScope")) {
            let scope =
                if scope.eq_ignore_ascii_case("InOrganization") { "in_organization" } else { "not_in_organization" };
            lines.push(format!("from_scope = {}", q(scope)));
        }
        if let Some(header) = text(r, &format!("{prefix}HeaderContainsMessageHeader")) {
            let words = strings(r, &format!("{prefix}HeaderContainsWords"));
            lines.push(format!("header_contains = [{{ header = {}, words = {} }}]", q(&header), list_of(&words)));
        }
        if !lines.is_empty() {
            t.push_str(&format!("[tenants.transport_rules.{table}]\n{}\n", lines.join("\n")));
        }
    }
    let mut actions = Vec::new();
    if let Some(scl) = text(r, "SetSCL").and_then(|s| s.parse::<i8>().ok()) {
        actions.push(format!("set_scl = {scl}"));
        if scl == -1 {
            notes.push(Note {
                kind: NoteKind::Semantics,
                what: format!("rule {name:?}: SCL -1 skips spam filtering, but Exchange Online still filters malware and high-confidence phish"),
            });
        }
    }
    if let (Some(h), Some(v)) = (text(r, "SetHeaderName"), text(r, "SetHeaderValue")) {
        actions.push(format!("set_header = {{ name = {}, value = {} }}", q(&h), q(&v)));
    }
    if let Some(code) = text(r, "RejectMessageEnhancedStatusCode") {
        let reason =
            text(r, "RejectMessageReasonText").unwrap_or_else(|| "Delivery not authorized, message refused".into());
        actions.push(format!("reject = {{ enhanced_status_code = {}, text = {} }}", q(&code), q(&reason)));
        notes.push(Note {
            kind: NoteKind::Semantics,
            what: format!("rule {name:?}: Exchange Online accepts the message and sends an NDR; doorman's edge refuses it in session"),
        });
    }
    if boolean(r, "DeleteMessage") == Some(true) {
        actions.push("delete = true".into());
    }
    if boolean(r, "Quarantine") == Some(true) {
        actions.push("quarantine = true".into());
    }
    let redirect = strings(r, "RedirectMessageTo");
    if !redirect.is_empty() {
        actions.push(format!("redirect_to = {}", list_of(&redirect)));
    }
    // Not trimmed: the space after a prefix such as "[EXT] " matters.
    if let Some(p) = r.get("PrependSubject").and_then(|v| v.as_str()).filter(|p| !p.is_empty()) {
        actions.push(format!("prepend_subject = {}", q(p)));
    }
    t.push_str(&format!("[tenants.transport_rules.actions]\n{}\n", actions.join("\n")));
    if actions.is_empty() {
        notes.push(Note {
            kind: NoteKind::Unsupported,
            what: format!("rule {name:?}: none of its actions is modelled"),
        });
    }
    let mut known: Vec<String> = [
        "State",
        "Mode",
        "Priority",
        "SenderAddressLocation",
        "StopRuleProcessing",
        "SetSCL",
        "SetHeaderName",
        "SetHeaderValue",
        "RejectMessageEnhancedStatusCode",
        "RejectMessageReasonText",
        "DeleteMessage",
        "Quarantine",
        "RedirectMessageTo",
        "PrependSubject",
        "Conditions",
        "Exceptions",
        "Actions",
        "Comments",
        "RuleErrorAction",
        "RuleSubType",
        "ActivationDate",
        "ExpiryDate",
        "IsRuleConfigurationSupported",
        "ManuallyModified",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for p in ["", "ExceptIf"] {
        for f in ["SenderIpRanges", "SenderDomainIs", "FromScope", "HeaderContainsMessageHeader", "HeaderContainsWords"]
        {
            known.push(format!("{p}{f}"));
        }
    }
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    unsupported("rule", &name, r, &known, notes);
}
