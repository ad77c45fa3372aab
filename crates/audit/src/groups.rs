//! Classes grouped for people: classes that share an outcome and differ only in client
//! networks, TLS state or sender class make one line of the report.

use std::collections::BTreeMap;

use crate::space::Space;
use crate::space::ip::{IpInterval, merge};

/// Classes collected under a key, with the first class's payload (an example to show).
pub struct Groups<K: Ord, P> {
    cells: BTreeMap<(K, usize, usize), (Vec<IpInterval>, P)>,
}

/// The classes (TLS or sender indexes) joined so far, and the first one's payload.
type Joined<P> = (Vec<usize>, P);

pub struct Group<K, P> {
    pub key: K,
    pub intervals: Vec<IpInterval>,
    pub tls: Vec<usize>,
    pub senders: Vec<usize>,
    pub first: P,
}

impl<K: Ord + Clone, P> Groups<K, P> {
    pub fn new() -> Self {
        Groups { cells: BTreeMap::new() }
    }

    pub fn add(&mut self, key: K, sender: usize, tls: usize, iv: IpInterval, payload: impl FnOnce() -> P) {
        self.cells.entry((key, sender, tls)).or_insert_with(|| (Vec::new(), payload())).0.push(iv);
    }

    /// Joined across TLS states that reach the same networks, then across sender classes
    /// that share networks and TLS states.
    pub fn joined(self) -> Vec<Group<K, P>> {
        let mut by_tls: BTreeMap<(K, usize, Vec<IpInterval>), Joined<P>> = BTreeMap::new();
        for ((key, sender, tls), (ivs, p)) in self.cells {
            by_tls.entry((key, sender, merge(&ivs))).or_insert_with(|| (Vec::new(), p)).0.push(tls);
        }
        let mut by_sender: BTreeMap<(K, Vec<IpInterval>, Vec<usize>), Joined<P>> = BTreeMap::new();
        for ((key, sender, ivs), (tls, p)) in by_tls {
            by_sender.entry((key, ivs, tls)).or_insert_with(|| (Vec::new(), p)).0.push(sender);
        }
        by_sender
            .into_iter()
            .map(|((key, intervals, tls), (senders, first))| Group { key, intervals, tls, senders, first })
            .collect()
    }
}

pub fn tls_label(space: &Space<'_>, tls: &[usize]) -> String {
    if tls.len() == space.tls.len() {
        "any TLS state".to_string()
    } else {
        tls.iter().map(|&t| space.tls.classes[t].label()).collect::<Vec<_>>().join(" or ")
    }
}

pub fn sender_label(space: &Space<'_>, senders: &[usize]) -> String {
    if senders.len() == space.senders.len() && senders.len() > 1 {
        "any sender".to_string()
    } else {
        // The null sender (class 0) reads best last.
        let mut order: Vec<usize> = senders.to_vec();
        order.sort_by_key(|&s| (s == 0, s));
        order.iter().map(|&s| space.senders.classes[s].label.as_str()).collect::<Vec<_>>().join(" or ")
    }
}
