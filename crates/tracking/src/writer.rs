//! Appending to the tracking log off the sessions' path: a writer thread takes records from a
//! channel, gathers what comes within [`GATHER`] of the first, and writes it in one go, so a
//! burst costs one write and a line appears within milliseconds of its decision. A caller
//! that must know its lines are written ([`TrackingLog::written`]) ends the gathering at once.
//!
//! [`TrackingLog::reopen`] opens the path anew (after logrotate renamed the file away), in
//! order with the records: nothing logged before it goes to the new file, nothing after it to
//! the old one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::record::Record;

enum Message {
    Record(Box<Record>),
    Reopen,
    Forward(Box<dyn Forward>),
    /// Every record before it is written to the file (in the kernel's hands, so a `kill -9`
    /// cannot take it back); then the signal is given.
    Written(Giver),
}

/// Gives its signal when dropped, so that a wait never outlives the writer: a writer thread
/// that ends or panics drops every giver it holds.
struct Giver(Arc<Signal>);

impl Drop for Giver {
    fn drop(&mut self) {
        self.0.give();
    }
}

/// A one-time signal from the writer thread to a task waiting for it.
#[derive(Default)]
struct Signal {
    state: Mutex<(bool, Option<Waker>)>,
}

impl Signal {
    fn give(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        s.0 = true;
        if let Some(w) = s.1.take() {
            w.wake();
        }
    }
}

/// Resolves once the records logged before it are written: see [`TrackingLog::written`].
pub struct Written(Option<Arc<Signal>>);

impl Future for Written {
    type Output = ();
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(signal) = &self.0 else { return Poll::Ready(()) };
        let mut s = signal.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 {
            return Poll::Ready(());
        }
        s.1 = Some(cx.waker().clone());
        Poll::Pending
    }
}

/// Somewhere else each line goes as it is written, such as a cluster's trace stream. Called on
/// the writer thread, never on a session's: it must not block (hand the line to a bounded
/// queue, and count what does not fit).
pub trait Forward: Send {
    fn forward(&mut self, event: crate::Event, line: &[u8]);
}

/// How long the writer gathers records after the first before it writes them.
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

    /// Waits until every record logged before it is written to the file. A line still in the
    /// writer's buffer would be lost to a `kill -9`, while what it records (a `250`, a
    /// delivery saved in the spool) stays: so the edge waits for it before a `250` leaves,
    /// and delivery before it saves a recipient's state. A writer that is gone resolves at once.
    pub fn written(&self) -> Written {
        let signal = Arc::new(Signal::default());
        match &self.tx {
            Some(tx) if tx.send(Message::Written(Giver(signal.clone()))).is_ok() => Written(Some(signal)),
            _ => Written(None),
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
    let mut waiting: Vec<Giver> = Vec::new();
    while let Ok(first) = rx.recv() {
        // Records are gathered for GATHER after the first, and written in one go; someone
        // waiting for them ends the gathering at once.
        let until = Instant::now() + GATHER;
        let mut next = Some(first);
        loop {
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
                    Message::Written(signal) => waiting.push(signal),
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
                // However busy the channel, a waiter or the end of the window ends the batch.
                next = if waiting.is_empty() && Instant::now() < until { rx.try_recv().ok() } else { None };
            }
            let left = until.saturating_duration_since(Instant::now());
            if !waiting.is_empty() || left.is_zero() {
                break;
            }
            match rx.recv_timeout(left) {
                Ok(m) => next = Some(m),
                Err(_) => break,
            }
        }
        if out.flush().is_ok() {
            failed = false;
        }
        // Given (dropped) even when the write failed: the error is printed, and a wait must
        // not hang.
        waiting.clear();
    }
    let _ = out.flush();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::Event;

    /// Runs a future on this thread, parking until it is woken.
    fn block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl std::task::Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
                return v;
            }
            std::thread::park();
        }
    }

    /// A writer that dies (here a forward panics) still lets every wait end.
    #[test]
    fn written_resolves_when_the_writer_is_gone() {
        struct Panics;
        impl Forward for Panics {
            fn forward(&mut self, _: crate::Event, _: &[u8]) {
                panic!("a forward that fails");
            }
        }
        let dir = std::env::temp_dir().join(format!("doorman-tracking-gone-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let log = TrackingLog::open(&dir.join("tracking.jsonl")).unwrap();
        log.forward_to(Box::new(Panics));
        log.log(Record::now(Event::Receive));
        let waits: Vec<Written> = (0..3).map(|_| log.written()).collect();
        for w in waits {
            block_on(w);
        }
        block_on(log.written());
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// Once `written` resolves, the lines before it are in the file: no waiting and reading.
    #[test]
    fn written_resolves_once_the_lines_before_it_are_in_the_file() {
        let dir = std::env::temp_dir().join(format!("doorman-tracking-written-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let path = dir.join("tracking.jsonl");
        let log = TrackingLog::open(&path).unwrap();
        for n in 1..=50 {
            let mut r = Record::now(Event::Receive);
            r.queue_id = Some(format!("Q{n}"));
            log.log(r);
            block_on(log.written());
            let text = std::fs::read_to_string(&path).unwrap();
            assert_eq!(text.lines().count(), n);
            assert!(text.ends_with(&format!("\"queue_id\":\"Q{n}\"}}\n")), "{text}");
        }
        drop(log);
        std::fs::remove_dir_all(&dir).unwrap();
    }

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
        // The writer writes within GATHER of a record.
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
