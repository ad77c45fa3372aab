//! The cloud mail providers and the DNS signs each leaves. One entry per provider: the probe,
//! its report and its tests read only this table.

/// A cloud mail provider a tenant can sit with.
#[derive(Debug)]
pub struct Provider {
    pub name: &'static str,
    /// MX hosts under these names are the provider's own front door.
    pub mx_suffixes: &'static [&'static str],
    /// The tenant's own host, derived from its domain, where the provider has one per tenant.
    pub tenant_host: Option<fn(&str) -> String>,
    /// TXT records at the domain that the provider asks for as proof of ownership.
    pub verification_prefixes: &'static [&'static str],
    /// What an SPF record includes to let the provider send for the domain.
    pub spf_includes: &'static [&'static str],
    /// `(name under the domain, what its CNAME ends with)`.
    pub cnames: &'static [(&'static str, &'static str)],
}

/// Exchange Online's host for a domain: its dots turned into dashes, under
/// `mail.protection.outlook.com`. Anyone can work it out from the domain alone.
fn exchange_online_host(domain: &str) -> String {
    format!("{}.mail.protection.outlook.com", domain.trim_end_matches('.').to_ascii_lowercase().replace('.', "-"))
}

pub const PROVIDERS: &[Provider] = &[
    Provider {
        name: "Exchange Online",
        mx_suffixes: &["mail.protection.outlook.com", "mx.microsoft"],
        tenant_host: Some(exchange_online_host),
        verification_prefixes: &["MS="],
        spf_includes: &["spf.protection.outlook.com"],
        cnames: &[("autodiscover", "autodiscover.outlook.com"), ("selector1._domainkey", "onmicrosoft.com")],
    },
    Provider {
        name: "Google Workspace",
        mx_suffixes: &["aspmx.l.google.com", "googlemail.com", "smtp.google.com"],
        tenant_host: None,
        verification_prefixes: &["google-site-verification="],
        spf_includes: &["_spf.google.com"],
        cnames: &[],
    },
];

impl Provider {
    /// Whether `host` (an MX host) is this provider's.
    pub fn owns_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.mx_suffixes.iter().any(|s| host == *s || host.ends_with(&format!(".{s}")))
    }
}

/// The provider whose front door `host` is, if any.
pub fn provider_of_host(host: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.owns_host(host))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exchange_online_host_is_the_domain_with_dashes() {
        let exo = &PROVIDERS[0];
        assert_eq!((exo.tenant_host.unwrap())("Contoso.com."), "contoso-com.mail.protection.outlook.com");
        assert_eq!(
            (exo.tenant_host.unwrap())("mail.fabrikam.co.uk"),
            "mail-fabrikam-co-uk.mail.protection.outlook.com"
        );
    }

    #[test]
    fn hosts_are_told_apart_by_whole_labels() {
        assert_eq!(provider_of_host("contoso-com.mail.protection.outlook.com").unwrap().name, "Exchange Online");
        assert_eq!(provider_of_host("contoso-com.o-v1.mx.microsoft.").unwrap().name, "Exchange Online");
        assert_eq!(provider_of_host("ASPMX.L.GOOGLE.COM").unwrap().name, "Google Workspace");
        assert!(provider_of_host("evilmx.microsoft").is_none(), "a suffix counts only as whole labels");
        assert!(provider_of_host("mx1.antispamrelay.example").is_none());
    }
}
