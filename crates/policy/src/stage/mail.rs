//! MAIL FROM: the reverse path's syntax and the declared size. Nothing tenant-specific can be
//! decided yet; the sender domain is used at RCPT TO.

use doorman_config::address::{ReversePath, parse_reverse_path};
use serde::Serialize;

use crate::reply::Reply;
use crate::snapshot::Policy;
use crate::trace::{Check, Detail, Outcome, Trace};

#[derive(Clone, Debug, Serialize)]
pub struct MailDecision {
    pub reply: Reply,
    /// The parsed sender when accepted.
    pub sender: Option<ReversePath>,
    pub trace: Trace,
}

impl Policy {
    /// `path` is the reverse path as written (`<a@b>`, `<>`); `declared_size` is the SIZE
    /// parameter.
    pub fn mail_from(&self, path: &str, declared_size: Option<u64>, detail: Detail) -> MailDecision {
        let mut trace = Trace::new(detail);
        let sender = match parse_reverse_path(path) {
            Ok(s) => s,
            Err(why) => {
                let reply =
                    trace.refuse(Check::SenderSyntax, Reply::bad_sender_syntax(&why), || format!("{path:?}: {why}"));
                return MailDecision { reply, sender: None, trace };
            }
        };
        trace.step(Check::SenderSyntax, Outcome::Pass, || match &sender {
            ReversePath::Null => "the null sender <> (a bounce)".to_string(),
            ReversePath::Mailbox(m) => format!("{m} is a valid address"),
        });
        let max = self.config().server.limits.max_message_size;
        match declared_size {
            Some(size) if size > max => {
                let reply = trace.refuse(Check::MessageSize, Reply::message_too_big(), || {
                    format!("declared SIZE={size} is over the limit of {max} bytes")
                });
                return MailDecision { reply, sender: None, trace };
            }
            Some(size) => trace
                .step(Check::MessageSize, Outcome::Pass, || format!("declared SIZE={size}, the limit is {max} bytes")),
            None => trace.step(Check::MessageSize, Outcome::Skip, || {
                format!("no SIZE declared; the limit of {max} bytes is enforced during DATA")
            }),
        }
        MailDecision { reply: Reply::sender_ok(), sender: Some(sender), trace }
    }
}
