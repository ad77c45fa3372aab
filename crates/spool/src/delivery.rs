//! The delivering side's view of the spool: the copies committed and waiting, each one's
//! delivery state (bytes the queue owns the meaning of), quarantine, and flush requests. Every
//! change is a whole-file write or a move, so `doorman queue` and `doorman quarantine` can
//! work beside a running server.

use std::fs;
use std::io::{self, Write};
use std::time::SystemTime;

use crate::envelope::Disposition;
use crate::layout::{check_id, names_in, tenant_of, with_path};
use crate::store::{Spool, SpoolFile, read_file};

impl Spool {
    /// The copies waiting for delivery, oldest queue id first: committed ones only.
    pub fn queued(&self) -> io::Result<Vec<String>> {
        let mut ids = names_in(&self.layout.incoming, false)?;
        let committing = self.committing.lock().unwrap_or_else(|e| e.into_inner());
        ids.retain(|id| !committing.contains(id) && check_id(id).is_ok());
        Ok(ids)
    }

    pub fn read(&self, id: &str) -> io::Result<SpoolFile> {
        check_id(id)?;
        read_file(&self.layout.copy(id))
    }

    /// When a waiting copy was written (its arrival, as [`SpoolFile::written`] says), without
    /// reading it: for the age of the queue.
    pub fn written(&self, id: &str) -> io::Result<SystemTime> {
        check_id(id)?;
        let path = self.layout.copy(id);
        fs::metadata(&path).and_then(|m| m.modified()).map_err(|e| with_path(e, &path))
    }

    /// Whether a copy is waiting.
    pub fn contains(&self, id: &str) -> bool {
        check_id(id).is_ok() && self.layout.copy(id).is_file()
    }

    /// The copy is done with (delivered, failed with its DSN sent, or removed by an
    /// administrator): it and its delivery state go.
    pub fn finish(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        let path = self.layout.copy(id);
        fs::remove_file(&path).map_err(|e| with_path(e, &path))?;
        self.remove_state(id)
    }

    /// The copy's delivery state, if an attempt has written one.
    pub fn load_state(&self, id: &str) -> io::Result<Option<Vec<u8>>> {
        check_id(id)?;
        let path = self.layout.state_of(id);
        match fs::read(&path) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(e, &path)),
        }
    }

    /// Replaces the copy's delivery state durably ([`crate::write_durably`]).
    pub fn save_state(&self, id: &str, bytes: &[u8]) -> io::Result<()> {
        check_id(id)?;
        let dir = &self.layout.state;
        fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        crate::write_durably(&self.layout.state_tmp(id), &self.layout.state_of(id), |f| f.write_all(bytes))
    }

    pub fn remove_state(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        match fs::remove_file(self.layout.state_of(id)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Asks the running queue to treat every copy as due now.
    pub fn request_flush(&self) -> io::Result<()> {
        let path = self.layout.flush();
        fs::write(&path, b"").map_err(|e| with_path(e, &path))
    }

    /// Whether a flush was asked for since the last call.
    pub fn take_flush_request(&self) -> bool {
        fs::remove_file(self.layout.flush()).is_ok()
    }

    /// Holds a copy in its tenant's quarantine; its delivery state goes.
    pub fn quarantine(&self, id: &str, tenant: &str) -> io::Result<()> {
        check_id(id)?;
        let dir = self.layout.quarantine_of(tenant);
        fs::create_dir_all(&dir).map_err(|e| with_path(e, &dir))?;
        fs::rename(self.layout.copy(id), dir.join(id)).map_err(|e| with_path(e, &dir))?;
        fs::File::open(&dir)?.sync_all()?;
        self.remove_state(id)
    }

    /// Quarantined copies as `(tenant, copy)`, of one tenant or all.
    pub fn quarantined(&self, tenant: Option<&str>) -> io::Result<Vec<(String, SpoolFile)>> {
        let mut out = Vec::new();
        for folder in names_in(&self.layout.quarantine, true)? {
            let Some(t) = tenant_of(&folder) else { continue };
            if tenant.is_some_and(|want| want != t) {
                continue;
            }
            let dir = self.layout.quarantine_of(&t);
            for id in names_in(&dir, false)? {
                out.push((t.clone(), read_file(&dir.join(&id))?));
            }
        }
        Ok(out)
    }

    /// The quarantined copy `id`, with its tenant.
    pub fn find_quarantined(&self, id: &str) -> io::Result<(String, SpoolFile)> {
        check_id(id)?;
        self.quarantined(None)?
            .into_iter()
            .find(|(_, f)| f.envelope.queue_id == id)
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("no quarantined copy {id}")))
    }

    /// Puts a quarantined copy back in the queue, to be delivered as it is, and asks the
    /// running queue to look at once.
    pub fn release(&self, id: &str) -> io::Result<()> {
        let (tenant, file) = self.find_quarantined(id)?;
        let mut envelope = file.envelope.clone();
        envelope.disposition = Disposition::Deliver;
        let staged = self.write(&envelope, &[&file.message])?;
        self.commit_blocking(&[staged])?;
        fs::remove_file(self.layout.quarantine_of(&tenant).join(id))?;
        self.request_flush()
    }

    /// Takes a queued copy out of the queue, with its delivery state kept, until it is
    /// released (Postfix's `postsuper -h`). An attempt under way finishes; the next one
    /// waits for the release.
    pub fn hold(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        fs::create_dir_all(&self.layout.hold).map_err(|e| with_path(e, &self.layout.hold))?;
        move_durably(&self.layout.copy(id), &self.layout.hold.join(id))
    }

    /// The copies on hold, oldest queue id first.
    pub fn held(&self) -> io::Result<Vec<String>> {
        let mut ids = names_in(&self.layout.hold, false)?;
        ids.retain(|id| check_id(id).is_ok());
        Ok(ids)
    }

    pub fn read_held(&self, id: &str) -> io::Result<SpoolFile> {
        check_id(id)?;
        read_file(&self.layout.hold.join(id))
    }

    /// Puts a held copy back in the queue (`postsuper -H`) and asks the running queue to
    /// look at once.
    pub fn release_held(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        move_durably(&self.layout.hold.join(id), &self.layout.copy(id))?;
        self.request_flush()
    }

    /// Deletes a held copy and its delivery state.
    pub fn remove_held(&self, id: &str) -> io::Result<()> {
        check_id(id)?;
        let path = self.layout.hold.join(id);
        fs::remove_file(&path).map_err(|e| with_path(e, &path))?;
        self.remove_state(id)
    }

    pub fn delete_quarantined(&self, id: &str) -> io::Result<()> {
        let (tenant, _) = self.find_quarantined(id)?;
        fs::remove_file(self.layout.quarantine_of(&tenant).join(id))
    }
}

/// Renames `from` to `to` and syncs both folders: after a crash the copy is in one of them,
/// never in neither.
pub(crate) fn move_durably(from: &std::path::Path, to: &std::path::Path) -> io::Result<()> {
    fs::rename(from, to).map_err(|e| with_path(e, from))?;
    for dir in [to.parent(), from.parent()].into_iter().flatten() {
        fs::File::open(dir).and_then(|d| d.sync_all()).map_err(|e| with_path(e, dir))?;
    }
    Ok(())
}
