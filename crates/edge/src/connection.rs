//! One client connection: the byte stream (plain or TLS), our read buffer, and the replies
//! waiting to be sent.
//!
//! Replies are queued and written only when the session needs more input and the buffer holds
//! no complete command: that is PIPELINING's batching (RFC 2920), in order and with nothing
//! lost, and it costs one write per batch.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::framing::{DotReader, LineError, LineScan, MAX_COMMAND_LINE, scan_line};
use crate::shutdown::Shutdown;

pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<Rewind>>),
}

/// A TCP stream that first gives back bytes already read from it. An implicit-TLS
/// ClientHello can come in the same read as a PROXY header; the handshake must see it.
pub struct Rewind {
    prefix: Vec<u8>,
    inner: TcpStream,
}

impl AsyncRead for Rewind {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.prefix.is_empty() {
            let n = this.prefix.len().min(buf.remaining());
            buf.put_slice(&this.prefix[..n]);
            this.prefix.drain(..n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut this.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

impl AsyncRead for Stream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection.
    Closed,
    /// A deadline passed: for a command line, a transfer, or the client taking its replies.
    Timeout,
    /// The client sends DATA slower than `min_data_rate`.
    TooSlow,
    /// The shutdown grace period is over.
    Closing,
    Io(io::Error),
}

/// The deadlines of one DATA or BDAT transfer.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    /// Longest wait for the next bytes.
    pub idle: Duration,
    /// Longest whole transfer.
    pub total: Duration,
    /// Bytes per second a transfer must average once it has run for [`RATE_GRACE`].
    pub min_rate: u64,
    /// When the session ends, transfer or not.
    pub session_end: Instant,
}

impl Timeouts {
    /// By when more bytes must come, for a transfer that began at `started` and has `bytes`
    /// so far: the idle limit, the whole transfer's, the session's, and the moment its rate
    /// would fall below `min_rate`, whichever is first. Whether the rate was the limit.
    fn next_deadline(&self, started: Instant, bytes: u64) -> (Instant, bool) {
        let other = (Instant::now() + self.idle).min(started + self.total).min(self.session_end);
        if self.min_rate == 0 {
            return (other, false);
        }
        let rate = started + RATE_GRACE.max(Duration::from_secs_f64(bytes as f64 / self.min_rate as f64));
        if rate < other { (rate, true) } else { (other, false) }
    }
}

/// How long a transfer may run before its rate is judged.
pub const RATE_GRACE: Duration = Duration::from_secs(30);

pub struct Connection {
    stream: Option<Stream>,
    rbuf: Vec<u8>,
    rpos: usize,
    wbuf: Vec<u8>,
    /// How long the client may take to accept what [`Connection::flush`] sends.
    write_timeout: Duration,
}

impl Connection {
    pub fn new(stream: Stream, write_timeout: Duration) -> Connection {
        Connection {
            stream: Some(stream),
            rbuf: Vec::with_capacity(4096),
            rpos: 0,
            wbuf: Vec::with_capacity(1024),
            write_timeout,
        }
    }

    pub fn set_write_timeout(&mut self, t: Duration) {
        self.write_timeout = t;
    }

    pub fn unread(&self) -> &[u8] {
        &self.rbuf[self.rpos..]
    }

    pub fn consume(&mut self, n: usize) {
        self.rpos += n;
        if self.rpos >= self.rbuf.len() {
            self.rbuf.clear();
            self.rpos = 0;
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Some(Stream::Tls(_)))
    }

    pub fn tls(&self) -> Option<&rustls::ServerConnection> {
        match &self.stream {
            Some(Stream::Tls(s)) => Some(s.get_ref().1),
            _ => None,
        }
    }

    /// Queues a reply line (without CRLF).
    pub fn queue(&mut self, line: &str) {
        self.wbuf.extend_from_slice(line.as_bytes());
        self.wbuf.extend_from_slice(b"\r\n");
    }

    /// Sends the queued replies, within the write timeout.
    pub async fn flush(&mut self) -> io::Result<()> {
        self.write_out(Instant::now() + self.write_timeout).await
    }

    /// Sends the queued replies by `deadline`: a client that does not read them cannot hold
    /// its session open past its deadlines.
    async fn write_out(&mut self, deadline: Instant) -> io::Result<()> {
        if self.wbuf.is_empty() {
            return Ok(());
        }
        let Connection { stream, wbuf, .. } = self;
        let stream = stream.as_mut().ok_or_else(|| io::Error::other("no stream"))?;
        // Written bytes leave the buffer as they go: after a timeout, what is left is what
        // the client has not had, and a later flush does not send a reply twice.
        let sent = tokio::time::timeout_at(deadline.into(), async {
            while !wbuf.is_empty() {
                let n = stream.write(wbuf).await?;
                if n == 0 {
                    return Err(io::Error::from(io::ErrorKind::WriteZero));
                }
                wbuf.drain(..n);
            }
            stream.flush().await
        })
        .await;
        sent.map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "the client did not take its replies in time"))?
    }

    /// Sends what is queued and closes the write side.
    pub async fn close(&mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let _ = self.flush().await;
            if let Some(s) = self.stream.as_mut() {
                let _ = s.shutdown().await;
            }
        })
        .await;
    }

    /// Flushes replies, then waits for more input; both must be done by `deadline`.
    pub async fn fill(&mut self, deadline: Instant, shutdown: &mut Shutdown) -> Result<(), ReadError> {
        self.write_out(deadline).await.map_err(|e| match e.kind() {
            io::ErrorKind::TimedOut => ReadError::Timeout,
            _ => ReadError::Io(e),
        })?;
        if self.rpos > 0 {
            self.rbuf.drain(..self.rpos);
            self.rpos = 0;
        }
        if self.rbuf.capacity() - self.rbuf.len() < 4096 {
            self.rbuf.reserve(16 * 1024);
        }
        let Connection { stream, rbuf, .. } = self;
        let stream = stream.as_mut().ok_or(ReadError::Closed)?;
        let read = tokio::select! {
            r = tokio::time::timeout_at(deadline.into(), stream.read_buf(rbuf)) => r,
            _ = shutdown.closing() => return Err(ReadError::Closing),
        };
        match read {
            Err(_) => Err(ReadError::Timeout),
            Ok(Ok(0)) => Err(ReadError::Closed),
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(ReadError::Io(e)),
        }
    }

    /// Waits for more bytes of a transfer, by the deadline its [`Timeouts`] give.
    async fn fill_transfer(
        &mut self,
        started: Instant,
        bytes: u64,
        t: Timeouts,
        shutdown: &mut Shutdown,
    ) -> Result<(), ReadError> {
        check_rate(started, bytes, t)?;
        let (deadline, by_rate) = t.next_deadline(started, bytes);
        match self.fill(deadline, shutdown).await {
            Err(ReadError::Timeout) if by_rate => Err(ReadError::TooSlow),
            other => other,
        }
    }

    /// The next command line without its CRLF, or why it was refused (the bad line is gone).
    /// The whole line must be here by `deadline`: a byte now and then does not extend it.
    pub async fn read_line(
        &mut self,
        deadline: Instant,
        shutdown: &mut Shutdown,
    ) -> Result<Result<Vec<u8>, LineError>, ReadError> {
        let mut discarding = false;
        loop {
            match scan_line(self.unread()) {
                LineScan::Line { len } => {
                    let line = self.unread()[..len - 2].to_vec();
                    self.consume(len);
                    return Ok(if discarding { Err(LineError::TooLong) } else { Ok(line) });
                }
                LineScan::Bad { len, why } => {
                    self.consume(len);
                    return Ok(Err(if discarding { LineError::TooLong } else { why }));
                }
                LineScan::Incomplete => {
                    let n = self.unread().len();
                    if n >= MAX_COMMAND_LINE {
                        // Too long already: drop it, keeping a final CR that may start the CRLF.
                        discarding = true;
                        let keep = usize::from(self.unread().last() == Some(&b'\r'));
                        self.consume(n - keep);
                    }
                    self.fill(deadline, shutdown).await?;
                }
            }
        }
    }

    /// Reads a DATA body up to and with its end marker.
    pub async fn read_dot_body(
        &mut self,
        reader: &mut DotReader,
        out: &mut crate::body::Body,
        t: Timeouts,
        shutdown: &mut Shutdown,
    ) -> Result<(), ReadError> {
        let started = Instant::now();
        let mut unstuffed = Vec::with_capacity(self.rbuf.len());
        loop {
            let unread = &self.rbuf[self.rpos..];
            let n = unread.len();
            let end = reader.feed(unread, &mut unstuffed);
            out.push(&unstuffed);
            unstuffed.clear();
            if let Some(end) = end {
                self.consume(end);
                return Ok(());
            }
            self.consume(n);
            self.fill_transfer(started, reader.size, t, shutdown).await?;
        }
    }

    /// Reads exactly `size` bytes of a BDAT chunk, handing them to `sink` piece by piece.
    pub async fn read_chunk(
        &mut self,
        mut size: u64,
        mut sink: impl FnMut(&[u8]),
        t: Timeouts,
        shutdown: &mut Shutdown,
    ) -> Result<(), ReadError> {
        let started = Instant::now();
        let mut got = 0u64;
        loop {
            let take = (self.unread().len() as u64).min(size) as usize;
            sink(&self.rbuf[self.rpos..self.rpos + take]);
            self.consume(take);
            size -= take as u64;
            got += take as u64;
            if size == 0 {
                return Ok(());
            }
            self.fill_transfer(started, got, t, shutdown).await?;
        }
    }

    /// STARTTLS: drops any plaintext the client sent after the command (CVE-2011-0411: it
    /// must not be read as if it came through TLS), then runs the handshake. Returns how many
    /// bytes were dropped.
    pub async fn start_tls(&mut self, acceptor: TlsAcceptor, timeout: Duration) -> io::Result<usize> {
        self.write_out(Instant::now() + timeout).await?;
        let dropped = self.unread().len();
        self.handshake(acceptor, timeout, Vec::new()).await?;
        Ok(dropped)
    }

    /// Implicit TLS: what was read already (after a PROXY header) is the handshake's start.
    pub async fn start_implicit_tls(&mut self, acceptor: TlsAcceptor, timeout: Duration) -> io::Result<()> {
        let prefix = self.unread().to_vec();
        self.handshake(acceptor, timeout, prefix).await
    }

    async fn handshake(&mut self, acceptor: TlsAcceptor, timeout: Duration, prefix: Vec<u8>) -> io::Result<()> {
        self.rbuf.clear();
        self.rpos = 0;
        let Some(Stream::Plain(tcp)) = self.stream.take() else {
            return Err(io::Error::other("TLS is already active"));
        };
        let tls = tokio::time::timeout(timeout, acceptor.accept(Rewind { prefix, inner: tcp }))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.stream = Some(Stream::Tls(Box::new(tls)));
        Ok(())
    }
}

fn check_rate(started: Instant, bytes: u64, t: Timeouts) -> Result<(), ReadError> {
    let elapsed = started.elapsed();
    if elapsed > t.total || Instant::now() >= t.session_end {
        return Err(ReadError::Timeout);
    }
    if elapsed > RATE_GRACE && (bytes as f64) < t.min_rate as f64 * elapsed.as_secs_f64() {
        return Err(ReadError::TooSlow);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timeouts(min_rate: u64) -> Timeouts {
        Timeouts {
            idle: Duration::from_secs(300),
            total: Duration::from_secs(600),
            min_rate,
            session_end: Instant::now() + Duration::from_secs(3600),
        }
    }

    /// The rate is the limit once the transfer has run past its grace: the deadline is the
    /// moment the bytes so far stop being enough, whether more come or not.
    #[test]
    fn a_slow_transfer_is_due_when_its_rate_falls_below_the_minimum() {
        let t = timeouts(500);
        let now = Instant::now();
        // Just begun: the grace, not the idle limit, comes first.
        let (deadline, by_rate) = t.next_deadline(now, 0);
        assert!(by_rate);
        assert!(deadline <= now + RATE_GRACE && deadline > now + RATE_GRACE - Duration::from_secs(1));
        // 40 s in with 25,000 bytes: enough for 50 s at 500 B/s, so due at 50 s.
        let started = now - Duration::from_secs(40);
        let (deadline, by_rate) = t.next_deadline(started, 25_000);
        assert!(by_rate);
        assert_eq!(deadline, started + Duration::from_secs(50));
        // 40 s in with 1,000 bytes: due already, and check_rate says so.
        let (deadline, _) = t.next_deadline(started, 1_000);
        assert!(deadline < Instant::now());
        assert!(matches!(check_rate(started, 1_000, t), Err(ReadError::TooSlow)));
        assert!(check_rate(started, 25_000, t).is_ok());
    }

    /// Without a minimum rate, the idle limit, the whole transfer's and the session's apply.
    #[test]
    fn without_a_rate_the_other_deadlines_apply() {
        let mut t = timeouts(0);
        let now = Instant::now();
        let (deadline, by_rate) = t.next_deadline(now - Duration::from_secs(590), 0);
        assert!(!by_rate);
        assert_eq!(deadline, now - Duration::from_secs(590) + t.total);
        t.session_end = now + Duration::from_secs(5);
        assert_eq!(t.next_deadline(now, 0).0, t.session_end);
        let started = now - Duration::from_secs(601);
        assert!(matches!(check_rate(started, 1 << 30, t), Err(ReadError::Timeout)));
    }
}
