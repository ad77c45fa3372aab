//! SPF, DKIM, ARC and DMARC with Stalwart's `mail-auth`, through doorman's resolver. The
//! results are turned into the engine's facts ([`Authentication`]); what they lead to is
//! the engine's decision.

use std::net::IpAddr;
use std::time::Duration;

use doorman_dns::Resolver;
use doorman_dns::dnsbl::Dnsbl;
use doorman_policy::filtering::auth::{
    ArcCheck, AuthResult, Authentication, DkimCheck, DmarcCheck, DmarcPolicy, Judged, SpfCheck,
};
use doorman_policy::filtering::received::AuthSubject;
use mail_auth::dmarc::Policy;
use mail_auth::{
    AuthenticatedMessage, DkimResult, DmarcResult, MessageAuthenticator, SpfOutput, SpfResult,
    dmarc::verify::DmarcParameters, spf::verify::SpfParameters,
};

/// Asks the sender's DNS through one resolver, as the edge's DNSBL checks do.
pub struct Authenticator {
    inner: MessageAuthenticator,
    dnsbl: Dnsbl,
    zones: Vec<String>,
    /// How long one step (ARC, SPF, DKIM, DMARC) may take: a step that runs out is a
    /// `temperror` of that step alone, so a sender's slow DNS cannot stall the others.
    step: Duration,
    /// How long one message's whole authentication may take.
    budget: Duration,
    hostname: String,
}

/// The envelope the message came with.
pub struct Envelope<'a> {
    /// The MAIL FROM address; empty for the null sender.
    pub mail_from: &'a str,
}

impl Authenticator {
    pub fn new(
        resolver: Resolver,
        dnsbl: Dnsbl,
        zones: Vec<String>,
        timeout: Duration,
        hostname: &str,
    ) -> Authenticator {
        Authenticator {
            inner: MessageAuthenticator(resolver),
            dnsbl,
            zones,
            // SPF may follow up to ten lookups; DKIM, ARC and DMARC a few more.
            step: timeout * 2,
            budget: timeout * 10,
            hostname: hostname.to_string(),
        }
    }

    /// Authenticates `message` as sent by `subject`. A lookup that fails or runs out of time
    /// is a `temperror`, never a pass.
    pub async fn authenticate(&self, subject: &AuthSubject, envelope: &Envelope<'_>, message: &[u8]) -> Authentication {
        let work = self.checks(subject, envelope, message);
        let mut auth = match tokio::time::timeout(self.budget, work).await {
            Ok(a) => a,
            Err(_) => timed_out(subject, envelope, message, self.budget),
        };
        if (subject.hops_skipped > 0 || auth.judged.by_arc.is_some()) && !self.zones.is_empty() {
            auth.dnsbl = self.dnsbl.check(auth.judged.ip, &self.zones).await;
        }
        auth
    }

    async fn checks(&self, subject: &AuthSubject, envelope: &Envelope<'_>, message: &[u8]) -> Authentication {
        let parsed = AuthenticatedMessage::parse(message);
        // ARC first: behind a gateway whose Received chain could not be followed, a trusted
        // sealer's record of the client is who SPF and DMARC judge.
        let (arc, judged, helo) = match &parsed {
            None => (
                ArcCheck { result: AuthResult::PermError, sealer: None, sealed_dmarc: None },
                Judged { ip: subject.ip, by_arc: None },
                subject.helo.clone(),
            ),
            Some(parsed) => {
                let arc_out = tokio::time::timeout(self.step, self.inner.verify_arc(parsed)).await.ok();
                let sets = arc_out.as_ref().map_or(&[][..], |a| a.sets());
                let newest = sets.iter().max_by_key(|s| s.seal.header.i);
                let arc = ArcCheck {
                    result: match &arc_out {
                        None => AuthResult::TempError,
                        Some(_) if sets.is_empty() => AuthResult::None,
                        Some(a) => dkim_result(a.result()),
                    },
                    sealer: newest.map(|s| s.seal.header.d.clone()),
                    sealed_dmarc: newest.and_then(|s| sealed_result(s.results.value, "dmarc")),
                };
                let recorded = newest
                    .filter(|_| arc.result == AuthResult::Pass)
                    .filter(|s| subject.arc_sealers.iter().any(|t| t.eq_ignore_ascii_case(&s.seal.header.d)))
                    .and_then(|s| sealed_property(s.results.value, "smtp.remote-ip").map(|ip| (s, ip)))
                    .and_then(|(s, ip)| Some((s, ip.parse::<IpAddr>().ok()?)));
                match recorded {
                    Some((s, ip)) => {
                        // The gateway's HELO is not the client's: only what the sealer recorded.
                        let helo = sealed_property(s.results.value, "smtp.helo");
                        (arc, Judged { ip, by_arc: Some(s.seal.header.d.clone()) }, helo)
                    }
                    None => (arc, Judged { ip: subject.ip, by_arc: None }, subject.helo.clone()),
                }
            }
        };
        let helo = helo.unwrap_or_default();
        let ip = judged.ip;
        let spf_helo = if !helo.is_empty() && helo.contains('.') && helo.parse::<IpAddr>().is_err() {
            let out = tokio::time::timeout(
                self.step,
                self.inner.verify_spf(SpfParameters::verify_ehlo(ip, &helo, &self.hostname)),
            )
            .await;
            Some(SpfCheck { result: out.map_or(AuthResult::TempError, |o| spf(o.result())), identity: helo.clone() })
        } else {
            None
        };
        let sender =
            if envelope.mail_from.is_empty() { format!("postmaster@{helo}") } else { envelope.mail_from.to_string() };
        let spf_domain = sender.rsplit_once('@').map_or(helo.as_str(), |(_, d)| d).to_string();
        let spf_out = tokio::time::timeout(
            self.step,
            self.inner.verify_spf(SpfParameters::verify_mail_from(ip, &helo, &self.hostname, &sender)),
        )
        .await
        .unwrap_or_else(|_| SpfOutput::new(spf_domain).with_result(SpfResult::TempError));
        let spf_mail_from = SpfCheck { result: spf(spf_out.result()), identity: sender.clone() };

        let (dkim, dmarc) = match &parsed {
            None => (
                Vec::new(),
                DmarcCheck { result: AuthResult::PermError, from_domain: String::new(), policy: DmarcPolicy::Absent },
            ),
            Some(parsed) => self.dkim_and_dmarc(parsed, &sender, &helo, &spf_out).await,
        };
        Authentication {
            subject: subject.clone(),
            judged,
            spf_helo,
            spf_mail_from,
            dkim,
            arc,
            dmarc,
            dnsbl: Vec::new(),
        }
    }

    /// Every DKIM signature, then DMARC on the `From:` domain, each within its step's deadline.
    async fn dkim_and_dmarc(
        &self,
        parsed: &AuthenticatedMessage<'_>,
        sender: &str,
        helo: &str,
        spf_out: &SpfOutput,
    ) -> (Vec<DkimCheck>, DmarcCheck) {
        let dkim_out = tokio::time::timeout(self.step, self.inner.verify_dkim(parsed)).await;
        let dkim = match &dkim_out {
            Ok(out) => out
                .iter()
                .map(|d| DkimCheck {
                    result: dkim_result(d.result()),
                    domain: d.signature().map(|s| s.d.clone()),
                    selector: d.signature().map(|s| s.s.clone()),
                })
                .collect(),
            Err(_) => vec![DkimCheck { result: AuthResult::TempError, domain: None, selector: None }],
        };
        // Signatures not checked in time pass nothing: DMARC is judged on the rest.
        let dkim_out = dkim_out.unwrap_or_default();
        let mut from_domains: Vec<String> =
            parsed.from.iter().filter_map(|a| a.rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase())).collect();
        from_domains.sort();
        from_domains.dedup();
        if from_domains.len() > 1 {
            // RFC 7489 §6.6.1: several author domains cannot be judged as one; the strictest
            // policy applies, so such a message cannot wear a domain's name past its DMARC.
            let from_domain = from_domains.join(",");
            return (dkim, DmarcCheck { result: AuthResult::Fail, from_domain, policy: DmarcPolicy::Reject });
        }
        let from_domain = from_domains.into_iter().next().unwrap_or_default();
        let mail_from_domain = sender.rsplit_once('@').map_or(helo, |(_, d)| d);
        let params = DmarcParameters::new(parsed, &dkim_out, mail_from_domain, spf_out);
        let Ok(out) = tokio::time::timeout(self.step, self.inner.verify_dmarc(params)).await else {
            return (dkim, DmarcCheck { result: AuthResult::TempError, from_domain, policy: DmarcPolicy::Absent });
        };
        let policy = if out.dmarc_record().is_none() {
            DmarcPolicy::Absent
        } else {
            match out.policy() {
                Policy::Reject => DmarcPolicy::Reject,
                Policy::Quarantine => DmarcPolicy::Quarantine,
                Policy::None | Policy::Unspecified => DmarcPolicy::None,
            }
        };
        // With a record, a message that neither identifier passes has failed, aligned or not.
        let result = match dmarc(out.spf_result(), out.dkim_result()) {
            AuthResult::None if policy != DmarcPolicy::Absent => AuthResult::Fail,
            r => r,
        };
        let from_domain = match out.domain() {
            "" => from_domain,
            d => d.to_ascii_lowercase(),
        };
        (dkim, DmarcCheck { result, from_domain, policy })
    }
}

/// What is known when the lookups ran out of time: nothing passed, and nothing failed.
fn timed_out(subject: &AuthSubject, envelope: &Envelope<'_>, message: &[u8], budget: Duration) -> Authentication {
    tracing::info!(client = %subject.ip, "authentication ran out of time after {budget:?}");
    let from_domain = AuthenticatedMessage::parse(message)
        .and_then(|m| m.from().rsplit_once('@').map(|(_, d)| d.to_ascii_lowercase()))
        .unwrap_or_default();
    Authentication {
        subject: subject.clone(),
        judged: Judged { ip: subject.ip, by_arc: None },
        spf_helo: None,
        spf_mail_from: SpfCheck { result: AuthResult::TempError, identity: envelope.mail_from.to_string() },
        dkim: Vec::new(),
        arc: ArcCheck { result: AuthResult::TempError, sealer: None, sealed_dmarc: None },
        dmarc: DmarcCheck { result: AuthResult::TempError, from_domain, policy: DmarcPolicy::Absent },
        dnsbl: Vec::new(),
    }
}

fn spf(r: SpfResult) -> AuthResult {
    match r {
        SpfResult::Pass => AuthResult::Pass,
        SpfResult::Fail => AuthResult::Fail,
        SpfResult::SoftFail => AuthResult::SoftFail,
        SpfResult::Neutral => AuthResult::Neutral,
        SpfResult::TempError => AuthResult::TempError,
        SpfResult::PermError => AuthResult::PermError,
        SpfResult::None => AuthResult::None,
    }
}

fn dkim_result(r: &DkimResult) -> AuthResult {
    match r {
        DkimResult::Pass => AuthResult::Pass,
        // RFC 6376 §6.1.3: a body that does not match its hash fails the signature.
        DkimResult::Neutral(mail_auth::Error::Dkim(mail_auth::dkim::DkimError::FailedBodyHashMatch)) => {
            AuthResult::Fail
        }
        DkimResult::Neutral(_) => AuthResult::Neutral,
        DkimResult::Fail(_) => AuthResult::Fail,
        DkimResult::PermError(_) => AuthResult::PermError,
        DkimResult::TempError(_) => AuthResult::TempError,
        DkimResult::None => AuthResult::None,
    }
}

/// DMARC passes when either aligned identifier passes (RFC 7489 §6.6.2).
fn dmarc(spf: &DmarcResult, dkim: &DmarcResult) -> AuthResult {
    let one = |r: &DmarcResult| match r {
        DmarcResult::Pass => AuthResult::Pass,
        DmarcResult::Fail(_) => AuthResult::Fail,
        DmarcResult::TempError(_) => AuthResult::TempError,
        DmarcResult::PermError(_) => AuthResult::PermError,
        DmarcResult::None => AuthResult::None,
    };
    let (s, d) = (one(spf), one(dkim));
    if s == AuthResult::Pass || d == AuthResult::Pass {
        AuthResult::Pass
    } else if s == AuthResult::TempError || d == AuthResult::TempError {
        AuthResult::TempError
    } else if s == AuthResult::None && d == AuthResult::None {
        AuthResult::None
    } else {
        AuthResult::Fail
    }
}

/// The resinfo parts of an (ARC-)Authentication-Results value, split at `;` outside quoted
/// strings and comments, each as its words outside comments (quoted strings kept whole): the
/// text a sender put in a quoted local part or a comment cannot start a part of its own.
fn parts(value: &[u8]) -> Vec<Vec<String>> {
    let text = String::from_utf8_lossy(value);
    let (mut parts, mut words, mut word) = (Vec::new(), Vec::new(), String::new());
    let (mut quoted, mut depth, mut escaped) = (false, 0usize, false);
    for c in text.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                word.push(c);
            }
            continue;
        }
        match c {
            '\\' if quoted || depth > 0 => escaped = true,
            '"' if depth == 0 => {
                quoted = !quoted;
                word.push(c);
            }
            '(' if !quoted => depth += 1,
            ')' if !quoted && depth > 0 => depth -= 1,
            _ if quoted => word.push(c),
            _ if depth > 0 => {}
            ';' => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                parts.push(std::mem::take(&mut words));
            }
            c if c.is_whitespace() => {
                if !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
            }
            c => word.push(c),
        }
    }
    if !word.is_empty() {
        words.push(word);
    }
    parts.push(words);
    parts
}

/// A property a sealer recorded (`smtp.remote-ip=198.51.100.7`, quoted or not), in any of
/// its results.
pub fn sealed_property(value: &[u8], property: &str) -> Option<String> {
    parts(value).into_iter().skip(1).find_map(|words| {
        words.iter().skip(1).find_map(|w| {
            let (name, v) = w.split_once('=')?;
            let v = v.trim_matches('"');
            (name.eq_ignore_ascii_case(property) && !v.is_empty()).then(|| v.to_string())
        })
    })
}

/// The result a sealer recorded for `method` in its ARC-Authentication-Results value
/// (`i=1; mx.lists.test; dmarc=pass header.from=…`): the first word of a result part.
pub fn sealed_result(value: &[u8], method: &str) -> Option<AuthResult> {
    parts(value).into_iter().find_map(|words| {
        let (name, result) = words.first()?.split_once('=')?;
        name.eq_ignore_ascii_case(method).then(|| AuthResult::from_name(result))?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealers_results_are_read_by_method() {
        let v = b" i=1; mx.lists.test;\r\n\tspf=fail smtp.mailfrom=a@b.test;\r\n\tdmarc=pass header.from=b.test";
        assert_eq!(sealed_result(v, "dmarc"), Some(AuthResult::Pass));
        assert_eq!(sealed_result(v, "spf"), Some(AuthResult::Fail));
        assert_eq!(sealed_result(v, "dkim"), None);
        let arc = b" i=1; lists.test; arc=none smtp.remote-ip=\"2001:db8::7\"; spf=pass smtp.remote-ip=198.51.100.7";
        assert_eq!(sealed_property(arc, "smtp.remote-ip").as_deref(), Some("2001:db8::7"));
        assert_eq!(
            sealed_property(b"i=1; x; spf=pass smtp.remote-ip=198.51.100.7;", "smtp.remote-ip").as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(sealed_property(v, "smtp.remote-ip"), None);
        // What a sender wrote in a quoted local part or a comment is no result of the sealer's.
        let forged = b" i=1; lists.test; spf=fail smtp.mailfrom=\"x;dmarc=pass\"@evil.test (x; dmarc=pass); dmarc=fail";
        assert_eq!(sealed_result(forged, "dmarc"), Some(AuthResult::Fail));
        let forged_ip = b" i=1; lists.test; spf=pass smtp.mailfrom=\"smtp.remote-ip=1.2.3.4\"@evil.test";
        assert_eq!(sealed_property(forged_ip, "smtp.remote-ip"), None);
    }

    #[test]
    fn dmarc_needs_one_aligned_pass() {
        let fail = || DmarcResult::Fail(mail_auth::Error::NotAligned);
        assert_eq!(dmarc(&DmarcResult::Pass, &fail()), AuthResult::Pass);
        assert_eq!(dmarc(&fail(), &DmarcResult::None), AuthResult::Fail);
        assert_eq!(dmarc(&DmarcResult::None, &DmarcResult::None), AuthResult::None);
    }
}
