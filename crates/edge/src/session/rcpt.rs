//! RCPT TO: each recipient decided by the policy, in the transaction so far.

use doorman_policy::{Detail, RcptContext, add_accepted};
use doorman_tracking::Event;

use super::{Session, replies};
use crate::metrics::Outcome;

impl Session {
    pub(super) async fn rcpt(&mut self, path: &str) {
        let Some(tx) = &self.tx else {
            self.reply(&replies::need_mail());
            return;
        };
        if tx.bdat.is_some() {
            self.reply(&replies::bad_sequence("RCPT not allowed during BDAT"));
            return;
        }
        self.ensure_dnsbl().await;
        let Some(tx) = &self.tx else { return };
        let generation = tx.generation.clone();
        let cx = RcptContext { sender: &tx.sender, smtputf8: tx.smtputf8, accepted: tx.accepted.len() };
        let decision = generation.policy.rcpt(&self.info, &cx, path, Detail::Brief);
        self.reply(&decision.reply);
        match decision.accepted {
            Some(accepted) => {
                let tx = self.tx.as_mut().expect("checked above");
                add_accepted(&mut tx.accepted, accepted);
            }
            None => {
                let tenant = decision.tenant.map(|t| generation.policy.tenant(t).name().to_string());
                if let Some(t) = &tenant {
                    self.shared.metrics.message(t, Outcome::Reject);
                }
                let mut r = self.record(Event::Reject);
                r.stage = Some(doorman_tracking::Stage::Rcpt);
                r.rcpt = Some(path.trim_start_matches('<').trim_end_matches('>').to_string());
                r.tenant = tenant;
                r.connector = decision.connector.as_ref().map(|c| c.name.to_string());
                r.reply = Some(decision.reply.to_string());
                self.shared.tracking.log(r);
            }
        }
    }

    /// Waits for the lookups started at connect, and asks any zone a reload added since.
    async fn ensure_dnsbl(&mut self) {
        if let Some(pending) = self.dnsbl_pending.take()
            && let Ok(answers) = pending.await
        {
            self.info.dnsbl = answers;
        }
        let Some(tx) = &self.tx else { return };
        let generation = tx.generation.clone();
        let missing: Vec<String> =
            generation.zones.iter().filter(|z| !self.info.dnsbl.iter().any(|a| &a.zone == *z)).cloned().collect();
        if !missing.is_empty() {
            let answers = generation.dnsbl.check(self.info.client_ip, &missing).await;
            self.info.dnsbl.extend(answers);
        }
    }
}
