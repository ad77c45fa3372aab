//! What `doorman queue` and `doorman quarantine` do to the spool, safely while `doorman serve`
//! runs: they only write delivery states and move whole files, and they drop a `flush` file
//! that tells the running queue manager to look again at once.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use doorman_spool::{Disposition, Spool, SpoolFile};

use crate::state::{self, DeliveryState};

/// A copy waiting in the queue, with its delivery state (none before the first attempt).
pub struct Queued {
    pub file: SpoolFile,
    pub state: Option<DeliveryState>,
}

/// The file whose existence asks the queue manager to treat every copy as due now.
pub fn flush_marker(root: &Path) -> PathBuf {
    root.join("flush")
}

pub fn request_flush(root: &Path) -> io::Result<()> {
    fs::write(flush_marker(root), b"")
}

fn ids_in(dir: &Path) -> io::Result<Vec<String>> {
    let mut ids: Vec<String> = match fs::read_dir(dir) {
        Ok(d) => d
            .filter_map(|e| e.ok())
            .filter(|e| e.path().is_file())
            .filter_map(|e| e.file_name().to_str().map(str::to_string))
            .filter(|n| !n.starts_with('.'))
            .collect(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e),
    };
    ids.sort();
    Ok(ids)
}

pub fn list(root: &Path) -> io::Result<Vec<Queued>> {
    ids_in(&root.join("incoming"))?.into_iter().map(|id| show(root, &id)).collect()
}

pub fn show(root: &Path, id: &str) -> io::Result<Queued> {
    check_id(id)?;
    let file = Spool::read(&root.join("incoming").join(id))?;
    Ok(Queued { state: state::load(root, id)?, file })
}

/// Makes one copy due now (or every copy, with `None`).
pub fn retry(root: &Path, id: Option<&str>) -> io::Result<usize> {
    let ids = match id {
        Some(id) => {
            check_id(id)?;
            if !root.join("incoming").join(id).exists() {
                return Err(io::Error::new(io::ErrorKind::NotFound, format!("no queued copy {id}")));
            }
            vec![id.to_string()]
        }
        None => ids_in(&root.join("incoming"))?,
    };
    for id in &ids {
        if let Some(mut st) = state::load(root, id)? {
            st.next_attempt = 0;
            state::save(root, id, &st)?;
        }
    }
    request_flush(root)?;
    Ok(ids.len())
}

/// Deletes a queued copy without delivering it or sending a DSN.
pub fn remove(root: &Path, id: &str) -> io::Result<()> {
    check_id(id)?;
    fs::remove_file(root.join("incoming").join(id))?;
    state::remove(root, id)
}

/// Quarantined copies: `(tenant, copy)`, of one tenant or all.
pub fn quarantined(root: &Path, tenant: Option<&str>) -> io::Result<Vec<(String, SpoolFile)>> {
    let mut out = Vec::new();
    for t in ids_dirs(&root.join("quarantine"))? {
        if tenant.is_some_and(|want| want != t) {
            continue;
        }
        for id in ids_in(&root.join("quarantine").join(&t))? {
            out.push((t.clone(), Spool::read(&root.join("quarantine").join(&t).join(&id))?));
        }
    }
    Ok(out)
}

fn ids_dirs(dir: &Path) -> io::Result<Vec<String>> {
    match fs::read_dir(dir) {
        Ok(d) => {
            let mut v: Vec<String> = d
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .collect();
            v.sort();
            Ok(v)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

pub fn find_quarantined(root: &Path, id: &str) -> io::Result<(String, SpoolFile)> {
    check_id(id)?;
    quarantined(root, None)?
        .into_iter()
        .find(|(_, f)| f.envelope.queue_id == id)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no quarantined copy {id}")))
}

/// Puts a quarantined copy back in the queue to be delivered as it is.
pub fn release(spool: &Spool, id: &str) -> io::Result<()> {
    let root = spool.root();
    let (_, file) = find_quarantined(root, id)?;
    let mut envelope = file.envelope.clone();
    envelope.disposition = Disposition::Deliver;
    spool.write(&envelope, &[&file.message])?;
    fs::File::open(root.join("incoming"))?.sync_all()?;
    fs::remove_file(&file.path)?;
    request_flush(root)
}

pub fn delete_quarantined(root: &Path, id: &str) -> io::Result<()> {
    let (_, file) = find_quarantined(root, id)?;
    fs::remove_file(&file.path)
}

/// Queue ids are file names: refuse anything that could name another file.
fn check_id(id: &str) -> io::Result<()> {
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("{id:?} is not a queue id")));
    }
    Ok(())
}
