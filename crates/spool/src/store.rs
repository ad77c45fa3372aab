//! Writing copies into the spool and reading them back.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::commit::DirCommitter;
use crate::envelope::Envelope;

pub struct Spool {
    root: PathBuf,
    incoming: PathBuf,
    tmp: PathBuf,
    committer: DirCommitter,
}

/// A copy renamed into `incoming/`, not yet durable until [`Spool::commit`] returns.
#[derive(Debug)]
pub struct Written {
    pub queue_id: String,
    pub path: PathBuf,
    /// How long the file's own fsync took.
    pub fsync: Duration,
}

/// A copy read back from the spool.
#[derive(Debug)]
pub struct SpoolFile {
    pub path: PathBuf,
    pub envelope: Envelope,
    pub message: Vec<u8>,
}

impl Spool {
    /// Opens (creating) the spool at `root`, and removes copies a crash left half-written.
    /// Only the server does this at start; tools that run beside it use [`Spool::attach`].
    pub fn open(root: &Path) -> io::Result<Spool> {
        let spool = Spool::attach(root)?;
        let tmp = &spool.tmp;
        for entry in fs::read_dir(tmp).map_err(|e| with_path(e, tmp))? {
            let path = entry?.path();
            if path.is_file() {
                fs::remove_file(&path).map_err(|e| with_path(e, &path))?;
            }
        }
        Ok(spool)
    }

    /// Opens (creating) the spool at `root` without touching what is in it, so that a tool can
    /// work on a spool while the server writes to it.
    pub fn attach(root: &Path) -> io::Result<Spool> {
        let incoming = root.join("incoming");
        let tmp = root.join("tmp");
        for d in [&incoming, &tmp] {
            fs::create_dir_all(d).map_err(|e| with_path(e, d))?;
        }
        let committer = DirCommitter::start(incoming.clone())?;
        Ok(Spool { root: root.to_path_buf(), incoming, tmp, committer })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Writes one copy: the envelope line and `message` (given in parts, so that added headers
    /// need not be copied in front of the body), fsynced and renamed into `incoming/`.
    /// Blocking: call it off the async executor.
    pub fn write(&self, envelope: &Envelope, message: &[&[u8]]) -> io::Result<Written> {
        let name = &envelope.queue_id;
        let tmp = self.tmp.join(format!("{name}.tmp"));
        let path = self.incoming.join(name);
        let total: usize = message.iter().map(|p| p.len()).sum();
        let result = (|| {
            if total as u64 != envelope.size {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("the envelope says {} bytes, the message has {total}", envelope.size),
                ));
            }
            let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            let mut head = serde_json::to_vec(envelope).map_err(io::Error::other)?;
            head.push(b'\n');
            file.write_all(&head)?;
            for part in message {
                file.write_all(part)?;
            }
            let start = Instant::now();
            file.sync_data()?;
            let fsync = start.elapsed();
            if path.exists() {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "queue id already in the spool"));
            }
            fs::rename(&tmp, &path)?;
            Ok(fsync)
        })();
        match result {
            Ok(fsync) => Ok(Written { queue_id: name.clone(), path, fsync }),
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(with_path(e, &tmp))
            }
        }
    }

    /// Makes every rename so far durable (one directory fsync for everyone waiting).
    pub async fn commit(&self) -> io::Result<Duration> {
        self.committer.commit().await
    }

    /// Paths of the copies in `incoming/`, oldest queue id first.
    pub fn list(&self) -> io::Result<Vec<PathBuf>> {
        let mut paths: Vec<PathBuf> =
            fs::read_dir(&self.incoming)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        paths.sort();
        Ok(paths)
    }

    pub fn read(path: &Path) -> io::Result<SpoolFile> {
        let mut reader = BufReader::new(File::open(path).map_err(|e| with_path(e, path))?);
        let mut head = Vec::new();
        reader.read_until(b'\n', &mut head)?;
        let envelope: Envelope = serde_json::from_slice(&head)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: envelope: {e}", path.display())))?;
        let mut message = Vec::with_capacity(envelope.size as usize);
        reader.read_to_end(&mut message)?;
        if message.len() as u64 != envelope.size {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("{}: {} message bytes, the envelope says {}", path.display(), message.len(), envelope.size),
            ));
        }
        Ok(SpoolFile { path: path.to_path_buf(), envelope, message })
    }
}

fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
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
            body: "7bit".into(),
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

    #[test]
    fn write_commit_read_and_recover() {
        let root = std::env::temp_dir().join(format!("doorman-spool-test-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let spool = Spool::open(&root).unwrap();
        let written = spool.write(&envelope("A1", 10), &[b"Subj", b"ect: x\r\n"]).unwrap_err();
        assert!(written.to_string().contains("the envelope says 10 bytes, the message has 12"), "{written}");
        let w = spool.write(&envelope("A2", 14), &[b"Subj", b"ect: x\r\n", b"\r\n"]).unwrap_or_else(|e| panic!("{e}"));
        tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(spool.commit()).unwrap();
        let back = Spool::read(&w.path).unwrap();
        assert_eq!(back.envelope, envelope("A2", 14));
        assert_eq!(back.message, b"Subject: x\r\n\r\n");
        // A stray temp file from a crash is removed at open and never listed.
        fs::write(root.join("tmp/B1.tmp"), b"partial").unwrap();
        let spool = Spool::open(&root).unwrap();
        assert!(!root.join("tmp/B1.tmp").exists());
        assert_eq!(spool.list().unwrap(), vec![w.path.clone()]);
        fs::remove_dir_all(&root).unwrap();
    }
}
