//! Client IP lookups by longest prefix, for IPv4 and IPv6 alike.
//!
//! [`IpTable`] is a prefix trie, used to build indexes and for large lists. [`IpIndex`] is
//! what decisions query: the same trie for a large list, or, for the few entries most tenants
//! have, a flat array scanned in one cache line or two. Both answer identically (a test
//! checks); the flat form only saves the trie's pointer chasing when the index is cold.

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use prefix_trie::joint::JointPrefixMap;

pub struct IpTable<T> {
    map: JointPrefixMap<IpNet, T>,
}

impl<T> Default for IpTable<T> {
    fn default() -> Self {
        IpTable { map: JointPrefixMap::new() }
    }
}

impl<T> IpTable<T> {
    /// Inserts a value for a network unless one is there already (the first entry written wins).
    pub fn insert_first(&mut self, net: IpNet, value: T) {
        if self.map.get(&net).is_none() {
            self.map.insert(net, value);
        }
    }

    pub fn get_or_insert_with(&mut self, net: IpNet, make: impl FnOnce() -> T) -> &mut T {
        if self.map.get(&net).is_none() {
            self.map.insert(net, make());
        }
        self.map.get_mut(&net).expect("just inserted")
    }

    /// The most specific network holding `ip`.
    pub fn longest_match(&self, ip: IpAddr) -> Option<(IpNet, &T)> {
        self.map.get_lpm(&IpNet::from(ip))
    }

    /// Every network holding `net` (itself included), least specific first.
    pub fn covering_net(&self, net: IpNet) -> impl Iterator<Item = (IpNet, &T)> {
        self.map.cover(&net)
    }

    pub fn iter(&self) -> impl Iterator<Item = (IpNet, &T)> {
        self.map.iter()
    }
}

/// Up to this many networks, a flat scan beats the trie's pointer chasing.
const FLAT_MAX: usize = 32;

/// IPv4 networks kept inside the index itself, so the common lookup reads no other memory.
/// Seven, so that the inline keys and `v4_more` fill one cache line after an 8-byte header.
const V4_INLINE: usize = 7;

/// A read-only longest-prefix index: flat arrays, most specific network first, so the first
/// that holds the IP is the longest match; or, above [`FLAT_MAX`] networks, the trie.
#[repr(C)]
pub struct IpIndex<T> {
    /// The most specific IPv4 networks; `v4_count == TRIE` marks an index held by `trie`.
    v4_addrs: [u32; V4_INLINE],
    v4_lens: [u8; V4_INLINE],
    v4_count: u8,
    /// Further (less specific) IPv4 networks.
    v4_more: Box<[(u32, u8)]>,
    v6: Box<[(u128, u8)]>,
    /// IPv4 values (inline ones, then `v4_more`), then IPv6 values, in key order.
    values: Box<[T]>,
    trie: Option<Box<IpTable<T>>>,
}

const TRIE: u8 = u8::MAX;

impl<T> IpIndex<T> {
    /// Builds the index from distinct networks and their values.
    pub fn build(mut entries: Vec<(IpNet, T)>) -> IpIndex<T> {
        let mut index = IpIndex {
            v4_addrs: [0; V4_INLINE],
            v4_lens: [0; V4_INLINE],
            v4_count: 0,
            v4_more: Box::default(),
            v6: Box::default(),
            values: Box::default(),
            trie: None,
        };
        if entries.len() > FLAT_MAX {
            let mut table = IpTable::default();
            for (net, value) in entries {
                table.insert_first(net, value);
            }
            index.v4_count = TRIE;
            index.trie = Some(Box::new(table));
            return index;
        }
        entries.sort_by_key(|(net, _)| (net.addr().is_ipv6(), std::cmp::Reverse(net.prefix_len())));
        let (mut v4, mut v6) = (Vec::new(), Vec::new());
        let mut values = Vec::with_capacity(entries.len());
        for (net, value) in entries {
            match net {
                IpNet::V4(n) => v4.push((u32::from(n.network()), n.prefix_len())),
                IpNet::V6(n) => v6.push((u128::from(n.network()), n.prefix_len())),
            }
            values.push(value);
        }
        let inline = v4.len().min(V4_INLINE);
        for (i, &(addr, len)) in v4[..inline].iter().enumerate() {
            index.v4_addrs[i] = addr;
            index.v4_lens[i] = len;
        }
        index.v4_count = inline as u8;
        index.v4_more = v4[inline..].into();
        index.v6 = v6.into();
        index.values = values.into();
        index
    }

    /// The most specific network holding `ip`.
    pub fn longest_match(&self, ip: IpAddr) -> Option<(IpNet, &T)> {
        if self.v4_count == TRIE {
            return self.trie.as_ref().and_then(|t| t.longest_match(ip));
        }
        match ip {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                let n = self.v4_count as usize;
                let (i, (net, len)) = (0..n)
                    .map(|i| (self.v4_addrs[i], self.v4_lens[i]))
                    .chain(self.v4_more.iter().copied())
                    .enumerate()
                    .find(|&(_, (net, len))| a & mask32(len) == net)?;
                Some((IpNet::V4(Ipv4Net::new(net.into(), len).expect("valid prefix")), &self.values[i]))
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                let i = self.v6.iter().position(|&(net, len)| a & mask128(len) == net)?;
                let (net, len) = self.v6[i];
                let v4 = self.v4_count as usize + self.v4_more.len();
                Some((IpNet::V6(Ipv6Net::new(net.into(), len).expect("valid prefix")), &self.values[v4 + i]))
            }
        }
    }

    /// Bytes from the start of the index through `v4_more`: what an IPv4 lookup reads.
    #[cfg(test)]
    pub(crate) const HOT_BYTES: usize = std::mem::offset_of!(IpIndex<T>, v4_more) + size_of::<Box<[(u32, u8)]>>();

    #[cfg(test)]
    fn is_trie(&self) -> bool {
        self.trie.is_some()
    }
}

fn mask32(len: u8) -> u32 {
    if len == 0 { 0 } else { u32::MAX << (32 - len) }
}

fn mask128(len: u8) -> u128 {
    if len == 0 { 0 } else { u128::MAX << (128 - len) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// splitmix64, for a repeatable random sample.
    fn rng(seed: &mut u64) -> u64 {
        *seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    #[test]
    fn flat_and_trie_agree() {
        let mut seed = 7;
        for _ in 0..200 {
            let mut table = IpTable::default();
            let mut twin = IpTable::default();
            let n = (rng(&mut seed) % FLAT_MAX as u64) as usize;
            for i in 0..n {
                // A small address space, so networks nest and overlap often.
                let net = if rng(&mut seed).is_multiple_of(2) {
                    let a = 0x0A00_0000 | (rng(&mut seed) as u32 & 0xFFFF);
                    IpNet::V4(Ipv4Net::new(a.into(), 8 + (rng(&mut seed) % 25) as u8).unwrap().trunc())
                } else {
                    let a = (0x2001_0db8u128 << 96) | (rng(&mut seed) as u128 & 0xFFFF);
                    IpNet::V6(Ipv6Net::new(a.into(), 32 + (rng(&mut seed) % 97) as u8).unwrap().trunc())
                };
                table.insert_first(net, i);
                twin.insert_first(net, i);
            }
            let flat = IpIndex::build(table.iter().map(|(n, v)| (n, *v)).collect());
            assert!(!flat.is_trie());
            for _ in 0..200 {
                let ip = if rng(&mut seed).is_multiple_of(2) {
                    IpAddr::V4((0x0A00_0000 | (rng(&mut seed) as u32 & 0xFFFF)).into())
                } else {
                    IpAddr::V6(((0x2001_0db8u128 << 96) | (rng(&mut seed) as u128 & 0xFFFF)).into())
                };
                assert_eq!(flat.longest_match(ip), twin.longest_match(ip), "{ip}");
            }
        }
    }

    #[test]
    fn large_tables_stay_tries() {
        let entries =
            (0..=FLAT_MAX as u32).map(|i| (IpNet::V4(Ipv4Net::new((i << 8).into(), 24).unwrap()), i)).collect();
        let index = IpIndex::build(entries);
        assert!(index.is_trie());
        assert_eq!(index.longest_match("0.0.5.9".parse().unwrap()).map(|(_, v)| *v), Some(5));
    }
}
