//! `GET /metrics`: one prometheus-client registry for the whole process (the edge's
//! counters, the delivering side's, a cluster node's), served in the Prometheus text format
//! (0.0.4) by the crate's encoder. Each part registers its own metrics; this serves them.

use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::prometheus_text;
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Answers `GET /metrics` (and `GET /`); anything else gets a 404. One request per connection.
pub async fn serve(listener: TcpListener, registry: Arc<Registry>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(answer(stream, registry.clone()));
            }
            // Out of file descriptors and the like: wait rather than spin.
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

async fn answer(mut stream: TcpStream, registry: Arc<Registry>) {
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
        // Collectors read the spool: off the runtime's workers.
        let body = tokio::task::spawn_blocking(move || render(&registry)).await.ok().flatten();
        match body {
            Some(body) => format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                prometheus_text::CONTENT_TYPE,
                body.len()
            ),
            None => "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
        }
    } else {
        "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
    };
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Every registered metric as Prometheus text; `None` if one fails to encode.
pub fn render(registry: &Registry) -> Option<String> {
    let mut body = String::new();
    match prometheus_text::encode(&mut body, registry) {
        Ok(()) => Some(body),
        Err(_) => {
            tracing::error!("cannot encode the metrics");
            None
        }
    }
}
