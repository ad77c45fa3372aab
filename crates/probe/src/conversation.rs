//! The probe's SMTP conversation with one host: greeting, EHLO, STARTTLS when offered, then
//! for each sender class MAIL and RCPT, RSET, and QUIT. Never DATA: the probe asks whether a
//! door would open, and never walks through it.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use doorman_client::{RemoteReply, has_extension};
use rustls::pki_types::ServerName;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncWrite, BufReader};
use tokio::net::TcpSocket;

use crate::reply::{Meaning, classify};

/// The senders a stranger can be, one transaction each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SenderClass {
    /// An address at a domain of no one's: what spam and phishing look like.
    External,
    /// The domain's own address from outside: direct send.
    OwnDomain,
    /// `<>`: bounces, which no connector can attribute by sender.
    Null,
}

impl SenderClass {
    pub const ALL: [SenderClass; 3] = [SenderClass::External, SenderClass::OwnDomain, SenderClass::Null];

    /// The MAIL FROM path for `domain`; `external` is the outside sender's address.
    pub fn path(self, domain: &str, external: &str) -> String {
        match self {
            SenderClass::External => external.to_string(),
            SenderClass::OwnDomain => format!("postmaster@{domain}"),
            SenderClass::Null => String::new(),
        }
    }
}

/// How to talk to a host.
#[derive(Clone, Debug)]
pub struct Settings {
    pub helo: String,
    /// The outside sender's address.
    pub mail_from: String,
    pub port: u16,
    /// The address to connect from; the system's choice when `None`.
    pub source: Option<IpAddr>,
    /// For each step: connecting, the TLS handshake, and each reply.
    pub timeout: Duration,
}

/// One host asked.
#[derive(Clone, Debug, Serialize)]
pub struct HostProbe {
    pub host: String,
    pub address: IpAddr,
    pub port: u16,
    /// The address the probe came from, as the host saw it.
    pub source: Option<IpAddr>,
    pub tls: Option<TlsSeen>,
    pub transactions: Vec<Transaction>,
    /// Every line, `C: ` for what the probe sent and `S: ` for what the host answered.
    pub transcript: Vec<String>,
    /// Why the conversation stopped early (a refused connection, a timeout); then the host
    /// said nothing conclusive.
    pub error: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct TlsSeen {
    pub version: String,
    /// The certificate's subject CN and DNS names.
    pub certificate_names: Vec<String>,
}

/// One sender class's MAIL and the RCPTs after it.
#[derive(Clone, Debug, Serialize)]
pub struct Transaction {
    pub sender: SenderClass,
    pub mail_from: String,
    pub mail: Reply,
    pub rcpts: Vec<Rcpt>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Rcpt {
    pub rcpt: String,
    pub reply: Reply,
}

#[derive(Clone, Debug, Serialize)]
pub struct Reply {
    pub code: u16,
    pub text: String,
    pub meaning: Meaning,
}

impl From<RemoteReply> for Reply {
    fn from(r: RemoteReply) -> Reply {
        Reply { meaning: classify(r.code, &r.text), code: r.code, text: r.text }
    }
}

/// Asks `host` at `address` about `domain`'s `recipients`, as each sender class.
pub async fn probe(host: &str, address: IpAddr, domain: &str, recipients: &[String], s: &Settings) -> HostProbe {
    let mut p = HostProbe {
        host: host.to_string(),
        address,
        port: s.port,
        source: None,
        tls: None,
        transactions: Vec::new(),
        transcript: Vec::new(),
        error: None,
    };
    if let Err(e) = converse(&mut p, domain, recipients, s).await {
        p.error = Some(e);
    }
    p
}

async fn converse(p: &mut HostProbe, domain: &str, recipients: &[String], s: &Settings) -> Result<(), String> {
    let target = SocketAddr::new(p.address, s.port);
    let socket = if target.is_ipv4() { TcpSocket::new_v4() } else { TcpSocket::new_v6() }.map_err(|e| e.to_string())?;
    if let Some(src) = s.source {
        socket.bind(SocketAddr::new(src, 0)).map_err(|e| format!("cannot use {src} as the source address: {e}"))?;
    }
    let tcp = match tokio::time::timeout(s.timeout, socket.connect(target)).await {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(format!("connect to {target}: {e}")),
        Err(_) => return Err(format!("connect to {target}: no answer within {} s", s.timeout.as_secs())),
    };
    p.source = tcp.local_addr().ok().map(|a| a.ip());
    let mut plain = BufReader::new(tcp);
    let greeting = read(p, &mut plain, s).await?;
    if greeting.code != 220 {
        return Err(format!("the greeting was {} {}", greeting.code, greeting.text));
    }
    let ehlo = say(p, &mut plain, &format!("EHLO {}", s.helo), s).await?;
    if ehlo.code != 250 {
        return Err(format!("EHLO was answered {} {}", ehlo.code, ehlo.text));
    }
    if !has_extension(&ehlo, "STARTTLS") {
        return transactions(p, &mut plain, domain, recipients, s).await;
    }
    let started = say(p, &mut plain, "STARTTLS", s).await?;
    if started.code != 220 {
        return transactions(p, &mut plain, domain, recipients, s).await;
    }
    if !plain.buffer().is_empty() {
        return Err("the host sent data before the TLS handshake".into());
    }
    let config = opportunistic()?;
    let name = ServerName::try_from(p.host.clone()).map_err(|e| format!("{}: {e}", p.host))?;
    let tls = match tokio::time::timeout(
        s.timeout,
        tokio_rustls::TlsConnector::from(config).connect(name, plain.into_inner()),
    )
    .await
    {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => return Err(format!("TLS handshake: {e}")),
        Err(_) => return Err(format!("TLS handshake: not done within {} s", s.timeout.as_secs())),
    };
    let (_, conn) = tls.get_ref();
    p.tls = Some(TlsSeen {
        version: match conn.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => "TLS 1.3".into(),
            Some(rustls::ProtocolVersion::TLSv1_2) => "TLS 1.2".into(),
            Some(v) => format!("{v:?}"),
            None => String::new(),
        },
        certificate_names: conn
            .peer_certificates()
            .and_then(|c| c.first())
            .map(doorman_tls::certificate_names)
            .unwrap_or_default(),
    });
    p.transcript.push("(TLS)".to_string());
    let mut tls = BufReader::new(tls);
    let ehlo = say(p, &mut tls, &format!("EHLO {}", s.helo), s).await?;
    if ehlo.code != 250 {
        return Err(format!("EHLO after STARTTLS was answered {} {}", ehlo.code, ehlo.text));
    }
    transactions(p, &mut tls, domain, recipients, s).await
}

async fn transactions<S: AsyncRead + AsyncWrite + Unpin>(
    p: &mut HostProbe,
    conn: &mut BufReader<S>,
    domain: &str,
    recipients: &[String],
    s: &Settings,
) -> Result<(), String> {
    for sender in SenderClass::ALL {
        let mail_from = sender.path(domain, &s.mail_from);
        let mail: Reply = say(p, conn, &format!("MAIL FROM:<{mail_from}>"), s).await?.into();
        let accepted = mail.code == 250;
        p.transactions.push(Transaction { sender, mail_from, mail, rcpts: Vec::new() });
        if accepted {
            for rcpt in recipients {
                // Each reply is kept as it comes: a host that hangs up after a 250 has still
                // said 250.
                let reply = say(p, conn, &format!("RCPT TO:<{rcpt}>"), s).await?.into();
                if let Some(t) = p.transactions.last_mut() {
                    t.rcpts.push(Rcpt { rcpt: rcpt.clone(), reply });
                }
            }
        }
        say(p, conn, "RSET", s).await?;
    }
    let _ = say(p, conn, "QUIT", s).await;
    Ok(())
}

async fn say<S: AsyncRead + AsyncWrite + Unpin>(
    p: &mut HostProbe,
    conn: &mut BufReader<S>,
    line: &str,
    s: &Settings,
) -> Result<RemoteReply, String> {
    p.transcript.push(format!("C: {line}"));
    doorman_client::write(conn, format!("{line}\r\n").as_bytes(), s.timeout).await.map_err(|e| e.to_string())?;
    read(p, conn, s).await
}

async fn read<S: AsyncRead + Unpin>(
    p: &mut HostProbe,
    conn: &mut BufReader<S>,
    s: &Settings,
) -> Result<RemoteReply, String> {
    let r = doorman_client::read_reply(conn, s.timeout).await.map_err(|e| e.to_string())?;
    let lines: Vec<&str> = r.text.split('\n').collect();
    for (i, line) in lines.iter().enumerate() {
        let sep = if i + 1 < lines.len() { '-' } else { ' ' };
        p.transcript.push(format!("S: {}{sep}{line}", r.code));
    }
    Ok(r)
}

/// Any certificate: the probe records what it sees and judges nothing by it.
fn opportunistic() -> Result<Arc<rustls::ClientConfig>, String> {
    doorman_client::any_certificate().map_err(|e| e.to_string())
}
