//! The cluster's message trace: every node's tracking events in one JetStream stream, on
//! `<bucket>.trace.<node>.<event>`.
//!
//! Publishing never holds up a session. The tracking log's writer thread hands each line to
//! a bounded queue ([`Forwarder`]); what does not fit is counted and logged, and is in the
//! local tracking log like every event. A task publishes from the queue with a bounded
//! number of acknowledgements outstanding.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::stream;
use bytes::Bytes;
use doorman_config::Cluster;
use doorman_tracking::{Event, Record};
use futures_util::StreamExt;
use tokio::sync::mpsc;

use crate::{ClusterError, Connection, NodeState};

/// Acknowledgements waited for at once.
const IN_FLIGHT: usize = 256;

/// How often a full buffer is logged: once per outage is enough to see, not to flood.
const DROP_LOG_EVERY: Duration = Duration::from_secs(10);

pub async fn open(conn: &Connection, cluster: &Cluster) -> Result<stream::Stream, ClusterError> {
    conn.jetstream
        .get_or_create_stream(stream::Config {
            name: cluster.trace_stream(),
            description: Some("doorman: every edge node's tracking events".into()),
            subjects: vec![cluster.trace_subjects()],
            max_age: cluster.trace_retention.0,
            num_replicas: cluster.replicas,
            ..Default::default()
        })
        .await
        .map_err(|e| conn.error(e))
}

/// The tracking log's side of the queue: never waits.
pub struct Forwarder {
    tx: mpsc::Sender<(Event, Bytes)>,
    state: Arc<NodeState>,
    last_logged: Option<Instant>,
    dropped_since_log: u64,
}

impl doorman_tracking::Forward for Forwarder {
    fn forward(&mut self, event: Event, line: &[u8]) {
        if self.tx.try_send((event, Bytes::copy_from_slice(line))).is_ok() {
            return;
        }
        self.state.events_dropped.fetch_add(1, Relaxed);
        self.dropped_since_log += 1;
        if self.last_logged.is_none_or(|t| t.elapsed() >= DROP_LOG_EVERY) {
            tracing::warn!(
                target: "doorman::cluster",
                "the trace buffer is full: {} event(s) not published to the cluster (the local tracking log has them)",
                self.dropped_since_log
            );
            self.last_logged = Some(Instant::now());
            self.dropped_since_log = 0;
        }
    }
}

/// Starts publishing; the forwarder goes to `TrackingLog::forward_to`.
pub fn publisher(conn: Connection, cluster: Cluster, state: Arc<NodeState>) -> Forwarder {
    let (tx, mut rx) = mpsc::channel::<(Event, Bytes)>(cluster.trace_buffer.max(1));
    let forwarder = Forwarder { tx, state: state.clone(), last_logged: None, dropped_since_log: 0 };
    tokio::spawn(async move {
        // Make sure the stream exists before the first event; a node started while NATS is
        // down keeps trying, and events wait (or overflow) meanwhile.
        while let Err(e) = open(&conn, &cluster).await {
            tracing::debug!(target: "doorman::cluster", "trace stream: {e}");
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        let mut acks = VecDeque::new();
        while let Some((event, line)) = rx.recv().await {
            let subject = cluster.trace_subject(&state.node, event.name());
            match conn.jetstream.publish(subject, line).await {
                Ok(ack) => acks.push_back(ack.into_future()),
                Err(_) => {
                    state.events_failed.fetch_add(1, Relaxed);
                }
            }
            // Wait for acknowledgements when the queue is empty or too many are out.
            while !acks.is_empty() && (acks.len() >= IN_FLIGHT || rx.is_empty()) {
                let ack = acks.pop_front().expect("not empty");
                match ack.await {
                    Ok(_) => state.events_published.fetch_add(1, Relaxed),
                    Err(_) => state.events_failed.fetch_add(1, Relaxed),
                };
            }
        }
    });
    forwarder
}

/// Every event in the cluster's trace, oldest first, each with the node that logged it;
/// `node` reads one node's only.
pub async fn read_all(conn: &Connection, cluster: &Cluster, node: Option<&str>) -> Result<Vec<Record>, ClusterError> {
    let mut stream = match conn.jetstream.get_stream(cluster.trace_stream()).await {
        Ok(s) => s,
        // No node has published an event yet.
        Err(e) if matches!(e.kind(), async_nats::jetstream::context::GetStreamErrorKind::JetStream(j) if j.code() == 404) =>
        {
            return Ok(Vec::new());
        }
        Err(e) => return Err(conn.error(e)),
    };
    let info = stream.info().await.map_err(|e| conn.error(e))?;
    if info.state.messages == 0 {
        return Ok(Vec::new());
    }
    let last = info.state.last_sequence;
    let filter_subject = match node {
        Some(n) => format!("{}.trace.{n}.>", cluster.bucket),
        None => cluster.trace_subjects(),
    };
    let consumer = stream
        .create_consumer(pull::OrderedConfig {
            deliver_policy: DeliverPolicy::All,
            filter_subject,
            ..Default::default()
        })
        .await
        .map_err(|e| conn.error(e))?;
    let mut messages = consumer.messages().await.map_err(|e| conn.error(e))?;
    let mut records = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_secs(5), messages.next()).await;
        let message = match next {
            Ok(Some(Ok(m))) => m,
            Ok(Some(Err(e))) => return Err(conn.error(e)),
            Ok(None) | Err(_) => break,
        };
        let (sequence, pending) = match message.info() {
            Ok(i) => (i.stream_sequence, i.pending),
            Err(_) => (last, 0),
        };
        if let Ok(mut record) = serde_json::from_slice::<Record>(&message.payload) {
            record.node = message.subject.split('.').nth(2).map(str::to_string);
            records.push(record);
        }
        if pending == 0 || sequence >= last {
            break;
        }
    }
    Ok(records)
}
