//! Client addresses as the engine sees them, cut into intervals no boundary crosses.
//!
//! The edge folds IPv4-mapped IPv6 (`::ffff:a.b.c.d`) into IPv4 before any decision, so the
//! address space a decision can see is all of IPv4 and all of IPv6 except `::ffff:0:0/96`.
//! The intervals cover exactly that space: an IPv6 interval never reaches into the mapped
//! block, and every representative is an address the engine can be handed unchanged.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use doorman_config::net::canonical_ip;
use ipnet::IpNet;

/// `::ffff:0:0/96`, which the engine never sees as IPv6.
const MAPPED: (u128, u128) = (0xffff_0000_0000, 0xffff_ffff_ffff);
const V4_MAX: u128 = u32::MAX as u128;

/// A run of client addresses of one family that every boundary leaves whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IpInterval {
    pub v6: bool,
    pub first: u128,
    pub last: u128,
}

impl IpInterval {
    /// The address a class's sessions use; canonical, so the engine decides it as it stands.
    /// Every address of the interval gets the same decisions, so it is chosen to read well
    /// in an example: a documentation address (RFC 5737, RFC 3849) when the interval holds
    /// one, else its first address, moved out of `0.0.0.0/8`, which no client has.
    pub fn representative(&self) -> IpAddr {
        let candidates: &[u128] = if self.v6 {
            &[0x2001_0db8_0000_0000_0000_0000_0000_0010]
        } else {
            &[0xcb00_710a, 0xc633_640a, 0xc000_020a] // 203.0.113.10, 198.51.100.10, 192.0.2.10
        };
        let pick = candidates.iter().copied().find(|&c| self.first <= c && c <= self.last).unwrap_or({
            const FIRST_CLIENT: u128 = 0x0100_000a; // 1.0.0.10
            if !self.v6 && self.first < FIRST_CLIENT && FIRST_CLIENT <= self.last { FIRST_CLIENT } else { self.first }
        });
        to_ip(self.v6, pick)
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let (v6, n) = from_ip(canonical_ip(ip));
        v6 == self.v6 && self.first <= n && n <= self.last
    }

    /// The addresses of `net`, as written.
    pub fn of_net(net: &IpNet) -> IpInterval {
        let (v6, first, last) = bounds(net);
        IpInterval { v6, first, last }
    }

    /// The interval as the fewest CIDRs.
    pub fn nets(&self) -> Vec<IpNet> {
        cover(self.v6, self.first, self.last)
    }
}

fn to_ip(v6: bool, n: u128) -> IpAddr {
    if v6 { IpAddr::V6(Ipv6Addr::from(n)) } else { IpAddr::V4(Ipv4Addr::from(n as u32)) }
}

fn from_ip(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u32::from(a) as u128),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn bounds(net: &IpNet) -> (bool, u128, u128) {
    match net {
        IpNet::V4(n) => (false, u32::from(n.network()) as u128, u32::from(n.broadcast()) as u128),
        IpNet::V6(n) => (true, u128::from(n.network()), u128::from(n.broadcast())),
    }
}

/// The canonical address space cut at every boundary of `nets`, sorted: IPv4 first.
#[derive(Clone, Debug)]
pub struct IpSpace {
    pub intervals: Vec<IpInterval>,
}

impl IpSpace {
    pub fn new(nets: &[IpNet]) -> IpSpace {
        let mut intervals = Vec::new();
        for (v6, max) in [(false, V4_MAX), (true, u128::MAX)] {
            let mut cuts: Vec<u128> = vec![0];
            if v6 {
                cuts.extend([MAPPED.0, MAPPED.1 + 1]);
            }
            for net in nets {
                let (is6, first, last) = bounds(net);
                if is6 == v6 {
                    cuts.push(first);
                    if last < max {
                        cuts.push(last + 1);
                    }
                }
            }
            cuts.sort_unstable();
            cuts.dedup();
            for (i, &first) in cuts.iter().enumerate() {
                let last = cuts.get(i + 1).map_or(max, |next| next - 1);
                if v6 && first >= MAPPED.0 && last <= MAPPED.1 {
                    continue;
                }
                intervals.push(IpInterval { v6, first, last });
            }
        }
        IpSpace { intervals }
    }

    /// The index of the interval holding `ip`, after the edge's folding.
    pub fn locate(&self, ip: IpAddr) -> usize {
        let (v6, n) = from_ip(canonical_ip(ip));
        let key = (v6, n);
        self.intervals.partition_point(|iv| (iv.v6, iv.first) <= key) - 1
    }
}

/// Adjacent intervals joined.
pub fn merge(ivs: &[IpInterval]) -> Vec<IpInterval> {
    let mut sorted = ivs.to_vec();
    sorted.sort();
    let mut out: Vec<IpInterval> = Vec::new();
    sorted.dedup();
    for iv in sorted {
        match out.last_mut() {
            Some(last) if last.v6 == iv.v6 && last.last.checked_add(1) == Some(iv.first) => last.last = iv.last,
            _ => out.push(iv),
        }
    }
    out
}

/// Every network of `ivs`, exactly, as the fewest CIDRs.
pub fn networks(ivs: &[IpInterval]) -> Vec<String> {
    merge(ivs).iter().flat_map(|iv| iv.nets()).map(|n| n.to_string()).collect()
}

/// Networks a label lists by name; beyond, it counts them, and [`networks`] (the JSON's
/// `networks`) has them all: a block list of 500 entries is not a label.
pub const LISTED: usize = 3;

/// The intervals for people: each family as its CIDRs, or as `all IPv4 except …` when that
/// is shorter, up to [`LISTED`] networks by name (`all IPv4 except 12 networks`). In the
/// exceptions the mapped block may be left in or out, whichever reads shorter: no IPv6
/// client is ever in it.
pub fn summarize(ivs: &[IpInterval]) -> String {
    let merged = merge(ivs);
    let mut parts = Vec::new();
    let join = |nets: &[IpNet]| {
        if nets.len() > LISTED {
            format!("{} networks", nets.len())
        } else {
            nets.iter().map(|n| n.to_string()).collect::<Vec<_>>().join(", ")
        }
    };
    for (v6, name) in [(false, "IPv4"), (true, "IPv6")] {
        let mine: Vec<IpInterval> = merged.iter().filter(|i| i.v6 == v6).copied().collect();
        if mine.is_empty() {
            continue;
        }
        let direct: Vec<IpNet> = mine.iter().flat_map(|i| i.nets()).collect();
        let max = if v6 { u128::MAX } else { V4_MAX };
        let full = gaps(&mine, v6, max);
        let mut excluded = cidrs(&full, v6);
        if v6 {
            let canonical: Vec<(u128, u128)> = full.iter().flat_map(|&g| without_mapped(g)).collect();
            let shorter = cidrs(&canonical, v6);
            if shorter.len() <= excluded.len() {
                excluded = shorter;
            }
        }
        parts.push(if excluded.is_empty() {
            format!("all {name}")
        } else if excluded.len() < direct.len() {
            format!("all {name} except {}", join(&excluded))
        } else if direct.len() > LISTED {
            format!("{} {name} networks", direct.len())
        } else {
            join(&direct)
        });
    }
    parts.join("; ")
}

/// The addresses of one family in none of `mine` (sorted, merged).
fn gaps(mine: &[IpInterval], v6: bool, max: u128) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    let mut next = Some(0u128);
    for i in mine.iter().filter(|i| i.v6 == v6) {
        if let Some(n) = next
            && i.first > n
        {
            out.push((n, i.first - 1));
        }
        next = i.last.checked_add(1).filter(|_| i.last < max);
    }
    if let Some(n) = next {
        out.push((n, max));
    }
    out
}

/// The parts of `a..=b` outside the mapped block.
fn without_mapped((a, b): (u128, u128)) -> Vec<(u128, u128)> {
    let mut out = Vec::new();
    if a < MAPPED.0 {
        out.push((a, b.min(MAPPED.0 - 1)));
    }
    if b > MAPPED.1 {
        out.push((a.max(MAPPED.1 + 1), b));
    }
    out
}

fn cidrs(ranges: &[(u128, u128)], v6: bool) -> Vec<IpNet> {
    ranges.iter().flat_map(|&(a, b)| cover(v6, a, b)).collect()
}

/// The fewest CIDRs covering `first..=last` of one family, taken as written (the config's
/// `range_to_nets` folds mapped addresses, which a gap of the summary may contain).
fn cover(v6: bool, first: u128, last: u128) -> Vec<IpNet> {
    let (a, b) = match v6 {
        false => (IpAddr::V4(Ipv4Addr::from(first as u32)), IpAddr::V4(Ipv4Addr::from(last as u32))),
        true => (IpAddr::V6(Ipv6Addr::from(first)), IpAddr::V6(Ipv6Addr::from(last))),
    };
    doorman_config::net::cover(a, b).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    /// Examples read as real clients: a documentation address when the class holds one,
    /// never an address of `0.0.0.0/8`.
    #[test]
    fn a_representative_is_a_documentation_address_when_it_can_be() {
        let v4 = |a: &str, b: &str| IpInterval {
            v6: false,
            first: u32::from(a.parse::<Ipv4Addr>().unwrap()) as u128,
            last: u32::from(b.parse::<Ipv4Addr>().unwrap()) as u128,
        };
        let rep = |iv: IpInterval| iv.representative().to_string();
        assert_eq!(rep(v4("0.0.0.0", "80.66.19.255")), "1.0.0.10");
        assert_eq!(rep(v4("80.66.20.16", "255.255.255.255")), "203.0.113.10");
        assert_eq!(rep(v4("80.66.20.0", "80.66.20.15")), "80.66.20.0");
        assert_eq!(rep(v4("0.0.0.0", "0.0.0.255")), "0.0.0.0", "nothing better inside");
        let all_v6 = IpInterval { v6: true, first: MAPPED.1 + 1, last: u128::MAX };
        assert_eq!(rep(all_v6), "2001:db8::10");
        for iv in [v4("0.0.0.0", "80.66.19.255"), v4("80.66.20.16", "255.255.255.255"), all_v6] {
            assert!(iv.contains(iv.representative()));
        }
    }

    #[test]
    fn intervals_cut_at_every_boundary() {
        let space = IpSpace::new(&[net("80.66.20.0/28"), net("80.66.20.8/32")]);
        let v4: Vec<String> = space
            .intervals
            .iter()
            .filter(|i| !i.v6)
            .map(|i| format!("{}-{}", to_ip(false, i.first), to_ip(false, i.last)))
            .collect();
        assert_eq!(
            v4,
            [
                "0.0.0.0-80.66.19.255",
                "80.66.20.0-80.66.20.7",
                "80.66.20.8-80.66.20.8",
                "80.66.20.9-80.66.20.15",
                "80.66.20.16-255.255.255.255"
            ]
        );
        assert_eq!(space.intervals[1].nets(), [net("80.66.20.0/29")]);
    }

    #[test]
    fn the_mapped_block_is_no_ipv6_interval() {
        let space = IpSpace::new(&[net("::/81")]);
        for iv in &space.intervals {
            let rep = iv.representative();
            assert_eq!(canonical_ip(rep), rep, "{iv:?}");
            assert!(!(iv.v6 && iv.first <= MAPPED.1 && iv.last >= MAPPED.0), "{iv:?} reaches into ::ffff:0:0/96");
        }
        // A mapped client is located by its IPv4 address.
        let i = space.locate("::ffff:203.0.113.9".parse().unwrap());
        assert!(!space.intervals[i].v6);
        let j = space.locate("::1:0:0:0".parse().unwrap());
        assert_eq!(space.intervals[j].first, MAPPED.1 + 1);
        assert_eq!(summarize(&space.intervals[j..]), "all IPv6 except ::/80");
        let all6: Vec<IpInterval> = space.intervals.iter().filter(|i| i.v6).copied().collect();
        assert_eq!(summarize(&all6), "all IPv6");
        assert_eq!(networks(&space.intervals[..1]), ["0.0.0.0/0"]);
    }

    #[test]
    fn summaries_pick_the_shorter_form() {
        let space = IpSpace::new(&[net("80.66.20.0/28")]);
        let outside: Vec<IpInterval> =
            space.intervals.iter().filter(|i| !i.v6 && !i.contains("80.66.20.1".parse().unwrap())).copied().collect();
        assert_eq!(summarize(&outside), "all IPv4 except 80.66.20.0/28");
        let inside: Vec<IpInterval> =
            space.intervals.iter().filter(|i| i.contains("80.66.20.1".parse().unwrap())).copied().collect();
        assert_eq!(summarize(&inside), "80.66.20.0/28");
        let listed = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10"].map(net);
        let space = IpSpace::new(&listed);
        let inside = |iv: &IpInterval| listed.iter().any(|n| n.contains(&iv.representative()));
        let private: Vec<IpInterval> = space.intervals.iter().copied().filter(inside).collect();
        assert_eq!(summarize(&private), "4 IPv4 networks", "more than three are counted");
        assert_eq!(networks(&private).len(), 4, "and listed in full");
        let rest: Vec<IpInterval> = space.intervals.iter().copied().filter(|iv| !iv.v6 && !inside(iv)).collect();
        assert_eq!(summarize(&rest), "all IPv4 except 4 networks");
    }
}
