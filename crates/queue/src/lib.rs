//! doorman's queue manager: the delivering side. It reads tenant copies out of the spool (the
//! only interface with the receiving side, as in Postfix), routes each recipient by its
//! tenant's `routing`, and delivers:
//!
//! - [`smtp`]: relay to next hops in priority order, STARTTLS required (and verified) or
//!   opportunistic, pipelined, with a per-recipient result;
//! - [`maildir`]: one Maildir per recipient (tmp, fsync, rename into new).
//!
//! Each recipient's state is persisted in [`state`] before anything else happens, so a crash
//! leads to a retry (at least once), never to a loss. A 4xx is retried on the configured
//! schedule; a 5xx, or a copy older than `max_age`, fails and its sender gets a DSN ([`dsn`]).
//! [`metrics`] counts each recipient's result; [`census`] counts what the queue holds.

pub mod admin;
mod bounce;
pub mod census;
pub mod dsn;
mod lifecycle;
pub mod maildir;
mod manager;
pub mod metrics;
mod routes;
pub mod smtp;
pub mod state;

pub use manager::{PolicySource, QueueManager};
