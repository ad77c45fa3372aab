//! What `doorman queue` and `doorman quarantine` do, safely while `doorman serve` runs: through
//! the spool, which only writes delivery states and moves whole files, and asks the running
//! queue manager to look again at once.

use std::io;

use doorman_spool::{Spool, SpoolFile};

use crate::state::{self, DeliveryState};

/// A copy waiting in the queue, with its delivery state (none before the first attempt).
pub struct Queued {
    pub file: SpoolFile,
    pub state: Option<DeliveryState>,
}

pub fn list(spool: &Spool) -> io::Result<Vec<Queued>> {
    spool.queued()?.into_iter().map(|id| show(spool, &id)).collect()
}

pub fn show(spool: &Spool, id: &str) -> io::Result<Queued> {
    let file = spool.read(id)?;
    Ok(Queued { state: state::load(spool, id)?, file })
}

/// Makes one copy due now (or every copy, with `None`).
pub fn retry(spool: &Spool, id: Option<&str>) -> io::Result<usize> {
    let ids = match id {
        Some(id) => {
            spool.read(id).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => io::Error::new(io::ErrorKind::NotFound, format!("no queued copy {id}")),
                _ => e,
            })?;
            vec![id.to_string()]
        }
        None => spool.queued()?,
    };
    for id in &ids {
        if let Some(mut st) = state::load(spool, id)? {
            st.next_attempt = 0;
            state::save(spool, id, &st)?;
        }
    }
    spool.request_flush()?;
    Ok(ids.len())
}

/// Deletes a queued copy without delivering it or sending a DSN.
pub fn remove(spool: &Spool, id: &str) -> io::Result<()> {
    spool.finish(id)
}
