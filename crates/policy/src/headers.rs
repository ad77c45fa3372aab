//! The message headers transport rules look at, parsed by `mail-parser` (RFC 2047 words
//! decoded, `From:` parsed as an address list). The engine sees headers only, never the body.

use doorman_config::address::parse_domain_name;
use mail_parser::{HeaderValue, MessageParser};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MessageHeaders {
    /// (lower-case name, decoded value), in message order.
    fields: Vec<(String, String)>,
    from_domain: Option<String>,
    /// Bytes of the header block, its empty line included.
    size: u64,
}

impl MessageHeaders {
    /// Parses a header block (the message up to the first empty line; anything after is ignored).
    pub fn parse(raw: &[u8]) -> MessageHeaders {
        let size = raw.windows(4).position(|w| w == b"\r\n\r\n").map_or(raw.len(), |i| i + 4) as u64;
        let Some(message) = MessageParser::default().parse_headers(raw) else {
            return MessageHeaders { size, ..MessageHeaders::default() };
        };
        let fields = message
            .headers()
            .iter()
            .zip(message.headers_raw())
            .map(|(h, (_, raw))| {
                let value = match &h.value {
                    HeaderValue::Text(t) => t.to_string(),
                    HeaderValue::TextList(list) => list.join(", "),
                    _ => raw.trim().to_string(),
                };
                (h.name.as_str().to_ascii_lowercase(), value)
            })
            .collect();
        let from_domain = message
            .from()
            .and_then(|list| list.first())
            .and_then(|addr| addr.address())
            .and_then(|a| a.rsplit_once('@'))
            .and_then(|(_, d)| parse_domain_name(d).ok());
        MessageHeaders { fields, from_domain, size }
    }

    /// Builds headers from `Name: value` pairs (as `explain --header` takes them).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> MessageHeaders {
        let mut raw = String::new();
        for (name, value) in pairs {
            raw.push_str(name.trim());
            raw.push_str(": ");
            raw.push_str(value.trim());
            raw.push_str("\r\n");
        }
        raw.push_str("\r\n");
        MessageHeaders::parse(raw.as_bytes())
    }

    /// Decoded values of every header called `name` (case-insensitive).
    pub fn values<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        let name = name.to_ascii_lowercase();
        self.fields.iter().filter(move |(n, _)| *n == name).map(|(_, v)| v.as_str())
    }

    /// Bytes of the header block as parsed, its empty line included: the size of a message
    /// with these headers and no body.
    pub fn block_size(&self) -> u64 {
        self.size
    }

    /// The domain of the first `From:` address, lower case.
    pub fn from_domain(&self) -> Option<&str> {
        self.from_domain.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_and_finds_from() {
        let h = MessageHeaders::parse(
            b"From: \"Alice\" <alice@Contoso.COM>\r\nSubject: =?utf-8?q?Rechnung_f=C3=BCr_Mai?=\r\nX-Tag: one\r\nX-Tag: two\r\n\r\nbody: not a header\r\n",
        );
        assert_eq!(h.from_domain(), Some("contoso.com"));
        assert_eq!(h.values("subject").collect::<Vec<_>>(), ["Rechnung für Mai"]);
        assert_eq!(h.values("X-TAG").collect::<Vec<_>>(), ["one", "two"]);
        assert_eq!(h.values("body").count(), 0);
        assert_eq!(h.block_size(), 105);
    }

    #[test]
    fn from_pairs_and_garbage() {
        let h = MessageHeaders::from_pairs([("From", "bob@example.net"), ("Subject", "hi")]);
        assert_eq!(h.from_domain(), Some("example.net"));
        assert_eq!(h.block_size(), "From: bob@example.net\r\nSubject: hi\r\n\r\n".len() as u64);
        assert_eq!(MessageHeaders::parse(b"").from_domain(), None);
        assert_eq!(MessageHeaders::parse(b"From: not an address\r\n\r\n").from_domain(), None);
    }
}
