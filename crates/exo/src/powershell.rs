//! The fix as Exchange Online PowerShell: the cmdlets that close what the audit found, within
//! Exchange Online's limits.
//!
//! An administrator pastes this into a shell that runs whatever it is given, and names come
//! from the tenant (a connector called `x$(Remove-Mailbox …)` is one `New-InboundConnector`
//! away). So a command is built as data ([`Command`]) and every string is written as a
//! single-quoted literal ([`literal`]), which PowerShell never expands. A name in a comment
//! is kept to one line ([`doorman_audit::render::one_line`]), and a command written commented out
//! has every physical line commented.

use doorman_audit::{Change, FindingCode, Restriction, TenantAudit};
use serde::Serialize;

/// A parameter's value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    /// A multi-valued property: `'a','b'`.
    Texts(Vec<String>),
    Bool(bool),
    Null,
}

/// One cmdlet call, and why it is there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Command {
    /// The finding's code (`side_door`, `direct_send_open`, `scl_bypass_by_sender_domain`).
    pub closes: FindingCode,
    /// The rule or connector the finding is about.
    pub subject: Option<String>,
    pub why: String,
    pub cmdlet: &'static str,
    pub params: Vec<(&'static str, Arg)>,
    /// False when a value must be filled in first: the command is then written commented out.
    pub runnable: bool,
    /// What Exchange Online cannot express, said after the command.
    pub warning: Option<String>,
}

/// A command as `--json` gives it.
#[derive(Debug, Serialize)]
pub struct CommandJson<'a> {
    pub closes: FindingCode,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<&'a str>,
    pub why: &'a str,
    pub command: String,
    pub runnable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub warning: Option<&'a str>,
}

/// The quote characters PowerShell's tokenizer takes for `'`: ASCII and the four typographic
/// single quotes. Inside a literal each is written twice.
const SINGLE_QUOTES: [char; 5] = ['\'', '\u{2018}', '\u{2019}', '\u{201A}', '\u{201B}'];

/// `s` as a PowerShell single-quoted literal: nothing in it is expanded (`$`, `` ` ``, `"`,
/// `$(…)`, line breaks), and each quote character is doubled.
pub fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if SINGLE_QUOTES.contains(&c) {
            out.push(c);
        }
        out.push(c);
    }
    out.push('\'');
    out
}

impl Arg {
    fn render(&self) -> String {
        match self {
            Arg::Text(s) => literal(s),
            Arg::Texts(items) => items.iter().map(|s| literal(s)).collect::<Vec<_>>().join(","),
            Arg::Bool(true) => "$true".into(),
            Arg::Bool(false) => "$false".into(),
            Arg::Null => "$null".into(),
        }
    }
}

impl Command {
    /// The command line. Switches such as `-Confirm` take their value after a colon.
    pub fn line(&self) -> String {
        let mut out = self.cmdlet.to_string();
        for (name, arg) in &self.params {
            match (name.strip_suffix(':'), arg) {
                (Some(switch), _) => out.push_str(&format!(" -{switch}:{}", arg.render())),
                (None, _) => out.push_str(&format!(" -{name} {}", arg.render())),
            }
        }
        out
    }

    pub fn json(&self) -> CommandJson<'_> {
        CommandJson {
            closes: self.closes,
            subject: self.subject.as_deref(),
            why: &self.why,
            command: self.line(),
            runnable: self.runnable,
            warning: self.warning.as_deref(),
        }
    }
}

/// The commands that close what `t`'s audit found, in the order to run them.
pub fn fix(t: &TenantAudit) -> Vec<Command> {
    let mut out = Vec::new();
    for f in &t.fixes {
        match &f.change {
            Change::RestrictConnector { connector, by } => {
                let flag = match by {
                    Restriction::IpAddresses => "RestrictDomainsToIPAddresses",
                    Restriction::Certificate => "RestrictDomainsToCertificate",
                };
                out.push(Command {
                    closes: f.closes,
                    subject: Some(connector.clone()),
                    why: "Restrict the Partner connector for every sender domain to the gateway: everyone else gets 5.7.51."
                        .into(),
                    cmdlet: "Set-InboundConnector",
                    params: vec![("Identity", Arg::Text(connector.clone())), (flag, Arg::Bool(true))],
                    runnable: true,
                    warning: None,
                });
            }
            Change::GatewayConnector { sender_ip_addresses, gateway_certificate } => {
                out.push(gateway_connector(f.closes, sender_ip_addresses, gateway_certificate.as_deref()))
            }
            Change::RejectDirectSend => out.push(reject_direct_send(f.closes)),
        }
    }
    // The gateway's IPv4 ranges, which a rule can be keyed on instead of a sender domain.
    let v4: Vec<String> = t.gateway.iter().filter(|g| !g.contains(':')).cloned().collect();
    for rule in t.findings.iter().filter(|f| f.code == FindingCode::SclBypassBySenderDomain) {
        let Some(name) = rule.subject.clone() else { continue };
        out.push(if v4.is_empty() {
            Command {
                closes: rule.code,
                subject: Some(name.clone()),
                why: "This rule skips spam filtering for a forgeable sender domain: disable it.".into(),
                cmdlet: "Disable-TransportRule",
                params: vec![("Identity", Arg::Text(name)), ("Confirm:", Arg::Bool(false))],
                runnable: true,
                warning: None,
            }
        } else {
            Command {
                closes: rule.code,
                subject: Some(name.clone()),
                why: "This rule skips spam filtering for a forgeable sender domain: key it on the gateway instead."
                    .into(),
                cmdlet: "Set-TransportRule",
                params: vec![
                    ("Identity", Arg::Text(name)),
                    ("SenderDomainIs", Arg::Null),
                    ("SenderIpRanges", Arg::Texts(v4.clone())),
                ],
                runnable: true,
                warning: None,
            }
        });
    }
    out
}

/// What closes a side door seen from outside (`doorman probe`), where all that is known is
/// the gateway's networks (none when not given: the command is then to be filled in): a
/// Partner connector restricted to them, and Direct Send refused when the probe found it
/// open.
pub fn probe_fix(gateway: &[String], direct_send_open: bool) -> Vec<Command> {
    let mut out = vec![gateway_connector(FindingCode::SideDoor, gateway, None)];
    if direct_send_open {
        out.push(reject_direct_send(FindingCode::DirectSendOpen));
    }
    out
}

fn reject_direct_send(closes: FindingCode) -> Command {
    Command {
        closes,
        subject: None,
        why: "Refuse anonymous mail that claims your own domains (Direct Send): 5.7.68.".into(),
        cmdlet: "Set-OrganizationConfig",
        params: vec![("RejectDirectSend", Arg::Bool(true))],
        runnable: true,
        warning: None,
    }
}

/// A Partner connector for every sender domain, restricted to the gateway. SenderIPAddresses
/// takes IPv4 only, so a gateway that also delivers over IPv6 is restricted by certificate
/// when its name is known.
fn gateway_connector(closes: FindingCode, networks: &[String], certificate: Option<&str>) -> Command {
    let (v4, v6): (Vec<String>, Vec<String>) = networks.iter().cloned().partition(|g| !g.contains(':'));
    let mut params = vec![
        ("Name", Arg::Text("Inbound only from the gateway".into())),
        ("ConnectorType", Arg::Text("Partner".into())),
        ("SenderDomains", Arg::Text("*".into())),
    ];
    let by_certificate = certificate.filter(|_| v4.is_empty() || !v6.is_empty());
    let mut runnable = true;
    if let Some(cert) = by_certificate {
        params.push(("RestrictDomainsToCertificate", Arg::Bool(true)));
        params.push(("TlsSenderCertificateName", Arg::Text(cert.to_string())));
    } else {
        params.push(("RestrictDomainsToIPAddresses", Arg::Bool(true)));
        if v4.is_empty() {
            runnable = false;
            params.push(("SenderIPAddresses", Arg::Text("GATEWAY-IPV4/PREFIX".into())));
        } else {
            params.push(("SenderIPAddresses", Arg::Texts(v4.to_vec())));
        }
    }
    params.push(("RequireTls", Arg::Bool(true)));
    let warning = (!v6.is_empty() && by_certificate.is_none()).then(|| {
        format!(
            "SenderIPAddresses takes IPv4 only; the gateway's IPv6 ranges ({}) cannot go in. Restrict by the gateway's certificate instead (-RestrictDomainsToCertificate), or have the gateway deliver over IPv4 only.",
            v6.join(", ")
        )
    });
    Command {
        closes,
        subject: None,
        why: if runnable {
            "Accept mail for every sender domain only from the gateway: everyone else gets 5.7.51.".into()
        } else {
            "Accept mail for every sender domain only from the gateway: everyone else gets 5.7.51. The gateway's addresses are unknown: fill them in, then run it.".into()
        },
        cmdlet: "New-InboundConnector",
        params,
        runnable,
        warning,
    }
}

/// The commands as a script to paste: a comment before each that says why; a command with a
/// value to fill in is commented out.
pub fn script(tenant: &str, commands: &[Command]) -> String {
    script_titled(
        &format!("Closes what `doorman audit` found for tenant {}.", doorman_audit::render::one_line(tenant)),
        commands,
    )
}

/// [`script`] under another first comment line (kept to one line).
pub fn script_titled(title: &str, commands: &[Command]) -> String {
    let mut out = format!("# {}\n", doorman_audit::render::one_line(title));
    for c in commands {
        out.push('\n');
        for line in wrap(&c.why) {
            out.push_str(&format!("# {line}\n"));
        }
        if c.runnable {
            out.push_str(&c.line());
            out.push('\n');
        } else {
            // Every physical line commented: a name's line break must not end the comment.
            for line in c.line().split(['\n', '\r']) {
                out.push_str("# ");
                out.push_str(line);
                out.push('\n');
            }
        }
        if let Some(w) = &c.warning {
            for (i, line) in wrap(w).into_iter().enumerate() {
                out.push_str(if i == 0 { "# WARNING: " } else { "# " });
                out.push_str(&line);
                out.push('\n');
            }
        }
    }
    if commands.is_empty() {
        out.push_str("# Nothing to change.\n");
    }
    out
}

/// Comment text in lines of at most about 95 characters.
fn wrap(text: &str) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in doorman_audit::render::one_line(text).split(' ') {
        let last = lines.last_mut().expect("one line at least");
        if !last.is_empty() && last.len() + word.len() > 95 {
            lines.push(word.to_string());
        } else {
            if !last.is_empty() {
                last.push(' ');
            }
            last.push_str(word);
        }
    }
    lines
}
