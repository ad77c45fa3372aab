//! Spool recovery at start. Whatever a crash or a disk left in `incoming/` (copies cut
//! short, bytes changed, envelopes that are not JSON, delivery states that are not either),
//! the start never fails; each copy is then either queued and read back whole, exactly as
//! written, or set aside in `corrupt/` with its bytes and a reason, and reported once.
//!
//! The input is a small script: for each of up to four copies, a kind byte, a position, a
//! value and a length-prefixed payload.

use std::fs;
use std::io::Read;
use std::path::PathBuf;

use doorman_spool::{BodyType, Disposition, Envelope, Recipient, SCHEMA, Spool};

const IDS: [&str; 4] = ["F1", "F2", "F3", "F4"];

fn envelope(id: &str, size: u64) -> Envelope {
    Envelope {
        schema: SCHEMA.into(),
        queue_id: id.into(),
        received_at: "2026-11-28T03:25:50.123Z".into(),
        session: "s1".into(),
        client_ip: "203.0.113.9".into(),
        helo: Some("gw.example".into()),
        tls: None,
        certificate_names: vec![],
        mail_from: "a@example.net".into(),
        body: BodyType::SevenBit,
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

/// A copy as the spool writes it.
fn whole(id: &str, message: &[u8]) -> Vec<u8> {
    let mut bytes = serde_json::to_vec(&envelope(id, message.len() as u64)).expect("an envelope serializes");
    bytes.push(b'\n');
    bytes.extend_from_slice(message);
    bytes
}

struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        let Some((&b, rest)) = self.0.split_first() else { return 0 };
        self.0 = rest;
        b
    }
    fn bytes(&mut self) -> Vec<u8> {
        let n = usize::from(self.byte()).min(self.0.len());
        let (b, rest) = self.0.split_at(n);
        self.0 = rest;
        b.to_vec()
    }
}

/// A folder of this process and thread (tests replay inputs on several threads).
fn scratch() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    thread_local! { static N: usize = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed); }
    let base = if std::path::Path::new("/dev/shm").is_dir() { PathBuf::from("/dev/shm") } else { std::env::temp_dir() };
    base.join(format!("doorman-fuzz-spool-{}-{}", std::process::id(), N.with(|n| *n)))
}

pub fn check(data: &[u8]) {
    let root = scratch();
    let _ = fs::remove_dir_all(&root);
    drop(Spool::open(&root).expect("a new spool opens"));
    let mut input = Input(data);
    let count = usize::from(input.byte() % 4) + 1;
    // (id, the bytes on disk, whether they are a whole copy as written)
    let mut files = Vec::new();
    for id in &IDS[..count] {
        let how = input.byte();
        let kind = how % 5;
        // A delivery state beside any kind of copy: it must go wherever the copy goes.
        let with_state = how & 0x80 != 0 || kind == 4;
        let at = usize::from(input.byte()) * 4 + usize::from(input.byte() % 4);
        let value = input.byte();
        let payload = input.bytes();
        let copy = whole(id, &payload);
        let (bytes, intact) = match kind {
            // Raw bytes, whatever they are.
            0 => (payload.clone(), false),
            // Whole.
            1 => (copy.clone(), true),
            // Cut short (or, past its end, whole).
            2 => (copy[..at.min(copy.len())].to_vec(), at >= copy.len()),
            // One byte changed, or one added at the end.
            3 => {
                let mut b = copy.clone();
                match b.get_mut(at) {
                    Some(x) => *x ^= value.max(1),
                    None => b.push(value),
                }
                (b, false)
            }
            // Whole, with a delivery state of raw bytes.
            _ => (copy.clone(), true),
        };
        if with_state {
            fs::create_dir_all(root.join("state")).unwrap();
            fs::write(root.join("state").join(format!("{id}.json")), &payload).unwrap();
        }
        fs::write(root.join("incoming").join(id), &bytes).unwrap();
        files.push((id.to_string(), bytes, intact, payload, with_state));
    }

    let spool = Spool::open(&root).expect("the start never fails on what is in the spool");
    let queued = spool.queued().unwrap();
    let corrupt = spool.corrupt().unwrap();
    assert_eq!(corrupt, spool.set_aside_at_open(), "every copy set aside is reported");
    for (id, bytes, intact, payload, with_state) in &files {
        let is_queued = queued.contains(id);
        let set_aside = corrupt.iter().find(|s| &s.queue_id == id);
        assert!(is_queued != set_aside.is_some(), "{id}: queued {is_queued}, set aside {set_aside:?}");
        if *intact {
            assert!(is_queued, "{id}: a whole copy was set aside: {set_aside:?}");
            let mut message = Vec::new();
            spool.open_copy(id).unwrap().reader().unwrap().read_to_end(&mut message).unwrap();
            assert_eq!(&message, payload, "{id}: read back other bytes");
        }
        if is_queued {
            // Whatever stays in the queue is read whole, as its envelope announces.
            let copy = spool.open_copy(id).unwrap_or_else(|e| panic!("{id}: queued but not readable: {e}"));
            let mut message = Vec::new();
            copy.reader().unwrap().read_to_end(&mut message).unwrap();
            assert_eq!(message.len() as u64, copy.envelope.size);
            assert!(bytes.ends_with(&message));
            // A delivery state the queue cannot read is an error it can act on, never a panic.
            let _ = doorman_queue::state::load(&spool, id);
        } else if let Some(s) = set_aside {
            assert!(!s.why.is_empty());
            assert_eq!(&fs::read(root.join("corrupt").join(id)).unwrap(), bytes, "{id}: set aside with other bytes");
            // Its state went with it, and none is left where delivery looks.
            assert_eq!(root.join("corrupt").join(format!("{id}.json")).is_file(), *with_state, "{id}: its state");
            assert!(!root.join("state").join(format!("{id}.json")).exists(), "{id}: a state left behind");
        }
    }
    drop(spool);
    let again = Spool::open(&root).unwrap();
    assert!(again.set_aside_at_open().is_empty(), "a second start sets nothing more aside");
    assert_eq!(again.queued().unwrap(), queued);
    drop(again);
    let _ = fs::remove_dir_all(&root);
}
