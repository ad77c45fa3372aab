//! How to make many small copies durable at once: the spool's two ways (a file per copy, made
//! durable by one `syncfs` per group, or by each copy's `fdatasync` and one directory fsync per
//! group), against a segment log (every copy appended to one file, one `fdatasync` per group),
//! preallocated or growing. Twenty threads stand for twenty sessions; each writes a copy and
//! waits until it is durable, as a session does before its `250`. Every way uses the same
//! group commit. Rounds interleave the ways; the figures are medians.
//!
//! `cargo bench -p doorman-spool --bench commit [-- COPIES_PER_THREAD ROUNDS]`; it writes
//! under `target/bench-spool/` and removes it at the end.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use doorman_spool::{BodyType, Disposition, Envelope, GroupCommit, Recipient, SCHEMA, Spool, SyncMode, new_queue_id};

const THREADS: usize = 20;
const MESSAGE: usize = 1024;

#[derive(Clone, Copy, Debug)]
enum Way {
    FilesSyncfs,
    FilesFdatasync,
    SegmentPreallocated,
    SegmentGrowing,
}

impl Way {
    const ALL: [Way; 4] = [Way::FilesSyncfs, Way::FilesFdatasync, Way::SegmentPreallocated, Way::SegmentGrowing];

    fn label(self) -> &'static str {
        match self {
            Way::FilesSyncfs => "file per copy, syncfs per group (default)",
            Way::FilesFdatasync => "file per copy, fdatasync each + dir fsync",
            Way::SegmentPreallocated => "segment log, preallocated, fdatasync",
            Way::SegmentGrowing => "segment log, growing, fdatasync",
        }
    }
}

struct Figures {
    per_second: f64,
    copies_per_sync: f64,
    cpu_us: f64,
}

fn main() {
    let args: Vec<usize> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    let copies = args.first().copied().unwrap_or(1000);
    let rounds = args.get(1).copied().unwrap_or(5);
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/bench-spool");
    let _ = fs::remove_dir_all(&root);
    fs::create_dir_all(&root).unwrap();
    let message = vec![b'x'; MESSAGE];
    let mut results: Vec<Vec<Figures>> = Way::ALL.iter().map(|_| Vec::new()).collect();
    for round in 0..rounds {
        for i in 0..Way::ALL.len() {
            let k = (round + i) % Way::ALL.len();
            let dir = root.join(format!("{round}-{k}"));
            results[k].push(run(Way::ALL[k], &dir, copies, &message).unwrap());
        }
    }
    println!("{THREADS} threads x {copies} copies of {MESSAGE} bytes, {rounds} rounds (median):");
    println!("{:<44} {:>10} {:>12} {:>16}", "", "copies/s", "copies/sync", "CPU us per copy");
    for (way, figures) in Way::ALL.iter().zip(&results) {
        let med = |f: fn(&Figures) -> f64| {
            let mut v: Vec<f64> = figures.iter().map(f).collect();
            v.sort_by(|a, b| a.total_cmp(b));
            v[v.len() / 2]
        };
        println!(
            "{:<44} {:>10.0} {:>12.1} {:>16.1}",
            way.label(),
            med(|f| f.per_second),
            med(|f| f.copies_per_sync),
            med(|f| f.cpu_us)
        );
    }
    println!("(CPU is this process's; the journal thread's and writeback's are not counted)");
    fs::remove_dir_all(&root).unwrap();
}

fn run(way: Way, dir: &Path, copies: usize, message: &[u8]) -> io::Result<Figures> {
    fs::create_dir_all(dir)?;
    let total = (THREADS * copies) as u64;
    let sink = Sink::new(way, dir, total, message.len())?;
    let cpu = cpu_time();
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..THREADS {
            scope.spawn(|| {
                for _ in 0..copies {
                    sink.write(message).unwrap();
                }
            });
        }
    });
    let elapsed = start.elapsed().as_secs_f64();
    let cpu = cpu_time() - cpu;
    Ok(Figures {
        per_second: total as f64 / elapsed,
        copies_per_sync: total as f64 / sink.syncs.load(Ordering::Relaxed).max(1) as f64,
        cpu_us: cpu * 1e6 / total as f64,
    })
}

enum Store {
    Files(Box<Spool>),
    Segment { file: File, next: AtomicU64 },
}

struct Sink {
    store: Store,
    group: GroupCommit,
    syncs: AtomicU64,
}

impl Sink {
    fn new(way: Way, dir: &Path, total: u64, size: usize) -> io::Result<Sink> {
        let store = match way {
            Way::FilesSyncfs => Store::Files(Box::new(Spool::open_with(dir, SyncMode::Filesystem)?)),
            Way::FilesFdatasync => Store::Files(Box::new(Spool::open_with(dir, SyncMode::PerCopy)?)),
            Way::SegmentPreallocated | Way::SegmentGrowing => {
                let path: PathBuf = dir.join("segment");
                let file = OpenOptions::new().read(true).write(true).create_new(true).open(&path)?;
                if matches!(way, Way::SegmentPreallocated) {
                    // Written and synced beforehand: each append then only overwrites data.
                    let record = (envelope("X", size as u64).len() + size) as u64;
                    let chunk = vec![0u8; 1 << 20];
                    let mut at = 0;
                    while at < total * record {
                        file.write_all_at(&chunk, at)?;
                        at += chunk.len() as u64;
                    }
                    file.sync_all()?;
                }
                Store::Segment { file, next: AtomicU64::new(0) }
            }
        };
        Ok(Sink { store, group: GroupCommit::default(), syncs: AtomicU64::new(0) })
    }

    fn write(&self, message: &[u8]) -> io::Result<()> {
        let id = new_queue_id();
        match &self.store {
            Store::Files(spool) => {
                let env: Envelope = serde_json::from_slice(&envelope(&id, message.len() as u64)).unwrap();
                let staged = spool.write(&env, &[message])?;
                spool.commit_blocking(&[staged])?;
                self.syncs.store(spool.syncs(), Ordering::Relaxed);
            }
            Store::Segment { file, next } => {
                let mut record = envelope(&id, message.len() as u64);
                record.extend_from_slice(message);
                let at = next.fetch_add(record.len() as u64, Ordering::SeqCst);
                file.write_all_at(&record, at)?;
                self.group.commit(|| {
                    self.syncs.fetch_add(1, Ordering::Relaxed);
                    file.sync_data()
                })?;
            }
        }
        Ok(())
    }
}

/// An envelope line like the edge's, as JSON, with its newline.
fn envelope(id: &str, size: u64) -> Vec<u8> {
    let env = Envelope {
        schema: SCHEMA.into(),
        queue_id: id.into(),
        received_at: "2026-11-28T03:25:50.123Z".into(),
        session: "0f3c9a1e5b7d2c4a".into(),
        client_ip: "127.0.0.1".into(),
        helo: Some("bench.example".into()),
        tls: None,
        certificate_names: vec![],
        mail_from: "sender@example.net".into(),
        body: BodyType::SevenBit,
        smtputf8: false,
        recipients: vec![Recipient { address: "user@bench.test".into(), in_directory: true }],
        tenant: "bench".into(),
        connector: None,
        scl: Some(1),
        disposition: Disposition::Deliver,
        rules: vec![],
        size,
    };
    let mut line = serde_json::to_vec(&env).unwrap();
    line.push(b'\n');
    line
}

/// This process's user and system CPU time, in seconds.
fn cpu_time() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
    t(u.ru_utime) + t(u.ru_stime)
}
