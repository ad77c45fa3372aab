//! A message as it arrives: its first [`HEAD_LIMIT`] bytes in memory, where the transport
//! rules read its header block, and the rest written to a spool spill file as it comes. No
//! session ever holds a whole large message, however many arrive at once.

use std::io;
use std::sync::Arc;

use doorman_spool::{Spill, Spool};

/// What a session keeps in memory. A header block longer than this is read by the rules as
/// far as it goes here (Exchange Online's own limit on a header is 256 KB).
pub const HEAD_LIMIT: usize = 1 << 20;

/// Writes to the spill file are gathered into pieces of this size.
const SPILL_PIECE: usize = 256 * 1024;

pub struct Body {
    /// The first bytes of the message.
    pub head: Vec<u8>,
    /// Bytes past the head not yet written to the spill file.
    pending: Vec<u8>,
    spill: Option<Spill>,
    spool: Arc<Spool>,
    /// The last two bytes kept, to know whether the message ends in CRLF.
    tail: [u8; 2],
    kept: u64,
    /// Writing the spill file failed: the message cannot be spooled.
    pub failed: Option<io::Error>,
}

impl Body {
    pub fn new(spool: Arc<Spool>) -> Body {
        Body {
            head: Vec::with_capacity(8192),
            pending: Vec::new(),
            spill: None,
            spool,
            tail: [0; 2],
            kept: 0,
            failed: None,
        }
    }

    /// Takes the next bytes of the message.
    pub fn push(&mut self, mut bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        self.kept += bytes.len() as u64;
        match bytes {
            [.., a, b] => self.tail = [*a, *b],
            [b] => self.tail = [self.tail[1], *b],
            [] => {}
        }
        let room = HEAD_LIMIT - self.head.len();
        if room > 0 {
            let take = room.min(bytes.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.is_empty() || self.failed.is_some() {
            return;
        }
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= SPILL_PIECE {
            self.flush();
        }
    }

    /// Writes what is pending to the spill file, creating it on first use.
    fn flush(&mut self) {
        if self.pending.is_empty() || self.failed.is_some() {
            return;
        }
        let spill = match &mut self.spill {
            Some(s) => s,
            None => match self.spool.spill() {
                Ok(s) => self.spill.insert(s),
                Err(e) => {
                    self.failed = Some(e);
                    return;
                }
            },
        };
        if let Err(e) = spill.write(&self.pending) {
            self.failed = Some(e);
        }
        self.pending.clear();
    }

    /// The message bytes kept (at most the size limit).
    pub fn len(&self) -> u64 {
        self.kept
    }

    pub fn is_empty(&self) -> bool {
        self.kept == 0
    }

    pub fn ends_with_crlf(&self) -> bool {
        self.kept >= 2 && self.tail == *b"\r\n"
    }

    /// The whole message is in: what lies past the head, in a spill file (or none).
    pub fn finish(mut self) -> io::Result<(Vec<u8>, Option<Spill>)> {
        self.flush();
        match self.failed {
            Some(e) => Err(e),
            None => Ok((self.head, self.spill)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_head_goes_to_the_spill_file() {
        let root = std::env::temp_dir().join(format!("doorman-body-{}", std::process::id()));
        let spool = Arc::new(Spool::open(&root).unwrap());
        let mut body = Body::new(spool.clone());
        let piece = vec![b'x'; 100_000];
        for _ in 0..30 {
            body.push(&piece);
        }
        body.push(b"\r\n");
        assert_eq!(body.len(), 3_000_002);
        assert!(body.ends_with_crlf());
        let (head, spill) = body.finish().unwrap();
        assert_eq!(head.len(), HEAD_LIMIT);
        assert_eq!(spill.as_ref().map(|s| s.len()), Some(3_000_002 - HEAD_LIMIT as u64));
        drop(spill);
        assert_eq!(spool.half_written().unwrap(), 0, "the spill file goes with the message");
        let mut small = Body::new(spool);
        small.push(b"Subject: x\r\n\r\nhi\r");
        assert!(!small.ends_with_crlf());
        let (head, spill) = small.finish().unwrap();
        assert_eq!(head, b"Subject: x\r\n\r\nhi\r");
        assert!(spill.is_none());
        let _ = std::fs::remove_dir_all(&root);
    }
}
