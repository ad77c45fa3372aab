//! Counters for the Prometheus text endpoint (`GET /metrics`), kept in atomics and small maps
//! so a session pays a few nanoseconds per reply.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::shutdown::Shutdown;

#[derive(Default)]
pub struct Metrics {
    pub connections_accepted: AtomicU64,
    pub connections_open: AtomicI64,
    pub connections_refused: AtomicU64,
    replies: Mutex<BTreeMap<u16, u64>>,
    /// (tenant, outcome) → messages.
    messages: Mutex<BTreeMap<(String, &'static str), u64>>,
    pub spool_fsync: Histogram,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    pub config_generation: AtomicU64,
    /// What parts beside the edge add (the cluster's state).
    more: Mutex<Vec<Renderer>>,
}

/// Appends Prometheus text for metrics kept elsewhere.
pub type Renderer = Box<dyn Fn(&mut String) + Send + Sync>;

impl Metrics {
    pub fn reply(&self, code: u16) {
        *self.replies.lock().unwrap_or_else(|e| e.into_inner()).entry(code).or_default() += 1;
    }

    /// `outcome` is a tracking event name: receive, reject, drop, quarantine.
    pub fn message(&self, tenant: &str, outcome: &'static str) {
        let mut m = self.messages.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(&(tenant.to_string(), outcome)) {
            Some(n) => *n += 1,
            None => {
                m.insert((tenant.to_string(), outcome), 1);
            }
        }
    }

    /// Adds metrics kept elsewhere to every scrape.
    pub fn also_render(&self, renderer: Renderer) {
        self.more.lock().unwrap_or_else(|e| e.into_inner()).push(renderer);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let gauge = |out: &mut String, name: &str, help: &str, kind: &str, v: i64| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {v}");
        };
        gauge(
            &mut out,
            "doorman_connections_accepted_total",
            "TCP connections accepted.",
            "counter",
            self.connections_accepted.load(Relaxed) as i64,
        );
        gauge(
            &mut out,
            "doorman_connections_refused_total",
            "Connections refused at connect (limits, untrusted or malformed PROXY header).",
            "counter",
            self.connections_refused.load(Relaxed) as i64,
        );
        gauge(&mut out, "doorman_connections_open", "Sessions open now.", "gauge", self.connections_open.load(Relaxed));
        out.push_str(
            "# HELP doorman_replies_total SMTP replies sent, by code.\n# TYPE doorman_replies_total counter\n",
        );
        for (code, n) in self.replies.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "doorman_replies_total{{code=\"{code}\"}} {n}");
        }
        out.push_str(
            "# HELP doorman_messages_total Tenant copies by outcome.\n# TYPE doorman_messages_total counter\n",
        );
        for ((tenant, outcome), n) in self.messages.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let _ = writeln!(out, "doorman_messages_total{{tenant=\"{}\",outcome=\"{outcome}\"}} {n}", escape(tenant));
        }
        self.spool_fsync.render(
            &mut out,
            "doorman_spool_fsync_seconds",
            "Time to make a spooled copy durable (its own fsync, if any, plus the group sync it waited for).",
        );
        gauge(
            &mut out,
            "doorman_config_reloads_total",
            "Reloads that took effect.",
            "counter",
            self.reloads_ok.load(Relaxed) as i64,
        );
        gauge(
            &mut out,
            "doorman_config_reload_failures_total",
            "Reloads refused because the new config has errors.",
            "counter",
            self.reloads_failed.load(Relaxed) as i64,
        );
        gauge(
            &mut out,
            "doorman_config_generation",
            "The config generation in force (1 at start).",
            "gauge",
            self.config_generation.load(Relaxed) as i64,
        );
        for more in self.more.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            more(&mut out);
        }
        out
    }
}

fn escape(label: &str) -> String {
    label.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

const BUCKETS: [f64; 12] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0];

#[derive(Default)]
pub struct Histogram {
    counts: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_nanos: AtomicU64,
}

impl Histogram {
    pub fn observe(&self, d: Duration) {
        let secs = d.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|&b| secs <= b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_nanos.fetch_add(d.as_nanos() as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        let mut cumulative = 0;
        for (b, c) in BUCKETS.iter().zip(&self.counts) {
            cumulative += c.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count.load(Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_nanos.load(Relaxed) as f64 / 1e9);
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Answers `GET /metrics`; anything else gets a 404. One request per connection.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, mut shutdown: Shutdown) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.draining() => return,
        };
        let Ok((mut stream, _)) = accepted else { continue };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            let mut len = 0;
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() && !buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    match stream.read(&mut buf[len..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => len += n,
                    }
                }
            });
            if read.await.is_err() {
                return;
            }
            let request = &buf[..len];
            let response = if request.starts_with(b"GET /metrics ") || request.starts_with(b"GET / ") {
                let body = metrics.render();
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}
