//! What `doorman queue` and `doorman quarantine` do, safely while `doorman serve` runs: through
//! the spool, which only writes delivery states and moves whole files, and asks the running
//! queue manager to look again at once. Each action that changes something gives the copies
//! it acted on, for their `admin_*` tracking lines ([`records`]).

use std::io;

use doorman_spool::{Envelope, Spool, SpoolFile};
use doorman_tracking::{Event, Record};

use crate::state::{self, DeliveryState};

/// A copy waiting in the queue or on hold, with its delivery state (none before the first
/// attempt).
pub struct Queued {
    pub file: SpoolFile,
    pub state: Option<DeliveryState>,
    pub held: bool,
}

/// Every copy in the queue, then every copy on hold. A copy delivered while it is listed is
/// left out.
pub fn list(spool: &Spool) -> io::Result<Vec<Queued>> {
    let mut out = Vec::new();
    for id in spool.queued()? {
        match show(spool, &id) {
            Ok(q) => out.push(q),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    for id in spool.held()? {
        let file = spool.read_held(&id)?;
        out.push(Queued { state: state::load(spool, &id)?, file, held: true });
    }
    Ok(out)
}

/// One copy, queued or on hold.
pub fn show(spool: &Spool, id: &str) -> io::Result<Queued> {
    let (file, held) = match spool.read(id) {
        Ok(f) => (f, false),
        Err(e) if e.kind() == io::ErrorKind::NotFound => match spool.read_held(id) {
            Ok(f) => (f, true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("no queued or held copy {id}")));
            }
            Err(e) => return Err(e),
        },
        Err(e) => return Err(e),
    };
    Ok(Queued { state: state::load(spool, id)?, file, held })
}

/// Which copies an action is for: one, or every one (`ALL`, as `postsuper -d ALL`).
pub enum Which<'a> {
    One(&'a str),
    All,
}

/// Puts copies on hold; gives those it held.
pub fn hold(spool: &Spool, which: Which) -> io::Result<Vec<Envelope>> {
    let ids = match which {
        Which::One(id) => vec![queued_id(spool, id)?],
        Which::All => spool.queued()?,
    };
    let mut done = Vec::new();
    for id in ids {
        let Ok(file) = spool.read(&id) else { continue };
        match spool.hold(&id) {
            Ok(()) => done.push(file.envelope),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

/// Puts held copies back in the queue; gives those it released.
pub fn release_held(spool: &Spool, which: Which) -> io::Result<Vec<Envelope>> {
    let ids = match which {
        Which::One(id) => {
            spool.read_held(id).map_err(|e| not_found(e, format!("no held copy {id}")))?;
            vec![id.to_string()]
        }
        Which::All => spool.held()?,
    };
    let mut done = Vec::new();
    for id in ids {
        let file = spool.read_held(&id)?;
        spool.release_held(&id)?;
        done.push(file.envelope);
    }
    Ok(done)
}

fn queued_id(spool: &Spool, id: &str) -> io::Result<String> {
    spool.read(id).map_err(|e| not_found(e, format!("no queued copy {id}")))?;
    Ok(id.to_string())
}

fn not_found(e: io::Error, what: String) -> io::Error {
    if e.kind() == io::ErrorKind::NotFound { io::Error::new(io::ErrorKind::NotFound, what) } else { e }
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

/// Deletes queued copies (held ones too) without delivering them or sending a DSN; gives
/// those it deleted.
pub fn remove(spool: &Spool, which: Which) -> io::Result<Vec<Envelope>> {
    let queued = match which {
        Which::One(id) => vec![show(spool, id)?],
        Which::All => list(spool)?,
    };
    let mut done = Vec::new();
    for q in queued {
        let id = q.file.envelope.queue_id.clone();
        let removed = if q.held { spool.remove_held(&id) } else { spool.finish(&id) };
        match removed {
            Ok(()) => done.push(q.file.envelope),
            // Delivered meanwhile.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
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
