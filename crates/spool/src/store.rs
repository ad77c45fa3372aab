//! The spool: where it is, what is in it, and copies read back.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, BufRead, BufReader, Read};
use std::path::Path;
use std::sync::Mutex;
use std::time::SystemTime;

use crate::commit::{DirCommitter, SyncMode};
use crate::envelope::Envelope;
use crate::layout::{Layout, with_path};

pub struct Spool {
    pub(crate) layout: Layout,
    pub(crate) committer: DirCommitter,
    /// Copies in `incoming/` whose commit's sync has not returned: delivery must not see
    /// them yet, since a failed commit takes them back.
    pub(crate) committing: Mutex<HashSet<String>>,
    /// Whether copies are written as unnamed files (`unnamed.rs`).
    pub(crate) unnamed: bool,
    set_aside_at_open: Vec<SetAside>,
}

/// Why a copy in `incoming/` cannot be delivered whole, or `None` when it can: its envelope
/// line must parse and the message bytes after it must be exactly as many as it announces.
/// An I/O error reading it is a reason too: one bad file must not stop the start.
fn flaw_of(path: &Path) -> Option<String> {
    let read = || -> io::Result<Option<String>> {
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        let mut head = Vec::new();
        BufReader::new(file).take(HEAD_BYTES as u64).read_until(b'\n', &mut head)?;
        if len == 0 {
            return Ok(Some("the file is empty".into()));
        }
        if head.last() != Some(&b'\n') {
            return Ok(Some(format!("its envelope line is unfinished after {} bytes", head.len())));
        }
        let envelope = match serde_json::from_slice::<Envelope>(&head) {
            Ok(e) => e,
            Err(e) => return Ok(Some(format!("its envelope cannot be read: {e}"))),
        };
        let body = len - head.len() as u64;
        Ok(wrong_size(body, &envelope))
    };
    read().unwrap_or_else(|e| Some(format!("it cannot be read: {e}")))
}

/// Why `body` message bytes are not the copy `envelope` announces; `None` when they are.
fn wrong_size(body: u64, envelope: &Envelope) -> Option<String> {
    (body != envelope.size).then(|| format!("{body} message bytes, the envelope says {}", envelope.size))
}

fn invalid(path: &Path, why: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("{}: {why}", path.display()))
}

/// A copy [`Spool::open`] or delivery set aside in `corrupt/`, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetAside {
    pub queue_id: String,
    pub why: String,
}

/// A copy read back from the spool.
#[derive(Debug)]
pub struct SpoolFile {
    pub envelope: Envelope,
    pub message: Vec<u8>,
    /// When the copy was written, for its age.
    pub written: SystemTime,
}

impl Spool {
    /// Opens (creating) the spool at `root`, and removes what a crash left half-written: temp
    /// files, and copies named but not whole. Only the server does this at start; tools that
    /// run beside it use [`Spool::attach`].
    pub fn open(root: &Path) -> io::Result<Spool> {
        Spool::open_with(root, SyncMode::default())
    }

    /// [`Spool::open`], with commits made durable the way `mode` says.
    pub fn open_with(root: &Path, mode: SyncMode) -> io::Result<Spool> {
        let mut spool = Spool::attach_with(root, mode)?;
        let tmp = &spool.layout.tmp;
        for entry in fs::read_dir(tmp).map_err(|e| with_path(e, tmp))? {
            let path = entry?.path();
            if path.is_file() {
                fs::remove_file(&path).map_err(|e| with_path(e, &path))?;
            }
        }
        // A crash can leave a name made durable before its data (a journal commit the
        // group's sync did not wait for): that copy was never acknowledged. A disk can also
        // damage one that was. Neither is delivered half: each is set aside, as Postfix
        // moves a damaged queue file to `corrupt/`, so that nothing is lost unseen.
        for id in crate::layout::names_in(&spool.layout.incoming, false)? {
            if crate::layout::check_id(&id).is_err() {
                continue;
            }
            if let Some(why) = flaw_of(&spool.layout.copy(&id)) {
                spool.set_aside(&id, &why)?;
                spool.set_aside_at_open.push(SetAside { queue_id: id, why });
            }
        }
        // A set-aside a crash interrupted: the copy moved, its state not yet.
        for id in crate::layout::names_in(&spool.layout.corrupt, false)? {
            if crate::layout::check_id(&id).is_ok() {
                spool.state_follows(&id)?;
            }
        }
        Ok(spool)
    }

    /// The copies [`Spool::open`] found damaged and set aside in `corrupt/`.
    pub fn set_aside_at_open(&self) -> &[SetAside] {
        &self.set_aside_at_open
    }

    /// Moves a copy that cannot be read whole to `corrupt/`, with its delivery state and a
    /// file saying why, where no delivery looks: an administrator decides (Postfix's
    /// `corrupt` queue). The copy moves first: once it is out of `incoming/` nothing delivers
    /// it, and a crash before its state follows is finished by the next [`Spool::open`].
    pub fn set_aside(&self, id: &str, why: &str) -> io::Result<()> {
        crate::layout::check_id(id)?;
        let dir = &self.layout.corrupt;
        fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
        crate::delivery::move_durably(&self.layout.copy(id), &dir.join(id))?;
        self.state_follows(id)?;
        crate::write_durably(&dir.join(format!(".{id}.why.tmp")), &dir.join(format!("{id}.why")), |f| {
            io::Write::write_all(f, format!("{why}\n").as_bytes())
        })
    }

    /// Moves a set-aside copy's delivery state beside it, if it is still in `state/`.
    fn state_follows(&self, id: &str) -> io::Result<()> {
        let state = self.layout.state_of(id);
        if state.is_file() {
            crate::delivery::move_durably(&state, &self.layout.corrupt.join(format!("{id}.json")))?;
        }
        Ok(())
    }

    /// The copies set aside in `corrupt/`, with why.
    pub fn corrupt(&self) -> io::Result<Vec<SetAside>> {
        let dir = &self.layout.corrupt;
        let mut out = Vec::new();
        for id in crate::layout::names_in(dir, false)? {
            if crate::layout::check_id(&id).is_err() {
                continue;
            }
            let why = fs::read_to_string(dir.join(format!("{id}.why"))).unwrap_or_default();
            out.push(SetAside { queue_id: id, why: why.trim_end().to_string() });
        }
        Ok(out)
    }

    /// Opens the spool at `root` without touching what is in it, so that a tool can work on a
    /// spool while the server writes to it. A spool that is not there is an error: a tool
    /// pointed at the wrong place must say so, not report an empty queue.
    pub fn attach(root: &Path) -> io::Result<Spool> {
        let layout = Layout::new(root);
        if !layout.incoming.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("no spool here ({} is missing); is this the server's config?", layout.incoming.display()),
            ));
        }
        Spool::attach_with(root, SyncMode::default())
    }

    fn attach_with(root: &Path, mode: SyncMode) -> io::Result<Spool> {
        let layout = Layout::new(root);
        for d in [&layout.incoming, &layout.tmp] {
            fs::create_dir_all(d).map_err(|e| with_path(e, d))?;
        }
        let committer = DirCommitter::start(layout.incoming.clone(), mode)?;
        // Copies are unnamed files in incoming/, spills in tmp/: both must allow them.
        let probe = layout.writing(&format!("{}probe", crate::new_queue_id()));
        let unnamed =
            crate::unnamed::available(&layout.incoming, &probe) && crate::unnamed::available(&layout.tmp, &probe);
        Ok(Spool { layout, committer, committing: Mutex::new(HashSet::new()), unnamed, set_aside_at_open: Vec::new() })
    }

    pub fn root(&self) -> &Path {
        &self.layout.root
    }

    /// Whether staging a copy fsyncs it (`SyncMode::PerCopy`): then it may take as long as the
    /// disk does.
    pub fn stage_syncs(&self) -> bool {
        !self.committer.syncs_filesystem()
    }

    /// Whether copies are written as unnamed files (`O_TMPFILE`), or under `tmp/` and renamed.
    pub fn unnamed_files(&self) -> bool {
        self.unnamed
    }

    /// Syncs the commits have made so far (each covers every copy staged before it).
    pub fn syncs(&self) -> u64 {
        self.committer.syncs()
    }

    /// How many copies are half-written: only a crash leaves any, and [`Spool::open`] removes
    /// them.
    pub fn half_written(&self) -> io::Result<usize> {
        crate::layout::names_in(&self.layout.tmp, false).map(|n| n.len())
    }
}

/// A copy opened for delivery: its envelope, and its message read from the file piece by
/// piece, as often as an attempt needs it, never held whole.
#[derive(Debug)]
pub struct OpenCopy {
    pub envelope: Envelope,
    pub written: SystemTime,
    file: File,
    offset: u64,
}

/// How much of a message [`OpenCopy::head`] reads: enough for any header block the edge keeps.
pub const HEAD_BYTES: usize = 1 << 20;

impl OpenCopy {
    /// The message, from its first byte to its last.
    pub fn reader(&self) -> io::Result<io::Take<File>> {
        use std::io::{Seek, SeekFrom};
        let mut f = self.file.try_clone()?;
        f.seek(SeekFrom::Start(self.offset))?;
        Ok(f.take(self.envelope.size))
    }

    /// The message's first bytes (at most [`HEAD_BYTES`]): its header block, for DSNs and
    /// for what the relay must know of the headers.
    pub fn head(&self) -> io::Result<Vec<u8>> {
        let mut head = Vec::new();
        self.reader()?.take(HEAD_BYTES as u64).read_to_end(&mut head)?;
        Ok(head)
    }
}

impl Spool {
    /// Opens a waiting copy for delivery: its envelope is read and checked against the file's
    /// length, the message stays on disk.
    pub fn open_copy(&self, id: &str) -> io::Result<OpenCopy> {
        crate::layout::check_id(id)?;
        let path = self.layout.copy(id);
        let file = File::open(&path).map_err(|e| with_path(e, &path))?;
        let meta = file.metadata()?;
        let written = meta.modified().unwrap_or_else(|_| SystemTime::now());
        let mut reader = BufReader::new(file.try_clone()?);
        let mut head = Vec::new();
        reader.read_until(b'\n', &mut head)?;
        let envelope: Envelope = serde_json::from_slice(&head).map_err(|e| invalid(&path, format!("envelope: {e}")))?;
        let offset = head.len() as u64;
        if let Some(why) = wrong_size(meta.len().saturating_sub(offset), &envelope) {
            return Err(invalid(&path, why));
        }
        Ok(OpenCopy { envelope, written, file, offset })
    }
}

/// Reads a copy: its envelope line, then exactly the message bytes it announces.
pub(crate) fn read_file(path: &Path) -> io::Result<SpoolFile> {
    let file = File::open(path).map_err(|e| with_path(e, path))?;
    let written = file.metadata().and_then(|m| m.modified()).unwrap_or_else(|_| SystemTime::now());
    let mut reader = BufReader::new(file);
    let mut head = Vec::new();
    reader.read_until(b'\n', &mut head)?;
    let envelope: Envelope = serde_json::from_slice(&head).map_err(|e| invalid(path, format!("envelope: {e}")))?;
    let mut message = Vec::with_capacity(envelope.size as usize);
    reader.read_to_end(&mut message)?;
    if let Some(why) = wrong_size(message.len() as u64, &envelope) {
        return Err(invalid(path, why));
    }
    Ok(SpoolFile { envelope, message, written })
}
