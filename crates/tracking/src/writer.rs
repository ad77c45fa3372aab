//! Appending to the tracking log off the sessions' path: a writer thread takes records from a
//! channel and flushes whenever the channel runs dry, so a burst costs one write, and a line
//! appears within milliseconds of its decision. After a write it rests for [`GATHER`]: a
//! sender only wakes the thread when it waits on an empty channel, so under load records are
//! gathered without a wake-up each.
//!
//! [`TrackingLog::reopen`] opens the path anew (after logrotate renamed the file away), in
//! order with the records: nothing logged before it goes to the new file, nothing after it to
//! the old one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::record::Record;

enum Message {
    Record(Box<Record>),
    Reopen,
    Forward(Box<dyn Forward>),
}

/// Somewhere else each line goes as it is written, such as a cluster's trace stream. Called on
/// the writer thread, never on a session's: it must not block (hand the line to a bounded
/// queue, and count what does not fit).
pub trait Forward: Send {
    fn forward(&mut self, event: crate::Event, line: &[u8]);
}

/// How long the writer gathers records after a write before it writes again.
const GATHER: Duration = Duration::from_millis(5);

pub struct TrackingLog {
    path: PathBuf,
    tx: Option<Sender<Message>>,
    thread: Option<JoinHandle<()>>,
}

impl TrackingLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn open(path: &Path) -> io::Result<TrackingLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = open_append(path)?;
        let (tx, rx) = channel();
        let at = path.to_path_buf();
        let thread =
            std::thread::Builder::new().name("tracking-log".into()).spawn(move || write_loop(file, rx, &at))?;
        Ok(TrackingLog { path: path.to_path_buf(), tx: Some(tx), thread: Some(thread) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn log(&self, record: Record) {
        if let Some(tx) = &self.tx {
            // The thread only ends when we drop the sender.
            let _ = tx.send(Message::Record(Box::new(record)));
        }
    }

    /// From now on, every line also goes to `to`.
    pub fn forward_to(&self, to: Box<dyn Forward>) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Forward(to));
        }
    }

    /// Opens the path anew, for log rotation. Should that fail, the old file stays in use and
    /// the reason is printed.
    pub fn reopen(&self) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(Message::Reopen);
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

impl Drop for TrackingLog {
    /// Writes out everything logged so far.
    fn drop(&mut self) {
        self.tx.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn write_loop(file: File, rx: Receiver<Message>, path: &Path) {
    let shown = path.display();
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut failed = false;
    let mut forward: Option<Box<dyn Forward>> = None;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(message) = next {
            match message {
                Message::Record(record) => {
                    let mut line = serde_json::to_vec(&record).unwrap_or_default();
                    if let Some(f) = forward.as_mut() {
                        f.forward(record.event, &line);
                    }
                    line.push(b'\n');
                    if let Err(e) = out.write_all(&line)
                        && !failed
                    {
                        eprintln!("doorman: cannot write the tracking log {shown}: {e}");
                        failed = true;
                    }
                }
                Message::Forward(to) => forward = Some(to),
                Message::Reopen => {
                    let _ = out.flush();
                    match open_append(path) {
                        Ok(file) => out = BufWriter::with_capacity(64 * 1024, file),
                        Err(e) => eprintln!(
                            "doorman: cannot reopen the tracking log {shown}: {e}; still writing the old file"
                        ),
                    }
                }
            }
            next = rx.try_recv().ok();
        }
        if out.flush().is_ok() {
            failed = false;
        }
        std::thread::sleep(GATHER);
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Event;

    /// logrotate renames the file away and asks for a reopen: what came before stays in the
    /// old file, what comes after goes to a new one at the path.
    #[test]
    fn reopen_after_a_rename_writes_a_new_file_at_the_path() {
        let dir = std::env::temp_dir().join(format!("doorman-tracking-reopen-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("tracking.jsonl");
        let log = TrackingLog::open(&path).unwrap();
        let mut before = Record::now(Event::Connect);
        before.session = Some("before".into());
        log.log(before);
        // The writer flushes when its channel runs dry.
        let wait_lines = |p: &Path, n: usize| {
            for _ in 0..500 {
                if std::fs::read_to_string(p).unwrap_or_default().lines().count() >= n {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            panic!("{} never had {n} line(s)", p.display());
        };
        wait_lines(&path, 1);
        let rotated = dir.join("tracking.jsonl.1");
        std::fs::rename(&path, &rotated).unwrap();
        log.reopen();
        let mut after = Record::now(Event::Connect);
        after.session = Some("after".into());
        log.log(after);
        drop(log);
        let old = std::fs::read_to_string(&rotated).unwrap();
        let new = std::fs::read_to_string(&path).unwrap();
        assert!(old.contains("\"before\"") && !old.contains("\"after\""), "{old}");
        assert!(new.contains("\"after\"") && !new.contains("\"before\""), "{new}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
