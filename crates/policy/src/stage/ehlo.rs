//! EHLO/HELO. The name is recorded, not trusted: Exchange Online and Postfix's defaults accept
//! any non-empty name, because many legitimate servers announce themselves badly.

use doorman_config::address::parse_domain;

use crate::reply::Reply;
use crate::session::Session;
use crate::snapshot::Policy;
use crate::stage::StageDecision;
use crate::trace::{Check, Detail, Outcome, Trace};

impl Policy {
    /// `esmtp` is true for EHLO, false for HELO; the reply to a missing name names the verb.
    pub fn helo(&self, session: &Session, name: &str, esmtp: bool, detail: Detail) -> StageDecision {
        let mut trace = Trace::new(detail);
        let name = name.trim();
        if name.is_empty() {
            let reply = trace.refuse(Check::Helo, Reply::helo_syntax(esmtp), || {
                format!("{} without a name", if esmtp { "EHLO" } else { "HELO" })
            });
            return StageDecision { reply, trace };
        }
        trace.step(Check::Helo, Outcome::Pass, || match parse_domain(name) {
            Ok(_) => format!("{name} is a valid host name or address literal"),
            Err(_) => format!("{name:?} is not a valid host name; accepted and recorded"),
        });
        StageDecision { reply: Reply::hello(&self.config().server.hostname, session.client_ip), trace }
    }
}
