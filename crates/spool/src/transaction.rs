//! The receiving side: a copy is begun, its bytes written, and it is staged (named in
//! `incoming/`, and fsynced first with `SyncMode::PerCopy`); [`Spool::commit_blocking`] then makes the staged copies durable with
//! one sync, and only after it do they become visible to delivery. A commit that fails
//! takes its copies back, so nothing the client was refused is ever delivered.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::envelope::Envelope;
use crate::layout::with_path;
use crate::store::Spool;
use crate::unnamed;

/// Bytes a copy collects before they are written.
const WRITE_BUFFER: usize = 16 * 1024;

/// A copy being written: unnamed in `incoming/` (`unnamed.rs`), or under `tmp/` where the
/// filesystem cannot. Dropped before [`Transaction::stage`], it is gone.
pub struct Transaction<'a> {
    spool: &'a Spool,
    queue_id: String,
    /// The temp name under `tmp/`, or `incoming/` itself for an unnamed file (in errors).
    tmp: PathBuf,
    named: bool,
    file: Option<BufWriter<File>>,
    expected: u64,
    written: u64,
}

/// A copy named in `incoming/`, not yet durable nor visible to delivery.
#[derive(Debug)]
pub struct Staged {
    pub queue_id: String,
    /// How long the file's own fsync took.
    pub fsync: Duration,
}

impl Spool {
    /// Begins a copy: its envelope line goes first, and `envelope.size` message bytes must
    /// follow. Blocking, as every write here is: a caller on an async executor keeps to small
    /// copies, and to `SyncMode::Filesystem`, where staging does not fsync.
    pub fn begin(&self, envelope: &Envelope) -> io::Result<Transaction<'_>> {
        crate::layout::check_id(&envelope.queue_id)?;
        let (file, tmp, named) = if self.unnamed {
            let dir = self.layout.incoming.clone();
            (unnamed::create(&dir, false).map_err(|e| with_path(e, &dir))?, dir, false)
        } else {
            let tmp = self.layout.writing(&envelope.queue_id);
            (
                OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600)
                    .open(&tmp)
                    .map_err(|e| with_path(e, &tmp))?,
                tmp,
                true,
            )
        };
        let mut head = serde_json::to_vec(envelope).map_err(io::Error::other)?;
        head.push(b'\n');
        let mut tx = Transaction {
            spool: self,
            queue_id: envelope.queue_id.clone(),
            tmp,
            named,
            file: None,
            expected: envelope.size,
            written: 0,
        };
        // Buffered, so that a small copy is one write.
        let mut file = BufWriter::with_capacity(WRITE_BUFFER, file);
        file.write_all(&head).map_err(|e| with_path(e, &tx.tmp))?;
        tx.file = Some(file);
        Ok(tx)
    }

    /// One whole copy: [`Spool::begin`], every part, [`Transaction::stage`].
    pub fn write(&self, envelope: &Envelope, message: &[&[u8]]) -> io::Result<Staged> {
        let mut tx = self.begin(envelope)?;
        for part in message {
            tx.write(part)?;
        }
        tx.stage()
    }

    /// Makes `staged` durable (one sync covers every copy staged before it starts, whoever
    /// staged it), then visible to delivery. On failure the copies are removed, and none is
    /// ever delivered. Gives the sync's duration.
    pub async fn commit(&self, staged: &[Staged]) -> io::Result<Duration> {
        let result = self.committer.commit().await;
        self.settle(staged, result.is_ok());
        result
    }

    /// [`Spool::commit`] on the calling thread (tools, blocking tasks), which may make the
    /// sync itself.
    pub fn commit_blocking(&self, staged: &[Staged]) -> io::Result<Duration> {
        let result = self.committer.commit_blocking();
        self.settle(staged, result.is_ok());
        result
    }

    /// Takes back copies that will not be committed (another copy of the message failed).
    pub fn abort(&self, staged: &[Staged]) {
        self.settle(staged, false);
    }

    fn settle(&self, staged: &[Staged], durable: bool) {
        let mut committing = self.committing.lock().unwrap_or_else(|e| e.into_inner());
        for s in staged {
            // A copy taken back that cannot be removed stays hidden from delivery.
            let gone = durable
                || match fs::remove_file(self.layout.copy(&s.queue_id)) {
                    Ok(()) => true,
                    Err(e) => e.kind() == io::ErrorKind::NotFound,
                };
            if gone {
                committing.remove(&s.queue_id);
            }
        }
    }
}

/// The part of a message beyond what a session keeps in memory, written to an unnamed file
/// (or one under `tmp/`) as it arrives, so that no message is ever held whole. Gone when
/// dropped.
pub struct Spill {
    /// The file's name under `tmp/`, or `tmp/` itself for an unnamed file (in errors).
    path: PathBuf,
    named: bool,
    file: File,
    len: u64,
}

impl Spool {
    /// A new, empty spill file.
    pub fn spill(&self) -> io::Result<Spill> {
        if self.unnamed {
            let dir = self.layout.tmp.clone();
            let file = unnamed::create(&dir, true).map_err(|e| with_path(e, &dir))?;
            return Ok(Spill { path: dir, named: false, file, len: 0 });
        }
        let path = self.layout.writing(&format!("{}body", crate::new_queue_id()));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(|e| with_path(e, &path))?;
        Ok(Spill { path, named: true, file, len: 0 })
    }
}

impl Spill {
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes).map_err(|e| with_path(e, &self.path))?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Everything written so far, read without moving the file's offset.
    pub fn read_all(&self) -> io::Result<Vec<u8>> {
        use std::os::unix::fs::FileExt;
        let mut out = vec![0; self.len as usize];
        self.file.read_exact_at(&mut out, 0).map_err(|e| with_path(e, &self.path))?;
        Ok(out)
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        if self.named {
            let _ = fs::remove_file(&self.path);
        }
    }
}

impl Transaction<'_> {
    /// Appends all of `spill`, copied by the kernel (`copy_file_range`) where it can.
    pub fn append(&mut self, spill: &Spill) -> io::Result<()> {
        use std::io::{Seek, SeekFrom};
        self.written += spill.len;
        if self.written > self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the envelope says {} bytes, the message has more", self.expected),
            ));
        }
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("the copy is closed"))?;
        let mut source = spill.file.try_clone()?;
        source.seek(SeekFrom::Start(0))?;
        file.flush().map_err(|e| with_path(e, &self.tmp))?;
        let copied = io::copy(&mut source, file.get_mut()).map_err(|e| with_path(e, &self.tmp))?;
        if copied != spill.len {
            return Err(io::Error::other(format!("copied {copied} of {} spilled bytes", spill.len)));
        }
        Ok(())
    }

    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.written += bytes.len() as u64;
        if self.written > self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the envelope says {} bytes, the message has more", self.expected),
            ));
        }
        let file = self.file.as_mut().ok_or_else(|| io::Error::other("the copy is closed"))?;
        file.write_all(bytes).map_err(|e| with_path(e, &self.tmp))
    }

    /// Names the copy in `incoming/` (links the unnamed file, or renames the temp one), after
    /// an fsync with `SyncMode::PerCopy`; hidden from delivery until committed.
    pub fn stage(mut self) -> io::Result<Staged> {
        if self.written != self.expected {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("the envelope says {} bytes, the message has {}", self.expected, self.written),
            ));
        }
        let file = self.file.take().ok_or_else(|| io::Error::other("the copy is closed"))?;
        let file = file.into_inner().map_err(|e| with_path(e.into_error(), &self.tmp))?;
        let start = Instant::now();
        // With a filesystem-wide commit, the commit's one sync makes the data durable too.
        if !self.spool.committer.syncs_filesystem() {
            file.sync_data().map_err(|e| with_path(e, &self.tmp))?;
        }
        let fsync = start.elapsed();
        let spool = self.spool;
        let path = spool.layout.copy(&self.queue_id);
        // Marked before it has a name there, so that no scan can see it in between. Queue ids
        // only grow (`new_queue_id`), so the name is new.
        spool.committing.lock().unwrap_or_else(|e| e.into_inner()).insert(self.queue_id.clone());
        let named = if self.named { fs::rename(&self.tmp, &path) } else { unnamed::link(&file, &path) };
        drop(file);
        if let Err(e) = named {
            spool.committing.lock().unwrap_or_else(|e| e.into_inner()).remove(&self.queue_id);
            return Err(with_path(e, &path));
        }
        Ok(Staged { queue_id: std::mem::take(&mut self.queue_id), fsync })
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        if !self.queue_id.is_empty() && self.named {
            let _ = fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{Disposition, Recipient, SCHEMA};

    fn envelope(id: &str, size: u64) -> Envelope {
        Envelope {
            schema: SCHEMA.into(),
            queue_id: id.into(),
            received_at: "2026-11-28T03:25:50.123Z".into(),
            session: "s1".into(),
            client_ip: "80.66.20.13".into(),
            helo: Some("gw.example".into()),
            tls: None,
            certificate_names: vec![],
            mail_from: "a@example.net".into(),
            body: crate::BodyType::SevenBit,
            smtputf8: false,
            recipients: vec![Recipient { address: "alice@contoso.com".into(), in_directory: true }],
            tenant: "contoso".into(),
            connector: None,
            scl: Some(-1),
            disposition: Disposition::Deliver,
            rules: vec![],
            size,
        }
    }

    fn scratch(name: &str) -> std::path::PathBuf {
        let root = std::env::temp_dir().join(format!("doorman-spool-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_copy_is_visible_to_delivery_only_once_committed() {
        let root = scratch("visible");
        let spool = Spool::open(&root).unwrap();
        let staged = spool.write(&envelope("A2", 14), &[b"Subj", b"ect: x\r\n", b"\r\n"]).unwrap();
        assert!(spool.queued().unwrap().is_empty(), "staged, not committed: delivery must not see it");
        spool.commit_blocking(&[staged]).unwrap();
        assert_eq!(spool.queued().unwrap(), ["A2"]);
        let back = spool.read("A2").unwrap();
        assert_eq!(back.envelope, envelope("A2", 14));
        assert_eq!(back.message, b"Subject: x\r\n\r\n");
        // Another process (a tool) sees what is committed.
        assert_eq!(Spool::attach(&root).unwrap().queued().unwrap(), ["A2"]);
        fs::remove_dir_all(&root).unwrap();
    }

    /// The spool at `root`, writing copies as unnamed files or under `tmp/`.
    fn open(root: &std::path::Path, unnamed: bool) -> Spool {
        let mut spool = Spool::open(root).unwrap();
        assert!(spool.unnamed, "this filesystem has O_TMPFILE: the spool uses it");
        spool.unnamed = unnamed;
        spool
    }

    #[test]
    fn a_wrong_size_or_an_aborted_copy_leaves_nothing() {
        for unnamed in [true, false] {
            let root = scratch(&format!("abort-{unnamed}"));
            let spool = open(&root, unnamed);
            let err = spool.write(&envelope("A1", 10), &[b"Subj", b"ect: x\r\n"]).unwrap_err();
            assert!(err.to_string().contains("the envelope says 10 bytes, the message has more"), "{err}");
            let err = spool.write(&envelope("A3", 20), &[b"short"]).unwrap_err();
            assert!(err.to_string().contains("the envelope says 20 bytes, the message has 5"), "{err}");
            let staged = spool.write(&envelope("A4", 2), &[b"ok"]).unwrap();
            spool.abort(&[staged]);
            assert!(spool.queued().unwrap().is_empty());
            assert!(!spool.contains("A4"));
            assert_eq!(spool.half_written().unwrap(), 0);
            // What a crash leaves: an unnamed file leaves nothing, a temp file is removed at
            // open; neither is ever listed.
            let tx = spool.begin(&envelope("B1", 7)).unwrap();
            std::mem::forget(tx);
            assert_eq!(spool.half_written().unwrap(), usize::from(!unnamed));
            assert!(spool.queued().unwrap().is_empty());
            let spool = open(&root, unnamed);
            assert_eq!(spool.half_written().unwrap(), 0);
            assert!(spool.queued().unwrap().is_empty());
            assert!(spool.read("../x").is_err(), "a queue id is never a path");
            fs::remove_dir_all(&root).unwrap();
        }
    }

    #[test]
    fn at_open_copies_not_whole_are_set_aside_with_why_and_the_rest_kept() {
        let root = scratch("cut-short");
        let spool = Spool::open(&root).unwrap();
        let staged = spool.write(&envelope("K1", 5), &[b"whole"]).unwrap();
        spool.commit_blocking(&[staged]).unwrap();
        let incoming = root.join("incoming");
        let line = |id: &str, size: u64| {
            let mut l = serde_json::to_vec(&envelope(id, size)).unwrap();
            l.push(b'\n');
            l
        };
        fs::write(incoming.join("E1"), b"").unwrap();
        fs::write(incoming.join("E2"), &line("E2", 5)[..40]).unwrap();
        fs::write(incoming.join("E3"), [line("E3", 10), b"short".to_vec()].concat()).unwrap();
        spool.save_state("E3", b"{}").unwrap();
        fs::write(incoming.join("E4"), [line("E4", 1), b"too long".to_vec()].concat()).unwrap();
        // An envelope this version cannot read: set aside too, never guessed at.
        fs::write(incoming.join("U1"), b"{\"schema\":\"doorman.spool/9\"}\nx").unwrap();
        drop(spool);
        let spool = Spool::open(&root).unwrap();
        let why: Vec<(&str, &str)> =
            spool.set_aside_at_open().iter().map(|s| (s.queue_id.as_str(), s.why.as_str())).collect();
        assert_eq!(
            why[..4],
            [
                ("E1", "the file is empty"),
                ("E2", "its envelope line is unfinished after 40 bytes"),
                ("E3", "5 message bytes, the envelope says 10"),
                ("E4", "8 message bytes, the envelope says 1"),
            ]
        );
        assert_eq!(why[4].0, "U1");
        assert!(why[4].1.starts_with("its envelope cannot be read: "), "{}", why[4].1);
        assert_eq!(spool.queued().unwrap(), ["K1"]);
        assert_eq!(spool.read("K1").unwrap().message, b"whole");
        assert_eq!(spool.corrupt().unwrap(), spool.set_aside_at_open());
        assert_eq!(fs::read(root.join("corrupt/E3")).unwrap(), [line("E3", 10), b"short".to_vec()].concat());
        assert_eq!(fs::read(root.join("corrupt/E3.json")).unwrap(), b"{}", "its state goes with it");
        assert_eq!(spool.load_state("E3").unwrap(), None);
        drop(spool);
        assert!(Spool::open(&root).unwrap().set_aside_at_open().is_empty(), "reported once");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn copies_and_spills_are_whole_either_way() {
        for unnamed in [true, false] {
            let root = scratch(&format!("ways-{unnamed}"));
            let spool = open(&root, unnamed);
            let mut spill = spool.spill().unwrap();
            spill.write(b" world").unwrap();
            let mut tx = spool.begin(&envelope("W1", 11)).unwrap();
            tx.write(b"hello").unwrap();
            tx.append(&spill).unwrap();
            let staged = tx.stage().unwrap();
            drop(spill);
            spool.commit_blocking(&[staged]).unwrap();
            assert_eq!(spool.queued().unwrap(), ["W1"]);
            assert_eq!(spool.read("W1").unwrap().message, b"hello world");
            assert_eq!(spool.half_written().unwrap(), 0, "the spill is gone");
            fs::remove_dir_all(&root).unwrap();
        }
    }

    #[test]
    fn quarantine_release_and_state_go_through_the_spool() {
        let root = scratch("quarantine");
        let spool = Spool::open(&root).unwrap();
        let mut env = envelope("C1", 2);
        env.tenant = "../escape".into();
        env.disposition = Disposition::Quarantine;
        let staged = spool.write(&env, &[b"hi"]).unwrap();
        spool.commit_blocking(&[staged]).unwrap();
        spool.save_state("C1", b"{}").unwrap();
        assert_eq!(spool.load_state("C1").unwrap().as_deref(), Some(&b"{}"[..]));
        spool.quarantine("C1", "../escape").unwrap();
        assert!(spool.queued().unwrap().is_empty());
        assert_eq!(spool.load_state("C1").unwrap(), None);
        let held = spool.quarantined(Some("../escape")).unwrap();
        assert_eq!((held[0].0.as_str(), held[0].1.envelope.queue_id.as_str()), ("../escape", "C1"));
        assert!(!root.parent().unwrap().join("escape").exists(), "the tenant name stays a folder name");
        spool.release("C1").unwrap();
        assert_eq!(spool.queued().unwrap(), ["C1"]);
        assert_eq!(spool.read("C1").unwrap().envelope.disposition, Disposition::Deliver);
        assert!(spool.take_flush_request());
        assert!(!spool.take_flush_request());
        spool.finish("C1").unwrap();
        assert!(spool.queued().unwrap().is_empty() && spool.quarantined(None).unwrap().is_empty());
        fs::remove_dir_all(&root).unwrap();
    }
}

#[cfg(test)]
mod sync_modes {
    use super::*;
    use crate::SyncMode;

    #[test]
    fn both_sync_modes_commit_whole_copies() {
        for mode in [SyncMode::Filesystem, SyncMode::PerCopy] {
            let root = std::env::temp_dir().join(format!("doorman-spool-sync-{mode:?}-{}", std::process::id()));
            let _ = fs::remove_dir_all(&root);
            let spool = Spool::open_with(&root, mode).unwrap();
            let mut env = tests_envelope();
            env.size = 5;
            let staged = spool.write(&env, &[b"hello"]).unwrap();
            assert!(spool.queued().unwrap().is_empty());
            spool.commit_blocking(&[staged]).unwrap();
            assert_eq!(spool.read(&env.queue_id).unwrap().message, b"hello");
            fs::remove_dir_all(&root).unwrap();
        }
    }

    fn tests_envelope() -> Envelope {
        serde_json::from_str(
            r#"{"schema":"doorman.spool/1","queue_id":"S1","received_at":"2026-11-28T03:25:50.123Z","session":"s","client_ip":"127.0.0.1","mail_from":"","body":"7bit","smtputf8":false,"recipients":[],"tenant":"t","disposition":{"action":"deliver"},"size":0}"#,
        )
        .unwrap()
    }
}
