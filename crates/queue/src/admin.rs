//! What `doorman queue` and `doorman quarantine` do, safely while `doorman serve` runs: through
//! the spool, which only writes delivery states and moves whole files, and asks the running
//! queue manager to look again at once. Each action that changes something gives the copies
//! it acted on, for their `admin_*` tracking lines ([`records`]).

use std::io;

use doorman_spool::{Envelope, Spool, SpoolFile};
use doorman_tracking::{Event, Record};

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

/// Makes one copy due now (or every copy, with `None`), and gives their envelopes.
pub fn retry(spool: &Spool, id: Option<&str>) -> io::Result<Vec<Envelope>> {
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
    let mut due = Vec::with_capacity(ids.len());
    for id in &ids {
        // Delivered since it was listed: nothing to make due.
        let Ok(file) = spool.read(id) else { continue };
        if let Some(mut st) = state::load(spool, id)? {
            st.next_attempt = 0;
            state::save(spool, id, &st)?;
        }
        due.push(file.envelope);
    }
    spool.request_flush()?;
    Ok(due)
}

/// Deletes a queued copy without delivering it or sending a DSN.
pub fn remove(spool: &Spool, id: &str) -> io::Result<Envelope> {
    let file = spool.read(id)?;
    spool.finish(id)?;
    Ok(file.envelope)
}

/// Puts a quarantined copy back in the queue, to be delivered as it is.
pub fn release(spool: &Spool, id: &str) -> io::Result<Envelope> {
    let (_, file) = spool.find_quarantined(id)?;
    spool.release(id)?;
    Ok(file.envelope)
}

/// Deletes a quarantined copy.
pub fn delete(spool: &Spool, id: &str) -> io::Result<Envelope> {
    let (_, file) = spool.find_quarantined(id)?;
    spool.delete_quarantined(id)?;
    Ok(file.envelope)
}

/// The tracking lines of an administrative action: one per recipient of each copy, as a
/// delivery's are, so that a message's history ends where the administrator ended it. `uid`
/// is who ran it.
pub fn records(event: Event, copies: &[Envelope], uid: u32) -> Vec<Record> {
    let mut out = Vec::new();
    for e in copies {
        for r in &e.recipients {
            let mut rec = Record::now(event);
            rec.session = Some(e.session.clone());
            rec.queue_id = Some(e.queue_id.clone());
            rec.client_ip = Some(e.client_ip.clone());
            rec.mail_from = Some(e.mail_from.clone());
            rec.rcpt = Some(r.address.clone());
            rec.tenant = Some(e.tenant.clone());
            rec.connector = e.connector.clone();
            rec.scl = e.scl;
            rec.uid = Some(uid);
            out.push(rec);
        }
    }
    out
}

/// The user this process runs as: who an administrative action is logged for.
pub fn current_uid() -> u32 {
    // SAFETY: getuid(2) cannot fail and touches no memory.
    unsafe { libc::getuid() }
}
