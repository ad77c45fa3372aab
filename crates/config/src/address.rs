//! RFC 5321 paths: the addresses in `MAIL FROM` and `RCPT TO`, and in the directory.
//!
//! Relay decisions hang on which domain an address really names, so parsing is strict about
//! the forms spammers use to smuggle a foreign domain past a relay check:
//! a source route (`@relay:user@other.com`) is dropped and the final mailbox decides;
//! a quoted local part (`"user@other.com"@contoso.com`) stays a local part of contoso.com.
//! Whether `%` or `!` in a local part counts as a relay attempt is policy, not syntax; see
//! [`Mailbox::has_route_syntax`].

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use serde::Serialize;

/// A mailbox `local@domain`, normalised and held as one string, so that lookups borrow it:
/// the domain in lower case (an address literal as `[192.0.2.1]` or `[IPv6:2001:db8::1]`),
/// a quoted local part unescaped and unquoted when quoting was not needed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Mailbox {
    addr: String,
    /// Byte offset of the `@` that separates local part and domain.
    at: usize,
    /// The local part needs quotes to be written back.
    quoted: bool,
    literal: Option<IpAddr>,
}

impl Mailbox {
    /// The local part, unescaped. Case is kept: only the directory lookup folds it.
    pub fn local(&self) -> &str {
        &self.addr[..self.at]
    }

    /// The domain as written in canonical form: a lower-case name or a bracketed literal.
    pub fn domain(&self) -> &str {
        &self.addr[self.at + 1..]
    }

    /// The domain name; `None` for an address literal.
    pub fn domain_name(&self) -> Option<&str> {
        self.literal.is_none().then(|| self.domain())
    }

    pub fn domain_literal(&self) -> Option<IpAddr> {
        self.literal
    }

    /// `%` or `!` in an unquoted local part: the percent hack and bang paths, which some
    /// servers behind the edge still resolve to another domain.
    pub fn has_route_syntax(&self) -> bool {
        !self.quoted && self.local().contains(['%', '!'])
    }

    /// The key the directory is indexed by: `local@domain`, all lower case. Borrowed when the
    /// local part has no upper case, which is the common case.
    pub fn directory_key(&self) -> Cow<'_, str> {
        if self.local().chars().any(char::is_uppercase) {
            Cow::Owned(format!("{}@{}", self.local().to_lowercase(), self.domain()))
        } else {
            Cow::Borrowed(&self.addr)
        }
    }
}

impl fmt::Display for Mailbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.quoted {
            return f.write_str(&self.addr);
        }
        f.write_str("\"")?;
        for c in self.local().chars() {
            if c == '"' || c == '\\' {
                f.write_str("\\")?;
            }
            write!(f, "{c}")?;
        }
        write!(f, "\"@{}", self.domain())
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
            ReversePath::Mailbox(m) => m.domain_name(),
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

/// An address, domain or address literal is not valid RFC 5321 syntax.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AddressError {
    #[error("the address is empty")]
    Empty,
    #[error("the address has no @domain")]
    NoDomain,
    #[error("unbalanced angle brackets")]
    UnbalancedBrackets,
    #[error("a source route must end with ':'")]
    UnterminatedRoute,
    #[error("each hop of a source route starts with '@'")]
    RouteHop,
    #[error("a backslash at the end of a quoted local part")]
    TrailingBackslash,
    #[error("a control character in a quoted local part")]
    ControlCharacter,
    #[error("an unterminated quoted local part")]
    UnterminatedQuote,
    #[error("{0:?} is not a valid local part")]
    LocalPart(String),
    #[error("the local part is longer than {MAX_LOCAL} octets")]
    LocalPartTooLong,
    #[error("an address literal must end with ']'")]
    UnterminatedLiteral,
    /// The text between the brackets.
    #[error("[{0}] is not an address literal")]
    Literal(String),
    #[error("the domain is empty")]
    EmptyDomain,
    #[error("the domain is longer than {MAX_DOMAIN} octets")]
    DomainTooLong,
    #[error("{0:?} is not a valid domain name")]
    DomainName(String),
}

/// Parses a forward path, with or without angle brackets. A source route is dropped.
pub fn parse_mailbox(input: &str) -> Result<Mailbox, AddressError> {
    let inner = strip_brackets(input)?;
    if inner.is_empty() {
        return Err(AddressError::Empty);
    }
    let mailbox = strip_source_route(inner)?;
    // One allocation: the canonical form is never longer than the input plus a literal's tag.
    let mut addr = String::with_capacity(mailbox.len() + 8);
    let (quoted, rest) = parse_local_part(mailbox, &mut addr)?;
    let domain = rest.strip_prefix('@').ok_or(AddressError::NoDomain)?;
    let at = addr.len();
    addr.push('@');
    let literal = if !domain.starts_with('[') {
        push_domain_name(domain, &mut addr)?;
        None
    } else {
        match parse_domain(domain)? {
            Domain::Name(_) => unreachable!("a bracketed domain is a literal"),
            Domain::Literal(ip) => {
                match ip {
                    IpAddr::V4(a) => fmt::Write::write_fmt(&mut addr, format_args!("[{a}]")),
                    IpAddr::V6(a) => fmt::Write::write_fmt(&mut addr, format_args!("[IPv6:{a}]")),
                }
                .expect("writing to a String");
                Some(ip)
            }
        }
    };
    Ok(Mailbox { addr, at, quoted, literal })
}

/// Parses a reverse path: `<>` (or an empty string) is the null sender.
pub fn parse_reverse_path(input: &str) -> Result<ReversePath, AddressError> {
    let inner = strip_brackets(input)?;
    if inner.is_empty() {
        return Ok(ReversePath::Null);
    }
    parse_mailbox(inner).map(ReversePath::Mailbox)
}

fn strip_brackets(input: &str) -> Result<&str, AddressError> {
    // Only SMTP's own blanks: Unicode's (NEL, NBSP, …) would be trimmed here and kept inside
    // brackets, so the same address would not parse the same twice.
    let s = input.trim_matches([' ', '\t']);
    match (s.strip_prefix('<'), s.ends_with('>')) {
        (Some(rest), true) => Ok(&rest[..rest.len() - 1]),
        (None, false) => Ok(s),
        _ => Err(AddressError::UnbalancedBrackets),
    }
}

/// `@a.example,@b.example:user@c.example` → `user@c.example` (RFC 5321 4.1.2: ignore the route).
fn strip_source_route(s: &str) -> Result<&str, AddressError> {
    if !s.starts_with('@') {
        return Ok(s);
    }
    let (route, rest) = s.split_once(':').ok_or(AddressError::UnterminatedRoute)?;
    for hop in route.split(',') {
        let hop = hop.strip_prefix('@').ok_or(AddressError::RouteHop)?;
        parse_domain(hop)?;
    }
    Ok(rest)
}

/// RFC 5322 atext, plus any non-ASCII byte (RFC 6531 allows UTF-8 in local parts).
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b) || !b.is_ascii()
}

/// `atom *("." atom)`, in one pass over the bytes. No control character, C1 (`U+0085`, a line
/// break to some readers) included, is part of one.
fn is_dot_atom(s: &str) -> bool {
    if !s.is_ascii() && s.chars().any(char::is_control) {
        return false;
    }
    let mut prev = b'.';
    for b in s.bytes() {
        if b == b'.' {
            if prev == b'.' {
                return false;
            }
        } else if !is_atext(b) {
            return false;
        }
        prev = b;
    }
    prev != b'.'
}

/// Appends the unescaped local part to `out`; returns whether it needs quoting and the rest
/// of the input.
fn parse_local_part<'a>(s: &'a str, out: &mut String) -> Result<(bool, &'a str), AddressError> {
    let (quoted, rest) = if let Some(body) = s.strip_prefix('"') {
        let mut chars = body.char_indices();
        let end = loop {
            match chars.next() {
                // quoted-pairSMTP is a backslash and a printable character (RFC 5321
                // section 4.1.2; a tab is let through, as it is unescaped): an escaped
                // control character would print back as a bare one.
                Some((_, '\\')) => match chars.next() {
                    Some((_, c)) if c.is_control() && c != '\t' => return Err(AddressError::ControlCharacter),
                    Some((_, c)) => out.push(c),
                    None => return Err(AddressError::TrailingBackslash),
                },
                Some((i, '"')) => break i,
                Some((_, c)) if c.is_control() && c != '\t' => {
                    return Err(AddressError::ControlCharacter);
                }
                Some((_, c)) => out.push(c),
                None => return Err(AddressError::UnterminatedQuote),
            }
        };
        // `"alice"@x` is `alice@x`: quoting that changes nothing is dropped.
        (!is_dot_atom(out), &body[end + 1..])
    } else {
        let at = s.rfind('@').ok_or(AddressError::NoDomain)?;
        let local = &s[..at];
        if !is_dot_atom(local) {
            return Err(AddressError::LocalPart(local.to_string()));
        }
        out.push_str(local);
        (false, &s[at..])
    };
    if out.len() > MAX_LOCAL {
        return Err(AddressError::LocalPartTooLong);
    }
    Ok((quoted, rest))
}

/// The part after `@`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Domain {
    /// Lower case, without a trailing dot.
    Name(String),
    /// `[192.0.2.1]` or `[IPv6:2001:db8::1]`.
    Literal(IpAddr),
}

/// A domain or address literal. One trailing dot is accepted and dropped, as Postfix does.
pub fn parse_domain(s: &str) -> Result<Domain, AddressError> {
    if let Some(lit) = s.strip_prefix('[') {
        let lit = lit.strip_suffix(']').ok_or(AddressError::UnterminatedLiteral)?;
        let ip = match lit.get(..5) {
            Some(tag) if tag.eq_ignore_ascii_case("IPv6:") => {
                lit[5..].parse::<std::net::Ipv6Addr>().map(IpAddr::V6).ok()
            }
            _ => lit.parse::<std::net::Ipv4Addr>().map(IpAddr::V4).ok(),
        };
        return ip.map(Domain::Literal).ok_or_else(|| AddressError::Literal(lit.to_string()));
    }
    parse_domain_name(s).map(Domain::Name)
}

/// Labels of letters, digits, `-` and `_`, 1 to 63 long, not starting or ending with `-`; in
/// one pass over the bytes.
fn is_ascii_domain(name: &[u8]) -> bool {
    let (mut len, mut prev) = (0usize, b'.');
    for &b in name {
        if b == b'.' {
            if len == 0 || prev == b'-' {
                return false;
            }
            len = 0;
        } else {
            let ok = b.is_ascii_alphanumeric() || b == b'_' || (b == b'-' && len > 0);
            len += 1;
            if !ok || len > 63 {
                return false;
            }
        }
        prev = b;
    }
    len > 0 && prev != b'-'
}

/// A host or domain name in lower case, without a trailing dot.
pub fn parse_domain_name(s: &str) -> Result<String, AddressError> {
    let mut out = String::with_capacity(s.len());
    push_domain_name(s, &mut out)?;
    Ok(out)
}

/// Validates a domain name and appends it to `out` in lower case.
fn push_domain_name(s: &str, out: &mut String) -> Result<(), AddressError> {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err(AddressError::EmptyDomain);
    }
    if name.len() > MAX_DOMAIN {
        return Err(AddressError::DomainTooLong);
    }
    // A name is checked as it will be kept: lower case can add characters (`İ` is `i` and a
    // combining dot), and what is kept must parse again.
    let lower = (!name.is_ascii()).then(|| name.to_lowercase());
    let valid = match &lower {
        None => is_ascii_domain(name.as_bytes()),
        Some(lower) => {
            lower.len() <= MAX_DOMAIN
                && lower.split('.').all(|label| {
                    !label.is_empty()
                        && label.len() <= 63
                        && !label.starts_with('-')
                        && !label.ends_with('-')
                        && label.chars().all(|c| c.is_alphanumeric() || c == '-' || c == '_')
                })
        }
    };
    if !valid {
        return Err(AddressError::DomainName(s.to_string()));
    }
    match lower {
        None => {
            let start = out.len();
            out.push_str(name);
            out[start..].make_ascii_lowercase();
        }
        Some(lower) => out.push_str(&lower),
    }
    Ok(())
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
        assert_eq!(mb("alice@contoso.com.").domain(), "contoso.com");
        assert!(matches!(mb("Bob@x.com").directory_key(), Cow::Owned(k) if k == "bob@x.com"));
        assert!(matches!(mb("bob@X.com").directory_key(), Cow::Borrowed("bob@x.com")));
    }

    #[test]
    fn source_route_is_dropped_and_the_final_mailbox_decides() {
        let m = mb("<@contoso.com:user@other.com>");
        assert_eq!(m.domain_name(), Some("other.com"));
        let m = mb("<@a.example,@b.example:user@other.com>");
        assert_eq!(m.to_string(), "user@other.com");
        assert!(parse_mailbox("<@relay user@other.com>").is_err());
    }

    #[test]
    fn quoted_local_parts() {
        let m = mb("<\"user@other.com\"@contoso.com>");
        assert_eq!(m.domain(), "contoso.com");
        assert_eq!(m.local(), "user@other.com");
        assert!(m.quoted);
        assert_eq!(m.to_string(), "\"user@other.com\"@contoso.com");
        let m = mb("\"alice\"@contoso.com");
        assert!(!m.quoted);
        assert_eq!(m.to_string(), "alice@contoso.com");
        assert_eq!(mb(r#""a\"b"@x.com"#).local(), "a\"b");
        assert!(parse_mailbox("\"open@contoso.com").is_err());
        // Found by fuzzing: a C1 control and Unicode blanks, and a domain whose lower case
        // is not a name.
        assert!(parse_mailbox("<\u{85}alice@contoso.com>").is_err());
        assert_eq!(mb("\u{a0}alice@contoso.com").to_string(), "\u{a0}alice@contoso.com");
        assert_eq!(mb("<\u{a0}alice@contoso.com>").to_string(), "\u{a0}alice@contoso.com");
        assert!(parse_domain("İ.example").is_err());
        assert_eq!(parse_domain("Ä.example"), Ok(Domain::Name("ä.example".into())));
        // Found by fuzzing: an escaped control character was taken, and printed back bare.
        assert_eq!(parse_mailbox("\"q\\\u{1b}x\"@contoso.com"), Err(AddressError::ControlCharacter));
        assert_eq!(mb(r#""q\ x"@contoso.com"#).to_string(), "\"q x\"@contoso.com");
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
        assert_eq!(mb("u@[192.0.2.1]").domain_literal(), Some("192.0.2.1".parse().unwrap()));
        assert_eq!(mb("u@[192.0.2.1]").domain_name(), None);
        assert_eq!(mb("u@[IPv6:2001:DB8::1]").domain(), "[IPv6:2001:db8::1]");
        assert!(parse_mailbox("u@[999.0.0.1]").is_err());
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            "",
            "alice",
            "alice@",
            "@contoso.com",
            "a..b@x.com",
            "a@b@c.com",
            "a@-x.com",
            "<a@x.com",
            "a b@x.com",
            "a@x..com",
        ] {
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
