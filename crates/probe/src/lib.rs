//! `doorman probe`'s library: a domain seen from outside, as a stranger sees it.
//!
//! - [`providers`]: the cloud mail providers a tenant can sit with, in one table, and the
//!   DNS signs each leaves (its MX names, its verification TXT records, its SPF include, its
//!   CNAMEs). Adding a provider is one entry.
//! - [`signals`]: asks DNS for those signs, and finds the tenant hosts a stranger could
//!   connect to while the MX names a gateway.
//! - [`reply`]: what the probe's RCPT replies mean: closed, open, or inconclusive, never a
//!   guess; a timeout or a refused connection is inconclusive, not closed.
//! - [`conversation`]: the SMTP conversation with one host, up to RCPT and never DATA.
//! - [`verdict`]: SIDE DOOR OPEN, CLOSED, NO CLOUD TENANT or INCONCLUSIVE, and why.
//! - [`run`]: a run over domains, one connection at a time, with a delay per address.

pub mod conversation;
pub mod providers;
pub mod reply;
pub mod run;
pub mod signals;
pub mod verdict;
