//! doorman's durable spool: the only interface between receiving and delivering, as Postfix's
//! queue is.
//!
//! Each tenant copy of a message is one file under `incoming/`: the [`Envelope`] as one JSON
//! line, then the message exactly as it will be delivered. A copy is written under `tmp/`,
//! fsynced, renamed into `incoming/`, and the directory is fsynced; only then may the edge say
//! `250`. A file in `incoming/` is therefore always whole; a crash leaves at most a stray
//! file in `tmp/`, which [`Spool::open`] removes.
//!
//! The directory fsync is shared by every copy that finishes at the same time (group commit):
//! see [`Spool::commit`].

mod commit;
mod envelope;
mod queue_id;
mod store;

pub use envelope::{Disposition, Envelope, Recipient, SCHEMA};
pub use queue_id::new_queue_id;
pub use store::{Spool, SpoolFile, Written};
