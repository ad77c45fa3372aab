//! One domain's verdict from what DNS said and what its tenant hosts answered. Only a reply
//! can close a door: a host that did not answer, or answered about the probe rather than the
//! door, leaves the verdict inconclusive.

use serde::Serialize;

use crate::conversation::{HostProbe, SenderClass};
use crate::reply::Meaning;
use crate::signals::Discovery;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// A tenant host the MX does not name took a recipient from a stranger.
    SideDoorOpen,
    /// Every tenant host the MX does not name refused every stranger, or there is none
    /// because the MX names the tenant host itself.
    Closed,
    /// DNS shows no tenant host of a cloud provider.
    NoCloudTenant,
    /// A question went unanswered: DNS failed, a host did not answer, or it answered about
    /// the probe (a blocklisted address, a 4xx).
    Inconclusive,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::SideDoorOpen => "SIDE DOOR OPEN",
            Verdict::Closed => "CLOSED",
            Verdict::NoCloudTenant => "NO CLOUD TENANT",
            Verdict::Inconclusive => "INCONCLUSIVE",
        }
    }

    /// `doorman probe`'s exit status for this verdict (the worst of all domains is used).
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Closed | Verdict::NoCloudTenant => 0,
            Verdict::SideDoorOpen => 1,
            Verdict::Inconclusive => 2,
        }
    }

    /// How bad it is, for picking the worst: open, then inconclusive, then the rest.
    pub fn severity(self) -> u8 {
        match self {
            Verdict::SideDoorOpen => 3,
            Verdict::Inconclusive => 2,
            Verdict::Closed => 1,
            Verdict::NoCloudTenant => 0,
        }
    }
}

/// The verdict and why.
pub fn judge(d: &Discovery, hosts: &[HostProbe]) -> (Verdict, String) {
    if d.tenant_hosts.is_empty() {
        return if d.failures.is_empty() {
            (Verdict::NoCloudTenant, "no cloud provider's tenant host answers for this domain".into())
        } else {
            (Verdict::Inconclusive, format!("DNS did not answer: {}", d.failures.join("; ")))
        };
    }
    if d.mx_failed {
        return (
            Verdict::Inconclusive,
            format!("the MX question failed, so no host can be told a side door: {}", d.failures.join("; ")),
        );
    }
    if d.side_door_candidates().next().is_none() {
        return (Verdict::Closed, "the MX names the tenant host itself: there is no gateway to go around".into());
    }
    for h in hosts {
        for t in &h.transactions {
            if let Some(r) = t.rcpts.iter().find(|r| r.reply.meaning == Meaning::Open) {
                return (
                    Verdict::SideDoorOpen,
                    format!(
                        "{} took RCPT TO:<{}> from {} ({}): {} {}",
                        h.host,
                        r.rcpt,
                        describe(t.sender, &t.mail_from),
                        h.address,
                        r.reply.code,
                        r.reply.text.lines().next().unwrap_or("")
                    ),
                );
            }
        }
    }
    let unprobed: Vec<&str> =
        d.side_door_candidates().filter(|c| !hosts.iter().any(|h| h.host == c.host)).map(|c| c.host.as_str()).collect();
    if !unprobed.is_empty() {
        return (Verdict::Inconclusive, format!("not asked: {}", unprobed.join(", ")));
    }
    if let Some(h) = hosts.iter().find(|h| h.error.is_some()) {
        return (Verdict::Inconclusive, format!("{}: {}", h.host, h.error.as_deref().unwrap_or("")));
    }
    let replies: Vec<(&HostProbe, Meaning, u16, &str)> = hosts
        .iter()
        .flat_map(|h| {
            h.transactions.iter().flat_map(move |t| {
                let mail = (t.mail.code != 250).then_some((h, t.mail.meaning, t.mail.code, t.mail.text.as_str()));
                mail.into_iter()
                    .chain(t.rcpts.iter().map(move |r| (h, r.reply.meaning, r.reply.code, r.reply.text.as_str())))
            })
        })
        .collect();
    if let Some((h, _, code, text)) = replies.iter().find(|(_, m, _, _)| !m.is_conclusive()) {
        return (Verdict::Inconclusive, format!("{} answered about the probe, not the door: {code} {text}", h.host));
    }
    if let Some((h, t)) =
        hosts.iter().flat_map(|h| h.transactions.iter().map(move |t| (h, t))).find(|(_, t)| t.mail.code != 250)
    {
        return (
            Verdict::Inconclusive,
            format!(
                "{} refused the sender {}, so no RCPT was asked: {} {}",
                h.host,
                describe(t.sender, &t.mail_from),
                t.mail.code,
                t.mail.text
            ),
        );
    }
    if let Some((h, _, code, text)) = replies.iter().find(|(_, m, _, _)| !closes_a_door(*m)) {
        return (Verdict::Inconclusive, format!("{} refused without naming a door: {code} {text}", h.host));
    }
    if replies.iter().all(|(_, m, _, _)| *m == Meaning::RecipientRefused) {
        return (
            Verdict::Inconclusive,
            "every recipient was refused as unknown (5.4.1): give --rcpt an address that exists".into(),
        );
    }
    let mut codes: Vec<String> = replies.iter().map(|(_, _, code, text)| first_word(*code, text)).collect();
    codes.sort();
    codes.dedup();
    (Verdict::Closed, format!("every stranger was refused ({})", codes.join(", ")))
}

/// The refusals that say the door is shut: a restricting connector, refused direct send, a
/// domain the host does not take, an unknown recipient. Any other 5xx may be about the probe
/// (its sender, its address on a list, TLS it did not use).
fn closes_a_door(m: Meaning) -> bool {
    matches!(
        m,
        Meaning::ClosedByConnector | Meaning::DirectSendRefused | Meaning::RelayDenied | Meaning::RecipientRefused
    )
}

fn describe(sender: SenderClass, path: &str) -> String {
    match sender {
        SenderClass::External => format!("an outside sender <{path}>"),
        SenderClass::OwnDomain => format!("the domain's own address <{path}> (direct send)"),
        SenderClass::Null => "the null sender <>".to_string(),
    }
}

/// `550 5.7.51`: the code and the enhanced code, which name the reason.
fn first_word(code: u16, text: &str) -> String {
    match text.split_whitespace().next() {
        Some(w) if crate::reply::enhanced_code(w).is_some() => format!("{code} {w}"),
        _ => code.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conversation::{Rcpt, Reply, Transaction};
    use crate::signals::TenantHost;

    fn discovery() -> Discovery {
        Discovery {
            domain: "contoso.test".into(),
            mx: Vec::new(),
            signals: Vec::new(),
            tenant_hosts: vec![TenantHost {
                provider: "Exchange Online",
                host: "contoso-test.mail.protection.outlook.com".into(),
                addresses: vec!["127.0.0.7".parse().unwrap()],
                named_by_mx: false,
            }],
            failures: Vec::new(),
            mx_failed: false,
        }
    }

    fn host(replies: &[(u16, &str)]) -> HostProbe {
        let reply =
            |code: u16, text: &str| Reply { code, text: text.into(), meaning: crate::reply::classify(code, text) };
        HostProbe {
            host: "contoso-test.mail.protection.outlook.com".into(),
            address: "127.0.0.7".parse().unwrap(),
            port: 25,
            source: None,
            tls: None,
            transactions: SenderClass::ALL
                .iter()
                .map(|&sender| Transaction {
                    sender,
                    mail_from: sender.path("contoso.test", "probe@probe.invalid"),
                    mail: reply(250, "2.1.0 Sender OK"),
                    rcpts: replies
                        .iter()
                        .map(|(c, t)| Rcpt { rcpt: "postmaster@contoso.test".into(), reply: reply(*c, t) })
                        .collect(),
                })
                .collect(),
            transcript: Vec::new(),
            error: None,
        }
    }

    /// Only a reply about the door decides: a blocked probe, a 4xx, a stop, or recipients
    /// that do not exist leave it open to question.
    #[test]
    fn only_answers_about_the_door_decide() {
        let d = discovery();
        assert_eq!(judge(&d, &[host(&[(550, "5.7.51 TenantInboundAttribution; Rejecting")])]).0, Verdict::Closed);
        assert_eq!(judge(&d, &[host(&[(550, "5.7.51 x"), (250, "2.1.5 OK")])]).0, Verdict::SideDoorOpen);
        assert_eq!(judge(&d, &[host(&[(550, "5.7.606 Access denied, banned sending IP")])]).0, Verdict::Inconclusive);
        assert_eq!(judge(&d, &[host(&[(451, "4.7.500 Server busy")])]).0, Verdict::Inconclusive);
        assert_eq!(
            judge(&d, &[host(&[(550, "5.7.1 Service unavailable; blocked using Spamhaus")])]).0,
            Verdict::Inconclusive
        );
        let mut mail_refused = host(&[]);
        for t in &mut mail_refused.transactions {
            t.mail = Reply { code: 550, text: "5.7.1 Sender rejected".into(), meaning: Meaning::Refused };
        }
        let (v, why) = judge(&d, &[mail_refused]);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(why.contains("no RCPT was asked"), "{why}");
        let (v, why) = judge(&d, &[host(&[(550, "5.4.1 Recipient address rejected")])]);
        assert_eq!(v, Verdict::Inconclusive);
        assert!(why.contains("--rcpt"), "{why}");
        let mut stopped = host(&[]);
        stopped.transactions.clear();
        stopped.error = Some("connect to 127.0.0.7:25: Connection refused".into());
        assert_eq!(judge(&d, &[stopped]).0, Verdict::Inconclusive);
        assert_eq!(judge(&d, &[]).0, Verdict::Inconclusive, "a host not asked is not closed");
    }

    #[test]
    fn without_a_tenant_host_there_is_no_side_door() {
        let mut d = discovery();
        d.tenant_hosts[0].named_by_mx = true;
        assert_eq!(judge(&d, &[]).0, Verdict::Closed);
        d.tenant_hosts.clear();
        assert_eq!(judge(&d, &[]).0, Verdict::NoCloudTenant);
        d.failures.push("MX contoso.test: timed out".into());
        assert_eq!(judge(&d, &[]).0, Verdict::Inconclusive);
        // A derived host found while the MX question failed is not known to be a side door.
        let mut d = discovery();
        d.mx_failed = true;
        d.failures.push("MX contoso.test: timed out".into());
        assert_eq!(judge(&d, &[host(&[(250, "2.1.5 OK")])]).0, Verdict::Inconclusive);
    }
}
