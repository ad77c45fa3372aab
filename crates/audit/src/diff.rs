//! `doorman diff`: which classes of sender change outcome between two configs, per tenant —
//! Batfish's differential reachability, for mail. Both configs are evaluated over one space
//! cut at the boundaries of both, so every difference shows, exactly.

use doorman_policy::Policy;
use serde::Serialize;

use crate::classes::{DataCell, RcptCell, Table};
use crate::doors::{CopyOutcome, ReplyCode};
use crate::groups::{Groups, sender_label, tls_label};
use crate::space::content::assignments;
use crate::space::ip::{networks, summarize};
use crate::space::{AcceptedIndex, HeaderAtom, Space, View};

pub const DIFF_SCHEMA: &str = "doorman.diff/3";

#[derive(Debug, Serialize)]
pub struct Diff {
    pub schema: &'static str,
    pub tenants: Vec<TenantDiff>,
}

impl Diff {
    /// Some class can now reach a mailbox that could not before.
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
    /// Why the tenant could not be compared.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub not_compared: Option<String>,
    pub changes: Vec<Change>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    DeliveryGained,
    DeliveryLost,
    DispositionChanged,
    SclChanged,
    ConnectorChanged,
}

impl ChangeKind {
    pub fn label(self) -> &'static str {
        match self {
            ChangeKind::DeliveryGained => "delivery gained",
            ChangeKind::DeliveryLost => "delivery lost",
            ChangeKind::DispositionChanged => "disposition changed",
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
    /// When only a client listed in a DNSBL sees the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dnsbl: Option<String>,
    /// `before → after` (reply, disposition, SCL or connector).
    pub detail: String,
}

pub fn diff(old: &Policy, new: &Policy) -> Diff {
    let (old_index, new_index) = (AcceptedIndex::new(old), AcceptedIndex::new(new));
    let mut tenants = Vec::new();
    for t in old.tenants() {
        let name = t.name().to_string();
        let Some(n) = new.tenant_by_name(&name) else {
            tenants.push(TenantDiff {
                tenant: name,
                added: false,
                removed: true,
                not_compared: None,
                changes: Vec::new(),
            });
            continue;
        };
        let views = || vec![View { policy: old, tenant: t.id }, View { policy: new, tenant: n.id }];
        let indexes = [&old_index, &new_index];
        let tables = Space::new(views(), &indexes)
            .and_then(|s| Table::build(s, 0))
            .and_then(|a| Ok((a, Table::build(Space::new(views(), &indexes)?, 1)?)));
        let changes = match tables {
            Ok((a, b)) => {
                // Built twice from the same views, the spaces are the same.
                debug_assert_eq!(a.space.recipients.len(), b.space.recipients.len());
                compare(&a, &b)
            }
            Err(e) => {
                tenants.push(TenantDiff {
                    tenant: name,
                    added: false,
                    removed: false,
                    not_compared: Some(e.0),
                    changes: Vec::new(),
                });
                continue;
            }
        };
        tenants.push(TenantDiff { tenant: name, added: false, removed: false, not_compared: None, changes });
    }
    for n in new.tenants() {
        if old.tenant_by_name(n.name()).is_none() {
            tenants.push(TenantDiff {
                tenant: n.name().to_string(),
                added: true,
                removed: false,
                not_compared: None,
                changes: Vec::new(),
            });
        }
    }
    Diff { schema: DIFF_SCHEMA, tenants }
}

/// What one config does with a class: refused at RCPT (the reply), or the copy's outcome.
enum Fate<'a> {
    Refused(String),
    Copy(&'a CopyOutcome),
}

impl Fate<'_> {
    fn reaches(&self) -> bool {
        matches!(self, Fate::Copy(o) if o.door.is_some())
    }

    fn describe(&self) -> String {
        match self {
            Fate::Refused(r) => r.clone(),
            Fate::Copy(o) if o.door.is_some() => format!("accepted ({})", o.disposition.name()),
            Fate::Copy(o) => o.reject.map_or_else(|| o.disposition.name().to_string(), |r| format!("{r} after DATA")),
        }
    }
}

fn compare(a: &Table<'_>, b: &Table<'_>) -> Vec<Change> {
    let space = &a.space;
    let mut groups: Groups<(ChangeKind, String, Option<String>, String), ()> = Groups::new();
    for ip in 0..space.ips.intervals.len() {
        for tls in 0..space.tls.len() {
            for s in 0..space.senders.len() {
                for r in 0..space.recipients.len() {
                    let unlisted = changes(a, b, ip, tls, s, 0, r);
                    for d in 0..space.dnsbl.len() {
                        let found = if d == 0 { unlisted.clone() } else { changes(a, b, ip, tls, s, d, r) };
                        for change in found {
                            // A listed client's change that an unlisted one has too is that one.
                            if d != 0 && unlisted.contains(&change) {
                                continue;
                            }
                            let dnsbl = (d != 0).then(|| space.dnsbl.classes[d].label.clone());
                            let (kind, detail) = change;
                            let key = (kind, space.recipients.classes[r].domain.clone(), dnsbl, detail);
                            groups.add(key, s, tls, space.ips.intervals[ip], || ());
                        }
                    }
                }
            }
        }
    }
    groups
        .joined()
        .into_iter()
        .map(|g| {
            let (change, domain, dnsbl, detail) = g.key;
            Change {
                change,
                domain,
                networks: networks(&g.intervals),
                summary: summarize(&g.intervals),
                tls: tls_label(space, &g.tls),
                sender: sender_label(space, &g.senders),
                dnsbl,
                detail,
            }
        })
        .collect()
}

/// How one class's outcome changes, for each `From:` class and content assignment.
fn changes(
    a: &Table<'_>,
    b: &Table<'_>,
    ip: usize,
    tls: usize,
    s: usize,
    d: usize,
    r: usize,
) -> Vec<(ChangeKind, String)> {
    let space = &a.space;
    let (ca, cb) = (a.rcpt(ip, tls, s, d, r), b.rcpt(ip, tls, s, d, r));
    let alone = &space.recipients.classes[r].rule_domains;
    let mut out = Vec::new();
    for f in 0..space.froms.len() {
        let (da, db) = (a.data(ip, tls, s, f, alone), b.data(ip, tls, s, f, alone));
        for truth in content_cases(space, da, db) {
            let (Some(x), Some(y)) = (fate(ca, da, &truth), fate(cb, db, &truth)) else { continue };
            let change = match (&x, &y) {
                _ if !x.reaches() && y.reaches() => Some(ChangeKind::DeliveryGained),
                _ if x.reaches() && !y.reaches() => Some(ChangeKind::DeliveryLost),
                (Fate::Copy(p), Fate::Copy(q)) if x.reaches() && p.disposition != q.disposition => {
                    Some(ChangeKind::DispositionChanged)
                }
                (Fate::Copy(p), Fate::Copy(q)) if x.reaches() && p.scl != q.scl => Some(ChangeKind::SclChanged),
                (Fate::Copy(p), Fate::Copy(q)) if x.reaches() && p.connector != q.connector => {
                    Some(ChangeKind::ConnectorChanged)
                }
                _ => None,
            };
            let Some(kind) = change else { continue };
            let detail = match (kind, &x, &y) {
                (ChangeKind::SclChanged, Fate::Copy(p), Fate::Copy(q)) => format!("{} → {}", scl(p.scl), scl(q.scl)),
                (ChangeKind::ConnectorChanged, Fate::Copy(p), Fate::Copy(q)) => {
                    format!("{} → {}", connector(&p.connector), connector(&q.connector))
                }
                _ => format!("{} → {}", x.describe(), y.describe()),
            };
            if !out.contains(&(kind, detail.clone())) {
                out.push((kind, detail));
            }
        }
    }
    out
}

fn fate<'a>(cell: &RcptCell, data: Option<&'a DataCell>, truth: &[bool]) -> Option<Fate<'a>> {
    match &cell.accepted {
        None => Some(Fate::Refused(ReplyCode::of(&cell.reply).to_string())),
        Some(_) => data.and_then(|d| d.outcome(truth)).map(Fate::Copy),
    }
}

/// Every realisable assignment of the content atoms either config's copy class reads, as
/// truth over all of the space's atoms.
fn content_cases(space: &Space<'_>, a: Option<&DataCell>, b: Option<&DataCell>) -> Vec<Vec<bool>> {
    let mut atoms: Vec<usize> = a.iter().chain(b.iter()).flat_map(|c| c.atoms.iter().copied()).collect();
    atoms.sort_unstable();
    atoms.dedup();
    let refs: Vec<&HeaderAtom> = atoms.iter().map(|&i| &space.atoms[i]).collect();
    assignments(&refs)
        .into_iter()
        .map(|a| {
            let mut all = vec![false; space.atoms.len()];
            for (i, t) in atoms.iter().zip(a.truth) {
                all[*i] = t;
            }
            all
        })
        .collect()
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
            out.push_str(&format!(
                "tenant {}: added (audit it: every class of its senders is new)\n",
                crate::render::one_line(&t.tenant)
            ));
            continue;
        }
        if t.removed {
            out.push_str(&format!("tenant {}: removed\n", crate::render::one_line(&t.tenant)));
            continue;
        }
        if let Some(why) = &t.not_compared {
            out.push_str(&format!("tenant {}: NOT COMPARED: {why}\n", crate::render::one_line(&t.tenant)));
            continue;
        }
        if t.changes.is_empty() {
            out.push_str(&format!(
                "tenant {}: no class of sender changes outcome\n",
                crate::render::one_line(&t.tenant)
            ));
            continue;
        }
        out.push_str(&format!("tenant {}: {} change(s)\n", crate::render::one_line(&t.tenant), t.changes.len()));
        for c in &t.changes {
            let when = c.dnsbl.as_ref().map_or(String::new(), |l| format!("; when {l}"));
            out.push_str(&format!(
                "  {}: {} from {}\n      {}; {}{when}; {}\n",
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
