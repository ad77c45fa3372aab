//! `doorman explain`: what the edge would answer to a described session, stage by stage and
//! recipient by recipient, with every check it made.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use doorman_filter::{Filter, Message};
use doorman_policy::{
    ClientCertificate, Detail, DnsblAnswer, DnsblResult, MessageHeaders, Policy, TlsInfo, Transaction, render,
};

/// Explain the decision for each recipient of a described session.
///
/// Exit status: 0 when every recipient would be accepted, 1 when any would be refused,
/// 2 for a usage or config error.
#[derive(clap::Args)]
pub struct Args {
    /// The config file; the built-in example (examples/contoso.toml) when omitted.
    #[arg(long)]
    config: Option<PathBuf>,
    /// The client's IP address (after any PROXY header).
    #[arg(long)]
    client_ip: IpAddr,
    /// The session uses TLS.
    #[arg(long)]
    tls: bool,
    /// A name on the client's verified TLS certificate (implies --tls). Repeat for several.
    #[arg(long = "client-cert-name", value_name = "NAME")]
    client_cert_names: Vec<String>,
    /// The client presented a certificate that did not verify (implies --tls).
    #[arg(long, conflicts_with = "client_cert_names")]
    unverified_cert: bool,
    /// The EHLO name ('' for an EHLO without one).
    #[arg(long)]
    helo: Option<String>,
    /// The envelope sender; '<>' or '' for the null sender.
    #[arg(long, value_name = "ADDR", allow_hyphen_values = true)]
    mail_from: String,
    /// Envelope recipients: --rcpt a@x b@y, or --rcpt repeated.
    #[arg(long, value_name = "ADDR", required = true, num_args = 1..)]
    rcpt: Vec<String>,
    /// A message header for transport rules, 'Name: value'. Repeat for several.
    #[arg(long = "header", value_name = "'NAME: VALUE'")]
    headers: Vec<String>,
    /// Treat the client as listed in this DNSBL zone (explain does no DNS). Repeatable.
    #[arg(long = "dnsbl-listed", value_name = "ZONE")]
    dnsbl_listed: Vec<String>,
    /// The SIZE declared at MAIL FROM, in bytes.
    #[arg(long)]
    size: Option<u64>,
    /// MAIL FROM gives the SMTPUTF8 parameter (needed for non-ASCII addresses).
    #[arg(long)]
    smtputf8: bool,
    /// The session comes through this proxy, whose PROXY v2 header names --client-ip.
    #[arg(long, value_name = "IP")]
    proxy_peer: Option<IpAddr>,
    /// The message's size at the end of DATA, in bytes; default: the size of the headers.
    #[arg(long, value_name = "N", conflicts_with = "message")]
    message_size: Option<u64>,
    /// Run DATA on this message (RFC 5322, as the client would send it): its headers feed
    /// the rules, and it is authenticated through [server.dns] and scanned by the configured
    /// spam filter, as the edge would.
    #[arg(long, value_name = "FILE.eml", conflicts_with = "headers")]
    message: Option<PathBuf>,
    /// Print JSON (schema doorman.explain/2, see docs/explain-json.md).
    #[arg(long)]
    json: bool,
}

const USAGE_ERROR: u8 = 2;

pub fn run(args: Args) -> ExitCode {
    let loaded = match super::load(args.config.as_ref()) {
        Ok(l) => l,
        Err(diags) => {
            super::print_diagnostics("explain", &diags);
            return ExitCode::from(USAGE_ERROR);
        }
    };
    for w in &loaded.warnings {
        super::print_diagnostics("explain", w);
    }
    let mut pairs = Vec::new();
    for h in &args.headers {
        match h.split_once(':') {
            Some((name, value)) if !name.trim().is_empty() => pairs.push((name, value)),
            _ => {
                eprintln!("doorman explain: --header {h:?} is not of the form 'Name: value'");
                return ExitCode::from(USAGE_ERROR);
            }
        }
    }

    let message = match &args.message {
        None => None,
        Some(path) => match std::fs::read(path) {
            Ok(bytes) => Some(crlf(bytes)),
            Err(e) => {
                eprintln!("doorman explain: cannot read {}: {e}", path.display());
                return ExitCode::from(USAGE_ERROR);
            }
        },
    };
    let filter = match (&message, doorman_dns::dnsbl::Dnsbl::new(&loaded.config.server.dns)) {
        (None, _) => Filter::off(),
        (Some(_), Ok(dnsbl)) => Filter::new(&loaded.config, &dnsbl, None),
        (Some(_), Err(e)) => {
            eprintln!("doorman explain: {e}");
            return ExitCode::from(USAGE_ERROR);
        }
    };
    let policy = Policy::new(loaded.config);
    let mut tx = Transaction::new(args.client_ip, args.mail_from, &[]);
    tx.recipients = args.rcpt;
    tx.headers = match &message {
        Some(m) => MessageHeaders::parse(m),
        None => MessageHeaders::from_pairs(pairs),
    };
    tx.declared_size = args.size;
    tx.smtputf8 = args.smtputf8;
    tx.proxy_peer = args.proxy_peer;
    tx.message_size = message.as_ref().map(|m| m.len() as u64).or(args.message_size);
    tx.session.helo = args.helo;
    let cert = match (args.client_cert_names.is_empty(), args.unverified_cert) {
        (false, _) => Some(ClientCertificate::Verified { names: args.client_cert_names }),
        (true, true) => Some(ClientCertificate::Unverified),
        (true, false) => args.tls.then_some(ClientCertificate::None),
    };
    // The version and cipher stand in for what the edge would negotiate.
    tx.session.tls = cert.map(|c| TlsInfo::new("TLSv1.3", "TLS13_AES_256_GCM_SHA384", c));
    tx.session.dnsbl = args
        .dnsbl_listed
        .into_iter()
        .map(|zone| DnsblAnswer { zone, result: DnsblResult::Listed("127.0.0.2".into()) })
        .collect();

    let evaluation = match &message {
        None => policy.evaluate(&tx, Detail::Explained),
        Some(bytes) => {
            let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("doorman explain: cannot start the resolver: {e}");
                    return ExitCode::from(USAGE_ERROR);
                }
            };
            policy.evaluate_with(&tx, Detail::Explained, |plan| {
                let m = Message { session: &tx.session, queue_id: "explain", bytes };
                runtime.block_on(filter.gather(plan, &m))
            })
        }
    };
    if args.json {
        super::emit(&(serde_json::to_string_pretty(&evaluation).expect("an evaluation serialises") + "\n"));
    } else {
        super::emit(&render::evaluation(&evaluation));
    }
    if evaluation.verdict.all_accepted { ExitCode::SUCCESS } else { ExitCode::from(1) }
}

/// The message with CRLF line ends, as it would arrive by SMTP (a file saved on Unix has LF).
fn crlf(bytes: Vec<u8>) -> Vec<u8> {
    if !bytes.contains(&b'\n') || bytes.windows(2).all(|w| w[1] != b'\n' || w[0] == b'\r') {
        return bytes;
    }
    let mut out = Vec::with_capacity(bytes.len() + bytes.len() / 32);
    let mut prev = 0u8;
    for &b in &bytes {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    out
}
