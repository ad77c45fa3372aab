//! The rspamd client: one `POST /checkv2` per message over HTTP/1.1, on TCP or a Unix
//! socket. Scans are bounded: a message that finds no free slot within the timeout counts as
//! a failed scan, so a slow rspamd turns into `451`s, not into a queue of waiting sessions.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use doorman_config::{SpamFilter, SpamFilterAddress};
use doorman_policy::filtering::spam::{SpamAction, SpamOutcome, SpamVerdict};
use serde::Deserialize;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::Semaphore;

/// The most of rspamd's answer that is read: a verdict is a few KiB.
const MAX_RESPONSE: usize = 1024 * 1024;

pub struct Rspamd {
    address: SpamFilterAddress,
    timeout: Duration,
    slots: Arc<Semaphore>,
    size: usize,
}

/// What rspamd is told besides the message.
pub struct ScanEnvelope<'a> {
    pub ip: IpAddr,
    pub helo: Option<&'a str>,
    pub mail_from: &'a str,
    pub recipients: &'a [String],
    pub queue_id: &'a str,
}

#[derive(Deserialize)]
struct Answer {
    action: String,
    score: f64,
    #[serde(default)]
    required_score: f64,
    #[serde(default)]
    symbols: std::collections::BTreeMap<String, Symbol>,
}

#[derive(Deserialize)]
struct Symbol {
    #[serde(default)]
    score: f64,
}

impl Rspamd {
    /// The client `config` sets up. It takes over `previous`'s scan slots when the address and
    /// the number of slots are the same, so that sessions still on an older config generation
    /// and new ones share one bound.
    pub fn new(config: &SpamFilter, previous: Option<&Rspamd>) -> Rspamd {
        let size = config.max_concurrent_scans.max(1) as usize;
        let slots = previous
            .filter(|p| p.address == config.address && p.size == size)
            .map_or_else(|| Arc::new(Semaphore::new(size)), |p| p.slots.clone());
        Rspamd { address: config.address.clone(), timeout: config.timeout.0, slots, size }
    }

    /// Scans `message`; every failure is a [`SpamOutcome::Failed`] naming what went wrong.
    pub async fn scan(&self, envelope: &ScanEnvelope<'_>, message: &[u8]) -> SpamOutcome {
        let deadline = tokio::time::Instant::now() + self.timeout;
        let slot = match tokio::time::timeout_at(deadline, self.slots.acquire()).await {
            Ok(Ok(slot)) => slot,
            _ => {
                return SpamOutcome::Failed { why: format!("all scan slots stayed busy for {:?}", self.timeout) };
            }
        };
        let result = tokio::time::timeout_at(deadline, self.ask(envelope, message)).await;
        drop(slot);
        match result {
            Err(_) => SpamOutcome::Failed {
                why: format!("rspamd at {} gave no answer within {:?}", self.address, self.timeout),
            },
            Ok(Err(why)) => SpamOutcome::Failed { why: format!("rspamd at {}: {why}", self.address) },
            Ok(Ok(v)) => SpamOutcome::Scanned(v),
        }
    }

    async fn ask(&self, envelope: &ScanEnvelope<'_>, message: &[u8]) -> Result<SpamVerdict, String> {
        let request = request(envelope, message);
        let response = match &self.address {
            SpamFilterAddress::Tcp(a) => {
                let s = tokio::net::TcpStream::connect(a).await.map_err(|e| format!("cannot connect: {e}"))?;
                exchange(s, &request).await?
            }
            SpamFilterAddress::Unix(p) => {
                let s = tokio::net::UnixStream::connect(p).await.map_err(|e| format!("cannot connect: {e}"))?;
                exchange(s, &request).await?
            }
        };
        verdict(&response)
    }
}

/// A header value rspamd can read: one line of printable text.
fn field(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).collect()
}

fn request(e: &ScanEnvelope<'_>, message: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "POST /checkv2 HTTP/1.1\r\nHost: rspamd\r\nConnection: close\r\nContent-Length: {}\r\nIP: {}\r\nQueue-Id: {}\r\n",
        message.len(),
        e.ip,
        field(e.queue_id)
    );
    if let Some(h) = e.helo {
        head.push_str(&format!("Helo: {}\r\n", field(h)));
    }
    if !e.mail_from.is_empty() {
        head.push_str(&format!("From: {}\r\n", field(e.mail_from)));
    }
    for r in e.recipients {
        head.push_str(&format!("Rcpt: {}\r\n", field(r)));
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(message);
    out
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(mut s: S, request: &[u8]) -> Result<Vec<u8>, String> {
    s.write_all(request).await.map_err(|e| format!("cannot send the message: {e}"))?;
    s.flush().await.map_err(|e| format!("cannot send the message: {e}"))?;
    // Read to the end of the answer: its Content-Length when it gives one (a connection kept
    // open must not turn into a timeout), else until rspamd closes.
    let mut response = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        if let Some(head_end) = response.windows(4).position(|w| w == b"\r\n\r\n")
            && let Some(len) = content_length(&response[..head_end])
            && response.len() >= head_end + 4 + len
        {
            response.truncate(head_end + 4 + len);
            return Ok(response);
        }
        let n = s.read(&mut buf).await.map_err(|e| format!("cannot read the answer: {e}"))?;
        if n == 0 {
            return Ok(response);
        }
        response.extend_from_slice(&buf[..n]);
        if response.len() > MAX_RESPONSE {
            return Err(format!("the answer is over {MAX_RESPONSE} bytes"));
        }
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    String::from_utf8_lossy(head).lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim().eq_ignore_ascii_case("content-length").then(|| value.trim().parse().ok())?
    })
}

/// The verdict in an HTTP response from `/checkv2`.
fn verdict(response: &[u8]) -> Result<SpamVerdict, String> {
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").ok_or("the answer is not HTTP")?;
    let (head, body) = (&response[..split], &response[split + 4..]);
    let head = String::from_utf8_lossy(head);
    let status = head.lines().next().unwrap_or("");
    let code = status.split_whitespace().nth(1).unwrap_or("");
    if code != "200" {
        return Err(format!("answered {status:?}"));
    }
    let chunked = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(n, v)| {
            n.trim().eq_ignore_ascii_case("transfer-encoding") && v.trim().eq_ignore_ascii_case("chunked")
        })
    });
    let body = if chunked { dechunk(body)? } else { body.to_vec() };
    let a: Answer = serde_json::from_slice(&body).map_err(|e| format!("the answer is not a verdict: {e}"))?;
    let action = SpamAction::from_rspamd(&a.action);
    // Prefilters such as GTUBE decide with a score of 0, so every symbol is kept.
    let mut symbols: Vec<(String, f64)> = a.symbols.into_iter().map(|(n, s)| (n, s.score)).collect();
    symbols.sort_by(|x, y| y.1.total_cmp(&x.1).then_with(|| x.0.cmp(&y.0)));
    Ok(SpamVerdict {
        action,
        score: a.score,
        required_score: a.required_score,
        symbols: symbols.into_iter().take(10).map(|(n, _)| n).collect(),
    })
}

fn dechunk(mut body: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").ok_or("a chunk is cut short")?;
        let size_text = String::from_utf8_lossy(&body[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| format!("bad chunk size {size_text:?}"))?;
        body = &body[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if size.checked_add(2).is_none_or(|need| body.len() < need) {
            return Err("a chunk is cut short".into());
        }
        out.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_verdict_is_read_from_plain_and_chunked_answers() {
        let json = r#"{"is_skipped":false,"score":7.5,"required_score":15.0,"action":"add header","symbols":{"A":{"score":2.5},"B":{"score":5.0},"Z":{"score":0}}}"#;
        let plain = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{json}", json.len());
        let v = verdict(plain.as_bytes()).unwrap();
        assert_eq!(
            (v.action, v.score, v.symbols.clone()),
            (SpamAction::AddHeader, 7.5, vec!["B".to_string(), "A".into(), "Z".into()])
        );
        let chunked =
            format!("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{json}\r\n0\r\n\r\n", json.len());
        assert_eq!(verdict(chunked.as_bytes()).unwrap(), v);
        assert!(verdict(b"HTTP/1.1 500 Internal\r\n\r\n").unwrap_err().contains("500"));
        let huge = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\nx";
        assert!(verdict(huge).unwrap_err().contains("cut short"));
        let custom = json.replace("add header", "discard");
        let v = verdict(format!("HTTP/1.1 200 OK\r\n\r\n{custom}").as_bytes()).unwrap();
        assert_eq!(v.action.scl().0, 9, "rspamd's discard keeps the message from the recipient");
    }

    #[test]
    fn a_new_generation_shares_the_scan_slots_of_the_last() {
        let config = |n: u32| SpamFilter {
            address: SpamFilterAddress::Unix("/run/rspamd.sock".into()),
            timeout: doorman_config::Seconds(Duration::from_secs(1)),
            max_concurrent_scans: n,
            on_failure: Default::default(),
        };
        let first = Rspamd::new(&config(2), None);
        let _busy = first.slots.try_acquire().unwrap();
        let next = Rspamd::new(&config(2), Some(&first));
        assert_eq!(next.slots.available_permits(), 1, "one slot is in use by the older generation");
        let resized = Rspamd::new(&config(3), Some(&next));
        assert_eq!(resized.slots.available_permits(), 3, "a new bound starts afresh");
    }

    #[tokio::test]
    async fn an_answer_is_read_to_its_content_length_on_a_connection_kept_open() {
        let (client, mut server) = tokio::io::duplex(4096);
        tokio::spawn(async move {
            let mut buf = [0u8; 1024];
            let _ = server.read(&mut buf).await;
            server.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}").await.unwrap();
            std::future::pending::<()>().await;
        });
        let answer = tokio::time::timeout(Duration::from_secs(5), exchange(client, b"x")).await;
        assert!(answer.expect("read to its length, not to a close").unwrap().ends_with(b"\r\n\r\n{}"));
    }

    #[test]
    fn client_text_cannot_add_request_headers() {
        let e = ScanEnvelope {
            ip: "192.0.2.1".parse().unwrap(),
            helo: Some("x\r\nPass: all"),
            mail_from: "a@b",
            recipients: &[],
            queue_id: "Q",
        };
        let r = String::from_utf8(request(&e, b"m")).unwrap();
        assert!(r.contains("Helo: xPass: all\r\n"), "{r}");
    }
}
