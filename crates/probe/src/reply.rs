//! What a reply to the probe means. Exchange Online's codes are specific enough to tell a
//! closed door from a refused sender; anything that says more about the probe than about the
//! door (a blocklisted source, a temporary failure) is inconclusive, never "closed".

use serde::Serialize;

/// What one reply says about the host's door, for the sender class the probe tried.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Meaning {
    /// `250`: the host takes the recipient from this sender.
    Open,
    /// `5.7.51`: an inbound connector restricts where the tenant's mail may come from.
    ClosedByConnector,
    /// `5.7.68`: direct send (the tenant's own domain from outside) is refused.
    DirectSendRefused,
    /// `5.4.1`: the recipient is refused at the edge (directory-based edge blocking).
    RecipientRefused,
    /// `5.7.64` or "relay access denied": the host does not take mail for this domain.
    RelayDenied,
    /// `5.7.606`–`5.7.649`, `5.7.511`, `5.7.708`: the probe's own address or sender is
    /// blocked, which says nothing about strangers with a clean address.
    ProbeBlocked,
    /// A `4xx`: try again later.
    Temporary,
    /// Any other refusal.
    Refused,
}

impl Meaning {
    /// Whether the reply answers the question "does the door let this sender in?".
    pub fn is_conclusive(self) -> bool {
        !matches!(self, Meaning::ProbeBlocked | Meaning::Temporary)
    }
}

/// The enhanced status code at the start of a reply's text (`5.7.51 …`), as three numbers.
pub fn enhanced_code(text: &str) -> Option<(u8, u16, u16)> {
    let first = text.split_whitespace().next()?;
    let mut parts = first.split('.');
    let class = parts.next()?.parse().ok()?;
    let subject = parts.next()?.parse().ok()?;
    let detail = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5)).then_some((class, subject, detail))
}

/// The meaning of the reply `code text` (text without the code, as a client reads it).
pub fn classify(code: u16, text: &str) -> Meaning {
    match code {
        200..=299 => return Meaning::Open,
        400..=499 => return Meaning::Temporary,
        _ => {}
    }
    let lower = text.to_ascii_lowercase();
    match enhanced_code(text) {
        Some((5, 7, 51)) => Meaning::ClosedByConnector,
        Some((5, 7, 68)) => Meaning::DirectSendRefused,
        Some((5, 4, 1)) => Meaning::RecipientRefused,
        Some((5, 7, 606..=649 | 511 | 708)) => Meaning::ProbeBlocked,
        Some((5, 7, 64)) => Meaning::RelayDenied,
        _ if lower.contains("relay access denied") || lower.contains("relaying denied") => Meaning::RelayDenied,
        _ => Meaning::Refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exchange_online_replies_are_read_by_their_enhanced_codes() {
        let cases = [
            (250, "2.1.5 Recipient OK", Meaning::Open),
            (
                550,
                "5.7.51 TenantInboundAttribution; Rejecting. Please contact the administrator",
                Meaning::ClosedByConnector,
            ),
            (
                550,
                "5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization",
                Meaning::DirectSendRefused,
            ),
            (550, "5.4.1 Recipient address rejected: Access denied.", Meaning::RecipientRefused),
            (550, "5.7.64 TenantAttribution; Relay Access Denied", Meaning::RelayDenied),
            (554, "5.7.1 <x@contoso.com>: Relay access denied", Meaning::RelayDenied),
            (550, "5.7.606 Access denied, banned sending IP [203.0.113.9]", Meaning::ProbeBlocked),
            (550, "5.7.649 Access denied", Meaning::ProbeBlocked),
            (550, "5.7.511 Access denied, banned sender", Meaning::ProbeBlocked),
            (
                550,
                "5.7.708 Service unavailable. Access denied, traffic not accepted from this IP",
                Meaning::ProbeBlocked,
            ),
            (451, "4.7.500 Server busy. Please try again later", Meaning::Temporary),
            (550, "5.7.1 Message rejected as spam", Meaning::Refused),
            (550, "Go away", Meaning::Refused),
        ];
        for (code, text, want) in cases {
            assert_eq!(classify(code, text), want, "{code} {text}");
        }
    }

    #[test]
    fn a_blocked_probe_or_a_4xx_is_not_an_answer() {
        assert!(!Meaning::ProbeBlocked.is_conclusive());
        assert!(!Meaning::Temporary.is_conclusive());
        assert!(Meaning::ClosedByConnector.is_conclusive() && Meaning::Open.is_conclusive());
    }

    #[test]
    fn only_a_whole_enhanced_code_counts() {
        assert_eq!(enhanced_code("5.7.51 x"), Some((5, 7, 51)));
        assert_eq!(enhanced_code("5.7.51.2 x"), None);
        assert_eq!(enhanced_code("7.7.51 x"), None);
        assert_eq!(enhanced_code("Relay access denied"), None);
    }
}
