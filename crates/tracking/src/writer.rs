//! Appending to the tracking log off the sessions' path: a writer thread takes records from a
//! channel and flushes whenever the channel runs dry, so a burst costs one write, and a line
//! appears within milliseconds of its decision. After a write it rests for [`GATHER`]: a
//! sender only wakes the thread when it waits on an empty channel, so under load records are
//! gathered without a wake-up each.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, Sender, channel};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::record::Record;

/// How long the writer gathers records after a write before it writes again.
const GATHER: Duration = Duration::from_millis(5);

pub struct TrackingLog {
    path: PathBuf,
    tx: Option<Sender<Record>>,
    thread: Option<JoinHandle<()>>,
}

impl TrackingLog {
    /// Opens `path` for appending, creating it and its directory.
    pub fn open(path: &Path) -> io::Result<TrackingLog> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let (tx, rx) = channel();
        let shown = path.display().to_string();
        let thread =
            std::thread::Builder::new().name("tracking-log".into()).spawn(move || write_loop(file, rx, &shown))?;
        Ok(TrackingLog { path: path.to_path_buf(), tx: Some(tx), thread: Some(thread) })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn log(&self, record: Record) {
        if let Some(tx) = &self.tx {
            // The thread only ends when we drop the sender.
            let _ = tx.send(record);
        }
    }
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

fn write_loop(file: File, rx: Receiver<Record>, shown: &str) {
    let mut out = BufWriter::with_capacity(64 * 1024, file);
    let mut failed = false;
    while let Ok(first) = rx.recv() {
        let mut next = Some(first);
        while let Some(record) = next {
            let mut line = serde_json::to_vec(&record).unwrap_or_default();
            line.push(b'\n');
            if let Err(e) = out.write_all(&line)
                && !failed
            {
                eprintln!("doorman: cannot write the tracking log {shown}: {e}");
                failed = true;
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
