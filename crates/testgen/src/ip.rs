//! IP entries as a config writes them (an address, a CIDR of any length, a range, in either
//! family and in the IPv4-mapped form), and the boundary addresses sessions aim at.
//!
//! Entries are kept as structured values, not text, so the session generator can compute
//! each entry's first and last address itself: the generator must not borrow the code under
//! test to find the boundaries it is meant to probe.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::option;
use proptest::prelude::*;
use proptest::sample::select;
use serde::{Serialize, Serializer};

use crate::pools::ENTRY_NAMES;

/// One entry of an IP list: connectors, the connection filter, rules, MX addresses and
/// trusted proxies all take the same form.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GenIpEntry {
    pub form: IpForm,
    /// Written as `{ ip = "…", name = "…" }` when set.
    pub name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IpForm {
    Address(IpAddr),
    /// A CIDR; the address may have host bits set (a warning, not an error).
    Network(IpAddr, u8),
    /// `lo-hi`, inclusive; both ends fold to the same family.
    Range(IpAddr, IpAddr),
}

impl IpForm {
    /// The entry as written in the config.
    pub fn text(&self) -> String {
        match self {
            IpForm::Address(a) => a.to_string(),
            IpForm::Network(a, len) => format!("{a}/{len}"),
            IpForm::Range(lo, hi) => format!("{lo}-{hi}"),
        }
    }

    /// The first and last address covered, in the family the entry is written in (so an
    /// IPv4-mapped network gives IPv4-mapped addresses).
    pub fn span(&self) -> (IpAddr, IpAddr) {
        match *self {
            IpForm::Address(a) => (a, a),
            IpForm::Range(lo, hi) => (lo, hi),
            IpForm::Network(IpAddr::V4(a), len) => {
                let host = u32::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let first = u32::from(a) & !host;
                (IpAddr::V4(first.into()), IpAddr::V4((first | host).into()))
            }
            IpForm::Network(IpAddr::V6(a), len) => {
                let host = u128::MAX.checked_shr(u32::from(len)).unwrap_or(0);
                let first = u128::from(a) & !host;
                (IpAddr::V6(first.into()), IpAddr::V6((first | host).into()))
            }
        }
    }
}

impl Serialize for GenIpEntry {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Table<'a> {
            ip: String,
            name: &'a str,
        }
        match &self.name {
            None => s.serialize_str(&self.form.text()),
            Some(name) => Table { ip: self.form.text(), name }.serialize(s),
        }
    }
}

/// An address as a number in its own family, for ±1 and midpoints.
fn to_num(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (true, u128::from(u32::from(a))),
        IpAddr::V6(a) => (false, u128::from(a)),
    }
}

fn from_num(v4: bool, n: u128) -> IpAddr {
    if v4 { IpAddr::V4(Ipv4Addr::from(n as u32)) } else { IpAddr::V6(Ipv6Addr::from(n)) }
}

/// First, last and middle address of a span, and the addresses just outside it.
pub fn boundaries(lo: IpAddr, hi: IpAddr) -> Vec<IpAddr> {
    let ((v4, a), (_, b)) = (to_num(lo), to_num(hi));
    let max = if v4 { u128::from(u32::MAX) } else { u128::MAX };
    let mut out = vec![lo, hi, from_num(v4, a + (b - a) / 2)];
    if a > 0 {
        out.push(from_num(v4, a - 1));
    }
    if b < max {
        out.push(from_num(v4, b + 1));
    }
    out
}

/// The other spelling of the same client: IPv4 as IPv4-mapped IPv6 and back.
pub fn other_form(ip: IpAddr) -> Option<IpAddr> {
    match ip {
        IpAddr::V4(a) => Some(IpAddr::V6(a.to_ipv6_mapped())),
        IpAddr::V6(a) => a.to_ipv4_mapped().map(IpAddr::V4),
    }
}

const V4_ANCHORS: &[Ipv4Addr] = &[
    Ipv4Addr::new(80, 66, 20, 0),
    Ipv4Addr::new(203, 0, 113, 0),
    Ipv4Addr::new(192, 0, 2, 0),
    Ipv4Addr::new(10, 0, 0, 0),
    Ipv4Addr::new(198, 51, 100, 0),
    Ipv4Addr::new(0, 0, 0, 0),
    Ipv4Addr::new(255, 255, 255, 0),
];

/// Around the documentation prefix, and on both sides of `::ffff:0:0/96`, where IPv6 turns
/// into IPv4: `::fffe:…` is just below it, `::1:0:0:0` just above.
const V6_ANCHORS: &[Ipv6Addr] = &[
    Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0),
    Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 0),
    Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0xffff, 0xffff, 0xffff, 0xffff, 0xff00),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xfffe, 0, 0),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0xfffe, 0xffff, 0xff00),
    Ipv6Addr::new(0, 0, 0, 0, 1, 0, 0, 0),
    Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 0),
    Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0),
];

const MAPPED_FIRST: u128 = 0xffff_0000_0000;
const MAPPED_LAST: u128 = 0xffff_ffff_ffff;

fn v4_offset() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), 0u32..16, 0u32..256, Just(255u32)]
}

/// Mostly near an anchor, sometimes anywhere.
pub fn v4_addr() -> impl Strategy<Value = Ipv4Addr> {
    prop_oneof![
        5 => (select(V4_ANCHORS), v4_offset()).prop_map(|(a, o)| Ipv4Addr::from(u32::from(a).saturating_add(o))),
        1 => any::<u32>().prop_map(Ipv4Addr::from),
    ]
}

/// Mostly near an anchor, sometimes anywhere; never IPv4-mapped (see [`mapped_addr`]).
pub fn v6_addr() -> impl Strategy<Value = Ipv6Addr> {
    prop_oneof![
        5 => (select(V6_ANCHORS), prop_oneof![Just(0u128), 0u128..16, 0u128..0x1_0000])
            .prop_map(|(a, o)| Ipv6Addr::from(u128::from(a).saturating_add(o))),
        1 => any::<u128>().prop_map(Ipv6Addr::from),
    ]
    .prop_map(|a| if a.to_ipv4_mapped().is_some() { Ipv6Addr::from(u128::from(a) ^ (1 << 32)) } else { a })
}

/// `::ffff:a.b.c.d`: the same client as `a.b.c.d`, as a dual-stack socket shows it.
pub fn mapped_addr() -> impl Strategy<Value = Ipv6Addr> {
    v4_addr().prop_map(|a| a.to_ipv6_mapped())
}

fn v4_len() -> impl Strategy<Value = u8> {
    prop_oneof![3 => select(&[0u8, 8, 16, 24, 25, 28, 29, 30, 31, 32][..]), 1 => 0u8..=32]
}

fn v6_len() -> impl Strategy<Value = u8> {
    prop_oneof![3 => select(&[0u8, 16, 32, 48, 64, 95, 96, 104, 112, 120, 124, 127, 128][..]), 1 => 0u8..=128]
}

/// A CIDR with host bits cleared, except now and then (which means the same network).
fn network(addr: IpAddr, len: u8, keep_host_bits: bool) -> IpForm {
    let net = IpForm::Network(addr, len);
    if keep_host_bits {
        return net;
    }
    IpForm::Network(net.span().0, len)
}

fn host_bits() -> impl Strategy<Value = bool> {
    prop::bool::weighted(0.1)
}

fn span_v4() -> impl Strategy<Value = u32> {
    prop_oneof![Just(0u32), Just(1u32), Just(6u32), Just(15u32), Just(255u32), any::<u16>().prop_map(u32::from)]
}

/// A range whose ends fold to one family: below the mapped block it stays below it, inside
/// it it stays inside.
fn v6_range(lo: Ipv6Addr, span: u128) -> IpForm {
    let a = u128::from(lo);
    let mut b = a.saturating_add(span);
    if a < MAPPED_FIRST && (MAPPED_FIRST..=MAPPED_LAST).contains(&b) {
        b = MAPPED_FIRST - 1;
    } else if (MAPPED_FIRST..=MAPPED_LAST).contains(&a) && b > MAPPED_LAST {
        b = MAPPED_LAST;
    }
    IpForm::Range(IpAddr::V6(lo), IpAddr::V6(b.into()))
}

/// Ranges the random draws would seldom hit: ending just below the mapped block, starting
/// just above it, and one across it written in plain IPv6.
const SPECIAL_RANGES: &[(&str, &str)] = &[
    ("::fffe:0:0", "::fffe:ffff:ffff"),
    ("::1:0:0:0", "::1:0:0:ff"),
    ("::fffe:ffff:ff00", "::1:0:0:ff"),
    ("::ffff:80.66.20.0", "::ffff:80.66.20.15"),
    ("0.0.0.0", "255.255.255.255"),
];

const SPECIAL_NETWORKS: &[(&str, u8)] = &[
    ("0.0.0.0", 0),
    ("::", 0),
    ("::fffe:0:0", 96),
    ("::ffff:0:0", 96),
    ("::ffff:80.66.20.0", 124),
    ("::ffff:0:0", 95),
    ("2001:db8::", 32),
];

fn special() -> impl Strategy<Value = IpForm> {
    let parse = |s: &str| s.parse::<IpAddr>().expect("a pool address");
    prop_oneof![
        select(SPECIAL_RANGES).prop_map(move |(lo, hi)| IpForm::Range(parse(lo), parse(hi))),
        select(SPECIAL_NETWORKS).prop_map(move |(a, len)| IpForm::Network(parse(a), len)),
    ]
}

/// Any form in either family, weighted towards IPv4 networks as administrators write them.
pub fn ip_form() -> impl Strategy<Value = IpForm> {
    prop_oneof![
        4 => (v4_addr(), v4_len(), host_bits()).prop_map(|(a, l, h)| network(IpAddr::V4(a), l, h)),
        2 => v4_addr().prop_map(|a| IpForm::Address(IpAddr::V4(a))),
        2 => (v6_addr(), v6_len(), host_bits()).prop_map(|(a, l, h)| network(IpAddr::V6(a), l, h)),
        1 => v6_addr().prop_map(|a| IpForm::Address(IpAddr::V6(a))),
        1 => (mapped_addr(), v4_len(), host_bits()).prop_map(|(a, l, h)| network(IpAddr::V6(a), 96 + l, h)),
        1 => mapped_addr().prop_map(|a| IpForm::Address(IpAddr::V6(a))),
        2 => (v4_addr(), span_v4()).prop_map(|(a, s)| {
            IpForm::Range(IpAddr::V4(a), IpAddr::V4(u32::from(a).saturating_add(s).into()))
        }),
        1 => (mapped_addr(), span_v4()).prop_map(|(a, s)| {
            let hi = (u128::from(a) + u128::from(s)).min(MAPPED_LAST);
            IpForm::Range(IpAddr::V6(a), IpAddr::V6(hi.into()))
        }),
        1 => (v6_addr(), prop_oneof![Just(0u128), 0u128..0x100, any::<u64>().prop_map(u128::from)])
            .prop_map(|(a, s)| v6_range(a, s)),
        2 => special(),
    ]
}

/// An entry, now and then as a table with a name.
pub fn ip_entry() -> impl Strategy<Value = GenIpEntry> {
    (ip_form(), option::weighted(0.15, select(ENTRY_NAMES)))
        .prop_map(|(form, name)| GenIpEntry { form, name: name.map(str::to_string) })
}

/// A connection-filter entry: sometimes everything, `0.0.0.0/0` or `::/0`.
pub fn filter_entry() -> impl Strategy<Value = GenIpEntry> {
    let all = |a: &str| GenIpEntry { form: IpForm::Network(a.parse().expect("a pool address"), 0), name: None };
    prop_oneof![8 => ip_entry(), 1 => Just(all("0.0.0.0")), 1 => Just(all("::"))]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn spans_and_boundaries() {
        let net = IpForm::Network(ip("80.66.20.12"), 28);
        assert_eq!(net.span(), (ip("80.66.20.0"), ip("80.66.20.15")));
        assert_eq!(
            boundaries(ip("80.66.20.0"), ip("80.66.20.15")),
            [ip("80.66.20.0"), ip("80.66.20.15"), ip("80.66.20.7"), ip("80.66.19.255"), ip("80.66.20.16")]
        );
        assert_eq!(IpForm::Network(ip("::"), 0).span().1, ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"));
        assert_eq!(IpForm::Network(ip("10.1.2.3"), 0).span(), (ip("0.0.0.0"), ip("255.255.255.255")));
        assert_eq!(boundaries(ip("0.0.0.0"), ip("255.255.255.255")).len(), 3);
        let mapped = IpForm::Network(ip("::ffff:80.66.20.0"), 124);
        assert_eq!(mapped.span(), (ip("::ffff:80.66.20.0"), ip("::ffff:80.66.20.15")));
        assert_eq!(mapped.text(), "::ffff:80.66.20.0/124");
        assert_eq!(other_form(ip("::ffff:80.66.20.1")), Some(ip("80.66.20.1")));
        assert_eq!(other_form(ip("2001:db8::1")), None);
    }

    #[test]
    fn v6_ranges_never_straddle_the_mapped_block() {
        let r = v6_range("::fffe:ffff:ffff".parse().unwrap(), 5);
        assert_eq!(r, IpForm::Range(ip("::fffe:ffff:ffff"), ip("::fffe:ffff:ffff")));
        let r = v6_range("::ffff:255.255.255.250".parse().unwrap(), 100);
        assert_eq!(r, IpForm::Range(ip("::ffff:255.255.255.250"), ip("::ffff:255.255.255.255")));
    }
}
