//! doorman's policy engine: a pure library (no I/O, no async) that decides every SMTP stage
//! of a described session and explains each decision with a trace.
//!
//! The edge, `doorman explain` and the analyzer all call these same functions, so what the
//! analyzer proves is what the edge enforces.
//!
//! - [`Policy::new`] compiles a [`Config`](doorman_config::Config) into an immutable snapshot.
//! - [`Policy::connect`], [`Policy::helo`], [`Policy::mail_from`], [`Policy::rcpt`],
//!   [`Policy::data_start`] and [`Policy::data`] decide one stage each; [`Policy::evaluate`]
//!   runs a whole transaction. Every reply a client can get for a policy reason comes from
//!   them; the edge adds only protocol replies (sequence, syntax, framing, timeouts).
//! - The caller supplies what needs I/O: the PROXY header as read, TLS state and verified
//!   certificate names ([`Session`]), DNSBL answers, the parsed headers and the message size.

mod boundary;
mod connector;
mod domains;
pub mod filtering;
mod headers;
mod iptable;
pub mod render;
mod reply;
mod rules;
mod session;
mod snapshot;
mod stage;
mod trace;
mod transaction;

pub use boundary::{Boundaries, Fact};
pub use connector::{Attribution, ConnectorMatch, MatchedBy, attribute};
pub use domains::DomainRef;
pub use filtering::{CopyPlan, Exemption, FilterFacts, FilterPlan};
pub use headers::MessageHeaders;
pub use reply::Reply;
pub use rules::{header_contains_holds, header_contains_match};
pub use session::{ClientCertificate, DnsblAnswer, DnsblResult, Session, TlsInfo};
pub use snapshot::{Policy, TenantId, TenantView};
pub use stage::StageDecision;
pub use stage::connect::{ConnectDecision, ConnectInfo, ProxyHeader};
pub use stage::data::{
    AUTH_RESULTS_HEADER, CopyAuthentication, DataDecision, Disposition, Filtering, HeaderField, MAX_HOPS,
    REPORT_HEADER, RuleHit, SclSource, TenantCopy, report_value,
};
pub use stage::mail::{MailDecision, MailParams};
pub use stage::rcpt::{AcceptedRecipient, DnsblHit, RcptContext, RcptDecision, add_accepted, dnsbl_hit};
pub use trace::{Check, Detail, Outcome, Step, Trace};
pub use transaction::{EXPLAIN_SCHEMA, Evaluation, RcptReport, Transaction, Verdict};

/// Serialises a value through its `Display` form.
pub(crate) fn ser_display<T: std::fmt::Display, S: serde::Serializer>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(v)
}
