//! RFC 5321 paths: the addresses in `MAIL FROM` and `RCPT TO`, and in the directory.
//!
//! Relay decisions hang on which domain an address really names, so parsing is strict about
//! the forms spammers use to smuggle a foreign domain past a relay check:
//! a source route (`@relay:user@other.com`) is dropped and the final mailbox decides;
//! a quoted local part (`"user@other.com"@contoso.com`) stays a local part of contoso.com.
//! Whether `%` or `!` in a local part counts as a relay attempt is policy, not syntax; see
//! [`Mailbox::has_route_syntax`].

use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// The part after `@`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Domain {
    /// Lower case, without a trailing dot.
    Name(String),
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Literal(IpAddr),
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Domain::Name(n) => f.write_str(n),
            Domain::Literal(IpAddr::V4(a)) => write!(f, "[{a}]"),
            Domain::Literal(IpAddr::V6(a)) => write!(f, "[IPv6:{a}]"),
        }
    }
}

impl Domain {
    pub fn name(&self) -> Option<&str> {
        match self {
            Domain::Name(n) => Some(n),
            Domain::Literal(_) => None,
        }
    }
}

/// A mailbox `local@domain`, normalised: the domain in lower case, a quoted local part
/// unquoted when quoting was not needed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    /// The local part, unescaped. Case is kept: only the directory lookup folds it.
    pub local: String,
    /// True when the local part needs quotes to be written back.
    pub quoted: bool,
    pub domain: Domain,
}

impl Mailbox {
    /// `%` or `!` in an unquoted local part: the percent hack and bang paths, which some
    /// servers behind the edge still resolve to another domain.
    pub fn has_route_syntax(&self) -> bool {
        !self.quoted && self.local.contains(['%', '!'])
    }

    /// The key the directory is indexed by: `local@domain`, all lower case.
    pub fn directory_key(&self) -> String {
        format!("{}@{}", self.local.to_lowercase(), self.domain)
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.quoted {
            f.write_str("\"")?;
            for c in self.local.chars() {
                if c == '"' || c == '\\' {
                    f.write_str("\\")?;
                }
                write!(f, "{c}")?;
            }
            f.write_str("\"")?;
        } else {
            f.write_str(&self.local)?;
        }
        write!(f, "@{}", self.domain)
    }
}

impl Serialize for Mailbox {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The envelope sender: a mailbox, or `<>` for bounces.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ReversePath {
    Null,
    Mailbox(Mailbox),
}

impl ReversePath {
    /// The sender's domain name; `None` for the null sender and for address literals.
    pub fn domain(&self) -> Option<&str> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(m) => m.domain.name(),
        }
    }

    pub fn mailbox(&self) -> Option<&Mailbox> {
        match self {
            ReversePath::Null => None,
            ReversePath::Mailbox(m) => Some(m),
        }
    }
}

impl fmt::Display for ReversePath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReversePath::Null => f.write_str("<>"),
            ReversePath::Mailbox(m) => write!(f, "{m}"),
        }
    }
}

impl Serialize for ReversePath {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 255;

/// Parses a forward path, with or without angle brackets. A source route is dropped.
pub fn parse_mailbox(input: &str) -> Result<Mailbox, String> {
    let inner = strip_brackets(input)?;
    if inner.is_empty() {
        return Err("the address is empty".into());
    }
    let mailbox = strip_source_route(inner)?;
    let (local, quoted, rest) = parse_local_part(mailbox)?;
    let domain = rest.strip_prefix('@').ok_or("the address has no @domain")?;
    let domain = parse_domain(domain)?;
    Ok(Mailbox { local, quoted, domain })
}

/// Parses a reverse path: `<>` (or an empty string) is the null sender.
pub fn parse_reverse_path(input: &str) -> Result<ReversePath, String> {
    let inner = strip_brackets(input)?;
    if inner.is_empty() {
        return Ok(ReversePath::Null);
    }
    parse_mailbox(inner).map(ReversePath::Mailbox)
}

fn strip_brackets(input: &str) -> Result<&str, String> {
    let s = input.trim();
    match (s.strip_prefix('<'), s.ends_with('>')) {
        (Some(rest), true) => Ok(&rest[..rest.len() - 1]),
        (None, false) => Ok(s),
        _ => Err("unbalanced angle brackets".into()),
    }
}

/// `@a.example,@b.example:user@c.example` → `user@c.example` (RFC 5321 4.1.2: ignore the route).
fn strip_source_route(s: &str) -> Result<&str, String> {
    if !s.starts_with('@') {
        return Ok(s);
    }
    let (route, rest) = s.split_once(':').ok_or("a source route must end with ':'")?;
    for hop in route.split(',') {
        let hop = hop.strip_prefix('@').ok_or("each hop of a source route starts with '@'")?;
        parse_domain(hop)?;
    }
    Ok(rest)
}

fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

fn is_dot_atom(s: &str) -> bool {
    !s.is_empty() && s.split('.').all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Returns the unescaped local part, whether it needs quoting, and the rest of the input.
fn parse_local_part(s: &str) -> Result<(String, bool, &str), String> {
    let (local, quoted, rest) = if let Some(body) = s.strip_prefix('"') {
        let mut local = String::new();
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, c)) if c != '\r' && c != '\n' => local.push(c),
                    _ => return Err("a backslash at the end of a quoted local part".into()),
                },
                Some((i, '"')) => break i,
                Some((_, c)) if c.is_control() && c != '\t' => {
                    return Err("a control character in a quoted local part".into());
                }
                Some((_, c)) => local.push(c),
                None => return Err("an unterminated quoted local part".into()),
            }
        };
        // `"alice"@x` is `alice@x`: quoting that changes nothing is dropped.
        let quoted = !is_dot_atom(&local);
        (local, quoted, &body[end + 1..])
    } else {
        let at = s.rfind('@').ok_or("the address has no @domain")?;
        let local = &s[..at];
        if !is_dot_atom(local) {
            return Err(format!("{local:?} is not a valid local part"));
        }
        (local.to_string(), false, &s[at..])
    };
    if local.len() > MAX_LOCAL {
        return Err(format!("the local part is longer than {MAX_LOCAL} octets"));
    }
    Ok((local, quoted, rest))
}

/// A domain or address literal. One trailing dot is accepted and dropped, as Postfix does.
pub fn parse_domain(s: &str) -> Result<Domain, String> {
    if let Some(lit) = s.strip_prefix('[') {
        let lit = lit.strip_suffix(']').ok_or("an address literal must end with ']'")?;
        let ip = match lit.get(..5) {
            Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => lit[5..].parse::<std::net::Ipv6Addr>().map(IpAddr::V6).ok(),
            _ => lit.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).ok(),
        };
        return ip.map(Domain::Literal).ok_or_else(|| format!("[{lit}] is not an address literal"));
    }
    parse_domain_name(s).map(Domain::Name)
}

/// A host or domain name in lower case, without a trailing dot.
pub fn parse_domain_name(s: &str) -> Result<String, String> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err("the domain is empty".into());
    }
    if name.len() > MAX_DOMAIN {
        return Err(format!("the domain is longer than {MAX_DOMAIN} octets"));
    }
    for label in name.split('.') {
        let ok = !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_');
        if !ok {
            return Err(format!("{s:?} is not a valid domain name"));
        }
    }
    Ok(name.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mb(s: &str) -> Mailbox {
        parse_mailbox(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn plain_and_bracketed() {
        assert_eq!(mb("<alice@contoso.com>").to_string(), "alice@contoso.com");
        assert_eq!(mb("Alice@CONTOSO.COM").to_string(), "Alice@contoso.com");
        assert_eq!(mb("Alice@CONTOSO.COM").directory_key(), "alice@contoso.com");
        assert_eq!(mb("alice@contoso.com.").domain, Domain::Name("contoso.com".into()));
    }

    #[test]
    fn source_route_is_dropped_and_the_final_mailbox_decides() {
        let m = mb("<@contoso.com:user@other.com>");
        assert_eq!(m.domain, Domain::Name("other.com".into()));
        let m = mb("<@a.example,@b.example:user@other.com>");
        assert_eq!(m.to_string(), "user@other.com");
        assert!(parse_mailbox("<@relay user@other.com>").is_err());
    }

    #[test]
    fn quoted_local_parts() {
        let m = mb("<\"user@other.com\"@contoso.com>");
        assert_eq!(m.domain, Domain::Name("contoso.com".into()));
        assert_eq!(m.local, "user@other.com");
        assert!(m.quoted);
        assert_eq!(m.to_string(), "\"user@other.com\"@contoso.com");
        let m = mb("\"alice\"@contoso.com");
        assert!(!m.quoted);
        assert_eq!(m.to_string(), "alice@contoso.com");
        assert_eq!(mb(r#""a\"b"@x.com"#).local, "a\"b");
        assert!(parse_mailbox("\"open@contoso.com").is_err());
    }

    #[test]
    fn route_syntax_in_local_part() {
        assert!(mb("user%other.com@contoso.com").has_route_syntax());
        assert!(mb("other.com!user@contoso.com").has_route_syntax());
        // Quoting that changes nothing changes nothing here either.
        assert!(mb("\"user%other.com\"@contoso.com").has_route_syntax());
        assert!(!mb("alice@contoso.com").has_route_syntax());
    }

    #[test]
    fn literals() {
        assert_eq!(mb("u@[192.0.2.1]").domain, Domain::Literal("192.0.2.1".parse().unwrap()));
        assert_eq!(mb("u@[IPv6:2001:db8::1]").domain.to_string(), "[IPv6:2001:db8::1]");
        assert!(parse_mailbox("u@[999.0.0.1]").is_err());
    }

    #[test]
    fn rejects_garbage() {
        for bad in ["", "alice", "alice@", "@contoso.com", "a..b@x.com", "a@b@c.com", "a@-x.com", "<a@x.com", "a b@x.com", "a@x..com"] {
            assert!(parse_mailbox(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn reverse_path() {
        assert_eq!(parse_reverse_path("<>").unwrap(), ReversePath::Null);
        assert_eq!(parse_reverse_path("").unwrap(), ReversePath::Null);
        assert_eq!(parse_reverse_path("<bob@Example.NET>").unwrap().domain(), Some("example.net"));
    }
}
