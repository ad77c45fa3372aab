//! The sender space of a tenant, cut into classes the engine cannot tell apart.
//!
//! A session reaches RCPT and DATA with a handful of facts: the client IP, TLS and the names
//! on a verified certificate, the envelope sender, the `From:` header, the recipient, the
//! header contents and the DNSBL answers. For each fact the engine lists the boundaries its
//! predicates distinguish ([`Policy::boundaries`]); this module cuts the fact's space at
//! them and keeps one representative per piece:
//! - IP: intervals of the canonical address space ([`ip`]);
//! - names (domains, certificate names): one candidate per Venn region ([`names`]), keyed by
//!   what the engine's own matching functions say of it, so two candidates land in one class
//!   exactly when every predicate treats them alike;
//! - content: the `header_contains` conditions as atoms ([`content`]).
//!
//! [`Space::locate`] puts any session into its class with the same functions: that is how
//! predictions ([`crate::predict`]) are made, and how the tests hold the classes against the
//! engine.
//!
//! A space may be built over several configs at once (`doorman diff`): every key then holds
//! what each config's engine says, so the classes are exact for all of them.

pub mod content;
pub mod ip;
pub mod names;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::hash::Hash;
use std::net::IpAddr;

use doorman_config::address::{Mailbox, ReversePath, parse_mailbox};
use doorman_config::names::{CertNamePattern, DomainName, SenderDomainPattern, is_same_or_subdomain};
use doorman_policy::{
    Boundaries, ClientCertificate, DnsblAnswer, DnsblHit, DnsblResult, Fact, MessageHeaders, Policy, Session, TenantId,
    TlsInfo, dnsbl_hit, header_contains_holds,
};

pub use content::HeaderAtom;
pub use ip::{IpInterval, IpSpace};

/// The dimension of the space that enumerates each fact the engine's predicates read; a
/// fact added to the engine does not compile here until it has one.
pub fn dimension(fact: Fact) -> &'static str {
    match fact {
        Fact::ClientIp => "client IP intervals",
        Fact::Tls | Fact::CertificateName => "TLS classes",
        Fact::EnvelopeSender | Fact::OwnDomain => "envelope sender classes",
        Fact::FromHeader => "From: classes",
        Fact::Recipient | Fact::Directory => "recipient classes",
        Fact::Connector => "none of its own: the connector follows from the IP, TLS and sender classes",
        Fact::HeaderContent => "content assignments",
        Fact::Dnsbl => "DNSBL classes",
    }
}

/// One config's tenant, as the space sees it.
#[derive(Clone, Copy)]
pub struct View<'p> {
    pub policy: &'p Policy,
    pub tenant: TenantId,
}

/// More certificate-name regions than this would need too many TLS classes (every union of
/// them is one); such a tenant is not audited rather than audited in part.
pub const MAX_CERTIFICATE_REGIONS: usize = 10;
/// More `header_contains` conditions in reach of one class than this are not enumerated.
pub const MAX_CONTENT_ATOMS: usize = 12;

/// How the client presents itself in TLS.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TlsClass {
    /// `None`: no TLS. Otherwise the names on a verified certificate (none: no certificate,
    /// or one that did not verify, which is worth exactly as much).
    pub names: Option<Vec<String>>,
}

impl TlsClass {
    pub fn label(&self) -> String {
        match &self.names {
            None => "no TLS".into(),
            Some(n) if n.is_empty() => "TLS, no verified certificate".into(),
            Some(n) => format!("TLS, verified certificate {}", n.join(" and ")),
        }
    }

    pub fn tls_info(&self) -> Option<TlsInfo> {
        let cert = match &self.names {
            None => return None,
            Some(n) if n.is_empty() => ClientCertificate::None,
            Some(n) => ClientCertificate::Verified { names: n.clone() },
        };
        Some(TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", cert))
    }
}

/// Who the envelope sender claims to be.
#[derive(Clone, Debug)]
pub struct SenderClass {
    /// As written in MAIL FROM.
    pub address: String,
    pub path: ReversePath,
    pub label: String,
    /// One of the tenant's own domains (in the first view).
    pub own: bool,
}

/// The domain of the `From:` header, as far as rules keyed on it can tell.
#[derive(Clone, Debug)]
pub struct FromClass {
    /// The class's first domain (`None`: no address in `From:` at all).
    pub domain: Option<String>,
    /// Every candidate that fell into the class: a header block that must avoid some words
    /// may need another one.
    pub domains: Vec<Option<String>>,
    /// `None` when no rule looks at it.
    pub label: Option<String>,
}

/// A recipient of the tenant.
#[derive(Clone, Debug)]
pub struct RecipientClass {
    pub address: String,
    pub mailbox: Mailbox,
    /// The recipient domain for people: `contoso.com`, or `*.contoso.com` for its subdomains.
    pub domain: String,
    /// Bits of the rules' `recipient_domain_is` domains it falls under.
    pub rule_domains: Box<[bool]>,
}

/// What the DNSBLs say of the client.
#[derive(Clone, Debug)]
pub struct DnsblClass {
    pub answers: Vec<DnsblAnswer>,
    pub label: String,
}

/// The classes of one dimension, with the index that finds a key's class.
#[derive(Clone, Debug)]
pub struct Dim<K: Eq + Hash, C> {
    pub classes: Vec<C>,
    index: HashMap<K, usize>,
}

impl<K: Eq + Hash, C> Default for Dim<K, C> {
    fn default() -> Self {
        Dim { classes: Vec::new(), index: HashMap::new() }
    }
}

impl<K: Eq + Hash + Clone, C> Dim<K, C> {
    /// Adds a class for `key` unless one exists; gives its index and whether it is new.
    fn add(&mut self, key: K, class: impl FnOnce() -> C) -> (usize, bool) {
        if let Some(&i) = self.index.get(&key) {
            return (i, false);
        }
        self.classes.push(class());
        self.index.insert(key, self.classes.len() - 1);
        (self.classes.len() - 1, true)
    }

    fn find(&self, key: &K) -> Option<usize> {
        self.index.get(key).copied()
    }

    pub fn len(&self) -> usize {
        self.classes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.classes.is_empty()
    }
}

pub type TlsKey = Option<Box<[bool]>>;
/// `None` for a sender without a domain name (the null sender, an address literal), which
/// every predicate treats alike.
pub type SenderKey = Option<(Box<[bool]>, Box<[bool]>)>;
pub type FromKey = Box<[bool]>;
/// Per view: the accepted domain (index) when the view's tenant owns the recipient, and
/// whether its directory holds it; then the rule domains.
pub type RecipientKey = (Box<[Option<(u32, bool)>]>, Box<[bool]>);
/// Per view: which kind of answer refuses, if any.
pub type DnsblKey = Box<[Option<DnsblHitKind>]>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DnsblHitKind {
    Listed,
    Failed,
}

/// A session's place in the space: one index per dimension, and its content atoms.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location {
    pub ip: usize,
    pub tls: usize,
    pub sender: usize,
    pub from: usize,
    pub dnsbl: usize,
    /// The truth of every content atom in the session's headers.
    pub content: Vec<bool>,
}

/// Why a session could not be placed: a fact the partition did not enumerate. The audit is
/// only sound if this never happens; the property test makes sure.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unclassified(pub String);

/// Why a tenant cannot be audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TooLarge(pub String);

pub struct Space<'p> {
    pub views: Vec<View<'p>>,
    pub ips: IpSpace,
    pub tls: Dim<TlsKey, TlsClass>,
    pub senders: Dim<SenderKey, SenderClass>,
    pub froms: Dim<FromKey, FromClass>,
    pub recipients: Dim<RecipientKey, RecipientClass>,
    pub dnsbl: Dim<DnsblKey, DnsblClass>,
    pub atoms: Vec<HeaderAtom>,
    /// The predicates that key the classes (the union over the views).
    cert_patterns: Vec<CertNamePattern>,
    sender_patterns: Vec<SenderDomainPattern>,
    envelope_domains: Vec<DomainName>,
    from_domains: Vec<DomainName>,
    pub recipient_domains: Vec<DomainName>,
}

/// Every accepted domain of a config, with the ones above and below each, so that a tenant's
/// space can take in every domain whose ownership bears on its own.
pub struct AcceptedIndex {
    all: HashSet<String>,
    below: HashMap<String, Vec<String>>,
}

impl AcceptedIndex {
    pub fn new(policy: &Policy) -> AcceptedIndex {
        let mut all = HashSet::new();
        let mut below: HashMap<String, Vec<String>> = HashMap::new();
        for t in &policy.config().tenants {
            for d in &t.accepted_domains {
                let name = d.domain.as_str();
                all.insert(name.to_string());
                let mut rest = name;
                while let Some((_, parent)) = rest.split_once('.') {
                    below.entry(parent.to_string()).or_default().push(name.to_string());
                    rest = parent;
                }
            }
        }
        AcceptedIndex { all, below }
    }

    /// Accepted domains equal to, above or below `domain`: the only ones whose owner can
    /// decide who owns `domain` or a name under it.
    fn related(&self, domain: &str, out: &mut BTreeSet<String>) {
        out.insert(domain.to_string());
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            if self.all.contains(parent) {
                out.insert(parent.to_string());
            }
            rest = parent;
        }
        if let Some(b) = self.below.get(domain) {
            out.extend(b.iter().cloned());
        }
    }
}

fn dedup<T: PartialEq + Clone>(items: impl IntoIterator<Item = T>) -> Vec<T> {
    let mut out: Vec<T> = Vec::new();
    for i in items {
        if !out.contains(&i) {
            out.push(i);
        }
    }
    out
}

impl<'p> Space<'p> {
    /// The space of one tenant across `views` (one per config), with `indexes` the accepted
    /// domains of each view's config.
    pub fn new(views: Vec<View<'p>>, indexes: &[&AcceptedIndex]) -> Result<Space<'p>, TooLarge> {
        let mut b = Boundaries::default();
        let mut accepted: BTreeSet<String> = BTreeSet::new();
        for (v, index) in views.iter().zip(indexes) {
            let mine = v.policy.boundaries(v.tenant);
            for d in &mine.accepted_domains {
                index.related(d.as_str(), &mut accepted);
            }
            b.merge(mine);
            // The gateway's networks tell the front door from a side door: the audit's own
            // predicate, cut at like the engine's.
            let gateway = crate::doors::Gateway::of(v.policy.tenant(v.tenant).config);
            b.networks.extend(gateway.networks.iter().flat_map(|e| e.nets.iter().copied()));
        }
        // Every boundary is cut at, without `..`: a new kind of boundary does not compile
        // until the space enumerates it.
        let Boundaries {
            // Which dimensions matter; every dimension is built either way.
            facts: _,
            networks,
            certificate_names,
            sender_patterns,
            envelope_domains,
            from_domains,
            recipient_domains,
            header_conditions,
            // Taken in above, with the domains above and below them.
            accepted_domains: _,
            dnsbl_zones,
        } = b;
        let ips = IpSpace::new(&networks);
        let mut space = Space {
            views,
            ips,
            tls: Dim::default(),
            senders: Dim::default(),
            froms: Dim::default(),
            recipients: Dim::default(),
            dnsbl: Dim::default(),
            atoms: dedup(header_conditions.iter().map(HeaderAtom::of)),
            cert_patterns: dedup(certificate_names),
            sender_patterns: dedup(sender_patterns.into_iter().filter(|p| *p != SenderDomainPattern::Any)),
            envelope_domains: dedup(envelope_domains),
            from_domains: dedup(from_domains),
            recipient_domains: dedup(recipient_domains),
        };
        space.build_tls()?;
        space.build_senders(&accepted);
        space.build_froms();
        space.build_recipients(&accepted);
        space.build_dnsbl(&dnsbl_zones);
        Ok(space)
    }

    // -- TLS -----------------------------------------------------------------------------

    fn tls_key(&self, names: Option<&[String]>) -> TlsKey {
        names.map(|names| self.cert_patterns.iter().map(|p| names.iter().any(|n| p.matches(n))).collect())
    }

    /// No TLS, TLS without a certificate, and every union of the regions one name reaches:
    /// a certificate may carry several names.
    fn build_tls(&mut self) -> Result<(), TooLarge> {
        self.tls.add(self.tls_key(None), || TlsClass { names: None });
        self.tls.add(self.tls_key(Some(&[])), || TlsClass { names: Some(Vec::new()) });
        let mut regions: Vec<(Box<[bool]>, String)> = Vec::new();
        for name in names::certificate_candidates(&self.cert_patterns) {
            let key = self.tls_key(Some(std::slice::from_ref(&name))).expect("TLS");
            if key.iter().any(|b| *b) && !regions.iter().any(|(k, _)| *k == key) {
                regions.push((key, name));
            }
        }
        if regions.len() > MAX_CERTIFICATE_REGIONS {
            return Err(TooLarge(format!(
                "the certificate names distinguish {} kinds of certificate, and the audit enumerates every combination of up to {MAX_CERTIFICATE_REGIONS}",
                regions.len()
            )));
        }
        for bits in 1u32..(1 << regions.len()) {
            let names: Vec<String> =
                regions.iter().enumerate().filter(|(i, _)| bits & (1 << i) != 0).map(|(_, (_, n))| n.clone()).collect();
            let key = self.tls_key(Some(&names));
            self.tls.add(key, || TlsClass { names: Some(names) });
        }
        Ok(())
    }

    // -- envelope sender ---------------------------------------------------------------------

    fn own_bits(&self, domain: &str) -> Box<[bool]> {
        self.views.iter().map(|v| v.policy.is_own_domain(v.tenant, domain)).collect()
    }

    fn sender_key(&self, domain: Option<&str>) -> SenderKey {
        let d = domain?;
        let bits = self
            .sender_patterns
            .iter()
            .map(|p| p.covers(Some(d)))
            .chain(self.envelope_domains.iter().map(|r| r.covers(d)))
            .collect();
        Some((bits, self.own_bits(d)))
    }

    fn build_senders(&mut self, accepted: &BTreeSet<String>) {
        let null = ReversePath::Null;
        self.senders.add(None, || SenderClass {
            address: "<>".into(),
            path: null,
            label: "null sender <> (or an address literal)".into(),
            own: false,
        });
        let mut bases: Vec<&str> = accepted.iter().map(String::as_str).collect();
        for p in &self.sender_patterns {
            if let SenderDomainPattern::Exact(d) | SenderDomainPattern::Subdomains(d) = p {
                bases.push(d);
            }
        }
        bases.extend(self.envelope_domains.iter().map(DomainName::as_str));
        let bases = dedup(bases);
        let mut labels: HashMap<usize, Vec<String>> = HashMap::new();
        // The domain outside every base goes first, so that it names the class of strangers.
        let mut candidates = names::domain_candidates(&bases);
        candidates.rotate_right(1);
        for d in candidates {
            let key = self.sender_key(Some(&d));
            let own = key.as_ref().is_some_and(|(_, own)| own[0]);
            let address = format!("<sender@{d}>");
            let Ok(ReversePath::Mailbox(m)) = doorman_config::address::parse_reverse_path(&address) else { continue };
            let (i, _) = self.senders.add(key, || SenderClass {
                address: address.clone(),
                path: ReversePath::Mailbox(m),
                label: String::new(),
                own,
            });
            labels.entry(i).or_default().push(self.sender_label(&d, &bases, own));
        }
        for (i, l) in labels {
            let l = dedup(l);
            // Subdomains that no predicate singles out are strangers like any other.
            let stranger = "any other external sender".to_string();
            self.senders.classes[i].label = if l.contains(&stranger) {
                stranger
            } else if l.len() > 3 {
                format!("{}, and {} more", l[..3].join(", "), l.len() - 3)
            } else {
                l.join(" or ")
            };
        }
    }

    fn sender_label(&self, d: &str, bases: &[&str], own: bool) -> String {
        let is_base = bases.contains(&d);
        let deepest = bases.iter().filter(|b| is_same_or_subdomain(d, b)).max_by_key(|b| b.len());
        let v = self.views[0];
        let owner = v
            .policy
            .domain_owner(d)
            .map(|r| v.policy.tenant(r.tenant).config.accepted_domains[r.index as usize].domain.to_string());
        match (own, is_base, deepest, owner) {
            (true, _, _, Some(o)) if o == d => format!("sender in own domain {d} (direct send)"),
            (true, _, _, Some(o)) => format!("sender in a subdomain of own domain {o} (direct send)"),
            (_, true, _, _) => format!("sender in {d}"),
            (_, false, Some(b), _) => format!("sender in a subdomain of {b}"),
            _ => "any other external sender".into(),
        }
    }

    // -- From header -----------------------------------------------------------------------

    fn header_from_key(&self, domain: Option<&str>) -> FromKey {
        self.from_domains.iter().map(|r| domain.is_some_and(|d| r.covers(d))).collect()
    }

    /// The From class of a header domain.
    pub fn from_class(&self, domain: Option<&str>) -> Option<usize> {
        self.froms.find(&self.header_from_key(domain))
    }

    fn build_froms(&mut self) {
        let key = self.header_from_key(None);
        self.froms.add(key, || FromClass { domain: None, domains: vec![None], label: None });
        let bases: Vec<&str> = self.from_domains.iter().map(DomainName::as_str).collect();
        for d in names::domain_candidates(&bases) {
            let key = self.header_from_key(Some(&d));
            let label = Some(format!("From: header in {d}"));
            let (i, _) = self.froms.add(key, || FromClass { domain: Some(d.clone()), domains: Vec::new(), label });
            self.froms.classes[i].domains.push(Some(d));
        }
    }

    // -- recipients --------------------------------------------------------------------------

    fn recipient_key(&self, mailbox: &Mailbox) -> Option<RecipientKey> {
        let domain = mailbox.domain_name()?;
        let owners: Box<[Option<(u32, bool)>]> = self
            .views
            .iter()
            .map(|v| {
                v.policy.attribute_recipient(mailbox).filter(|(r, _)| r.tenant == v.tenant).map(|(r, k)| (r.index, k))
            })
            .collect();
        let rules = self.recipient_domains.iter().map(|r| r.covers(domain)).collect();
        Some((owners, rules))
    }

    /// For each region of the recipient domains the tenant owns (in some view): a recipient
    /// its directory lacks, and one it holds when there is one.
    fn build_recipients(&mut self, accepted: &BTreeSet<String>) {
        let mut bases: Vec<&str> = accepted.iter().map(String::as_str).collect();
        bases.extend(self.recipient_domains.iter().map(DomainName::as_str));
        let bases = dedup(bases);
        // `contoso.com` for a base, `*.contoso.com` for a name under one.
        let shown = |d: &str| -> Option<String> {
            if bases.contains(&d) {
                return Some(d.to_string());
            }
            bases.iter().filter(|b| is_same_or_subdomain(d, b)).max_by_key(|b| b.len()).map(|b| format!("*.{b}"))
        };
        let mut candidates: Vec<(String, String)> = Vec::new();
        for d in names::domain_candidates(&bases) {
            let Some(shown) = shown(&d) else { continue };
            let nobody = (0..)
                .map(|n| if n == 0 { format!("nobody@{d}") } else { format!("nobody{n}@{d}") })
                .take(100)
                .find(|a| {
                    parse_mailbox(a).is_ok_and(|m| {
                        self.views.iter().all(|v| v.policy.attribute_recipient(&m).is_none_or(|(_, known)| !known))
                    })
                });
            if let Some(a) = nobody {
                candidates.push((a, format!("{shown} (not in the directory)")));
            }
        }
        for v in &self.views {
            for m in v.policy.tenant(v.tenant).config.directory() {
                if let Some(shown) = m.domain_name().and_then(shown) {
                    candidates.push((m.to_string(), shown));
                }
            }
        }
        for (address, shown) in candidates {
            // A route in the local part is refused before any tenant's check: no class here.
            let Ok(mailbox) =
                parse_mailbox(&address).map_err(drop).and_then(|m| if m.has_route_syntax() { Err(()) } else { Ok(m) })
            else {
                continue;
            };
            let Some(key) = self.recipient_key(&mailbox) else { continue };
            if key.0.iter().all(Option::is_none) {
                continue;
            }
            let rule_domains = key.1.clone();
            self.recipients.add(key, || RecipientClass { address, mailbox, domain: shown, rule_domains });
        }
    }

    // -- DNSBL -------------------------------------------------------------------------------

    /// Listed nowhere, and, for each zone of any view, listed there or not askable there:
    /// only the first zone (in a view's order) with such an answer decides.
    fn build_dnsbl(&mut self, zones: &[DomainName]) {
        let key = self.dnsbl_key(&[]);
        self.dnsbl.add(key, || DnsblClass { answers: Vec::new(), label: "listed in no DNSBL".into() });
        for zone in dedup(zones.iter().cloned()) {
            for (result, label) in [
                (DnsblResult::Listed("127.0.0.2".into()), format!("listed in DNSBL {zone}")),
                (DnsblResult::Failed("no answer".into()), format!("DNSBL {zone} cannot be asked")),
            ] {
                let answers = vec![DnsblAnswer { zone: zone.to_string(), result }];
                let key = self.dnsbl_key(&answers);
                self.dnsbl.add(key, || DnsblClass { answers, label });
            }
        }
    }

    fn dnsbl_key(&self, answers: &[DnsblAnswer]) -> DnsblKey {
        self.views
            .iter()
            .map(|v| match dnsbl_hit(&v.policy.config().server.dnsbl_zones, answers) {
                None => None,
                Some(DnsblHit::Listed { .. }) => Some(DnsblHitKind::Listed),
                Some(DnsblHit::Failed { .. }) => Some(DnsblHitKind::Failed),
            })
            .collect()
    }

    // -- locating a session --------------------------------------------------------------------

    /// The session of a class: the interval's first address, the TLS class, the DNSBL answers.
    pub fn session(&self, ip: usize, tls: usize, dnsbl: usize) -> Session {
        let mut s = Session::new(self.ips.intervals[ip].representative());
        s.tls = self.tls.classes[tls].tls_info();
        s.dnsbl = self.dnsbl.classes[dnsbl].answers.clone();
        s
    }

    /// A real header block for a From class and an assignment of the content atoms `atoms`
    /// (indexes into [`Space::atoms`]): its fields, and the headers the engine parses from
    /// them. `None` when no block this builds realises both; the engine's own parser and
    /// matchers check every block.
    ///
    /// A message has one `From:` field. It holds the class's address (with a local part and,
    /// under a base domain, a label that avoid the words false atoms on `From` forbid) and, as
    /// its display name, the words true atoms on `From` need.
    pub fn header_block(
        &self,
        from: usize,
        atoms: &[usize],
        content: &content::Assignment,
    ) -> Option<(content::Fields, MessageHeaders)> {
        let class = &self.froms.classes[from];
        let key = self.header_from_key(class.domain.as_deref());
        let on_from = |n: &String| n.eq_ignore_ascii_case("from");
        let words: Vec<&str> = content.fields.iter().filter(|(n, _)| on_from(n)).map(|(_, v)| v.as_str()).collect();
        let others = content.fields.iter().filter(|(n, _)| !on_from(n)).cloned();
        let forbidden: Vec<&str> = atoms
            .iter()
            .zip(&content.truth)
            .filter(|(a, t)| !**t && self.atoms[**a].header == "from")
            .flat_map(|(a, _)| self.atoms[*a].words.iter().map(String::as_str))
            .collect();
        let clean = |s: &str| !forbidden.iter().any(|f| s.to_lowercase().contains(f));
        let fresh = || names::fresh_labels().filter(|l| clean(l)).take(8);
        let mut addresses: Vec<Option<String>> = Vec::new();
        for d in &class.domains {
            match d {
                None => addresses.push(None),
                Some(d) => {
                    let domains = std::iter::once(d.clone()).chain(fresh().map(|l| format!("{l}.{d}")));
                    for d in domains.filter(|d| self.header_from_key(Some(d)) == key).take(4) {
                        addresses.extend(
                            std::iter::once("sender".to_string())
                                .chain(fresh())
                                .map(|l| Some(format!("{l}@{d}")))
                                .take(4),
                        );
                    }
                }
            }
        }
        for address in addresses {
            let value = match (words.is_empty(), &address) {
                (true, Some(a)) => Some(a.clone()),
                (false, Some(a)) => Some(format!("\"{}\" <{a}>", words.join(" "))),
                (false, None) => Some(words.join(" ")),
                (true, None) => None,
            };
            let fields: content::Fields =
                value.map(|v| ("From".to_string(), v)).into_iter().chain(others.clone()).collect();
            let headers = MessageHeaders::from_pairs(fields.iter().map(|(n, v)| (n.as_str(), v.as_str())));
            let holds = atoms
                .iter()
                .zip(&content.truth)
                .all(|(a, t)| header_contains_holds(&self.atoms[*a].condition(), &headers) == *t);
            if holds && self.header_from_key(headers.from_domain()) == key {
                return Some((fields, headers));
            }
        }
        None
    }

    /// The class of every fact of a session as the engine is handed it.
    pub fn locate(
        &self,
        session: &Session,
        sender: &ReversePath,
        headers: &MessageHeaders,
    ) -> Result<Location, Unclassified> {
        // Every fact of the session has a dimension here; a new one must get one too.
        let Session { client_ip, tls, helo: _, dnsbl } = session;
        let names: Option<Vec<String>> = tls.as_ref().map(|_| session.verified_names().to_vec());
        let miss = |what: String| Unclassified(what);
        let tls_i =
            self.tls.find(&self.tls_key(names.as_deref())).ok_or_else(|| miss(format!("TLS state {names:?}")))?;
        let sender_i = self
            .senders
            .find(&self.sender_key(sender.domain()))
            .ok_or_else(|| miss(format!("envelope sender {sender:?}")))?;
        let from_i = self
            .froms
            .find(&self.header_from_key(headers.from_domain()))
            .ok_or_else(|| miss(format!("From: domain {:?}", headers.from_domain())))?;
        let dnsbl_i =
            self.dnsbl.find(&self.dnsbl_key(dnsbl)).ok_or_else(|| miss(format!("DNSBL answers {dnsbl:?}")))?;
        let content = self.atoms.iter().map(|a| header_contains_holds(&a.condition(), headers)).collect();
        Ok(Location {
            ip: self.ips.locate(*client_ip),
            tls: tls_i,
            sender: sender_i,
            from: from_i,
            dnsbl: dnsbl_i,
            content,
        })
    }

    pub fn locate_recipient(&self, mailbox: &Mailbox) -> Result<usize, Unclassified> {
        let key = self.recipient_key(mailbox).ok_or_else(|| Unclassified(format!("recipient {mailbox}")))?;
        self.recipients.find(&key).ok_or_else(|| Unclassified(format!("recipient {mailbox}")))
    }

    pub fn client_ip(&self, ip: usize) -> IpAddr {
        self.ips.intervals[ip].representative()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fact the engine can read has a dimension, and a config that uses every kind of
    /// predicate makes the engine report every fact.
    #[test]
    fn every_fact_the_engine_reads_has_a_dimension() {
        let toml = r#"
[server]
dnsbl_zones = ["bl.test"]
[[tenants]]
name = "t"
mx = ["self"]
accepted_domains = [{ domain = "contoso.test" }]
[[tenants.inbound_connectors]]
name = "c"
type = "on_premises"
sender_ip_addresses = ["192.0.2.0/24"]
tls_sender_certificate_name = "*.gw.test"
require_tls = true
[[tenants.transport_rules]]
name = "r"
sender_address_location = "header_or_envelope"
conditions.sender_domain_is = ["partner.test"]
conditions.recipient_domain_is = ["contoso.test"]
conditions.header_contains = [{ header = "Subject", words = ["x"] }]
conditions.inbound_connector = ["c"]
actions.set_scl = 1
"#;
        let p = Policy::new(doorman_config::load_str("t.toml", toml, std::path::Path::new(".")).unwrap().config);
        let facts = p.boundaries(TenantId(0)).facts;
        for f in Fact::ALL {
            assert!(!dimension(f).is_empty());
            assert!(facts.contains(&f), "{f:?} is never reported");
        }
    }
}
