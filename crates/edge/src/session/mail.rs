//! MAIL FROM: starts a transaction under the config generation in force now.

use doorman_policy::Detail;
use doorman_tracking::Event;

use super::command::MailParams;
use super::{Flow, Session, Transaction, replies};
use crate::shutdown::Phase;

impl Session {
    pub(super) fn mail(&mut self, path: &str, params: MailParams) -> Flow {
        if self.info.helo.is_none() {
            self.reply(&replies::bad_sequence("Send EHLO or HELO first"));
            return Flow::Continue;
        }
        if self.tx.is_some() {
            self.reply(&replies::bad_sequence("Sender already specified"));
            return Flow::Continue;
        }
        if self.shutdown.phase() != Phase::Running {
            let host = self.hostname();
            self.reply(&replies::shutting_down(&host));
            return Flow::Close;
        }
        let generation = self.shared.current();
        self.generation = generation.clone();
        let decision = generation.policy.mail_from(path, &params.policy(), Detail::Brief);
        self.reply(&decision.reply);
        match decision.sender {
            Some(sender) => {
                self.tx = Some(Transaction {
                    generation,
                    sender,
                    eight_bit: params.eight_bit,
                    smtputf8: params.smtputf8,
                    accepted: Vec::new(),
                    bdat: None,
                });
            }
            None => {
                let mut r = self.record(Event::Reject);
                r.stage = Some(doorman_tracking::Stage::Mail);
                r.mail_from = Some(path.to_string());
                r.reply = Some(decision.reply.to_string());
                self.shared.tracking.log(r);
            }
        }
        Flow::Continue
    }
}
