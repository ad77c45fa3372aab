//! SMTP replies, and the exact texts of the replies the policy gives. Exchange Online's
//! wording is kept word for word, so that an administrator can search for it.

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use doorman_config::EnhancedCode;
use doorman_config::address::AddressError;
use serde::Serialize;

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Reply {
    pub code: u16,
    /// RFC 3463 code; absent only on the greeting and the first line of an EHLO reply.
    #[serde(serialize_with = "ser_code")]
    pub enhanced: Option<EnhancedCode>,
    /// Static for the fixed replies, so the common answers cost no allocation.
    pub text: Cow<'static, str>,
}

fn ser_code<S: serde::Serializer>(c: &Option<EnhancedCode>, s: S) -> Result<S::Ok, S::Error> {
    match c {
        Some(c) => s.collect_str(c),
        None => s.serialize_none(),
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.enhanced {
            Some(e) => write!(f, "{} {} {}", self.code, e, self.text),
            None => write!(f, "{} {}", self.code, self.text),
        }
    }
}

const fn code(class: u8, subject: u16, detail: u16) -> Option<EnhancedCode> {
    Some(EnhancedCode { class, subject, detail })
}

/// `[192.0.2.1]` or `[2001:db8::1]`, as Exchange writes client hosts.
struct Bracketed(IpAddr);

impl fmt::Display for Bracketed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}]", self.0)
    }
}

impl Reply {
    pub fn new(code: u16, enhanced: Option<EnhancedCode>, text: impl Into<Cow<'static, str>>) -> Reply {
        Reply { code, enhanced, text: text.into() }
    }

    /// 2xx or 3xx.
    pub fn is_positive(&self) -> bool {
        self.code < 400
    }

    pub fn is_transient(&self) -> bool {
        (400..500).contains(&self.code)
    }

    pub fn is_permanent(&self) -> bool {
        self.code >= 500
    }

    // -- connect --------------------------------------------------------------------------

    pub fn greeting(hostname: &str) -> Reply {
        Reply::new(220, None, format!("{hostname} ESMTP doorman ready"))
    }

    pub fn untrusted_proxy() -> Reply {
        Reply::new(
            421,
            code(4, 7, 0),
            "PROXY protocol header from a peer that is not a trusted proxy, closing connection",
        )
    }

    /// A trusted proxy's header that cannot be read; `why` says what was wrong with it.
    pub fn malformed_proxy_header(why: &str) -> Reply {
        // `why` may come from the wire: it must not break the reply line.
        let why: String = why.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
        Reply::new(
            421,
            code(4, 7, 0),
            format!("Malformed PROXY protocol header from a trusted proxy: {why}; closing connection"),
        )
    }

    /// A trusted proxy that sent no header: its own address is not a client's.
    pub fn missing_proxy_header() -> Reply {
        Reply::new(421, code(4, 7, 0), "A trusted proxy must send a PROXY protocol header, closing connection")
    }

    pub fn too_many_connections() -> Reply {
        Reply::new(
            421,
            code(4, 3, 2),
            "The maximum number of concurrent server connections has exceeded a limit, closing transmission channel",
        )
    }

    pub fn too_many_connections_from(ip: IpAddr) -> Reply {
        Reply::new(
            421,
            code(4, 3, 2),
            format!("Too many concurrent connections from {}, closing transmission channel", Bracketed(ip)),
        )
    }

    pub fn too_many_connections_from_network(network: ipnet::IpNet) -> Reply {
        Reply::new(
            421,
            code(4, 3, 2),
            format!("Too many concurrent connections from network {network}, closing transmission channel"),
        )
    }

    // -- EHLO, MAIL -----------------------------------------------------------------------

    pub fn hello(hostname: &str, client: IpAddr) -> Reply {
        Reply::new(250, None, format!("{hostname} Hello {}", Bracketed(client)))
    }

    /// EHLO or HELO without a name; `esmtp` is true for EHLO.
    pub fn helo_syntax(esmtp: bool) -> Reply {
        Reply::new(501, code(5, 5, 4), if esmtp { "Syntax: EHLO hostname" } else { "Syntax: HELO hostname" })
    }

    /// A non-ASCII path at MAIL or RCPT in a transaction without SMTPUTF8 (RFC 6531).
    pub fn smtputf8_required() -> Reply {
        Reply::new(553, code(5, 6, 7), "Non-ASCII address requires the SMTPUTF8 parameter")
    }

    pub fn sender_ok() -> Reply {
        Reply::new(250, code(2, 1, 0), "Sender OK")
    }

    pub fn bad_sender_syntax(why: &AddressError) -> Reply {
        Reply::new(501, code(5, 1, 7), format!("Bad sender address syntax: {why}"))
    }

    pub fn message_too_big() -> Reply {
        Reply::new(552, code(5, 3, 4), "Message size exceeds fixed maximum message size")
    }

    // -- RCPT, in the order the checks run -------------------------------------------------

    pub fn recipient_ok() -> Reply {
        Reply::new(250, code(2, 1, 5), "Recipient OK")
    }

    pub fn too_many_recipients() -> Reply {
        Reply::new(452, code(4, 5, 3), "Too many recipients")
    }

    /// Whether the reply counts towards a session's error limit. The recipient limit's 452
    /// does not: RFC 5321 (4.5.3.1.10) expects the client to send the rest of its recipients
    /// in a later transaction, and the ones accepted so far must still get the message.
    pub fn counts_as_error(&self) -> bool {
        self.code >= 400 && !(self.code == 452 && self.enhanced == code(4, 5, 3))
    }

    pub fn bad_recipient_syntax(why: &AddressError) -> Reply {
        Reply::new(501, code(5, 1, 3), format!("Bad recipient address syntax: {why}"))
    }

    /// 1. No tenant accepts the recipient domain.
    pub fn relay_denied() -> Reply {
        Reply::new(550, code(5, 7, 64), "TenantAttribution; Relay Access Denied")
    }

    /// 2. The tenant's IP block list holds the client and its allow list does not.
    pub fn customer_block_list(ip: IpAddr, domain: &str) -> Reply {
        Reply::new(
            550,
            code(5, 7, 513),
            format!("Service unavailable, Client host {} blocked by {domain} using Customer Block list", Bracketed(ip)),
        )
    }

    /// 3. A restricting Partner connector covers the sender, and the client does not satisfy it.
    pub fn partner_connector_restricted() -> Reply {
        Reply::new(
            550,
            code(5, 7, 51),
            "TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set",
        )
    }

    /// 4. The matched connector requires TLS and the session has none.
    pub fn must_issue_starttls() -> Reply {
        Reply::new(530, code(5, 7, 0), "Must issue a STARTTLS command first")
    }

    /// 5. Anonymous mail from one of the tenant's own domains, with `reject_direct_send` on.
    pub fn direct_send_not_allowed() -> Reply {
        Reply::new(
            550,
            code(5, 7, 68),
            "TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources",
        )
    }

    /// 6. Not in the directory of an authoritative domain.
    pub fn recipient_access_denied() -> Reply {
        Reply::new(550, code(5, 4, 1), "Recipient address rejected: Access denied")
    }

    /// 7. Listed in a DNS block list.
    pub fn dnsbl_listed(ip: IpAddr, zone: &str) -> Reply {
        Reply::new(
            550,
            code(5, 7, 1),
            format!("Service unavailable, Client host {} blocked using {zone}", Bracketed(ip)),
        )
    }

    /// 7. The DNS block list could not be asked: try later rather than let a listed client in.
    pub fn dnsbl_unavailable(ip: IpAddr, zone: &str) -> Reply {
        Reply::new(
            451,
            code(4, 4, 3),
            format!("Temporary failure checking client host {} against {zone}, try again later", Bracketed(ip)),
        )
    }

    // -- DATA -------------------------------------------------------------------------------

    pub fn no_valid_recipients() -> Reply {
        Reply::new(554, code(5, 5, 1), "No valid recipients")
    }

    pub fn too_many_hops() -> Reply {
        Reply::new(554, code(5, 4, 6), "Too many hops: Received header count exceeded, possible mail loop")
    }

    /// The sender's domain publishes DMARC `p=reject` and the message failed it (EOP's reply).
    pub fn dmarc_reject(domain: &str) -> Reply {
        Reply::new(
            550,
            code(5, 7, 509),
            format!(
                "Access denied, sending domain {} does not pass DMARC verification and has a DMARC policy of reject",
                domain.to_ascii_uppercase()
            ),
        )
    }

    /// The spam filter could not scan a message that needed it: the client keeps it and
    /// tries again.
    pub fn spam_filter_unavailable() -> Reply {
        Reply::new(451, code(4, 7, 0), "Temporary error: the message could not be scanned for spam, try again later")
    }

    pub fn rule_reject(enhanced: EnhancedCode, text: &str) -> Reply {
        Reply::new(550, Some(enhanced), text.to_string())
    }
}
