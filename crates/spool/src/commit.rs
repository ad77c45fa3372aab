//! Group commit. A copy is durable once its data and its name in `incoming/` are; one sync
//! covers every copy staged before it starts. [`GroupCommit`] numbers the requests and lets
//! the first caller that finds no sync running make the next one for everyone waiting. The
//! edge's sessions ask through the commit thread (they wait as tasks, not threads); tools and
//! blocking tasks ask on their own thread and may make the sync themselves.
//!
//! How to sync, measured (`cargo bench -p doorman-spool --bench commit`: 20 threads, 1 KiB
//! copies, ext4 on this 2-core machine, medians of 5 rounds):
//!
//! | way                                          | copies/s | CPU per copy |
//! |----------------------------------------------|---------:|-------------:|
//! | file per copy, one `syncfs` per group        |   20,969 |      40.6 us |
//! | file per copy, `fdatasync` each + dir fsync  |    7,442 |     184.2 us |
//! | segment log (one file), preallocated         |   54,859 |      17.3 us |
//! | segment log, growing                         |   31,433 |      20.9 us |
//!
//! `syncfs` is the default: a group of copies costs one journal commit instead of one each.
//! It also flushes whatever else is dirty on the filesystem, so the per-copy way stays for a
//! spool that shares its filesystem with busy writers.
//!
//! A segment log would make storage 2.6 times cheaper, and storage is most of what receipt
//! costs (doorman with the spool writes left out takes 13,400 msg/s, about 90% of
//! `smtp-sink`, against 6,000 with them). It is not built: with a file per copy, the
//! receipt targets hold (bench/smtp-load.sh), and every copy stays on its own for delivery,
//! quarantine (a rename), the admin tools and crash recovery; a segment log needs an index,
//! a log of delivery states, compaction of segments whose copies finish at different times,
//! and a recovery scan. It is the way to go if receipt must get much faster.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::mpsc::{Sender, channel};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How a commit makes copies durable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SyncMode {
    /// One `syncfs` per batch: data and names, every copy at once.
    #[default]
    Filesystem,
    /// Each copy's `fdatasync` when staged, one directory fsync per batch.
    PerCopy,
}

pub(crate) struct DirCommitter {
    sync: Arc<Sync>,
    /// The commit thread, which syncs for async callers: they wait without a thread each.
    tx: Sender<Waiter>,
}

type Waiter = oneshot::Sender<Result<Duration, SyncError>>;

/// A sync failed. Every commit it covered gets the same error, hence the `Arc`.
#[derive(Clone, Debug, thiserror::Error)]
#[error(transparent)]
pub struct SyncError(Arc<io::Error>);

impl SyncError {
    pub fn kind(&self) -> io::ErrorKind {
        self.0.kind()
    }
}

impl From<SyncError> for io::Error {
    fn from(e: SyncError) -> io::Error {
        io::Error::new(e.kind(), e)
    }
}

/// The spool's sync failed.
#[derive(Debug, thiserror::Error)]
#[error("fsync of {dir}: {source}")]
struct DirSyncError {
    dir: PathBuf,
    source: io::Error,
}

struct Sync {
    dir: PathBuf,
    /// Held open for the spool's life, so that `syncfs` reports every writeback error since
    /// the spool was opened, not only those after a fresh open.
    dir_file: File,
    mode: SyncMode,
    group: GroupCommit,
}

impl Sync {
    fn commit(&self) -> Result<Duration, SyncError> {
        self.group.commit(|| {
            match self.mode {
                SyncMode::Filesystem => sync_filesystem(&self.dir_file),
                SyncMode::PerCopy => self.dir_file.sync_all(),
            }
            .map_err(|e| io::Error::new(e.kind(), DirSyncError { dir: self.dir.clone(), source: e }))
        })
    }
}

impl DirCommitter {
    pub(crate) fn start(dir: PathBuf, mode: SyncMode) -> io::Result<DirCommitter> {
        let dir_file = File::open(&dir).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", dir.display())))?;
        let sync = Arc::new(Sync { dir, dir_file, mode, group: GroupCommit::default() });
        let (tx, rx) = channel::<Waiter>();
        let on_thread = sync.clone();
        std::thread::Builder::new().name("spool-commit".into()).spawn(move || {
            // Every waiter taken before the sync starts is covered by it.
            while let Ok(first) = rx.recv() {
                let batch: Vec<Waiter> = std::iter::once(first).chain(rx.try_iter()).collect();
                let result = on_thread.commit();
                for w in batch {
                    let _ = w.send(result.clone());
                }
            }
        })?;
        Ok(DirCommitter { sync, tx })
    }

    /// Resolves once every copy named before this call is durable; gives the sync's duration.
    pub(crate) async fn commit(&self) -> io::Result<Duration> {
        let (tx, rx) = oneshot::channel();
        let stopped = || io::Error::other("the spool commit thread has stopped");
        self.tx.send(tx).map_err(|_| stopped())?;
        Ok(rx.await.map_err(|_| stopped())??)
    }

    /// Whether the commit makes the copies' data durable too, so that a copy need not be
    /// synced on its own.
    pub(crate) fn syncs_filesystem(&self) -> bool {
        self.sync.mode == SyncMode::Filesystem
    }

    pub(crate) fn syncs(&self) -> u64 {
        self.sync.group.syncs()
    }

    /// [`DirCommitter::commit`] on the calling thread, which may make the sync itself.
    pub(crate) fn commit_blocking(&self) -> io::Result<Duration> {
        Ok(self.sync.commit()?)
    }
}

/// Leader/follower group commit over any sync: callers that ask while a sync runs wait, and
/// the first of them to find none running makes the next sync for all of them.
#[derive(Default)]
pub struct GroupCommit {
    state: Mutex<State>,
    synced: Condvar,
}

/// Commits are numbered (tickets) in the order they ask; a sync started after ticket `t` was
/// taken covers every ticket up to `t`.
#[derive(Default)]
struct State {
    issued: u64,
    /// Every ticket up to this one has had its sync.
    settled: u64,
    syncing: bool,
    /// The last sync's duration.
    took: Duration,
    syncs: u64,
    /// The first sync that failed, and from which ticket on it fails commits: every commit
    /// from then on fails too. A sync that fails may have lost the data of copies that a later
    /// sync would then report clean (a writeback error is reported once), so no later sync
    /// can vouch for them; the spool refuses until it is opened again.
    failed: Option<(u64, SyncError)>,
}

impl GroupCommit {
    /// Returns once a `sync` that started after this call has returned, made by this caller or
    /// another; gives the duration of that sync (or of a later one), or the error of the first
    /// sync that ever failed. Every caller passes the same sync.
    pub fn commit(&self, sync: impl FnOnce() -> io::Result<()>) -> Result<Duration, SyncError> {
        let mut sync = Some(sync);
        let mut s = self.lock();
        s.issued += 1;
        let ticket = s.issued;
        loop {
            if s.settled >= ticket {
                return Self::answer(&mut s, ticket);
            }
            if s.syncing {
                s = self.synced.wait(s).unwrap_or_else(|e| e.into_inner());
                continue;
            }
            let run = sync.take().expect("a caller leads at most once: its own sync covers its ticket");
            // Lead: one sync for every ticket issued so far.
            s.syncing = true;
            let upto = s.issued;
            drop(s);
            let start = Instant::now();
            // A panic is a failed sync: the waiters are answered, never left waiting.
            let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
                .unwrap_or_else(|_| Err(io::Error::other("the sync panicked")));
            s = self.lock();
            s.syncing = false;
            s.took = start.elapsed();
            s.syncs += 1;
            if let Err(e) = result
                && s.failed.is_none()
            {
                s.failed = Some((s.settled + 1, SyncError(Arc::new(e))));
            }
            s.settled = upto;
            self.synced.notify_all();
        }
    }

    /// Syncs made so far: with the number of commits, how well they were grouped.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    fn answer(s: &mut MutexGuard<'_, State>, ticket: u64) -> Result<Duration, SyncError> {
        match &s.failed {
            Some((from, e)) if ticket >= *from => Err(e.clone()),
            _ => Ok(s.took),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `syncfs(2)`: every dirty page and inode of the filesystem, in one journal commit.
fn sync_filesystem(dir: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    // SAFETY: the descriptor is open for the duration of the call.
    if unsafe { libc::syncfs(dir.as_raw_fd()) } == 0 { Ok(()) } else { Err(io::Error::last_os_error()) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn every_commit_returns_after_a_sync_that_started_after_it_asked() {
        let group = Arc::new(GroupCommit::default());
        // Syncs started, and the highest start number of a sync that has returned.
        let started = Arc::new(AtomicU64::new(0));
        let finished = Arc::new(AtomicU64::new(0));
        let threads: Vec<_> = (0..16)
            .map(|_| {
                let (group, started, finished) = (group.clone(), started.clone(), finished.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        let asked = started.load(Ordering::SeqCst);
                        group
                            .commit(|| {
                                let n = started.fetch_add(1, Ordering::SeqCst) + 1;
                                std::thread::yield_now();
                                finished.fetch_max(n, Ordering::SeqCst);
                                Ok(())
                            })
                            .unwrap();
                        assert!(finished.load(Ordering::SeqCst) > asked, "answered before a sync that covers it");
                    }
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let syncs = started.load(Ordering::SeqCst);
        assert!((1..=800).contains(&syncs), "{syncs} syncs for 800 commits");
        let s = group.lock();
        assert_eq!((s.issued, s.settled, s.syncing), (800, 800, false));
    }

    #[test]
    fn a_failed_sync_fails_the_commits_it_covered_and_every_later_one() {
        let group = GroupCommit::default();
        assert!(group.commit(|| Ok(())).is_ok());
        let e = group.commit(|| Err(io::Error::other("fsync of x: EIO"))).unwrap_err();
        assert_eq!(e.to_string(), "fsync of x: EIO");
        let later = group.commit(|| Ok(())).unwrap_err();
        assert_eq!(later.to_string(), "fsync of x: EIO", "a later clean sync cannot vouch for what was lost");
        // What the first failure did not cover still succeeded.
        let s = group.lock();
        assert_eq!(s.failed.as_ref().map(|f| f.0), Some(2));
    }

    #[test]
    fn a_sync_that_panics_fails_its_commits_and_leaves_none_waiting() {
        let group = Arc::new(GroupCommit::default());
        let e = group.commit(|| panic!("boom")).unwrap_err();
        assert_eq!(e.to_string(), "the sync panicked");
        let s = group.lock();
        assert!(!s.syncing && s.settled == s.issued);
    }
}
