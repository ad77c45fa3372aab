//! `doorman diff`: which classes of sender change outcome between two configs, per tenant —
//! Batfish's differential reachability, for mail. Both configs are evaluated over the union of
//! their class boundaries, so every difference shows, exactly.

use std::collections::BTreeMap;

use doorman_policy::Policy;
use serde::Serialize;

use crate::space::{
    IpInterval, SenderClass, TlsClass, ip_entries, ip_intervals, sender_classes, summarize, tls_classes,
};
use crate::{SenderProbe, gateway, kind_of, merge, outcome, representative_recipient, sender_probe, session};

pub const DIFF_SCHEMA: &str = "doorman.diff/1";

#[derive(Debug, Serialize)]
pub struct Diff {
    pub schema: &'static str,
    pub tenants: Vec<TenantDiff>,
}

impl Diff {
    /// Some class can now deliver that could not before.
    pub fn gains_access(&self) -> bool {
        self.tenants.iter().any(|t| t.added || t.changes.iter().any(|c| c.change == ChangeKind::DeliveryGained))
    }
}

#[derive(Debug, Serialize)]
pub struct TenantDiff {
    pub tenant: String,
    /// Only in the new config.
    pub added: bool,
    /// Only in the old config.
    pub removed: bool,
    pub changes: Vec<Change>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    DeliveryGained,
    DeliveryLost,
    SclChanged,
    ConnectorChanged,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::DeliveryGained => "delivery gained",
            ChangeKind::DeliveryLost => "delivery lost",
            ChangeKind::SclChanged => "SCL changed",
            ChangeKind::ConnectorChanged => "connector changed",
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Change {
    pub change: ChangeKind,
    pub domain: String,
    pub networks: Vec<String>,
    pub summary: String,
    pub tls: String,
    pub sender: String,
    /// `before → after` (reply, SCL or connector).
    pub detail: String,
}

pub fn diff(old: &Policy, new: &Policy) -> Diff {
    let mut tenants = Vec::new();
    for t in old.tenants() {
        let name = &t.config.name;
        let Some(n) = new.tenant_by_name(name) else {
            tenants.push(TenantDiff { tenant: name.clone(), added: false, removed: true, changes: Vec::new() });
            continue;
        };
        let (oc, nc) = (t.config, n.config);
        let mut entries = ip_entries(oc);
        entries.extend(ip_entries(nc));
        entries.extend(gateway(oc).0);
        entries.extend(gateway(nc).0);
        let intervals = ip_intervals(&entries);
        let mut tls = tls_classes(oc);
        tls.extend(tls_classes(nc));
        tls.sort();
        tls.dedup();
        let mut senders = sender_classes(oc);
        senders.extend(sender_classes(nc));
        senders.sort();
        senders.dedup();
        let mut domains: Vec<String> =
            oc.accepted_domains.iter().chain(&nc.accepted_domains).map(|d| d.domain.to_string()).collect();
        domains.sort();
        domains.dedup();

        let mut groups: BTreeMap<(ChangeKind, String, TlsClass, SenderClass, String), Vec<IpInterval>> =
            BTreeMap::new();
        let probes: Vec<(SenderProbe, SenderProbe)> =
            senders.iter().map(|sc| (sender_probe(old, sc), sender_probe(new, sc))).collect();
        for domain in &domains {
            let rcpt_old = representative_recipient(oc, domain, kind_of(oc, domain));
            let rcpt_new = representative_recipient(nc, domain, kind_of(nc, domain));
            for tc in &tls {
                for (sc, (po, pn)) in senders.iter().zip(&probes) {
                    for iv in &intervals {
                        let s = session(iv, tc);
                        let a = outcome(old, &s, po, &rcpt_old);
                        let b = outcome(new, &s, pn, &rcpt_new);
                        let change = match (a.accepted, b.accepted) {
                            (false, true) => Some((ChangeKind::DeliveryGained, format!("{} → accepted", a.reply))),
                            (true, false) => Some((ChangeKind::DeliveryLost, format!("accepted → {}", b.reply))),
                            (true, true) if a.scl != b.scl => {
                                Some((ChangeKind::SclChanged, format!("{} → {}", scl(a.scl), scl(b.scl))))
                            }
                            (true, true) if a.connector != b.connector => Some((
                                ChangeKind::ConnectorChanged,
                                format!("{} → {}", connector(&a.connector), connector(&b.connector)),
                            )),
                            _ => None,
                        };
                        if let Some((kind, detail)) = change {
                            groups.entry((kind, domain.clone(), tc.clone(), sc.clone(), detail)).or_default().push(*iv);
                        }
                    }
                }
            }
        }
        let changes = groups
            .into_iter()
            .map(|((change, domain, tc, sc, detail), ivs)| {
                let ivs = merge(&ivs);
                Change {
                    change,
                    domain,
                    networks: ivs.iter().flat_map(|iv| iv.nets()).map(|n| n.to_string()).collect(),
                    summary: summarize(&ivs),
                    tls: tc.label(),
                    sender: sc.label(),
                    detail,
                }
            })
            .collect();
        tenants.push(TenantDiff { tenant: name.clone(), added: false, removed: false, changes });
    }
    for n in new.tenants() {
        if old.tenant_by_name(&n.config.name).is_none() {
            tenants.push(TenantDiff {
                tenant: n.config.name.clone(),
                added: true,
                removed: false,
                changes: Vec::new(),
            });
        }
    }
    Diff { schema: DIFF_SCHEMA, tenants }
}

fn scl(s: Option<i8>) -> String {
    s.map_or("no SCL".to_string(), |s| format!("SCL {s}"))
}

fn connector(c: &Option<String>) -> String {
    c.as_ref().map_or("no connector".to_string(), |c| format!("{c:?}"))
}

pub fn render(d: &Diff) -> String {
    let mut out = String::new();
    for t in &d.tenants {
        if t.added {
            out.push_str(&format!("tenant {}: added (audit it: every class of its senders is new)\n", t.tenant));
            continue;
        }
        if t.removed {
            out.push_str(&format!("tenant {}: removed\n", t.tenant));
            continue;
        }
        if t.changes.is_empty() {
            out.push_str(&format!("tenant {}: no class of sender changes outcome\n", t.tenant));
            continue;
        }
        out.push_str(&format!("tenant {}: {} change(s)\n", t.tenant, t.changes.len()));
        for c in &t.changes {
            out.push_str(&format!(
                "  {}: {} from {}\n      {}; {}; {}\n",
                c.change.label(),
                c.domain,
                c.summary,
                c.tls,
                c.sender,
                c.detail
            ));
        }
    }
    out
}
