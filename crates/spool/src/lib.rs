//! doorman's durable spool: the only interface between receiving and delivering, as Postfix's
//! queue is, and the only code that knows where anything in it lives (`layout.rs`).
//!
//! Each tenant copy of a message is one file under `incoming/`: the [`Envelope`] as one JSON
//! line, then the message exactly as it will be delivered.
//!
//! - The receiving side ([`transaction`]) writes a copy as an unnamed file (or under `tmp/`),
//!   names it in `incoming/` once written, and commits: one sync makes every copy staged
//!   before it durable (group commit, `commit.rs`). Only then may the edge say `250`, and only
//!   then does delivery see the copy. A committed copy is whole. A crash can leave a copy
//!   that was never acknowledged cut short (its name durable before its data), or a stray
//!   file in `tmp/`. [`Spool::open`] removes the stray files and sets aside in `corrupt/`
//!   every copy it cannot read whole, whatever damaged it.
//! - The delivering side ([`delivery`]) lists committed copies, reads them, keeps each one's
//!   delivery state, quarantines, releases and finishes them.
//! - The running server says who it is and which config it serves in `serve.json`
//!   ([`ServeStatus`]), so `doorman reload` can signal it and read the result.

mod commit;
pub mod delivery;
mod durable;
mod envelope;
mod layout;
mod queue_id;
mod snapshot;
mod status;
mod store;
pub mod transaction;
mod unnamed;

pub use commit::{GroupCommit, SyncError, SyncMode};
pub use durable::write_durably;
pub use envelope::{BodyType, Disposition, Envelope, Recipient, SCHEMA};
pub use queue_id::new_queue_id;
pub use snapshot::PolicySnapshot;
pub use status::{ANSWERS_KEPT, Answer, ReloadResult, ServeStatus, process_start};
pub use store::{HEAD_BYTES, OpenCopy, SetAside, Spool, SpoolFile};
pub use transaction::{Spill, Staged, Transaction};
