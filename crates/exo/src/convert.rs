//! The export as doorman TOML, and the notes on what Exchange Online does differently.
//!
//! The TOML is built with `toml_edit`, so every value is serialized (a name with `"` or a
//! line break stays a name) and the notes can sit in it as comments.

use std::convert::Infallible;
use std::error::Error;
use std::fmt::Display;

use doorman_audit::MissingInput;
use doorman_config::names::{CertNamePattern, DomainName, SenderDomainPattern};
use doorman_config::net::IpEntry;
use serde::Serialize;
use serde_json::Value;
use toml_edit::{Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table, value};

use crate::completeness;
use crate::read::{Export, Source, domain_name};
use crate::shapes::{self, boolean, date, enum_name, name as shape_name, sender_domain, strings, text};

#[derive(Debug)]
pub struct Import {
    pub tenant: String,
    pub source: Source,
    /// A doorman config holding the tenant, with every note as a comment at the top.
    pub toml: String,
    pub notes: Vec<Note>,
    /// What the export does not hold; the audit is INCOMPLETE while this is not empty.
    pub missing: Vec<MissingInput>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum NoteKind {
    /// A field doorman does not model; it was left out.
    #[serde(rename = "not_imported")]
    Unsupported,
    /// Something Exchange Online refuses or limits.
    #[serde(rename = "exchange_online_limit")]
    ExoLimit,
    /// Exchange Online behaves differently from doorman's edge here.
    #[serde(rename = "exchange_online_differs")]
    Semantics,
    /// An assumption the import had to make.
    #[serde(rename = "assumed")]
    Assumption,
}

impl NoteKind {
    pub fn label(self) -> &'static str {
        match self {
            NoteKind::Unsupported => "not imported",
            NoteKind::ExoLimit => "Exchange Online limit",
            NoteKind::Semantics => "Exchange Online differs",
            NoteKind::Assumption => "assumed",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Note {
    pub kind: NoteKind,
    pub what: String,
}

impl Note {
    fn new(kind: NoteKind, what: String) -> Note {
        Note { kind, what }
    }
}

/// Properties that describe an object rather than configure it.
const METADATA: [&str; 32] = [
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
    "PSShowComputerName",
    "DisplayName",
    "Comments",
    "ManuallyModified",
    "IsRuleConfigurationSupported",
    "RuleErrorAction",
    "RuleSubType",
    "DlpPolicy",
    "DlpPolicyId",
    "RecipientAddressType",
];

/// EXO's limits on the connection filter's IP lists.
const EXO_MAX_IP_ENTRIES: usize = 1273;

/// Transport rule actions (New-TransportRule's action parameters) doorman does not model.
/// They change what a message looks like or who else gets a copy, not who reaches a mailbox.
const UNMODELLED_ACTIONS: [&str; 28] = [
    "ApplyHtmlDisclaimerText",
    "ApplyHtmlDisclaimerLocation",
    "ApplyHtmlDisclaimerFallbackAction",
    "AddToRecipients",
    "CopyTo",
    "BlindCopyTo",
    "AddManagerAsRecipientType",
    "ModerateMessageByUser",
    "ModerateMessageByManager",
    "RemoveHeader",
    "ApplyClassification",
    "SetAuditSeverity",
    "ApplyRightsProtectionTemplate",
    "ApplyRightsProtectionCustomizationTemplate",
    "RouteMessageOutboundConnector",
    "RouteMessageOutboundRequireTls",
    "ApplyOME",
    "RemoveOME",
    "RemoveOMEv2",
    "RemoveRMSAttachmentEncryption",
    "GenerateIncidentReport",
    "IncidentReportContent",
    "IncidentReportOriginalMail",
    "GenerateNotification",
    "NotifySender",
    "SenderNotificationType",
    "SmtpRejectMessageRejectText",
    "SmtpRejectMessageRejectStatusCode",
];

/// The rule fields read into doorman's rule, besides the predicates.
const READ: [&str; 16] = [
    "State",
    "Mode",
    "Priority",
    "StopRuleProcessing",
    "SetSCL",
    "RejectMessageEnhancedStatusCode",
    "RejectMessageReasonText",
    "RedirectMessageTo",
    "PrependSubject",
    "SetHeaderName",
    "SetHeaderValue",
    "DeleteMessage",
    "Quarantine",
    "Conditions",
    "Exceptions",
    "Actions",
];

/// Unmodelled actions that change whether or when a message reaches its recipients (a
/// moderator holds it, a notification rejects it): leaving them out can only make doorman
/// deliver more than Exchange Online does, which is reported as a difference.
const DELIVERY_ACTIONS: [&str; 4] =
    ["ModerateMessageByUser", "ModerateMessageByManager", "NotifySender", "RouteMessageOutboundConnector"];

/// What the conversion collects besides the TOML.
struct Ctx {
    notes: Vec<Note>,
    missing: Vec<MissingInput>,
    /// Tables written commented out, each with why.
    left_out: Vec<(&'static str, String, Table)>,
}

impl Ctx {
    fn note(&mut self, kind: NoteKind, what: String) {
        self.notes.push(Note::new(kind, what));
    }
}

/// `mx`: the tenant's MX hosts as found by `--mx` or DNS; Exchange Online's own hosts become
/// `self` (Exchange Online is the edge), anything else is a gateway in front of it.
/// `SCLJunkThreshold`: which SCL sends a copy to the Junk Email folder. Left out, doorman
/// takes Exchange's default (4); it decides a folder, never whether mail gets in.
fn scl_junk_threshold(org: &Value, t: &mut Table, cx: &mut Ctx) {
    let Some(raw) = org.get("SCLJunkThreshold").filter(|v| !v.is_null()) else { return };
    match shapes::text(org, "SCLJunkThreshold").and_then(|s| s.parse::<i64>().ok()) {
        Some(n @ 0..=9) => t["scl_junk_threshold"] = value(n),
        _ => cx.note(
            NoteKind::Assumption,
            format!("SCLJunkThreshold {raw} cannot be read (it runs from 0 to 9): taken as 4, Exchange's default"),
        ),
    }
}

pub fn import(e: &Export, mx: &[String]) -> Import {
    let mut cx = Ctx { notes: Vec::new(), missing: completeness::missing(e), left_out: Vec::new() };
    let mut t = Table::new();
    t["name"] = value(e.tenant.as_str());

    let mx_entries: Vec<String> =
        mx.iter().map(|h| if is_exo_host(h) { "self".to_string() } else { h.clone() }).collect();
    if mx_entries.is_empty() {
        cx.note(NoteKind::Assumption, "no MX given: the analyzer cannot tell the front door; pass --mx".into());
    }
    t["mx"] = value(strings_array(&mx_entries));
    let reject_direct_send = e.organization_config.as_ref().and_then(completeness::reject_direct_send);
    if reject_direct_send.is_none() {
        cx.note(
            NoteKind::Assumption,
            "the export does not say whether RejectDirectSend is on: taken as off (Exchange Online's default)".into(),
        );
    }
    t["reject_direct_send"] = value(reject_direct_send.unwrap_or(false));
    if let Some(org) = &e.organization_config {
        scl_junk_threshold(org, &mut t, &mut cx);
    }

    accepted_domains(e, &mut t, &mut cx);
    connection_filter(e, &mut t, &mut cx);
    let connectors: Vec<Table> =
        e.inbound_connectors.as_deref().unwrap_or_default().iter().filter_map(|c| connector(c, &mut cx)).collect();
    let connectors = unique("inbound_connectors", "connector", connectors, &mut cx);
    if !connectors.is_empty() {
        t.insert("inbound_connectors", Item::ArrayOfTables(connectors));
    }
    let rules: Vec<Table> =
        e.transport_rules.as_deref().unwrap_or_default().iter().filter_map(|r| rule(r, &mut cx)).collect();
    let rules = unique("transport_rules", "rule", rules, &mut cx);
    if !rules.is_empty() {
        t.insert("transport_rules", Item::ArrayOfTables(rules));
    }

    let Ctx { notes, missing, left_out } = cx;
    let mut header = String::from("# Imported from an Exchange Online export by doorman.\n");
    header.push_str(&format!("# source: {}\n", e.source.label()));
    for m in &missing {
        header.push_str(&comment(&format!("incomplete: missing {}; to complete it: {}", m.what, m.remedy)));
    }
    for n in &notes {
        header.push_str(&comment(&format!("{}: {}", n.kind.label(), n.what)));
    }
    header.push('\n');
    t.decor_mut().set_prefix(header);
    let mut tenants = ArrayOfTables::new();
    tenants.push(t);
    let mut doc = DocumentMut::new();
    doc.insert("tenants", Item::ArrayOfTables(tenants));
    let mut toml = doc.to_string();
    for (key, why, table) in left_out {
        toml.push('\n');
        toml.push_str(&comment(&format!("Not imported: {why}")));
        for line in doorman_audit::report::tenant_snippet(key, table).split(['\n', '\r']).filter(|l| !l.is_empty()) {
            toml.push_str(&format!("# {line}\n"));
        }
    }
    Import { tenant: e.tenant.clone(), source: e.source, toml, notes, missing }
}

/// Exchange Online names connectors and rules uniquely (case-insensitively), and so does
/// doorman's config. An export that names two alike was not written by one tenant: the later
/// one is written commented out, and the export counts as incomplete.
fn unique(key: &'static str, kind: &str, tables: Vec<Table>, cx: &mut Ctx) -> ArrayOfTables {
    let mut seen = std::collections::HashSet::new();
    let mut out = ArrayOfTables::new();
    for table in tables {
        let name = table.get("name").and_then(|n| n.as_str()).unwrap_or_default().to_string();
        if seen.insert(name.to_lowercase()) {
            out.push(table);
            continue;
        }
        let what = format!("{kind} {name:?}");
        cx.missing.push(MissingInput {
            what: format!("which of two {kind}s named {name:?} Exchange Online holds"),
            consequence: "which of them Exchange Online holds is unknown".into(),
            remedy: "export the tenant again".into(),
        });
        cx.left_out.push((key, format!("{what}: a second object of that name"), table));
    }
    out
}

/// One comment line; nothing in `text` can end it.
fn comment(text: &str) -> String {
    format!("# {}\n", doorman_audit::render::one_line(text))
}

fn strings_array(items: &[String]) -> Array {
    Array::from_iter(items.iter().map(String::as_str))
}

/// `*.mail.protection.outlook.com` and `*.mx.microsoft`.
pub fn is_exo_host(host: &str) -> bool {
    let h = host.trim_end_matches('.').to_ascii_lowercase();
    h.ends_with(".mail.protection.outlook.com") || h.ends_with(".mx.microsoft")
}

/// Entries of `items` that `parse` takes; each other one becomes a note. Also says whether
/// any was left out.
fn valid<T, E: Display>(
    items: Vec<String>,
    what: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    cx: &mut Ctx,
) -> (Vec<String>, bool) {
    let before = items.len();
    let kept: Vec<String> = items
        .into_iter()
        .filter(|i| match parse(i) {
            Ok(_) => true,
            Err(e) => {
                cx.note(NoteKind::Unsupported, format!("{what}: {i:?} left out: {e}"));
                false
            }
        })
        .collect();
    let lost = kept.len() < before;
    (kept, lost)
}

/// A list field's entries that `parse` takes, and whether any entry (one `strings` cannot
/// read, or one `parse` refuses) was lost.
fn valid_list<T, E: Display>(
    item: &Value,
    key: &str,
    what: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    cx: &mut Ctx,
) -> (Vec<String>, bool) {
    let raw = item.get(key).map(shapes::list).map_or(0, |l| l.len());
    let read = strings(item, key);
    let unreadable = read.len() < raw;
    if unreadable {
        cx.note(NoteKind::Unsupported, format!("{what}: {} of its entries cannot be read; left out", raw - read.len()));
    }
    let (kept, refused) = valid(read, what, parse, cx);
    (kept, unreadable || refused)
}

fn accepted_domains(e: &Export, t: &mut Table, cx: &mut Ctx) {
    // A stand-in directory: the export has no mailboxes.
    let mut domains = Array::new();
    let mut directory = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for d in e.accepted_domains.as_deref().unwrap_or_default() {
        let Some(name) = domain_name(d) else { continue };
        let name = match DomainName::parse(&name) {
            Ok(n) => n.to_string(),
            Err(err) => {
                cx.note(NoteKind::Unsupported, format!("accepted domain {name:?} left out: {err}"));
                continue;
            }
        };
        // Exchange Online lists a domain once; an export that lists it twice was edited.
        if !seen.insert(name.clone()) {
            cx.missing.push(MissingInput {
                what: format!("which of two entries for accepted domain {name} holds"),
                consequence: "the domain's type and MatchSubDomains are unknown".into(),
                remedy: "export the tenant again".into(),
            });
            continue;
        }
        let kind = enum_name(d, "DomainType", &[(0, "Authoritative"), (1, "ExternalRelay"), (2, "InternalRelay")])
            .unwrap_or_else(|| "Authoritative".into());
        let kind = match kind.to_ascii_lowercase().as_str() {
            "authoritative" => "authoritative",
            "internalrelay" => "internal_relay",
            other => {
                cx.note(
                    NoteKind::Unsupported,
                    format!("accepted domain {name}: DomainType {other} is imported as authoritative"),
                );
                "authoritative"
            }
        };
        if kind == "authoritative" {
            directory.push(format!("postmaster@{name}"));
        }
        let mut entry = InlineTable::new();
        entry.insert("domain", name.as_str().into());
        entry.insert("type", kind.into());
        entry.insert("match_subdomains", boolean(d, "MatchSubDomains").unwrap_or(false).into());
        domains.push(entry);
    }
    t["accepted_domains"] = value(domains);
    if !directory.is_empty() {
        cx.note(
            NoteKind::Assumption,
            "the export holds no mailboxes: postmaster@ each authoritative domain stands in for the directory".into(),
        );
        t["recipients"] = value(strings_array(&directory));
    }
}

fn unsupported(kind: &str, name: &str, item: &Value, known: &[&str], cx: &mut Ctx) {
    for (k, v) in meaningful_unknown(item, known) {
        cx.note(NoteKind::Unsupported, format!("{kind} {name:?}: {k} = {v} is not modelled; left out"));
    }
}

/// The fields of `item` that are set, and are neither in `known` nor metadata.
fn meaningful_unknown<'a>(item: &'a Value, known: &[&str]) -> Vec<(&'a str, &'a Value)> {
    let Some(obj) = item.as_object() else { return Vec::new() };
    obj.iter()
        .filter(|(k, _)| {
            !known.iter().any(|x| x.eq_ignore_ascii_case(k)) && !METADATA.iter().any(|x| x.eq_ignore_ascii_case(k))
        })
        .filter(|(_, v)| match v {
            Value::Null | Value::Bool(false) => false,
            Value::Array(a) => !a.is_empty(),
            Value::String(s) => !s.trim().is_empty(),
            Value::Object(o) => !o.is_empty(),
            _ => true,
        })
        .map(|(k, v)| (k.as_str(), v))
        .collect()
}

fn connection_filter(e: &Export, t: &mut Table, cx: &mut Ctx) {
    let policies = e.connection_filter_policies.as_deref().unwrap_or_default();
    let policy = policies
        .iter()
        .find(|p| {
            boolean(p, "IsDefault") == Some(true) || text(p, "Name").is_some_and(|n| n.eq_ignore_ascii_case("Default"))
        })
        .or(policies.first());
    let Some(p) = policy else { return };
    let mut filter = Table::new();
    for (list_name, key) in [("IPAllowList", "ip_allow_list"), ("IPBlockList", "ip_block_list")] {
        let entries = strings(p, list_name);
        if entries.len() > EXO_MAX_IP_ENTRIES {
            cx.note(
                NoteKind::ExoLimit,
                format!(
                    "{list_name} has {} entries; Exchange Online takes at most {EXO_MAX_IP_ENTRIES}",
                    entries.len()
                ),
            );
        }
        for entry in entries.iter() {
            if let Some(why) = exo_refuses(entry) {
                cx.note(NoteKind::ExoLimit, format!("{list_name} entry {entry}: {why}"));
            }
        }
        let (entries, lost) = valid_list(p, list_name, list_name, IpEntry::parse, cx);
        // A lost allow entry would be blocked or filtered where Exchange Online lets it in.
        if lost && key == "ip_allow_list" {
            cx.missing.push(MissingInput {
                what: "some IPAllowList entries (doorman cannot read them)".into(),
                consequence: "an allowed client skips spam filtering and beats the block list".into(),
                remedy: "correct the entries named in the notes, or check them by hand".into(),
            });
        }
        filter[key] = value(strings_array(&entries));
    }
    t.insert("connection_filter", Item::Table(filter));
    if boolean(p, "EnableSafeList") == Some(true) {
        cx.note(
            NoteKind::Semantics,
            "EnableSafeList is on: Exchange Online also skips spam filtering for senders on Microsoft's safe list, which doorman does not model".into(),
        );
    }
    unsupported(
        "connection filter policy",
        &text(p, "Name").unwrap_or_default(),
        p,
        &["IPAllowList", "IPBlockList", "IsDefault", "EnableSafeList"],
        cx,
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

/// The connector as doorman's, or `None` when it is written commented out. Whatever cannot be
/// read makes it restrict less, never more: a restriction doorman applies and Exchange Online
/// does not would hide mail that gets through.
fn connector(c: &Value, cx: &mut Ctx) -> Option<Table> {
    let name = shape_name(c, "Name").unwrap_or_else(|| "connector".into());
    let what = format!("connector {name:?}");
    let kind = enum_name(c, "ConnectorType", &[(1, "OnPremises"), (2, "Partner")]);
    // An unknown type is imported as Partner without its restriction: an OnPremises
    // connector's restrict flags do nothing in Exchange Online.
    let (partner, type_known) = match kind.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("partner") => (true, true),
        Some("onpremises") => (false, true),
        other => {
            cx.note(
                NoteKind::Unsupported,
                format!("{what}: ConnectorType {} is not Partner or OnPremises; imported as Partner without its restriction", other.unwrap_or("(none)")),
            );
            (true, false)
        }
    };
    let mut t = Table::new();
    t["name"] = value(name.as_str());
    t["type"] = value(if partner { "partner" } else { "on_premises" });
    let enabled = boolean(c, "Enabled").unwrap_or(true);
    t["enabled"] = value(enabled);
    if !enabled {
        let when = date(c, "WhenChanged").map(|d| format!(" (changed {d})")).unwrap_or_default();
        cx.note(NoteKind::Semantics, format!("{what} is disabled{when}: it attributes nothing"));
    }
    let raw_domains = c.get("SenderDomains").map(shapes::list).map_or(0, |l| l.len());
    let domains: Vec<String> = strings(c, "SenderDomains").iter().map(|d| sender_domain(d)).collect();
    let unreadable_domains = domains.len() < raw_domains;
    let (domains, domains_lost) = valid(domains, &format!("{what} SenderDomains"), SenderDomainPattern::parse, cx);
    let domains_lost = domains_lost || unreadable_domains;
    let (ips, ips_lost) = valid_list(c, "SenderIPAddresses", &format!("{what} SenderIPAddresses"), IpEntry::parse, cx);
    let (cert, cert_lost) = match text(c, "TlsSenderCertificateName") {
        Some(n) => {
            let (kept, lost) = valid(vec![n], &format!("{what} TlsSenderCertificateName"), CertNamePattern::parse, cx);
            (kept.into_iter().next(), lost)
        }
        None => (None, false),
    };
    t["sender_domains"] = value(strings_array(&domains));
    t["sender_ip_addresses"] = value(strings_array(&ips));
    if let Some(cert) = &cert {
        t["tls_sender_certificate_name"] = value(cert.as_str());
    }
    let scoped = c.get("AssociatedAcceptedDomains").is_some_and(|v| !shapes::list(v).is_empty());
    let restrict_ip = boolean(c, "RestrictDomainsToIPAddresses").unwrap_or(false);
    let restrict_cert = boolean(c, "RestrictDomainsToCertificate").unwrap_or(false);
    if !type_known {
        // Noted above: imported without its restriction.
    } else if !partner && (restrict_ip || restrict_cert) {
        cx.note(
            NoteKind::Semantics,
            format!(
                "{what}: restrict flags work only on Partner connectors; Exchange Online ignores them on OnPremises"
            ),
        );
    } else if (restrict_ip || restrict_cert) && scoped {
        cx.note(
            NoteKind::Unsupported,
            format!("{what}: AssociatedAcceptedDomains scopes it to some recipient domains, which doorman does not model; imported without its restriction, so it restricts nothing"),
        );
        if enabled {
            cx.missing.push(MissingInput {
                what: format!("the scope of {what} (AssociatedAcceptedDomains)"),
                consequence: "for which recipient domains it restricts senders is not modelled".into(),
                remedy: "check the connector by hand".into(),
            });
        }
    } else {
        if restrict_ip && (ips.is_empty() || ips_lost) {
            let why = if ips_lost {
                "some SenderIPAddresses cannot be read, so it is imported without"
            } else {
                "without SenderIPAddresses it restricts nothing:"
            };
            cx.note(NoteKind::Semantics, format!("{what}: {why} RestrictDomainsToIPAddresses"));
        } else if restrict_ip {
            t["restrict_domains_to_ip_addresses"] = value(true);
        }
        if restrict_cert && (cert.is_none() || cert_lost) {
            cx.note(
                NoteKind::Semantics,
                format!("{what}: without a TlsSenderCertificateName doorman can read, RestrictDomainsToCertificate restricts nothing"),
            );
        } else if restrict_cert {
            t["restrict_domains_to_certificate"] = value(true);
        }
    }
    t["require_tls"] = value(boolean(c, "RequireTls").unwrap_or(false));
    // Enhanced filtering for connectors: SPF, DMARC and the DNSBLs judge the client before
    // the skipped hops.
    let (skip_ips, _) = valid_list(c, "EFSkipIPs", &format!("{what} EFSkipIPs"), IpEntry::parse, cx);
    let skip_last = boolean(c, "EFSkipLastIP").unwrap_or(false);
    if skip_last || !skip_ips.is_empty() {
        let mut ef = InlineTable::new();
        ef.insert("skip_ips", strings_array(&skip_ips).into());
        ef.insert("skip_last_ip", skip_last.into());
        if boolean(c, "EFTestMode").unwrap_or(false) {
            ef.insert("test_mode", true.into());
        }
        t["enhanced_filtering"] = value(ef);
        if c.get("EFUsers").is_some_and(|v| !shapes::list(v).is_empty()) {
            cx.note(
                NoteKind::Unsupported,
                format!("{what}: EFUsers limits enhanced filtering to some recipients; doorman applies it to every recipient of the connector"),
            );
        }
    }
    if let Some(comment) = text(c, "Comment") {
        t["comment"] = value(comment.as_str());
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
            "EFSkipIPs",
            "EFSkipLastIP",
            "EFTestMode",
            "EFUsers",
        ],
        cx,
    );
    // What doorman's config refuses, and Exchange Online does not hold either: a connector
    // with no sender domain, or an OnPremises one known by nothing.
    let unusable = if domains.is_empty() {
        Some("no SenderDomains doorman can read")
    } else if !partner && ips.is_empty() && cert.is_none() {
        Some("an OnPremises connector with no SenderIPAddresses or TlsSenderCertificateName doorman can read")
    } else {
        None
    };
    if unusable.is_none() && enabled && (domains_lost || ips_lost || cert_lost) {
        // Mail it takes in Exchange Online may fall to another, restricting connector here.
        cx.missing.push(MissingInput {
            what: format!("part of {what} (values doorman cannot read)"),
            consequence: "some of the senders it takes in Exchange Online are not attributed to it".into(),
            remedy: "correct the values named in the notes, or check the connector by hand".into(),
        });
    }
    if let Some(why) = unusable {
        if enabled {
            cx.missing.push(MissingInput {
                what: format!("a usable form of {what}"),
                consequence: format!("it has {why}, so who it attributes is unknown"),
                remedy: "check the connector's export, or model it by hand".into(),
            });
        }
        cx.left_out.push(("inbound_connectors", format!("{what}: it has {why}"), t));
        return None;
    }
    Some(t)
}

/// The rule fields doorman models, conditions and exceptions alike (`ExceptIf` + name).
const MODELLED_PREDICATES: [&str; 6] = [
    "SenderIpRanges",
    "SenderDomainIs",
    "FromScope",
    "HeaderContainsMessageHeader",
    "HeaderContainsWords",
    "SenderAddressLocation",
];

/// The rule with the parts doorman models; the rest are notes. `None` when the rule is
/// written commented out.
///
/// A condition or exception doorman cannot read in full is left out, which makes the rule
/// match more mail than in Exchange Online. That errs the right way only for a rule whose
/// acts can only let more through: SCL -1, a header, a subject prefix. A rule that refuses,
/// deletes, quarantines, redirects, sets any other SCL (the last SCL set wins, so it can undo
/// an SCL -1) or stops rule processing would hide mail that gets through; such a rule keeps
/// only what narrows it (the readable values of a condition), and is not applied at all when
/// anything would widen it.
fn rule(r: &Value, cx: &mut Ctx) -> Option<Table> {
    let name = shape_name(r, "Name").unwrap_or_else(|| "rule".into());
    let what = format!("rule {name:?}");
    // Parts that, left out, make the rule match more mail than in Exchange Online.
    let mut dropped: Vec<String> = Vec::new();
    let mut t = Table::new();
    t["name"] = value(name.as_str());
    let state = enum_name(r, "State", &[(0, "Enabled"), (1, "Disabled")]);
    let enabled = match state.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("enabled") => true,
        Some("disabled") => false,
        Some(other) => {
            // Unknown: imported enabled (it may act), and its acts are held to the rules below.
            dropped.push(format!("State {other}"));
            true
        }
    };
    t["enabled"] = value(enabled);
    let mode = enum_name(r, "Mode", &[(0, "Audit"), (1, "AuditAndNotify"), (2, "Enforce")]);
    let mode = match mode.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None | Some("enforce") => "enforce",
        Some("audit") | Some("auditandnotify") => "audit",
        Some(other) => {
            dropped.push(format!("Mode {other}"));
            "enforce"
        }
    };
    t["mode"] = value(mode);
    match r.get("Priority").filter(|p| !p.is_null()) {
        None => {}
        Some(p) => match p.as_u64().and_then(|p| u32::try_from(p).ok()) {
            Some(p) => t["priority"] = value(i64::from(p)),
            // The order decides which SCL wins and where processing stops.
            None => cx.missing.push(MissingInput {
                what: format!("the order of {what} (Priority {p})"),
                consequence: "which rule's SCL wins, and where rule processing stops, is unknown".into(),
                remedy: "Get-TransportRule | Select-Object Name,Priority".into(),
            }),
        },
    }
    let stops = boolean(r, "StopRuleProcessing") == Some(true);
    if stops {
        t["stop_processing"] = value(true);
    }

    let actions = rule_actions(r, &what, cx);
    let modelled_actions = actions.len();
    let narrowing_only = ["reject", "delete", "quarantine", "redirect_to"].iter().any(|k| actions.contains_key(k))
        || actions.get("set_scl").and_then(|v| v.as_integer()).is_some_and(|scl| scl >= 0)
        || stops;

    if let Some(loc) = enum_name(r, "SenderAddressLocation", &[(0, "Header"), (1, "Envelope"), (2, "HeaderOrEnvelope")])
    {
        match loc.to_ascii_lowercase().as_str() {
            "header" => t["sender_address_location"] = value("header"),
            "envelope" => t["sender_address_location"] = value("envelope"),
            "headerorenvelope" => t["sender_address_location"] = value("header_or_envelope"),
            other => dropped.push(format!("SenderAddressLocation {other}")),
        }
    }
    for (table, prefix) in [("conditions", ""), ("exceptions", "ExceptIf")] {
        let exception = !prefix.is_empty();
        let mut part = Table::new();
        let field = |f: &str| format!("{prefix}{f}");
        // What to do with a predicate some of whose values cannot be read. A condition keeps
        // its readable values only for a rule that must not widen (fewer values: it matches
        // less); elsewhere it is left out whole. An exception with fewer values matches
        // less, which widens the rule.
        let keep = |f: String, kept: &[String], lost: bool, dropped: &mut Vec<String>| -> bool {
            if !lost {
                return !kept.is_empty();
            }
            if exception {
                dropped.push(format!("unreadable values of {f}"));
                !kept.is_empty()
            } else if narrowing_only && !kept.is_empty() {
                true
            } else {
                dropped.push(f);
                false
            }
        };
        for (key, toml_key, parse) in [
            (
                "SenderIpRanges",
                "sender_ip_ranges",
                (|s: &str| IpEntry::parse(s).map(|_| ()).map_err(Into::into)) as fn(&str) -> Result<(), Box<dyn Error>>,
            ),
            ("SenderDomainIs", "sender_domain_is", |s: &str| DomainName::parse(s).map(|_| ()).map_err(Into::into)),
        ] {
            let f = field(key);
            let present = r.get(&f).is_some_and(|v| !shapes::list(v).is_empty());
            let (kept, lost) = valid_list(r, &f, &format!("{what} {f}"), parse, cx);
            if keep(f, &kept, lost || (present && kept.is_empty()), &mut dropped) {
                part[toml_key] = value(strings_array(&kept));
            }
        }
        if let Some(scope) = enum_name(r, &field("FromScope"), &[(0, "InOrganization"), (1, "NotInOrganization")]) {
            match scope.to_ascii_lowercase().as_str() {
                "inorganization" => part["from_scope"] = value("in_organization"),
                "notinorganization" => part["from_scope"] = value("not_in_organization"),
                other => dropped.push(format!("{} {other}", field("FromScope"))),
            }
        }
        let (header_key, words_key) = (field("HeaderContainsMessageHeader"), field("HeaderContainsWords"));
        let header_given = r.get(&header_key).is_some_and(|v| !v.is_null());
        let words_given = r.get(&words_key).is_some_and(|v| !shapes::list(v).is_empty());
        if header_given || words_given {
            match text(r, &header_key) {
                // Words without a header they are looked for in: the predicate is lost.
                None => dropped.push(header_key),
                Some(header) => {
                    let (words, lost) =
                        valid_list(r, &words_key, &format!("{what} {words_key}"), |_| Ok::<(), Infallible>(()), cx);
                    if keep(header_key, &words, lost || words.is_empty(), &mut dropped) {
                        let mut entry = InlineTable::new();
                        entry.insert("header", header.as_str().into());
                        entry.insert("words", strings_array(&words).into());
                        part["header_contains"] = value(Array::from_iter([entry]));
                    }
                }
            }
        }
        if !part.is_empty() {
            t.insert(table, Item::Table(part));
        }
    }
    t.insert("actions", Item::Table(actions));

    let mut known: Vec<String> = READ.iter().map(|s| s.to_string()).collect();
    for p in ["", "ExceptIf"] {
        known.extend(MODELLED_PREDICATES.iter().map(|f| format!("{p}{f}")));
    }
    let known: Vec<&str> = known.iter().map(String::as_str).collect();
    for (k, v) in meaningful_unknown(r, &known) {
        if UNMODELLED_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(k)) {
            let kind = if DELIVERY_ACTIONS.iter().any(|a| a.eq_ignore_ascii_case(k)) {
                NoteKind::Semantics
            } else {
                NoteKind::Unsupported
            };
            cx.note(kind, format!("{what}: action {k} = {v} is not modelled; left out"));
        } else {
            let part = if k.starts_with("ExceptIf") { "exception" } else { "condition" };
            cx.note(NoteKind::Unsupported, format!("{what}: {part} {k} = {v} is not modelled; left out"));
            dropped.push(k.to_string());
        }
    }
    let left_out = if modelled_actions == 0 {
        Some("none of its actions is modelled".to_string())
    } else if !dropped.is_empty() && narrowing_only {
        Some(format!(
            "without its {} it would refuse, delete, quarantine, redirect, set an SCL or stop rule processing for more mail than Exchange Online does",
            dropped.join(", ")
        ))
    } else {
        None
    };
    let Some(why) = left_out else {
        if !dropped.is_empty() {
            cx.note(
                NoteKind::Assumption,
                format!(
                    "{what}: imported without its {}, so it matches more mail than in Exchange Online",
                    dropped.join(", ")
                ),
            );
        }
        return Some(t);
    };
    cx.note(NoteKind::Unsupported, format!("{what}: {why}; written commented out"));
    if stops && enabled {
        cx.missing.push(MissingInput {
            what: format!("the effect of {what}"),
            consequence: "it stops rule processing, and doorman cannot tell when it matches, so the rules after it may apply more often than in Exchange Online".into(),
            remedy: "check the rule by hand, or model it as a doorman rule".into(),
        });
    }
    cx.left_out.push(("transport_rules", format!("{what}: {why}"), t));
    None
}

/// The rule's actions doorman models.
fn rule_actions(r: &Value, what: &str, cx: &mut Ctx) -> Table {
    let mut actions = Table::new();
    let scl_given = r.get("SetSCL").is_some_and(|v| !v.is_null());
    if scl_given && text(r, "SetSCL").is_none() {
        cx.missing.push(MissingInput {
            what: format!("the SCL {what} sets (SetSCL = {})", r["SetSCL"]),
            consequence: "it may skip spam filtering (SCL -1) for the mail it matches".into(),
            remedy: "Get-TransportRule | Select-Object Name,SetSCL".into(),
        });
    }
    if let Some(scl) = text(r, "SetSCL") {
        match scl.parse::<i64>() {
            Ok(n) if (-1..=9).contains(&n) => {
                actions["set_scl"] = value(n);
                if n == -1 {
                    cx.note(NoteKind::Semantics, format!("{what}: SCL -1 skips spam filtering, but Exchange Online still filters malware and high-confidence phish"));
                }
            }
            _ => cx.missing.push(MissingInput {
                what: format!("the SCL {what} sets (SetSCL {scl:?} is not an SCL)"),
                consequence: "it may skip spam filtering (SCL -1) for the mail it matches".into(),
                remedy: "Get-TransportRule | Select-Object Name,SetSCL".into(),
            }),
        }
    }
    if let (Some(h), Some(v)) = (text(r, "SetHeaderName"), text(r, "SetHeaderValue")) {
        if h.bytes().all(|b| b.is_ascii_graphic() && b != b':') {
            let mut header = InlineTable::new();
            header.insert("name", h.as_str().into());
            header.insert("value", v.as_str().into());
            actions["set_header"] = value(header);
        } else {
            cx.note(NoteKind::Unsupported, format!("{what}: SetHeaderName {h:?} is not a header name; left out"));
        }
    }
    if let Some(code) = text(r, "RejectMessageEnhancedStatusCode") {
        match doorman_config::EnhancedCode::parse(&code) {
            Ok(c) if c.class == 5 => {
                let reason = text(r, "RejectMessageReasonText")
                    .unwrap_or_else(|| "Delivery not authorized, message refused".into());
                let mut reject = InlineTable::new();
                reject.insert("enhanced_status_code", code.as_str().into());
                reject.insert("text", reason.as_str().into());
                actions["reject"] = value(reject);
                cx.note(
                    NoteKind::Semantics,
                    format!("{what}: Exchange Online accepts the message and sends an NDR; doorman's edge refuses it in session"),
                );
            }
            _ => cx.note(
                NoteKind::Unsupported,
                format!("{what}: RejectMessageEnhancedStatusCode {code:?} is not a 5.x.x code; left out"),
            ),
        }
    }
    if boolean(r, "DeleteMessage") == Some(true) {
        actions["delete"] = value(true);
    }
    if boolean(r, "Quarantine") == Some(true) {
        actions["quarantine"] = value(true);
    }
    let (redirect, _) = valid_list(
        r,
        "RedirectMessageTo",
        &format!("{what} RedirectMessageTo"),
        doorman_config::address::parse_mailbox,
        cx,
    );
    if !redirect.is_empty() {
        actions["redirect_to"] = value(strings_array(&redirect));
    }
    // Not trimmed: the space after a prefix such as "[EXT] " matters.
    if let Some(p) = r.get("PrependSubject").and_then(|v| v.as_str()).filter(|p| !p.is_empty()) {
        actions["prepend_subject"] = value(p);
    }
    actions
}
