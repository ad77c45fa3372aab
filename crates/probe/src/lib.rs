//! `doorman probe`'s library: a domain seen from outside, as a stranger sees it.
//!
//! - [`providers`]: the cloud mail providers a tenant can sit with, in one table, and the
//!   DNS signs each leaves (its MX names, its verification TXT records, its SPF include, its
//!   CNAMEs). Adding a provider is one entry.
//! - [`signals`]: asks DNS for those signs, and finds the tenant hosts a stranger could
//!   connect to while the MX names a gateway.
//! - [`reply`]: what the probe's RCPT replies mean: closed, open, or inconclusive, never a
//!   guess; a timeout or a refused connection is inconclusive, not closed.

pub mod providers;
pub mod reply;
pub mod signals;
