//! MAIL FROM: SMTPUTF8, the reverse path's syntax and the declared size. Nothing
//! tenant-specific can be decided yet; the sender domain is used at RCPT TO.

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

/// The MAIL FROM parameters the policy decides on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MailParams {
    /// The declared SIZE.
    pub size: Option<u64>,
    /// The SMTPUTF8 parameter: the transaction may use non-ASCII addresses.
    pub smtputf8: bool,
}

impl Policy {
    /// `path` is the reverse path as written (`<a@b>`, `<>`).
    pub fn mail_from(&self, path: &str, params: &MailParams, detail: Detail) -> MailDecision {
        let mut trace = Trace::new(detail);
        if let Err(reply) = smtputf8_check(path, params.smtputf8, &mut trace) {
            return MailDecision { reply, sender: None, trace };
        }
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
        match params.size {
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

/// RFC 6531: a non-ASCII path only in a transaction that asked for SMTPUTF8.
pub(crate) fn smtputf8_check(path: &str, smtputf8: bool, trace: &mut Trace) -> Result<(), Reply> {
    match (path.is_ascii(), smtputf8) {
        (true, _) => trace.step(Check::Smtputf8, Outcome::Pass, || "the address is ASCII".to_string()),
        (false, true) => trace.step(Check::Smtputf8, Outcome::Pass, || {
            format!("{path} is not ASCII, which the SMTPUTF8 parameter allows")
        }),
        (false, false) => {
            return Err(trace.refuse(Check::Smtputf8, Reply::smtputf8_required(), || {
                format!("{path} is not ASCII and MAIL FROM did not give the SMTPUTF8 parameter")
            }));
        }
    }
    Ok(())
}
