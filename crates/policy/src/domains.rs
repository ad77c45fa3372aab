//! Recipient → tenant, through accepted domains. A subdomain finds its parent only when the
//! parent's accepted domain sets `match_subdomains`; the most specific domain wins.
//!
//! Directory addresses are attributed once, when the policy is compiled, and kept in one map:
//! a known recipient then costs one lookup for both its tenant and the directory check.

use std::hash::BuildHasher;

use doorman_config::DomainType;
use foldhash::fast::RandomState;

use crate::TenantId;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DomainRef {
    pub tenant: TenantId,
    /// Index into the tenant's `accepted_domains`.
    pub index: u32,
    pub kind: DomainType,
    match_subdomains: bool,
}

#[derive(Default)]
pub struct DomainTable {
    domains: LineTable,
    /// Directory address (`local@domain`, lower case) → the accepted domain that owns it.
    addresses: LineTable,
}

/// A read-mostly hash table whose slots are one cache line each, holding key and value:
/// the hash lands on the slot, so a lookup usually reads one line (a general-purpose map
/// reads a control byte, then the entry, then the key behind a pointer).
///
/// Open addressing with linear probing, kept at most three quarters full: a longer probe
/// reads the next line, which the hardware fetches ahead, and a smaller table needs fewer
/// TLB entries. Keys come from the config and
/// clients only look them up, so nobody can flood a probe chain; a fast hasher is safe here.
#[derive(Default)]
struct LineTable {
    slots: Vec<Slot>,
    len: usize,
    hasher: RandomState,
}

/// One cache line: a key kept inline when short, as most domains and addresses are, and its
/// value.
#[derive(Clone, Debug, Default)]
#[repr(C, align(64))]
struct Slot {
    key: Key,
    value: Option<DomainRef>,
}

#[derive(Clone, Debug)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<str>),
}

impl Default for Key {
    fn default() -> Self {
        Key::Inline { len: 0, bytes: [0; INLINE] }
    }
}

const INLINE: usize = 46;

impl Key {
    fn new(s: &str) -> Key {
        match s.len() {
            len @ 0..=INLINE => {
                let mut bytes = [0; INLINE];
                bytes[..len].copy_from_slice(s.as_bytes());
                Key::Inline { len: len as u8, bytes }
            }
            _ => Key::Heap(s.into()),
        }
    }

    fn is(&self, s: &str) -> bool {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize] == s.as_bytes(),
            Key::Heap(k) => **k == *s,
        }
    }
}

impl LineTable {
    fn with_capacity(n: usize) -> LineTable {
        let slots = (n * 4 / 3 + 1).next_power_of_two().max(16);
        LineTable { slots: vec![Slot::default(); slots], len: 0, hasher: RandomState::default() }
    }

    fn slot_of(&self, key: &str) -> usize {
        (self.hasher.hash_one(key) as usize) & (self.slots.len() - 1)
    }

    fn get(&self, key: &str) -> Option<DomainRef> {
        if self.slots.is_empty() {
            return None;
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(key);
        loop {
            let slot = &self.slots[i];
            match slot.value {
                None => return None,
                Some(v) if slot.key.is(key) => return Some(v),
                Some(_) => i = (i + 1) & mask,
            }
        }
    }

    /// Inserts unless the key is there; the first value written wins.
    fn insert(&mut self, key: &str, value: DomainRef) {
        if (self.len + 1) * 4 > self.slots.len() * 3 {
            self.grow();
        }
        let mask = self.slots.len() - 1;
        let mut i = self.slot_of(key);
        while self.slots[i].value.is_some() {
            if self.slots[i].key.is(key) {
                return;
            }
            i = (i + 1) & mask;
        }
        self.slots[i] = Slot { key: Key::new(key), value: Some(value) };
        self.len += 1;
    }

    fn grow(&mut self) {
        let capacity = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); capacity]);
        self.len = 0;
        for slot in old {
            if let Some(v) = slot.value {
                let key = match &slot.key {
                    Key::Inline { len, bytes } => String::from_utf8_lossy(&bytes[..*len as usize]).into_owned(),
                    Key::Heap(k) => k.to_string(),
                };
                self.insert(&key, v);
            }
        }
    }
}

impl DomainTable {
    pub fn with_capacity(domains: usize, addresses: usize) -> DomainTable {
        DomainTable { domains: LineTable::with_capacity(domains), addresses: LineTable::with_capacity(addresses) }
    }

    /// Adds an accepted domain; a domain already present keeps its first owner (the config
    /// check refuses such configs, but a compiled policy must still be deterministic).
    pub fn insert(&mut self, domain: &str, tenant: TenantId, index: usize, kind: DomainType, match_subdomains: bool) {
        let r = DomainRef { tenant, index: index as u32, kind, match_subdomains };
        self.domains.insert(domain, r);
    }

    /// Adds a directory address of `tenant`, once every domain is in. An address whose domain
    /// another tenant owns is left out: it could never reach this tenant.
    pub fn insert_address(&mut self, key: &str, domain: &str, tenant: TenantId) {
        if let Some(r) = self.lookup(domain).filter(|r| r.tenant == tenant) {
            self.addresses.insert(key, r);
        }
    }

    /// `domain` must be lower case without a trailing dot (as [`doorman_config::address`] gives it).
    pub fn lookup(&self, domain: &str) -> Option<DomainRef> {
        if let Some(r) = self.domains.get(domain) {
            return Some(r);
        }
        let mut rest = domain;
        while let Some((_, parent)) = rest.split_once('.') {
            if let Some(r) = self.domains.get(parent)
                && r.match_subdomains
            {
                return Some(r);
            }
            rest = parent;
        }
        None
    }

    /// Attributes a recipient: its accepted domain, and whether it is in that tenant's
    /// directory. `key` is the mailbox's directory key, `domain` its domain name.
    pub fn lookup_recipient(&self, key: &str, domain: &str) -> Option<(DomainRef, bool)> {
        match self.addresses.get(key) {
            Some(r) => Some((r, true)),
            None => self.lookup(domain).map(|r| (r, false)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_slot_is_one_cache_line() {
        assert_eq!(std::mem::size_of::<Slot>(), 64);
    }

    #[test]
    fn line_table_grows_and_keeps_the_first_value() {
        let mut t = LineTable::default();
        let r =
            |n| DomainRef { tenant: TenantId(n), index: 0, kind: DomainType::Authoritative, match_subdomains: false };
        for n in 0..1000 {
            t.insert(&format!("user{n}@example.com"), r(n));
        }
        t.insert("user7@example.com", r(99_999));
        let long = "x".repeat(100);
        t.insert(&long, r(5));
        for n in 0..1000 {
            assert_eq!(t.get(&format!("user{n}@example.com")).map(|r| r.tenant), Some(TenantId(n)));
        }
        assert_eq!(t.get(&long).map(|r| r.tenant), Some(TenantId(5)));
        assert_eq!(t.get("user1000@example.com"), None);
        assert!(t.len * 4 <= t.slots.len() * 3);
    }

    #[test]
    fn subdomain_walk_and_directory() {
        let mut t = DomainTable::default();
        let auth = DomainType::Authoritative;
        t.insert("contoso.com", TenantId(0), 0, auth, true);
        t.insert("eu.contoso.com", TenantId(1), 0, auth, false);
        t.insert("fabrikam.com", TenantId(2), 0, auth, false);
        t.insert_address("alice@eu.contoso.com", "eu.contoso.com", TenantId(1));
        t.insert_address("mallory@fabrikam.com", "fabrikam.com", TenantId(0));
        assert_eq!(t.lookup("contoso.com").unwrap().tenant, TenantId(0));
        assert_eq!(t.lookup("a.b.contoso.com").unwrap().tenant, TenantId(0));
        assert_eq!(t.lookup("eu.contoso.com").unwrap().tenant, TenantId(1));
        // eu.contoso.com does not match subdomains, so its children fall to contoso.com.
        assert_eq!(t.lookup("x.eu.contoso.com").unwrap().tenant, TenantId(0));
        assert!(t.lookup("mail.fabrikam.com").is_none());
        assert!(t.lookup("notcontoso.com").is_none());
        assert!(t.lookup("com").is_none());

        let who = |key, domain| t.lookup_recipient(key, domain).map(|(r, known)| (r.tenant, known));
        assert_eq!(who("alice@eu.contoso.com", "eu.contoso.com"), Some((TenantId(1), true)));
        assert_eq!(who("bob@eu.contoso.com", "eu.contoso.com"), Some((TenantId(1), false)));
        // Listed by a tenant that does not own the domain: in nobody's directory.
        assert_eq!(who("mallory@fabrikam.com", "fabrikam.com"), Some((TenantId(2), false)));

        // Keys too long to keep inline work the same.
        let long = format!("{}@eu.contoso.com", "a".repeat(60));
        t.insert_address(&long, "eu.contoso.com", TenantId(1));
        assert_eq!(
            t.lookup_recipient(&long, "eu.contoso.com").map(|(r, known)| (r.tenant, known)),
            Some((TenantId(1), true))
        );
    }
}
