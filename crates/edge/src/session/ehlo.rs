//! EHLO, HELO and STARTTLS: who the client says it is, what we offer, and the switch to TLS.

use doorman_config::ListenerTls;
use doorman_policy::Detail;
use doorman_tracking::Event;
use tokio_rustls::TlsAcceptor;

use super::{Flow, Session, replies};

impl Session {
    pub(super) fn ehlo(&mut self, name: &str, esmtp: bool) {
        self.generation = self.shared.current();
        let decision = self.generation.policy.helo(&self.info, name, esmtp, Detail::Brief);
        if !decision.is_accepted() {
            self.reply(&decision.reply);
            return;
        }
        // EHLO resets any transaction (RFC 5321 section 4.1.4).
        self.tx = None;
        self.info.helo = Some(name.to_string());
        self.esmtp = esmtp;
        let first = decision.reply.to_string();
        if !esmtp {
            self.shared.metrics.reply(250);
            self.conn.queue(&first);
            return;
        }
        let mut lines = vec![first[4..].to_string()];
        lines.push(format!("SIZE {}", self.limits().max_message_size));
        lines.extend(["PIPELINING", "ENHANCEDSTATUSCODES", "8BITMIME", "SMTPUTF8", "CHUNKING"].map(String::from));
        if self.listener_tls == ListenerTls::Starttls && !self.conn.is_tls() {
            lines.push("STARTTLS".into());
        }
        lines.push("HELP".into());
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.conn.queue(&format!("250{sep}{l}"));
        }
        self.shared.metrics.reply(250);
    }

    pub(super) async fn starttls(&mut self) -> Flow {
        if self.conn.is_tls() {
            self.reply(&replies::bad_sequence("TLS already active"));
            return Flow::Continue;
        }
        if self.listener_tls != ListenerTls::Starttls {
            self.reply(&replies::tls_not_available());
            return Flow::Continue;
        }
        self.generation = self.shared.current();
        self.reply(&replies::ready_for_tls());
        let setup = self.generation.tls.clone();
        let timeout = crate::tls::handshake_timeout(self.limits());
        match self.conn.start_tls(TlsAcceptor::from(setup.config.clone()), timeout).await {
            Ok(dropped) => {
                if dropped > 0 {
                    tracing::info!(session = %self.id, client = %self.client_ip(), "dropped {dropped} bytes sent in plaintext after STARTTLS");
                }
                let Some(tls) = self.conn.tls() else { return Flow::Close };
                self.info.tls = Some(crate::tls::session_info(tls, &setup));
                // Everything said before TLS is forgotten (RFC 3207 section 4.2).
                self.info.helo = None;
                self.esmtp = false;
                self.tx = None;
                Flow::Continue
            }
            Err(e) => {
                tracing::info!(session = %self.id, client = %self.client_ip(), "TLS handshake failed: {e}");
                let mut r = self.record(Event::Reject);
                r.stage = Some(doorman_tracking::Stage::Starttls);
                r.reply = Some(format!("TLS handshake failed: {e}"));
                self.shared.tracking.log(r);
                Flow::Close
            }
        }
    }
}
