//! The fix as Exchange Online PowerShell: the cmdlets that close what the audit found, within
//! Exchange Online's limits.

/// What the audit found that PowerShell can fix.
pub struct Findings<'a> {
    pub tenant: &'a str,
    pub side_door: bool,
    /// Where the gateway delivers from (given or inferred).
    pub gateway: &'a [String],
    /// The certificate name the gateway presents, when one is known.
    pub gateway_certificate: Option<&'a str>,
    pub direct_send_open: bool,
    /// SCL -1 rules keyed only on sender domains.
    pub scl_rules_on_sender_domain: &'a [String],
}

/// The script, with a comment before each command that says why.
pub fn fix(f: &Findings<'_>) -> String {
    let mut out = format!("# Closes what `doorman audit` found for {}.\n", f.tenant);
    let (v4, v6): (Vec<&String>, Vec<&String>) = f.gateway.iter().partition(|g| !g.contains(':'));
    if f.side_door {
        out.push_str("\n# Accept mail for every sender domain only from the gateway: everyone else gets 5.7.51.\n");
        // The certificate when IPs cannot express the gateway (IPv6), else its IPv4 ranges.
        let by_certificate = f.gateway_certificate.filter(|_| v4.is_empty() || !v6.is_empty());
        if let Some(cert) = by_certificate {
            out.push_str(&format!(
                "New-InboundConnector -Name \"Inbound only from the gateway\" -ConnectorType Partner -SenderDomains * -RestrictDomainsToCertificate $true -TlsSenderCertificateName {cert} -RequireTls $true\n"
            ));
        } else if !v4.is_empty() {
            let ips: Vec<&str> = v4.iter().map(|s| s.as_str()).collect();
            out.push_str(&format!(
                "New-InboundConnector -Name \"Inbound only from the gateway\" -ConnectorType Partner -SenderDomains * -RestrictDomainsToIPAddresses $true -SenderIPAddresses {} -RequireTls $true\n",
                ips.join(",")
            ));
        } else {
            out.push_str("# The gateway's addresses are unknown: give them, or fill them in.\nNew-InboundConnector -Name \"Inbound only from the gateway\" -ConnectorType Partner -SenderDomains * -RestrictDomainsToIPAddresses $true -SenderIPAddresses <gateway IPv4 ranges> -RequireTls $true\n");
        }
        if !v6.is_empty() {
            let list: Vec<&str> = v6.iter().map(|s| s.as_str()).collect();
            out.push_str(&format!(
                "# WARNING: SenderIPAddresses takes IPv4 only; the gateway's IPv6 ranges ({}) cannot go in.\n# Restrict by the gateway's certificate instead (-RestrictDomainsToCertificate), or have the\n# gateway deliver over IPv4 only.\n",
                list.join(", ")
            ));
        }
    }
    if f.direct_send_open {
        out.push_str("\n# Refuse anonymous mail that claims your own domains (Direct Send): 5.7.68.\nSet-OrganizationConfig -RejectDirectSend $true\n");
    }
    for rule in f.scl_rules_on_sender_domain {
        if v4.is_empty() {
            out.push_str(&format!("\n# {rule:?} skips spam filtering for a forgeable sender domain: disable it.\nDisable-TransportRule -Identity {rule:?} -Confirm:$false\n"));
        } else {
            let ips: Vec<&str> = v4.iter().map(|s| s.as_str()).collect();
            out.push_str(&format!(
                "\n# {rule:?} skips spam filtering for a forgeable sender domain: key it on the gateway instead.\nSet-TransportRule -Identity {rule:?} -SenderDomainIs $null -SenderIpRanges {}\n",
                ips.join(",")
            ));
        }
    }
    if !f.side_door && !f.direct_send_open && f.scl_rules_on_sender_domain.is_empty() {
        out.push_str("# Nothing to change.\n");
    }
    out
}
