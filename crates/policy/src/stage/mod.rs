//! One module per SMTP stage, each adding its decisions to [`Policy`](crate::Policy).

pub mod connect;
pub mod data;
pub mod ehlo;
pub mod mail;
pub mod rcpt;

use serde::Serialize;

use crate::reply::Reply;
use crate::trace::Trace;

/// The decision of a stage that only answers: the reply and why.
#[derive(Clone, Debug, Serialize)]
pub struct StageDecision {
    pub reply: Reply,
    pub trace: Trace,
}

impl StageDecision {
    pub fn is_accepted(&self) -> bool {
        self.reply.is_positive()
    }
}
