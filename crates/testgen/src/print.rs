//! What a person needs to reproduce a failing case: the config as TOML, written to
//! `case.toml` by a pasteable here-document, and each session as a `doorman explain` command.

use std::fmt;

use crate::Case;
use crate::config::GenConfig;
use crate::session::{GenDnsbl, GenSession, GenTls};

/// The file name the printed commands read the config from.
const CONFIG_FILE: &str = "case.toml";

/// Quotes an argument for a POSIX shell: inside single quotes nothing is special except the
/// quote itself, which is closed, escaped and reopened.
pub fn shell_quote(arg: &str) -> String {
    format!("'{}'", arg.replace('\'', r"'\''"))
}

impl GenSession {
    /// The `doorman explain` arguments for this session, without the program name and
    /// `--config`. A failed DNSBL lookup has no flag (explain treats unlisted zones as not
    /// listed); [`fmt::Debug`] notes it beside the command.
    pub fn explain_args(&self) -> Vec<String> {
        let mut args = vec!["--client-ip".to_string(), self.client_ip.to_string()];
        match &self.tls {
            GenTls::None => {}
            GenTls::NoCertificate => args.push("--tls".into()),
            GenTls::Unverified => args.extend(["--tls".into(), "--unverified-cert".into()]),
            GenTls::Verified(names) => {
                args.push("--tls".into());
                for n in names {
                    args.extend(["--client-cert-name".into(), n.clone()]);
                }
            }
        }
        args.extend(["--helo".into(), self.helo.clone(), "--mail-from".into(), self.mail_from.clone()]);
        for r in &self.rcpts {
            args.extend(["--rcpt".into(), r.clone()]);
        }
        for (name, value) in &self.headers {
            args.extend(["--header".into(), format!("{name}: {value}")]);
        }
        for (zone, answer) in &self.dnsbl {
            if *answer == GenDnsbl::Listed {
                args.extend(["--dnsbl-listed".into(), zone.clone()]);
            }
        }
        if self.smtputf8 {
            args.push("--smtputf8".into());
        }
        args
    }

    /// The whole command line, flags bare and every value single-quoted. A client that is
    /// itself a trusted proxy reaches RCPT only through its own PROXY header, so the command
    /// says so with `--proxy-peer`.
    fn command(&self, proxied: bool) -> String {
        let mut line = format!("doorman explain --config {CONFIG_FILE}");
        let mut args = self.explain_args();
        if proxied {
            args.extend(["--proxy-peer".into(), self.client_ip.to_string()]);
        }
        for arg in args {
            line.push(' ');
            if arg.starts_with("--") {
                line.push_str(&arg);
            } else {
                line.push_str(&shell_quote(&arg));
            }
        }
        line
    }
}

impl GenSession {
    fn write(&self, f: &mut fmt::Formatter<'_>, proxied: bool) -> fmt::Result {
        f.write_str(&self.command(proxied))?;
        for (zone, answer) in &self.dnsbl {
            if *answer == GenDnsbl::Failed {
                write!(f, "\n# the DNSBL lookup in {zone} fails (no answer)")?;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for GenSession {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write(f, false)
    }
}

impl GenConfig {
    /// Whether `ip` is one of the config's trusted proxies.
    pub fn is_trusted_proxy(&self, ip: std::net::IpAddr) -> bool {
        let ip = doorman_config::net::canonical_ip(ip);
        self.server
            .trusted_proxies
            .iter()
            .any(|p| doorman_config::net::IpEntry::parse(&p.form.text()).is_ok_and(|e| e.contains(ip)))
    }
}

impl fmt::Debug for GenConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A delimiter no generated value contains, quoted so the shell expands nothing.
        write!(f, "cat > {CONFIG_FILE} <<'END_OF_CASE_TOML'\n{}END_OF_CASE_TOML", self.toml())
    }
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "\n{:?}", self.config)?;
        for s in &self.sessions {
            s.write(f, self.config.is_trusted_proxy(s.client_ip))?;
            writeln!(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("<>"), "'<>'");
        assert_eq!(shell_quote("Subject: it's"), r"'Subject: it'\''s'");
    }
}
