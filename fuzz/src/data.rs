//! DATA and BDAT framing. A message ends at the first CRLF `.` CRLF (the DATA line's CRLF
//! counts as the first CRLF) and nowhere else, however the bytes arrive; a bare CR, a bare
//! LF or a NUL anywhere before it flaws the message; an unflawed message is the lines as
//! sent, unstuffed, and holds none of them.

use doorman_edge::framing::{ChunkChecker, DotReader, Flaw};

/// Piece sizes the first byte picks: one byte at a time up to all at once.
fn step(b: u8) -> usize {
    [1, 2, 3, 5, 7, 64, 4096][usize::from(b) % 7]
}

fn feed(wire: &[u8], step: usize) -> (Vec<u8>, Option<usize>, Option<Flaw>, u64) {
    let mut r = DotReader::new(1 << 20);
    let mut out = Vec::new();
    let mut at = 0;
    for piece in wire.chunks(step) {
        if let Some(n) = r.feed(piece, &mut out) {
            return (out, Some(at + n), r.flaw, r.size);
        }
        at += piece.len();
    }
    (out, None, r.flaw, r.size)
}

/// The first flaw in `bytes`, as SMTP defines a line: only CRLF ends one.
fn first_flaw(bytes: &[u8]) -> Option<Flaw> {
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'\r' if bytes.get(i + 1) != Some(&b'\n') => return Some(Flaw::BareCr),
            b'\n' if i == 0 || bytes[i - 1] != b'\r' => return Some(Flaw::BareLf),
            0 => return Some(Flaw::Nul),
            _ => {}
        }
    }
    None
}

pub fn check(input: &[u8]) {
    let Some((&how, wire)) = input.split_first() else { return };
    let (out, end, flaw, size) = feed(wire, step(how));
    // The reference: the first CRLF . CRLF, with the DATA line's CRLF in front.
    let framed = [b"\r\n".as_slice(), wire].concat();
    let marker = framed.windows(5).position(|w| w == b"\r\n.\r\n");
    let expected_end = marker.map(|p| p + 3);
    assert_eq!(end, expected_end, "the message ended somewhere else than at the first CRLF . CRLF");
    // However the bytes were cut, the reader saw the same message.
    let whole = feed(wire, wire.len().max(1));
    assert_eq!((whole.0, whole.1, whole.2, whole.3), (out.clone(), end, flaw, size), "piece size changed the result");
    let Some(end) = end else { return };
    // The message's bytes as sent: up to the CRLF before the final dot.
    let body = &wire[..end - 3];
    let expected_flaw = first_flaw(body).map(|_| ());
    assert_eq!(flaw.map(|_| ()), expected_flaw, "flaw {flaw:?} for a body whose first flaw is {:?}", first_flaw(body));
    if flaw.is_none() {
        let mut unstuffed = Vec::new();
        for line in body.split_inclusive(|&b| b == b'\n') {
            unstuffed.extend_from_slice(line.strip_prefix(b".").unwrap_or(line));
        }
        assert_eq!(out, unstuffed, "an unflawed message is its lines, unstuffed");
        assert_eq!(first_flaw(&out), None);
        assert_eq!(size, out.len() as u64);
    }
}

/// BDAT: chunk boundaries (the first bytes pick them) never hide or invent a flaw.
pub fn check_bdat(input: &[u8]) {
    let Some((&cuts, bytes)) = input.split_first() else { return };
    let mut c = ChunkChecker::default();
    let mut rest = bytes;
    let mut k = usize::from(cuts);
    while !rest.is_empty() {
        let n = (k % 7 + 1).min(rest.len());
        c.feed(&rest[..n]);
        rest = &rest[n..];
        k = k / 7 + n * 3;
    }
    let got = c.finish();
    assert_eq!(got, first_flaw(bytes), "chunks {cuts}");
}
