//! Group commit of the `incoming/` directory. Renames are durable only once the directory is
//! fsynced; one fsync covers every rename made before it starts, so a thread takes all waiting
//! requests, fsyncs once, and answers them all.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

type Waiter = oneshot::Sender<Result<Duration, String>>;

pub(crate) struct DirCommitter {
    tx: Sender<Waiter>,
}

impl DirCommitter {
    pub(crate) fn start(dir: PathBuf) -> io::Result<DirCommitter> {
        let (tx, rx) = channel();
        std::thread::Builder::new().name("spool-commit".into()).spawn(move || commit_loop(&dir, rx))?;
        Ok(DirCommitter { tx })
    }

    /// Resolves once every rename made before this call is durable; gives the fsync's duration.
    pub(crate) async fn commit(&self) -> io::Result<Duration> {
        let rx = self.ask()?;
        answer(rx.await)
    }

    /// [`DirCommitter::commit`], waiting on the calling thread.
    pub(crate) fn commit_blocking(&self) -> io::Result<Duration> {
        let rx = self.ask()?;
        answer(rx.blocking_recv())
    }

    fn ask(&self) -> io::Result<oneshot::Receiver<Result<Duration, String>>> {
        let (tx, rx) = oneshot::channel();
        self.tx.send(tx).map_err(|_| io::Error::other("the spool commit thread has stopped"))?;
        Ok(rx)
    }
}

fn answer(r: Result<Result<Duration, String>, oneshot::error::RecvError>) -> io::Result<Duration> {
    match r {
        Ok(Ok(d)) => Ok(d),
        Ok(Err(e)) => Err(io::Error::other(e)),
        Err(_) => Err(io::Error::other("the spool commit thread has stopped")),
    }
}

fn commit_loop(dir: &PathBuf, rx: Receiver<Waiter>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        batch.extend(rx.try_iter());
        let start = Instant::now();
        let result = File::open(dir)
            .and_then(|d| d.sync_all())
            .map(|()| start.elapsed())
            .map_err(|e| format!("fsync of {}: {e}", dir.display()));
        for w in batch {
            let _ = w.send(result.clone());
        }
    }
}
