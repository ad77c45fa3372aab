//! SMTP framing, strict and in our own code: command lines, the DATA body and BDAT chunks.
//!
//! Only CRLF ends a line, and only CRLF `.` CRLF ends DATA. A bare CR, a bare LF or a NUL is
//! never taken as a line end; it marks the message (or command) as flawed, and the reader
//! carries on to the real end, so that no variant of SMTP smuggling (`\n.\n`, `\r.\r`,
//! `\r\n.\r\r\n`, `\r\n\0.\r\n`, …) can end a message early or slip a second one in.

/// RFC 5321 section 4.5.3.1.4: a command line is at most 512 octets with its CRLF.
pub const MAX_COMMAND_LINE: usize = 512;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flaw {
    BareCr,
    BareLf,
    Nul,
}

/// One scan of the read buffer for a command line.
#[derive(Debug, PartialEq, Eq)]
pub enum LineScan {
    /// No LF yet.
    Incomplete,
    /// A line of `len` bytes with its CRLF; the content is `buf[..len - 2]`.
    Line { len: usize },
    /// `len` bytes up to and with an LF, refused.
    Bad { len: usize, why: LineError },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineError {
    TooLong,
    Flawed(Flaw),
}

/// Looks for the next command line at the start of `buf`. Only CRLF ends a line: a bare CR
/// or LF before it makes the whole line bad, so `RSET\nMAIL FROM:…\r\n` is one refused line
/// and never two commands.
pub fn scan_line(buf: &[u8]) -> LineScan {
    let Some(cr) = buf.windows(2).position(|w| w == b"\r\n") else {
        return LineScan::Incomplete;
    };
    let len = cr + 2;
    let content = &buf[..cr];
    if content.contains(&b'\n') {
        return LineScan::Bad { len, why: LineError::Flawed(Flaw::BareLf) };
    }
    if content.contains(&b'\r') {
        return LineScan::Bad { len, why: LineError::Flawed(Flaw::BareCr) };
    }
    if content.contains(&0) {
        return LineScan::Bad { len, why: LineError::Flawed(Flaw::Nul) };
    }
    if len > MAX_COMMAND_LINE {
        return LineScan::Bad { len, why: LineError::TooLong };
    }
    LineScan::Line { len }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DotState {
    /// After CRLF (or at the very start, right after the DATA command's CRLF).
    LineStart,
    /// A `.` at the start of a line.
    Dot,
    /// `.` CR at the start of a line: LF next ends the message.
    DotCr,
    Mid,
    /// A CR inside a line: anything but LF next makes it bare.
    Cr,
}

/// Reads a DATA body: removes dot-stuffing, finds the end, records flaws and the size.
/// Bytes past `max_size` or after a flaw are counted, not kept: the message will be refused.
#[derive(Debug)]
pub struct DotReader {
    state: DotState,
    max_size: u64,
    /// Bytes of the message so far (after unstuffing).
    pub size: u64,
    pub flaw: Option<Flaw>,
}

impl DotReader {
    pub fn new(max_size: u64) -> DotReader {
        DotReader { state: DotState::LineStart, max_size, size: 0, flaw: None }
    }

    pub fn too_big(&self) -> bool {
        self.size > self.max_size
    }

    fn keeps(&self) -> bool {
        self.flaw.is_none() && !self.too_big()
    }

    fn flag(&mut self, f: Flaw) {
        self.flaw.get_or_insert(f);
    }

    fn emit(&mut self, out: &mut Vec<u8>, bytes: &[u8]) {
        self.size += bytes.len() as u64;
        if self.keeps() {
            out.extend_from_slice(bytes);
        }
    }

    /// The first byte of a line's content (after any leading dot), when it is not a CR.
    fn first_of_line(&mut self, b: u8, out: &mut Vec<u8>) {
        match b {
            b'\n' => self.flag(Flaw::BareLf),
            0 => self.flag(Flaw::Nul),
            _ => self.emit(out, &[b]),
        }
        self.state = DotState::Mid;
    }

    /// Feeds `input`; appends message bytes to `out`. Returns `Some(n)` when the end marker
    /// finishes at `input[n - 1]` (the rest of `input` is the next command), else `None`
    /// when every byte was used and more are needed.
    pub fn feed(&mut self, input: &[u8], out: &mut Vec<u8>) -> Option<usize> {
        let mut i = 0;
        while i < input.len() {
            match self.state {
                DotState::Mid => {
                    // Copy the run of ordinary bytes in one go.
                    let run = input[i..].iter().position(|&b| b == b'\r' || b == b'\n' || b == 0);
                    let end = run.map_or(input.len(), |r| i + r);
                    self.emit(out, &input[i..end]);
                    i = end;
                    if i == input.len() {
                        break;
                    }
                    match input[i] {
                        b'\r' => self.state = DotState::Cr,
                        b'\n' => self.flag(Flaw::BareLf),
                        _ => self.flag(Flaw::Nul),
                    }
                    i += 1;
                }
                DotState::LineStart => {
                    let b = input[i];
                    i += 1;
                    match b {
                        b'.' => self.state = DotState::Dot,
                        b'\r' => self.state = DotState::Cr,
                        _ => self.first_of_line(b, out),
                    }
                }
                DotState::Dot => {
                    // The leading dot is removed (RFC 5321 section 4.5.2).
                    let b = input[i];
                    i += 1;
                    match b {
                        b'\r' => self.state = DotState::DotCr,
                        _ => self.first_of_line(b, out),
                    }
                }
                DotState::DotCr => {
                    if input[i] == b'\n' {
                        return Some(i + 1);
                    }
                    // `.` CR then anything but LF: a bare CR; the byte is read as in a line.
                    self.flag(Flaw::BareCr);
                    self.state = DotState::Mid;
                }
                DotState::Cr => {
                    if input[i] == b'\n' {
                        i += 1;
                        self.emit(out, b"\r\n");
                        self.state = DotState::LineStart;
                    } else {
                        self.flag(Flaw::BareCr);
                        self.state = DotState::Mid;
                    }
                }
            }
        }
        None
    }
}

/// Checks BDAT chunks for bare CR, bare LF and NUL across chunk boundaries. A chunk's bytes
/// are message bytes as they are: no dot-stuffing, no end marker.
#[derive(Debug, Default)]
pub struct ChunkChecker {
    last_cr: bool,
    pub flaw: Option<Flaw>,
}

impl ChunkChecker {
    pub fn feed(&mut self, chunk: &[u8]) {
        for &b in chunk {
            if self.last_cr && b != b'\n' {
                self.flaw.get_or_insert(Flaw::BareCr);
            }
            if b == b'\n' && !self.last_cr {
                self.flaw.get_or_insert(Flaw::BareLf);
            }
            if b == 0 {
                self.flaw.get_or_insert(Flaw::Nul);
            }
            self.last_cr = b == b'\r';
        }
    }

    /// The message is complete: a final lone CR is bare too.
    pub fn finish(&mut self) -> Option<Flaw> {
        if self.last_cr {
            self.flaw.get_or_insert(Flaw::BareCr);
        }
        self.flaw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `wire` in pieces of `step` bytes; returns (message, end offset, flaw).
    fn read(wire: &[u8], step: usize) -> (Vec<u8>, Option<usize>, Option<Flaw>) {
        let mut r = DotReader::new(1 << 20);
        let mut out = Vec::new();
        let mut at = 0;
        for piece in wire.chunks(step) {
            if let Some(n) = r.feed(piece, &mut out) {
                return (out, Some(at + n), r.flaw);
            }
            at += piece.len();
        }
        (out, None, r.flaw)
    }

    #[test]
    fn lines() {
        assert_eq!(scan_line(b"EHLO x\r\nMAIL"), LineScan::Line { len: 8 });
        assert_eq!(scan_line(b"EHLO x"), LineScan::Incomplete);
        assert_eq!(scan_line(b"EHLO x\nRSET\r\n"), LineScan::Bad { len: 13, why: LineError::Flawed(Flaw::BareLf) });
        assert_eq!(scan_line(b"\n"), LineScan::Incomplete);
        assert_eq!(
            scan_line(b"MAIL FROM:<a>\rRCPT TO:<b>\r\n"),
            LineScan::Bad { len: 27, why: LineError::Flawed(Flaw::BareCr) }
        );
        let long = [b"NOOP ".as_slice(), &[b'x'; 600], b"\r\n"].concat();
        assert_eq!(scan_line(&long), LineScan::Bad { len: long.len(), why: LineError::TooLong });
        let max = [b"NOOP ".as_slice(), &[b'x'; 505], b"\r\n"].concat();
        assert_eq!(scan_line(&max), LineScan::Line { len: 512 });
    }

    #[test]
    fn ends_only_at_crlf_dot_crlf_and_unstuffs() {
        for step in [1, 2, 3, 7, 1000] {
            let wire = b"Subject: x\r\n\r\n..leading dot\r\n.\r\nQUIT\r\n";
            let (msg, end, flaw) = read(wire, step);
            assert_eq!(msg, b"Subject: x\r\n\r\n.leading dot\r\n", "step {step}");
            assert_eq!(end, Some(wire.len() - 6));
            assert_eq!(flaw, None);
        }
        // An empty message: the end marker right after DATA's CRLF.
        assert_eq!(read(b".\r\n", 1), (vec![], Some(3), None));
    }

    #[test]
    fn no_smuggling_variant_ends_the_message() {
        let variants: [(&[u8], Flaw); 10] = [
            (b"\n.\n", Flaw::BareLf),
            (b"\r.\r", Flaw::BareCr),
            (b"\r.\n", Flaw::BareCr),
            (b"\n.\r", Flaw::BareLf),
            (b"\n.\r\n", Flaw::BareLf),
            (b"\r\n.\n", Flaw::BareLf),
            (b"\r.\r\n", Flaw::BareCr),
            (b"\r\n.\r", Flaw::BareCr),
            (b"\r\n\0.\r\n", Flaw::Nul),
            (b"\r\n.\r\r\n", Flaw::BareCr),
        ];
        for (marker, flaw) in variants {
            let smuggled = [
                b"Subject: one\r\n\r\nbody".as_slice(),
                marker,
                b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@contoso.com>\r\nDATA\r\nSubject: two\r\n",
            ]
            .concat();
            let wire = [smuggled.as_slice(), b"\r\n.\r\n"].concat();
            for step in [1, 4, 4096] {
                let (_, end, got) = read(&wire, step);
                assert_eq!(end, Some(wire.len()), "{marker:?} ended early (step {step})");
                assert_eq!(got, Some(flaw), "{marker:?}");
            }
        }
    }

    #[test]
    fn size_is_counted_past_the_limit() {
        let mut r = DotReader::new(10);
        let mut out = Vec::new();
        assert_eq!(r.feed(b"0123456789abcdef\r\n.\r\n", &mut out), Some(21));
        assert!(r.too_big());
        assert_eq!(r.size, 18);
    }

    #[test]
    fn chunks() {
        let mut c = ChunkChecker::default();
        c.feed(b"a\r");
        c.feed(b"\nb\r\n");
        assert_eq!(c.finish(), None);
        for bad in [&b"a\nb"[..], b"a\rb", b"a\0", b"a\r"] {
            let mut c = ChunkChecker::default();
            c.feed(bad);
            assert!(c.finish().is_some(), "{bad:?}");
        }
    }
}
