//! IP entries as administrators write them: an address, a CIDR of any length, or a range
//! `a-b`, optionally as a table with a name and a comment.
//!
//! Every entry is turned into the exact set of networks it covers, so matching code only ever
//! sees prefixes. IPv4-mapped IPv6 (`::ffff:a.b.c.d`) is folded into IPv4 here, because a
//! client reaching a dual-stack socket shows up that way and must match the same entries.

use std::fmt;
use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// How an entry was written; the semantic checks use it to suggest corrections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryForm {
    Address,
    /// A CIDR. `host_bits_set` is true for `10.1.2.3/8`, which means `10.0.0.0/8`.
    Network {
        host_bits_set: bool,
    },
    Range,
}

/// An IP entry is not an address, a network or a range.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum IpEntryError {
    #[error("{0:?} is not an IP address, network or range")]
    Entry(String),
    #[error("{0:?} is not an IP network")]
    Network(String),
    #[error("{0:?} is not an IP range")]
    Range(String),
    #[error("{text:?} is not an IP range: {source}")]
    RangeEnds { text: String, source: RangeError },
}

/// The two ends of a range do not make one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RangeError {
    #[error("the first address is above the last")]
    Reversed,
    #[error("both ends must be of the same address family")]
    MixedFamilies,
}

/// One allow-list, block-list, connector or rule entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpEntry {
    /// The entry as written, for messages and traces.
    pub text: String,
    /// The networks that together cover exactly this entry (one, except for ranges).
    pub nets: Vec<IpNet>,
    pub form: EntryForm,
    pub name: Option<String>,
    pub comment: Option<String>,
}

impl IpEntry {
    /// Parses `1.2.3.4`, `1.2.3.0/24`, `2001:db8::/32` or `1.2.3.4-1.2.3.20`.
    pub fn parse(text: &str) -> Result<IpEntry, IpEntryError> {
        let trimmed = text.trim();
        let (nets, form) = if let Some((lo, hi)) = trimmed.split_once('-') {
            let range = || IpEntryError::Range(text.to_string());
            let lo = parse_addr(lo.trim()).ok_or_else(range)?;
            let hi = parse_addr(hi.trim()).ok_or_else(range)?;
            let nets =
                range_to_nets(lo, hi).map_err(|source| IpEntryError::RangeEnds { text: text.to_string(), source })?;
            (nets, EntryForm::Range)
        } else if let Some((addr, len)) = trimmed.split_once('/') {
            let network = || IpEntryError::Network(text.to_string());
            let addr = parse_addr(addr.trim()).ok_or_else(network)?;
            let len: u8 = len.trim().parse().map_err(|_| network())?;
            let net = make_net(addr, len).ok_or_else(network)?;
            let host_bits_set = net != net.trunc();
            (vec![net.trunc()], EntryForm::Network { host_bits_set })
        } else {
            let addr = parse_addr(trimmed).ok_or_else(|| IpEntryError::Entry(text.to_string()))?;
            (vec![IpNet::from(canonical_ip(addr))], EntryForm::Address)
        };
        Ok(IpEntry { text: text.to_string(), nets, form, name: None, comment: None })
    }

    /// The corrected form of a CIDR written with host bits set (`10.1.2.3/8` → `10.0.0.0/8`).
    pub fn corrected(&self) -> Option<String> {
        match self.form {
            EntryForm::Network { host_bits_set: true } => Some(self.nets[0].to_string()),
            _ => None,
        }
    }

    /// True when any of the entry's networks holds `ip` (already canonical, see [`canonical_ip`]).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// A label for traces: the name when there is one, and the entry as written.
    pub fn label(&self) -> String {
        match &self.name {
            Some(name) => format!("{} ({name})", self.text.trim()),
            None => self.text.trim().to_string(),
        }
    }
}

impl fmt::Display for IpEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.text.trim())
    }
}

/// As written: the entry alone, or `{ ip, name, comment }` when it has a name or comment.
impl Serialize for IpEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        if self.name.is_none() && self.comment.is_none() {
            return s.serialize_str(self.text.trim());
        }
        let mut m = s.serialize_map(None)?;
        m.serialize_entry("ip", self.text.trim())?;
        if let Some(n) = &self.name {
            m.serialize_entry("name", n)?;
        }
        if let Some(c) = &self.comment {
            m.serialize_entry("comment", c)?;
        }
        m.end()
    }
}

/// The address a policy decision uses: IPv4-mapped IPv6 becomes plain IPv4.
pub fn canonical_ip(ip: IpAddr) -> IpAddr {
    ip.to_canonical()
}

fn parse_addr(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok()
}

/// Builds a network, folding `::ffff:0:0/96`-and-longer prefixes into IPv4.
fn make_net(addr: IpAddr, len: u8) -> Option<IpNet> {
    match addr {
        IpAddr::V4(a) => Ipv4Net::new(a, len).ok().map(IpNet::V4),
        IpAddr::V6(a) => match a.to_ipv4_mapped() {
            Some(v4) if len >= 96 => Ipv4Net::new(v4, len - 96).ok().map(IpNet::V4),
            _ => Ipv6Net::new(a, len).ok().map(IpNet::V6),
        },
    }
}

/// The smallest list of CIDRs that covers `lo..=hi` exactly, IPv4-mapped IPv6 folded into
/// IPv4 first (as the edge sees addresses).
pub fn range_to_nets(lo: IpAddr, hi: IpAddr) -> Result<Vec<IpNet>, RangeError> {
    cover(canonical_ip(lo), canonical_ip(hi))
}

/// The smallest list of CIDRs that covers `lo..=hi` exactly, the addresses taken as written
/// (ipnet's subnet enumeration).
pub fn cover(lo: IpAddr, hi: IpAddr) -> Result<Vec<IpNet>, RangeError> {
    match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => Ok(ipnet::Ipv4Subnets::new(a, b, 0).map(IpNet::V4).collect()),
        (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => Ok(ipnet::Ipv6Subnets::new(a, b, 0).map(IpNet::V6).collect()),
        (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => Err(RangeError::Reversed),
        _ => Err(RangeError::MixedFamilies),
    }
}

/// Accepts `"10.0.0.0/8"` or `{ ip = "10.0.0.0/8", name = "…", comment = "…" }`.
impl<'de> Deserialize<'de> for IpEntry {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = IpEntry;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an IP address, CIDR or range, or a table { ip, name, comment }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IpEntry, E> {
                IpEntry::parse(v).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IpEntry, A::Error> {
                let (mut entry, mut name, mut comment) = (None, None, None);
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        // Deserialising the value as its own type keeps the error's span on it.
                        "ip" => entry = Some(map.next_value::<IpEntryText>()?.0),
                        "name" => name = Some(map.next_value::<String>()?),
                        "comment" => comment = Some(map.next_value::<String>()?),
                        other => {
                            return Err(de::Error::unknown_field(other, &["ip", "name", "comment"]));
                        }
                    }
                }
                let mut entry = entry.ok_or_else(|| de::Error::missing_field("ip"))?;
                entry.name = name;
                entry.comment = comment;
                Ok(entry)
            }
        }
        d.deserialize_any(EntryVisitor)
    }
}

struct IpEntryText(IpEntry);

impl<'de> Deserialize<'de> for IpEntryText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        crate::names::from_str_with(d, |s| IpEntry::parse(s).map(IpEntryText))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(s: &str) -> Vec<String> {
        IpEntry::parse(s).unwrap().nets.iter().map(|n| n.to_string()).collect()
    }

    #[test]
    fn addresses_networks_and_ranges() {
        assert_eq!(nets("80.66.20.13"), ["80.66.20.13/32"]);
        assert_eq!(nets("2001:db8::1"), ["2001:db8::1/128"]);
        assert_eq!(nets("10.0.0.0/8"), ["10.0.0.0/8"]);
        assert_eq!(nets("0.0.0.0/0"), ["0.0.0.0/0"]);
        assert_eq!(nets("80.66.20.0-80.66.20.15"), ["80.66.20.0/28"]);
        assert_eq!(nets("10.0.0.1-10.0.0.6"), ["10.0.0.1/32", "10.0.0.2/31", "10.0.0.4/31", "10.0.0.6/32"]);
        assert_eq!(nets("0.0.0.0-255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(nets("::-ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"), ["::/0"]);
        assert_eq!(nets("2001:db8::-2001:db8::ff"), ["2001:db8::/120"]);
    }

    #[test]
    fn mapped_ipv6_folds_into_ipv4() {
        assert_eq!(nets("::ffff:80.66.20.13"), ["80.66.20.13/32"]);
        assert_eq!(nets("::ffff:80.66.20.0/124"), ["80.66.20.0/28"]);
    }

    #[test]
    fn host_bits_are_reported_with_the_corrected_form() {
        let e = IpEntry::parse("80.66.20.12/28").unwrap();
        assert_eq!(e.form, EntryForm::Network { host_bits_set: true });
        assert_eq!(e.corrected().as_deref(), Some("80.66.20.0/28"));
        assert!(e.contains("80.66.20.1".parse().unwrap()));
        assert_eq!(IpEntry::parse("80.66.20.0/28").unwrap().corrected(), None);
    }

    #[test]
    fn bad_entries_say_what_they_are_not() {
        assert_eq!(IpEntry::parse("10.0.0.0/33").unwrap_err().to_string(), "\"10.0.0.0/33\" is not an IP network");
        assert_eq!(
            IpEntry::parse("2001:db8::/129").unwrap_err().to_string(),
            "\"2001:db8::/129\" is not an IP network"
        );
        assert_eq!(
            IpEntry::parse("mail.contoso.com").unwrap_err().to_string(),
            "\"mail.contoso.com\" is not an IP address, network or range"
        );
        assert_eq!(
            IpEntry::parse("10.0.0.9-10.0.0.1").unwrap_err().to_string(),
            "\"10.0.0.9-10.0.0.1\" is not an IP range: the first address is above the last"
        );
        assert!(IpEntry::parse("10.0.0.1-2001:db8::1").unwrap_err().to_string().contains("same address family"));
    }
}
